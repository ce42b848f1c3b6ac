"""Tests for kvklink.disclosure: primary and secondary suppression of 1-D and 2-D tables."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import kvklink
from kvklink.disclosure import TOTAL_LABEL, DisclosurePolicy, ProtectedTable, protect_table
from kvklink.errors import DisclosureError, InputError, SchemaError


def independent_intervals(
    frame: pl.DataFrame, dims: list[str], measure: str
) -> dict[tuple[str, ...], tuple[float, float]]:
    """Feasible interval of every suppressed cell, computed only from the published long frame.

    Variables: every cell (margins included). Published cells are fixed, suppressed ones are
    free and non-negative. Each row (and column) of interior cells sums to its total.
    """
    keys = [tuple(r) for r in frame.select(dims).iter_rows()]
    index = {k: i for i, k in enumerate(keys)}
    vals = frame.get_column(measure).to_list()
    bounds = [(float(v), float(v)) if v is not None else (0.0, None) for v in vals]
    equations: list[np.ndarray] = []

    def add(parts: list[tuple[str, ...]], total: tuple[str, ...]) -> None:
        row = np.zeros(len(keys))
        for p in parts:
            row[index[p]] += 1.0
        row[index[total]] -= 1.0
        equations.append(row)

    if len(dims) == 1:
        add([k for k in keys if k[0] != TOTAL_LABEL], (TOTAL_LABEL,))
    else:
        row_labels = list(dict.fromkeys(k[0] for k in keys))
        col_labels = list(dict.fromkeys(k[1] for k in keys))
        inner_cols = [c for c in col_labels if c != TOTAL_LABEL]
        inner_rows = [r for r in row_labels if r != TOTAL_LABEL]
        for r in row_labels:
            add([(r, c) for c in inner_cols], (r, TOTAL_LABEL))
        for c in col_labels:
            add([(r, c) for r in inner_rows], (TOTAL_LABEL, c))
    a_eq = np.vstack(equations)
    b_eq = np.zeros(len(equations))
    out = {}
    for k, v in zip(keys, vals, strict=True):
        if v is not None:
            continue
        i = index[k]
        c = np.zeros(len(keys))
        c[i] = 1.0
        lo = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        hi = linprog(-c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        assert lo.status == 0
        upper = np.inf if hi.status == 3 else -hi.fun
        out[k] = (lo.fun, upper)
    return out


def count_cells(labels_r: list[str], labels_c: list[str] | None, counts: list[int]) -> pl.DataFrame:
    if labels_c is None:
        return pl.DataFrame({"r": labels_r, "unit_count": counts})
    pairs = list(itertools.product(labels_r, labels_c))
    return pl.DataFrame(
        {"r": [p[0] for p in pairs], "c": [p[1] for p in pairs], "unit_count": counts}
    )


def test_one_dimensional_count_table() -> None:
    cells = pl.DataFrame(
        {"region": ["Noord", "Oost", "West", "Zuid"], "unit_count": [25, 4, 31, 40]}
    )
    table = protect_table(cells, rows="region")
    frame = table.frame
    assert frame["region"].to_list() == ["Noord", "Oost", "West", "Zuid", TOTAL_LABEL]
    assert frame["suppressed"].to_list() == [True, True, False, False, False]
    assert frame["reason"].to_list() == ["secondary", "min_units", None, None, None]
    assert frame["value"].to_list() == [None, None, 31, 40, 100]
    assert table.n_primary == 1
    assert table.n_secondary == 1
    assert "✱" in table.to_markdown()
    assert "✱" in table.to_html()
    assert table.parameters["policy"]["min_units"] == 10
    assert table.parameters["margins"] is True


def test_without_margins_only_primary() -> None:
    cells = pl.DataFrame({"region": ["Noord", "Oost"], "unit_count": [25, 4]})
    table = protect_table(cells, rows="region", margins=False)
    assert table.frame["value"].to_list() == [25, None]
    assert table.n_secondary == 0


def test_two_dimensional_classic_pattern() -> None:
    # one small cell in the middle of a 3x3 table -> a rectangle of four suppressions
    counts = [50, 60, 70, 80, 3, 90, 100, 110, 120]
    table = protect_table(
        count_cells(["a", "b", "c"], ["x", "y", "z"], counts), rows="r", columns="c"
    )
    frame = table.frame
    assert frame.height == 16
    supp = frame.filter(pl.col("suppressed"))
    assert supp.height == 4
    assert ("b", "y") in {tuple(r) for r in supp.select("r", "c").iter_rows()}
    # every line (row or column, margins included) has zero or >= 2 suppressed cells
    for dim in ("r", "c"):
        per_line = frame.group_by(dim).agg(pl.col("suppressed").sum())
        assert all(n != 1 for n in per_line["suppressed"].to_list())
    check = table.check()
    assert not check["recomputable"].any()
    wide = table.to_wide()
    assert wide.columns == ["r", "x", "y", "z", TOTAL_LABEL]


def test_small_total_suppresses_margin_and_protects_it() -> None:
    cells = pl.DataFrame(
        {"r": ["a", "a", "b", "b"], "c": ["x", "y", "x", "y"], "unit_count": [2, 3, 40, 50]}
    )
    table = protect_table(cells, rows="r", columns="c")
    frame = table.frame
    row_a_total = frame.filter((pl.col("r") == "a") & (pl.col("c") == TOTAL_LABEL))
    assert row_a_total["suppressed"].item()
    assert row_a_total["reason"].item() == "min_units"
    for key, (lo, hi) in independent_intervals(frame, ["r", "c"], "value").items():
        assert hi - lo >= 1.0, key


def test_magnitude_rules() -> None:
    cells = pl.DataFrame(
        {
            "sector": ["C", "F", "G", "M"],
            "unit_count": [12, 15, 20, 30],
            # C dominated by one firm; F fails only the p% rule at p=80; G and M are safe
            "turnover": [1000.0, 240.0, 200.0, 300.0],
            "contrib": [
                [900.0, 50.0, *([50.0 / 10] * 10)],
                [100.0, 80.0, *([60.0 / 13] * 13)],
                [10.0] * 20,
                [10.0] * 30,
            ],
        }
    )
    table = protect_table(cells, rows="sector", value="turnover", contributions="contrib")
    reasons = dict(
        zip(table.frame["sector"].to_list(), table.frame["reason"].to_list(), strict=True)
    )
    assert reasons["C"] == "dominance"
    assert reasons["F"] == "p_percent"
    assert reasons["G"] is None
    assert table.kind == "magnitude"
    assert not table.check()["recomputable"].any()
    # unit counts of suppressed cells are hidden too
    assert (
        table.frame.filter(pl.col("suppressed"))["unit_count"].null_count()
        == table.frame["suppressed"].sum()
    )
    # p% rule switched off: F becomes safe, C stays dominated
    loose = protect_table(
        cells,
        rows="sector",
        value="turnover",
        contributions="contrib",
        policy=DisclosurePolicy(p_percent=10.0),
    )
    reasons = dict(
        zip(loose.frame["sector"].to_list(), loose.frame["reason"].to_list(), strict=True)
    )
    assert reasons["C"] == "dominance"
    assert reasons["F"] != "p_percent"


def test_p_percent_rule_boundary() -> None:
    # T - x1 - x2 < p/100 * x1 ; x1 = 100, x2 = 50, p = 80: sensitive iff T < 230
    def reason(total_rest: float) -> str | None:
        cells = pl.DataFrame(
            {
                "s": ["a", "b"],
                "unit_count": [20, 20],
                "v": [150.0 + total_rest, 1000.0],
                "contrib": [[100.0, 50.0, total_rest / 2, total_rest / 2], [50.0] * 20],
            }
        )
        policy = DisclosurePolicy(dominance_k=1.0)
        return protect_table(
            cells, rows="s", value="v", contributions="contrib", policy=policy
        ).frame["reason"][0]

    assert reason(79.0) == "p_percent"
    assert reason(80.0) is None


def test_pandas_in_pandas_out() -> None:
    cells = pd.DataFrame({"region": ["Noord", "Oost", "West"], "unit_count": [25, 4, 31]})
    table = protect_table(cells, rows="region")
    assert isinstance(table.frame, pd.DataFrame)
    assert table.frame["suppressed"].tolist() == [True, True, False, False]


def test_labels_sorted_and_missing_cells_filled() -> None:
    cells = pl.DataFrame({"year": [2021, 2019], "c": ["x", "y"], "unit_count": [30, 40]})
    frame = protect_table(cells, rows="year", columns="c").frame
    assert frame["year"].to_list()[:4] == ["2019", "2019", "2019", "2021"]
    filled = frame.filter((pl.col("year") == "2019") & (pl.col("c") == "x"))
    assert filled["value"].item() == 0  # a missing combination is an empty cell, published


def test_protect_zeros() -> None:
    cells = pl.DataFrame({"r": ["a", "b", "c"], "unit_count": [0, 30, 40]})
    assert not protect_table(cells, rows="r").frame["suppressed"][0]
    table = protect_table(cells, rows="r", policy=DisclosurePolicy(protect_zeros=True))
    assert table.frame["reason"][0] == "min_units"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"value": "v"}, InputError, "needs 'contributions'"),
        ({"unit_count": "nope"}, SchemaError, "lacks required column"),
        ({"columns": "r"}, InputError, "same column"),
    ],
)
def test_bad_arguments(kwargs: dict[str, str], error: type[Exception], match: str) -> None:
    cells = pl.DataFrame({"r": ["a"], "unit_count": [3], "v": [1.0]})
    with pytest.raises(error, match=match):
        protect_table(cells, rows="r", **kwargs)


def test_bad_inputs() -> None:
    dup = pl.DataFrame({"r": ["a", "a"], "unit_count": [3, 4]})
    with pytest.raises(SchemaError, match="several rows for the same cell"):
        protect_table(dup, rows="r")
    neg = pl.DataFrame({"r": ["a", "b"], "unit_count": [3, -4]})
    with pytest.raises(SchemaError, match="negative or null"):
        protect_table(neg, rows="r")
    total = pl.DataFrame({"r": ["a", TOTAL_LABEL], "unit_count": [3, 4]})
    with pytest.raises(SchemaError, match="margin label"):
        protect_table(total, rows="r")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("min_units", 0),
        ("dominance_n", 0),
        ("dominance_k", 1.5),
        ("p_percent", -1.0),
        ("marker", ""),
    ],
)
def test_policy_validation(name: str, value: object) -> None:
    with pytest.raises(InputError, match=f"'{name}' parameter of DisclosurePolicy"):
        DisclosurePolicy(**{name: value})  # type: ignore[arg-type]


def test_repr_has_no_values() -> None:
    cells = pl.DataFrame({"r": ["a", "b", "c"], "unit_count": [3, 1234, 4321]})
    text = repr(protect_table(cells, rows="r"))
    assert "1234" not in text
    assert "4321" not in text


def test_public_names() -> None:
    assert kvklink.protect_table is protect_table
    assert kvklink.DisclosurePolicy is DisclosurePolicy
    assert kvklink.ProtectedTable is ProtectedTable


def test_zero_valued_cell_with_small_total() -> None:
    # the total has 3 units too, so it is suppressed itself; a = Total stays unknown
    cells = pl.DataFrame(
        {"r": ["a", "b"], "unit_count": [3, 0], "v": [0.0, 0.0], "contrib": [[0.0, 0.0, 0.0], []]}
    )
    table = protect_table(cells, rows="r", value="v", contributions="contrib")
    assert table.frame["suppressed"].to_list() == [True, False, True]
    assert not table.check()["recomputable"].any()


# --- properties -------------------------------------------------------------------------------

MIN_UNITS = 10


@st.composite
def count_tables(draw: st.DrawFn) -> tuple[pl.DataFrame, bool]:
    two_d = draw(st.booleans())
    n_r = draw(st.integers(1, 5))
    n_c = draw(st.integers(1, 4)) if two_d else 1
    counts = draw(
        st.lists(
            st.one_of(st.integers(0, 12), st.integers(0, 80)),
            min_size=n_r * n_c,
            max_size=n_r * n_c,
        )
    )
    labels_r = [f"r{i}" for i in range(n_r)]
    labels_c = [f"c{j}" for j in range(n_c)] if two_d else None
    return count_cells(labels_r, labels_c, counts), two_d


@settings(max_examples=60, deadline=None)
@given(data=count_tables())
@example(data=(count_cells(["a"], None, [0]), False))
@example(data=(count_cells(["a"], None, [3]), False))
@example(data=(count_cells(["a", "b"], ["x", "y"], [3, 0, 0, 0]), True))
def test_property_counts_never_below_threshold_and_never_recomputable(
    data: tuple[pl.DataFrame, bool],
) -> None:
    cells, two_d = data
    dims = ["r", "c"] if two_d else ["r"]
    table = protect_table(cells, rows="r", columns="c" if two_d else None)
    frame = table.frame
    published = frame.filter(~pl.col("suppressed"))
    # never publishes a cell (margins included) with 1..min_units-1 units
    assert not ((published["unit_count"] > 0) & (published["unit_count"] < MIN_UNITS)).any()
    # published values are the true values
    assert published.filter(pl.col("value") != pl.col("unit_count")).height == 0
    # never leaves a suppressed cell recomputable from published cells and margins
    for key, (lo, hi) in independent_intervals(frame, dims, "value").items():
        assert hi - lo >= 1.0 - 1e-9, key
    # row order of the input does not matter
    again = protect_table(cells.reverse(), rows="r", columns="c" if two_d else None).frame
    assert again.equals(frame)


@st.composite
def magnitude_tables(draw: st.DrawFn) -> pl.DataFrame:
    n_r = draw(st.integers(1, 4))
    n_c = draw(st.integers(1, 3))
    rows = []
    for i, j in itertools.product(range(n_r), range(n_c)):
        contrib = draw(st.lists(st.integers(0, 1000).map(float), min_size=0, max_size=25))
        rows.append(
            {
                "r": f"r{i}",
                "c": f"c{j}",
                "unit_count": len(contrib),
                "v": sum(contrib),
                "contrib": contrib,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "r": pl.Utf8,
            "c": pl.Utf8,
            "unit_count": pl.Int64,
            "v": pl.Float64,
            "contrib": pl.List(pl.Float64),
        },
    )


def sensitive(contribs: list[float], policy: DisclosurePolicy) -> bool:
    n = len(contribs)
    total = sum(contribs)
    if 0 < n < policy.min_units:
        return True
    top = sorted(contribs, reverse=True)
    if total > 0 and sum(top[: policy.dominance_n]) > policy.dominance_k * total:
        return True
    x1 = top[0] if top else 0.0
    x2 = top[1] if n > 1 else 0.0
    return total > 0 and x1 > 0 and (total - x1 - x2) * 100 < policy.p_percent * x1


@settings(max_examples=30, deadline=None)
@given(cells=magnitude_tables())
def test_property_magnitude_tables(cells: pl.DataFrame) -> None:
    policy = DisclosurePolicy()
    try:
        table = protect_table(cells, rows="r", columns="c", value="v", contributions="contrib")
    except DisclosureError:
        return  # only when no safe pattern exists; the error says so instead of publishing
    frame = table.frame
    # recompute each published cell's sensitivity from the raw contributions (margins too)
    by_cell = {(r["r"], r["c"]): r["contrib"] for r in cells.iter_rows(named=True)}
    rows = sorted({k[0] for k in by_cell})
    cols = sorted({k[1] for k in by_cell})
    for r in frame.filter(~pl.col("suppressed")).iter_rows(named=True):
        rs = rows if r["r"] == TOTAL_LABEL else [r["r"]]
        cs = cols if r["c"] == TOTAL_LABEL else [r["c"]]
        contribs = [x for a in rs for b in cs for x in by_cell[(a, b)]]
        assert not sensitive(contribs, policy), (r["r"], r["c"])
    for measure, min_width in (("value", 1e-6), ("unit_count", 1.0 - 1e-9)):
        for key, (lo, hi) in independent_intervals(frame, ["r", "c"], measure).items():
            assert hi - lo >= min_width, (measure, key)
