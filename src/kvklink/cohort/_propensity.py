"""Unpenalised logistic regression by iteratively reweighted least squares (R's ``glm``).

The fit follows ``glm(..., family = binomial)``: starting values ``mu = (y + 0.5) / 2``, Fisher
scoring (Newton for the canonical logit link), aliased (linearly dependent or constant)
columns dropped like R's pivoted QR does (R reports their coefficient as ``NA``; here ``nan``).
Iteration stops on R's rule, ``|dev - dev_old| / (|dev| + 0.1) < 1e-8``, so the fit stops at the
same Fisher-scoring iterate as R's (scores agree with R's to rounding, not only to 1e-8).

Separation is detected: when the treated and control units can be split perfectly by the linear
predictor, no overlap exists and :class:`~kvklink.errors.MatchingError` is raised; when only
some fitted probabilities are numerically 0 or 1 (quasi-separation), a warning like R's
``glm.fit: fitted probabilities numerically 0 or 1 occurred`` is issued.

Examples
--------
>>> import numpy as np
>>> x = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
>>> y = np.array([0, 0, 1, 0, 1, 1])
>>> fit = fit_logistic(x, y)
>>> bool(fit.converged), round(float(fit.coef[1]), 6)
(True, 1.214028)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit

from kvklink.cohort._design import Design
from kvklink.errors import MatchingError

__all__ = ["LogisticFit", "PropensityWarning", "fit_logistic"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_EPS = 10 * np.finfo(np.float64).eps
# R's glm.control(epsilon = 1e-8): stop when |dev - dev_old| / (|dev| + 0.1) < epsilon
_EPSILON = 1e-8


class PropensityWarning(UserWarning):
    """The propensity model dropped a column or saw (quasi-)separation."""


@dataclass(frozen=True)
class LogisticFit:
    """A fitted logistic regression: coefficients (intercept first), linear predictor, fit."""

    coef: FloatArray
    names: list[str]
    linear: FloatArray
    fitted: FloatArray
    deviance: float
    iterations: int
    converged: bool
    aliased: list[str]


def _aliased_columns(gram: FloatArray, tol: float = 1e-9) -> list[int]:
    """Indices of columns linearly dependent on earlier columns, from their Gram matrix.

    The Gram matrix is normalised to unit diagonal and reduced sequentially (a Cholesky without
    pivoting); ``tol`` is on the squared residual-norm ratio. All-zero columns are aliased.
    """
    diag = np.diag(gram).copy()
    norms = np.sqrt(np.where(diag > 0, diag, 1.0))
    g = gram / np.outer(norms, norms)
    kept: list[int] = []
    aliased: list[int] = []
    for j in range(g.shape[0]):
        if diag[j] <= 0:
            aliased.append(j)
            continue
        if kept:
            g_kk = g[np.ix_(kept, kept)]
            g_kj = g[kept, j]
            resid = g[j, j] - float(g_kj @ np.linalg.solve(g_kk, g_kj))
        else:
            resid = g[j, j]
        if resid < tol:
            aliased.append(j)
        else:
            kept.append(j)
    return aliased


#: R's clamp of the fitted probability of a logit fit: [DBL_MIN, 1 - DBL_EPSILON / 2].
_MU_MIN = 2.2250738585072014e-308
_MU_MAX = 1.0 - 1.1102230246251565e-16


@njit(cache=True, nogil=True, inline="always")
def _fitted(eta: float, y: float) -> tuple[float, float]:  # pragma: no cover - compiled
    """Fitted probability of a row (clamped as R does) and its deviance contribution."""
    mu = 1.0 / (1.0 + np.exp(-eta))
    mu = min(max(mu, _MU_MIN), _MU_MAX)
    dev = -2.0 * np.log(mu) if y > 0.5 else -2.0 * np.log1p(-mu)
    return mu, dev


@njit(cache=True, nogil=True, inline="always")
def _working(eta: float, mu: float, y: float) -> tuple[float, float]:  # pragma: no cover
    """IRLS working weight ``w`` and ``w`` times the working response of a row."""
    w = max(mu * (1.0 - mu), 1e-300)
    return w, w * eta + (y - mu)


@njit(cache=True, nogil=True)
def _irls_rows(
    lo: int,
    hi: int,
    numeric: FloatArray,
    codes: IntArray,
    offsets: IntArray,
    beta: FloatArray,
    y: FloatArray,
    mode: int,
    gram: FloatArray,
    rhs: FloatArray,
    eta_out: FloatArray,
    mu_out: FloatArray,
) -> float:  # pragma: no cover - compiled
    d = numeric.shape[1] + 1
    nf = codes.shape[1]
    cols = np.empty(max(nf, 1), dtype=np.int64)
    dense = np.empty(d)
    dense[0] = 1.0
    dev = 0.0
    for i in range(lo, hi):
        for j in range(1, d):
            dense[j] = numeric[i, j - 1]
        nc = 0
        for f in range(nf):
            c = codes[i, f]
            if c > 0:
                cols[nc] = offsets[f] + c - 1
                nc += 1
        if mode == 2:
            w = 1.0
            wz = 0.0
        else:
            if mode == 0:
                mu = (y[i] + 0.5) / 2.0
                eta = np.log(mu / (1.0 - mu))
            else:
                eta = 0.0
                for j in range(d):
                    eta += dense[j] * beta[j]
                for k in range(nc):
                    eta += beta[cols[k]]
                mu, dev_i = _fitted(eta, y[i])
                dev += dev_i
            eta_out[i] = eta
            mu_out[i] = mu
            w, wz = _working(eta, mu, y[i])
        for a in range(d):
            xa = dense[a]
            wa = w * xa
            rhs[a] += wz * xa
            for b in range(a, d):
                gram[a, b] += wa * dense[b]
            for k in range(nc):
                gram[a, cols[k]] += wa
        for k in range(nc):
            ca = cols[k]
            rhs[ca] += wz
            for m in range(k, nc):
                cb = cols[m]
                if ca <= cb:
                    gram[ca, cb] += w
                else:
                    gram[cb, ca] += w
    return dev


@njit(cache=True, nogil=True)
def _irls_cells(
    lo: int,
    hi: int,
    numeric: FloatArray,
    cell: IntArray,
    cell_off: FloatArray,
    beta: FloatArray,
    y: FloatArray,
    mode: int,
    gnn: FloatArray,
    rn: FloatArray,
    cw: FloatArray,
    cwx: FloatArray,
    cwz: FloatArray,
    eta_out: FloatArray,
    mu_out: FloatArray,
) -> float:  # pragma: no cover - compiled
    """``_irls_rows`` with the factors folded into one cell code per row.

    Accumulates the numeric × numeric block ``gnn`` and ``rn`` = X_num'Wz per row, and per
    cell the sums of w, w·x and w·z; every block of X'WX that involves the intercept or a
    factor indicator is a sum over cells (see ``_Structured._assemble``).
    """
    k = numeric.shape[1]
    x = np.empty(max(k, 1))
    dev = 0.0
    for i in range(lo, hi):
        for j in range(k):
            x[j] = numeric[i, j]
        c = cell[i]
        if mode == 2:
            w = 1.0
            wz = 0.0
        else:
            if mode == 0:
                mu = (y[i] + 0.5) / 2.0
                eta = np.log(mu / (1.0 - mu))
            else:
                eta = beta[0]
                for j in range(k):
                    eta += x[j] * beta[j + 1]
                eta += cell_off[c]
                mu, dev_i = _fitted(eta, y[i])
                dev += dev_i
            eta_out[i] = eta
            mu_out[i] = mu
            w, wz = _working(eta, mu, y[i])
        cw[c] += w
        cwz[c] += wz
        for a in range(k):
            wa = w * x[a]
            cwx[c, a] += wa
            rn[a] += wz * x[a]
            for b in range(a, k):
                gnn[a, b] += wa * x[b]
    return dev


_BLOCK_ROWS = 1 << 16  # rows per block; the split depends on n only, never on the cores


_PAD = 8  # float64s in a 64-byte cache line


def _blocks(n: int) -> list[tuple[int, int]]:
    """Row blocks of one IRLS pass (one block when n is small)."""
    k = max(1, min(16, n // _BLOCK_ROWS))
    return [(n * t // k, n * (t + 1) // k) for t in range(k)]


class _Structured:
    """X = [1, numeric | indicators of factor levels 1..L-1], never materialised."""

    def __init__(self, design: Design) -> None:
        n = design.n
        self.numeric = design.numeric
        self.factors = [f for f in design.factors if len(f.levels) > 1]
        d = self.numeric.shape[1] + 1
        offsets: list[int] = []
        off = d
        for f in self.factors:
            offsets.append(off)
            off += len(f.levels) - 1
        self.p = off
        self.offsets = np.array(offsets, dtype=np.int64)
        # fold the factors into one cell code per row when the cells are few
        sizes = [len(f.levels) for f in self.factors]
        n_cells = int(np.prod(sizes)) if sizes else 1
        self.cell: IntArray | None = None
        self.codes = np.empty((0, 0), dtype=np.int64)
        if n_cells > max(64, min(1 << 16, n // 16)):
            # too many cells: the row kernel reads the level codes directly
            self.codes = np.empty((n, len(self.factors)), dtype=np.int64)
            for k, f in enumerate(self.factors):
                self.codes[:, k] = f.codes
        else:
            cell = np.zeros(n, dtype=np.int64)
            for f in self.factors:
                cell *= len(f.levels)
                cell += f.codes
            self.cell = cell
            # indicator of every model column of a factor level, per cell (ncell × p)
            grid = np.indices(sizes).reshape(len(sizes), -1).T if sizes else np.zeros((1, 0))
            ind = np.zeros((n_cells, off))
            ind[:, 0] = 1.0
            for fi in range(len(self.factors)):
                lv = grid[:, fi].astype(np.int64)
                has = lv > 0
                ind[np.flatnonzero(has), offsets[fi] + lv[has] - 1] = 1.0
            self.cell_ind = ind
        names = ["(Intercept)", *design.numeric_names]
        for f in self.factors:
            names.extend(f"{f.name}{lv}" for lv in f.levels[1:])
        self.names = names
        self.eta = np.empty(n)
        self.mu = np.empty(n)

    def run(
        self,
        beta: FloatArray,
        y: FloatArray,
        mode: int,
        pool: ThreadPoolExecutor | None = None,
    ) -> tuple[FloatArray, FloatArray, float]:
        """Gram matrix X'WX, X'Wz and deviance at ``beta`` in one pass over the rows.

        mode 0: start values mu = (y + 0.5) / 2 (R's binomial ``mustart``); mode 1: from
        ``beta``; mode 2: unit weights (plain Gram matrix, for the rank check). Row blocks
        (see ``_blocks``) are accumulated separately — on the threads of ``pool`` when given,
        the compiled kernel releases the GIL — and summed in block order, so the result does
        not depend on the number of threads.
        """
        if self.cell is not None:
            return self._run_cells(beta, y, mode, pool)
        p = self.p
        blocks = _blocks(self.eta.shape[0])
        grams = np.zeros((len(blocks), p, p + _PAD))[:, :, :p]
        rhss = np.zeros((len(blocks), p + _PAD))[:, :p]

        def one(t: int) -> float:
            lo, hi = blocks[t]
            return float(
                _irls_rows(
                    lo,
                    hi,
                    self.numeric,
                    self.codes,
                    self.offsets,
                    beta,
                    y,
                    mode,
                    grams[t],
                    rhss[t],
                    self.eta,
                    self.mu,
                )
            )

        if pool is None or len(blocks) == 1:
            devs = [one(t) for t in range(len(blocks))]
        else:
            devs = list(pool.map(one, range(len(blocks))))
        gram = grams[0].copy()
        rhs = rhss[0].copy()
        dev = devs[0]
        for t in range(1, len(blocks)):
            gram += grams[t]
            rhs += rhss[t]
            dev += devs[t]
        upper = np.triu(gram)
        gram = upper + np.triu(gram, 1).T
        return gram, rhs, dev

    def _run_cells(
        self,
        beta: FloatArray,
        y: FloatArray,
        mode: int,
        pool: ThreadPoolExecutor | None,
    ) -> tuple[FloatArray, FloatArray, float]:
        """``run`` for the cell-folded design (see ``_irls_cells``)."""
        assert self.cell is not None
        ind = self.cell_ind
        n_cells = ind.shape[0]
        k = self.numeric.shape[1]
        cell_off = ind[:, k + 1 :] @ beta[k + 1 :]
        blocks = _blocks(self.eta.shape[0])
        nb = len(blocks)
        # per-block accumulators padded by a cache line, so threads never share one
        gnn = np.zeros((nb, k, k + _PAD))[:, :, :k]
        rn = np.zeros((nb, k + _PAD))[:, :k]
        cw = np.zeros((nb, n_cells + _PAD))[:, :n_cells]
        cwx = np.zeros((nb, n_cells + _PAD, k))[:, :n_cells]
        cwz = np.zeros((nb, n_cells + _PAD))[:, :n_cells]
        cell = self.cell

        def one(t: int) -> float:
            lo, hi = blocks[t]
            return float(
                _irls_cells(
                    lo,
                    hi,
                    self.numeric,
                    cell,
                    cell_off,
                    beta,
                    y,
                    mode,
                    gnn[t],
                    rn[t],
                    cw[t],
                    cwx[t],
                    cwz[t],
                    self.eta,
                    self.mu,
                )
            )

        if pool is None or nb == 1:
            devs = [one(t) for t in range(nb)]
        else:
            devs = list(pool.map(one, range(nb)))
        dev = devs[0]
        for t in range(1, nb):
            dev += devs[t]
        g_nn = gnn.sum(axis=0)
        r_n = rn.sum(axis=0)
        s_w = cw.sum(axis=0)
        s_wx = cwx.sum(axis=0)
        s_wz = cwz.sum(axis=0)
        p = self.p
        gram = np.empty((p, p))
        # intercept and factor columns: sums over cells of their indicators
        gram[:, :] = (ind * s_w[:, None]).T @ ind
        cross = s_wx.T @ ind  # (k, p): numeric × (intercept, factor) columns
        gram[1 : k + 1, :] = cross
        gram[:, 1 : k + 1] = cross.T
        g_nn = np.triu(g_nn) + np.triu(g_nn, 1).T
        gram[1 : k + 1, 1 : k + 1] = g_nn
        rhs = ind.T @ s_wz
        rhs[1 : k + 1] = r_n
        return gram, rhs, dev


def _iterate(
    xs: _Structured,
    design: Design,
    yv: FloatArray,
    g: FloatArray,
    rhs: FloatArray,
    max_iter: int,
    pool: ThreadPoolExecutor | None,
) -> tuple[FloatArray, FloatArray, FloatArray, float, int, bool, IntArray, list[int]]:
    """Rank check on the start-value Gram matrix, then Fisher scoring to convergence."""
    aliased_idx = [j for j in _aliased_columns(g) if j != 0]
    single = [f.name for f in design.factors if len(f.levels) <= 1]
    if aliased_idx or single:
        constant = set(single)
        other: list[str] = []
        d = xs.numeric.shape[1] + 1
        for j in aliased_idx:
            if j < d and np.ptp(xs.numeric[:, j - 1]) == 0:
                constant.add(xs.names[j])
            else:
                other.append(xs.names[j])
        parts = []
        if constant:
            parts.append(f"constant covariate(s) {', '.join(map(repr, sorted(constant)))}")
        if other:
            parts.append(f"linearly dependent column(s) {', '.join(map(repr, other))}")
        msg = (
            f"The propensity model dropped {' and '.join(parts)} (coefficient not estimable, "
            "as R's glm reports NA). Hint: remove them from 'covariates'."
        )
        warnings.warn(msg, PropensityWarning, stacklevel=5)
    keep = np.array([j for j in range(xs.p) if j not in set(aliased_idx)], dtype=np.int64)

    dev = np.inf
    dev_old = np.inf
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        gk = g[np.ix_(keep, keep)]
        try:
            sol = np.linalg.solve(gk, rhs[keep])
        except np.linalg.LinAlgError:
            sol = np.linalg.lstsq(gk, rhs[keep], rcond=None)[0]
        beta = np.zeros(xs.p)
        beta[keep] = sol
        g, rhs, dev = xs.run(beta, yv, 1, pool)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < _EPSILON:
            converged = True
            break
        dev_old = dev
    return beta, g, rhs, dev, it, converged, keep, aliased_idx


def fit_logistic(
    x: FloatArray | Design,
    y: npt.ArrayLike,
    *,
    names: Sequence[str] | None = None,
    max_iter: int = 50,
) -> LogisticFit:
    """Fit ``P(y = 1) = 1 / (1 + exp(-(b0 + x b)))`` by maximum likelihood (IRLS).

    Parameters
    ----------
    x
        Covariates without an intercept (one is added): a dense (n, p) array, or a structured
        :class:`~kvklink.cohort._design.Design` whose categorical covariates enter as
        indicators of every level but the first, without building the indicator columns.
    y
        0/1 outcome of length n.
    names
        Column names of a dense ``x`` (used in warnings and in :attr:`LogisticFit.names`).
    max_iter
        Maximum number of Fisher-scoring iterations.
    """
    if isinstance(x, Design):
        design = x
    else:
        arr = np.asarray(x, dtype=np.float64)
        col_names = list(names) if names is not None else [f"x{j}" for j in range(arr.shape[1])]
        design = Design(
            n=arr.shape[0],
            numeric=np.asfortranarray(arr),
            numeric_names=col_names,
            factors=[],
            items=[("numeric", j) for j in range(arr.shape[1])],
            binary=np.zeros(arr.shape[1], dtype=np.bool_),
        )
    yv = np.asarray(y, dtype=np.float64)
    xs = _Structured(design)
    beta = np.zeros(xs.p)
    # the start values give every unit the same IRLS weight 0.1875, so this pass also yields
    # the Gram matrix for the rank check
    n_threads = min(os.cpu_count() or 1, len(_blocks(design.n)))
    pool = ThreadPoolExecutor(max_workers=n_threads) if n_threads > 1 else None
    try:
        g, rhs, _ = xs.run(beta, yv, 0, pool)
        beta, g, rhs, dev, it, converged, keep, aliased_idx = _iterate(
            xs, design, yv, g, rhs, max_iter, pool
        )
    finally:
        if pool is not None:
            pool.shutdown()
    eta, mu = xs.eta, xs.mu
    treated = yv == 1
    if treated.any() and (~treated).any():
        separated = float(eta[treated].min()) > float(eta[~treated].max())
    else:  # pragma: no cover - callers check both groups exist
        separated = False
    if separated and (not converged or np.abs(beta).max() > 15):
        msg = (
            f"The propensity model shows perfect separation: the {int(treated.sum())} treated and "
            f"{int((~treated).sum())} control units do not overlap on the covariates, so no "
            "propensity score exists and no comparable controls can be found. Hint: drop or "
            "coarsen the covariate that separates them, or use exact/cem matching."
        )
        raise MatchingError(msg)
    one_sided = []
    for f in design.factors:
        nt = np.bincount(f.codes, weights=yv, minlength=len(f.levels))
        nall = np.bincount(f.codes, minlength=len(f.levels))
        bad = int(np.count_nonzero((nt == 0) | (nt == nall)))
        if bad and len(f.levels) > 1:
            one_sided.append(f"{f.name!r} ({bad} level{'s' if bad != 1 else ''})")
    if one_sided:
        msg = (
            "The propensity model has quasi-separation: some levels of "
            f"{', '.join(one_sided)} occur only among treated or only among control units, so "
            "their scores are pushed towards 0 or 1 and they cannot be matched sensibly. "
            "Hint: match exactly on that covariate, merge rare levels, or drop those units."
        )
        warnings.warn(msg, PropensityWarning, stacklevel=4)
    extreme = int(np.sum((mu < _EPS) | (mu > 1.0 - _EPS)))
    if extreme and not one_sided:
        msg = (
            f"The propensity model fitted probabilities numerically 0 or 1 for {extreme} "
            "unit(s) (quasi-separation); their scores are unreliable. Hint: check for a "
            "covariate level that occurs in only one group."
        )
        warnings.warn(msg, PropensityWarning, stacklevel=4)
    # report coefficients in R's order (covariate order, factor levels in place)
    coef_by_name = dict(
        zip(xs.names, np.where(np.isin(np.arange(xs.p), keep), beta, np.nan), strict=True)
    )
    r_names = ["(Intercept)", *design.model_names]
    coef = np.array([coef_by_name.get(nm, np.nan) for nm in r_names])
    return LogisticFit(
        coef=coef,
        names=r_names,
        linear=eta,
        fitted=mu,
        deviance=dev,
        iterations=it,
        converged=converged,
        aliased=[xs.names[j] for j in aliased_idx],
    )
