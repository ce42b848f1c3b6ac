"""Vectorised HMAC-SHA256 over a polars string column (the pseudonymisation kernel).

The one public entry point is :func:`hmac_sha256_hex`, which computes, for every value ``v``
of a polars ``Utf8`` series, ``HMAC-SHA256(key, prefix + v)`` as 64 lowercase hex characters.
This is exactly what Python's :func:`hmac.digest` (or OpenSSL) gives for the same bytes, so
any party can reproduce a pseudonym with a standard HMAC implementation.

Values are hashed as their UTF-8 bytes (the bytes polars stores); for the ASCII digits of a
KVK number this is the same as ASCII. Nulls stay null. The key never appears in a repr, an
exception message or a log line.

Examples
--------
>>> import hmac, polars as pl
>>> from kvklink._hmac_kernel import hmac_sha256_hex
>>> out = hmac_sha256_hex(b"k" * 32, b"kvk:", pl.Series(["12345678", "00000001"]))
>>> out.dtype
String
>>> out[0] == hmac.digest(b"k" * 32, b"kvk:12345678", "sha256").hex()
True
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Literal

import numba
import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from kvklink.errors import InputError, SchemaError

__all__ = ["hmac_sha256_hex"]

Engine = Literal["auto", "numba", "python"]

#: Below this many values ``engine="auto"`` uses the :func:`hmac.digest` path: it costs a few
#: milliseconds and never waits for the numba kernel to be compiled or loaded from its cache.
AUTO_NUMBA_MIN_VALUES = 4096

# SHA-256 round constants (FIPS 180-4 §4.2.2) and initial hash value (§5.3.3).
_K = np.array(
    [
        0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4,
        0xAB1C5ED5, 0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE,
        0x9BDC06A7, 0xC19BF174, 0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F,
        0x4A7484AA, 0x5CB0A9DC, 0x76F988DA, 0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7,
        0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967, 0x27B70A85, 0x2E1B2138, 0x4D2C6DFC,
        0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85, 0xA2BFE8A1, 0xA81A664B,
        0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070, 0x19A4C116,
        0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
        0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7,
        0xC67178F2,
    ],
    dtype=np.uint32,
)  # fmt: skip
_H0 = np.array(
    [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB,
     0x5BE0CD19],
    dtype=np.uint32,
)
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).copy()

# The kernels keep 32-bit words in uint32 arrays and wrap every sum back to uint32 with
# ``_U(...)``: numba widens scalar arithmetic to 64 bits, and the explicit truncation lets LLVM
# narrow it again (native 32-bit adds and rotates; about twice as fast as masking int64).
_U = np.uint32


@numba.njit(cache=True, inline="always")
def _rotr(x: np.uint32, n: np.uint32) -> np.uint32:
    return _U((x >> n) | (x << (_U(32) - n)))


@numba.njit(cache=True, inline="always")
def _compress(
    state: npt.NDArray[np.uint32], w: npt.NDArray[np.uint32], k: npt.NDArray[np.uint32]
) -> None:
    """SHA-256 compression of one block. ``w[:16]`` holds the block's words; ``state`` updates."""
    for t in range(16, 64):
        x = w[t - 15]
        y = w[t - 2]
        s0 = _rotr(x, _U(7)) ^ _rotr(x, _U(18)) ^ (x >> _U(3))
        s1 = _rotr(y, _U(17)) ^ _rotr(y, _U(19)) ^ (y >> _U(10))
        w[t] = _U(w[t - 16] + s0 + w[t - 7] + s1)
    a = state[0]
    b = state[1]
    c = state[2]
    d = state[3]
    e = state[4]
    f = state[5]
    g = state[6]
    h = state[7]
    for t in range(64):
        s1 = _rotr(e, _U(6)) ^ _rotr(e, _U(11)) ^ _rotr(e, _U(25))
        ch = (e & f) ^ (~e & g)
        t1 = _U(h + s1 + ch + k[t] + w[t])
        s0 = _rotr(a, _U(2)) ^ _rotr(a, _U(13)) ^ _rotr(a, _U(22))
        maj = (a & b) ^ (a & c) ^ (b & c)
        t2 = _U(s0 + maj)
        h = g
        g = f
        f = e
        e = _U(d + t1)
        d = c
        c = b
        b = a
        a = _U(t1 + t2)
    state[0] = _U(state[0] + a)
    state[1] = _U(state[1] + b)
    state[2] = _U(state[2] + c)
    state[3] = _U(state[3] + d)
    state[4] = _U(state[4] + e)
    state[5] = _U(state[5] + f)
    state[6] = _U(state[6] + g)
    state[7] = _U(state[7] + h)


@numba.njit(cache=True)
def _padded_key_states(
    key_block: npt.NDArray[np.uint8], h0: npt.NDArray[np.uint32], k: npt.NDArray[np.uint32]
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """SHA-256 states after absorbing ``key ^ ipad`` and ``key ^ opad`` (one block each)."""
    w = np.empty(64, np.uint32)
    inner = h0.copy()
    outer = h0.copy()
    for pad, state in ((0x36, inner), (0x5C, outer)):
        for t in range(16):
            word = 0
            for j in range(4):
                word = (word << 8) | (int(key_block[4 * t + j]) ^ pad)
            w[t] = word
        _compress(state, w, k)
    return inner, outer


@numba.njit(parallel=True, cache=True)
def _hmac_hex_kernel(
    data: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    prefix: npt.NDArray[np.uint8],
    inner: npt.NDArray[np.uint32],
    outer: npt.NDArray[np.uint32],
    k: npt.NDArray[np.uint32],
    hex_digits: npt.NDArray[np.uint8],
    out: npt.NDArray[np.uint8],
    n_chunks: int,
) -> None:
    """Write the 64 hex characters of HMAC(prefix + value i) to ``out[64 i : 64 i + 64]``.

    Value ``i`` is ``data[offsets[i]:offsets[i + 1]]``. The inner hash continues from the
    precomputed ``inner`` state (key block already absorbed) over as many blocks as the padded
    message needs; the outer hash is one block from ``outer``.
    """
    n = offsets.size - 1
    plen = prefix.size
    chunk = (n + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        w = np.empty(64, np.uint32)
        state = np.empty(8, np.uint32)
        lo = c * chunk
        hi = min(n, lo + chunk)
        for i in range(lo, hi):
            start = offsets[i]
            mlen = plen + (offsets[i + 1] - start)
            n_blocks = (mlen + 9 + 63) // 64
            for j in range(8):
                state[j] = inner[j]
            for blk in range(n_blocks):
                base = blk * 64
                for t in range(16):
                    word = 0
                    for j in range(base + 4 * t, base + 4 * t + 4):
                        if j < plen:
                            byte = int(prefix[j])
                        elif j < mlen:
                            byte = int(data[start + j - plen])
                        elif j == mlen:
                            byte = 0x80
                        else:
                            byte = 0
                        word = (word << 8) | byte
                    w[t] = word
                if blk == n_blocks - 1:
                    bits = (64 + mlen) * 8  # the key block counts towards the length
                    w[14] = bits >> 32
                    w[15] = bits & 0xFFFFFFFF
                _compress(state, w, k)
            for j in range(8):
                w[j] = state[j]
                state[j] = outer[j]
            w[8] = 0x80000000
            for j in range(9, 15):
                w[j] = 0
            w[15] = (64 + 32) * 8
            _compress(state, w, k)
            o = 64 * i
            for j in range(8):
                word = int(state[j])
                for q in range(8):
                    out[o + 8 * j + q] = hex_digits[(word >> (28 - 4 * q)) & 0xF]


def _check_arguments(key: object, prefix: object, values: object) -> None:
    if not isinstance(key, bytes | bytearray | memoryview):
        msg = (
            f"The 'key' argument must be bytes, not {type(key).__name__}. "
            "Hint: pass PurposeKey material as bytes."
        )
        raise InputError(msg)
    if not isinstance(prefix, bytes | bytearray | memoryview):
        msg = (
            f"The 'prefix' argument must be bytes, not {type(prefix).__name__}. "
            'Hint: use e.g. b"kvk:".'
        )
        raise InputError(msg)
    if not isinstance(values, pl.Series):
        msg = (
            f"The 'values' argument must be a polars Series, not {type(values).__name__}. "
            "Hint: convert with pl.Series(...) or pl.from_pandas(...)."
        )
        raise SchemaError(msg)
    if values.dtype != pl.String:
        msg = (
            f"The 'values' series must have dtype String (Utf8), not {values.dtype}. "
            "Hint: normalise identifiers to strings first (e.g. with kvklink.normalise_kvk)."
        )
        raise SchemaError(msg)


def _hmac_python(key: bytes, prefix: bytes, values: pl.Series) -> pl.Series:
    """Reference path: :func:`hmac.digest` per value (used for small inputs and as a check)."""
    out = [
        None if v is None else hmac.digest(key, prefix + v.encode("utf-8"), "sha256").hex()
        for v in values.to_list()
    ]
    return pl.Series(values.name, out, dtype=pl.String)


def _key_block(key: bytes) -> npt.NDArray[np.uint8]:
    if len(key) > 64:  # RFC 2104: keys longer than the block size are hashed first
        key = hashlib.sha256(key).digest()
    block = np.zeros(64, dtype=np.uint8)
    block[: len(key)] = np.frombuffer(key, dtype=np.uint8)
    return block


def _as_large_string(values: pl.Series) -> Any:
    arr = values.to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.large_string():
        arr = pc.cast(arr, pa.large_string())
    return arr


def _hmac_numba(key: bytes, prefix: bytes, values: pl.Series) -> pl.Series:
    """Fast path: the numba kernel over the Arrow buffers of ``values`` (no loop in Python)."""
    n = values.len()
    arr = _as_large_string(values)
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8)
        if data_buf is not None
        else np.zeros(0, dtype=np.uint8)
    )
    inner, outer = _padded_key_states(_key_block(key), _H0, _K)
    out = np.empty(64 * n, dtype=np.uint8)
    if n:
        n_chunks = min(n, 16 * numba.get_num_threads())
        _hmac_hex_kernel(
            data,
            offsets,
            np.frombuffer(prefix, dtype=np.uint8),
            inner,
            outer,
            _K,
            _HEX_DIGITS,
            out,
            n_chunks,
        )
    out_offsets = np.arange(0, 64 * (n + 1), 64, dtype=np.int64)
    result = pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(out_offsets), pa.py_buffer(out)]
    )
    if arr.null_count:
        result = pc.if_else(arr.is_valid(), result, pa.scalar(None, pa.large_string()))
    series = pl.from_arrow(result)
    assert isinstance(series, pl.Series)
    return series.rename(values.name)


def hmac_sha256_hex(
    key: bytes, prefix: bytes, values: pl.Series, *, engine: Engine = "auto"
) -> pl.Series:
    """Return ``HMAC-SHA256(key, prefix + value)`` as lowercase hex for every value.

    Parameters
    ----------
    key
        The HMAC key (for pseudonyms: the 32-byte purpose key). Never echoed anywhere.
    prefix
        Bytes put in front of every value, e.g. ``b"kvk:"`` or ``b"vest:"``.
    values
        A polars ``Utf8`` series. Each value is hashed as its UTF-8 bytes. Nulls stay null.
    engine
        ``"auto"`` (default) uses the numba kernel for :data:`AUTO_NUMBA_MIN_VALUES` values
        or more and :func:`hmac.digest` below that; ``"numba"`` and ``"python"`` force a path.
        Both give identical results.

    Returns
    -------
    pl.Series
        ``Utf8`` series with the same name and length as ``values``: 64 lowercase hex
        characters per non-null value.

    Raises
    ------
    InputError
        ``key`` or ``prefix`` is not bytes.
    SchemaError
        ``values`` is not a polars ``Utf8`` series.

    Examples
    --------
    >>> import polars as pl
    >>> out = hmac_sha256_hex(b"secret-key", b"kvk:", pl.Series("id", ["12345678", None]))
    >>> out.name, out.len(), out.null_count(), len(out[0])
    ('id', 2, 1, 64)
    """
    _check_arguments(key, prefix, values)
    key_b = bytes(key)
    prefix_b = bytes(prefix)
    if engine == "python" or (engine == "auto" and values.len() < AUTO_NUMBA_MIN_VALUES):
        return _hmac_python(key_b, prefix_b, values)
    return _hmac_numba(key_b, prefix_b, values)
