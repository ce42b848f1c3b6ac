"""Disclosure control across tables that share cells (kvklink.disclosure.protect_jointly)."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvklink.disclosure import (
    TOTAL_LABEL,
    Cell,
    DisclosurePolicy,
    ProtectedTable,
    audit_jointly,
    protect_jointly,
    protect_table,
)
from kvklink.errors import SchemaError
from kvklink.pipeline._report import _protect_cohort_counts, _shared_cohort_cells

OUTCOMES = pl.DataFrame({"outcome": ["treated", "dropped", "other"], "unit_count": [25, 4, 30]})
YEARS = pl.DataFrame({"year": ["2020", "2021"], "unit_count": [15, 10]})
SAME: list[list[Cell]] = [[("outcomes", ("treated",)), ("years", (TOTAL_LABEL,))]]


def _suppressed(table: ProtectedTable, *key: str) -> bool:
    dims = table.parameters["dimensions"]
    row = table._cells.filter(
        pl.all_horizontal(pl.col(d).cast(pl.Utf8) == k for d, k in zip(dims, key, strict=True))
    )
    return bool(row["suppressed"].item())


def test_tables_safe_alone_can_expose_a_cell_together() -> None:
    alone = {
        "outcomes": protect_table(OUTCOMES, rows="outcome"),
        "years": protect_table(YEARS, rows="year"),
    }
    for table in alone.values():
        assert not table.check()["recomputable"].any()
    exposed = audit_jointly(alone, SAME).filter(pl.col("recomputable"))
    assert exposed.select("table", "row", "lower").rows() == [("outcomes", "dropped", 4.0)]
    # without the shared cell declared, the audit cannot see it
    assert not audit_jointly(alone)["recomputable"].any()


def test_protect_jointly_suppresses_the_shared_cell_everywhere() -> None:
    tables = protect_jointly(
        {
            "outcomes": lambda extra: protect_table(OUTCOMES, rows="outcome", suppress=extra),
            "years": lambda extra: protect_table(YEARS, rows="year", suppress=extra),
        },
        SAME,
    )
    assert _suppressed(tables["outcomes"], "treated")
    assert _suppressed(tables["years"], TOTAL_LABEL)
    assert not audit_jointly(tables, SAME)["recomputable"].any()


def test_unknown_tables_and_cells_are_clear_errors() -> None:
    tables = {"outcomes": protect_table(OUTCOMES, rows="outcome")}
    with pytest.raises(SchemaError, match=r"cell \['treatd'\] of table 'outcomes'"):
        audit_jointly(tables, [[("outcomes", ("treatd",)), ("outcomes", (TOTAL_LABEL,))]])
    with pytest.raises(SchemaError, match="table 'years', which is not built"):
        protect_jointly(
            {"outcomes": lambda extra: protect_table(OUTCOMES, rows="outcome", suppress=extra)},
            [[("outcomes", ("treated",)), ("years", (TOTAL_LABEL,))]],
        )


def test_pipeline_cohort_tables_no_longer_expose_unmatched_treated_units() -> None:
    # 1:1 matching without replacement: matched controls = matched treated (33), a fact the
    # report states. Protected one by one, the matching table published the matched treated
    # count and hid the matched controls — which pins the 7 unmatched treated units.
    treated, control = [4, 2, 34], [313, 343, 238]
    by_year = pl.DataFrame(
        {
            "index_year": ["2018", "2019", "2020"] * 2,
            "group": ["treated"] * 3 + ["control"] * 3,
            "unit_count": treated + control,
        }
    )
    sizes = pl.DataFrame(
        {
            "status": ["matched", "matched", "not matched or dropped", "not matched or dropped"],
            "group": ["treated", "control", "treated", "control"],
            "unit_count": [33, 33, sum(treated) - 33, sum(control) - 33],
        }
    )
    outcomes = pl.DataFrame(
        {"outcome": ["treated", "first_use_before_window"], "unit_count": [sum(treated), 13]}
    )
    same = _shared_cohort_cells(
        ["treated", "first_use_before_window"], ["treated", "control"], ["treated", "control"],
        one_to_one=True,
    )
    alone = {
        "cohort_outcomes": protect_table(outcomes, rows="outcome"),
        "cohort_sizes": protect_table(by_year, rows="index_year", columns="group"),
        "match_sizes": protect_table(sizes, rows="status", columns="group"),
    }
    assert audit_jointly(alone, same)["recomputable"].any()
    joint = _protect_cohort_counts(
        outcomes, by_year, sizes, policy=DisclosurePolicy(), one_to_one=True
    )
    assert not audit_jointly(joint, same)["recomputable"].any()
    for group in same:  # a shared cell is suppressed in every table or in none
        assert len({_suppressed(joint[name], *key) for name, key in group}) == 1


def _partition(data: st.DataObject, total: int, parts: int) -> list[int]:
    n = parts - 1
    cuts = sorted(data.draw(st.lists(st.integers(0, total), min_size=n, max_size=n)))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), first=st.lists(st.integers(0, 60), min_size=2, max_size=4))
def test_property_jointly_protected_tables_expose_nothing(
    data: st.DataObject, first: list[int]
) -> None:
    # a one-way table; a second one-way table with the same total; a two-way table whose
    # first column adds up to the first table's first cell
    second = _partition(data, sum(first), data.draw(st.integers(2, 4)))
    n_rows = data.draw(st.integers(2, 3))
    column0 = _partition(data, first[0], n_rows)
    column1 = data.draw(st.lists(st.integers(0, 60), min_size=n_rows, max_size=n_rows))
    a = pl.DataFrame({"a": [f"a{i}" for i in range(len(first))], "unit_count": first})
    b = pl.DataFrame({"b": [f"b{i}" for i in range(len(second))], "unit_count": second})
    c = pl.DataFrame(
        {
            "r": [f"r{i}" for i in range(n_rows)] * 2,
            "k": ["k0"] * n_rows + ["k1"] * n_rows,
            "unit_count": column0 + column1,
        }
    )
    same: list[list[Cell]] = [
        [("a", (TOTAL_LABEL,)), ("b", (TOTAL_LABEL,))],
        [("a", ("a0",)), ("c", (TOTAL_LABEL, "k0"))],
    ]
    tables = protect_jointly(
        {
            "a": lambda extra: protect_table(a, rows="a", suppress=extra),
            "b": lambda extra: protect_table(b, rows="b", suppress=extra),
            "c": lambda extra: protect_table(c, rows="r", columns="k", suppress=extra),
        },
        same,
    )
    assert not audit_jointly(tables, same)["recomputable"].any()
    for table in tables.values():
        published = table._cells.filter(~pl.col("suppressed"))
        assert not ((published["value"] > 0) & (published["value"] < 10)).any()
    for group in same:
        assert len({_suppressed(tables[name], *key) for name, key in group}) == 1
