"""KVK numbers, vestigingsnummers and RSINs: vectorised normalisation and validation.

The implementation lives in :mod:`kvklink._identifiers`; see its docstring for the reason codes.

Examples
--------
>>> import polars as pl
>>> from kvklink.identifiers import normalise_kvk
>>> normalise_kvk(pl.Series(["KvK 1234 5678"])).row(0)
('12345678', 'ok')
"""

from __future__ import annotations

from kvklink._identifiers import (
    KVK_REASONS,
    MISSING_TOKENS,
    USABLE_KVK_REASONS,
    is_valid_rsin,
    is_valid_vestigingsnummer,
    kvk_number_expr,
    normalise_kvk,
)

__all__ = [
    "KVK_REASONS",
    "MISSING_TOKENS",
    "USABLE_KVK_REASONS",
    "is_valid_rsin",
    "is_valid_vestigingsnummer",
    "kvk_number_expr",
    "normalise_kvk",
]
