"""Plots render under Agg and show the right number of points."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import polars as pl
import pytest
from matplotlib.figure import Figure

from kvklink.cohort._balance import balance_table
from kvklink.cohort._panel import event_study, group_time_att
from kvklink.cohort._plots import event_study_plot, love_plot, overlap_plot


def _bt(matched: bool = True):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    X[:, 3] = rng.random(120) < 0.4
    t = (rng.random(120) < 0.4).astype(int)
    w = (rng.random(120) < 0.7).astype(float) if matched else None
    return balance_table(X, ["a", "b", "c", "d"], t, w, distance=rng.random(120))


def _offsets(fig: Figure) -> list[int]:
    ax = fig.axes[0]
    return [len(c.get_offsets()) for c in ax.collections if hasattr(c, "get_offsets")]


def test_love_plot_has_one_point_per_variable_and_sample() -> None:
    bt = _bt()
    fig = love_plot(bt)
    assert isinstance(fig, Figure)
    assert _offsets(fig) == [5, 5]
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(bt.names)
    # the threshold line sits at 0.1
    assert any(np.allclose(line.get_xdata(), 0.1) for line in ax.get_lines())
    fig.canvas.draw()  # renders under Agg


def test_love_plot_unmatched_signed_and_method() -> None:
    bt = _bt(matched=False)
    fig = love_plot(bt, absolute=False, threshold=0.05)
    assert _offsets(fig) == [5]
    assert isinstance(bt.plot(), Figure)


def test_overlap_plot_renders() -> None:
    rng = np.random.default_rng(1)
    d = rng.random(200)
    t = rng.random(200) < 0.3
    fig = overlap_plot(d, t, weights=np.ones(200))
    assert len(fig.axes[0].patches) == 60
    fig.canvas.draw()


def test_event_study_plot_points() -> None:
    rows = []
    for u in range(40):
        for yr in range(2010, 2020):
            rows.append(
                (
                    u,
                    yr,
                    float(u % 3 + yr - 2010 + (2 if u < 20 and yr >= 2015 else 0)),
                    2015 if u < 20 else 0,
                )
            )
    panel = pl.DataFrame(rows, schema=["unit", "year", "y", "g"], orient="row")
    panel = panel.with_columns(
        (pl.col("y") + pl.Series(np.random.default_rng(2).normal(size=panel.height))).alias("y")
    )
    res = group_time_att(panel, unit="unit", time="year", outcome="y", group="g")
    dyn = res.aggregate("dynamic")
    fig = dyn.plot()
    n = dyn.to_frame().height
    ax = fig.axes[0]
    assert len(ax.get_lines()[0].get_xdata()) == n  # one errorbar point per event time
    fig.canvas.draw()
    assert isinstance(res.plot(), Figure)
    es_panel = panel.with_columns(
        (pl.col("g") > 0).cast(pl.Int64).alias("treat"), pl.lit(2015).alias("index_year")
    ).rename({"y": "outcome"})
    es = event_study(es_panel)
    fig2 = event_study_plot(es)
    ax2 = fig2.axes[0]
    assert len(ax2.get_lines()[0].get_xdata()) == 6
    assert _offsets(fig2)[-1] == 1  # the reference period marker


@pytest.mark.parametrize("kind", ["group", "simple"])
def test_other_aggregations_render(kind: str) -> None:
    rng = np.random.default_rng(3)
    rows = [
        (u, yr, float(rng.normal()), 2014 if u < 10 else (2016 if u < 20 else 0))
        for u in range(40)
        for yr in range(2010, 2020)
    ]
    panel = pl.DataFrame(rows, schema=["unit", "year", "y", "g"], orient="row")
    res = group_time_att(panel, unit="unit", time="year", outcome="y", group="g")
    agg = res.aggregate(kind)  # type: ignore[arg-type]
    assert isinstance(agg.plot(), Figure)
