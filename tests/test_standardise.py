"""Standardisation of names and addresses before fuzzy comparison."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kvklink.linkage._standardise import (
    clean_expr,
    clean_text_expr,
    company_name_expr,
    house_number_expr,
    legal_form_expr,
    postcode_expr,
    street_expr,
)


def _apply(expr_fn, values):  # type: ignore[no-untyped-def]
    return pl.DataFrame({"v": values}, schema={"v": pl.Utf8}).select(expr_fn("v")).to_series()


@pytest.mark.parametrize(
    ("raw", "name", "form"),
    [
        ("Bakkerij Jansen B.V.", "bakkerij jansen", "bv"),
        ("BAKKERIJ JANSEN BV", "bakkerij jansen", "bv"),
        ("bakkerij jansen b.v", "bakkerij jansen", "bv"),
        ("Jansen Holding B.V.", "jansen", "bv holding"),
        ("V.O.F. De Groot & Zn.", "de groot en zn", "vof"),
        ("Stichting Vrienden van het Museum", "vrienden van het museum", "stichting"),
        ("Café Ëlla N.V.", "cafe ella", "nv"),
        ("Çelik Yılmaz C.V.", "celik yilmaz", "cv"),
        ("Holding B.V.", "holding bv", "bv holding"),
        ("Jansen", "jansen", None),
    ],
)
def test_company_name_and_legal_form(raw: str, name: str, form: str | None) -> None:
    assert _apply(company_name_expr, [raw]).to_list() == [name]
    assert _apply(legal_form_expr, [raw]).to_list() == [form]


def test_legal_form_words_inside_other_words_are_kept() -> None:
    # "bv" inside "bvba-achtig" or "Holdingstraat" is not a legal form
    assert _apply(company_name_expr, ["Holdingstraat Advies"]).to_list() == [
        "holdingstraat advies"
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1234 AB", "1234AB"), ("1234ab", "1234AB"), (" 1234-ab ", "1234AB"), ("", None),
     (None, None)],
)
def test_postcode(raw: str | None, expected: str | None) -> None:
    assert _apply(postcode_expr, [raw]).to_list() == [expected]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12", "12"), ("12A", "12-A"), ("12 a", "12-A"), ("12-a", "12-A"), ("12-2", "12-2"),
     ("12 bis", "12-BIS"), ("012", "12"), ("12 hs", "12-HS"), ("nr. 12", "12"),
     ("7/2", "7-2"), ("abc", None), (None, None)],
)
def test_house_number(raw: str | None, expected: str | None) -> None:
    assert _apply(house_number_expr, [raw]).to_list() == [expected]


def test_street_abbreviations() -> None:
    got = _apply(street_expr, ["Dorpstr.", "Kerkstraat", "Burg. de Withln", "Stationsweg",
                               "Burgemeester de Withlaan", "Oudezijds Burgwal", "Marktpln"])
    assert got.to_list() == ["dorpstraat", "kerkstraat", "burgemeester de withlaan",
                             "stationsweg", "burgemeester de withlaan", "oudezijds burgwal",
                             "marktplein"]


def test_text_and_empty_values_become_null() -> None:
    assert _apply(clean_text_expr, ["  ", "...", "'s-Hertogenbosch"]).to_list() == [
        None, None, "s hertogenbosch"
    ]


def test_clean_expr_date_and_none() -> None:
    df = pl.DataFrame({"d": ["1980-02-03"], "x": ["  a b "]})
    assert df.select(clean_expr("d", "date")).item() == "19800203"
    assert df.select(clean_expr("x", "none")).item() == "a b"


@given(st.text(max_size=30))
@example("BURG")  # "burg" once matched inside "burgemeester"
@example("0LN\u01b1")  # a letter the squash drops separates words for the rules too
def test_standardisers_are_idempotent_on_text(value: str) -> None:
    for fn in (clean_text_expr, postcode_expr, street_expr):
        once = _apply(fn, [value])
        twice = pl.DataFrame({"v": once}).select(fn("v")).to_series()
        assert once.to_list() == twice.to_list()


@given(st.integers(1, 9999), st.sampled_from(["", "A", "b", "-2", " bis", " 3"]))
def test_house_number_keeps_the_number(number: int, addition: str) -> None:
    got = _apply(house_number_expr, [f"{number}{addition}"]).item()
    assert got.split("-")[0] == str(number)
