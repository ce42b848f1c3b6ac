"""The kvklink error hierarchy.

Every error kvklink raises on purpose derives from :class:`KvklinkError` and also from the
builtin exception that fits, so callers can catch either::

    KvklinkError (Exception)
    ├── InputError (ValueError)          bad data or arguments supplied by the caller
    │   ├── SchemaError                  a missing column, a wrong dtype, an empty input
    │   ├── IdentifierError              a column with no usable KVK number at all
    │   └── ConfigError                  an invalid pipeline or spec file
    ├── KeyMaterialError (ValueError)    a missing, short, malformed or exposed key
    │   └── KeyFilePermissionError       a key file readable by group or others
    ├── KeyMismatchError (ValueError)    inputs pseudonymised with different keys or scheme versions
    ├── ConsentError (ValueError)        consent columns missing or inconsistent
    ├── LinkageError (ValueError)        a register history or link that violates its contract
    ├── MatchingError (ValueError)       a matching specification that cannot be carried out
    └── DisclosureError (ValueError)     an output that would breach disclosure control

Messages name the argument, column and row counts involved and end with a hint. They never
contain record values, KVK numbers, pseudonyms or key material.

Examples
--------
>>> from kvklink.errors import SchemaError, KvklinkError
>>> issubclass(SchemaError, KvklinkError) and issubclass(SchemaError, ValueError)
True
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConsentError",
    "DisclosureError",
    "IdentifierError",
    "InputError",
    "KeyFilePermissionError",
    "KeyMaterialError",
    "KeyMismatchError",
    "KvklinkError",
    "LinkageError",
    "MatchingError",
    "SchemaError",
]


class KvklinkError(Exception):
    """Base class of every error kvklink raises on purpose."""


class InputError(KvklinkError, ValueError):
    """Bad data or arguments supplied by the caller."""


class SchemaError(InputError):
    """A frame lacks a required column, has a wrong dtype, or is empty."""


class IdentifierError(InputError):
    """An identifier column holds no usable identifier at all."""


class ConfigError(InputError):
    """A pipeline configuration or specification file is invalid."""


class KeyMaterialError(KvklinkError, ValueError):
    """A key is missing, too short, malformed, or would be exposed."""


class KeyFilePermissionError(KeyMaterialError, PermissionError):
    """A key file is readable by group or others."""


class KeyMismatchError(KvklinkError, ValueError):
    """Two inputs were pseudonymised with different keys, purposes or scheme versions."""


class ConsentError(KvklinkError, ValueError):
    """Consent columns are missing, of the wrong type, or inconsistent."""


class LinkageError(KvklinkError, ValueError):
    """A register history or a link violates its contract (e.g. overlapping validity)."""


class MatchingError(KvklinkError, ValueError):
    """A matching specification cannot be carried out on the given data."""


class DisclosureError(KvklinkError, ValueError):
    """An output would breach statistical disclosure control."""
