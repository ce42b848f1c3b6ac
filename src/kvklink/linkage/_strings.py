"""Numba kernels for pairwise string similarities over code-point arrays.

The field comparisons of fuzzy recovery score hundreds of thousands of candidate pairs. This
module does that without a Python object per value or per pair:

* :func:`encode_strings` turns a polars ``Utf8`` series into :class:`EncodedStrings`: all code
  points in one flat ``uint32`` array plus ``int64`` offsets (``n + 1``). The UTF-8 bytes are
  decoded straight from the Arrow buffers of the series in a numba kernel.
* :func:`pair_similarities` scores the pairs ``(left[left_codes[i]], right[right_codes[i]])``
  and :func:`pair_levels` turns them into the comparison levels of
  :mod:`kvklink.linkage._compare`. Both run one ``numba.njit(parallel=True, cache=True)``
  kernel: ``prange`` over contiguous chunks of pairs, handed to threads one at a time, with
  the scratch buffers allocated once per chunk.

Similarities (all in [0, 1], equal to rapidfuzz 3.14)
-----------------------------------------------------
``jaro``, ``jaro_winkler`` (prefix weight 0.1, boost above 0.7), ``levenshtein`` and ``indel``
(normalised similarities), ``token_sort`` and ``token_set`` (``fuzz.token_sort_ratio`` and
``fuzz.token_set_ratio`` divided by 100), ``jaro_winkler_token_set`` (the larger of
``jaro_winkler`` and ``token_set``), ``house_number`` (1.0 when equal, 0.9 when the parts
before the first ``-`` are equal, else 0.0) and ``exact`` (1.0 or 0.0).

How the kernels work
--------------------
* Strings of at most 64 code points in Latin-1 (every cleaned company name, street and city)
  use bit-parallel algorithms over a 256-entry pattern table: Hyyrö's Levenshtein, the
  bit-parallel LCS for Indel, and a branch-free bit-parallel matching step for Jaro. Other
  strings take the textbook dynamic programmes, which give the same numbers.
* The token similarities first write, per string used, its sorted (for ``token_set``:
  distinct) tokens joined by one space, plus a 64-bit token signature. Two strings whose
  signatures share no bit have no common token: ``token_set`` is then the Indel similarity
  of the two joined texts, without a merge.
* :func:`pair_levels` only needs to know which thresholds a pair reaches: Jaro-Winkler stops
  once its bound (from the lengths, then from the matching characters) is below the lowest
  threshold, ``jaro_winkler_token_set`` skips the token part when Jaro-Winkler already
  reaches the highest threshold, and ``token_set`` skips the Indel distance when the
  lengths rule out the next threshold. The bounds use the same arithmetic as the scores,
  so the levels are exactly those of the full scores.
* The strings of the pair a few pairs ahead are prefetched (candidate pairs point all over
  the code-point array); the per-pair helpers never allocate and run without numba's
  reference counting.

Tokens
------
The token similarities split on whitespace like :meth:`str.split` and rapidfuzz: runs of
U+0009–U+000D, U+001C–U+001F, U+0020, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F
and U+3000 separate tokens; U+0085 and U+00A0 separate tokens only in a string that also
holds a code point above U+00FF (rapidfuzz stores an all-Latin-1 string as bytes and then
treats only ASCII whitespace as a separator; this module does the same so that the scores
agree). Tokens are sorted by code point (as Python sorts strings) and joined with one space.

Cost
----
On the 2-core reference machine, 600,000 pairs of synthetic company names take about 0.08 s
for ``jaro_winkler`` and 0.15–0.26 s for ``jaro_winkler_token_set`` (rapidfuzz's ``cpdist``
over object arrays: 0.10–0.16 s and 0.45–0.59 s); their comparison levels about 0.05–0.10 s
and 0.11–0.21 s, encoding included.

The first call in a fresh environment compiles the kernels: about 14 s on the 2-core
reference machine. They are cached on disk (``__pycache__`` next to this file, or
``NUMBA_CACHE_DIR``), so later processes only load them (well under a second). The thread
count is numba's (``NUMBA_NUM_THREADS`` or :func:`numba.set_num_threads`). Do not call the
kernels concurrently from several Python threads unless numba's threading layer is
thread-safe (``omp`` or ``tbb``; the ``workqueue`` fallback is not).

Examples
--------
>>> import numpy as np, polars as pl
>>> from kvklink.linkage._strings import encode_strings, pair_similarities, pair_levels
>>> left = encode_strings(pl.Series(["bakkerij jansen", "de vries"]))
>>> right = encode_strings(pl.Series(["jansen bakkerij", "de vries bv"]))
>>> codes = np.array([0, 1])
>>> pair_similarities(left, right, codes, codes, "token_sort").round(3).tolist()
[1.0, 0.842]
>>> pair_levels(left, right, np.array([0, 1, -1]), np.array([0, 1, 0]), "jaro_winkler",
...             (0.8, 0.92)).tolist()
[1, 3, 0]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, TypeVar, cast, get_args

import numba
import numpy as np
import numpy.typing as npt
import polars as pl
from llvmlite import ir  # type: ignore[import-untyped]
from numba.core import cgutils as _cgutils
from numba.core import types
from numba.extending import intrinsic

from kvklink.errors import ConfigError, InputError, SchemaError
from kvklink.frames import large_string_array

__all__ = [
    "SIMILARITIES",
    "EncodedStrings",
    "Similarity",
    "encode_strings",
    "pair_levels",
    "pair_similarities",
    "prepare_tokens",
]

#: The similarity names (the field comparisons of :mod:`kvklink.linkage._compare` use it).
Similarity: TypeAlias = Literal[
    "jaro_winkler",
    "jaro",
    "levenshtein",
    "indel",
    "token_sort",
    "token_set",
    "jaro_winkler_token_set",
    "house_number",
    "exact",
]

#: Names accepted by :func:`pair_similarities` and :func:`pair_levels`, in kernel-code order.
SIMILARITIES: tuple[str, ...] = get_args(Similarity)

# Kernel codes of the similarities (index in SIMILARITIES).
_JARO_WINKLER = 0
_JARO = 1
_LEVENSHTEIN = 2
_INDEL = 3
_TOKEN_SORT = 4
_TOKEN_SET = 5
_JW_TOKEN_SET = 6
_HOUSE_NUMBER = 7
_EXACT = 8
_TOKENISED = (_TOKEN_SORT, _TOKEN_SET, _JW_TOKEN_SET)

# numba widens mixed signed/unsigned arithmetic to float64: every bit operation below keeps
# both operands uint64 explicitly.
_U = np.uint64
_ONE = np.uint64(1)
_ZERO = np.uint64(0)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
#: Longest string (code points) handled by the one-word bit-parallel paths.
_WORD = 64
#: Options of the per-pair helpers. They never allocate, so they are compiled without numba's
#: reference counting (``_nrt=False``, a numba compiler flag): the increments and decrements
#: of every array argument cost more than the bit-parallel kernels themselves. The NumPy error
#: model drops the zero-division checks (no divisor here can be zero).
_LEAF: dict[str, Any] = {"cache": True, "_nrt": False, "error_model": "numpy"}
_F = TypeVar("_F", bound=Callable[..., Any])


def _leaf(func: _F) -> _F:
    """Compile a per-pair helper with the :data:`_LEAF` options (keeps its signature)."""
    return cast(_F, numba.njit(**_LEAF)(func))


#: Sorted token text of strings: code points (same offsets as the strings), lengths, signatures.
_TokenText = tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64], npt.NDArray[np.uint64]]


@dataclass(frozen=True, eq=False, repr=False)
class EncodedStrings:
    """n strings as one flat uint32 array of unicode code points plus int64 offsets (n + 1).

    String ``i`` is ``codepoints[offsets[i]:offsets[i + 1]]``. The repr shows sizes only.

    >>> import numpy as np
    >>> enc = EncodedStrings(np.array([104, 105], dtype=np.uint32),
    ...                      np.array([0, 2, 2], dtype=np.int64))
    >>> len(enc), enc
    (2, EncodedStrings(n=2, codepoints=2))
    """

    codepoints: npt.NDArray[np.uint32]
    offsets: npt.NDArray[np.int64]
    #: Sorted token text of every string, per ``dedupe`` flag (filled on first use, so a
    #: register's strings are tokenised once for all batches of queries).
    token_cache: dict[bool, _TokenText] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    #: Length of the longest string (sizes the kernels' scratch buffers).
    max_length: int = field(default=0, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # The kernels read without bounds checks: refuse offsets that leave the array.
        cps = np.ascontiguousarray(self.codepoints, dtype=np.uint32).reshape(-1)
        off = np.ascontiguousarray(self.offsets, dtype=np.int64).reshape(-1)
        if off.size == 0 or off[0] < 0 or off[-1] > cps.size or (np.diff(off) < 0).any():
            msg = (
                f"The 'offsets' of EncodedStrings ({off.size} values for {cps.size} code "
                "points) must start at >= 0, never decrease and end within the code points. "
                "Hint: build EncodedStrings with encode_strings(series)."
            )
            raise InputError(msg)
        object.__setattr__(self, "codepoints", cps)
        object.__setattr__(self, "offsets", off)
        object.__setattr__(self, "max_length", int(np.diff(off).max(initial=0)))

    def __len__(self) -> int:
        return int(self.offsets.size) - 1

    def __repr__(self) -> str:
        return f"EncodedStrings(n={len(self)}, codepoints={int(self.codepoints.size)})"


def _prefetch_codegen(typingctx: Any, arr: Any, idx: Any) -> Any:
    """``_prefetch(arr, i)``: hint the CPU to load ``arr[i]`` into the cache (no effect else).

    Candidate pairs point at strings all over the code-point array; fetching the strings of
    a pair a few pairs ahead hides most of the memory latency.
    """
    sig = types.void(arr, idx)
    cgutils: Any = _cgutils  # untyped numba internals

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(
            context, builder, signature.args[0], ary, [args[1]], wraparound=False
        )
        i8p = builder.bitcast(ptr, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p.type, i32, i32, i32])
        # the intrinsic's name carries the pointer type: "p0" with LLVM's opaque pointers
        # (recent llvmlite), "p0i8" with typed pointers (older llvmlite)
        name = "llvm.prefetch.p0" if str(i8p.type) == "ptr" else "llvm.prefetch.p0i8"
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        # read access, high temporal locality, data cache
        builder.call(fn, [i8p, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


_prefetch: Any = intrinsic(_prefetch_codegen)
#: How many pairs ahead the strings (and, twice as far ahead, their offsets) are prefetched.
_AHEAD = 4


# --------------------------------------------------------------------------------------------
# UTF-8 decoding


@numba.njit(parallel=True, cache=True)
def _decode_utf8(
    data: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    out_offsets: npt.NDArray[np.int64],
    out: npt.NDArray[np.uint32],
    n_chunks: int,
) -> None:
    """Decode value ``i`` (bytes ``offsets[i]:offsets[i+1]``) to ``out[out_offsets[i]:...]``.

    The bytes come from polars, so they are valid UTF-8 and no validation is done.
    """
    n = offsets.size - 1
    per_chunk = (n + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        for i in range(c * per_chunk, min(n, (c + 1) * per_chunk)):
            k = out_offsets[i]
            j = offsets[i]
            end = offsets[i + 1]
            while j < end:
                b0 = np.uint32(data[j])
                if b0 < 0x80:
                    out[k] = b0
                    j += 1
                elif b0 < 0xE0:
                    out[k] = ((b0 & np.uint32(0x1F)) << np.uint32(6)) | (
                        np.uint32(data[j + 1]) & np.uint32(0x3F)
                    )
                    j += 2
                elif b0 < 0xF0:
                    out[k] = (
                        ((b0 & np.uint32(0x0F)) << np.uint32(12))
                        | ((np.uint32(data[j + 1]) & np.uint32(0x3F)) << np.uint32(6))
                        | (np.uint32(data[j + 2]) & np.uint32(0x3F))
                    )
                    j += 3
                else:
                    out[k] = (
                        ((b0 & np.uint32(0x07)) << np.uint32(18))
                        | ((np.uint32(data[j + 1]) & np.uint32(0x3F)) << np.uint32(12))
                        | ((np.uint32(data[j + 2]) & np.uint32(0x3F)) << np.uint32(6))
                        | (np.uint32(data[j + 3]) & np.uint32(0x3F))
                    )
                    j += 4
                k += 1


@numba.njit(parallel=True, cache=True)
def _count_code_points(
    data: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    n_chunks: int,
) -> None:
    """Code points per value: every byte that is not a continuation byte (10xxxxxx)."""
    n = offsets.size - 1
    per_chunk = (n + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        for i in range(c * per_chunk, min(n, (c + 1) * per_chunk)):
            k = 0
            for j in range(offsets[i], offsets[i + 1]):
                k += int((data[j] & 0xC0) != 0x80)
            counts[i] = k



def _n_chunks(n: int) -> int:
    """How many chunks to split ``n`` items into for a parallel kernel (a few per thread)."""
    return max(1, min(n, 16 * numba.get_num_threads()))


@numba.njit(inline="always", cache=True)
def chunk_rows(
    c: int, n_chunks: int, starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]
) -> tuple[int, int, int]:  # pragma: no cover - compiled
    """Rows ``lo:hi`` of chunk ``c`` of ``n_chunks`` over ``starts.size`` rows, and the
    longest row (``ends[i] - starts[i]``) among them, for sizing the chunk's buffers."""
    n = starts.size
    per_chunk = (n + n_chunks - 1) // n_chunks
    lo = c * per_chunk
    hi = min(n, lo + per_chunk)
    longest = 0
    for i in range(lo, hi):
        longest = max(longest, ends[i] - starts[i])
    return lo, hi, longest


def encode_strings(values: pl.Series) -> EncodedStrings:
    """Code points of a ``Utf8`` series without nulls, as :class:`EncodedStrings`.

    The UTF-8 bytes are read from the Arrow buffers of ``values`` and decoded in a numba
    kernel (no Python per value).

    Raises
    ------
    SchemaError
        ``values`` is not a polars series of dtype ``String``.
    InputError
        ``values`` holds nulls.

    >>> import polars as pl
    >>> enc = encode_strings(pl.Series(["ab", "", "é€"]))
    >>> enc.codepoints.tolist(), enc.offsets.tolist()
    ([97, 98, 233, 8364], [0, 2, 2, 4])
    """
    if not isinstance(values, pl.Series):
        msg = (
            f"The 'values' argument must be a polars Series, not {type(values).__name__}. "
            "Hint: convert with pl.Series(...)."
        )
        raise SchemaError(msg)
    if values.dtype == pl.Null and values.len() == 0:
        values = values.cast(pl.String)
    if values.dtype != pl.String:
        msg = (
            f"The 'values' series must have dtype String (Utf8), not {values.dtype}. "
            "Hint: cast it with .cast(pl.String) first."
        )
        raise SchemaError(msg)
    if values.null_count():
        msg = (
            f"The 'values' series holds {values.null_count()} null(s) of {values.len()} rows. "
            "Hint: encode the distinct non-null values and give nulls the code -1."
        )
        raise InputError(msg)
    n = values.len()
    if n == 0:
        return EncodedStrings(np.zeros(0, dtype=np.uint32), np.zeros(1, dtype=np.int64))
    arr = large_string_array(values)
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8)
        if data_buf is not None
        else np.zeros(0, dtype=np.uint8)
    )
    counts = np.empty(n, dtype=np.int64)
    _count_code_points(data, offsets, counts, _n_chunks(n))
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=out_offsets[1:])
    out = np.empty(int(out_offsets[-1]), dtype=np.uint32)
    _decode_utf8(data, offsets, out_offsets, out, _n_chunks(n))
    return EncodedStrings(out, out_offsets)


# --------------------------------------------------------------------------------------------
# Small helpers


@numba.njit(cache=True, inline="always")
def _popcount(x: np.uint64) -> int:
    x = x - ((x >> _U(1)) & _U(0x5555555555555555))
    x = (x & _U(0x3333333333333333)) + ((x >> _U(2)) & _U(0x3333333333333333))
    x = (x + (x >> _U(4))) & _U(0x0F0F0F0F0F0F0F0F)
    return int((x * _U(0x0101010101010101)) >> _U(56))


@numba.njit(cache=True, inline="always")
def _bit(i: int) -> np.uint64:
    return _ONE << _U(i)


@_leaf
def _equal(
    a: npt.NDArray[np.uint32], a0: int, al: int, b: npt.NDArray[np.uint32], b0: int, bl: int
) -> bool:
    if al != bl:
        return False
    for i in range(al):  # noqa: SIM110 (an explicit loop compiles to tight code in numba)
        if a[a0 + i] != b[b0 + i]:
            return False
    return True


@_leaf
def _fill_pattern(
    pm: npt.NDArray[np.uint64], p: npt.NDArray[np.uint32], p0: int, pl: int
) -> bool:
    """Set bit ``i`` of ``pm[p[i]]``; False (table left clear) if ``p`` is not Latin-1."""
    seen = np.uint32(0)
    for i in range(pl):
        c = p[p0 + i]
        seen |= c
        pm[c & 255] |= _bit(i)
    if seen > 255:
        _clear_pattern(pm, p, p0, pl)
        return False
    return True


@_leaf
def _clear_pattern(
    pm: npt.NDArray[np.uint64], p: npt.NDArray[np.uint32], p0: int, pl: int
) -> None:
    for i in range(pl):
        pm[p[p0 + i] & 255] = _ZERO


# --------------------------------------------------------------------------------------------
# Jaro and Jaro-Winkler


@_leaf
def _jaro(
    a: npt.NDArray[np.uint32],
    a0: int,
    al: int,
    b: npt.NDArray[np.uint32],
    b0: int,
    bl: int,
    pm: npt.NDArray[np.uint64],
    fa: npt.NDArray[np.uint8],
    fb: npt.NDArray[np.uint8],
    tm: npt.NDArray[np.uint32],
    prefix: int,
    need: float,
) -> float:
    """Jaro similarity (rapidfuzz ``Jaro.normalized_similarity``).

    With ``need > 0`` the result may instead be -1.0 when the Jaro-Winkler similarity with
    common prefix ``prefix`` is certainly below ``need`` (checked from the lengths, then from
    the number of matching characters, before the transpositions are counted).
    """
    if al == 0 and bl == 0:
        return 1.0
    if al == 0 or bl == 0:
        return 0.0
    if al == 1 and bl == 1:
        return 1.0 if a[a0] == b[b0] else 0.0
    if need > 0.0 and _winkler_bound(min(al, bl), al, bl, prefix) < need:
        return -1.0
    bound = max(al, bl) // 2 - 1
    # characters of the longer string past (shorter length + bound) are never in a window
    au = min(al, bl + bound)
    bu = min(bl, al + bound)
    # Matching is symmetric: use as pattern ``p`` a side the one-word table can hold.
    if au <= _WORD and _fill_pattern(pm, a, a0, au):
        p, p0, pl, t, t0, tl = a, a0, au, b, b0, bu
        fast = True
    elif bu <= _WORD and _fill_pattern(pm, b, b0, bu):
        p, p0, pl, t, t0, tl = b, b0, bu, a, a0, au
        fast = True
    else:
        p, p0, pl, t, t0, tl = a, a0, au, b, b0, bu
        fast = False
    common = 0
    trans = 0
    if fast:
        # Branch-free: every text character takes the lowest free pattern position of the
        # same character inside its window; the matched characters are kept in order in
        # ``tm`` and compared with the flagged pattern characters for the transpositions.
        pflag = _ZERO
        # pattern positions j - bound .. j + bound (the table has no bits past the pattern)
        window = _ALL if bound >= 63 else (_U(2) << _U(bound)) - _ONE
        for j in range(tl):
            c = t[t0 + j]
            cand = pm[c & 255] & window & ~pflag & (_ZERO - _U(c <= 255))
            low = cand & (~cand + _ONE)
            pflag = pflag | low
            tm[common] = c
            common += int(low != _ZERO)
            window = (window << _ONE) | _U(j < bound)
        _clear_pattern(pm, p, p0, pl)
        if common == 0:
            return 0.0
        if need > 0.0 and _winkler_bound(common, al, bl, prefix) < need:
            return -1.0
        k = 0
        for i in range(pl):
            flagged = int((pflag >> _U(i)) & _ONE)
            trans += flagged & int(p[p0 + i] != tm[k])
            k += flagged
    else:
        for i in range(pl):
            fa[i] = 0
        for j in range(tl):
            fb[j] = 0
        for i in range(pl):
            c = p[p0 + i]
            for j in range(max(0, i - bound), min(tl - 1, i + bound) + 1):
                if fb[j] == 0 and t[t0 + j] == c:
                    fa[i] = 1
                    fb[j] = 1
                    common += 1
                    break
        if common == 0:
            return 0.0
        k = 0
        for i in range(pl):
            if fa[i]:
                while fb[k] == 0:
                    k += 1
                if p[p0 + i] != t[t0 + k]:
                    trans += 1
                k += 1
    m = float(common)
    sim = m / al + m / bl + (m - float(trans // 2)) / m
    return sim / 3.0


@_leaf
def _winkler_bound(common: int, al: int, bl: int, prefix: int) -> float:
    """Upper bound of Jaro-Winkler with ``common`` matching characters, less a safety margin.

    The same arithmetic as the real score with no transpositions (every step is monotone);
    the margin of 1e-9 covers rounding, so a pair is never dropped wrongly.
    """
    m = float(common)
    sim = (m / al + m / bl + 1.0) / 3.0
    if sim > 0.7:
        sim += float(prefix) * 0.1 * (1.0 - sim)
    return sim + 1e-9


@_leaf
def _jaro_winkler(
    a: npt.NDArray[np.uint32],
    a0: int,
    al: int,
    b: npt.NDArray[np.uint32],
    b0: int,
    bl: int,
    pm: npt.NDArray[np.uint64],
    fa: npt.NDArray[np.uint8],
    fb: npt.NDArray[np.uint8],
    tm: npt.NDArray[np.uint32],
    need: float,
) -> float:
    """Jaro-Winkler similarity, prefix weight 0.1 (rapidfuzz ``JaroWinkler``).

    With ``need > 0`` the result may instead be -1.0 when it is certainly below ``need``.
    """
    prefix = 0
    for i in range(min(al, bl, 4)):
        if a[a0 + i] != b[b0 + i]:
            break
        prefix += 1
    sim = _jaro(a, a0, al, b, b0, bl, pm, fa, fb, tm, prefix, need)
    if sim > 0.7:
        sim += float(prefix) * 0.1 * (1.0 - sim)
        sim = min(sim, 1.0)
    return sim


# --------------------------------------------------------------------------------------------
# Levenshtein and Indel (LCS)


@_leaf
def _levenshtein_distance(
    a: npt.NDArray[np.uint32],
    a0: int,
    al: int,
    b: npt.NDArray[np.uint32],
    b0: int,
    bl: int,
    pm: npt.NDArray[np.uint64],
    row: npt.NDArray[np.int64],
) -> int:
    """Uniform-cost edit distance (Hyyrö's bit-parallel algorithm for short Latin-1 strings)."""
    if al == 0:
        return bl
    if bl == 0:
        return al
    if al <= _WORD and _fill_pattern(pm, a, a0, al):
        p, p0, pl, t, t0, tl = a, a0, al, b, b0, bl
        fast = True
    elif bl <= _WORD and _fill_pattern(pm, b, b0, bl):
        p, p0, pl, t, t0, tl = b, b0, bl, a, a0, al
        fast = True
    else:
        p, p0, pl, t, t0, tl = a, a0, al, b, b0, bl
        fast = False
    if fast:
        vp = _ALL
        vn = _ZERO
        last = _bit(pl - 1)
        dist = pl
        for j in range(tl):
            c = t[t0 + j]
            x = (pm[c] if c <= 255 else _ZERO) | vn
            d0 = (((x & vp) + vp) ^ vp) | x
            hp = vn | ~(d0 | vp)
            hn = vp & d0
            if hp & last:
                dist += 1
            if hn & last:
                dist -= 1
            hp = (hp << _ONE) | _ONE
            hn = hn << _ONE
            vp = hn | ~(d0 | hp)
            vn = hp & d0
        _clear_pattern(pm, p, p0, pl)
        return dist
    for i in range(pl + 1):
        row[i] = i
    for j in range(tl):
        diag = row[0]
        row[0] = j + 1
        c = t[t0 + j]
        for i in range(1, pl + 1):
            above = row[i]
            best = diag if p[p0 + i - 1] == c else diag + 1
            best = min(best, above + 1, row[i - 1] + 1)
            row[i] = best
            diag = above
    return int(row[pl])


@_leaf
def _lcs_length(
    a: npt.NDArray[np.uint32],
    a0: int,
    al: int,
    b: npt.NDArray[np.uint32],
    b0: int,
    bl: int,
    pm: npt.NDArray[np.uint64],
    row: npt.NDArray[np.int64],
) -> int:
    """Length of the longest common subsequence (bit-parallel for short Latin-1 strings)."""
    if al == 0 or bl == 0:
        return 0
    if al <= _WORD and _fill_pattern(pm, a, a0, al):
        p, p0, pl, t, t0, tl = a, a0, al, b, b0, bl
        fast = True
    elif bl <= _WORD and _fill_pattern(pm, b, b0, bl):
        p, p0, pl, t, t0, tl = b, b0, bl, a, a0, al
        fast = True
    else:
        p, p0, pl, t, t0, tl = a, a0, al, b, b0, bl
        fast = False
    if fast:
        s = _ALL
        for j in range(tl):
            c = t[t0 + j]
            if c <= 255:
                u = s & pm[c]
                s = (s + u) | (s - u)
        _clear_pattern(pm, p, p0, pl)
        mask = (_U(2) << _U(pl - 1)) - _ONE
        return _popcount(~s & mask)
    for i in range(pl + 1):
        row[i] = 0
    for j in range(tl):
        diag = 0
        c = t[t0 + j]
        for i in range(1, pl + 1):
            above = row[i]
            if p[p0 + i - 1] == c:
                row[i] = diag + 1
            elif row[i - 1] > above:
                row[i] = row[i - 1]
            diag = above
    return int(row[pl])


@_leaf
def _indel_distance(
    a: npt.NDArray[np.uint32],
    a0: int,
    al: int,
    b: npt.NDArray[np.uint32],
    b0: int,
    bl: int,
    pm: npt.NDArray[np.uint64],
    row: npt.NDArray[np.int64],
) -> int:
    return al + bl - 2 * _lcs_length(a, a0, al, b, b0, bl, pm, row)


# --------------------------------------------------------------------------------------------
# Tokens


@numba.njit(cache=True, inline="always")
def _is_space(c: int, wide: bool) -> bool:
    if c <= 0x20:
        return c == 0x20 or 0x09 <= c <= 0x0D or 0x1C <= c <= 0x1F
    if not wide or c < 0x85:
        return False
    return (
        c == 0x85
        or c == 0xA0
        or c == 0x1680
        or 0x2000 <= c <= 0x200A
        or c == 0x2028
        or c == 0x2029
        or c == 0x202F
        or c == 0x205F
        or c == 0x3000
    )


@_leaf
def _compare_spans(
    cp: npt.NDArray[np.uint32], s1: int, l1: int, s2: int, l2: int
) -> int:
    """-1, 0 or 1 as the code-point sequences compare (shorter prefix first)."""
    for i in range(min(l1, l2)):
        x = cp[s1 + i]
        y = cp[s2 + i]
        if x != y:
            return -1 if x < y else 1
    if l1 == l2:
        return 0
    return -1 if l1 < l2 else 1


@numba.njit(parallel=True, cache=True)
def _sort_tokens(
    cp: npt.NDArray[np.uint32],
    offsets: npt.NDArray[np.int64],
    used: npt.NDArray[np.bool_],
    dedupe: bool,
    out: npt.NDArray[np.uint32],
    out_len: npt.NDArray[np.int64],
    out_sig: npt.NDArray[np.uint64],
    max_len: int,
    n_chunks: int,
) -> None:
    """Write the tokens of every used string, sorted, joined by one space, to ``out``.

    String ``s`` goes to ``out[offsets[s]:offsets[s] + out_len[s]]`` (never longer than the
    string itself). With ``dedupe`` a token equal to the one before it is dropped.
    ``out_sig[s]`` has bit ``hash(token) % 64`` set for each token: two strings whose
    signatures share no bit have no token in common.
    """
    n = offsets.size - 1
    per_chunk = (n + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        starts = np.empty(max_len // 2 + 1, dtype=np.int64)
        lens = np.empty(max_len // 2 + 1, dtype=np.int64)
        for s in range(c * per_chunk, min(n, (c + 1) * per_chunk)):
            if not used[s]:
                continue
            o0 = offsets[s]
            o1 = offsets[s + 1]
            wide = -1  # does the string hold a code point above U+00FF? (asked only if needed)
            nt = 0
            inside = False
            for k in range(o0, o1):
                ch = cp[k]
                if ch < 0x85:
                    space = ch == 0x20 or 0x09 <= ch <= 0x0D or 0x1C <= ch <= 0x1F
                else:
                    if wide < 0:
                        wide = 0
                        for q in range(o0, o1):
                            if cp[q] > 255:
                                wide = 1
                                break
                    space = _is_space(ch, wide == 1)
                if not space:
                    if not inside:
                        starts[nt] = k
                        lens[nt] = 0
                        nt += 1
                    lens[nt - 1] += 1
                inside = not space
            for i in range(1, nt):  # insertion sort: a name has few tokens
                st = starts[i]
                ln = lens[i]
                j = i - 1
                while j >= 0 and _compare_spans(cp, starts[j], lens[j], st, ln) > 0:
                    starts[j + 1] = starts[j]
                    lens[j + 1] = lens[j]
                    j -= 1
                starts[j + 1] = st
                lens[j + 1] = ln
            pos = o0
            sig = _ZERO
            for t in range(nt):
                if dedupe and t > 0 and _compare_spans(
                    cp, starts[t - 1], lens[t - 1], starts[t], lens[t]
                ) == 0:
                    continue
                if pos > o0:
                    out[pos] = 32
                    pos += 1
                h = _U(0xCBF29CE484222325)  # FNV-1a over the code points
                for q in range(lens[t]):
                    ch = cp[starts[t] + q]
                    out[pos + q] = ch
                    h = (h ^ _U(ch)) * _U(0x100000001B3)
                sig |= _ONE << (h >> _U(58))
                pos += lens[t]
            out_len[s] = pos - o0
            out_sig[s] = sig


def _tokens(enc: EncodedStrings, *, dedupe: bool) -> _TokenText:
    """Sorted (with ``dedupe``: distinct) tokens joined by spaces, for every string of ``enc``.

    Returns the joined text (same offsets as ``enc``), its length per string and a token
    signature per string (see :func:`_sort_tokens`). The joined text of a string without
    tokens is empty. Computed once per ``enc`` and flag, then taken from its cache.
    """
    got = enc.token_cache.get(dedupe)
    if got is not None:
        return got
    n = len(enc)
    used = np.ones(n, dtype=np.bool_)
    out = np.empty(enc.codepoints.size, dtype=np.uint32)
    out_len = np.zeros(n, dtype=np.int64)
    out_sig = np.zeros(n, dtype=np.uint64)
    max_len = enc.max_length
    _sort_tokens(enc.codepoints, enc.offsets, used, dedupe, out, out_len, out_sig, max_len,
                 _n_chunks(n))
    enc.token_cache[dedupe] = (out, out_len, out_sig)
    return out, out_len, out_sig


def prepare_tokens(enc: EncodedStrings, similarity: str) -> None:
    """Tokenise ``enc`` now if ``similarity`` compares tokens (e.g. for a reference frame).

    >>> import polars as pl
    >>> enc = encode_strings(pl.Series(["b a", "c"]))
    >>> prepare_tokens(enc, "token_set"); sorted(enc.token_cache)
    [True]
    """
    if similarity in ("token_sort", "token_set", "jaro_winkler_token_set"):
        _tokens(enc, dedupe=similarity != "token_sort")


@_leaf
def _append_token(
    buf: npt.NDArray[np.uint32], pos: int, cp: npt.NDArray[np.uint32], start: int, length: int
) -> int:
    """Write ``cp[start:start+length]`` at ``buf[pos]`` (after a space unless pos == 0)."""
    if pos > 0:
        buf[pos] = 32
        pos += 1
    for i in range(length):
        buf[pos + i] = cp[start + i]
    return pos + length


@_leaf
def _token_end(a: npt.NDArray[np.uint32], i: int, end: int) -> int:
    """End of the token starting at ``a[i]`` in joined text (tokens hold no U+0020)."""
    while i < end and a[i] != 32:
        i += 1
    return i


@_leaf
def _token_sort(
    ta: npt.NDArray[np.uint32],
    a0: int,
    la: int,
    tb: npt.NDArray[np.uint32],
    b0: int,
    lb: int,
    pm: npt.NDArray[np.uint64],
    row: npt.NDArray[np.int64],
) -> float:
    """``fuzz.token_sort_ratio / 100``: Indel similarity of the sorted, joined tokens."""
    total = la + lb
    if total == 0:
        return 1.0
    dist = _indel_distance(ta, a0, la, tb, b0, lb, pm, row)
    ratio = (1.0 - dist / total) * 100.0
    return ratio / 100.0


@numba.njit(cache=True, inline="always")
def _ratio100(dist: int, lensum: int) -> float:
    if lensum > 0:
        return 100.0 - 100.0 * dist / lensum
    return 100.0


@_leaf
def _merge_tokens(
    ta: npt.NDArray[np.uint32],
    a0: int,
    la: int,
    tb: npt.NDArray[np.uint32],
    b0: int,
    lb: int,
    buf_a: npt.NDArray[np.uint32],
    buf_b: npt.NDArray[np.uint32],
    copy: bool,
) -> tuple[int, int, int, int]:
    """Walk two sorted, distinct token lists (joined text) like a merge.

    Returns the joined lengths of the two differences, the number of common tokens and the
    joined length of the intersection; with ``copy`` the differences are written (joined)
    to ``buf_a`` and ``buf_b``.
    """
    a_end = a0 + la
    b_end = b0 + lb
    ia = a0
    ib = b0
    ea = -1  # end of the current token (-1: not yet found)
    eb = -1
    ab_len = 0
    ba_len = 0
    n_sect = 0
    sect_len = 0
    while ia < a_end or ib < b_end:
        if ia < a_end and ea < 0:
            ea = _token_end(ta, ia, a_end)
        if ib < b_end and eb < 0:
            eb = _token_end(tb, ib, b_end)
        if ia < a_end and ib < b_end:
            order = _compare_spans2(ta, ia, ea - ia, tb, ib, eb - ib)
        elif ia < a_end:
            order = -1
        else:
            order = 1
        if order == 0:
            sect_len += ea - ia + (1 if n_sect else 0)
            n_sect += 1
            ia = ea + 1
            ib = eb + 1
            ea = -1
            eb = -1
        elif order < 0:
            if copy:
                _append_token(buf_a, ab_len, ta, ia, ea - ia)
            ab_len += ea - ia + (1 if ab_len else 0)
            ia = ea + 1
            ea = -1
        else:
            if copy:
                _append_token(buf_b, ba_len, tb, ib, eb - ib)
            ba_len += eb - ib + (1 if ba_len else 0)
            ib = eb + 1
            eb = -1
    return ab_len, ba_len, n_sect, sect_len


@_leaf
def _token_set(
    ta: npt.NDArray[np.uint32],
    a0: int,
    la: int,
    tb: npt.NDArray[np.uint32],
    b0: int,
    lb: int,
    buf_a: npt.NDArray[np.uint32],
    buf_b: npt.NDArray[np.uint32],
    pm: npt.NDArray[np.uint64],
    row: npt.NDArray[np.int64],
    need: float,
    disjoint: bool,
) -> float:
    """``fuzz.token_set_ratio / 100`` from two sorted, distinct token lists (joined text).

    ``disjoint`` says the two lists certainly share no token (their signatures share no
    bit): then the lists are the differences as they are, and no merge is needed.

    With ``need > 0`` the result may instead be -1.0 when it is certainly below ``need``
    (the Indel distance of the two differences is at least their length difference): the
    comparison levels only need to know that.
    """
    if la == 0 or lb == 0:
        return 0.0
    if disjoint:
        ab_len, ba_len, n_sect, sect_len = la, lb, 0, 0
    else:
        ab_len, ba_len, n_sect, sect_len = _merge_tokens(ta, a0, la, tb, b0, lb, buf_a, buf_b,
                                                         False)
    if n_sect and (ab_len == 0 or ba_len == 0):
        return 1.0
    sep = 1 if sect_len else 0
    sect_ab_len = sect_len + sep + ab_len
    sect_ba_len = sect_len + sep + ba_len
    sect_ab = _ratio100(sep + ab_len, sect_len + sect_ab_len) if sect_len else 0.0
    sect_ba = _ratio100(sep + ba_len, sect_len + sect_ba_len) if sect_len else 0.0
    if need > 0.0:
        # the same (monotone) arithmetic with the smallest possible distance
        bound = _ratio100(abs(ab_len - ba_len), sect_ab_len + sect_ba_len)
        if max(bound, sect_ab, sect_ba) / 100.0 < need:
            return -1.0
    if n_sect == 0:  # the differences are the whole token lists
        dist = _indel_distance(ta, a0, la, tb, b0, lb, pm, row)
    else:
        _merge_tokens(ta, a0, la, tb, b0, lb, buf_a, buf_b, True)
        dist = _indel_distance(buf_a, 0, ab_len, buf_b, 0, ba_len, pm, row)
    result = _ratio100(dist, sect_ab_len + sect_ba_len)
    if sect_len == 0:
        return result / 100.0
    return max(result, sect_ab, sect_ba) / 100.0


@_leaf
def _compare_spans2(
    acp: npt.NDArray[np.uint32], s1: int, l1: int, bcp: npt.NDArray[np.uint32], s2: int, l2: int
) -> int:
    """:func:`_compare_spans` across two arrays."""
    for i in range(min(l1, l2)):
        x = acp[s1 + i]
        y = bcp[s2 + i]
        if x != y:
            return -1 if x < y else 1
    if l1 == l2:
        return 0
    return -1 if l1 < l2 else 1


# --------------------------------------------------------------------------------------------
# House numbers


@_leaf
def _house_number(
    a: npt.NDArray[np.uint32], a0: int, al: int, b: npt.NDArray[np.uint32], b0: int, bl: int
) -> float:
    if _equal(a, a0, al, b, b0, bl):
        return 1.0
    na = al
    for i in range(al):
        if a[a0 + i] == 45:  # '-'
            na = i
            break
    nb = bl
    for i in range(bl):
        if b[b0 + i] == 45:
            nb = i
            break
    return 0.9 if _equal(a, a0, na, b, b0, nb) else 0.0


# --------------------------------------------------------------------------------------------
# The pair kernel


@_leaf
def _similarity(
    sim: int,
    acp: npt.NDArray[np.uint32],
    a0: int,
    al: int,
    bcp: npt.NDArray[np.uint32],
    b0: int,
    bl: int,
    ta: npt.NDArray[np.uint32],
    tla: int,
    tb: npt.NDArray[np.uint32],
    tlb: int,
    disjoint: bool,
    pm: npt.NDArray[np.uint64],
    fa: npt.NDArray[np.uint8],
    fb: npt.NDArray[np.uint8],
    row: npt.NDArray[np.int64],
    buf_a: npt.NDArray[np.uint32],
    buf_b: npt.NDArray[np.uint32],
    need: float,
) -> float:
    """Similarity code ``sim`` of one pair (token similarities may stop early below ``need``).

    ``ta[a0:a0 + tla]`` and ``tb[b0:b0 + tlb]`` are the joined sorted tokens of the two
    strings (token similarities only). For ``jaro_winkler_token_set`` ``need`` applies to
    the token-set part.
    """
    if sim == _JARO_WINKLER:
        return _jaro_winkler(acp, a0, al, bcp, b0, bl, pm, fa, fb, buf_a, need)
    if sim == _JARO:
        return _jaro(acp, a0, al, bcp, b0, bl, pm, fa, fb, buf_a, 0, need)
    if sim == _LEVENSHTEIN:
        longest = max(al, bl)
        if longest == 0:
            return 1.0
        dist = _levenshtein_distance(acp, a0, al, bcp, b0, bl, pm, row)
        return 1.0 - dist / longest
    if sim == _INDEL:
        total = al + bl
        if total == 0:
            return 1.0
        return 1.0 - _indel_distance(acp, a0, al, bcp, b0, bl, pm, row) / total
    if sim == _TOKEN_SORT:
        return _token_sort(ta, a0, tla, tb, b0, tlb, pm, row)
    if sim == _TOKEN_SET:
        return _token_set(ta, a0, tla, tb, b0, tlb, buf_a, buf_b, pm, row, need, disjoint)
    if sim == _JW_TOKEN_SET:
        jw = _jaro_winkler(acp, a0, al, bcp, b0, bl, pm, fa, fb, buf_a, 0.0)
        if jw >= 1.0:
            return jw
        ts = _token_set(ta, a0, tla, tb, b0, tlb, buf_a, buf_b, pm, row, need, disjoint)
        return max(jw, ts)
    if sim == _HOUSE_NUMBER:
        return _house_number(acp, a0, al, bcp, b0, bl)
    return 1.0 if _equal(acp, a0, al, bcp, b0, bl) else 0.0


@numba.njit(cache=True)
def _pairs_chunk(
    acp: npt.NDArray[np.uint32],
    aoff: npt.NDArray[np.int64],
    bcp: npt.NDArray[np.uint32],
    boff: npt.NDArray[np.int64],
    ta: npt.NDArray[np.uint32],
    ta_len: npt.NDArray[np.int64],
    ta_sig: npt.NDArray[np.uint64],
    tb: npt.NDArray[np.uint32],
    tb_len: npt.NDArray[np.int64],
    tb_sig: npt.NDArray[np.uint64],
    lc: npt.NDArray[np.int64],
    rc: npt.NDArray[np.int64],
    sim: int,
    thresholds: npt.NDArray[np.float64],
    want_levels: bool,
    out_sim: npt.NDArray[np.float64],
    out_lev: npt.NDArray[np.int8],
    max_len: int,
    lo: int,
    hi: int,
) -> None:
    """Similarity (or level) of pairs ``lo .. hi - 1``; scratch buffers allocated once here."""
    tokenised = sim >= _TOKEN_SORT and sim <= _JW_TOKEN_SET  # codes 4, 5, 6
    top = thresholds.size + 2
    pm = np.zeros(256, dtype=np.uint64)
    fa = np.zeros(max_len + 1, dtype=np.uint8)
    fb = np.zeros(max_len + 1, dtype=np.uint8)
    row = np.zeros(max_len + 2, dtype=np.int64)
    buf_a = np.zeros(max_len + 1, dtype=np.uint32)
    buf_b = np.zeros(max_len + 1, dtype=np.uint32)
    for i in range(lo, hi):
        if i + 2 * _AHEAD < hi:
            _prefetch(aoff, max(lc[i + 2 * _AHEAD], 0))
            _prefetch(boff, max(rc[i + 2 * _AHEAD], 0))
            if tokenised:
                _prefetch(ta_len, max(lc[i + 2 * _AHEAD], 0))
                _prefetch(tb_len, max(rc[i + 2 * _AHEAD], 0))
                _prefetch(ta_sig, max(lc[i + 2 * _AHEAD], 0))
                _prefetch(tb_sig, max(rc[i + 2 * _AHEAD], 0))
        if i + _AHEAD < hi:
            xa = max(lc[i + _AHEAD], 0)
            ya = max(rc[i + _AHEAD], 0)
            _prefetch(acp, aoff[xa])
            _prefetch(bcp, boff[ya])
            if tokenised:
                _prefetch(ta, aoff[xa])
                _prefetch(tb, boff[ya])
        x = lc[i]
        y = rc[i]
        if want_levels and (x < 0 or y < 0):
            out_lev[i] = 0
            continue
        a0 = aoff[x]
        al = aoff[x + 1] - a0
        b0 = boff[y]
        bl = boff[y + 1] - b0
        if want_levels:
            if _equal(acp, a0, al, bcp, b0, bl):
                out_lev[i] = top
                continue
            if sim == _EXACT:
                out_lev[i] = 1
                continue
        tla = ta_len[x] if tokenised else 0
        tlb = tb_len[y] if tokenised else 0
        disjoint = tokenised and (ta_sig[x] & tb_sig[y]) == _ZERO
        if not want_levels:
            out_sim[i] = _similarity(sim, acp, a0, al, bcp, b0, bl, ta, tla, tb, tlb, disjoint,
                                     pm, fa, fb, row, buf_a, buf_b, 0.0)
            continue
        # Levels only need to know which thresholds (ascending) the similarity reaches: the
        # token-set part is skipped, or stopped early, when it cannot change the level.
        if top == 2:
            out_lev[i] = 1
            continue
        if sim == _JW_TOKEN_SET:
            s = _jaro_winkler(acp, a0, al, bcp, b0, bl, pm, fa, fb, buf_a, thresholds[0])
            reached = 0
            for t in thresholds:
                if s >= t:
                    reached += 1
            if reached < thresholds.size:
                ts = _token_set(ta, a0, tla, tb, b0, tlb, buf_a, buf_b, pm, row,
                                thresholds[reached], disjoint)
                s = max(s, ts)
        else:
            s = _similarity(sim, acp, a0, al, bcp, b0, bl, ta, tla, tb, tlb, disjoint, pm, fa,
                            fb, row, buf_a, buf_b, thresholds[0])
        level = 1
        for t in thresholds:
            if s >= t:
                level += 1
        out_lev[i] = level


@numba.njit(parallel=True, cache=True)
def _pairs_kernel(
    acp: npt.NDArray[np.uint32],
    aoff: npt.NDArray[np.int64],
    bcp: npt.NDArray[np.uint32],
    boff: npt.NDArray[np.int64],
    ta: npt.NDArray[np.uint32],
    ta_len: npt.NDArray[np.int64],
    ta_sig: npt.NDArray[np.uint64],
    tb: npt.NDArray[np.uint32],
    tb_len: npt.NDArray[np.int64],
    tb_sig: npt.NDArray[np.uint64],
    lc: npt.NDArray[np.int64],
    rc: npt.NDArray[np.int64],
    sim: int,
    thresholds: npt.NDArray[np.float64],
    want_levels: bool,
    out_sim: npt.NDArray[np.float64],
    out_lev: npt.NDArray[np.int8],
    max_len: int,
    n_chunks: int,
) -> None:
    """:func:`_pairs_chunk` over ``n_chunks`` contiguous runs of pairs, spread over threads."""
    n = lc.size
    per_chunk = (n + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        _pairs_chunk(acp, aoff, bcp, boff, ta, ta_len, ta_sig, tb, tb_len, tb_sig, lc, rc, sim,
                     thresholds, want_levels, out_sim, out_lev, max_len, c * per_chunk,
                     min(n, (c + 1) * per_chunk))


# --------------------------------------------------------------------------------------------
# Public entry points


def _check(
    left: EncodedStrings,
    right: EncodedStrings,
    left_codes: npt.NDArray[np.int64],
    right_codes: npt.NDArray[np.int64],
    similarity: str,
    lowest: int,
) -> tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    if similarity not in SIMILARITIES:
        msg = (
            f"The 'similarity' argument is unknown: {similarity!r}. "
            f"Hint: use one of {', '.join(SIMILARITIES)}."
        )
        raise ConfigError(msg)
    for name, enc in (("left", left), ("right", right)):
        if not isinstance(enc, EncodedStrings):
            msg = (
                f"The '{name}' argument must be EncodedStrings, not {type(enc).__name__}. "
                "Hint: build it with encode_strings(series)."
            )
            raise InputError(msg)
    lc = np.ascontiguousarray(left_codes, dtype=np.int64).reshape(-1)
    rc = np.ascontiguousarray(right_codes, dtype=np.int64).reshape(-1)
    if lc.size != rc.size:
        msg = (
            f"The 'left_codes' ({lc.size}) and 'right_codes' ({rc.size}) arguments must have "
            "the same length. Hint: pass one code per candidate pair on each side."
        )
        raise InputError(msg)
    for name, codes, enc in (("left_codes", lc, left), ("right_codes", rc, right)):
        if codes.size and (int(codes.min()) < lowest or int(codes.max()) >= len(enc)):
            allowed = "-1 (null) or " if lowest < 0 else ""
            msg = (
                f"The '{name}' argument holds codes outside {allowed}0 .. {len(enc) - 1}. "
                "Hint: codes index the encoded strings of that side."
            )
            raise InputError(msg)
    return SIMILARITIES.index(similarity), lc, rc


#: Placeholder token text for similarities that do not compare tokens (never read).
_NO_TOKENS: _TokenText = (np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.int64),
                          np.zeros(0, dtype=np.uint64))


def _run(
    left: EncodedStrings,
    right: EncodedStrings,
    lc: npt.NDArray[np.int64],
    rc: npt.NDArray[np.int64],
    sim: int,
    thresholds: npt.NDArray[np.float64],
    want_levels: bool,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    n = lc.size
    out_sim = np.zeros(0 if want_levels else n, dtype=np.float64)
    out_lev = np.zeros(n if want_levels else 0, dtype=np.int8)
    if n == 0:
        return out_sim, out_lev
    if sim in _TOKENISED:
        a_tok = _tokens(left, dedupe=sim != _TOKEN_SORT)
        b_tok = _tokens(right, dedupe=sim != _TOKEN_SORT)
    else:  # not read by the kernel
        a_tok = b_tok = _NO_TOKENS
    max_len = max(left.max_length, right.max_length)
    # Chunks go to threads one at a time (dynamic scheduling); the setting is per calling
    # thread and restored afterwards.
    previous = numba.set_parallel_chunksize(1)
    try:
        _pairs_kernel(
            left.codepoints, left.offsets, right.codepoints, right.offsets,
            *a_tok, *b_tok, lc, rc, sim, thresholds, want_levels, out_sim, out_lev,
            max_len, _n_chunks(n),
        )  # fmt: skip
    finally:
        numba.set_parallel_chunksize(previous)
    return out_sim, out_lev


def pair_similarities(
    left: EncodedStrings,
    right: EncodedStrings,
    left_codes: npt.NDArray[np.int64],
    right_codes: npt.NDArray[np.int64],
    similarity: str,
) -> npt.NDArray[np.float64]:
    """Similarity in [0, 1] of ``(left[left_codes[i]], right[right_codes[i]])`` for every i.

    Parameters
    ----------
    left, right
        Encoded strings (:func:`encode_strings`).
    left_codes, right_codes
        Aligned integer arrays of string indices, one per pair, all ``>= 0``.
    similarity
        One of :data:`SIMILARITIES` (see the module docstring); the values equal rapidfuzz's.

    Raises
    ------
    ConfigError
        Unknown ``similarity``.
    InputError
        Codes of different lengths or out of range.

    >>> import numpy as np, polars as pl
    >>> enc = encode_strings(pl.Series(["martha", "marhta", "12-a", "12"]))
    >>> pair_similarities(enc, enc, np.array([0, 2]), np.array([1, 3]),
    ...                   "jaro_winkler").round(4).tolist()
    [0.9611, 0.8667]
    >>> pair_similarities(enc, enc, np.array([2]), np.array([3]), "house_number").tolist()
    [0.9]
    """
    sim, lc, rc = _check(left, right, left_codes, right_codes, similarity, 0)
    return _run(left, right, lc, rc, sim, np.zeros(0, dtype=np.float64), False)[0]


def pair_levels(
    left: EncodedStrings,
    right: EncodedStrings,
    left_codes: npt.NDArray[np.int64],
    right_codes: npt.NDArray[np.int64],
    similarity: str,
    thresholds: tuple[float, ...],
) -> npt.NDArray[np.int8]:
    """Comparison level of every pair, coded as in :mod:`kvklink.linkage._compare`.

    ``0`` if either code is ``-1`` (null); ``len(thresholds) + 2`` if the two strings are
    equal; else ``1 +`` the number of thresholds ``t`` with similarity ``>= t`` (so
    ``"exact"``, which has no thresholds, gives 1 when the strings differ). The similarity is
    only computed for pairs of different strings.

    >>> import numpy as np, polars as pl
    >>> enc = encode_strings(pl.Series(["jansen", "janssen", "pietersen"]))
    >>> pair_levels(enc, enc, np.array([0, 0, 0, -1]), np.array([0, 1, 2, 0]),
    ...             "jaro_winkler", (0.8, 0.92)).tolist()
    [4, 3, 1, 0]
    """
    sim, lc, rc = _check(left, right, left_codes, right_codes, similarity, -1)
    ts = np.asarray(sorted(float(t) for t in thresholds), dtype=np.float64)
    if similarity == "exact" and ts.size:
        msg = (
            f"The 'thresholds' argument must be empty for the 'exact' similarity, got "
            f"{ts.size} threshold(s). Hint: pass ()."
        )
        raise ConfigError(msg)
    return _run(left, right, lc, rc, sim, ts, True)[1]


def pair_levels_in_range(
    left: EncodedStrings,
    right: EncodedStrings,
    left_codes: npt.NDArray[np.int64],
    right_codes: npt.NDArray[np.int64],
    similarity: Similarity,
    thresholds: tuple[float, ...],
) -> npt.NDArray[np.int8]:
    """:func:`pair_levels` for codes already known to lie in ``-1 .. len(side) - 1``.

    For callers that checked the code range once for many calls (the recovery's code
    matrices are checked when they are built and then only gathered from): the per-call
    scans of :func:`pair_levels` are skipped. Codes must be contiguous int64 arrays.
    """
    ts = np.asarray(sorted(float(t) for t in thresholds), dtype=np.float64)
    return _run(left, right, left_codes, right_codes, SIMILARITIES.index(similarity), ts,
                True)[1]
