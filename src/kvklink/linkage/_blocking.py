"""Blocking: several passes of block keys looked up in an index, unioned and deduplicated.

A :class:`BlockingPass` lists block keys over *standardised* fields. A key is a field name
optionally followed by a transform:

``field``           the whole standardised value
``field:prefixN``   its first ``N`` characters (``postcode:prefix4`` is the PC4 area)
``field:token``     every word of the value (the pass is exploded over words; words shorter
                    than two characters and a few stop words are skipped)
``field:rare``      like ``token`` on the reference side; on the query side only the
                    ``RARE_TOKENS`` words that are rarest *in the reference frame* (words
                    absent there, e.g. typos, are skipped) — far fewer pairs than ``token``
                    from common words such as "bouw" or "advies", with the same recall when
                    at least one distinctive word is spelt right
``field:first``     the first word only
``field:number``    the leading digits (house number without addition)

Pairs found by any pass are candidates, so one dirty field does not lose a true pair as long
as another pass does not depend on it. A block key that matches more than ``max_block_size``
reference rows is skipped for that pass (it is too unselective); such keys are counted.

Every key value is hashed to 64 bits and the keys of a pass are folded into one block key.
:func:`block_index` indexes the reference side once (the sorted block keys of every pass, a
directory on their top bits, and the rows of every block); :func:`candidate_pairs` hashes
the query keys and looks them up in compiled kernels, then gathers the hits of all passes
query by query, so deduplication is a small sort per query rather than one of all pairs.

Examples
--------
>>> import polars as pl
>>> from kvklink.linkage._blocking import BlockingPass, candidate_pairs
>>> left = pl.DataFrame({"name": ["jansen bouw", "de vries"], "pc": ["1234AB", "9999ZZ"]})
>>> right = pl.DataFrame({"name": ["jansen bouw", "vries"], "pc": ["1234AC", "1111AA"]})
>>> passes = (BlockingPass("pc", ("pc",)), BlockingPass("name", ("name:token",)))
>>> cands, stats = candidate_pairs(left, right, passes)
>>> sorted(cands.select("q", "r").rows())
[(0, 0), (1, 1)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import polars as pl

from kvklink.errors import ConfigError, InputError
from kvklink.frames import large_string_array
from kvklink.linkage._company_names import word_index
from kvklink.linkage._strings import _n_chunks, _prefetch

__all__ = [
    "STOP_TOKENS",
    "BlockIndex",
    "BlockingPass",
    "BlockingStats",
    "block_index",
    "candidate_pairs",
    "index_arrays",
    "index_from_arrays",
    "key_fields",
    "load_kernels",
]

_HASH_SEED = 0x6B766B

#: Words never used as a blocking token (too common to be selective).
STOP_TOKENS: frozenset[str] = frozenset(
    {"de", "het", "een", "en", "van", "der", "den", "in", "op", "te", "the", "and", "of"}
)

_KEY = re.compile(
    r"^([A-Za-z_][A-Za-z0-9_]*)(?::(token|rare|first|number|prefix[1-9][0-9]*))?$"
)

#: Number of rarest words a query keeps for a ``field:rare`` blocking key.
RARE_TOKENS = 2


@dataclass(frozen=True)
class BlockingPass:
    """One blocking pass: pairs agreeing on every key are candidates.

    >>> BlockingPass("pc4+name", ("postcode:prefix4", "name:token")).keys
    ('postcode:prefix4', 'name:token')
    """

    name: str
    keys: tuple[str, ...]
    max_block_size: int = 100

    def __post_init__(self) -> None:
        if not self.keys:
            msg = f"Blocking pass {self.name!r} has no keys. Hint: e.g. keys=('postcode',)."
            raise ConfigError(msg)
        bad = [k for k in self.keys if not _KEY.match(k)]
        if bad:
            msg = (
                f"Blocking pass {self.name!r} has {len(bad)} malformed key(s). Hint: write "
                "'field', 'field:prefix4', 'field:token', 'field:first' or 'field:number'."
            )
            raise ConfigError(msg)
        if sum(k.endswith((":token", ":rare")) for k in self.keys) > 1:
            msg = (
                f"Blocking pass {self.name!r} explodes more than one field into tokens. "
                "Hint: use ':token' on one key and ':first' on the others."
            )
            raise ConfigError(msg)
        if self.max_block_size < 1:
            msg = (
                f"The 'max_block_size' of blocking pass {self.name!r} must be >= 1, "
                f"got {self.max_block_size}. Hint: e.g. 100."
            )
            raise ConfigError(msg)


@dataclass(frozen=True)
class BlockingStats:
    """What one blocking pass produced: pairs, and block keys skipped as too large."""

    name: str
    pairs: int
    skipped_keys: int
    skipped_reference_rows: int


def key_fields(passes: tuple[BlockingPass, ...]) -> set[str]:
    """Names of the standardised fields the passes refer to.

    >>> sorted(key_fields((BlockingPass("a", ("pc:prefix4", "name:token")),)))
    ['name', 'pc']
    """
    out: set[str] = set()
    for p in passes:
        for k in p.keys:
            m = _KEY.match(k)
            assert m is not None  # validated in BlockingPass
            out.add(m.group(1))
    return out


# --------------------------------------------------------------------------------------------
# Key values and their hashes
#
# A whole-value key (``field``) is hashed by polars (``Expr.hash``, any dtype). The text
# transforms (``first``, ``number``, ``prefixN``) and the words of a ``token`` / ``rare`` key
# are cut and hashed (``_hash_range``) straight from the Arrow buffers of the text. The
# hashes of the keys of a pass are folded into one 64-bit block key by ``_fold``. The
# reference side (``block_index``) and the query side (``candidate_pairs``) go through the
# same functions, so equal key values always give equal block keys.

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
#: Rows with more words than this are deduplicated by sorting instead of pairwise.
_FEW_WORDS = 16
#: ``_cut_values`` transforms.
_WHOLE, _FIRST, _NUMBER, _PREFIX = 0, 1, 2, 3


def _encoded(words: list[str]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    data = np.frombuffer("".join(words).encode("utf-8"), dtype=np.uint8).copy()
    offsets = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum([len(w.encode("utf-8")) for w in words], out=offsets[1:])
    return data, offsets


_STOP_DATA, _STOP_OFFSETS = _encoded(sorted(STOP_TOKENS))


@numba.njit(cache=True)
def _mix(h: np.uint64, k: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """Fold ``k`` into ``h`` (splitmix64 finaliser of ``h ^ k``: for a fixed ``h``, a bijection)."""
    x = (h ^ k) + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


@numba.njit(cache=True)
def _hash_range(
    data: npt.NDArray[np.uint8], s: int, e: int, seed: np.uint64
) -> np.uint64:  # pragma: no cover - compiled
    """Hash of the bytes ``data[s:e]``.

    Eight bytes at a time are folded in by ``_mix``; the last (up to seven) go in together with
    the length.
    """
    h = seed
    j = s
    while j + 8 <= e:
        x = np.uint64(0)
        for t in range(j, j + 8):
            x = (x << np.uint64(8)) | np.uint64(data[t])
        h = _mix(h, x)
        j += 8
    x = np.uint64(e - s) & np.uint64(0xFF)
    for t in range(j, e):
        x = (x << np.uint64(8)) | np.uint64(data[t])
    return _mix(h, x)


@numba.njit(cache=True)
def _is_stop_word(
    data: npt.NDArray[np.uint8],
    s: int,
    e: int,
    stop_data: npt.NDArray[np.uint8],
    stop_offsets: npt.NDArray[np.int64],
) -> bool:  # pragma: no cover - compiled
    """Whether the bytes ``data[s:e]`` spell one of the stop words."""
    return word_index(data, s, e - s, stop_data, stop_offsets) >= 0


_WordsOut = tuple[
    npt.NDArray[np.int64], npt.NDArray[np.uint64], npt.NDArray[np.int64], npt.NDArray[np.int64]
]


@numba.njit(cache=True)
def _words_of_rows(
    r0: int,
    r1: int,
    data: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    valid: npt.NDArray[np.bool_],
    stop_data: npt.NDArray[np.uint8],
    stop_offsets: npt.NDArray[np.int64],
    seed: np.uint64,
    k: int,
    row: npt.NDArray[np.int64],
    hashes: npt.NDArray[np.uint64],
    start: npt.NDArray[np.int64],
    end: npt.NDArray[np.int64],
) -> int:  # pragma: no cover - compiled
    """Write the words of the values ``r0:r1`` (see ``_split_words``) from entry ``k`` on.

    Returns the entry after the last one written.
    """
    longest_stop = 0
    for w in range(stop_offsets.size - 1):
        longest_stop = max(longest_stop, stop_offsets[w + 1] - stop_offsets[w])
    for i in range(r0, r1):
        if not valid[i]:
            continue
        first = k
        j = offsets[i]
        stop = offsets[i + 1]
        while j <= stop:
            s = j
            chars = 0
            while j < stop and data[j] != 32:
                if (data[j] & 0xC0) != 0x80:
                    chars += 1
                j += 1
            e = j
            j += 1
            if chars < 2 or (
                e - s <= longest_stop and _is_stop_word(data, s, e, stop_data, stop_offsets)
            ):
                continue
            row[k] = i
            hashes[k] = _hash_range(data, s, e, seed)
            start[k] = s
            end[k] = e
            k += 1
        w = first
        if k - first <= _FEW_WORDS:
            for t in range(first, k):
                dup = False
                for u in range(first, w):
                    if hashes[u] == hashes[t]:
                        dup = True
                        break
                if not dup:
                    hashes[w] = hashes[t]
                    start[w] = start[t]
                    end[w] = end[t]
                    w += 1
        else:
            order = np.argsort(hashes[first:k]) + first
            hs = hashes[order]
            ss = start[order]
            es = end[order]
            for t in range(hs.size):
                if t == 0 or hs[t] != hs[t - 1]:
                    hashes[w] = hs[t]
                    start[w] = ss[t]
                    end[w] = es[t]
                    w += 1
        k = w
    return k


@numba.njit(cache=True, parallel=True)
def _split_words(
    data: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    valid: npt.NDArray[np.bool_],
    stop_data: npt.NDArray[np.uint8],
    stop_offsets: npt.NDArray[np.int64],
    seed: np.uint64,
    n_chunks: int,
) -> _WordsOut:  # pragma: no cover - compiled
    """The distinct words of every valid value, in row order: ``(row, hash, start, end)``.

    Value ``i`` is ``data[offsets[i]:offsets[i + 1]]`` (UTF-8), split on ``" "``; words of
    fewer than two characters (code points) and stop words are skipped, and a word repeated
    in a value is kept once (by hash: two words with equal hashes give equal block keys
    anyway). The word is ``data[start:end]``. The values are split into ``n_chunks`` chunks
    run in parallel.
    """
    n = offsets.size - 1
    per_chunk = (n + n_chunks - 1) // n_chunks
    # a kept word takes two bytes and a separator: at most (length + 1) // 3 per value
    room = np.zeros(n_chunks + 1, dtype=np.int64)
    for c in range(n_chunks):
        r0 = min(n, c * per_chunk)
        r1 = min(n, (c + 1) * per_chunk)
        room[c + 1] = room[c] + (offsets[r1] - offsets[r0] + r1 - r0) // 3 + 1
    row = np.empty(room[n_chunks], dtype=np.int64)
    hashes = np.empty(room[n_chunks], dtype=np.uint64)
    start = np.empty(room[n_chunks], dtype=np.int64)
    end = np.empty(room[n_chunks], dtype=np.int64)
    used = np.zeros(n_chunks + 1, dtype=np.int64)
    for c in numba.prange(n_chunks):
        used[c + 1] = _words_of_rows(
            min(n, c * per_chunk), min(n, (c + 1) * per_chunk), data, offsets, valid,
            stop_data, stop_offsets, seed, room[c], row, hashes, start, end,
        ) - room[c]
    for c in range(n_chunks):
        used[c + 1] += used[c]
    out_row = np.empty(used[n_chunks], dtype=np.int64)
    out_hashes = np.empty(used[n_chunks], dtype=np.uint64)
    out_start = np.empty(used[n_chunks], dtype=np.int64)
    out_end = np.empty(used[n_chunks], dtype=np.int64)
    for c in numba.prange(n_chunks):
        for t in range(used[c + 1] - used[c]):
            out_row[used[c] + t] = row[room[c] + t]
            out_hashes[used[c] + t] = hashes[room[c] + t]
            out_start[used[c] + t] = start[room[c] + t]
            out_end[used[c] + t] = end[room[c] + t]
    return out_row, out_hashes, out_start, out_end


@numba.njit(cache=True)
def _cut_values(
    data: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    valid: npt.NDArray[np.bool_],
    transform: int,
    n_chars: int,
    seed: np.uint64,
) -> tuple[
    npt.NDArray[np.uint64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]
]:  # pragma: no cover - compiled
    """Hash of a transform of every value, whether there is one, and whether to redo the row.

    The transform is ``_WHOLE`` (the value itself), ``_FIRST``, ``_NUMBER`` or ``_PREFIX``.
    ``_FIRST`` keeps the text up to the first space, ``_PREFIX`` the first ``n_chars`` code
    points, ``_NUMBER`` the leading ASCII digits (none: no value). A digit in the wider
    Unicode sense can only start with a byte >= 0x80; a row where such a byte follows the
    ASCII digits is flagged for the caller to redo with the full definition of a digit.
    """
    n = offsets.size - 1
    hashes = np.zeros(n, dtype=np.uint64)
    has = np.zeros(n, dtype=np.bool_)
    redo = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        if not valid[i]:
            continue
        s = offsets[i]
        stop = offsets[i + 1]
        e = s
        if transform == _WHOLE:
            e = stop
        elif transform == _FIRST:
            while e < stop and data[e] != 32:
                e += 1
        elif transform == _NUMBER:
            while e < stop and data[e] >= 48 and data[e] <= 57:
                e += 1
            if e < stop and data[e] >= 0x80:
                redo[i] = True
                continue
            if e == s:
                continue
        else:
            chars = 0
            while e < stop:
                if (data[e] & 0xC0) != 0x80:
                    if chars == n_chars:
                        break
                    chars += 1
                e += 1
        hashes[i] = _hash_range(data, s, e, seed)
        has[i] = True
    return hashes, has, redo


_Folded = tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64], npt.NDArray[np.int64]]


@numba.njit(cache=True)
def _fold(
    row: npt.NDArray[np.int64],
    word: npt.NDArray[np.uint64],
    slots: npt.NDArray[np.int64],
    hashes: npt.NDArray[np.uint64],
    valid: npt.NDArray[np.bool_],
    n_rows: int,
    seed: np.uint64,
) -> _Folded:  # pragma: no cover - compiled
    """The block key of every entry (a row, or a word of a row) whose keys all have a value.

    Key ``j`` of the pass is the entry's word hash ``word[e]`` if ``slots[j] < 0``, otherwise
    the single-valued key ``hashes[slots[j], row[e]]`` (missing where ``valid`` is false).
    Returns the entries kept (indices, non-decreasing rows assumed), their block keys and, per
    row ``i``, the first kept entry ``offsets[i]`` (``offsets[n_rows]`` = the number kept).
    """
    m = row.size
    kept = np.empty(m, dtype=np.int64)
    keys = np.empty(m, dtype=np.uint64)
    offsets = np.zeros(n_rows + 1, dtype=np.int64)
    k = 0
    for e in range(m):
        i = row[e]
        h = seed
        ok = True
        for j in range(slots.size):
            s = slots[j]
            if s < 0:
                h = _mix(h, word[e])
            elif valid[s, i]:
                h = _mix(h, hashes[s, i])
            else:
                ok = False
                break
        if ok:
            kept[k] = e
            keys[k] = h
            offsets[i + 1] += 1
            k += 1
    for i in range(n_rows):
        offsets[i + 1] += offsets[i]
    return kept[:k].copy(), keys[:k].copy(), offsets


@dataclass(frozen=True, repr=False, eq=False)
class _Words:
    """A ``token`` / ``rare`` key: one entry per distinct word of each row, in row order."""

    row: npt.NDArray[np.int64]  # row position of the entry (non-decreasing)
    hashes: npt.NDArray[np.uint64]
    start: npt.NDArray[np.int64]  # the word is data[start:end]
    end: npt.NDArray[np.int64]
    data: npt.NDArray[np.uint8]

    def subset(self, keep: npt.NDArray[np.bool_]) -> _Words:
        """The entries where ``keep`` is true."""
        return _Words(self.row[keep], self.hashes[keep], self.start[keep], self.end[keep],
                      self.data)


@dataclass(frozen=True, repr=False, eq=False)
class _KeyValues:
    """Every block key of some passes over one frame, each computed once.

    Single-valued keys are rows of ``hashes`` / ``valid`` (``slot[key]``); word keys are in
    ``words`` (by field: ``token`` and ``rare`` of one field share their words).
    """

    n_rows: int
    hashes: npt.NDArray[np.uint64]  # (single-valued keys, rows)
    valid: npt.NDArray[np.bool_]
    slot: dict[str, int]
    words: dict[str, _Words]


@dataclass(frozen=True, repr=False, eq=False)
class _Text:
    """The Arrow buffers of a text column: value ``i`` is ``data[offsets[i]:offsets[i + 1]]``."""

    data: npt.NDArray[np.uint8]
    offsets: npt.NDArray[np.int64]
    valid: npt.NDArray[np.bool_]


def _text(values: pl.Series) -> _Text:
    """The buffers of ``values`` (read-only, as the compiled steps always get them)."""
    n = values.len()
    arr = large_string_array(values)
    buffers = arr.buffers()
    data = np.zeros(0, dtype=np.uint8)
    offsets = np.zeros(n + 1, dtype=np.int64)
    if buffers[2] is not None:
        data = np.frombuffer(buffers[2], dtype=np.uint8)
    if buffers[1] is not None:
        offsets = np.frombuffer(buffers[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data.setflags(write=False)
    offsets.setflags(write=False)
    return _Text(data=data, offsets=offsets, valid=values.is_not_null().to_numpy())


def _word_values(text: _Text) -> _Words:
    """The distinct words of every value (see ``_split_words``)."""
    row, hashes, start, end = _split_words(
        text.data, text.offsets, text.valid, _STOP_DATA, _STOP_OFFSETS, np.uint64(_HASH_SEED),
        _n_chunks(text.valid.size),
    )
    return _Words(row, hashes, start, end, text.data)


def _cut(
    frame: pl.DataFrame, col: str, text: _Text, transform: str
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
    """Hashes of a text transform of ``col`` (see ``_cut_values``), and where there is one."""
    kind, n_chars = _PREFIX, 0
    if transform == "first":
        kind = _FIRST
    elif transform == "number":
        kind = _NUMBER
    else:
        n_chars = int(transform.removeprefix("prefix"))
    seed = np.uint64(_HASH_SEED)
    hashes, has, redo = _cut_values(text.data, text.offsets, text.valid, kind, n_chars, seed)
    if redo.any():  # a non-ASCII character after the ASCII digits: the regex decides
        rows = np.flatnonzero(redo)
        digits = _text(frame[col].gather(rows).str.extract(r"^(\d+)", 1))
        h, ok, _ = _cut_values(digits.data, digits.offsets, digits.valid, _WHOLE, 0, seed)
        hashes[rows] = h
        has[rows] = ok
    return hashes, has


def _key_values(frame: pl.DataFrame, keys: tuple[str, ...]) -> _KeyValues:
    """The values of the block keys ``keys`` over ``frame``, hashed; each distinct key once.

    ``field`` is the value itself, ``first`` its text up to the first space, ``number`` its
    leading digits, ``prefixN`` its first ``N`` characters (no value where the field has none
    or there are no digits); ``token`` / ``rare`` the distinct words of two or more
    characters that are not stop words.
    """
    n = frame.height
    distinct = list(dict.fromkeys(keys))
    single = [k for k in distinct if not k.endswith((":token", ":rare"))]
    slot = {k: i for i, k in enumerate(single)}
    hashes = np.zeros((len(single), n), dtype=np.uint64)
    valid = np.zeros((len(single), n), dtype=np.bool_)
    texts: dict[str, _Text] = {}
    words: dict[str, _Words] = {}
    whole: list[str] = []
    for key in distinct:
        m = _KEY.match(key)
        assert m is not None  # validated in BlockingPass
        col, transform = m.group(1), m.group(2)
        if transform is None:
            whole.append(key)
            continue
        if col not in texts:
            texts[col] = _text(frame[col])
        if transform in ("token", "rare"):
            if col not in words:
                words[col] = _word_values(texts[col])
        else:
            hashes[slot[key]], valid[slot[key]] = _cut(frame, col, texts[col], transform)
    if whole:
        got = frame.select(
            *(pl.col(k).hash(seed=_HASH_SEED).alias(f"__h{i}") for i, k in enumerate(whole)),
            *(pl.col(k).is_not_null().alias(f"__v{i}") for i, k in enumerate(whole)),
        )
        for i, k in enumerate(whole):
            hashes[slot[k]] = got[f"__h{i}"].to_numpy()
            valid[slot[k]] = got[f"__v{i}"].to_numpy()
    return _KeyValues(n_rows=n, hashes=hashes, valid=valid, slot=slot, words=words)


def _entries(
    values: _KeyValues, keys: tuple[str, ...]
) -> tuple[_Words | None, npt.NDArray[np.int64]]:
    """The word key of a pass (``None`` if it has none) and its ``_fold`` slots."""
    words = None
    slots = np.empty(len(keys), dtype=np.int64)
    for j, key in enumerate(keys):
        col, _, transform = key.partition(":")
        if transform in ("token", "rare"):
            words = values.words[col]
            slots[j] = -1
        else:
            slots[j] = values.slot[key]
    return words, slots


def _block_keys(
    values: _KeyValues, words: _Words | None, slots: npt.NDArray[np.int64]
) -> _Folded:
    """``_fold`` over the rows of ``values`` (or over ``words``, if the pass has a word key)."""
    if words is None:
        row = np.arange(values.n_rows, dtype=np.int64)
        word = np.zeros(0, dtype=np.uint64)
    else:
        row, word = words.row, words.hashes
    return _fold(row, word, slots, values.hashes, values.valid, values.n_rows,
                 np.uint64(_HASH_SEED))


# --------------------------------------------------------------------------------------------
# The reference side


@dataclass(frozen=True, repr=False, eq=False)
class _PassIndex:
    """What one pass over the reference side keeps besides its blocks."""

    skipped_keys: int  # blocks larger than the pass's max_block_size, left out
    skipped_reference_rows: int
    rare_keys: npt.NDArray[np.uint64] | None  # ``field:rare``: word hashes, sorted
    rare_counts: npt.NDArray[np.int64] | None  # ... and in how many keyed rows each occurs


@dataclass(frozen=True, repr=False, eq=False)
class _Blocks:
    """The blocks of every pass, concatenated pass after pass (global block numbers).

    Block ``b`` has the key hash ``table[2 * b]`` and the reference rows
    ``rows[table[2 * b + 1]:table[2 * b + 3]]`` (key and first row side by side: one cache
    line gives both); the keys of a pass are sorted and distinct, and a final entry closes the
    last block. A key ``h`` of pass ``p`` can only be among the blocks
    ``directory[d]:directory[d + 1]`` with ``d = dir_base[p] + (h >> shift[p])`` (the top
    bits of ``h`` index the directory: about one block per entry).
    """

    table: npt.NDArray[np.uint64]
    directory: npt.NDArray[np.int64]
    dir_base: npt.NDArray[np.int64]
    shift: npt.NDArray[np.uint64]
    rows: npt.NDArray[np.uint32]


@dataclass(frozen=True, repr=False, eq=False)
class BlockIndex:
    """The reference side of every blocking pass, built once and probed by many queries.

    Made by :func:`block_index`; :func:`candidate_pairs` accepts it in place of the
    reference frame (this is what ``prepare_reference`` keeps for repeated recoveries).
    Block keys are 64-bit hashes of the key values (a hash collision can only add a
    candidate pair, never lose one; the pair is then compared like any other).
    """

    passes: tuple[BlockingPass, ...]
    n_rows: int
    _index: tuple[_PassIndex, ...]
    _blocks: _Blocks

    def __repr__(self) -> str:
        return f"BlockIndex(rows={self.n_rows}, passes={[p.name for p in self.passes]})"


def block_index(
    right: pl.DataFrame, passes: tuple[BlockingPass, ...], *, right_row: str = "r"
) -> BlockIndex:
    """Index the reference frame for every pass (rows taken from ``right_row`` if present).

    >>> import polars as pl
    >>> idx = block_index(pl.DataFrame({"pc": ["1234AB", "1234AB", None]}),
    ...                   (BlockingPass("pc", ("pc",)),))
    >>> idx
    BlockIndex(rows=3, passes=['pc'])
    """
    n_rows = right.height
    if right_row not in right.columns:
        right = right.with_row_index(right_row)
    right = right.with_columns(pl.col(right_row).cast(pl.UInt32))
    if right[right_row].null_count():
        right = right.filter(pl.col(right_row).is_not_null())  # a row without a number
    values = _key_values(right, tuple(k for bp in passes for k in bp.keys))
    row_ids = right[right_row].to_numpy()
    index: list[_PassIndex] = []
    keys: list[npt.NDArray[np.uint64]] = []
    starts: list[npt.NDArray[np.int64]] = []
    rows: list[npt.NDArray[np.uint32]] = []
    directory: list[npt.NDArray[np.int64]] = []
    shift: list[int] = []
    n_keys = n_kept = 0
    for bp in passes:
        words, slots = _entries(values, bp.keys)
        kept, h, _ = _block_keys(values, words, slots)
        pass_rows = row_ids[kept if words is None else words.row[kept]]
        order = np.argsort(h)  # rows within a block may come in any order
        hs, pass_rows = h[order], pass_rows[order]
        new_block = np.empty(hs.size, dtype=bool)
        new_block[:1] = True
        np.not_equal(hs[1:], hs[:-1], out=new_block[1:])
        first = np.flatnonzero(new_block)
        sizes = np.diff(np.append(first, hs.size))
        keep = sizes <= bp.max_block_size
        kept_sizes = sizes[keep]
        block_keys = hs[first[keep]]
        keys.append(block_keys)
        starts.append(n_kept + np.cumsum(kept_sizes) - kept_sizes)
        rows.append(pass_rows[np.repeat(keep, sizes)].astype(np.uint32))
        # the top ``bits`` bits of a key index the directory: about one key per entry
        bits = max(1, block_keys.size.bit_length() - 1)
        top = (block_keys >> np.uint64(64 - bits)).astype(np.int64)
        # entry d: the first key whose top bits are >= d (the keys are sorted), by counting
        below = np.zeros(2**bits + 1, dtype=np.int64)
        np.cumsum(np.bincount(top, minlength=2**bits), out=below[1:])
        directory.append(n_keys + below)
        shift.append(64 - bits)
        n_keys += block_keys.size
        n_kept += int(kept_sizes.sum())
        rare_keys = rare_counts = None
        if any(k.endswith(":rare") for k in bp.keys):
            assert words is not None
            rare_keys, rare_counts = np.unique(words.hashes[kept], return_counts=True)
            rare_counts = rare_counts.astype(np.int64)
        index.append(
            _PassIndex(
                skipped_keys=int((~keep).sum()),
                skipped_reference_rows=int(sizes[~keep].sum()),
                rare_keys=rare_keys,
                rare_counts=rare_counts,
            )
        )
    table = np.empty(2 * (n_keys + 1), dtype=np.uint64)
    table[0:-2:2] = np.concatenate([np.zeros(0, dtype=np.uint64), *keys])
    table[1:-2:2] = np.concatenate([np.zeros(0, dtype=np.int64), *starts])
    table[-2:] = (0, n_kept)
    blocks = _Blocks(
        table=table,
        directory=np.concatenate([np.zeros(0, dtype=np.int64), *directory]),
        dir_base=np.cumsum([0, *(d.size for d in directory)], dtype=np.int64),
        shift=np.array(shift, dtype=np.uint64),
        rows=np.concatenate([np.zeros(0, dtype=np.uint32), *rows]),
    )
    return BlockIndex(passes=passes, n_rows=n_rows, _index=tuple(index), _blocks=blocks)


def index_arrays(index: BlockIndex) -> dict[str, npt.NDArray[Any]]:
    """The index as named arrays (to save it; see :func:`index_from_arrays`).

    >>> import polars as pl
    >>> passes = (BlockingPass("pc", ("pc",)),)
    >>> sorted(index_arrays(block_index(pl.DataFrame({"pc": ["1234AB"] * 2}), passes)))
    ['blocks_dir_base', 'blocks_directory', 'blocks_rows', 'blocks_shift', 'blocks_table', \
'pass0_skipped']
    """
    arrays: dict[str, npt.NDArray[Any]] = {
        f"blocks_{f.name}": getattr(index._blocks, f.name) for f in fields(_Blocks)
    }
    for p, pidx in enumerate(index._index):
        arrays[f"pass{p}_skipped"] = np.array(
            [pidx.skipped_keys, pidx.skipped_reference_rows], dtype=np.int64
        )
        if pidx.rare_keys is not None and pidx.rare_counts is not None:
            arrays[f"pass{p}_rare_keys"] = pidx.rare_keys
            arrays[f"pass{p}_rare_counts"] = pidx.rare_counts
    return arrays


def _index_problem(
    passes: tuple[BlockingPass, ...], n_rows: int, arrays: dict[str, npt.NDArray[Any]]
) -> str | None:
    """What is wrong with saved index arrays (``None``: they are safe to look up in)."""
    expected = {"blocks_table": np.uint64, "blocks_directory": np.int64,
                "blocks_dir_base": np.int64, "blocks_shift": np.uint64, "blocks_rows": np.uint32}
    for p, bp in enumerate(passes):
        expected[f"pass{p}_skipped"] = np.int64
        if any(k.endswith(":rare") for k in bp.keys):
            expected[f"pass{p}_rare_keys"] = np.uint64
            expected[f"pass{p}_rare_counts"] = np.int64
    for name, dtype in expected.items():
        a = arrays.get(name)
        if a is None or a.dtype != dtype or a.ndim != 1:
            return f"array {name!r} is missing or not 1-d {np.dtype(dtype).name}"
    table, rows = arrays["blocks_table"], arrays["blocks_rows"]
    directory, dir_base = arrays["blocks_directory"], arrays["blocks_dir_base"]
    shift = arrays["blocks_shift"]
    if table.size < 2 or table.size % 2:
        return "the block table has an odd or too small length"
    starts = table[1::2]
    if starts[0] != 0 or starts[-1] != rows.size or bool((starts[1:] < starts[:-1]).any()):
        return "block boundaries are not increasing or do not cover the rows"
    if rows.size and int(rows.max()) >= n_rows:
        return "a block refers to a row beyond the register"
    if shift.size != len(passes) or dir_base.size != len(passes) + 1:
        return "the number of passes differs from the spec"
    if bool(((shift < 1) | (shift > 63)).any()) or dir_base[0] != 0 or (
        dir_base[-1] != directory.size
    ):
        return "the key directory has an impossible layout"
    for p, bp in enumerate(passes):
        seg = directory[dir_base[p]:dir_base[p + 1]]
        if seg.size != 2 ** (64 - int(shift[p])) + 1:
            return "the key directory has an impossible layout"
        if int(seg.min()) < 0 or int(seg.max()) > table.size // 2 - 1 or bool(
            (seg[1:] < seg[:-1]).any()
        ):
            return "the key directory points outside the block table"
        if arrays[f"pass{p}_skipped"].size != 2:
            return f"array 'pass{p}_skipped' has the wrong length"
        if any(k.endswith(":rare") for k in bp.keys):
            keys, counts = arrays[f"pass{p}_rare_keys"], arrays[f"pass{p}_rare_counts"]
            if keys.size != counts.size or bool((keys[1:] <= keys[:-1]).any()):
                return "the word counts of a 'rare' key are not sorted and aligned"
    return None


def index_from_arrays(
    passes: tuple[BlockingPass, ...], n_rows: int, arrays: dict[str, npt.NDArray[Any]]
) -> BlockIndex:
    """Rebuild a :class:`BlockIndex` saved with :func:`index_arrays`, checking it first.

    The compiled look-ups read the arrays without bounds checks, so every array is checked
    for the dtype, length and ranges the look-ups rely on; a damaged or foreign index is a
    clear :class:`~kvklink.errors.InputError`, never a crash.

    >>> import polars as pl
    >>> passes = (BlockingPass("pc", ("pc",)),)
    >>> idx = block_index(pl.DataFrame({"pc": ["1234AB", "1234AB"]}), passes)
    >>> index_from_arrays(passes, 2, index_arrays(idx))
    BlockIndex(rows=2, passes=['pc'])
    """
    problem = _index_problem(passes, n_rows, arrays)
    if problem is not None:
        msg = (
            f"The saved block index is damaged or does not belong to this register: {problem}. "
            "Hint: prepare the register again."
        )
        raise InputError(msg)
    index = []
    for p, bp in enumerate(passes):
        skipped = arrays[f"pass{p}_skipped"]
        rare = any(k.endswith(":rare") for k in bp.keys)
        index.append(_PassIndex(
            skipped_keys=int(skipped[0]), skipped_reference_rows=int(skipped[1]),
            rare_keys=np.ascontiguousarray(arrays[f"pass{p}_rare_keys"]) if rare else None,
            rare_counts=np.ascontiguousarray(arrays[f"pass{p}_rare_counts"]) if rare else None,
        ))
    blocks = _Blocks(**{f.name: np.ascontiguousarray(arrays[f"blocks_{f.name}"])
                        for f in fields(_Blocks)})
    return BlockIndex(passes=passes, n_rows=n_rows, _index=tuple(index), _blocks=blocks)


# --------------------------------------------------------------------------------------------
# The query side


@numba.njit(cache=True)
def _before(
    count: npt.NDArray[np.int64],
    start: npt.NDArray[np.int64],
    end: npt.NDArray[np.int64],
    data: npt.NDArray[np.uint8],
    a: int,
    b: int,
) -> bool:  # pragma: no cover - compiled
    """Whether word ``a`` ranks before word ``b``: rarer, or as rare and smaller text."""
    if count[a] != count[b]:
        return bool(count[a] < count[b])
    la = end[a] - start[a]
    lb = end[b] - start[b]
    for t in range(min(la, lb)):
        x = data[start[a] + t]
        y = data[start[b] + t]
        if x != y:
            return bool(x < y)
    return bool(la < lb)


@numba.njit(cache=True)
def _rarest_words(
    bounds: npt.NDArray[np.int64],
    hashes: npt.NDArray[np.uint64],
    start: npt.NDArray[np.int64],
    end: npt.NDArray[np.int64],
    data: npt.NDArray[np.uint8],
    rare_keys: npt.NDArray[np.uint64],
    rare_counts: npt.NDArray[np.int64],
    n_keep: int,
) -> npt.NDArray[np.bool_]:  # pragma: no cover - compiled
    """Which words to keep: per query, those of its ``n_keep`` rarest found in ``rare_keys``.

    Query ``g`` has the words ``bounds[g]:bounds[g + 1]`` (the same word may come from more
    than one of its rows: each counts as one of the ``n_keep``). Rarer means a smaller
    ``rare_counts``; ties go to the smaller text (byte order, as polars sorts strings). Words
    absent from ``rare_keys`` are never kept.
    """
    m = hashes.size
    count = np.full(m, -1, dtype=np.int64)
    for e in range(m):
        i = np.searchsorted(rare_keys, hashes[e])
        if i < rare_keys.size and rare_keys[i] == hashes[e]:
            count[e] = rare_counts[i]
    keep = np.zeros(m, dtype=np.bool_)
    taken = np.zeros(m, dtype=np.bool_)
    chosen = np.empty(max(n_keep, 1), dtype=np.uint64)
    for g in range(bounds.size - 1):
        a = bounds[g]
        b = bounds[g + 1]
        n_chosen = 0
        for _ in range(n_keep):
            best = -1
            for e in range(a, b):
                if count[e] >= 0 and not taken[e] and (
                    best < 0 or _before(count, start, end, data, e, best)
                ):
                    best = e
            if best < 0:
                break
            taken[best] = True
            chosen[n_chosen] = hashes[best]
            n_chosen += 1
        for e in range(a, b):
            for c in range(n_chosen):
                if count[e] >= 0 and hashes[e] == chosen[c]:
                    keep[e] = True
    return keep


#: Groups with at most this many hits are sorted by insertion alone.
_FEW_HITS = 16
#: How many keys ahead the directory (and, half as far ahead, the blocks) are prefetched.
_AHEAD = 8


@numba.njit(cache=True, parallel=True)
def _find_blocks(
    hashes: npt.NDArray[np.uint64],
    pass_start: npt.NDArray[np.int64],
    table: npt.NDArray[np.uint64],
    directory: npt.NDArray[np.int64],
    dir_base: npt.NDArray[np.int64],
    shift: npt.NDArray[np.uint64],
    n_chunks: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:  # pragma: no cover - compiled
    """The reference rows of every block key: ``rows[start[e]:end[e]]`` (empty: no block).

    The keys of pass ``p`` are ``hashes[pass_start[p]:pass_start[p + 1]]``; see
    :class:`_Blocks` for the layout. Every look-up waits on two memory loads (directory,
    then block), so both are prefetched a few keys ahead; the keys are split into
    ``n_chunks`` chunks run in parallel.
    """
    n = hashes.size
    start = np.zeros(n, dtype=np.int64)
    end = np.zeros(n, dtype=np.int64)
    per_chunk = (n + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        for p in range(pass_start.size - 1):
            lo = max(c * per_chunk, pass_start[p])
            hi = min((c + 1) * per_chunk, pass_start[p + 1])
            d0 = dir_base[p]
            sh = shift[p]
            for e in range(lo, hi):
                if e + 2 * _AHEAD < hi:
                    _prefetch(directory, d0 + np.int64(hashes[e + 2 * _AHEAD] >> sh))
                if e + _AHEAD < hi:
                    _prefetch(table, 2 * directory[d0 + np.int64(hashes[e + _AHEAD] >> sh)])
                h = hashes[e]
                d = d0 + np.int64(h >> sh)
                for b in range(directory[d], directory[d + 1]):
                    key = table[2 * b]
                    if key >= h:
                        if key == h:
                            start[e] = np.int64(table[2 * b + 1])
                            end[e] = np.int64(table[2 * b + 3])
                        break
    return start, end


@numba.njit(cache=True)
def _sort_hits(
    buf: npt.NDArray[np.uint64],
    tmp: npt.NDArray[np.uint64],
    lo: int,
    hi: int,
    low: np.uint64,
    high: np.uint64,
    hist: npt.NDArray[np.int64],
) -> bool:  # pragma: no cover - compiled
    """Sort ``buf[lo:hi]`` (values in ``[low, high]``); returns whether it went to ``tmp``.

    The result is in ``tmp[lo:hi]`` if so, else in place. A few values are sorted by
    insertion. More are first spread over about as many buckets by their top bits (a counting
    sort into ``tmp``; ``hist`` is scratch for the counts), which leaves a few values per
    bucket to sort by insertion; buckets that come out large (values bunched together) make it
    fall back to a full sort.
    """
    n = hi - lo
    if n <= _FEW_HITS:
        _insertion_sort(buf, lo, hi)
        return False
    log_buckets = 1
    while (1 << log_buckets) < n:
        log_buckets += 1
    span = high - low
    span_bits = 0
    while span_bits < 64 and (span >> np.uint64(span_bits)) != np.uint64(0):
        span_bits += 1
    shift = np.uint64(max(0, span_bits - log_buckets))
    n_buckets = 1 << log_buckets
    hist[: n_buckets + 1] = 0
    for t in range(lo, hi):
        hist[np.int64((buf[t] - low) >> shift) + 1] += 1
    largest = 0
    for b in range(n_buckets):
        largest = max(largest, hist[b + 1])
        hist[b + 1] += hist[b]
    for t in range(lo, hi):
        v = buf[t]
        bucket = np.int64((v - low) >> shift)
        tmp[lo + hist[bucket]] = v
        hist[bucket] += 1
    if largest > 4 * _FEW_HITS:
        tmp[lo:hi].sort()
    else:
        _insertion_sort(tmp, lo, hi)
    return True


@numba.njit(cache=True)
def _insertion_sort(
    a: npt.NDArray[np.uint64], lo: int, hi: int
) -> None:  # pragma: no cover - compiled
    """Sort ``a[lo:hi]`` in place (quick for a few values, or values nearly in order)."""
    for i in range(lo + 1, hi):
        v = a[i]
        j = i - 1
        while j >= lo and a[j] > v:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = v


@numba.njit(cache=True)
def _distinct_pairs(
    hits: npt.NDArray[np.uint64],
    lo: int,
    hi: int,
    n_bits: np.uint64,
    counts: npt.NDArray[np.int64],
    found_r: npt.NDArray[np.uint32],
    found_m: npt.NDArray[np.uint32],
) -> int:  # pragma: no cover - compiled
    """Write the distinct rows of the sorted hits ``hits[lo:hi]``; return how many.

    A hit is ``(r << n_bits) | p``. The rows go to ``found_r[lo:]``, each with the bits of its
    passes in ``found_m``; each distinct (row, pass) is counted in ``counts[p]``.
    """
    low = (np.uint64(1) << n_bits) - np.uint64(1)
    w = lo - 1
    last_r = np.uint64(0)
    for t in range(lo, hi):
        v = hits[t]
        if t > lo and v == hits[t - 1]:
            continue  # the same pair found twice by one pass
        p = np.int64(v & low)
        counts[p] += 1
        r = v >> n_bits
        bit = np.uint32(np.uint64(1) << np.uint64(p))
        if w < lo or r != last_r:
            w += 1
            found_r[w] = np.uint32(r)
            found_m[w] = bit
            last_r = r
        else:
            found_m[w] |= bit
    return w + 1 - lo


@numba.njit(cache=True)
def _group_pairs(
    g0: int,
    g1: int,
    group_start: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    block_start: npt.NDArray[np.int64],
    block_end: npt.NDArray[np.int64],
    rows: npt.NDArray[np.uint32],
    n_bits: np.uint64,
    bound: npt.NDArray[np.int64],
    buf: npt.NDArray[np.uint64],
    tmp: npt.NDArray[np.uint64],
    found_r: npt.NDArray[np.uint32],
    found_m: npt.NDArray[np.uint32],
    found: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
) -> None:  # pragma: no cover - compiled
    """The distinct pairs of the groups ``g0:g1`` (one chunk of ``_merge_pairs``).

    Group ``g`` gathers its hits in ``buf[bound[g]:]``, writes its pairs to
    ``found_r`` / ``found_m`` from the same offset and their number to ``found[g + 1]``.
    """
    n_passes = offsets.shape[0]
    most = 0
    for g in range(g0, g1):
        most = max(most, bound[g + 1] - bound[g])
    hist = np.empty(2 * most + 2, dtype=np.int64)  # _sort_hits' buckets
    for g in range(g0, g1):
        if g + 1 < g1:  # the next group's rows, while this one is sorted
            for p in range(n_passes):
                for e in range(offsets[p, group_start[g + 1]], offsets[p, group_start[g + 2]]):
                    if block_end[e] > block_start[e]:
                        _prefetch(rows, block_start[e])
        lo = bound[g]
        k = lo
        low = np.uint64(0xFFFFFFFFFFFFFFFF)
        high = np.uint64(0)
        for p in range(n_passes):
            tag = np.uint64(p)
            for e in range(offsets[p, group_start[g]], offsets[p, group_start[g + 1]]):
                for t in range(block_start[e], block_end[e]):
                    v = (np.uint64(rows[t]) << n_bits) | tag
                    buf[k] = v
                    low = min(low, v)
                    high = max(high, v)
                    k += 1
        in_tmp = _sort_hits(buf, tmp, lo, k, low, high, hist)
        found[g + 1] = _distinct_pairs(tmp if in_tmp else buf, lo, k, n_bits, counts, found_r,
                                       found_m)


@numba.njit(cache=True, parallel=True)
def _merge_pairs(
    group_start: npt.NDArray[np.int64],
    group_q: npt.NDArray[np.uint32],
    offsets: npt.NDArray[np.int64],
    block_start: npt.NDArray[np.int64],
    block_end: npt.NDArray[np.int64],
    rows: npt.NDArray[np.uint32],
    n_bits: np.uint64,
    n_chunks: int,
) -> tuple[
    npt.NDArray[np.uint32], npt.NDArray[np.uint32], npt.NDArray[np.uint32], npt.NDArray[np.int64]
]:  # pragma: no cover - compiled
    """Every (query, reference row) pair of the blocks found, deduplicated, in order.

    Query group ``g`` (query number ``group_q[g]``) holds the query rows
    ``group_start[g]:group_start[g + 1]``; the block keys of pass ``p`` of row ``i`` are
    ``offsets[p, i]:offsets[p, i + 1]``, key ``e`` hitting the reference rows
    ``rows[block_start[e]:block_end[e]]``. Per group, every hit is packed with its pass as
    ``(r << n_bits) | p``, the few values are sorted (``_sort_hits``) and deduplicated, and
    each pair keeps the OR of its passes' bits. Returns ``(q, r, passes)`` sorted by (group,
    r) and the number of distinct pairs of each pass. Groups are split into ``n_chunks``
    chunks run in parallel.
    """
    n_groups = group_start.size - 1
    n_passes = offsets.shape[0]
    per_chunk = (n_groups + n_chunks - 1) // n_chunks
    # an upper bound of the pairs of every group: where its hits are gathered
    bound = np.zeros(n_groups + 1, dtype=np.int64)
    for c in numba.prange(n_chunks):
        for g in range(c * per_chunk, min(n_groups, (c + 1) * per_chunk)):
            total = 0
            for p in range(n_passes):
                for e in range(offsets[p, group_start[g]], offsets[p, group_start[g + 1]]):
                    total += block_end[e] - block_start[e]
            bound[g + 1] = total
    for g in range(n_groups):
        bound[g + 1] += bound[g]
    buf = np.empty(bound[n_groups], dtype=np.uint64)
    tmp = np.empty(bound[n_groups], dtype=np.uint64)
    found_r = np.empty(bound[n_groups], dtype=np.uint32)
    found_m = np.empty(bound[n_groups], dtype=np.uint32)
    found = np.zeros(n_groups + 1, dtype=np.int64)
    counts = np.zeros((n_chunks, n_passes), dtype=np.int64)
    for c in numba.prange(n_chunks):
        _group_pairs(c * per_chunk, min(n_groups, (c + 1) * per_chunk), group_start, offsets,
                     block_start, block_end, rows, n_bits, bound, buf, tmp, found_r, found_m,
                     found, counts[c])
    for g in range(n_groups):
        found[g + 1] += found[g]
    q_out = np.empty(found[n_groups], dtype=np.uint32)
    r_out = np.empty(found[n_groups], dtype=np.uint32)
    m_out = np.empty(found[n_groups], dtype=np.uint32)
    for c in numba.prange(n_chunks):
        for g in range(c * per_chunk, min(n_groups, (c + 1) * per_chunk)):
            src = bound[g]
            dst = found[g]
            for t in range(found[g + 1] - dst):
                q_out[dst + t] = group_q[g]
                r_out[dst + t] = found_r[src + t]
                m_out[dst + t] = found_m[src + t]
    pass_pairs = np.zeros(n_passes, dtype=np.int64)
    for c in range(n_chunks):
        for p in range(n_passes):
            pass_pairs[p] += counts[c, p]
    return q_out, r_out, m_out, pass_pairs


def load_kernels() -> None:
    """Load (or compile) the compiled steps now, with the dtypes a real call uses."""
    frame = pl.DataFrame({"a": ["ab cd", "ab", None], "b": ["12", "1", "2x"]})
    passes = (
        BlockingPass("w", ("a:token", "b:number")),
        BlockingPass("r", ("a:rare",)),
        BlockingPass("s", ("b:prefix1",)),
    )
    candidate_pairs(frame, frame, passes)


def candidate_pairs(
    left: pl.DataFrame,
    right: pl.DataFrame | BlockIndex,
    passes: tuple[BlockingPass, ...],
    *,
    left_row: str = "q",
    right_row: str = "r",
) -> tuple[pl.DataFrame, tuple[BlockingStats, ...]]:
    """Union of the candidate pairs of every pass, deduplicated.

    ``left`` holds standardised fields, ``right`` too or is a :class:`BlockIndex` built
    with the same passes; row numbers are taken from the columns ``left_row``/``right_row``
    when present, otherwise from the row position. Returns a frame with columns
    ``left_row``, ``right_row`` (UInt32) and ``passes`` (bitmask of the passes that found the
    pair), sorted by (left, right), plus per-pass statistics.
    """
    if isinstance(right, BlockIndex):
        if right.passes != passes:
            msg = (
                "The block index was built with other blocking passes. Hint: build it with "
                "the same passes (prepare_reference does this from the spec)."
            )
            raise ConfigError(msg)
        index = right
    else:
        index = block_index(right, passes, right_row=right_row)
    if left_row not in left.columns:
        left = left.with_row_index(left_row)
    left = left.with_columns(pl.col(left_row).cast(pl.UInt32))
    if left[left_row].null_count():
        left = left.filter(pl.col(left_row).is_not_null())  # a row without a number
    q = left[left_row].to_numpy()
    if q.size > 1 and not bool((q[1:] > q[:-1]).all()):
        # rows sharing a number are one query: make them adjacent
        left = left.sort(left_row)
        q = left[left_row].to_numpy()
        new = np.empty(q.size, dtype=bool)
        new[0] = True
        np.not_equal(q[1:], q[:-1], out=new[1:])
        group_start = np.append(np.flatnonzero(new), q.size).astype(np.int64)
    else:
        group_start = np.arange(q.size + 1, dtype=np.int64)
    group_q = np.ascontiguousarray(q[group_start[:-1]], dtype=np.uint32)
    values = _key_values(left, tuple(k for bp in passes for k in bp.keys))
    offsets = np.zeros((len(passes), left.height + 1), dtype=np.int64)
    pass_start = np.zeros(len(passes) + 1, dtype=np.int64)
    hashes: list[npt.NDArray[np.uint64]] = [np.zeros(0, dtype=np.uint64)]
    n_keys = 0
    for p, (bp, pidx) in enumerate(zip(passes, index._index, strict=True)):
        words, slots = _entries(values, bp.keys)
        if words is not None and pidx.rare_keys is not None:
            assert pidx.rare_counts is not None
            # rank only the words of rows whose other keys have a value
            has_keys = np.all(values.valid[slots[slots >= 0]], axis=0)
            words = words.subset(np.asarray(has_keys)[words.row])
            words = words.subset(
                _rarest_words(np.searchsorted(words.row, group_start), words.hashes,
                              words.start, words.end, words.data, pidx.rare_keys,
                              pidx.rare_counts, RARE_TOKENS)
            )
        _, h, offs = _block_keys(values, words, slots)
        offsets[p] = offs + n_keys
        n_keys += h.size
        pass_start[p + 1] = n_keys
        hashes.append(h)
    blocks = index._blocks
    block_start, block_end = _find_blocks(
        np.concatenate(hashes), pass_start, blocks.table, blocks.directory, blocks.dir_base,
        blocks.shift, _n_chunks(n_keys),
    )
    qcol, rcol, mask, pass_pairs = _merge_pairs(
        group_start, group_q, offsets, block_start, block_end, blocks.rows,
        np.uint64(max(1, int(len(passes) - 1).bit_length())), _n_chunks(group_q.size),
    )
    cands = pl.DataFrame(
        {left_row: qcol, right_row: rcol, "passes": mask},
        schema={left_row: pl.UInt32, right_row: pl.UInt32, "passes": pl.UInt32},
    )
    stats = tuple(
        BlockingStats(name=bp.name, pairs=int(pass_pairs[i]), skipped_keys=p.skipped_keys,
                      skipped_reference_rows=p.skipped_reference_rows)
        for i, (bp, p) in enumerate(zip(passes, index._index, strict=True))
    )
    return cands, stats
