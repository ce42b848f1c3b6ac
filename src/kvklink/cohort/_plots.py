"""Diagnostic plots: love plot, propensity overlap, event study.

Every function draws with matplotlib's object API on a new :class:`~matplotlib.figure.Figure`
(no pyplot state, never ``show()``), or on a supplied ``ax``, and returns the figure; it works
under the non-interactive Agg backend.

Examples
--------
>>> import numpy as np
>>> from kvklink.cohort._balance import balance_table
>>> from kvklink.cohort._plots import love_plot
>>> X = np.array([[1.0], [2], [3], [4], [5], [6]]); t = np.array([1, 1, 1, 0, 0, 0])
>>> fig = love_plot(balance_table(X, ["x"], t, np.array([1, 1, 1, 1, 1, 0.0])))
>>> len(fig.axes)
1
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from kvklink.cohort._balance import BalanceTable
    from kvklink.cohort._panel import EventStudyResult

__all__ = ["event_study_plot", "love_plot", "overlap_plot"]


def _figure_and_axes(ax: Any, size: tuple[float, float]) -> tuple[Figure, Any]:
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def love_plot(
    bt: BalanceTable,
    ax: Any = None,
    *,
    absolute: bool = True,
    threshold: float | None = None,
) -> Figure:
    """Standardised mean differences before (hollow) and after (filled) matching.

    Rows are the balance table's variables, top to bottom in table order; a dashed line marks
    the threshold (the table's ``smd_threshold``, 0.1 by default).
    """
    thr = bt.smd_threshold if threshold is None else float(threshold)
    k = len(bt.names)
    fig, ax = _figure_and_axes(ax, (6.0, 1.2 + 0.32 * k))
    ypos = np.arange(k)[::-1]
    before = bt.before["std_mean_diff"]
    if absolute:
        before = np.abs(before)
    ax.scatter(before, ypos, facecolors="none", edgecolors="#555555", label="All", zorder=3)
    if bt.after is not None:
        after = bt.after["std_mean_diff"]
        if absolute:
            after = np.abs(after)
        ax.scatter(after, ypos, color="#1f5fa8", label="Matched", zorder=4)
    ax.axvline(thr, color="#b00020", linestyle="--", linewidth=1)
    if not absolute:
        ax.axvline(-thr, color="#b00020", linestyle="--", linewidth=1)
        ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(ypos, list(bt.names))
    ax.set_xlabel(("Absolute s" if absolute else "S") + "tandardised mean difference")
    ax.set_title("Covariate balance")
    ax.legend(loc="lower right", frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return fig


def overlap_plot(
    distance: npt.ArrayLike,
    treat: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    ax: Any = None,
    *,
    bins: int = 30,
) -> Figure:
    """Histograms of the distance (propensity score) by group, unweighted or weighted."""
    d = np.asarray(distance, dtype=np.float64)
    t = np.asarray(treat).astype(bool)
    w = np.ones(d.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    fig, ax = _figure_and_axes(ax, (6.0, 3.5))
    edges = np.histogram_bin_edges(d, bins=bins)
    ax.hist(
        d[t], bins=edges, weights=w[t], density=True, alpha=0.5, label="Treated", color="#1f5fa8"
    )
    ax.hist(
        d[~t], bins=edges, weights=w[~t], density=True, alpha=0.5, label="Control", color="#888888"
    )
    ax.set_xlabel("Distance")
    ax.set_ylabel("Density")
    ax.set_title("Overlap" + (" (matched, weighted)" if weights is not None else ""))
    ax.legend(frameon=False)
    return fig


def event_study_plot(
    result: EventStudyResult, ax: Any = None, *, title: str | None = None
) -> Figure:
    """Point estimates by event time with confidence intervals and a zero line.

    The reference period is drawn as a hollow point at 0 (when the result has one).
    """
    frame = result.to_frame()
    axis = result.axis_name
    e = frame[axis].to_numpy()
    est = frame["estimate"].to_numpy()
    lo = frame["ci_low"].to_numpy()
    hi = frame["ci_high"].to_numpy()
    fig, ax = _figure_and_axes(ax, (6.0, 3.5))
    ok = np.isfinite(lo) & np.isfinite(hi)
    ax.errorbar(
        e[ok],
        est[ok],
        yerr=np.vstack([est[ok] - lo[ok], hi[ok] - est[ok]]),
        fmt="o",
        color="#1f5fa8",
        capsize=3,
        label=f"Estimate ({100 * result.level:g}% CI)",
    )
    if result.reference is not None:
        ax.scatter(
            [result.reference],
            [0.0],
            facecolors="none",
            edgecolors="#1f5fa8",
            zorder=3,
            label="Reference",
        )
    ax.axhline(0.0, color="black", linewidth=0.8)
    if axis == "event_time":
        ax.axvline(-0.5, color="#888888", linestyle=":", linewidth=1)
        ax.set_xlabel("Event time (periods since index date)")
    else:
        ax.set_xlabel("Group (first-treatment period)")
    ax.set_ylabel("Effect on outcome")
    ax.set_title(title or result.title)
    ax.legend(frameon=False)
    return fig
