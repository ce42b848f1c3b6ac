"""Standardise names and addresses before fuzzy comparison (polars expressions only).

Every function returns a :class:`polars.Expr`, so standardisation runs vectorised inside a
``select``/``with_columns`` call. Empty results become null, so a missing value never
"agrees" with another missing value during comparison.

Examples
--------
>>> import polars as pl
>>> from kvklink.linkage._standardise import (
...     company_name_expr, legal_form_expr, postcode_expr, house_number_expr)
>>> df = pl.DataFrame({"name": ["Bakkerij Jänsen B.V."], "pc": ["1234 ab"], "hn": ["12 bis"]})
>>> df.select(
...     company_name_expr("name").alias("name"),
...     legal_form_expr("name").alias("form"),
...     postcode_expr("pc").alias("pc"),
...     house_number_expr("hn").alias("hn"),
... ).row(0)
('bakkerij jansen', 'bv', '1234AB', '12-BIS')
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import polars as pl

__all__ = [
    "LEGAL_FORM_TOKENS",
    "Cleaner",
    "clean_expr",
    "clean_text_expr",
    "company_name_expr",
    "date_expr",
    "house_number_expr",
    "legal_form_expr",
    "postcode_expr",
    "street_expr",
]

Cleaner: TypeAlias = Literal[
    "text", "company_name", "legal_form", "street", "postcode", "house_number", "date", "none"
]

#: Legal-form words removed from company names into a separate field. Keys are the tokens as
#: they look after lower-casing and deleting dots (``B.V.`` -> ``bv``); values are the canonical
#: code kept in the legal-form field.
LEGAL_FORM_TOKENS: dict[str, str] = {
    "bv": "bv",
    "nv": "nv",
    "vof": "vof",
    "cv": "cv",
    "holding": "holding",
    "stichting": "stichting",
    "vereniging": "vereniging",
    "cooperatie": "cooperatie",
    "cooperatief": "cooperatie",
    "ua": "ua",
    "wa": "wa",
    "eenmanszaak": "eenmanszaak",
    "maatschap": "maatschap",
    "besloten": "bv",
    "vennootschap": "",
    "naamloze": "nv",
    "ltd": "ltd",
    "gmbh": "gmbh",
}

# Letters that NFKD does not decompose into a base letter plus a combining mark.
_NO_DECOMPOSITION = {"ı": "i", "ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "ł": "l", "đ": "d",
                     "ð": "d", "þ": "th", "ĳ": "ij"}

_FORM_PATTERN = r"\b(?:" + "|".join(sorted(LEGAL_FORM_TOKENS, key=len, reverse=True)) + r")\b"


#: (canonical code, pattern of the words that mean it), sorted by code.
_FORM_CODE_PATTERNS: tuple[tuple[str, str], ...] = tuple(
    (code, r"\b(?:" + "|".join(sorted((w for w, c in LEGAL_FORM_TOKENS.items() if c == code),
                                       key=len, reverse=True)) + r")\b")
    for code in sorted({c for c in LEGAL_FORM_TOKENS.values() if c})
)


def _as_expr(column: str | pl.Expr) -> pl.Expr:
    return pl.col(column) if isinstance(column, str) else column


def _null_if_empty(expr: pl.Expr) -> pl.Expr:
    # ``replace`` evaluates ``expr`` once (a when/then would evaluate it twice, and nested
    # standardisers would multiply that).
    return expr.replace("", None)


def _fold(column: str | pl.Expr) -> pl.Expr:
    """Cast to text, strip accents (unicode NFKD minus combining marks) and lower-case."""
    return (
        _as_expr(column)
        .cast(pl.Utf8)
        .str.normalize("NFKD")
        .str.replace_all(r"\p{M}", "")
        .str.to_lowercase()
        .str.replace_many(_NO_DECOMPOSITION)
    )


def _squash(expr: pl.Expr) -> pl.Expr:
    """Replace every run of non-alphanumerics by one space and trim."""
    return expr.str.replace_all(r"[^0-9a-z]+", " ").str.strip_chars()


def clean_text_expr(column: str | pl.Expr) -> pl.Expr:
    """Generic text: fold case and accents, drop dots and apostrophes, squash punctuation.

    >>> import polars as pl
    >>> pl.select(clean_text_expr(pl.lit("  Ëlla-Marie  O'Neil "))).item()
    'ella marie oneil'
    """
    folded = _fold(column).str.replace_all(r"[.'`´’]", "")
    return _null_if_empty(_squash(folded))


def _company_base(column: str | pl.Expr) -> pl.Expr:
    folded = _fold(column).str.replace_all("&", " en ").str.replace_all(r"[.'`´’]", "")
    return _squash(folded)


def company_name_expr(column: str | pl.Expr) -> pl.Expr:
    """Company name without its legal-form words, cleaned like :func:`clean_text_expr`.

    A name that consists only of legal-form words (``"Holding B.V."``) keeps those words, so
    it is not turned into a null.

    >>> import polars as pl
    >>> pl.select(company_name_expr(pl.lit("V.O.F. De Groot & Zn."))).item()
    'de groot en zn'
    """
    return _name_from_base(_company_base(column))


def _name_from_base(base: pl.Expr) -> pl.Expr:
    """:func:`company_name_expr` of an already folded and squashed name (``_company_base``)."""
    stripped = base.str.replace_all(_FORM_PATTERN, " ").str.replace_all(r"\s+", " ")
    stripped = stripped.str.strip_chars()
    return pl.coalesce(_null_if_empty(stripped), _null_if_empty(base))


def legal_form_expr(column: str | pl.Expr) -> pl.Expr:
    """The legal-form words found in a company name, canonical, sorted, space-separated.

    >>> import polars as pl
    >>> pl.select(legal_form_expr(pl.lit("Jansen Holding B.V."))).item()
    'bv holding'
    >>> pl.select(legal_form_expr(pl.lit("Jansen"))).item() is None
    True
    """
    return _form_from_base(_company_base(column))


def _form_from_base(base: pl.Expr) -> pl.Expr:
    """:func:`legal_form_expr` of an already folded and squashed name (``_company_base``).

    One word-boundary ``contains`` per canonical code, joined in code order: much faster
    than extracting every match into a list and sorting/deduplicating it per row.
    """
    found = pl.concat_str(
        [pl.when(base.str.contains(pattern)).then(pl.lit(code))
         for code, pattern in _FORM_CODE_PATTERNS],
        separator=" ", ignore_nulls=True,
    )
    return _null_if_empty(found)


def street_expr(column: str | pl.Expr) -> pl.Expr:
    """Street name: cleaned, common abbreviations expanded (``str.`` -> ``straat``).

    >>> import polars as pl
    >>> pl.select(street_expr(pl.lit("Dorpstr."))).item()
    'dorpstraat'
    >>> pl.select(street_expr(pl.lit("Burg. de Withln"))).item()
    'burgemeester de withlaan'
    """
    text = _fold(column).str.replace_all(r"['`´’]", "")
    # characters the final squash turns into spaces act as spaces for the rules too (else a
    # rule could match only on a second pass, e.g. "0lnʊ" -> "0ln" -> "0laan")
    text = text.str.replace_all(r"[^0-9a-z.\s]", " ")
    text = (
        text.str.replace_all(r"\bburg\b\.?\s*", "burgemeester ")
        .str.replace_all(r"\bdr\b\.?\s*", "dokter ")
        .str.replace_all(r"\bpr\b\.?\s*", "prins ")
        # the trailing space keeps an eaten dot a word break ("burgstr.str" is two words)
        .str.replace_all(r"(\w)str\b\.?", "${1}straat ")
        .str.replace_all(r"(\w)pln\b\.?", "${1}plein ")  # before "ln", which would eat it
        .str.replace_all(r"(\w)ln\b\.?", "${1}laan ")
        .str.replace_all(r"(\w)wg\b\.?", "${1}weg ")
    )
    return _null_if_empty(_squash(text))


def postcode_expr(column: str | pl.Expr) -> pl.Expr:
    """Dutch postcode as ``1234AB`` (upper case, no space); other text cleaned and kept.

    >>> import polars as pl
    >>> pl.select(postcode_expr(pl.lit(" 1234 ab"))).item()
    '1234AB'
    """
    text = _as_expr(column).cast(pl.Utf8).str.to_uppercase().str.replace_all(r"[^0-9A-Z]", "")
    return _null_if_empty(text)


def house_number_expr(column: str | pl.Expr) -> pl.Expr:
    """House number as ``<number>`` or ``<number>-<ADDITION>`` (``12A``, ``12 a`` -> ``12-A``).

    Leading zeros of the number are dropped; additions are upper-cased with punctuation removed
    (``12 bis`` -> ``12-BIS``, ``7-2`` -> ``7-2``). Text without a leading number is null.

    >>> import polars as pl
    >>> pl.DataFrame({"h": ["12A", "12-a", "012", "7-2", "huis", None]}).select(
    ...     house_number_expr("h")).to_series().to_list()
    ['12-A', '12-A', '12', '7-2', None, None]
    """
    text = _as_expr(column).cast(pl.Utf8).str.to_uppercase().str.strip_chars()
    parts = text.str.extract_groups(r"^\D{0,5}?(\d+)\s*[-/ ]?\s*(.*)$")
    number = parts.struct.field("1").str.replace(r"^0+(\d)", "${1}")
    addition = parts.struct.field("2").str.replace_all(r"[^0-9A-Z]", "")
    joined = (
        pl.when(addition.str.len_chars() > 0)
        .then(pl.concat_str([number, pl.lit("-"), addition]))
        .otherwise(number)
    )
    return _null_if_empty(joined)


def date_expr(column: str | pl.Expr) -> pl.Expr:
    """A date (or date-like text) as ``YYYYMMDD`` text for string comparison.

    >>> import polars as pl
    >>> from datetime import date
    >>> pl.select(date_expr(pl.lit(date(1980, 2, 3)))).item()
    '19800203'
    """
    text = _as_expr(column).cast(pl.Utf8).str.replace_all(r"[^0-9]", "")
    return _null_if_empty(text)


def clean_expr(column: str | pl.Expr, cleaner: Cleaner) -> pl.Expr:
    """Dispatch to the standardiser named by ``cleaner``.

    >>> import polars as pl
    >>> pl.select(clean_expr(pl.lit("1234 ab"), "postcode")).item()
    '1234AB'
    """
    if cleaner == "text":
        return clean_text_expr(column)
    if cleaner == "company_name":
        return company_name_expr(column)
    if cleaner == "legal_form":
        return legal_form_expr(column)
    if cleaner == "street":
        return street_expr(column)
    if cleaner == "postcode":
        return postcode_expr(column)
    if cleaner == "house_number":
        return house_number_expr(column)
    if cleaner == "date":
        return date_expr(column)
    return _null_if_empty(_as_expr(column).cast(pl.Utf8).str.strip_chars())
