"""Panel effects: event-time difference-in-differences and staggered group-time ATTs.

Two estimators for outcome panels (one row per unit and year, long format, pandas or polars):

:func:`event_study` — **DiD in event time on a matched sample.** Each treated unit has an index
year; its matched controls get the same index year (``index_time`` column, the same value for
every member of a matched set). For every event time ``e`` in the window (default −3…+3) and
the reference period ``r`` (default −1) the estimate is the weighted 2×2 DiD

    β_e = Σ_T w (Y_{i,idx+e} − Y_{i,idx+r}) / Σ_T w − Σ_C w (Y_{i,idx+e} − Y_{i,idx+r}) / Σ_C w,

computed as the WLS coefficient of the long difference on treatment (identical to a regression
with unit fixed effects on the two periods), with standard errors clustered by matched set (the
``cluster`` column; by unit when none is given; ``vcovCL`` HC1 algebra of
:mod:`kvklink.cohort._effects`). Units lacking either year drop out of that event time only
(``n_treated``/``n_control`` per row report who is used). Pre-period estimates (``e < r``) are
placebo tests for parallel trends. ``overall`` is the same DiD on each unit's mean long
difference over the post periods ``0…max``. A control matched to treated units with different
index years (matching with replacement) appears once per matched set: give a ``cluster`` column
and per-set ``weights`` so the rows are told apart.

:func:`group_time_att` — **Callaway & Sant'Anna (2021), unconditional.** Units are grouped by
first-treatment period ``g`` (``group``; 0 or null = never treated). For every group and period

    ATT(g, t) = E[Y_t − Y_b | G = g] − E[Y_t − Y_b | control],

with base period ``b = g − 1 − anticipation`` for post periods and, for pre periods, ``b = t − 1``
(``base_period="varying"``, the default of R's ``did``) or ``b = g − 1 − anticipation``
(``"universal"``, where ATT(g, g−1) ≡ 0 is the reference and is not listed). Controls are the
never-treated (``control="never"``) or the not-yet-treated units (``"notyet"``: never treated or
first treated after ``max(t, b) + anticipation``, excluding group ``g``). Optional unit weights
(e.g. matching or sampling weights) weight every mean. As in ``did``: the panel is balanced first
(units missing any period are dropped and counted), units treated in the first period are
dropped (no pre-period), and units first treated after the last period count as never treated.

Inference uses the **influence functions** of the estimators: for ATT(g, t) with normalised
weights ``ψ_i = w_i D_i (ΔY_i − m_D)/mean(w D) − w_i C_i (ΔY_i − m_C)/mean(w C)`` and
``SE = sqrt(Σ ψ_i²) / n``; aggregations (``dynamic`` by event time, ``group``, ``simple``) use the
weighted sum of the cell influence functions plus the term for the estimated group-share weights,
following the formulas of ``did::aggte`` (R's ``did`` is not installed here, so the tests check
closed-form 2×2 cases and simulations with known effects instead of a live comparison).
With ``cluster`` the influence functions are summed within clusters
first. Confidence intervals are pointwise normal (``did`` with ``bstrap = FALSE``); for the
aggregations, ``uniform=True`` gives a simultaneous band from a seeded Rademacher multiplier
bootstrap of the influence functions (``did``'s ``cband = TRUE``).

Why not a two-way fixed-effects regression: with staggered adoption and effects that change with
time since treatment, the TWFE coefficient weights already-treated units as controls and can be far
from any average of the true effects (even of the wrong sign); the tests include such a scenario,
where TWFE is biased and the group-time aggregation is not.

Examples
--------
>>> import polars as pl
>>> from kvklink.cohort._panel import group_time_att
>>> panel = pl.DataFrame({
...     "unit": [1, 1, 2, 2, 3, 3, 4, 4], "year": [2020, 2021] * 4,
...     "y": [1.0, 4.0, 2.0, 5.0, 1.0, 2.0, 3.0, 4.0], "g": [2021, 2021, 2021, 2021, 0, 0, 0, 0]})
>>> res = group_time_att(panel, unit="unit", time="year", outcome="y", group="g")
>>> res.to_frame().select("group", "time", "estimate").row(0)
(2021, 2021, 2.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import stats

from kvklink.cohort._effects import wls_sandwich
from kvklink.errors import InputError, SchemaError
from kvklink.frames import require_columns, to_polars

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["EventStudyResult", "GroupTimeResult", "event_study", "group_time_att"]

FloatArray: TypeAlias = npt.NDArray[np.float64]
Aggregation: TypeAlias = Literal["dynamic", "group", "simple"]


def _z(level: float) -> float:
    return float(stats.norm.ppf((1.0 + level) / 2.0))


def _check_level(level: float, where: str) -> None:
    if not 0.0 < level < 1.0:
        msg = f"The 'level' parameter of {where} must be a float in (0, 1). Got {level!r} instead."
        raise InputError(msg)


@dataclass(frozen=True, repr=False, eq=False)
class EventStudyResult:
    """Effects by event time (or by group), with an overall effect.

    Attributes
    ----------
    kind : str
        ``"event_study"`` (matched DiD), ``"dynamic"``, ``"group"`` or ``"simple"``
        (aggregations of group-time ATTs).
    table : polars.DataFrame
        One row per event time (column ``event_time``) or group (column ``group``) with
        ``estimate``, ``se``, ``ci_low``, ``ci_high`` and unit counts; empty for ``simple``.
    overall : dict of str to float
        ``estimate``, ``se``, ``ci_low``, ``ci_high`` of the overall effect.
    reference : int or None
        The reference event time (drawn at 0 in plots), if any.
    level : float
        Confidence level of the intervals.
    critical_value : float or None
        The multiplier-bootstrap critical value of a uniform (simultaneous) band, when the
        intervals are uniform; ``None`` for pointwise normal intervals.
    """

    kind: str
    table: pl.DataFrame
    overall: dict[str, float]
    reference: int | None
    level: float
    title: str
    critical_value: float | None = None

    @property
    def axis_name(self) -> str:
        """Name of the first column of :attr:`table` (``event_time`` or ``group``)."""
        return "group" if self.kind == "group" else "event_time"

    def to_frame(self, kind: Literal["polars", "pandas"] = "polars") -> Any:
        """The per-event-time (or per-group) table; ``kind="pandas"`` for pandas."""
        return self.table.to_pandas() if kind == "pandas" else self.table

    def plot(self, ax: Any = None, *, title: str | None = None) -> Figure:
        """Event-study plot: estimates with confidence intervals (see ``event_study_plot``)."""
        from kvklink.cohort._plots import event_study_plot

        return event_study_plot(self, ax=ax, title=title)

    def __repr__(self) -> str:
        o = self.overall
        pct = f"{100 * self.level:g}%"
        lines = [
            f"{self.title}",
            f"Overall: {o['estimate']:.6g} (SE {o['se']:.6g}), "
            f"{pct} CI [{o['ci_low']:.6g}, {o['ci_high']:.6g}]",
        ]
        if self.table.height:
            lines.append("")
            lines.append(
                f"{self.axis_name:>10}  {'estimate':>10}  {'se':>10}  {'ci_low':>10}  "
                f"{'ci_high':>10}"
            )
            for row in self.table.iter_rows(named=True):
                vals = [row["estimate"], row["se"], row["ci_low"], row["ci_high"]]
                cells = "  ".join("         ." if v is None else f"{v:10.4g}" for v in vals)
                lines.append(f"{row[self.axis_name]:>10}  {cells}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(repr(self))}</pre>"


# --------------------------------------------------------------------------------------------
# Event-time DiD on a matched sample
# --------------------------------------------------------------------------------------------


def _did_row(
    dy: FloatArray, t: FloatArray, w: FloatArray, cl: npt.NDArray[np.int64], z: float
) -> dict[str, Any]:
    n_t = int(np.sum((t == 1) & (w > 0)))
    n_c = int(np.sum((t == 0) & (w > 0)))
    row: dict[str, Any] = {
        "estimate": None,
        "se": None,
        "ci_low": None,
        "ci_high": None,
        "n_treated": n_t,
        "n_control": n_c,
        "n_clusters": 0,
    }
    keep = w > 0
    if n_t == 0 or n_c == 0 or n_t + n_c < 3:
        return row
    if np.all(np.abs(dy[keep]) < 1e-12):
        # identically zero by construction (e.g. a detrended pre-period): no information
        row["estimate"] = 0.0
        return row
    fit = wls_sandwich(dy[keep], np.column_stack([np.ones(int(keep.sum())), t[keep]]), w[keep])
    v, g = fit.vcov_cluster(cl[keep])
    est = float(fit.coef[1])
    se = math.sqrt(v[1, 1]) if g > 1 else math.nan
    row.update(
        estimate=est,
        se=se if math.isfinite(se) else None,
        ci_low=est - z * se if math.isfinite(se) else None,
        ci_high=est + z * se if math.isfinite(se) else None,
        n_clusters=g,
    )
    return row


def event_study(
    panel: Any,
    *,
    unit: str = "unit",
    time: str = "year",
    outcome: str = "outcome",
    treat: str = "treat",
    index_time: str = "index_year",
    weights: str | None = None,
    cluster: str | None = None,
    window: tuple[int, int] = (-3, 3),
    reference: int = -1,
    trend: Literal["none", "linear"] = "none",
    level: float = 0.95,
) -> EventStudyResult:
    """Difference-in-differences by event time around each matched set's index year.

    Parameters
    ----------
    panel : pandas or polars DataFrame
        Long panel of the matched units: one row per unit (per matched set) and period.
    unit, time, outcome, treat, index_time : str
        Column names: unit id, period (integer, e.g. year), outcome, treatment indicator (0/1,
        constant per unit), and the index period of the unit's matched set.
    weights : str, optional
        Matching weights column (constant per unit and set); default all 1.
    cluster : str, optional
        Matched-set column (subclass) for cluster-robust SEs; default clusters by unit.
    window : (int, int)
        First and last event time, default (−3, 3).
    reference : int
        Reference event time, default −1 (the year before the index year).
    trend : {"none", "linear"}
        ``"linear"`` removes each unit's own linear trend, fitted by least squares on its
        pre-period rows (event times ``first … reference``, at least two), before differencing:
        DiD with unit-specific trends, for when treated units were selected on persistent growth
        that matching on noisy pre-period trends does not fully balance. Pre-period estimates
        then test departures from linearity only. Units with fewer than two pre-period
        observations are dropped.
    level : float
        Confidence level (normal intervals), default 0.95.

    Returns
    -------
    EventStudyResult
        ``kind="event_study"``; ``overall`` is the DiD of the mean post-period (0…max) outcome.

    Examples
    --------
    >>> import polars as pl
    >>> p = pl.DataFrame({"unit": [1, 1, 2, 2, 3, 3], "year": [2019, 2020] * 3,
    ...     "outcome": [1.0, 3, 1, 1.5, 2, 2], "treat": [1, 1, 0, 0, 0, 0],
    ...     "index_year": [2020] * 6})
    >>> res = event_study(p, window=(0, 0))
    >>> [round(v, 6) for v in res.to_frame()["estimate"]]
    [1.75]
    """
    frame, _ = to_polars(panel, argument="panel")
    cols = [unit, time, outcome, treat, index_time]
    cols += [c for c in (weights, cluster) if c is not None]
    require_columns(frame, cols, argument="panel")
    _check_level(level, "event_study")
    if trend not in ("none", "linear"):
        msg = (
            f"The 'trend' parameter of event_study must be 'none' or 'linear'. Got {trend!r} "
            "instead."
        )
        raise InputError(msg)
    lo, hi = int(window[0]), int(window[1])
    if lo > hi:
        msg = (
            "The 'window' parameter of event_study must be (first, last) with first <= last. "
            f"Got {window!r} instead."
        )
        raise InputError(msg)
    key = [unit, index_time] + ([cluster] if cluster is not None else [])
    df = frame.select(
        *[pl.col(c) for c in key],
        (pl.col(time).cast(pl.Int64) - pl.col(index_time).cast(pl.Int64)).alias("_e"),
        pl.col(outcome).cast(pl.Float64).alias("_y"),
        pl.col(treat).cast(pl.Float64).alias("_t"),
        (pl.col(weights).cast(pl.Float64) if weights is not None else pl.lit(1.0)).alias("_w"),
    ).filter(((pl.col("_e") >= lo) & (pl.col("_e") <= hi)) | (pl.col("_e") == reference))
    if df.height == 0:
        msg = (
            f"No rows of the 'panel' fall in the event window {window} around {index_time!r}. "
            "Hint: check the index year column and the time column."
        )
        raise SchemaError(msg)
    bad_t = df.filter(~pl.col("_t").is_in([0.0, 1.0])).height
    if bad_t:
        msg = f"The {treat!r} column must hold 0/1; {bad_t} row(s) do not. Hint: recode it."
        raise SchemaError(msg)
    per_key = df.group_by(key).agg(
        pl.col("_t").n_unique().alias("nt"),
        pl.col("_w").n_unique().alias("nw"),
        pl.col("_e").n_unique().alias("ne"),
        pl.len().alias("n"),
    )
    if per_key.filter(pl.col("nt") > 1).height:
        msg = (
            f"The {treat!r} column varies within a unit (and matched set). Hint: treatment must "
            "be constant per unit."
        )
        raise SchemaError(msg)
    if per_key.filter(pl.col("nw") > 1).height:
        msg = (
            f"The {weights!r} column varies within a unit (and matched set). Hint: give one "
            "weight per unit and set."
        )
        raise SchemaError(msg)
    dup = per_key.filter(pl.col("ne") < pl.col("n")).height
    if dup:
        msg = (
            f"{dup} unit(s) have more than one row for the same period. Hint: a control matched "
            "to several treated units needs a 'cluster' (matched set) column to tell its rows "
            "apart."
        )
        raise SchemaError(msg)
    if trend == "linear":
        pre = df.filter(
            (pl.col("_e") <= reference) & pl.col("_y").is_not_null() & pl.col("_y").is_not_nan()
        )
        ec = pl.col("_e").cast(pl.Float64) - pl.col("_e").cast(pl.Float64).mean()
        slopes = (
            pre.group_by(key)
            .agg(
                (ec * (pl.col("_y") - pl.col("_y").mean())).sum().alias("_sxy"),
                (ec * ec).sum().alias("_sxx"),
            )
            .filter(pl.col("_sxx") > 0)
            .select(*key, (pl.col("_sxy") / pl.col("_sxx")).alias("_slope"))
        )
        df = df.join(slopes, on=key, how="inner").with_columns(
            pl.col("_y") - pl.col("_slope") * (pl.col("_e") - reference).cast(pl.Float64)
        )
    refs = df.filter(pl.col("_e") == reference).select(*key, pl.col("_y").alias("_yref"))
    diffs = (
        df.filter(pl.col("_e") != reference)
        .join(refs, on=key, how="inner")
        .with_columns((pl.col("_y") - pl.col("_yref")).alias("_dy"))
        .filter(pl.col("_dy").is_not_null() & pl.col("_dy").is_not_nan())
        .with_columns(pl.struct(key).rank("dense").cast(pl.Int64).alias("_k"))
    )
    if cluster is not None:
        diffs = diffs.with_columns(pl.col(cluster).rank("dense").cast(pl.Int64).alias("_cl"))
    else:
        diffs = diffs.with_columns(pl.col("_k").alias("_cl"))
    z = _z(level)
    rows = []
    for e in range(lo, hi + 1):
        if e == reference:
            continue
        sub = diffs.filter(pl.col("_e") == e)
        r = _did_row(
            sub["_dy"].to_numpy().astype(np.float64),
            sub["_t"].to_numpy().astype(np.float64),
            sub["_w"].to_numpy().astype(np.float64),
            sub["_cl"].to_numpy().astype(np.int64),
            z,
        )
        rows.append({"event_time": e, **r})
    table = pl.DataFrame(
        rows,
        schema={
            "event_time": pl.Int64,
            "estimate": pl.Float64,
            "se": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "n_treated": pl.Int64,
            "n_control": pl.Int64,
            "n_clusters": pl.Int64,
        },
    )
    post = (
        diffs.filter(pl.col("_e") >= 0)
        .group_by("_k")
        .agg(
            pl.col("_dy").mean(), pl.col("_t").first(), pl.col("_w").first(), pl.col("_cl").first()
        )
        .sort("_k")
    )
    o = _did_row(
        post["_dy"].to_numpy().astype(np.float64),
        post["_t"].to_numpy().astype(np.float64),
        post["_w"].to_numpy().astype(np.float64),
        post["_cl"].to_numpy().astype(np.int64),
        z,
    )
    overall = {
        k: (math.nan if o[k] is None else float(o[k]))
        for k in ("estimate", "se", "ci_low", "ci_high")
    }
    return EventStudyResult(
        kind="event_study",
        table=table,
        overall=overall,
        reference=reference,
        level=level,
        title=(
            f"Event-time DiD on the matched sample (reference e = {reference}"
            + (", unit-specific linear trends removed)" if trend == "linear" else ")")
        ),
    )


# --------------------------------------------------------------------------------------------
# Callaway & Sant'Anna group-time ATTs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class GroupTimeResult:
    """Group-time average treatment effects ATT(g, t) with their influence functions.

    Attributes
    ----------
    table : polars.DataFrame
        ``group``, ``time``, ``event_time``, ``base_time``, ``estimate``, ``se``, ``ci_low``,
        ``ci_high``, ``n_treated``, ``n_control``.
    control : {"never", "notyet"}
    base_period : {"varying", "universal"}
    n_units : int
        Units used (after balancing the panel).
    n_dropped : dict of str to int
        Units dropped and why (``unbalanced``, ``treated_in_first_period``).
    level : float
    """

    table: pl.DataFrame
    control: str
    base_period: str
    n_units: int
    n_dropped: dict[str, int]
    level: float
    _influence: FloatArray
    _groups: FloatArray
    _unit_group: FloatArray
    _unit_weight: FloatArray
    _cluster: npt.NDArray[np.int64] | None

    def to_frame(self, kind: Literal["polars", "pandas"] = "polars") -> Any:
        """The ATT(g, t) table; ``kind="pandas"`` for pandas."""
        return self.table.to_pandas() if kind == "pandas" else self.table

    def _se(self, inf: FloatArray) -> float:
        n = self.n_units
        if self._cluster is not None:
            g = int(self._cluster.max()) + 1
            summed = np.zeros(g)
            np.add.at(summed, self._cluster, inf)
            return math.sqrt(float(np.dot(summed, summed))) / n
        return math.sqrt(float(np.dot(inf, inf))) / n

    def _combine(self, cells: npt.NDArray[np.int64], att: FloatArray) -> tuple[float, FloatArray]:
        """Share-weighted average of cells (weights ∝ group shares) with its influence function."""
        groups = self.table["group"].to_numpy()[cells].astype(np.float64)
        w = self._unit_weight
        member = (self._unit_group[:, None] == groups[None, :]).astype(np.float64) * w[:, None]
        pg = member.mean(axis=0)
        s = float(pg.sum())
        wts = pg / s
        est = float(np.dot(wts, att))
        dev = member - pg[None, :]
        if1 = dev / s
        if2 = dev.sum(axis=1)[:, None] * (pg / s**2)[None, :]
        inf = self._influence[:, cells] @ wts + (if1 - if2) @ att
        return est, inf

    def aggregate(
        self,
        kind: Aggregation = "dynamic",
        *,
        min_e: int | None = None,
        max_e: int | None = None,
        uniform: bool = False,
        n_boot: int = 999,
        random_state: int | np.random.Generator | None = None,
    ) -> EventStudyResult:
        """Aggregate ATT(g, t) as R's ``did::aggte``.

        ``"dynamic"``: by event time ``e = t − g`` (group-share weights), overall = mean of the
        post-treatment ``e ≥ 0``; ``"group"``: per group the mean over its post periods, overall =
        group-share weighted; ``"simple"``: group-share weighted mean of all post cells.
        ``min_e``/``max_e`` restrict event times.

        ``uniform=True`` replaces the pointwise intervals of the rows by a simultaneous band
        (``did``'s ``cband``): the critical value is the ``level`` quantile of
        ``max_e |b_e| / se_e`` over ``n_boot`` multiplier-bootstrap draws
        ``b = Σ_i v_i ψ_i / n`` with Rademacher multipliers ``v`` (per cluster when clustered),
        seeded by ``random_state``. Standard errors stay the analytic ones.
        """
        if kind not in ("dynamic", "group", "simple"):
            msg = (
                "The 'kind' parameter of aggregate must be 'dynamic', 'group' or 'simple'. Got "
                f"{kind!r} instead."
            )
            raise InputError(msg)
        tab = self.table
        est_all = tab["estimate"].to_numpy().astype(np.float64)
        e_all = tab["event_time"].to_numpy()
        n_treated_all = tab["n_treated"].to_numpy()
        valid = np.isfinite(est_all)
        if min_e is not None:
            valid &= e_all >= min_e
        if max_e is not None:
            valid &= e_all <= max_e
        z = _z(self.level)

        def summarise(est: float, inf: FloatArray) -> dict[str, float]:
            se = self._se(inf)
            return {"estimate": est, "se": se, "ci_low": est - z * se, "ci_high": est + z * se}

        rows: list[dict[str, Any]] = []
        row_infs: list[FloatArray] = []
        post = valid & (e_all >= 0)
        if kind == "dynamic":
            infs = []
            for e in np.unique(e_all[valid]):
                cells = np.flatnonzero(valid & (e_all == e))
                est, inf = self._combine(cells, est_all[cells])
                rows.append(
                    {
                        "event_time": int(e),
                        **summarise(est, inf),
                        "n_cells": int(cells.size),
                        "n_treated": int(n_treated_all[cells].sum()),
                    }
                )
                row_infs.append(inf)
                if e >= 0:
                    infs.append((est, inf))
            if infs:
                o_est = float(np.mean([a for a, _ in infs]))
                o_inf = np.mean(np.column_stack([b for _, b in infs]), axis=1)
                overall = summarise(o_est, o_inf)
            else:
                overall = dict.fromkeys(("estimate", "se", "ci_low", "ci_high"), math.nan)
            title = f"Dynamic (event-time) ATT, {self.control}-treated controls"
        elif kind == "group":
            g_all = tab["group"].to_numpy()
            theta, theta_inf, glist = [], [], []
            for g in np.unique(g_all[post]):
                cells = np.flatnonzero(post & (g_all == g))
                est = float(est_all[cells].mean())
                inf = self._influence[:, cells].mean(axis=1)
                rows.append(
                    {
                        "group": int(g),
                        **summarise(est, inf),
                        "n_cells": int(cells.size),
                        "n_treated": int(n_treated_all[cells[0]]),
                    }
                )
                theta.append(est)
                theta_inf.append(inf)
                row_infs.append(inf)
                glist.append(g)
            if glist:
                # share-weighted mean over groups, with the weight-estimation term
                garr = np.asarray(glist, dtype=np.float64)
                member = (self._unit_group[:, None] == garr[None, :]) * self._unit_weight[:, None]
                pg = member.mean(axis=0)
                s = float(pg.sum())
                wts = pg / s
                th = np.asarray(theta)
                dev = member - pg[None, :]
                wif = dev / s - dev.sum(axis=1)[:, None] * (pg / s**2)[None, :]
                o_inf = np.column_stack(theta_inf) @ wts + wif @ th
                overall = summarise(float(np.dot(wts, th)), o_inf)
            else:
                overall = dict.fromkeys(("estimate", "se", "ci_low", "ci_high"), math.nan)
            title = f"ATT by group (first-treatment period), {self.control}-treated controls"
        else:
            cells = np.flatnonzero(post)
            if cells.size:
                est, inf = self._combine(cells, est_all[cells])
                overall = summarise(est, inf)
            else:
                overall = dict.fromkeys(("estimate", "se", "ci_low", "ci_high"), math.nan)
            title = f"Simple average ATT over post-treatment cells, {self.control}-treated controls"
        crit: float | None = None
        if uniform and rows:
            crit = self._uniform_critical_value(
                np.column_stack(row_infs),
                np.array([r["se"] for r in rows]),
                n_boot=n_boot,
                random_state=random_state,
            )
            for r in rows:
                r["ci_low"] = r["estimate"] - crit * r["se"]
                r["ci_high"] = r["estimate"] + crit * r["se"]
        axis = "group" if kind == "group" else "event_time"
        table = pl.DataFrame(
            rows,
            schema={
                axis: pl.Int64,
                "estimate": pl.Float64,
                "se": pl.Float64,
                "ci_low": pl.Float64,
                "ci_high": pl.Float64,
                "n_cells": pl.Int64,
                "n_treated": pl.Int64,
            },
        )
        ref = -1 if (kind == "dynamic" and self.base_period == "universal") else None
        return EventStudyResult(
            kind=kind,
            table=table,
            overall=overall,
            reference=ref,
            level=self.level,
            title=title + (" (uniform band)" if crit is not None else ""),
            critical_value=crit,
        )

    def _uniform_critical_value(
        self,
        infs: FloatArray,
        se: FloatArray,
        *,
        n_boot: int,
        random_state: int | np.random.Generator | None,
    ) -> float:
        if n_boot < 1:
            msg = (
                f"The 'n_boot' parameter of aggregate must be an int >= 1. Got {n_boot!r} instead."
            )
            raise InputError(msg)
        rng = np.random.default_rng(random_state)
        psi = infs
        if self._cluster is not None:
            psi = np.zeros((int(self._cluster.max()) + 1, infs.shape[1]))
            np.add.at(psi, self._cluster, infs)
        keep = se > 0
        psi = psi[:, keep] / se[keep][None, :]
        m = psi.shape[0]
        chunk = max(1, int(4_000_000 // max(m, 1)))
        stats_max = np.empty(n_boot)
        done = 0
        while done < n_boot:
            b = min(chunk, n_boot - done)
            v = rng.integers(0, 2, size=(b, m), dtype=np.int8).astype(np.float64) * 2.0 - 1.0
            stats_max[done : done + b] = np.max(np.abs(v @ psi), axis=1) / self.n_units
            done += b
        return float(np.quantile(stats_max, self.level))

    def pretrend_test(self) -> dict[str, float]:
        """Joint Wald test that every pre-treatment ATT(g, t) is zero (parallel pre-trends).

        Uses the joint covariance of the cell estimates from their influence functions
        (clustered when the result was). Returns ``statistic`` (chi-squared), ``df`` and
        ``p_value``; NaN when there is no pre-treatment cell.
        """
        tab = self.table
        est = tab["estimate"].to_numpy().astype(np.float64)
        cells = np.flatnonzero((tab["event_time"].to_numpy() < 0) & np.isfinite(est))
        if cells.size == 0:
            return {"statistic": math.nan, "df": 0.0, "p_value": math.nan}
        inf = self._influence[:, cells]
        if self._cluster is not None:
            summed = np.zeros((int(self._cluster.max()) + 1, cells.size))
            np.add.at(summed, self._cluster, inf)
            inf = summed
        vcov = inf.T @ inf / self.n_units**2
        theta = est[cells]
        stat = float(theta @ np.linalg.lstsq(vcov, theta, rcond=None)[0])
        df = float(np.linalg.matrix_rank(vcov))
        return {"statistic": stat, "df": df, "p_value": float(stats.chi2.sf(stat, df))}

    def plot(self, ax: Any = None) -> Figure:
        """Event-study plot of the dynamic aggregation."""
        return self.aggregate("dynamic").plot(ax=ax)

    def __repr__(self) -> str:
        dyn = self.aggregate("simple").overall
        pct = f"{100 * self.level:g}%"
        return (
            f"GroupTimeResult({self.table.height} group-time cells, {self.n_units} units, "
            f"control={self.control!r}, base_period={self.base_period!r}; simple ATT "
            f"{dyn['estimate']:.6g} (SE {dyn['se']:.6g}, {pct} CI [{dyn['ci_low']:.6g}, "
            f"{dyn['ci_high']:.6g}]))"
        )

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(repr(self))}</pre>"


def group_time_att(
    panel: Any,
    *,
    unit: str = "unit",
    time: str = "year",
    outcome: str = "outcome",
    group: str = "group",
    control: Literal["never", "notyet"] = "never",
    base_period: Literal["varying", "universal"] = "varying",
    anticipation: int = 0,
    weights: str | None = None,
    cluster: str | None = None,
    level: float = 0.95,
) -> GroupTimeResult:
    """Callaway & Sant'Anna group-time ATTs for staggered adoption (no covariates).

    Parameters
    ----------
    panel : pandas or polars DataFrame
        Long panel: one row per unit and period.
    unit, time, outcome : str
        Column names of the unit id, the (integer) period and the outcome.
    group : str
        First-treatment period of the unit; 0 or null for never treated.
    control : {"never", "notyet"}
        Never-treated or not-yet-treated comparison units.
    base_period : {"varying", "universal"}
        Pre-period comparisons against ``t − 1`` (default, as R's ``did``) or against ``g − 1``.
    anticipation : int
        Periods of anticipation (shifts the base period back), default 0.
    weights : str, optional
        Unit-level weights (constant per unit), normalised to mean 1.
    cluster : str, optional
        Cluster column (constant per unit) for the influence-function SEs; default units.
    level : float
        Confidence level of the pointwise normal intervals.

    Returns
    -------
    GroupTimeResult
        Call :meth:`GroupTimeResult.aggregate` for event-time, group or overall effects.

    Notes
    -----
    The result keeps the influence function of every cell (``n_units × n_cells`` floats, e.g.
    80 MB for 100k units and 100 cells) so that aggregations and bands need no refit.
    """
    frame, _ = to_polars(panel, argument="panel")
    cols = [unit, time, outcome, group] + [c for c in (weights, cluster) if c is not None]
    require_columns(frame, cols, argument="panel")
    _check_level(level, "group_time_att")
    if control not in ("never", "notyet"):
        msg = (
            "The 'control' parameter of group_time_att must be 'never' or 'notyet'. Got "
            f"{control!r} instead."
        )
        raise InputError(msg)
    if base_period not in ("varying", "universal"):
        msg = (
            "The 'base_period' parameter of group_time_att must be 'varying' or 'universal'. Got "
            f"{base_period!r} instead."
        )
        raise InputError(msg)
    if anticipation < 0:
        msg = (
            "The 'anticipation' parameter of group_time_att must be an int >= 0. Got "
            f"{anticipation!r} instead."
        )
        raise InputError(msg)
    df = frame.select(
        pl.col(unit).alias("_u"),
        pl.col(time).cast(pl.Int64).alias("_t"),
        pl.col(outcome).cast(pl.Float64).alias("_y"),
        pl.col(group).cast(pl.Int64).fill_null(0).alias("_g"),
        (pl.col(weights).cast(pl.Float64) if weights is not None else pl.lit(1.0)).alias("_w"),
        (pl.col(cluster) if cluster is not None else pl.col(unit)).alias("_c"),
    ).filter(pl.col("_y").is_not_null() & pl.col("_y").is_not_nan())
    if df.select(pl.struct("_u", "_t").is_duplicated().any()).item():
        msg = (
            "The 'panel' has more than one row for some unit and period. Hint: aggregate to one "
            "row per unit-period."
        )
        raise SchemaError(msg)
    per_unit = df.group_by("_u").agg(
        pl.col("_g").n_unique().alias("ng"),
        pl.col("_w").n_unique().alias("nw"),
        pl.col("_c").n_unique().alias("nc"),
    )
    for colname, label in (("ng", group), ("nw", weights), ("nc", cluster)):
        bad = per_unit.filter(pl.col(colname) > 1).height
        if bad:
            msg = (
                f"The {label!r} column varies within {bad} unit(s). Hint: it must be constant per "
                "unit."
            )
            raise SchemaError(msg)
    periods = np.sort(df["_t"].unique().to_numpy())
    n_periods = periods.shape[0]
    if n_periods < 2:
        msg = "Group-time ATTs need at least two periods in the panel. Hint: check the time column."
        raise SchemaError(msg)
    counts = df.group_by("_u").agg(pl.len().alias("n"))
    complete = counts.filter(pl.col("n") == n_periods).select("_u")
    n_unbalanced = counts.height - complete.height
    df = df.join(complete, on="_u", how="semi")
    last = int(periods[-1])
    first = int(periods[0])
    df = df.with_columns(pl.when(pl.col("_g") > last).then(0).otherwise(pl.col("_g")).alias("_g"))
    early = df.filter((pl.col("_g") > 0) & (pl.col("_g") <= first + anticipation))["_u"].n_unique()
    df = df.filter(~((pl.col("_g") > 0) & (pl.col("_g") <= first + anticipation)))
    units = df.select("_u", "_g", "_w", "_c").unique(subset="_u", keep="first").sort("_u")
    n = units.height
    if n == 0:
        msg = "No unit remains after balancing the panel. Hint: every unit needs every period."
        raise SchemaError(msg)
    uidx = {k: i for i, k in enumerate(units["_u"].to_list())}
    df = df.with_columns(
        pl.col("_u").replace_strict(uidx, return_dtype=pl.Int64).alias("_ui"),
        pl.col("_t")
        .replace_strict({int(p): i for i, p in enumerate(periods)}, return_dtype=pl.Int64)
        .alias("_ti"),
    )
    Y = np.full((n, n_periods), np.nan)
    Y[df["_ui"].to_numpy(), df["_ti"].to_numpy()] = df["_y"].to_numpy()
    G = units["_g"].to_numpy().astype(np.float64)
    w = units["_w"].to_numpy().astype(np.float64)
    if np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        msg = (
            f"The {weights!r} column must be finite, non-negative and not all zero. Hint: check "
            "the weights."
        )
        raise SchemaError(msg)
    w = w / w.mean()
    cl = None
    if cluster is not None:
        cl = units["_c"].rank("dense").cast(pl.Int64).to_numpy() - 1
    if not np.any(G == 0) and control == "never":
        msg = (
            "control='never' needs never-treated units (group 0 or null); none remain. Hint: use "
            "control='notyet'."
        )
        raise SchemaError(msg)
    glist = np.sort(np.unique(G[G > 0]))
    if glist.size == 0:
        msg = (
            "No treated group remains (all units never treated or treated in the first period). "
            "Hint: check the group column."
        )
        raise SchemaError(msg)
    z = _z(level)
    rows: list[dict[str, Any]] = []
    infs: list[FloatArray] = []
    pos = {int(p): i for i, p in enumerate(periods)}
    for g in glist:
        gi = int(g)
        base_post = gi - 1 - anticipation
        if base_post not in pos:
            continue
        treated = g == G
        for ti, tt in enumerate(periods):
            t_int = int(tt)
            if t_int >= gi - anticipation:
                b = base_post
            elif base_period == "varying":
                if ti == 0:
                    continue
                b = int(periods[ti - 1])
            else:
                b = base_post
                if t_int == b:
                    continue
            if control == "never":
                ctrl = G == 0
            else:
                ctrl = (G == 0) | ((max(t_int, b) + anticipation < G) & (g != G))
            dy = Y[:, ti] - Y[:, pos[b]]
            wd = w * treated
            wc = w * ctrl
            sd, sc = float(wd.mean()), float(wc.mean())
            if sd == 0 or sc == 0:
                continue
            md = float(np.dot(wd, dy)) / float(wd.sum())
            mc = float(np.dot(wc, np.where(ctrl, dy, 0.0))) / float(wc.sum())
            att = md - mc
            inf = wd * np.where(treated, dy - md, 0.0) / sd - wc * np.where(ctrl, dy - mc, 0.0) / sc
            infs.append(inf)
            if cl is not None:
                summed = np.zeros(int(cl.max()) + 1)
                np.add.at(summed, cl, inf)
                se = math.sqrt(float(np.dot(summed, summed))) / n
            else:
                se = math.sqrt(float(np.dot(inf, inf))) / n
            rows.append(
                {
                    "group": gi,
                    "time": t_int,
                    "event_time": t_int - gi,
                    "base_time": b,
                    "estimate": att,
                    "se": se,
                    "ci_low": att - z * se,
                    "ci_high": att + z * se,
                    "n_treated": int(treated.sum()),
                    "n_control": int(ctrl.sum()),
                }
            )
    table = pl.DataFrame(
        rows,
        schema={
            "group": pl.Int64,
            "time": pl.Int64,
            "event_time": pl.Int64,
            "base_time": pl.Int64,
            "estimate": pl.Float64,
            "se": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "n_treated": pl.Int64,
            "n_control": pl.Int64,
        },
    )
    influence = np.column_stack(infs) if infs else np.zeros((n, 0))
    return GroupTimeResult(
        table=table,
        control=control,
        base_period=base_period,
        n_units=n,
        n_dropped={"unbalanced": int(n_unbalanced), "treated_in_first_period": int(early)},
        level=level,
        _influence=influence,
        _groups=glist,
        _unit_group=G,
        _unit_weight=w,
        _cluster=cl,
    )
