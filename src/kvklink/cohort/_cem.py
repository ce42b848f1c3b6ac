"""Exact and coarsened exact matching (CEM) as MatchIt does them.

CEM coarsens every numeric covariate into bins and matches exactly on the combination of bins
and categorical levels. MatchIt's default coarsening is Sturges' rule: ``ceiling(log2(n) + 1)``
equal-width bins between the minimum and maximum over all units, the outer edges opened to
±infinity, and a value on an edge going to the bin on its right (R's ``findInterval``).
Categorical covariates are matched exactly. A stratum is kept when it holds at least one
treated and one control unit; the others' units are unmatched.

Subclasses are numbered 1, 2, … in the order in which they first occur in the data, as
MatchIt numbers them.

Examples
--------
>>> import numpy as np
>>> sturges_breaks(np.array([0.0, 1.0, 2.0, 3.0])).tolist()
[-inf, 1.0, 2.0, inf]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from kvklink.cohort._design import is_categorical_dtype
from kvklink.errors import MatchingError

__all__ = ["Cutpoints", "cem_strata", "exact_subclass", "sturges_breaks"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Cutpoints = Mapping[str, int | str | Sequence[float]]


def _equal_width(x: FloatArray, bins: int) -> FloatArray:
    lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        edges = np.full(bins + 1, lo)
    else:
        step = (hi - lo) / bins
        edges = lo + np.arange(bins + 1, dtype=np.float64) * step
        edges[-1] = hi
    edges[0], edges[-1] = -np.inf, np.inf
    return edges


def sturges_breaks(x: FloatArray) -> FloatArray:
    """Bin edges of MatchIt's default CEM coarsening of ``x`` (Sturges' rule)."""
    bins = math.ceil(math.log2(x.size) + 1)
    return _equal_width(x, bins)


def _breaks_for(name: str, x: FloatArray, spec: int | str | Sequence[float]) -> FloatArray | None:
    if isinstance(spec, str):
        if spec != "sturges":
            msg = (
                f"The 'cutpoints' entry for {name!r} must be 'sturges', a number of bins or a "
                f"list of cut points. Got {spec!r} instead."
            )
            raise MatchingError(msg)
        return sturges_breaks(x)
    if isinstance(spec, bool | np.bool_):
        msg = f"The 'cutpoints' entry for {name!r} must be a number of bins. Got a bool instead."
        raise MatchingError(msg)
    if isinstance(spec, int | np.integer):
        if spec < 0:
            msg = (
                f"The 'cutpoints' entry for {name!r} must be an int >= 0 (0 = no coarsening). "
                f"Got {int(spec)} instead."
            )
            raise MatchingError(msg)
        if spec == 0:
            return None
        return _equal_width(x, int(spec))
    cuts = np.unique(np.asarray(list(spec), dtype=np.float64))
    return np.concatenate([[-np.inf], cuts, [np.inf]])


def cem_strata(
    frame: pl.DataFrame,
    covariates: Sequence[str],
    *,
    cutpoints: Cutpoints | None = None,
    coarsen: bool = True,
) -> pl.DataFrame:
    """Return one (coarsened) code column per covariate, ready to group on.

    With ``coarsen=False`` (exact matching) numeric values are used as they are.
    """
    cuts = dict(cutpoints or {})
    unknown = sorted(set(cuts) - set(covariates))
    if unknown:
        msg = (
            f"The 'cutpoints' name(s) {', '.join(map(repr, unknown))} are not among the "
            "covariates. Hint: give cut points only for covariates you match on."
        )
        raise MatchingError(msg)
    cols: list[pl.Series] = []
    for name in covariates:
        s = frame.get_column(name)
        if not coarsen or is_categorical_dtype(s.dtype) or s.dtype == pl.Boolean:
            cols.append(s.alias(name))
            continue
        x = s.cast(pl.Float64).to_numpy()
        edges = _breaks_for(name, x, cuts.get(name, "sturges"))
        if edges is None:
            cols.append(s.alias(name))
        else:
            codes = np.searchsorted(edges, x, side="right").astype(np.int64)
            cols.append(pl.Series(name, codes))
    return pl.DataFrame(cols)


def exact_subclass(codes: pl.DataFrame, treat: BoolArray) -> IntArray:
    """Subclass per unit (1-based, first-occurrence order; -1 = unmatched) from code columns.

    A combination of codes is a subclass when it holds both treated and control units.
    """
    n = codes.height
    if codes.width == 0:
        group = np.zeros(n, dtype=np.int64)
    else:
        keyed = codes.with_columns(pl.Series("__t", treat))
        group = (
            keyed.select(pl.struct(codes.columns).rank("dense").alias("g"))
            .get_column("g")
            .to_numpy()
            .astype(np.int64)
            - 1
        )
    n_groups = int(group.max()) + 1 if n else 0
    nt = np.bincount(group, weights=treat.astype(np.float64), minlength=n_groups)
    nc = np.bincount(group, weights=(~treat).astype(np.float64), minlength=n_groups)
    good = (nt > 0) & (nc > 0)
    keep = good[group]
    sub = np.full(n, -1, dtype=np.int64)
    if keep.any():
        # number the kept groups by their first occurrence in row order
        first = np.full(n_groups, n, dtype=np.int64)
        np.minimum.at(first, group, np.arange(n))
        kept_groups = np.flatnonzero(good)
        rank = np.empty(n_groups, dtype=np.int64)
        rank[kept_groups[np.argsort(first[kept_groups], kind="stable")]] = np.arange(
            1, kept_groups.size + 1
        )
        sub[keep] = rank[group[keep]]
    return sub
