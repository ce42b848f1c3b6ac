"""Treatment-effect estimates after matching: weighted difference in means with honest SEs.

The ATT is the coefficient on treatment in the weighted least-squares regression
``outcome ~ treat`` on the matched sample (units with zero weight dropped), i.e. the difference
of the weighted group means — exactly ``lm(y ~ treat, data = match.data(m), weights = weights)``
in R after MatchIt. Standard errors, all computed with the same sandwich algebra R's
``sandwich`` package uses (so the numbers agree to machine precision):

* ``se_ols`` — classical WLS standard error (``summary(lm)``);
* ``se_hc1`` / ``se_hc3`` — heteroskedasticity-robust (``vcovHC(type = "HC1"/"HC3")``; the
  hat values of a weighted fit are ``w_i x_i' (X'WX)^{-1} x_i``);
* ``se_cluster`` — cluster-robust by matched set, ``vcovCL(fit, cluster = ~subclass)`` with
  type HC1 and ``cadjust``: ``G/(G-1) · (n-1)/(n-k)``. This is MatchIt's guidance for matching
  without replacement, CEM and exact matching;
* for matching **with replacement** (a control used by several treated units) MatchIt's guidance
  is to expand the matched pairs (``get_matches()``: one row per treated unit and per control in
  its matched set, control weight ``1/k`` for ``k`` controls of that treated unit) and cluster two
  ways, by matched set and by unit (``vcovCL(cluster = ~subclass + id)``: ``V_set + V_unit −
  V_set∩unit``, each with its own ``G/(G-1)``).

The default confidence interval is normal (``estimate ± z · se``), which is what MatchIt's
current "Estimating effects" guidance computes (``marginaleffects::avg_comparisons(...,
vcov = ~subclass)``); ``ci="t"`` uses the t distribution with the residual degrees of freedom
``n - 2`` (``lmtest::coefci`` on the ``lm`` fit).

Examples
--------
>>> import numpy as np
>>> from kvklink.cohort._effects import estimate_att
>>> y = np.array([3.0, 5, 4, 1, 2, 2]); t = np.array([1, 1, 1, 0, 0, 0])
>>> est = estimate_att(y, t, np.ones(6), subclass=np.array([0, 1, 2, 0, 1, 2]))
>>> round(est.estimate, 3), est.se_kind
(2.333, 'cluster: subclass')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import stats

from kvklink.cohort._balance import effective_sample_size
from kvklink.errors import InputError

__all__ = ["EffectEstimate", "att_from_match", "estimate_att", "wls_sandwich"]

FloatArray: TypeAlias = npt.NDArray[np.float64]
ClusterChoice: TypeAlias = Literal["auto", "subclass", "pair", "none"]
CIMethod: TypeAlias = Literal["normal", "t"]


@dataclass(frozen=True)
class _WLSFit:
    coef: FloatArray
    bread: FloatArray
    scores: FloatArray
    resid: FloatArray
    hat: FloatArray
    n: int
    k: int

    def vcov_ols(self) -> FloatArray:
        w_e2 = float(np.sum(self.scores[:, 0] * self.resid))  # Σ w e² (first column is w·e)
        return self.bread * (w_e2 / (self.n - self.k))

    def vcov_hc(self, kind: Literal["HC0", "HC1", "HC3"]) -> FloatArray:
        s = self.scores
        if kind == "HC3":
            s = s / (1.0 - self.hat)[:, None]
        v = self.bread @ (s.T @ s) @ self.bread
        if kind == "HC1":
            v = v * (self.n / (self.n - self.k))
        return v

    def vcov_cluster(self, cluster: npt.NDArray[Any]) -> tuple[FloatArray, int]:
        _, inv = np.unique(cluster, return_inverse=True)
        g = int(inv.max()) + 1 if inv.size else 0
        summed = np.zeros((g, self.k))
        np.add.at(summed, inv.ravel(), self.scores)
        adj = (g / (g - 1.0) if g > 1 else math.nan) * (self.n - 1.0) / (self.n - self.k)
        return self.bread @ (summed.T @ summed) @ self.bread * adj, g


def wls_sandwich(y: FloatArray, design: FloatArray, w: FloatArray) -> _WLSFit:
    """Weighted least squares with the pieces needed for sandwich variance estimators."""
    n, k = design.shape
    xtwx = design.T @ (design * w[:, None])
    bread = np.asarray(np.linalg.inv(xtwx), dtype=np.float64)
    coef = bread @ (design.T @ (w * y))
    resid = y - design @ coef
    scores = design * (w * resid)[:, None]
    hat = w * np.einsum("ij,jk,ik->i", design, bread, design)
    return _WLSFit(coef=coef, bread=bread, scores=scores, resid=resid, hat=hat, n=n, k=k)


@dataclass(frozen=True)
class EffectEstimate:
    """An average treatment effect on the treated with its standard errors.

    ``se`` is the standard error used for the interval and the p-value (``se_kind`` says which);
    the others are reported alongside for comparison. ``None`` means not computed (no matched
    sets known). Counts describe the rows of the matched sample.
    """

    estimate: float
    se: float
    se_kind: str
    ci_low: float
    ci_high: float
    level: float
    ci_method: CIMethod
    p_value: float
    se_ols: float
    se_hc1: float
    se_hc3: float
    se_cluster: float | None
    n_clusters: int | None
    df_resid: int
    mean_treated: float
    mean_control: float
    n_treated: int
    n_control: int
    ess_treated: float
    ess_control: float
    estimand: str = "ATT"

    def to_frame(self, kind: Literal["polars", "pandas"] = "polars") -> Any:
        """One tidy row: estimate, SEs, interval, p-value, counts per group."""
        out = pl.DataFrame(
            {
                "term": [self.estimand],
                "estimate": [self.estimate],
                "se": [self.se],
                "se_kind": [self.se_kind],
                "ci_low": [self.ci_low],
                "ci_high": [self.ci_high],
                "level": [self.level],
                "p_value": [self.p_value],
                "se_ols": [self.se_ols],
                "se_hc1": [self.se_hc1],
                "se_hc3": [self.se_hc3],
                "se_cluster": [self.se_cluster],
                "n_clusters": [self.n_clusters],
                "mean_treated": [self.mean_treated],
                "mean_control": [self.mean_control],
                "n_treated": [self.n_treated],
                "n_control": [self.n_control],
                "ess_treated": [self.ess_treated],
                "ess_control": [self.ess_control],
            },
            schema_overrides={"se_cluster": pl.Float64, "n_clusters": pl.Int64},
        )
        return out.to_pandas() if kind == "pandas" else out

    def summary(self) -> str:
        """A short text report."""
        from kvklink.cohort._summary import format_effect

        return format_effect(self)

    def __repr__(self) -> str:
        return (
            f"EffectEstimate({self.estimand}={self.estimate:.6g}, se={self.se:.6g} "
            f"[{self.se_kind}], {100 * self.level:g}% CI [{self.ci_low:.6g}, {self.ci_high:.6g}], "
            f"n_treated={self.n_treated}, n_control={self.n_control})"
        )

    def _repr_html_(self) -> str:
        from kvklink.cohort._summary import effect_html

        return effect_html(self)


def _interval(
    est: float, se: float, level: float, method: CIMethod, df: int
) -> tuple[float, float, float]:
    if not math.isfinite(se) or se <= 0:
        return math.nan, math.nan, math.nan
    tail = (1.0 + level) / 2.0
    if method == "t":
        crit = float(stats.t.ppf(tail, df))
        p = float(2.0 * stats.t.sf(abs(est / se), df))
    else:
        crit = float(stats.norm.ppf(tail))
        p = float(2.0 * stats.norm.sf(abs(est / se)))
    return est - crit * se, est + crit * se, p


def _pair_expansion(
    y: FloatArray, treat: npt.NDArray[np.bool_], match_matrix: npt.NDArray[np.int64]
) -> tuple[FloatArray, FloatArray, FloatArray, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """MatchIt's ``get_matches()`` rows: (y, treat, weight, matched set, unit row)."""
    treated_rows = np.flatnonzero(treat)
    filled = match_matrix >= 0
    k = filled.sum(axis=1)
    has = k > 0
    sets = np.flatnonzero(has)
    t_units = treated_rows[has]
    c_set = np.broadcast_to(np.arange(match_matrix.shape[0])[:, None], match_matrix.shape)[filled]
    c_units = match_matrix[filled]
    c_w = 1.0 / k[c_set]
    unit = np.concatenate([t_units, c_units])
    sets_all = np.concatenate([sets, c_set])
    w = np.concatenate([np.ones(t_units.shape[0]), c_w])
    tr = np.concatenate([np.ones(t_units.shape[0]), np.zeros(c_units.shape[0])])
    return y[unit], tr, w, sets_all.astype(np.int64), unit.astype(np.int64)


def estimate_att(
    outcome: npt.ArrayLike,
    treat: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    subclass: npt.ArrayLike | None = None,
    match_matrix: npt.ArrayLike | None = None,
    cluster: ClusterChoice = "auto",
    ci: CIMethod = "normal",
    level: float = 0.95,
) -> EffectEstimate:
    """Estimate the ATT as the weighted difference in means, with robust standard errors.

    Parameters
    ----------
    outcome, treat : array of shape (n,)
        Outcome and treatment indicator (0/1) for every unit of the matching input.
    weights : array of shape (n,), optional
        Matching weights; units with weight 0 are not in the matched sample. ``None`` gives the
        naive (unweighted, unmatched) difference in means.
    subclass : array of int, optional
        Matched set per unit (``-1`` = none), for the cluster-robust SE.
    match_matrix : array of int, shape (n_treated, ratio), optional
        Control row indices per treated unit (``-1`` = none), rows in the order of the treated
        units; needed for the pair-expanded SE after matching with replacement.
    cluster : {"auto", "subclass", "pair", "none"}
        ``"subclass"``: cluster by matched set. ``"pair"``: pair expansion and two-way clustering
        by matched set and unit (matching with replacement). ``"none"``: use HC3.
        ``"auto"`` picks ``"pair"`` when ``match_matrix`` reuses a control, else ``"subclass"``
        when ``subclass`` is given, else ``"none"``.
    ci : {"normal", "t"}
        Critical value for the interval and p-value (see module docs).
    level : float
        Confidence level, default 0.95.

    Returns
    -------
    EffectEstimate

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([3.0, 5, 4, 1, 2, 2]); t = np.array([1, 1, 1, 0, 0, 0])
    >>> est = estimate_att(y, t)
    >>> est.se_kind, round(est.estimate, 3)
    ('HC3', 2.333)
    """
    y = np.asarray(outcome, dtype=np.float64)
    if y.ndim != 1:
        msg = (
            f"The 'outcome' argument must be 1-D, got shape {y.shape}. Hint: pass one value per "
            "unit."
        )
        raise InputError(msg)
    n_all = y.shape[0]
    t_raw = np.asarray(treat, dtype=np.float64)
    if t_raw.shape != (n_all,) or not np.all((t_raw == 0) | (t_raw == 1)):
        msg = (
            f"The 'treat' argument must be a 0/1 array of length {n_all}. "
            "Hint: recode the treatment indicator."
        )
        raise InputError(msg)
    t = t_raw.astype(bool)
    w_all = np.ones(n_all) if weights is None else np.asarray(weights, dtype=np.float64)
    if w_all.shape != (n_all,) or np.any(~np.isfinite(w_all)) or np.any(w_all < 0):
        msg = (
            f"The 'weights' argument must be finite, non-negative and of length {n_all}. "
            "Hint: unmatched units have weight 0."
        )
        raise InputError(msg)
    if not 0.0 < level < 1.0:
        msg = (
            f"The 'level' parameter of estimate_att must be a float in (0, 1). Got {level!r} "
            "instead."
        )
        raise InputError(msg)
    if cluster not in ("auto", "subclass", "pair", "none"):
        msg = (
            "The 'cluster' parameter of estimate_att must be 'auto', 'subclass', 'pair' or "
            f"'none'. Got {cluster!r} instead."
        )
        raise InputError(msg)
    keep = w_all > 0
    missing_y = keep & ~np.isfinite(y)
    if np.any(missing_y):
        msg = (
            f"The outcome is missing for {int(missing_y.sum())} matched unit(s). "
            "Hint: drop them before matching, or impute."
        )
        raise InputError(msg)
    n_t, n_c = int(np.sum(keep & t)), int(np.sum(keep & ~t))
    if n_t == 0 or n_c == 0 or n_t + n_c < 3:
        msg = (
            f"An effect needs treated and control units with positive weight and at least 3 "
            f"in total; got {n_t} treated and {n_c} control. Hint: check the match."
        )
        raise InputError(msg)

    sub = None if subclass is None else np.asarray(subclass, dtype=np.int64)
    if sub is not None and sub.shape != (n_all,):
        msg = (
            f"The 'subclass' argument must have length {n_all}. Hint: one matched set per unit, "
            "-1 for none."
        )
        raise InputError(msg)
    mm = None if match_matrix is None else np.asarray(match_matrix, dtype=np.int64)
    if mm is not None:
        if mm.ndim == 1:
            mm = mm[:, None]
        if mm.shape[0] != int(t.sum()) or np.any(mm >= n_all):
            msg = (
                f"The 'match_matrix' argument must have one row per treated unit ({int(t.sum())}) "
                f"with control row indices < {n_all}; got shape {mm.shape}. Hint: use -1 for no "
                "match."
            )
            raise InputError(msg)
    mode = cluster
    if mode == "auto":
        reused = False
        if mm is not None:
            used = mm[mm >= 0]
            reused = bool(np.unique(used).shape[0] < used.shape[0])
        if reused:
            mode = "pair"
        elif sub is not None and np.any(sub[keep] >= 0):
            mode = "subclass"
        else:
            mode = "none"
    if mode == "subclass" and sub is None:
        msg = "cluster='subclass' needs the 'subclass' argument. Hint: pass MatchResult.subclass_."
        raise InputError(msg)
    if mode == "pair" and mm is None:
        msg = (
            "cluster='pair' needs the 'match_matrix' argument. Hint: pass "
            "MatchResult.match_matrix_."
        )
        raise InputError(msg)

    yk, tk, wk = y[keep], t[keep].astype(np.float64), w_all[keep]
    design = np.column_stack([np.ones(yk.shape[0]), tk])
    fit = wls_sandwich(yk, design, wk)
    est = float(fit.coef[1])
    se_ols = math.sqrt(fit.vcov_ols()[1, 1])
    se_hc1 = math.sqrt(fit.vcov_hc("HC1")[1, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        se_hc3 = math.sqrt(fit.vcov_hc("HC3")[1, 1])

    se_cl: float | None = None
    n_cl: int | None = None
    if mode == "subclass" and sub is not None:
        cl = sub[keep].copy()
        # Units outside any matched set (possible with user weights) form their own clusters.
        lone = cl < 0
        cl[lone] = -1 - np.flatnonzero(lone)
        v, n_cl = fit.vcov_cluster(cl)
        se_cl = math.sqrt(v[1, 1])
        se, se_kind = se_cl, "cluster: subclass"
    elif mode == "pair" and mm is not None:
        py, pt, pw, pset, punit = _pair_expansion(y, t, mm)
        if np.any(~np.isfinite(py)):
            msg = "The outcome is missing for a matched unit. Hint: drop it before matching."
            raise InputError(msg)
        pfit = wls_sandwich(py, np.column_stack([np.ones(py.shape[0]), pt]), pw)
        v_set, n_cl = pfit.vcov_cluster(pset)
        v_unit, _ = pfit.vcov_cluster(punit)
        v_both, _ = pfit.vcov_cluster(np.arange(py.shape[0]))
        se_cl = math.sqrt((v_set + v_unit - v_both)[1, 1])
        se, se_kind = se_cl, "cluster: matched set + unit (pairs)"
    else:
        se, se_kind = se_hc3, "HC3"

    df_resid = fit.n - fit.k
    lo, hi, p = _interval(est, se, level, ci, df_resid)
    mt = float(np.average(yk[tk == 1], weights=wk[tk == 1]))
    mc = float(np.average(yk[tk == 0], weights=wk[tk == 0]))
    return EffectEstimate(
        estimate=est,
        se=se,
        se_kind=se_kind,
        ci_low=lo,
        ci_high=hi,
        level=level,
        ci_method=ci,
        p_value=p,
        se_ols=se_ols,
        se_hc1=se_hc1,
        se_hc3=se_hc3,
        se_cluster=se_cl,
        n_clusters=n_cl,
        df_resid=df_resid,
        mean_treated=mt,
        mean_control=mc,
        n_treated=n_t,
        n_control=n_c,
        ess_treated=effective_sample_size(wk[tk == 1]),
        ess_control=effective_sample_size(wk[tk == 0]),
    )


def att_from_match(result: Any, outcome: npt.ArrayLike, **kwargs: Any) -> EffectEstimate:
    """:func:`estimate_att` with the weights, matched sets and match matrix of a matching result.

    ``outcome`` holds one value per row of the data that was matched (all rows, not only the
    matched ones). Reads only public attributes (``treated_``, ``weights_``, ``subclass_``,
    ``match_matrix_``); keyword arguments go to :func:`estimate_att`.
    """
    sub = getattr(result, "subclass_", None)
    mm = getattr(result, "match_matrix_", None)
    if sub is not None and not np.any(np.asarray(sub) >= 0):
        sub = None
    if mm is not None and not np.any(np.asarray(mm) >= 0):
        mm = None
    kwargs.setdefault("subclass", sub)
    kwargs.setdefault("match_matrix", mm)
    return estimate_att(
        outcome, np.asarray(result.treated_).astype(np.int64), result.weights_, **kwargs
    )
