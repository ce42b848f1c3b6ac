"""A numba fast path for normalising KVK numbers given as text.

Most captured KVK numbers are an optional prefix (``KvK``, ``KvK-nr.``, ``KVK-nummer:``,
``kvk nr``) followed by digits broken up by spaces, dots or dashes. For such a value the reason
depends only on the number of digits, so one pass over its bytes settles it. The kernel does
that pass for every row in parallel over the Arrow buffers and flags every other value
(surrounding text, VAT ids, placeholders, non-ASCII, float text such as ``12345678.0``) as
*undecided*; those few rows go through the polars expression pipeline of
:mod:`kvklink._identifiers`, which is the reference. Both give identical results (tested).

Codes: ``0`` ok, ``2`` vestigingsnummer, ``3`` rsin_or_bsn, ``5`` malformed, ``6`` missing
(index into :data:`kvklink._identifiers.KVK_REASONS`), ``255`` undecided.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from kvklink.frames import large_string_array

__all__ = ["UNDECIDED", "classify_text"]

UNDECIDED = 255
_OK, _VEST, _RSIN, _MALFORMED, _MISSING = 0, 2, 3, 5, 6

# Bytes a prefix may consist of: the letters of "KvK", "nr", "nummer", and ":", "-", ".", " ".
_PREFIX = np.zeros(256, dtype=np.bool_)
for _c in b"KkVvNnRrUuMmEe:-. \t":
    _PREFIX[_c] = True
_SPACE = np.zeros(256, dtype=np.bool_)
for _c in b" \t\n\x0b\x0c\r":
    _SPACE[_c] = True


@numba.njit(parallel=True, cache=True)
def _classify_kernel(
    data: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    valid: npt.NDArray[np.bool_],
    prefix: npt.NDArray[np.bool_],
    space: npt.NDArray[np.bool_],
    codes: npt.NDArray[np.uint8],
    digits_out: npt.NDArray[np.uint8],
) -> None:
    n = offsets.size - 1
    for i in numba.prange(n):
        code = UNDECIDED
        if not valid[i]:
            code = _MISSING
        else:
            lo = offsets[i]
            hi = offsets[i + 1]
            while lo < hi and data[lo] < 128 and space[data[lo]]:
                lo += 1
            while hi > lo and data[hi - 1] < 128 and space[data[hi - 1]]:
                hi -= 1
            if hi == lo:
                code = UNDECIDED  # empty: the reference decides (missing)
            else:
                start = lo
                while lo < hi and data[lo] < 128 and prefix[data[lo]]:
                    lo += 1
                n_digits = 0
                has_dot = False
                ok = lo < hi
                j = lo
                while j < hi:
                    b = data[j]
                    if 48 <= b <= 57:
                        if n_digits < 8:
                            digits_out[8 * i + n_digits] = b
                        n_digits += 1
                    elif b == 46:
                        has_dot = True
                    elif not (b < 128 and space[b]) and b != 45:
                        ok = False
                        break
                    j += 1
                if ok and n_digits > 0:
                    # text such as 12345678.0 (no prefix, ends in a zero, has a dot) is a float
                    # rendered as text: leave it to the reference.
                    if has_dot and lo == start and data[hi - 1] == 48:
                        code = UNDECIDED
                    elif n_digits == 8:
                        code = _OK
                    elif n_digits == 9:
                        code = _RSIN
                    elif n_digits == 12:
                        code = _VEST
                    else:
                        code = _MALFORMED
        codes[i] = code



def classify_text(values: pl.Series) -> tuple[npt.NDArray[np.uint8], pl.Series]:
    """Return (codes, kvk) for a ``String`` series.

    ``codes`` holds a reason index per row or :data:`UNDECIDED`; ``kvk`` is the normalised
    8-digit string where the code is ``ok`` and null elsewhere.
    """
    n = values.len()
    arr = large_string_array(values)
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8)
        if buffers[2] is not None
        else np.zeros(0, dtype=np.uint8)
    )
    if arr.null_count:
        valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
    else:
        valid = np.ones(n, dtype=np.bool_)
    codes = np.empty(n, dtype=np.uint8)
    digits = np.full(8 * n, 48, dtype=np.uint8)
    if n:
        _classify_kernel(data, offsets, valid, _PREFIX, _SPACE, codes, digits)
    out_offsets = np.arange(0, 8 * (n + 1), 8, dtype=np.int64)
    kvk_arr = pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(out_offsets), pa.py_buffer(digits)]
    )
    kvk = pl.from_arrow(kvk_arr)
    assert isinstance(kvk, pl.Series)
    kvk = (
        kvk.to_frame("kvk")
        .select(pl.when(pl.Series(codes == _OK)).then(pl.col("kvk")).otherwise(None))
        .to_series()
    )
    return codes, kvk
