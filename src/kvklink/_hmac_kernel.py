"""Vectorised HMAC-SHA256 over a polars string column (the pseudonymisation kernel).

The one public entry point is :func:`hmac_sha256_hex`, which computes, for every value ``v``
of a polars ``Utf8`` series, ``HMAC-SHA256(key, prefix + v)`` as 64 lowercase hex characters.
This is exactly what Python's :func:`hmac.digest` (or OpenSSL) gives for the same bytes, so
any party can reproduce a pseudonym with a standard HMAC implementation.

Values are hashed as their UTF-8 bytes (the bytes polars stores); for the ASCII digits of a
KVK number this is the same as ASCII. Nulls stay null. The key never appears in a repr, an
exception message or a log line: it is turned into two SHA-256 midstates right away and only
those (numpy arrays local to the call; as secret as the key itself) reach the kernel.

How the fast path works
-----------------------
* HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)). The states after the two 64-byte key
  blocks are computed once per call, so an HMAC of a short message costs two SHA-256
  compressions: the inner one over ``prefix + value`` plus padding, the outer one over the
  32-byte inner digest plus padding.
* The values' bytes are read straight from the Arrow buffers of the series (data + int64
  offsets, no copy and no Python loop per value). Messages of at most 55 bytes (a KVK number
  with ``b"kvk:"`` is 12, a vestigingsnummer with ``b"vest:"`` 17) fit one block. Values are
  hashed 16 at a time, one per SIMD lane; a group holding a longer message runs as many
  inner compressions as that message needs, the other lanes keeping their state.
* The digest is hex-encoded inside the kernel (8 characters per 32-bit word with SWAR
  arithmetic) into one ``uint8`` buffer that becomes the data buffer of an Arrow string array
  with fixed offsets (``64 * i``), handed to polars without a per-row loop.
* ``numba.njit(parallel=True, cache=True)``: ``prange`` over contiguous runs of values, handed
  to threads dynamically. The thread count is numba's: ``NUMBA_NUM_THREADS`` if set, else all
  cores (both, on the 2-core reference machine), or :func:`numba.set_num_threads`.

Cost
----
The first call in a fresh environment compiles the kernel: about 6 s of CPU on the 2-core
reference machine (more wall time when the machine is busy). The result is cached on disk
(``__pycache__`` next to this file, or ``NUMBA_CACHE_DIR``), so later processes only load
it: about 0.2–0.9 s on the first call.
``engine="auto"`` uses plain :func:`hmac.digest` below :data:`AUTO_NUMBA_MIN_VALUES`
values, so small inputs never wait for the kernel. Measured throughput and the comparison
with a bare ``hmac.digest`` loop are in ``benchmarks/README.md``.

Do not call the numba path concurrently from several Python threads unless numba's threading
layer is thread-safe (``omp`` or ``tbb``; the ``workqueue`` fallback is not).

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
from typing import Literal

import numba
import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from kvklink.errors import InputError, SchemaError
from kvklink.frames import large_string_array

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

# The kernels keep 32-bit words in uint32 arrays and wrap every sum back to uint32 with
# ``_U(...)``: numba widens scalar arithmetic to 64 bits, and the explicit truncation lets LLVM
# narrow it again (native 32-bit adds and rotates; about twice as fast as masking int64).
_U = np.uint32


@numba.njit(cache=True, inline="always")
def _rotr(x: np.uint32, n: np.uint32) -> np.uint32:
    return _U((x >> n) | (x << (_U(32) - n)))


#: Messages are hashed this many at a time, one per SIMD lane: every lane runs the same SHA-256
#: round on its own message, and LLVM turns each round's loop over the lanes into vector
#: instructions (16 x 32-bit = one AVX-512 register, two AVX2 registers).
_LANES = 16
#: Longest message (prefix + value, in bytes) whose padded form fits one 64-byte block.
_ONE_BLOCK = 55


@numba.njit(cache=True, inline="always")
def _round_lanes(
    v: npt.NDArray[np.uint32],
    a: int,
    b: int,
    c: int,
    d: int,
    e: int,
    f: int,
    g: int,
    h: int,
    w: npt.NDArray[np.uint32],
    t: int,
    kt: np.uint32,
) -> None:
    """One SHA-256 round in every lane; ``a..h`` name the rows of ``v`` holding each variable.

    Renaming rows instead of moving values means a round writes only rows ``d`` and ``h``.
    """
    for lane in range(_LANES):
        ee = v[e * _LANES + lane]
        aa = v[a * _LANES + lane]
        bb = v[b * _LANES + lane]
        cc = v[c * _LANES + lane]
        s1 = _rotr(ee, _U(6)) ^ _rotr(ee, _U(11)) ^ _rotr(ee, _U(25))
        ch = (ee & v[f * _LANES + lane]) ^ (~ee & v[g * _LANES + lane])
        t1 = _U(v[h * _LANES + lane] + s1 + ch + kt + w[t * _LANES + lane])
        s0 = _rotr(aa, _U(2)) ^ _rotr(aa, _U(13)) ^ _rotr(aa, _U(22))
        maj = (aa & bb) ^ (aa & cc) ^ (bb & cc)
        v[d * _LANES + lane] = _U(v[d * _LANES + lane] + t1)
        v[h * _LANES + lane] = _U(t1 + s0 + maj)


@numba.njit(cache=True)
def _compress_lanes(
    state: npt.NDArray[np.uint32],
    v: npt.NDArray[np.uint32],
    w: npt.NDArray[np.uint32],
    k: npt.NDArray[np.uint32],
) -> None:
    """SHA-256 compression of one block per lane (lane-minor layout: ``x[row * _LANES + lane]``).

    ``w`` holds the blocks' 16 words in its first rows (64 rows in all); ``state`` has 8 rows
    and is updated; ``v`` (8 rows) is scratch.
    """
    for t in range(16, 64):
        for lane in range(_LANES):
            x = w[(t - 15) * _LANES + lane]
            y = w[(t - 2) * _LANES + lane]
            s0 = _rotr(x, _U(7)) ^ _rotr(x, _U(18)) ^ (x >> _U(3))
            s1 = _rotr(y, _U(17)) ^ _rotr(y, _U(19)) ^ (y >> _U(10))
            w[t * _LANES + lane] = _U(
                w[(t - 16) * _LANES + lane] + s0 + w[(t - 7) * _LANES + lane] + s1
            )
    for i in range(8 * _LANES):
        v[i] = state[i]
    for t in range(0, 64, 8):
        _round_lanes(v, 0, 1, 2, 3, 4, 5, 6, 7, w, t, k[t])
        _round_lanes(v, 7, 0, 1, 2, 3, 4, 5, 6, w, t + 1, k[t + 1])
        _round_lanes(v, 6, 7, 0, 1, 2, 3, 4, 5, w, t + 2, k[t + 2])
        _round_lanes(v, 5, 6, 7, 0, 1, 2, 3, 4, w, t + 3, k[t + 3])
        _round_lanes(v, 4, 5, 6, 7, 0, 1, 2, 3, w, t + 4, k[t + 4])
        _round_lanes(v, 3, 4, 5, 6, 7, 0, 1, 2, w, t + 5, k[t + 5])
        _round_lanes(v, 2, 3, 4, 5, 6, 7, 0, 1, w, t + 6, k[t + 6])
        _round_lanes(v, 1, 2, 3, 4, 5, 6, 7, 0, w, t + 7, k[t + 7])
    for i in range(8 * _LANES):
        state[i] = _U(state[i] + v[i])


@numba.njit(cache=True, inline="always")
def _hex_word(word: np.uint32) -> np.uint64:
    """The 8 lowercase hex characters of ``word`` as one little-endian uint64 (SWAR).

    Nibbles are spread into bytes, most significant nibble in the lowest byte (it is written
    first), then ``0..9 -> '0'..'9'`` and ``10..15 -> 'a'..'f'`` per byte without branches.
    """
    x = np.uint64(word)
    x = (x >> np.uint64(16)) | ((x & np.uint64(0xFFFF)) << np.uint64(32))
    m8 = np.uint64(0x000000FF000000FF)
    x = ((x >> np.uint64(8)) & m8) | ((x & m8) << np.uint64(16))
    m4 = np.uint64(0x000F000F000F000F)
    x = ((x >> np.uint64(4)) & m4) | ((x & m4) << np.uint64(8))
    letters = ((x + np.uint64(0x0606060606060606)) >> np.uint64(4)) & np.uint64(
        0x0101010101010101
    )
    return x + np.uint64(0x3030303030303030) + letters * np.uint64(0x27)


@numba.njit(cache=True)
def _hmac_group(
    data: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    prefix: npt.NDArray[np.uint8],
    tmpl: npt.NDArray[np.uint32],
    inner: npt.NDArray[np.uint32],
    outer: npt.NDArray[np.uint32],
    k: npt.NDArray[np.uint32],
    out64: npt.NDArray[np.uint64],
    lo: int,
    count: int,
    w: npt.NDArray[np.uint32],
    v: npt.NDArray[np.uint32],
    state: npt.NDArray[np.uint32],
    saved: npt.NDArray[np.uint32],
    hexed: npt.NDArray[np.uint64],
    lane_info: npt.NDArray[np.int64],
) -> None:
    """HMAC of values ``lo .. lo + count - 1`` (``count <= _LANES``) into ``out64``.

    One value per SIMD lane; arrays are lane-minor (``x[row * _LANES + lane]``). The inner hash
    runs as many lane-parallel compressions as the group's longest padded message needs (one
    for every KVK number or vestigingsnummer); a lane whose message has ended keeps its state.
    The outer hash is one more compression.
    """
    plen = prefix.size
    max_blocks = 1
    for lane in range(count):
        start = offsets[lo + lane]
        mlen = plen + (offsets[lo + lane + 1] - start)
        n_blocks = (mlen + 9 + 63) // 64
        lane_info[lane] = start
        lane_info[_LANES + lane] = mlen
        lane_info[2 * _LANES + lane] = n_blocks
        max_blocks = max(max_blocks, n_blocks)
    for j in range(8):
        for lane in range(_LANES):
            state[j * _LANES + lane] = inner[j]
    for blk in range(max_blocks):
        for lane in range(_LANES):
            if lane >= count or blk >= lane_info[2 * _LANES + lane]:
                for t in range(16):  # a lane without a (further) block: state restored below
                    w[t * _LANES + lane] = 0
                continue
            start = lane_info[lane]
            mlen = lane_info[_LANES + lane]
            if mlen <= _ONE_BLOCK:  # template (prefix, end marker, length) + value bytes
                row = mlen * 16
                for t in range(16):
                    w[t * _LANES + lane] = tmpl[row + t]
                for j in range(plen, mlen):
                    w[(j >> 2) * _LANES + lane] |= _U(data[start + j - plen]) << _U(
                        24 - 8 * (j & 3)
                    )
                continue
            base = blk * 64  # general path: byte by byte
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
                w[t * _LANES + lane] = word
            if blk == lane_info[2 * _LANES + lane] - 1:
                bits = (64 + mlen) * 8  # the key block counts towards the length
                w[14 * _LANES + lane] = bits >> 32
                w[15 * _LANES + lane] = bits & 0xFFFFFFFF
        if blk > 0:
            for i in range(8 * _LANES):
                saved[i] = state[i]
        _compress_lanes(state, v, w, k)
        if blk > 0:
            for lane in range(count):
                if blk >= lane_info[2 * _LANES + lane]:
                    for j in range(8):
                        state[j * _LANES + lane] = saved[j * _LANES + lane]
    for j in range(8):
        for lane in range(_LANES):
            w[j * _LANES + lane] = state[j * _LANES + lane]
            state[j * _LANES + lane] = outer[j]
    for lane in range(_LANES):
        w[8 * _LANES + lane] = 0x80000000
        w[15 * _LANES + lane] = (64 + 32) * 8
    for i in range(9 * _LANES, 15 * _LANES):
        w[i] = 0
    _compress_lanes(state, v, w, k)
    for i in range(8 * _LANES):
        hexed[i] = _hex_word(state[i])
    for lane in range(count):
        for j in range(8):
            out64[8 * (lo + lane) + j] = hexed[j * _LANES + lane]


@numba.njit(parallel=True, cache=True)
def _hmac_hex_kernel(
    data: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    prefix: npt.NDArray[np.uint8],
    tmpl: npt.NDArray[np.uint32],
    inner: npt.NDArray[np.uint32],
    outer: npt.NDArray[np.uint32],
    k: npt.NDArray[np.uint32],
    out64: npt.NDArray[np.uint64],
    n_chunks: int,
) -> None:
    """Write the 64 hex characters of HMAC(prefix + value i) to ``out64[8 i : 8 i + 8]``.

    Value ``i`` is ``data[offsets[i]:offsets[i + 1]]``; ``out64`` is the output characters
    viewed as uint64. Values go ``_LANES`` at a time through :func:`_hmac_group`; ``n_chunks``
    contiguous runs of groups are spread over numba's threads.
    """
    n = offsets.size - 1
    n_groups = (n + _LANES - 1) // _LANES
    per_chunk = (n_groups + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        w = np.empty(64 * _LANES, np.uint32)
        v = np.empty(8 * _LANES, np.uint32)
        state = np.empty(8 * _LANES, np.uint32)
        saved = np.empty(8 * _LANES, np.uint32)
        hexed = np.empty(8 * _LANES, np.uint64)
        lane_info = np.empty(3 * _LANES, np.int64)
        for grp in range(c * per_chunk, min(n_groups, (c + 1) * per_chunk)):
            lo = grp * _LANES
            _hmac_group(
                data, offsets, prefix, tmpl, inner, outer, k, out64, lo,
                min(_LANES, n - lo), w, v, state, saved, hexed, lane_info,
            )


def _block_templates(prefix: bytes) -> npt.NDArray[np.uint32]:
    """Padded one-block message words for every message length, value bytes left zero.

    Row ``m`` (16 words) holds the prefix, the ``0x80`` end marker at byte ``m`` and the bit
    length of key block + message; the value's bytes are OR-ed in by the kernel. Rows for
    lengths shorter than the prefix are never used.
    """
    blocks = np.zeros((_ONE_BLOCK + 1, 64), dtype=np.uint8)
    plen = len(prefix)
    if 0 < plen <= _ONE_BLOCK:  # with a longer prefix no message fits one block
        blocks[:, :plen] = np.frombuffer(prefix, dtype=np.uint8)
    lengths = np.arange(_ONE_BLOCK + 1)
    blocks[lengths, lengths] = 0x80  # for m < plen this clobbers the prefix: row unused
    words = blocks.view(">u4").astype(np.uint32)
    words[:, 15] = (64 + lengths) * 8  # the key block counts towards the length
    return np.ascontiguousarray(words).reshape(-1)


def _padded_key_states(key: bytes) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """SHA-256 states after absorbing ``key ^ ipad`` and ``key ^ opad`` (lanes 0 and 1)."""
    if len(key) > 64:  # RFC 2104: keys longer than the block size are hashed first
        key = hashlib.sha256(key).digest()
    block = np.zeros(64, dtype=np.uint8)
    block[: len(key)] = np.frombuffer(key, dtype=np.uint8)
    w = np.zeros((64, _LANES), dtype=np.uint32)
    w[:16, 0] = (block ^ 0x36).view(">u4")
    w[:16, 1] = (block ^ 0x5C).view(">u4")
    state = np.repeat(_H0[:, None], _LANES, axis=1)
    flat_state = np.ascontiguousarray(state).reshape(-1)
    _compress_lanes(flat_state, np.empty(8 * _LANES, np.uint32), w.reshape(-1), _K)
    state = flat_state.reshape(8, _LANES)
    inner, outer = state[:, 0].copy(), state[:, 1].copy()
    block[:] = 0
    w[:] = 0
    return inner, outer


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
    if values.dtype not in (pl.String, pl.Null):
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



def _hmac_numba(key: bytes, prefix: bytes, values: pl.Series) -> pl.Series:
    """Fast path: the numba kernel over the Arrow buffers of ``values`` (no loop in Python)."""
    n = values.len()
    arr = large_string_array(values)
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8)
        if data_buf is not None
        else np.zeros(0, dtype=np.uint8)
    )
    inner, outer = _padded_key_states(key)
    out = np.empty(64 * n, dtype=np.uint8)
    if n:
        n_chunks = min(n, 16 * numba.get_num_threads())
        # Hand the chunks to threads one at a time (dynamic scheduling): a thread slowed down
        # by another process on its core does not hold the others up. The setting is per
        # calling thread and is restored afterwards.
        previous_chunksize = numba.set_parallel_chunksize(1)
        try:
            _hmac_hex_kernel(
                data,
                offsets,
                np.frombuffer(prefix, dtype=np.uint8),
                _block_templates(prefix),
                inner,
                outer,
                _K,
                out.view(np.uint64),
                n_chunks,
            )
        finally:
            numba.set_parallel_chunksize(previous_chunksize)
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
    if engine not in ("auto", "numba", "python"):
        msg = (
            f"The 'engine' argument must be 'auto', 'numba' or 'python', not {engine!r}. "
            "Hint: leave it at 'auto'."
        )
        raise InputError(msg)
    key_b = bytes(key)
    prefix_b = bytes(prefix)
    if values.dtype == pl.Null:  # an all-null column without a declared dtype
        values = values.cast(pl.String)
    if engine == "python" or (engine == "auto" and values.len() < AUTO_NUMBA_MIN_VALUES):
        return _hmac_python(key_b, prefix_b, values)
    return _hmac_numba(key_b, prefix_b, values)
