"""Unpenalised logistic regression by iteratively reweighted least squares (R's ``glm``).

The fit follows ``glm(..., family = binomial)``: starting values ``mu = (y + 0.5) / 2``, Fisher
scoring (Newton for the canonical logit link), aliased (linearly dependent or constant)
columns dropped like R's pivoted QR does (R reports their coefficient as ``NA``; here ``nan``).
Iteration continues until the deviance changes by less than ``1e-12`` relative, tighter than R's
``1e-8`` so the fitted probabilities are the maximum-likelihood ones to machine precision.

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

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kvklink.errors import MatchingError

__all__ = ["LogisticFit", "PropensityWarning", "fit_logistic"]

FloatArray = npt.NDArray[np.float64]
_EPS = 10 * np.finfo(np.float64).eps


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


def _aliased_columns(x: FloatArray, tol: float = 1e-9) -> list[int]:
    """Indices of columns (intercept at 0) linearly dependent on earlier columns.

    Works on the Gram matrix of the column-normalised design (sequential Cholesky), so it
    costs one pass over the data; ``tol`` is on the squared residual-norm ratio.
    """
    norms = np.sqrt(np.einsum("ij,ij->j", x, x))
    norms[norms == 0] = 1.0
    gram = (x.T @ x) / np.outer(norms, norms)
    kept: list[int] = []
    aliased: list[int] = []
    for j in range(x.shape[1]):
        if norms[j] == 1.0 and not np.any(x[:, j]):
            aliased.append(j)
            continue
        if kept:
            g_kk = gram[np.ix_(kept, kept)]
            g_kj = gram[kept, j]
            sol = np.linalg.solve(g_kk, g_kj)
            resid = gram[j, j] - float(g_kj @ sol)
        else:
            resid = gram[j, j]
        if resid < tol:
            aliased.append(j)
        else:
            kept.append(j)
    return aliased


def fit_logistic(
    x: FloatArray,
    y: npt.ArrayLike,
    *,
    names: Sequence[str] | None = None,
    max_iter: int = 50,
    sources: Sequence[str] | None = None,
) -> LogisticFit:
    """Fit ``P(y = 1) = 1 / (1 + exp(-(b0 + x b)))`` by maximum likelihood (IRLS).

    Parameters
    ----------
    x
        Covariates, shape (n, p), without an intercept (one is added).
    y
        0/1 outcome of length n.
    names
        Column names of ``x`` (used in warnings and in :attr:`LogisticFit.names`).
    max_iter
        Maximum number of Fisher-scoring iterations.
    sources
        The covariate each column came from (for warnings); defaults to ``names``.
    """
    yv = np.asarray(y, dtype=np.float64)
    n, p = x.shape
    col_names = list(names) if names is not None else [f"x{j}" for j in range(p)]
    src = list(sources) if sources is not None else col_names
    design = np.empty((n, p + 1), dtype=np.float64)
    design[:, 0] = 1.0
    design[:, 1:] = x
    aliased_idx = _aliased_columns(design)
    if 0 in aliased_idx:  # pragma: no cover - the intercept column cannot be aliased
        aliased_idx.remove(0)
    aliased = [col_names[j - 1] for j in aliased_idx]
    if aliased:
        constant = sorted({src[j - 1] for j in aliased_idx if np.ptp(x[:, j - 1]) == 0})
        other = [c for j, c in zip(aliased_idx, aliased, strict=True) if np.ptp(x[:, j - 1]) > 0]
        parts = []
        if constant:
            parts.append(f"constant covariate(s) {', '.join(map(repr, constant))}")
        if other:
            parts.append(f"linearly dependent column(s) {', '.join(map(repr, other))}")
        msg = (
            f"The propensity model dropped {' and '.join(parts)} (coefficient not estimable, "
            "as R's glm reports NA). Hint: remove them from 'covariates'."
        )
        warnings.warn(msg, PropensityWarning, stacklevel=4)
    keep = [j for j in range(p + 1) if j not in set(aliased_idx)]
    xd = np.ascontiguousarray(design[:, keep])
    del design

    mu = (yv + 0.5) / 2.0
    eta = np.log(mu / (1.0 - mu))
    beta = np.zeros(len(keep))
    dev_old = np.inf
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        w = mu * (1.0 - mu)
        w = np.maximum(w, 1e-300)
        z = eta + (yv - mu) / w
        xw = xd * w[:, None]
        xtwx = xw.T @ xd
        xtwz = xw.T @ z
        del xw
        try:
            beta = np.linalg.solve(xtwx, xtwz)
        except np.linalg.LinAlgError:
            beta = np.linalg.lstsq(xtwx, xtwz, rcond=None)[0]
        eta = xd @ beta
        mu = 1.0 / (1.0 + np.exp(-eta))
        mu = np.clip(mu, np.finfo(np.float64).tiny, 1.0 - np.finfo(np.float64).epsneg)
        dev = float(-2.0 * np.sum(yv * np.log(mu) + (1.0 - yv) * np.log1p(-mu)))
        if abs(dev - dev_old) / (abs(dev) + 0.1) < 1e-12:
            converged = True
            break
        dev_old = dev
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
    extreme = int(np.sum((mu < _EPS) | (mu > 1.0 - _EPS)))
    if extreme:
        msg = (
            f"The propensity model fitted probabilities numerically 0 or 1 for {extreme} "
            "unit(s) (quasi-separation); their scores are unreliable. Hint: check for a "
            "covariate level that occurs in only one group."
        )
        warnings.warn(msg, PropensityWarning, stacklevel=4)
    coef = np.full(p + 1, np.nan)
    coef[keep] = beta
    return LogisticFit(
        coef=coef,
        names=["(Intercept)", *col_names],
        linear=eta,
        fitted=mu,
        deviance=dev,
        iterations=it,
        converged=converged,
        aliased=aliased,
    )
