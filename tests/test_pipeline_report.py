"""Disclosure control of the run report's statistic tables (kvklink.pipeline._report)."""

from __future__ import annotations

import numpy as np
import polars as pl

from kvklink.disclosure import DisclosurePolicy
from kvklink.pipeline._report import (
    ReportTable,
    _binary_counts,
    _dominated_rows,
    _stat_table,
    render_html,
    render_markdown,
)


def _balance(rows: list[tuple[str, str, str, float, float, int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema=[
            "variable",
            "type",
            "sample",
            "mean_treated",
            "mean_control",
            "n_treated",
            "n_control",
        ],
        orient="row",
    )


def test_rows_with_small_groups_are_suppressed() -> None:
    frame = pl.DataFrame(
        {
            "event_time": [-1, 0, 1],
            "estimate": [0.1, 0.2, 0.3],
            "n_treated": [50, 9, 0],
            "n_control": [40, 40, 40],
        }
    )
    table, published = _stat_table(
        "t",
        "T",
        frame,
        label_columns=["event_time"],
        stat_columns=["estimate"],
        count_columns=["n_treated", "n_control"],
        policy=DisclosurePolicy(min_units=10),
    )
    assert published == [True, False, False]  # zero units count as small for statistics
    assert table.rows[1] == ["0", "✱", "✱", "✱"]
    assert table.rows[0][1] == "0.1000"
    assert "2 row(s)" in table.note


def test_binary_covariate_with_few_units_having_it_is_suppressed() -> None:
    balance = _balance(
        [
            ("starter", "binary", "before", 3 / 100, 0.5, 100, 100),  # 3 treated starters
            ("starter", "binary", "after", 0.5, 0.5, 100, 100),
            ("age", "continuous", "before", 3.0, 0.01, 100, 100),
        ]
    )
    table, published = _stat_table(
        "b",
        "B",
        balance,
        label_columns=["variable", "sample"],
        stat_columns=["mean_treated", "mean_control"],
        count_columns=["n_treated", "n_control"],
        policy=DisclosurePolicy(min_units=10),
        extra_counts=_binary_counts(balance),
    )
    assert published == [False, True, True]
    assert table.rows[0][2] == "✱"


def test_dominated_mean_is_suppressed() -> None:
    rng = np.random.default_rng(0)
    n = 200
    turnover = rng.uniform(1.0, 2.0, n)
    turnover[0] = 1e6  # one treated firm dominates the treated mean
    units = pl.DataFrame(
        {
            "treat": [True] * 100 + [False] * 100,
            "weights": np.ones(n),
            "turnover_pre": turnover,
            "trend": rng.normal(size=n),  # negative values: rule not applicable
        }
    )
    balance = _balance(
        [
            ("turnover_pre", "continuous", "before", 1e4, 1.5, 100, 100),
            ("trend", "continuous", "before", 0.0, 0.0, 100, 100),
            ("distance", "continuous", "before", 0.5, 0.4, 100, 100),
        ]
    )
    assert _dominated_rows(balance, units, DisclosurePolicy()) == [True, False, False]
    units2 = units.with_columns(pl.Series("turnover_pre", np.abs(turnover - 0) % 3 + 1))
    assert _dominated_rows(balance, units2, DisclosurePolicy()) == [False, False, False]


def test_renderers_mark_suppressed_cells_and_embed_images() -> None:
    from kvklink.pipeline._report import _Img, _Section

    table = ReportTable("x", "X", ["a", "n"], [["one", "✱"], ["two", "12"]], ["n"], "note")
    section = _Section("S", ["text", table, _Img("p.png", b"\x89PNG", "plot")])
    html = render_html("Title", [section])
    assert '<td class="suppressed">✱</td>' in html
    assert "data:image/png;base64,iVBORw" in html
    md = render_markdown("Title", [section])
    assert "| one | ✱ |" in md
    assert "![plot](p.png)" in md
