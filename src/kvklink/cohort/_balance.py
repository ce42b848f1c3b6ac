"""Covariate balance before and after matching, with MatchIt/cobalt definitions.

The engine works on plain numpy arrays (a covariate matrix, a treatment indicator and matching
weights) and knows nothing of data frames or of the matcher that produced the weights, so it can
assess any weighting: kvklink's own matches, weights imported from R, or a user's design.

Definitions (identical to ``summary.matchit(m, un = TRUE)`` in MatchIt 4.7, and to cobalt's
defaults for the ATT):

* **means** are weighted means per group (matching weights after, all-ones before);
* the **standardised mean difference** divides the (weighted) difference in means by a standard
  deviation computed in the FULL, unmatched sample and identical before and after matching: the
  treated group's SD for the ATT, the control group's for the ATC, ``sqrt((s_t² + s_c²) / 2)``
  for the ATE. Continuous SDs use the ``n - 1`` denominator, binary variables (all values 0/1)
  use ``sqrt(p (1 - p))``. A difference in means smaller than ``sqrt(machine eps)`` is reported
  unstandardised (as MatchIt does);
* the **variance ratio** (treated / control, continuous variables only) uses weighted
  "reliability-weight" variances ``Σ w (x - m)² / (1 - Σ w²)`` with ``w`` normalised to sum to 1
  (the formula of R's ``cov.wt``);
* **eCDF mean / max**: the weighted empirical CDFs of both groups are evaluated at every distinct
  value of the covariate (in the whole sample, including units with zero weight) and the mean and
  maximum absolute difference reported; the maximum is the (weighted) Kolmogorov–Smirnov
  statistic. For binary variables both equal the absolute difference in proportions;
* the **standardised pair distance** (after matching only, when matched sets are known) is the
  mean absolute within-pair difference, divided by the same SD as the SMD;
* **effective sample size** ``(Σ w)² / Σ w²`` per group; counts of matched, unmatched and
  discarded units as in MatchIt's sample-size table.

Examples
--------
>>> import numpy as np
>>> from kvklink.cohort._balance import balance_table
>>> X = np.array([[1.0, 0], [2, 1], [3, 0], [4, 1], [5, 1], [6, 0]])
>>> treat = np.array([1, 1, 1, 0, 0, 0])
>>> bt = balance_table(X, ["x", "d"], treat, np.array([1, 1, 1, 1, 0, 1.0]))
>>> round(float(bt.before["std_mean_diff"][0]), 3)
-3.0
>>> bt.counts["matched"]  # (control, treated)
(2, 3)
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl
from numba import njit

from kvklink.errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "BALANCE_STATISTICS",
    "BalanceTable",
    "balance_table",
    "effective_sample_size",
]

FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
Estimand: TypeAlias = Literal["ATT", "ATC", "ATE"]

#: Balance statistics computed per covariate, in column order.
BALANCE_STATISTICS: tuple[str, ...] = (
    "mean_treated",
    "mean_control",
    "std_mean_diff",
    "var_ratio",
    "ecdf_mean",
    "ecdf_max",
    "std_pair_dist",
)

_SQRT_EPS = math.sqrt(float(np.finfo(np.float64).eps))


def effective_sample_size(weights: npt.ArrayLike) -> float:
    """Kish's effective sample size ``(Σ w)² / Σ w²`` (0 for an empty or all-zero vector).

    >>> effective_sample_size([1, 1, 1, 1])
    4.0
    >>> round(effective_sample_size([1, 0.5, 0.5]), 3)
    2.667
    """
    w = np.asarray(weights, dtype=np.float64)
    denom = float(np.sum(w * w))
    if denom == 0.0:
        return 0.0
    return float(np.sum(w)) ** 2 / denom


_CHUNK_ROWS = 1 << 17


def _group_moments(
    X: FloatArray, w: FloatArray, cont: npt.NDArray[np.intp]
) -> tuple[FloatArray, FloatArray, int]:
    """Weighted column means of ``X`` and cov.wt variances of its ``cont`` columns under ``w``.

    Rows with zero weight contribute nothing. Variances use MatchIt's ``wvar`` (the formula of
    R's ``cov.wt``): ``Σ w' (x - m)² / (1 - Σ w'²)`` with ``w' = w / Σ w``. Works over all
    columns at once (one BLAS pass), gathering the positive-weight rows first when they are
    few. Returns the means, the variances and the number of positive-weight rows.
    """
    p = X.shape[1]
    rows = np.flatnonzero(w > 0)
    total = float(w[rows].sum())
    if rows.size == 0 or total == 0.0:
        return np.full(p, np.nan), np.full(cont.size, np.nan), 0
    if rows.size < X.shape[0] // 4:
        xr, wr = X[rows], w[rows]
    else:
        xr, wr = X, w
    means = np.asarray(xr.T @ wr, dtype=np.float64) / total
    var = np.full(cont.size, np.nan)
    if cont.size:
        acc = np.zeros(cont.size)
        mc = means[cont]
        for start in range(0, xr.shape[0], _CHUNK_ROWS):
            block = xr[start : start + _CHUNK_ROWS][:, cont] - mc
            acc += (block * block).T @ wr[start : start + _CHUNK_ROWS]
        num = acc / total
        denom = 1.0 - float(np.dot(wr, wr)) / total**2
        with np.errstate(divide="ignore", invalid="ignore"):
            var = np.where(denom > 0, num / denom, np.where(num == 0, np.nan, np.inf))
    return means, var, int(rows.size)


def _group_cdf(xg: FloatArray, wg: FloatArray, points: FloatArray) -> FloatArray:
    """Weighted eCDF of one group (positive weights only) evaluated at ``points``."""
    if wg.size == 0:
        return np.zeros(points.shape[0])
    if np.all(wg == wg[0]):
        xs = np.sort(xg)
        cum = np.arange(1, xs.size + 1, dtype=np.float64) / xs.size
    else:
        order = np.argsort(xg, kind="stable")
        xs = xg[order]
        cum = np.cumsum(wg[order])
        cum = cum / cum[-1]
    cum0 = np.concatenate([[0.0], cum])
    return np.asarray(cum0[np.searchsorted(xs, points, side="right")], dtype=np.float64)


def _ecdf_before(
    x: FloatArray, treat: BoolArray, sw: FloatArray, uniform: bool
) -> tuple[FloatArray, float, float]:
    """Distinct values of x and the mean/max eCDF difference in the unmatched sample.

    MatchIt evaluates the difference of the two (weighted) eCDFs at every distinct value of the
    covariate over ALL units. With equal sampling weights the control eCDF is obtained from
    the counts of all values minus the treated ones, so only one sort of the column is needed.
    """
    if uniform:
        # one merge walk over the sorted column and the sorted treated values (every treated
        # value is one of the points)
        points, total, top = _ecdf_walk(np.sort(x), np.sort(x[treat]))
        return points, total / points.shape[0], top
    else:
        points = np.unique(x)
        pos = sw > 0
        ft = _group_cdf(x[treat & pos], sw[treat & pos], points)
        fc = _group_cdf(x[~treat & pos], sw[~treat & pos], points)
    diffs = np.abs(ft - fc)
    return points, float(diffs.mean()), float(diffs.max())


@njit(cache=True, nogil=True)
def _ecdf_walk(
    xs: FloatArray, xts: FloatArray
) -> tuple[FloatArray, float, float]:  # pragma: no cover - compiled
    """Distinct values of sorted ``xs``, and the sum and max of |F_t - F_c| over them.

    ``xts`` holds the (sorted) treated values, a sub-multiset of ``xs``; F_t counts treated
    values <= the point over their number, F_c the remaining (control) values likewise.
    """
    n = xs.shape[0]
    nt = xts.shape[0]
    nc = n - nt
    points = np.empty(n)
    k = 0
    total = 0.0
    top = 0.0
    i = 0
    j = 0
    while i < n:
        v = xs[i]
        while i < n and xs[i] == v:
            i += 1
        while j < nt and xts[j] <= v:
            j += 1
        d = abs(j / nt - (i - j) / nc)
        total += d
        if d > top:
            top = d
        points[k] = v
        k += 1
    return points[:k].copy(), total, top


def _ecdf_after(
    x: FloatArray,
    rows_t: npt.NDArray[np.intp],
    w_t: FloatArray,
    rows_c: npt.NDArray[np.intp],
    w_c: FloatArray,
    points: FloatArray,
) -> tuple[float, float]:
    """Mean/max weighted eCDF difference at ``points`` using only the matched units.

    Both eCDFs only step at values of units with positive weight ("breakpoints"); between two
    breakpoints the difference is constant, so the mean over all ``points`` is a sum over the
    breakpoints weighted by how many points fall in each step.
    """
    xt, xc = x[rows_t], x[rows_c]
    brk = np.unique(np.concatenate([xt, xc]))
    diffs = np.abs(_group_cdf(xt, w_t, brk) - _group_cdf(xc, w_c, brk))
    first = np.searchsorted(points, brk, side="left")
    span = np.diff(np.append(first, points.shape[0]))
    return float(np.dot(diffs, span)) / points.shape[0], float(diffs.max())


@dataclass(frozen=True)
class _SubclassPairs:
    """Treated-control pairs within subclasses, precomputed once for every covariate.

    Subclasses with one treated unit (or one control) pair their units directly; only
    subclasses with several of both (CEM, exact matching) need the sort-based sum.
    """

    left: npt.NDArray[np.intp]
    right: npt.NDArray[np.intp]
    multi_rows: npt.NDArray[np.intp]
    multi_treat: BoolArray
    multi_sub: npt.NDArray[np.int64]
    n_pairs: float

    @classmethod
    def build(cls, treat: BoolArray, subclass: npt.NDArray[np.int64]) -> _SubclassPairs:
        rows = np.flatnonzero(subclass >= 0)
        sub = subclass[rows]
        tr = treat[rows]
        _, inv = np.unique(sub, return_inverse=True)
        inv = inv.ravel()
        n_sub = int(inv.max()) + 1 if inv.size else 0
        n_t = np.bincount(inv, weights=tr.astype(np.float64), minlength=n_sub)
        n_c = np.bincount(inv, weights=(~tr).astype(np.float64), minlength=n_sub)
        # the (first) treated and control row of every subclass
        first_t = np.full(n_sub, -1, dtype=np.intp)
        first_c = np.full(n_sub, -1, dtype=np.intp)
        first_t[inv[tr][::-1]] = rows[tr][::-1]
        first_c[inv[~tr][::-1]] = rows[~tr][::-1]
        one_t = (n_t == 1) & (n_c >= 1)
        one_c = (n_c == 1) & (n_t > 1)
        multi = (n_t > 1) & (n_c > 1)
        sel_c = ~tr & one_t[inv]
        sel_t = tr & one_c[inv]
        left = np.concatenate([rows[sel_c], rows[sel_t]])
        right = np.concatenate([first_t[inv[sel_c]], first_c[inv[sel_t]]])
        in_multi = multi[inv]
        return cls(
            left=left,
            right=right,
            multi_rows=rows[in_multi],
            multi_treat=tr[in_multi],
            multi_sub=sub[in_multi],
            n_pairs=float(np.dot(n_t, n_c)),
        )

    def mean_distance(self, x: FloatArray) -> float:
        """Mean |x_t - x_c| over every treated-control pair sharing a subclass (pooled)."""
        if self.n_pairs == 0.0:
            return math.nan
        total = float(np.abs(x[self.left] - x[self.right]).sum())
        if self.multi_rows.size:
            total += _pair_sum_sorted(x[self.multi_rows], self.multi_treat, self.multi_sub)
        return total / self.n_pairs


def _pair_sum_sorted(x: FloatArray, treat: BoolArray, subclass: npt.NDArray[np.int64]) -> float:
    """Σ |x_t - x_c| over all treated-control pairs within each subclass, by sorting."""
    order = np.lexsort((x, subclass))
    xs, ts, ss = x[order], treat[order], subclass[order]
    _, start, counts = np.unique(ss, return_index=True, return_counts=True)
    group = np.repeat(np.arange(start.shape[0]), counts)
    ctrl = (~ts).astype(np.float64)
    cx = ctrl * xs
    # Controls strictly before each position within its subclass (ties contribute 0 either way).
    cum_n = np.cumsum(ctrl) - ctrl
    cum_s = np.cumsum(cx) - cx
    n_lt = cum_n - cum_n[start][group]
    s_lt = cum_s - cum_s[start][group]
    tot_n = np.add.reduceat(ctrl, start)[group]
    tot_s = np.add.reduceat(cx, start)[group]
    contrib = xs * n_lt - s_lt + (tot_s - s_lt) - xs * (tot_n - n_lt)
    return float(contrib[ts].sum())


def _pair_distance_matrix(
    x: FloatArray, treat: BoolArray, match_matrix: npt.NDArray[np.int64]
) -> float:
    """Mean |x_t - x_c| over the filled cells of a treated × ratio match matrix."""
    treated_rows = np.flatnonzero(treat)
    filled = match_matrix >= 0
    if not np.any(filled):
        return math.nan
    xt = np.broadcast_to(x[treated_rows][:, None], match_matrix.shape)[filled]
    xc = x[match_matrix[filled]]
    return float(np.mean(np.abs(xt - xc)))


def _balance_block(
    X: FloatArray,
    binary: BoolArray,
    treat: BoolArray,
    sw: FloatArray,
    w: FloatArray | None,
    estimand: Estimand,
    pair_subclass: _SubclassPairs | None,
    match_matrix: npt.NDArray[np.int64] | None,
) -> tuple[FloatArray, FloatArray | None, FloatArray]:
    """Balance statistics (rows = columns of X) before and after, and the SD denominators."""
    p = X.shape[1]
    cont = np.flatnonzero(~binary)
    wt_b, wc_b = sw * treat, sw * ~treat
    mt_b, vt_cont_b, _ = _group_moments(X, wt_b, cont)
    mc_b, vc_cont_b, _ = _group_moments(X, wc_b, cont)

    def full_var(m: FloatArray, v_cont: FloatArray) -> FloatArray:
        v = m * (1.0 - m)
        v[cont] = v_cont
        return v

    vt_b = full_var(mt_b, vt_cont_b)
    vc_b = full_var(mc_b, vc_cont_b)
    with np.errstate(invalid="ignore"):
        pooled = np.sqrt((vt_b + vc_b) / 2.0)
        if estimand == "ATT":
            sd = np.sqrt(vt_b)
        elif estimand == "ATC":
            sd = np.sqrt(vc_b)
        else:
            sd = pooled.copy()
    bad = ~np.isfinite(sd) | (sd < _SQRT_EPS)
    sd[bad] = pooled[bad]

    uniform_sw = bool(sw.size and sw[0] > 0 and np.all(sw == sw[0]))
    ecdf_b = np.full((p, 2), np.nan)
    points: dict[int, FloatArray] = {}
    too_small_b = bool(np.count_nonzero(wt_b) < 2 and np.count_nonzero(wc_b) < 2)
    if not too_small_b and cont.size:
        # one sort per column dominates; numpy releases the GIL while sorting, so the columns
        # run on threads (each result is computed exactly as in a serial loop)
        with ThreadPoolExecutor(max_workers=min(cont.size, os.cpu_count() or 1)) as pool:
            done = pool.map(lambda j: _ecdf_before(X[:, j].copy(), treat, sw, uniform_sw), cont)
            for j, (pts, e_mean, e_max) in zip(cont, done, strict=True):
                points[int(j)] = pts
                ecdf_b[j] = (e_mean, e_max)
    before = _assemble(mt_b, mc_b, vt_b, vc_b, binary, sd, too_small_b, ecdf_b, None)
    if w is None:
        return before, None, sd

    wt_a, wc_a = w * treat, w * ~treat
    mt_a, vt_cont_a, n_t = _group_moments(X, wt_a, cont)
    mc_a, vc_cont_a, n_c = _group_moments(X, wc_a, cont)
    vt_a = full_var(mt_a, vt_cont_a)
    vc_a = full_var(mc_a, vc_cont_a)
    too_small_a = n_t < 2 and n_c < 2
    ecdf_a = np.full((p, 2), np.nan)
    rows_t = np.flatnonzero(wt_a > 0)
    rows_c = np.flatnonzero(wc_a > 0)
    if not too_small_a:
        for j in cont:
            col = X[:, j]
            pts = points[int(j)] if int(j) in points else np.unique(col)
            ecdf_a[j] = _ecdf_after(col, rows_t, wt_a[rows_t], rows_c, wc_a[rows_c], pts)
    pair: FloatArray | None = None
    if match_matrix is not None or pair_subclass is not None:
        pair = np.empty(p)
        for jj in range(p):
            col = X[:, jj]
            if match_matrix is not None:
                pair[jj] = _pair_distance_matrix(col, treat, match_matrix)
            elif pair_subclass is not None:
                pair[jj] = pair_subclass.mean_distance(col)
    after = _assemble(mt_a, mc_a, vt_a, vc_a, binary, sd, too_small_a, ecdf_a, pair)
    return before, after, sd


def _assemble(
    mt: FloatArray,
    mc: FloatArray,
    vt: FloatArray,
    vc: FloatArray,
    binary: BoolArray,
    sd: FloatArray,
    too_small: bool,
    ecdf: FloatArray,
    pair: FloatArray | None,
) -> FloatArray:
    """The seven statistics per row, with MatchIt's special cases."""
    p = mt.shape[0]
    out = np.full((p, 7), np.nan)
    out[:, 0], out[:, 1] = mt, mc
    mdiff = mt - mc
    big = np.abs(mdiff) > _SQRT_EPS
    with np.errstate(divide="ignore", invalid="ignore"):
        # a zero SD in both groups (constant covariate within groups) gives ±Inf, as in R
        std = np.where(sd > 0, mdiff / sd, np.copysign(np.inf, mdiff))
        if not too_small:
            out[big, 2] = std[big]
        out[~big, 2] = mdiff[~big]
        if pair is not None:
            scaled = np.where(sd > 0, pair / sd, np.inf)
            use_scaled = big & (np.abs(pair) > 1e-8)
            keep_raw = ~big | (big & ~use_scaled)
            out[keep_raw, 6] = pair[keep_raw]
            if not too_small:
                out[use_scaled, 6] = scaled[use_scaled]
            else:
                out[big, 6] = np.nan
        if not too_small:
            cont = ~binary
            out[cont, 3] = np.where(
                vc[cont] != 0, vt[cont] / vc[cont], np.where(vt[cont] == 0, np.nan, np.inf)
            )
            out[cont, 4] = ecdf[cont, 0]
            out[cont, 5] = ecdf[cont, 1]
    out[binary, 4] = np.abs(mdiff[binary])
    out[binary, 5] = np.abs(mdiff[binary])
    return out


@dataclass(frozen=True, repr=False, eq=False)
class BalanceTable:
    """Balance of covariates between treated and control units, before and after matching.

    Built by :func:`balance_table`; do not construct directly. Statistics are numpy arrays keyed
    by the names in :data:`BALANCE_STATISTICS`; ``after`` is ``None`` when no matching weights
    were given.

    Attributes
    ----------
    names : tuple of str
        Row labels (``"distance"`` first when a distance was supplied).
    binary : numpy.ndarray of bool
        Whether each row is a binary (0/1) variable.
    before, after : dict of str to numpy.ndarray
        Balance statistics in the unmatched and matched (weighted) samples.
    counts : dict of str to (control, treated)
        MatchIt's sample-size table: ``all_ess``, ``all``, ``matched_ess``, ``matched``,
        ``unmatched``, ``discarded``.
    estimand : {"ATT", "ATC", "ATE"}
    smd_threshold : float
        |SMD| above this is flagged (default 0.1).
    var_ratio_bounds : (float, float)
        Variance ratios outside these bounds are flagged (default 0.5–2).
    """

    names: tuple[str, ...]
    binary: BoolArray
    before: dict[str, FloatArray]
    after: dict[str, FloatArray] | None
    counts: dict[str, tuple[float, float]]
    estimand: Estimand
    sd_denominator: FloatArray
    smd_threshold: float = 0.1
    var_ratio_bounds: tuple[float, float] = (0.5, 2.0)
    n_units: dict[str, tuple[int, int]] = field(default_factory=dict)

    # ------------------------------------------------------------------ flags
    def flags(self, sample: Literal["before", "after"] = "after") -> dict[str, BoolArray]:
        """Boolean flags per row: ``smd`` (|SMD| > threshold) and ``var_ratio`` (outside bounds).

        NaN statistics are not flagged. ``sample="after"`` falls back to ``"before"`` when the
        table has no matched sample.
        """
        stats = self._stats(sample)
        smd = np.abs(stats["std_mean_diff"])
        vr = stats["var_ratio"]
        lo, hi = self.var_ratio_bounds
        with np.errstate(invalid="ignore"):
            smd_flag = np.nan_to_num(smd, nan=0.0) > self.smd_threshold
            vr_flag = ~np.isnan(vr) & ((vr < lo) | (vr > hi))
        return {"smd": smd_flag, "var_ratio": vr_flag}

    @property
    def imbalanced(self) -> tuple[str, ...]:
        """Names of rows flagged (|SMD| or variance ratio) in the matched sample."""
        f = self.flags("after")
        bad = f["smd"] | f["var_ratio"]
        return tuple(n for n, b in zip(self.names, bad, strict=True) if b)

    @property
    def max_abs_smd(self) -> float:
        """Largest |SMD| in the matched sample (the unmatched one when there is no match)."""
        smd = np.abs(self._stats("after")["std_mean_diff"])
        return float(np.nanmax(smd)) if smd.size and not np.all(np.isnan(smd)) else math.nan

    def _stats(self, sample: Literal["before", "after"]) -> dict[str, FloatArray]:
        if sample == "after" and self.after is not None:
            return self.after
        return self.before

    # ---------------------------------------------------------------- frames
    def to_frame(
        self,
        kind: Literal["polars", "pandas"] = "polars",
        *,
        sample: Literal["both", "before", "after"] = "both",
    ) -> Any:
        """A tidy table: one row per variable and sample, with unit counts per row.

        Columns: ``variable``, ``type`` (``binary``/``continuous``), ``sample``
        (``before``/``after``), the statistics of :data:`BALANCE_STATISTICS`, ``n_treated``,
        ``n_control`` (units with non-zero weight), ``ess_treated``, ``ess_control``,
        ``flag_smd`` and ``flag_var_ratio``. Counts per row let disclosure control check every
        cell. ``kind="pandas"`` returns a pandas DataFrame.
        """
        samples: list[Literal["before", "after"]] = []
        if sample in ("both", "before"):
            samples.append("before")
        if sample in ("both", "after") and self.after is not None:
            samples.append("after")
        frames = []
        k = len(self.names)
        for s in samples:
            stats = self._stats(s)
            f = self.flags(s)
            n_c, n_t = self.n_units["all" if s == "before" else "matched"]
            ess_c, ess_t = self.counts["all_ess" if s == "before" else "matched_ess"]
            cols: dict[str, Any] = {
                "variable": list(self.names),
                "type": ["binary" if b else "continuous" for b in self.binary],
                "sample": [s] * k,
            }
            for name in BALANCE_STATISTICS:
                cols[name] = stats[name].astype(np.float64)
            cols["n_treated"] = np.full(k, n_t, dtype=np.int64)
            cols["n_control"] = np.full(k, n_c, dtype=np.int64)
            cols["ess_treated"] = np.full(k, ess_t)
            cols["ess_control"] = np.full(k, ess_c)
            cols["flag_smd"] = f["smd"]
            cols["flag_var_ratio"] = f["var_ratio"]
            frames.append(
                pl.DataFrame(cols).with_columns(pl.col(BALANCE_STATISTICS).fill_nan(None))
            )
        out = pl.concat(frames) if frames else pl.DataFrame()
        if kind == "pandas":
            return out.to_pandas()
        return out

    def counts_frame(self, kind: Literal["polars", "pandas"] = "polars") -> Any:
        """MatchIt's sample-size table as a frame: ``row``, ``control``, ``treated``."""
        rows = list(self.counts)
        out = pl.DataFrame(
            {
                "row": [_COUNT_LABELS[r] for r in rows],
                "control": [float(self.counts[r][0]) for r in rows],
                "treated": [float(self.counts[r][1]) for r in rows],
            }
        )
        return out.to_pandas() if kind == "pandas" else out

    # ------------------------------------------------------------- rendering
    def plot(
        self,
        ax: Any = None,
        *,
        absolute: bool = True,
        threshold: float | None = None,
    ) -> Figure:
        """A love plot of the SMDs before and after matching.

        See :func:`kvklink.cohort._plots.love_plot`.
        """
        from kvklink.cohort._plots import love_plot

        return love_plot(self, ax=ax, absolute=absolute, threshold=threshold)

    def summary(self, digits: int = 3) -> str:
        """MatchIt-style text summary (balance before, after, sample sizes)."""
        from kvklink.cohort._summary import format_balance

        return format_balance(self, digits=digits)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        from kvklink.cohort._summary import balance_html

        return balance_html(self)


_COUNT_LABELS = {
    "all_ess": "All (ESS)",
    "all": "All",
    "matched_ess": "Matched (ESS)",
    "matched": "Matched",
    "unmatched": "Unmatched",
    "discarded": "Discarded",
}


def _as_1d(values: npt.ArrayLike, n: int, argument: str, dtype: Any) -> Any:
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim != 1 or arr.shape[0] != n:
        msg = (
            f"The {argument!r} argument must be a 1-D array of length {n} (one per row of X), "
            f"got shape {arr.shape}. Hint: pass one value per unit, in the rows' order."
        )
        raise InputError(msg)
    return arr


def balance_table(
    X: npt.ArrayLike,
    names: Sequence[str],
    treat: npt.ArrayLike,
    weights: npt.ArrayLike | None,
    *,
    binary: npt.ArrayLike | None = None,
    distance: npt.ArrayLike | None = None,
    sd_weights: npt.ArrayLike | None = None,
    estimand: Estimand = "ATT",
    subclass: npt.ArrayLike | None = None,
    match_matrix: npt.ArrayLike | None = None,
    discarded: npt.ArrayLike | None = None,
    smd_threshold: float = 0.1,
    var_ratio_bounds: tuple[float, float] = (0.5, 2.0),
) -> BalanceTable:
    """Balance statistics of each covariate before and after matching (MatchIt definitions).

    Parameters
    ----------
    X : array of shape (n, p)
        Covariate design, numeric; categorical variables dummy-expanded with every level (as
        MatchIt's balance table shows them). No missing values.
    names : sequence of str
        One label per column of ``X``.
    treat : array of shape (n,)
        Treatment indicator (1/True treated, 0/False control).
    weights : array of shape (n,) or None
        Matching weights (0 = not in the matched sample). ``None`` computes only the unmatched
        ("before") balance.
    binary : array of bool, optional
        Which columns are binary; default detects columns whose values are all 0 or 1.
    distance : array of shape (n,), optional
        The distance measure (e.g. propensity score); balanced as a first row ``"distance"``.
    sd_weights : array of shape (n,), optional
        Sampling weights (MatchIt's ``s.weights``): used in every statistic and for the SD
        denominator; the matching weights are multiplied by them after matching.
    estimand : {"ATT", "ATC", "ATE"}
        Chooses the SMD denominator: treated SD, control SD, or pooled ``sqrt((s_t²+s_c²)/2)``.
    subclass : array of int, optional
        Matched set per unit (``-1`` = none); enables the standardised pair distance.
    match_matrix : array of int, shape (n_treated, ratio), optional
        Control row indices per treated unit (rows in the order of the treated units in ``X``,
        ``-1`` = no match); used for the pair distance in preference to ``subclass``.
    discarded : array of bool, optional
        Units discarded before matching (common support); counted separately.
    smd_threshold, var_ratio_bounds
        Thresholds for the balance flags (0.1 and 0.5–2 by default, the MatchIt/cobalt guidance).

    Returns
    -------
    BalanceTable

    Raises
    ------
    InputError
        Shapes disagree, a value is missing/infinite, or a group is empty.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2)); t = (rng.random(200) < 0.3).astype(int)
    >>> bt = balance_table(X, ["a", "b"], t, None)
    >>> bt.after is None, bt.counts["all"]
    (True, (147, 53))
    """
    x = np.asarray(X, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        msg = (
            f"The 'X' argument must be a 2-D array (units × covariates), got {x.ndim} dims. Hint: "
            "stack the covariates as columns."
        )
        raise InputError(msg)
    n, p = x.shape
    labels = [str(s) for s in names]
    if len(labels) != p:
        msg = (
            f"The 'names' argument has {len(labels)} labels for {p} columns of X. "
            "Hint: pass one name per covariate column."
        )
        raise InputError(msg)
    if estimand not in ("ATT", "ATC", "ATE"):
        msg = (
            "The 'estimand' parameter of balance_table must be one of 'ATT', 'ATC', 'ATE'. Got "
            f"{estimand!r} instead."
        )
        raise InputError(msg)
    t_raw = _as_1d(treat, n, "treat", np.float64)
    if not np.all((t_raw == 0) | (t_raw == 1)):
        msg = (
            "The 'treat' argument must hold only 0/1 (or False/True). Hint: recode the treatment "
            "indicator."
        )
        raise InputError(msg)
    t = t_raw.astype(bool)
    if not np.any(t) or np.all(t):
        msg = (
            f"Balance needs both treated and control units; got {int(t.sum())} treated and "
            f"{int((~t).sum())} control. Hint: check the treatment indicator."
        )
        raise InputError(msg)
    # a finite column sum means every cell is finite (NaN/inf propagate); an overflowing sum
    # of finite cells only sends the column to the exact cell check
    with np.errstate(over="ignore", invalid="ignore"):
        col_ok = np.isfinite(x.sum(axis=0))
    if not col_ok.all():
        col_ok = np.all(np.isfinite(x), axis=0)
    bad_cols = np.flatnonzero(~col_ok)
    if bad_cols.size:
        shown = ", ".join(repr(labels[i]) for i in bad_cols[:5])
        msg = (
            f"Covariate(s) {shown} contain missing or infinite values "
            f"({int((~np.isfinite(x[:, bad_cols])).sum())} cells). Hint: impute or drop them first."
        )
        raise InputError(msg)
    sw = np.ones(n) if sd_weights is None else _as_1d(sd_weights, n, "sd_weights", np.float64)
    if np.any(~np.isfinite(sw)) or np.any(sw < 0):
        msg = (
            "The 'sd_weights' argument must be finite and non-negative. Hint: check the sampling "
            "weights."
        )
        raise InputError(msg)
    w: FloatArray | None = None
    if weights is not None:
        w = _as_1d(weights, n, "weights", np.float64)
        if np.any(~np.isfinite(w)) or np.any(w < 0):
            msg = (
                "The 'weights' argument must be finite and non-negative; "
                f"{int(np.sum(~np.isfinite(w) | (w < 0)))} "
                "value(s) are not. Hint: unmatched units have weight 0."
            )
            raise InputError(msg)
        w = w * sw
        if not np.any(w[t] > 0) or not np.any(w[~t] > 0):
            msg = (
                "After matching, one group has no unit with a positive weight "
                f"({int(np.sum(w[t] > 0))} treated, {int(np.sum(w[~t] > 0))} control). "
                "Hint: the match failed; relax the caliper or the exact strata."
            )
            raise InputError(msg)
    disc = np.zeros(n, dtype=bool) if discarded is None else _as_1d(discarded, n, "discarded", bool)
    if binary is None:
        is_bin = np.all((x == 0) | (x == 1), axis=0)
    else:
        is_bin = _as_1d(binary, p, "binary", bool)
    sub = None if subclass is None else _as_1d(subclass, n, "subclass", np.int64)
    mm = None
    if match_matrix is not None:
        mm = np.asarray(match_matrix, dtype=np.int64)
        if mm.ndim == 1:
            mm = mm[:, None]
        if mm.shape[0] != int(t.sum()) or np.any(mm >= n):
            msg = (
                f"The 'match_matrix' argument must have one row per treated unit ({int(t.sum())}) "
                f"holding control row indices < {n}, got shape {mm.shape}. Hint: use -1 for no "
                "match."
            )
            raise InputError(msg)

    labels_out = list(labels)
    binaries = np.asarray(is_bin, dtype=bool)
    pair_subclass = None
    if sub is not None and mm is None:
        pair_subclass = _SubclassPairs.build(t, sub)
    before_x, after_x, sd_x = _balance_block(x, binaries, t, sw, w, estimand, pair_subclass, mm)
    if distance is not None:
        d = _as_1d(distance, n, "distance", np.float64)
        if not np.all(np.isfinite(d)):
            msg = (
                "The 'distance' argument contains missing or infinite values. Hint: refit the "
                "distance model."
            )
            raise InputError(msg)
        d_bin = np.array([bool(np.all((d == 0) | (d == 1)))])
        before_d, after_d, sd_d = _balance_block(
            d[:, None], d_bin, t, sw, w, estimand, pair_subclass, mm
        )
        before_x = np.vstack([before_d, before_x])
        if after_x is not None and after_d is not None:
            after_x = np.vstack([after_d, after_x])
        sd_x = np.concatenate([sd_d, sd_x])
        binaries = np.concatenate([d_bin, binaries])
        labels_out.insert(0, "distance")
    before = before_x
    after = after_x
    sds = sd_x

    def as_dict(a: FloatArray) -> dict[str, FloatArray]:
        return {name: a[:, i].copy() for i, name in enumerate(BALANCE_STATISTICS)}

    w_eff = w if w is not None else sw
    counts: dict[str, tuple[float, float]] = {
        "all_ess": (effective_sample_size(sw[~t]), effective_sample_size(sw[t])),
        "all": (int(np.sum(~t)), int(np.sum(t))),
    }
    n_units: dict[str, tuple[int, int]] = {"all": (int(np.sum(~t)), int(np.sum(t)))}
    if w is not None:
        counts["matched_ess"] = (effective_sample_size(w[~t]), effective_sample_size(w[t]))
        counts["matched"] = (int(np.sum(~t & (w_eff > 0))), int(np.sum(t & (w_eff > 0))))
        counts["unmatched"] = (
            int(np.sum(~t & (w_eff == 0) & ~disc)),
            int(np.sum(t & (w_eff == 0) & ~disc)),
        )
        n_units["matched"] = (int(counts["matched"][0]), int(counts["matched"][1]))
    counts["discarded"] = (int(np.sum(~t & disc)), int(np.sum(t & disc)))

    return BalanceTable(
        names=tuple(labels_out),
        binary=binaries,
        before=as_dict(before),
        after=None if after is None else as_dict(after),
        counts=counts,
        estimand=estimand,
        sd_denominator=sds,
        smd_threshold=float(smd_threshold),
        var_ratio_bounds=(float(var_ratio_bounds[0]), float(var_ratio_bounds[1])),
        n_units=n_units,
    )
