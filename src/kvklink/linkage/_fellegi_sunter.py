"""Fellegi–Sunter scoring with m/u probabilities estimated by EM (vectorised, seeded).

Comparison vectors (one row of level codes per candidate pair, see
:mod:`kvklink.linkage._compare`) are collapsed into distinct *patterns* with their counts, so
each EM iteration costs O(patterns × fields), not O(pairs). Level 0 (``null``) is treated as
missing: it contributes to neither m nor u. Conditional independence of fields given the
match status is assumed, as in the classic model.

Examples
--------
>>> import numpy as np
>>> from kvklink.linkage._fellegi_sunter import fit_fellegi_sunter
>>> rng = np.random.default_rng(0)
>>> match = rng.random(5000) < 0.2          # 20% matches; 3 fields agree w.p. 0.9 vs 0.1
>>> agree = rng.random((5000, 3)) < np.where(match[:, None], 0.9, 0.1)
>>> levels = np.where(agree, 2, 1).astype(np.int8)   # level 1 = disagree, 2 = agree
>>> model = fit_fellegi_sunter(levels, (3, 3, 3))
>>> round(model.lambda_, 2), model.m_[0].round(2).tolist(), model.u_[0].round(2).tolist()
(0.21, [0.0, 0.09, 0.91], [0.0, 0.89, 0.11])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kvklink.errors import LinkageError

__all__ = ["FellegiSunterModel", "fit_fellegi_sunter", "level_frequencies"]

_FLOOR = 1e-6


@dataclass(frozen=True, eq=False)
class FellegiSunterModel:
    """Fitted Fellegi–Sunter parameters.

    Attributes
    ----------
    lambda_
        Estimated share of matches among the candidate pairs.
    m_, u_
        Per field, the probability of each level (index 0, ``null``, is unused and 0) among
        matches and among non-matches.
    n_iter_, converged_
        EM iterations run and whether the tolerance was reached.
    """

    lambda_: float
    m_: tuple[npt.NDArray[np.float64], ...]
    u_: tuple[npt.NDArray[np.float64], ...]
    n_iter_: int
    converged_: bool

    @property
    def weights_(self) -> tuple[npt.NDArray[np.float64], ...]:
        """Per field, the match weight ``log2(m/u)`` of each level (0 for ``null``)."""
        out = []
        for m, u in zip(self.m_, self.u_, strict=True):
            w = np.zeros_like(m)
            w[1:] = np.log2(m[1:] / u[1:])
            out.append(w)
        return tuple(out)

    @property
    def prior_weight_(self) -> float:
        """``log2(lambda / (1 - lambda))``: the score of a pair with no information."""
        return float(np.log2(self.lambda_ / (1.0 - self.lambda_)))

    def field_weights(self, levels: npt.NDArray[np.integer]) -> npt.NDArray[np.float64]:
        """Partial match weight of every field for every pair (pairs × fields)."""
        weights = self.weights_
        out = np.empty(levels.shape, dtype=np.float64)
        for j, w in enumerate(weights):
            out[:, j] = w[levels[:, j]]
        return out

    def match_weights(self, levels: npt.NDArray[np.integer]) -> npt.NDArray[np.float64]:
        """Total match weight (log2 Bayes factor plus prior) of every pair."""
        out: npt.NDArray[np.float64] = self.prior_weight_ + self.field_weights(levels).sum(axis=1)
        return out

    @staticmethod
    def probability(weight: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Posterior match probability from a total match weight."""
        out: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp2(-np.clip(weight, -60.0, 60.0)))
        return out


def level_frequencies(
    levels: npt.NDArray[np.integer],
    n_levels: Sequence[int],
    *,
    weights: npt.NDArray[np.float64] | None = None,
) -> tuple[npt.NDArray[np.float64], ...]:
    """Smoothed share of each non-null level per field (index 0 set to 0).

    >>> level_frequencies(np.array([[1], [2], [2], [0]]), (3,))[0].round(3).tolist()
    [0.0, 0.333, 0.667]
    """
    out = []
    for j, n in enumerate(n_levels):
        counts = np.bincount(
            levels[:, j].astype(np.int64), weights=weights, minlength=n
        )[:n].astype(np.float64)
        counts[0] = 0.0
        counts[1:] += 0.5 if counts[1:].sum() == 0 else _FLOOR * counts[1:].sum()
        out.append(_normalise(counts))
    return tuple(out)


def _normalise(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    q = p.copy()
    q[0] = 0.0
    q[1:] = np.maximum(q[1:], _FLOOR)
    q[1:] /= q[1:].sum()
    return q


def _default_m(n: int) -> npt.NDArray[np.float64]:
    # Matches mostly agree exactly; partial levels less, "else" rarely.
    raw = np.zeros(n)
    raw[1] = 0.05
    if n > 3:
        raw[2:-1] = 0.15 / (n - 3)
    raw[-1] = 0.8
    return _normalise(raw)


def fit_fellegi_sunter(
    levels: npt.NDArray[np.integer],
    n_levels: Sequence[int],
    *,
    u_init: Sequence[npt.NDArray[np.float64]] | None = None,
    m_init: Sequence[npt.NDArray[np.float64]] | None = None,
    lambda_init: float = 0.05,
    max_iter: int = 1000,
    tol: float = 1e-6,
    smoothing: float = 1e-3,
    weights: npt.NDArray[np.float64] | None = None,
) -> FellegiSunterModel:
    """Estimate λ, m and u by EM over the distinct comparison patterns.

    Parameters
    ----------
    levels
        Integer array (pairs × fields) of comparison levels.
    n_levels
        Number of levels of each field (including ``null``).
    u_init, m_init
        Starting values; ``u`` is best initialised from random (almost surely non-matching)
        pairs, ``m`` defaults to "mostly exact agreement".
    lambda_init, max_iter, tol
        Starting match share, iteration cap, and the convergence tolerance on the largest
        parameter change.
    smoothing
        Pseudo-count added to every level in each M-step, as a share of the class's
        (expected) pair count.
    weights
        Optional weight of every pair (default 1): a sampled pair can stand for several.
    """
    lv = np.asarray(levels)
    if lv.ndim != 2 or lv.shape[1] != len(n_levels):
        msg = (
            f"The comparison levels have shape {lv.shape} but {len(n_levels)} fields were "
            "declared. Hint: one column per field comparison."
        )
        raise LinkageError(msg)
    if lv.shape[0] == 0:
        msg = "No candidate pairs to fit the Fellegi–Sunter model on. Hint: check blocking."
        raise LinkageError(msg)
    n_fields = lv.shape[1]
    radix = np.array(n_levels, dtype=np.int64)
    mult = np.ones(n_fields, dtype=np.int64)
    for j in range(n_fields - 2, -1, -1):
        mult[j] = mult[j + 1] * radix[j + 1]
    # one integer code per pair (column by column: levels stored field-major stay contiguous)
    codes = np.zeros(lv.shape[0], dtype=np.int64)
    for j in range(n_fields):
        codes *= radix[j]
        codes += lv[:, j]
    space = int(np.prod(radix))
    if space <= 4 * lv.shape[0] + 1024:
        # few possible patterns: count them directly instead of sorting every pair's code
        tally = np.bincount(codes, weights=weights, minlength=space)
        uniq = np.flatnonzero(tally).astype(np.int64)
        counts = tally[uniq]
    else:
        uniq, inverse = np.unique(codes, return_inverse=True)
        counts = np.bincount(inverse, weights=weights, minlength=uniq.size)
    pats = (uniq[:, None] // mult[None, :]) % radix[None, :]
    w = counts.astype(np.float64)

    m = [_normalise(np.asarray(p, dtype=np.float64)) for p in m_init] if m_init else [
        _default_m(n) for n in n_levels
    ]
    if u_init is not None:
        u = [_normalise(np.asarray(p, dtype=np.float64)) for p in u_init]
    else:
        u = list(level_frequencies(lv, n_levels, weights=weights))
    lam = float(np.clip(lambda_init, 1e-6, 1 - 1e-6))
    onehots = [
        (pats[:, j][:, None] == np.arange(n)[None, :]).astype(np.float64)
        for j, n in enumerate(n_levels)
    ]
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - iteration count is reported
        log_m = np.zeros(len(uniq))
        log_u = np.zeros(len(uniq))
        for j in range(n_fields):
            log_m += np.log(np.where(pats[:, j] == 0, 1.0, m[j][pats[:, j]]))
            log_u += np.log(np.where(pats[:, j] == 0, 1.0, u[j][pats[:, j]]))
        a = np.log(lam) + log_m
        b = np.log1p(-lam) + log_u
        g = 1.0 / (1.0 + np.exp(np.clip(b - a, -700, 700)))
        gm = w * g
        gu = w * (1.0 - g)
        new_lam = float(np.clip(gm.sum() / w.sum(), 1e-9, 1 - 1e-9))
        # Additive (Dirichlet) smoothing keeps every level's weight finite and stops EM from
        # driving a rarely observed level to probability zero.
        a_m = smoothing * max(gm.sum(), 1.0)
        a_u = smoothing * max(gu.sum(), 1.0)
        new_m = [_normalise(gm @ oh + a_m) for oh in onehots]
        new_u = [_normalise(gu @ oh + a_u) for oh in onehots]
        delta = max(
            abs(new_lam - lam),
            max(float(np.abs(a_ - b_).max()) for a_, b_ in zip(new_m, m, strict=True)),
            max(float(np.abs(a_ - b_).max()) for a_, b_ in zip(new_u, u, strict=True)),
        )
        lam, m, u = new_lam, new_m, new_u
        if delta < tol:
            converged = True
            break
    return FellegiSunterModel(
        lambda_=lam, m_=tuple(m), u_=tuple(u), n_iter_=it, converged_=converged
    )
