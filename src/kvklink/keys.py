"""Master keys, purpose keys and key ids (privacy model, scheme v1).

* :class:`LinkageKey` is the 32-byte master key, held by the key custodian. Load it with
  :meth:`LinkageKey.from_env` (``KVKLINK_KEY``), :meth:`LinkageKey.from_file` or
  :meth:`LinkageKey.from_hex`; create one with :meth:`LinkageKey.generate` or
  ``kvklink keygen PATH``.
* :meth:`LinkageKey.for_purpose` derives a :class:`PurposeKey` with HKDF-SHA256
  (``info = b"kvklink/v1/purpose/" + label``). Pseudonyms for different purposes are unlinkable.
* A purpose key's :attr:`PurposeKey.key_id` is ``HMAC-SHA256(K_p, b"kvklink/v1/key-id")[:8]``
  in hex; it travels with every pseudonymised output.
* :meth:`PurposeKey.pseudonymise_kvk` computes ``HMAC-SHA256(K_p, b"kvk:" + kvk8)`` as 64
  lowercase hex characters, over the unique values only.

Key bytes never appear in a ``repr``, ``str``, exception message or log line, and keys refuse
to be pickled or copied into a ``__dict__``.

Examples
--------
>>> import polars as pl
>>> master = LinkageKey.from_hex("00" * 32)
>>> repr(master).startswith("LinkageKey(key_id=")
True
>>> pk = master.for_purpose("evaluatie-2024")
>>> pk.purpose, pk.scheme_version, len(pk.key_id)
('evaluatie-2024', 'v1', 16)
>>> pk.pseudonymise_kvk(pl.Series(["12345678", None])).str.len_chars().to_list()
[64, None]
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd
import polars as pl
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kvklink._hmac_kernel import hmac_sha256_hex
from kvklink.errors import InputError, KeyFilePermissionError, KeyMaterialError, SchemaError

__all__ = [
    "KEY_BYTES",
    "KEY_ENV_VAR",
    "SCHEME_VERSION",
    "LinkageKey",
    "PurposeKey",
]

logger = logging.getLogger(__name__)

#: The scheme version label stored with every pseudonymised output.
SCHEME_VERSION = "v1"
#: Master and purpose keys are exactly this many bytes (64 hex characters).
KEY_BYTES = 32
#: The environment variable :meth:`LinkageKey.from_env` reads by default.
KEY_ENV_VAR = "KVKLINK_KEY"

_PURPOSE_INFO = b"kvklink/v1/purpose/"
_KEY_ID_MESSAGE = b"kvklink/v1/key-id"
_MASTER_ID_MESSAGE = b"kvklink/v1/master-key-id"
_KVK_PREFIX = b"kvk:"
_VEST_PREFIX = b"vest:"
_HEX = frozenset("0123456789abcdefABCDEF")
_MAX_PURPOSE_CHARS = 100


def _refuse_pickle(cls_name: str) -> NoReturn:
    msg = (
        f"{cls_name} objects cannot be pickled or copied: that would write key material to "
        "disk or another process. Hint: pass the key file path or KVKLINK_KEY instead."
    )
    raise TypeError(msg)


def _parse_hex(text: str, *, source: str) -> bytes:
    """Decode a 64-hex-character key, with an error that names ``source`` but not the key."""
    if not isinstance(text, str):
        msg = (
            f"The key from {source} must be a hex string, got {type(text).__name__}. "
            "Hint: create one with `kvklink keygen PATH`."
        )
        raise KeyMaterialError(msg)
    cleaned = text.strip()
    if not cleaned:
        msg = f"The key from {source} is empty. Hint: create one with `kvklink keygen PATH`."
        raise KeyMaterialError(msg)
    bad = sum(1 for c in cleaned if c not in _HEX)
    if bad:
        msg = (
            f"The key from {source} is not hexadecimal ({bad} of {len(cleaned)} characters are "
            f"not 0-9/a-f). Hint: a key is {2 * KEY_BYTES} hex characters on one line; "
            "create one with `kvklink keygen PATH`."
        )
        raise KeyMaterialError(msg)
    if len(cleaned) % 2:
        msg = (
            f"The key from {source} has an odd number of hex characters ({len(cleaned)}). "
            f"Hint: a key is {2 * KEY_BYTES} hex characters; it may have been cut off."
        )
        raise KeyMaterialError(msg)
    n_bytes = len(cleaned) // 2
    if n_bytes < KEY_BYTES:
        msg = (
            f"The key from {source} is {n_bytes} bytes; scheme {SCHEME_VERSION} needs "
            f"{KEY_BYTES} bytes ({2 * KEY_BYTES} hex characters). Short keys are refused. "
            "Hint: create one with `kvklink keygen PATH`."
        )
        raise KeyMaterialError(msg)
    if n_bytes > KEY_BYTES:
        msg = (
            f"The key from {source} is {n_bytes} bytes; scheme {SCHEME_VERSION} uses exactly "
            f"{KEY_BYTES} bytes ({2 * KEY_BYTES} hex characters). Hint: check that the file "
            "holds one key on one line."
        )
        raise KeyMaterialError(msg)
    return bytes.fromhex(cleaned)


class LinkageKey:
    """The 32-byte master key (scheme v1). Derive purpose keys with :meth:`for_purpose`.

    Construct with :meth:`generate`, :meth:`from_env`, :meth:`from_file` or :meth:`from_hex`;
    never from a literal in code. The ``repr`` shows only a fingerprint (:attr:`key_id`).

    Examples
    --------
    >>> key = LinkageKey.generate()
    >>> key.for_purpose("a") == key.for_purpose("a"), key.for_purpose("a") == key.for_purpose("b")
    (True, False)
    """

    __slots__ = ("__material",)
    __material: bytes

    def __init__(self, material: bytes, /) -> None:
        if not isinstance(material, bytes | bytearray) or len(material) != KEY_BYTES:
            msg = (
                f"A LinkageKey needs exactly {KEY_BYTES} bytes of key material. Hint: use "
                "LinkageKey.generate(), .from_env(), .from_file() or .from_hex()."
            )
            raise KeyMaterialError(msg)
        object.__setattr__(self, "_LinkageKey__material", bytes(material))

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def generate(cls) -> LinkageKey:
        """Return a new random key from the operating system's secure random source."""
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def from_hex(cls, text: str) -> LinkageKey:
        """Return the key written as 64 hex characters (surrounding whitespace is ignored).

        Raises
        ------
        KeyMaterialError
            The text is empty, not hexadecimal, or not exactly 32 bytes.
        """
        return cls(_parse_hex(text, source="the hex string"))

    @classmethod
    def from_env(cls, var: str = KEY_ENV_VAR) -> LinkageKey:
        """Return the key held (as hex) in environment variable ``var`` (``KVKLINK_KEY``).

        Raises
        ------
        KeyMaterialError
            The variable is unset, empty or does not hold a valid key.
        """
        text = os.environ.get(var)
        if text is None:
            msg = (
                f'Environment variable {var} is not set. Hint: export {var}="$(cat keyfile)" '
                "or pass a key file (LinkageKey.from_file / --key-file)."
            )
            raise KeyMaterialError(msg)
        return cls(_parse_hex(text, source=f"environment variable {var}"))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> LinkageKey:
        """Return the key stored as hex on one line in the file ``path``.

        The file must not be readable or writable by group or others (``chmod 600``).

        Raises
        ------
        KeyFilePermissionError
            The file is accessible to group or others.
        KeyMaterialError
            The file is missing, unreadable, empty or does not hold a valid key.
        """
        p = Path(path)
        try:
            info = p.stat()
        except OSError as exc:
            msg = (
                f"Key file {str(p)!r} cannot be read ({exc.strerror or type(exc).__name__}). "
                "Hint: check the path, or create a key with `kvklink keygen PATH`."
            )
            raise KeyMaterialError(msg) from None
        if not stat.S_ISREG(info.st_mode):
            msg = f"Key file {str(p)!r} is not a regular file. Hint: pass the key file's path."
            raise KeyMaterialError(msg)
        if os.name == "posix" and info.st_mode & 0o077:
            mode = stat.S_IMODE(info.st_mode)
            msg = (
                f"Key file {str(p)!r} is accessible to group or others (mode {mode:o}). "
                f"Hint: run `chmod 600 {p}`."
            )
            raise KeyFilePermissionError(msg)
        try:
            text = p.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not ASCII text"
            msg = (
                f"Key file {str(p)!r} cannot be read ({reason or type(exc).__name__}). "
                "Hint: a key file holds 64 hex characters on one line."
            )
            raise KeyMaterialError(msg) from None
        return cls(_parse_hex(text, source=f"key file {str(p)!r}"))

    # -- use -----------------------------------------------------------------------------------
    def for_purpose(self, purpose: str) -> PurposeKey:
        """Derive the purpose key ``HKDF-SHA256(master, info=b"kvklink/v1/purpose/" + purpose)``.

        Parameters
        ----------
        purpose
            A short label such as ``"evaluatie-2024"`` (1-100 printable characters, no
            surrounding whitespace).
        """
        label = _check_purpose(purpose)
        hkdf = HKDF(
            algorithm=hashes.SHA256(),
            length=KEY_BYTES,
            salt=None,
            info=_PURPOSE_INFO + label.encode("utf-8"),
        )
        return PurposeKey._create(hkdf.derive(self.__material), label)

    @property
    def key_id(self) -> str:
        """Fingerprint of the master key: ``HMAC-SHA256(master, b"kvklink/v1/master-key-id")``.

        The first 8 bytes in hex. Lets a custodian check which master key is loaded; outputs
        carry the *purpose* key's id instead.
        """
        return hmac.digest(self.__material, _MASTER_ID_MESSAGE, "sha256")[:8].hex()

    def export_hex(self) -> str:
        """Return the key as 64 lowercase hex characters, for writing a key file.

        Only ``kvklink keygen`` should need this; never log or print the result.
        """
        return self.__material.hex()

    # -- hygiene -------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"LinkageKey(key_id={self.key_id!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LinkageKey):
            return NotImplemented
        return hmac.compare_digest(self.__material, other.__material)

    def __hash__(self) -> int:
        return hash(("LinkageKey", self.key_id))

    def __setattr__(self, name: str, value: object) -> None:
        msg = "LinkageKey is immutable. Hint: create a new key instead."
        raise AttributeError(msg)

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        _refuse_pickle("LinkageKey")

    def __reduce__(self) -> NoReturn:
        _refuse_pickle("LinkageKey")

    def __getstate__(self) -> NoReturn:
        _refuse_pickle("LinkageKey")


def _check_purpose(purpose: object) -> str:
    if not isinstance(purpose, str):
        msg = (
            f"The 'purpose' argument must be a str, got {type(purpose).__name__}. "
            "Hint: use a short label such as 'evaluatie-2024'."
        )
        raise InputError(msg)
    if (
        not purpose
        or purpose != purpose.strip()
        or not purpose.isprintable()
        or len(purpose) > _MAX_PURPOSE_CHARS
    ):
        msg = (
            f"The 'purpose' label must be 1-{_MAX_PURPOSE_CHARS} printable characters without "
            f"surrounding whitespace (got {len(purpose)} characters). "
            "Hint: use a short label such as 'evaluatie-2024'."
        )
        raise InputError(msg)
    return purpose


class PurposeKey:
    """A purpose-bound key (scheme v1), derived with :meth:`LinkageKey.for_purpose`.

    Attributes
    ----------
    purpose : str
        The purpose label the key was derived for.
    key_id : str
        16 hex characters identifying the key (stored with every output).
    scheme_version : str
        ``"v1"``.

    Examples
    --------
    >>> pk = LinkageKey.from_hex("11" * 32).for_purpose("evaluatie-2024")
    >>> repr(pk).startswith("PurposeKey(purpose='evaluatie-2024', key_id=")
    True
    """

    __slots__ = ("__material", "_key_id", "_purpose")
    __material: bytes
    _key_id: str
    _purpose: str

    def __init__(self) -> None:
        msg = "Create a PurposeKey with LinkageKey.for_purpose(label). Hint: see kvklink.keys."
        raise TypeError(msg)

    @classmethod
    def _create(cls, material: bytes, purpose: str) -> PurposeKey:
        self = object.__new__(cls)
        object.__setattr__(self, "_PurposeKey__material", material)
        object.__setattr__(self, "_purpose", purpose)
        key_id = hmac.digest(material, _KEY_ID_MESSAGE, "sha256")[:8].hex()
        object.__setattr__(self, "_key_id", key_id)
        return self

    @property
    def purpose(self) -> str:
        """The purpose label."""
        return self._purpose

    @property
    def key_id(self) -> str:
        """``HMAC-SHA256(K_p, b"kvklink/v1/key-id")``, first 8 bytes, as 16 hex characters."""
        return self._key_id

    @property
    def scheme_version(self) -> str:
        """The pseudonymisation scheme version (``"v1"``)."""
        return SCHEME_VERSION

    def _hmac_unique(
        self, values: pl.Series | pd.Series, *, prefix: bytes, width: int, what: str
    ) -> pl.Series | pd.Series:
        from_pandas = isinstance(values, pd.Series)
        if isinstance(values, pd.Series):
            series = pl.from_pandas(values.reset_index(drop=True).astype("string"))
        elif isinstance(values, pl.Series):
            series = values
        else:
            msg = (
                f"{what} values must be a polars or pandas Series, got {type(values).__name__}. "
                "Hint: wrap them in pl.Series(...)."
            )
            raise SchemaError(msg)
        if series.dtype != pl.String:
            msg = (
                f"{what} values must be text (dtype String), got {series.dtype}. "
                "Hint: normalise them first with kvklink.normalise_kvk."
            )
            raise SchemaError(msg)
        name = series.name
        frame = series.rename("value").to_frame()
        digits = pl.col("value").str.contains(rf"^[0-9]{{{width}}}$")
        bad = frame.select((pl.col("value").is_not_null() & ~digits).sum()).item()
        if bad:
            msg = (
                f"{bad} of {series.len()} {what} values are not exactly {width} digits. "
                "Hint: normalise them first (kvklink.normalise_kvk) and drop unusable rows."
            )
            raise InputError(msg)
        out = self._hmac_distinct(prefix, width, series).rename(name)
        return out.to_pandas() if from_pandas else out

    def _hmac_distinct(self, prefix: bytes, width: int, digits: pl.Series) -> pl.Series:
        """HMAC of every distinct value of ``digits`` (``width``-digit strings or null), once.

        The digits are read as integers (exact up to 19 digits), so de-duplication is an
        integer sort; each row then gathers its pseudonym by dense rank. Nulls stay null.
        """
        numbers = digits.cast(pl.UInt64)
        distinct = numbers.drop_nulls().unique().sort()
        text = distinct.cast(pl.String).str.zfill(width)
        hashed = hmac_sha256_hex(self.__material, prefix, text)
        position = numbers.rank("dense").cast(pl.Int64) - 1
        return hashed.gather(position)

    def pseudonymise_kvk(self, kvk8: pl.Series | pd.Series) -> pl.Series | pd.Series:
        """Return ``HMAC-SHA256(K_p, b"kvk:" + kvk8)`` as 64 lowercase hex per value.

        ``kvk8`` holds normalised 8-digit strings (leading zeros kept); nulls stay null. The
        HMAC runs once per unique value. Returns the caller's kind of series.

        Raises
        ------
        InputError
            A non-null value is not exactly 8 digits.
        """
        return self._hmac_unique(kvk8, prefix=_KVK_PREFIX, width=8, what="KVK number")

    def pseudonymise_vestiging(self, v12: pl.Series | pd.Series) -> pl.Series | pd.Series:
        """Return ``HMAC-SHA256(K_p, b"vest:" + v12)`` as 64 lowercase hex per value.

        ``v12`` holds 12-digit vestigingsnummers as strings; nulls stay null.
        """
        return self._hmac_unique(v12, prefix=_VEST_PREFIX, width=12, what="vestigingsnummer")

    def _pseudonymise_valid_kvk(self, kvk8: pl.Series) -> pl.Series:
        """:meth:`pseudonymise_kvk` without the validation (for already normalised numbers)."""
        return self._hmac_distinct(_KVK_PREFIX, 8, kvk8)

    # -- hygiene -------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return (
            f"PurposeKey(purpose={self._purpose!r}, key_id={self._key_id!r}, "
            f"scheme_version={SCHEME_VERSION!r})"
        )

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PurposeKey):
            return NotImplemented
        return self._purpose == other._purpose and hmac.compare_digest(
            self.__material, other.__material
        )

    def __hash__(self) -> int:
        return hash(("PurposeKey", self._purpose, self._key_id))

    def __setattr__(self, name: str, value: object) -> None:
        msg = "PurposeKey is immutable. Hint: derive a new one with LinkageKey.for_purpose."
        raise AttributeError(msg)

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        _refuse_pickle("PurposeKey")

    def __reduce__(self) -> NoReturn:
        _refuse_pickle("PurposeKey")

    def __getstate__(self) -> NoReturn:
        _refuse_pickle("PurposeKey")
