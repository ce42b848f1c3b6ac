"""The compiled address cleaners equal the polars standardisation expressions."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvklink.linkage._address_cleaners import COMPILED_CLEANERS, clean_compiled
from kvklink.linkage._standardise import clean_expr


def _reference(values: list[str | None], cleaner: str) -> list[str | None]:
    frame = pl.DataFrame({"v": values}, schema={"v": pl.Utf8})
    return frame.select(clean_expr("v", cleaner)).to_series().to_list()


def _compiled(values: list[str | None], cleaner: str) -> list[str | None]:
    return clean_compiled(pl.Series("v", values, dtype=pl.Utf8), cleaner).to_list()


#: Pieces that exercise every rule: the street abbreviations at word starts and ends, dots,
#: spaces of every kind, digits and additions, apostrophes, accents, other scripts, and
#: characters whose case mapping leaves ASCII.
_PIECES = st.sampled_from([
    "burg", "Burg.", "BURG", "dr", "Dr.", "pr", "pr.", "str", "Str.", "ln", "ln.", "wg", "pln",
    "straat", "laan", "Kerk", "Dorp", "Jansen", "de", "_", "x", "a", "1", "12", "007", "0",
    "bis", "A", "-", "/", ".", ",", "'", "`", "\u00b4", "\u2019", " ", "  ", "\t", "\n",
    "\x0b", "\x1f", "&", "\u00eb", "\u00df", "\ufb01", "\u0131", "\u0394", "\u0663", "\u00a0",
    "\u2003", "1234", "AB", "ab", "1234 ab",
])
_VALUES = st.lists(
    st.one_of(st.none(), st.lists(_PIECES, max_size=8).map("".join),
              st.lists(_PIECES, max_size=6).map(" ".join), st.text(max_size=12)),
    max_size=12,
)


@pytest.mark.parametrize("cleaner", COMPILED_CLEANERS)
@settings(max_examples=250, deadline=None)
@given(values=_VALUES)
def test_equals_the_polars_expression(cleaner: str, values: list[str | None]) -> None:
    assert _compiled(values, cleaner) == _reference(values, cleaner)


@pytest.mark.parametrize("cleaner", COMPILED_CLEANERS)
@settings(max_examples=250, deadline=None)
@given(values=_VALUES)
def test_cleaning_twice_changes_nothing(cleaner: str, values: list[str | None]) -> None:
    once = _compiled(values, cleaner)
    assert _compiled(once, cleaner) == once


@pytest.mark.parametrize(
    ("cleaner", "raw", "clean"),
    [
        ("street", "Burg. de Withln", "burgemeester de withlaan"),
        ("street", "burgwal", "burgwal"),  # "burg" only as a whole word
        ("street", "burgemeester", "burgemeester"),  # ... so the result is stable (idempotent)
        ("street", "Burg.Smit", "burgemeester smit"),
        ("street", "Marktpln", "marktplein"),  # "pln" is expanded before "ln"
        ("street", "dr.x", "dokter x"),  # "dr" as a whole word, with or without dot or space
        ("street", "dr.burg", "dokter burgemeester"),
        ("street", "drost", "drost"),
        ("street", "_burg", "burgemeester"),  # "_" separates words, as in the final squash
        ("street", "0LN\u01b1", "0laan"),  # so does a letter the squash drops (idempotent)
        ("house_number", "000", "0"),
        ("house_number", "abcdef12", None),  # more than five characters before the number
        ("house_number", " 12 / bis ", "12-BIS"),
        ("postcode", "\ufb01 1234", "FI1234"),  # case mapping leaves one character as two
        ("text", "a\tb&c", "a b c"),
    ],
)
def test_examples(cleaner: str, raw: str, clean: str | None) -> None:
    assert _compiled([raw], cleaner) == [clean] == _reference([raw], cleaner)


def test_empty_all_null_and_sliced_input() -> None:
    for cleaner in COMPILED_CLEANERS:
        assert _compiled([], cleaner) == []
        assert _compiled([None, None], cleaner) == [None, None]
    sliced = pl.Series("v", ["x", "Dorpstr. 1", "12A"]).slice(1, 2)
    assert clean_compiled(sliced, "street").to_list() == ["dorpstraat 1", "12a"]


def test_unknown_cleaner() -> None:
    with pytest.raises(ValueError, match="No compiled cleaner"):
        clean_compiled(pl.Series(["x"]), "date")
