"""The compiled company-name pass equals the polars standardisation expressions."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from kvklink.linkage._company_names import company_name_and_form
from kvklink.linkage._standardise import LEGAL_FORM_TOKENS, company_name_expr, legal_form_expr


def _reference(values: list[str | None]) -> tuple[list[str | None], list[str | None]]:
    frame = pl.DataFrame({"v": values}, schema={"v": pl.Utf8})
    out = frame.select(company_name_expr("v").alias("n"), legal_form_expr("v").alias("f"))
    return out["n"].to_list(), out["f"].to_list()


def _compiled(values: list[str | None]) -> tuple[list[str | None], list[str | None]]:
    name, form = company_name_and_form(pl.Series("v", values, dtype=pl.Utf8))
    return name.to_list(), form.to_list()


#: Pieces that exercise every rule: legal-form words and spellings, deleted characters,
#: ``&``, accents and letters without a decomposition, ligatures, other scripts, spaces.
_PIECES = st.sampled_from([
    *LEGAL_FORM_TOKENS, "B.V.", "b.v", "N.V.", "V.O.F.", "Co\u00f6peratie", "U.A.", "Holding",
    "bvba", "holdings", "&", ".", "'", "`", "\u00b4", "\u2019", "-", "/", ",", " ", "  ", "\t",
    "Jansen", "DE", "van", "Bakkerij", "Caf\u00e9", "\u00cblla", "\u00f8", "\u00df", "\u0131",
    "\ufb01", "\u0130", "\u0394\u03b5\u03bb\u03c4\u03b1", "\u4e2d", "12", "3a", "\u00bd",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.lists(_PIECES, max_size=8).map("".join),
                          st.lists(_PIECES, max_size=6).map(" ".join), st.text(max_size=20)),
                max_size=12))
def test_equals_the_polars_expressions(values: list[str | None]) -> None:
    assert _compiled(values) == _reference(values)


def test_examples_and_edge_cases() -> None:
    values = ["Bakkerij J\u00e4nsen B.V.", "Holding B.V.", None, "", "&", "a&b", "...",
              "stichting vennootschap", "vennootschap", "Jan\u00b4s Caf\u00e9", "Jan's"]
    assert _compiled(values) == _reference(values)
    name, form = _compiled(values)
    assert name[:3] == ["bakkerij jansen", "holding bv", None]
    assert form[:3] == ["bv", "bv holding", None]


def test_empty_and_all_null() -> None:
    assert _compiled([]) == ([], [])
    assert _compiled([None, None]) == ([None, None], [None, None])


def test_sliced_input_is_read_from_its_offset() -> None:
    series = pl.Series("v", ["x B.V.", "Jansen Holding", "De Groot V.O.F."]).slice(1, 2)
    name, form = company_name_and_form(series)
    assert name.to_list() == ["jansen", "de groot"]
    assert form.to_list() == ["holding", "vof"]
