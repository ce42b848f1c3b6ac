"""Company names split into a cleaned name and its legal form, in one compiled pass.

The same result as the polars expressions :func:`~kvklink.linkage._standardise.company_name_expr`
and :func:`~kvklink.linkage._standardise.legal_form_expr` (tested equal), computed for both
fields at once by a numba kernel over the Arrow bytes. Those expressions run about twenty
regular-expression passes over every name (accent folding, punctuation, one word-boundary
search per legal form); here each name is read once.

Only accent folding stays in polars (unicode NFKD is not something to re-implement), and only
for the names that are not plain ASCII — typically a few percent.

After folding, the rules are byte rules: ``&`` becomes the word ``en``; ``.``, ``'``, `````,
``´`` and ``’`` are deleted (``B.V.`` -> ``bv``); every other character that is not ``0-9a-z``
separates words. The name is the words that are not legal-form words (or all words when
nothing else is left); the legal form is the canonical codes of the legal-form words found,
sorted and space-separated. Empty results are null.

>>> import polars as pl
>>> name, form = company_name_and_form(pl.Series(["Bakkerij Jänsen B.V.", "Holding B.V.", None]))
>>> name.to_list(), form.to_list()
(['bakkerij jansen', 'holding bv', None], ['bv', 'bv holding', None])
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from kvklink._arrays import kernel_input
from kvklink.frames import large_string_array
from kvklink.linkage._standardise import LEGAL_FORM_TOKENS, _fold
from kvklink.linkage._strings import _n_chunks, chunk_rows

__all__ = [
    "arrow_rows",
    "company_name_and_form",
    "load_kernels",
    "rows_outside",
    "with_non_ascii_prepared",
    "word_index",
]

#: Canonical legal-form codes in output order (sorted), and each legal-form word's code index
#: (-1: a legal-form word without a code of its own, e.g. "vennootschap").
_CODES: tuple[str, ...] = tuple(sorted({c for c in LEGAL_FORM_TOKENS.values() if c}))


def _table(words: list[str]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    data = np.frombuffer("".join(words).encode("ascii"), dtype=np.uint8).copy()
    offsets = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum([len(w) for w in words], out=offsets[1:])
    return data, offsets


_WORD_BYTES, _WORD_OFFSETS = _table(list(LEGAL_FORM_TOKENS))
_WORD_CODE = np.array(
    [_CODES.index(c) if c else -1 for c in LEGAL_FORM_TOKENS.values()], dtype=np.int64
)
_CODE_BYTES, _CODE_OFFSETS = _table(list(_CODES))


@numba.njit(inline="always", cache=True)
def _tokens(
    data: npt.NDArray[np.uint8],
    start: int,
    end: int,
    buf: npt.NDArray[np.uint8],
    tok_start: npt.NDArray[np.int64],
    tok_len: npt.NDArray[np.int64],
    ampersand: bool,
) -> int:  # pragma: no cover - compiled
    """Split ``data[start:end]`` into lower-case ``[0-9a-z]`` words in ``buf``; their count.

    With ``ampersand`` an ``&`` is the word ``en``, otherwise it separates words.
    """
    n_tok = 0
    k = 0  # bytes written to buf
    cur = -1  # start of the word being read, -1 between words
    j = start
    while j < end:
        b = data[j]
        step = 1
        is_char = False
        if 97 <= b <= 122 or 48 <= b <= 57:
            is_char = True
        elif 65 <= b <= 90:
            b = b + 32
            is_char = True
        elif b == 46 or b == 39 or b == 96:  # . ' ` are deleted: the word goes on
            j += 1
            continue
        elif b == 0xC2 and j + 1 < end and data[j + 1] == 0xB4:  # ´ deleted
            j += 2
            continue
        elif b == 0xE2 and j + 2 < end and data[j + 1] == 0x80 and data[j + 2] == 0x99:  # ’
            j += 3
            continue
        if is_char:
            if cur < 0:
                cur = k
            buf[k] = b
            k += 1
        else:
            if cur >= 0:  # a separator ends the word
                tok_start[n_tok] = cur
                tok_len[n_tok] = k - cur
                n_tok += 1
                cur = -1
            if ampersand and b == 38:  # & is the word "en"
                buf[k] = 101
                buf[k + 1] = 110
                tok_start[n_tok] = k
                tok_len[n_tok] = 2
                n_tok += 1
                k += 2
        j += step
    if cur >= 0:
        tok_start[n_tok] = cur
        tok_len[n_tok] = k - cur
        n_tok += 1
    return n_tok


@numba.njit(inline="always", cache=True)
def word_index(
    data: npt.NDArray[np.uint8],
    start: int,
    length: int,
    table: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
) -> int:  # pragma: no cover - compiled
    """Which word of a table (``table[offsets[w]:offsets[w + 1]]``) the bytes
    ``data[start:start + length]`` spell; -1 for none."""
    for w in range(offsets.size - 1):
        ws = offsets[w]
        if offsets[w + 1] - ws != length:
            continue
        same = True
        for i in range(length):
            if data[start + i] != table[ws + i]:
                same = False
                break
        if same:
            return w
    return -1


@numba.njit(inline="always", cache=True)
def _form_code(
    buf: npt.NDArray[np.uint8],
    start: int,
    length: int,
    word_bytes: npt.NDArray[np.uint8],
    word_offsets: npt.NDArray[np.int64],
    word_code: npt.NDArray[np.int64],
) -> int:  # pragma: no cover - compiled
    """The code index of a legal-form word, -1 for one without a code, -2 for other words."""
    w = word_index(buf, start, length, word_bytes, word_offsets)
    return -2 if w < 0 else int(word_code[w])


@numba.njit(parallel=True, cache=True)
def _name_and_form_kernel(
    data: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
    word_bytes: npt.NDArray[np.uint8],
    word_offsets: npt.NDArray[np.int64],
    word_code: npt.NDArray[np.int64],
    code_bytes: npt.NDArray[np.uint8],
    code_offsets: npt.NDArray[np.int64],
    name_offsets: npt.NDArray[np.int64],
    name_out: npt.NDArray[np.uint8],
    form_offsets: npt.NDArray[np.int64],
    form_out: npt.NDArray[np.uint8],
    write: bool,
    n_chunks: int,
) -> None:  # pragma: no cover - compiled
    """Count (``write=False``: lengths into ``*_offsets[1:]``) or write both fields.

    Row ``i`` is ``data[starts[i]:ends[i]]``.
    """
    n_codes = code_offsets.size - 1
    for c in numba.prange(n_chunks):
        lo, hi, longest = chunk_rows(c, n_chunks, starts, ends)
        buf = np.empty(2 * longest + 2, dtype=np.uint8)
        tok_start = np.empty(longest + 1, dtype=np.int64)
        tok_len = np.empty(longest + 1, dtype=np.int64)
        is_form = np.empty(longest + 1, dtype=np.bool_)
        found = np.zeros(n_codes, dtype=np.bool_)
        for i in range(lo, hi):
            n_tok = _tokens(data, starts[i], ends[i], buf, tok_start, tok_len, True)
            found[:] = False
            n_plain = 0
            for t in range(n_tok):
                code = _form_code(buf, tok_start[t], tok_len[t], word_bytes, word_offsets,
                                  word_code)
                is_form[t] = code != -2
                if code >= 0:
                    found[code] = True
                if code == -2:
                    n_plain += 1
            # the name: the plain words, or every word when there is no plain word
            k = name_offsets[i] if write else 0
            first = True
            for t in range(n_tok):
                if n_plain and is_form[t]:
                    continue
                if not first:
                    if write:
                        name_out[k] = 32
                    k += 1
                first = False
                if write:
                    name_out[k:k + tok_len[t]] = buf[tok_start[t]:tok_start[t] + tok_len[t]]
                k += tok_len[t]
            if not write:
                name_offsets[i + 1] = k
            k = form_offsets[i] if write else 0
            first = True
            for code in range(n_codes):
                if not found[code]:
                    continue
                if not first:
                    if write:
                        form_out[k] = 32
                    k += 1
                first = False
                length = code_offsets[code + 1] - code_offsets[code]
                if write:
                    form_out[k:k + length] = code_bytes[code_offsets[code]:code_offsets[code + 1]]
                k += length
            if not write:
                form_offsets[i + 1] = k


def string_series(name: str, offsets: npt.NDArray[np.int64], data: npt.NDArray[np.uint8]) -> (
    pl.Series
):
    """A polars text series from int64 offsets and UTF-8 bytes; empty strings become null."""
    arr = pa.LargeStringArray.from_buffers(
        offsets.size - 1, pa.py_buffer(offsets), pa.py_buffer(data)
    )
    out = pl.Series(name, arr, dtype=pl.Utf8)
    empty = np.diff(offsets) == 0
    return out.set(pl.Series(empty), None) if empty.any() else out


@numba.njit(cache=True)
def rows_outside(
    data: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64],
    low: int, high: int,
) -> npt.NDArray[np.bool_]:  # pragma: no cover - compiled
    """Rows holding a byte outside ``low .. high`` (``0 .. 127``: a non-ASCII character)."""
    out = np.zeros(starts.size, dtype=np.bool_)
    for i in range(starts.size):
        for j in range(starts[i], ends[i]):
            if data[j] < low or data[j] > high:
                out[i] = True
                break
    return out


_Rows = tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.int64]]


def with_non_ascii_prepared(
    text: pl.Series, prepare: Callable[[pl.Expr], pl.Expr]
) -> tuple[pl.Series, _Rows, npt.NDArray[np.bool_]]:
    """``text`` with ``prepare`` (e.g. accent folding) applied to its non-ASCII rows only.

    Returns the text, its bytes and row bounds (:func:`arrow_rows`), and which rows were
    outside ASCII before. The byte rules of the compiled cleaners then apply to every row.
    """
    rows = arrow_rows(text)
    outside = rows_outside(*rows, 0, 127)
    if outside.any():
        idx = np.flatnonzero(outside)
        part = text.gather(idx).to_frame("v").select(prepare(pl.col("v"))).to_series()
        text = text.scatter(idx, part)
        rows = arrow_rows(text)
    return text, rows, outside


def arrow_rows(
    text: pl.Series,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The UTF-8 bytes of a text series and each row's ``[start, end)`` in them.

    Read from the Arrow buffers without copying the text again; a null row is empty.
    """
    arr = large_string_array(text)
    n = len(arr)
    bounds = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + n + 1]
    data_buf = arr.buffers()[2]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0)
    starts = bounds[:-1]
    ends = bounds[1:]
    if arr.null_count:
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
        ends = np.where(valid, ends, starts)
    # read-only, whether or not there were nulls: one compiled version of each kernel
    return (kernel_input(data, np.uint8), kernel_input(starts, np.int64),
            kernel_input(ends, np.int64))


def company_name_and_form(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """The standardised company name and legal form of every value (nulls stay null).

    Equal to ``company_name_expr`` and ``legal_form_expr`` applied to ``values``.

    >>> import polars as pl
    >>> name, form = company_name_and_form(pl.Series(["V.O.F. De Groot & Zn."]))
    >>> name.item(), form.item()
    ('de groot en zn', 'vof')
    """
    _, (data, starts, ends), _ = with_non_ascii_prepared(values.cast(pl.Utf8), _fold)
    n = starts.size
    name_offsets = np.zeros(n + 1, dtype=np.int64)
    form_offsets = np.zeros(n + 1, dtype=np.int64)
    args = (_WORD_BYTES, _WORD_OFFSETS, _WORD_CODE, _CODE_BYTES, _CODE_OFFSETS)
    chunks = _n_chunks(n)
    empty = np.zeros(0, dtype=np.uint8)
    _name_and_form_kernel(data, starts, ends, *args, name_offsets, empty, form_offsets, empty,
                          False, chunks)
    np.cumsum(name_offsets, out=name_offsets)
    np.cumsum(form_offsets, out=form_offsets)
    name_out = np.empty(int(name_offsets[-1]), dtype=np.uint8)
    form_out = np.empty(int(form_offsets[-1]), dtype=np.uint8)
    _name_and_form_kernel(data, starts, ends, *args, name_offsets, name_out, form_offsets,
                          form_out, True, chunks)
    return (string_series(values.name, name_offsets, name_out),
            string_series(values.name, form_offsets, form_out))


def load_kernels() -> None:
    """Load (or compile) the kernel now, so the first real call runs at full speed."""
    company_name_and_form(pl.Series(["a b.v."]))
