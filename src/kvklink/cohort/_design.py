"""Covariate designs built from a frame, the way R's ``model.matrix`` builds them.

Numeric and boolean columns are used as they are; string, categorical and enum columns are
categorical. Two views are produced:

* the *model* design (for the propensity model): every level of a categorical column after
  the first is an indicator column, the first (reference) level is dropped, as R's treatment
  contrasts do. It is kept *structured* — a dense block of numeric columns plus integer level
  codes per categorical — so the logistic fit never materialises the indicator columns;
* the *balance* design: every level is kept, as MatchIt's ``summary()`` shows them, built as a
  dense (n × p) array only when asked for.

Column names follow R: ``race`` with levels ``black``, ``hispan`` becomes ``raceblack``,
``racehispan``. Levels are sorted (an ``Enum`` keeps its declared order), like R's ``factor``.

Examples
--------
>>> import polars as pl
>>> d = build_design(pl.DataFrame({"x": [1.0, 2.0, 3.0], "g": ["b", "a", "b"]}), ["x", "g"])
>>> d.model_names, d.balance_names
(['x', 'gb'], ['x', 'ga', 'gb'])
>>> d.binary.tolist()
[False, True, True]
>>> d.balance_matrix().tolist()
[[1.0, 0.0, 1.0], [2.0, 1.0, 0.0], [3.0, 0.0, 1.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl
from numba import njit, prange

from kvklink.errors import SchemaError

__all__ = ["Design", "Factor", "build_design", "check_missing", "stratum_codes"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def is_categorical_dtype(dtype: pl.DataType) -> bool:
    """Return True for dtypes that kvklink treats as categorical (string, categorical, enum)."""
    return isinstance(dtype, pl.String | pl.Categorical | pl.Enum)


@dataclass(frozen=True)
class Factor:
    """A categorical covariate: level codes 0..L-1 per row and the level labels."""

    name: str
    codes: IntArray
    levels: list[str]


@dataclass(frozen=True)
class Design:
    """Structured design of one frame for a list of covariates (see the module docstring).

    ``items`` lists the covariates in order, each ``("numeric", j)`` (column j of ``numeric``)
    or ``("factor", k)`` (``factors[k]``).
    """

    n: int
    numeric: FloatArray
    numeric_names: list[str]
    factors: list[Factor]
    items: list[tuple[str, int]]
    binary: BoolArray = field(repr=False)

    @property
    def model_names(self) -> list[str]:
        """Model-design column names in covariate order (first level of factors dropped)."""
        out: list[str] = []
        for kind, j in self.items:
            if kind == "numeric":
                out.append(self.numeric_names[j])
            else:
                f = self.factors[j]
                out.extend(f"{f.name}{lv}" for lv in f.levels[1:])
        return out

    @property
    def balance_names(self) -> list[str]:
        """Balance-design column names in covariate order (every level of factors)."""
        out: list[str] = []
        for kind, j in self.items:
            if kind == "numeric":
                out.append(self.numeric_names[j])
            else:
                f = self.factors[j]
                out.extend(f"{f.name}{lv}" for lv in f.levels)
        return out

    def balance_matrix(self) -> FloatArray:
        """The dense (n × p) balance design, Fortran-ordered (column access is cheap)."""
        names = self.balance_names
        out = _empty_fortran(self.n, len(names))
        col = 0
        for kind, j in self.items:
            if kind == "numeric":
                _copy_column(out, col, self.numeric[:, j])
                col += 1
            else:
                f = self.factors[j]
                _indicator_block(out, col, len(f.levels), f.codes)
                col += len(f.levels)
        return out


@njit(cache=True)
def _empty_fortran(n: int, p: int) -> FloatArray:  # pragma: no cover - compiled
    """An uninitialised Fortran-ordered (n, p) float array from numba's allocator.

    Unlike ``np.empty``, this does not ask the kernel for transparent huge pages: where
    ``defrag`` is ``madvise`` that request makes every first touch of a large array stall on
    memory compaction (hundreds of ms for a 1M × 30 design on a busy machine).
    """
    return np.empty((p, n)).T


@njit(cache=True, parallel=True)
def _copy_column(out: FloatArray, col: int, src: FloatArray) -> None:  # pragma: no cover
    """out[:, col] = src, filled by all threads (first touch of fresh pages is the cost)."""
    for i in prange(src.shape[0]):
        out[i, col] = src[i]


@njit(cache=True, parallel=True)
def _indicator_block(
    out: FloatArray, col: int, n_levels: int, codes: IntArray
) -> None:  # pragma: no cover - compiled
    """out[:, col:col + n_levels] = one-hot(codes), column by column in parallel."""
    n = codes.shape[0]
    for lv in prange(n_levels):
        c = col + lv
        for i in range(n):
            out[i, c] = 1.0 if codes[i] == lv else 0.0


def _levels(series: pl.Series) -> list[str]:
    if isinstance(series.dtype, pl.Enum):
        return [str(v) for v in series.dtype.categories.to_list()]
    return sorted(str(v) for v in series.cast(pl.String).unique().to_list())


def check_missing(frame: pl.DataFrame, columns: Sequence[str], *, argument: str) -> None:
    """Raise a :class:`SchemaError` naming each column of ``columns`` with missing values."""
    exprs = []
    for c in dict.fromkeys(columns):
        expr = pl.col(c).is_null()
        if frame.schema[c].is_float():
            expr = expr | pl.col(c).is_nan()
        exprs.append(expr.sum().alias(c))
    if not exprs:
        return
    counts = frame.select(exprs).row(0, named=True)
    bad = {c: int(n) for c, n in counts.items() if n}
    if bad:
        shown = ", ".join(f"{c!r} ({n} row{'s' if n != 1 else ''})" for c, n in bad.items())
        msg = (
            f"The {argument!r} column(s) have missing values: {shown}. "
            "Hint: impute or drop those rows before matching (MatchIt refuses them too)."
        )
        raise SchemaError(msg)


def _is_binary(x: FloatArray) -> bool:
    if x.size == 0:
        return False
    lo, hi = float(x.min()), float(x.max())
    return lo != hi and bool(np.all((x == lo) | (x == hi)))


def build_design(frame: pl.DataFrame, covariates: Sequence[str]) -> Design:
    """Build the structured design of ``covariates`` (no intercept column)."""
    n = frame.height
    num_cols: list[FloatArray] = []
    num_names: list[str] = []
    factors: list[Factor] = []
    items: list[tuple[str, int]] = []
    binary: list[bool] = []
    for name in covariates:
        s = frame.get_column(name)
        if is_categorical_dtype(s.dtype):
            levels = _levels(s)
            if isinstance(s.dtype, pl.Enum):
                codes = s.to_physical().cast(pl.Int64).to_numpy()
            else:  # position among the sorted levels (an Enum of them, no string sort)
                codes = (
                    s.cast(pl.String).cast(pl.Enum(levels)).to_physical().cast(pl.Int64).to_numpy()
                )
            codes = np.ascontiguousarray(codes, dtype=np.int64)
            items.append(("factor", len(factors)))
            factors.append(Factor(name=name, codes=codes, levels=levels))
            binary.extend([True] * len(levels) if len(levels) > 1 else [False])
        elif s.dtype.is_numeric() or s.dtype == pl.Boolean:
            col = np.asarray(s.cast(pl.Float64).to_numpy(), dtype=np.float64)
            items.append(("numeric", len(num_cols)))
            num_cols.append(col)
            num_names.append(name)
            binary.append(_is_binary(col))
        else:
            msg = (
                f"The covariate {name!r} has dtype {s.dtype}, which match cannot use. "
                "Hint: use numeric, boolean, string or categorical columns (convert dates "
                "to a number such as firm age in years)."
            )
            raise SchemaError(msg)
    numeric = np.empty((n, len(num_cols)), dtype=np.float64, order="F")
    for j, col in enumerate(num_cols):
        numeric[:, j] = col
    return Design(
        n=n,
        numeric=numeric,
        numeric_names=num_names,
        factors=factors,
        items=items,
        binary=np.array(binary, dtype=np.bool_),
    )


def stratum_codes(frame: pl.DataFrame, columns: Sequence[str]) -> IntArray:
    """Return a dense int64 code per row for the combination of ``columns`` (row-order free).

    Codes are ranks of the sorted distinct combinations, so they do not depend on row order.
    """
    if not columns:
        return np.zeros(frame.height, dtype=np.int64)
    cols = list(dict.fromkeys(columns))
    sub = frame.select([pl.col(c) for c in cols])
    keys = sub.unique().sort(cols, nulls_last=True).with_row_index("__code")
    coded = sub.join(keys, on=cols, how="left", nulls_equal=True, maintain_order="left")
    return coded.get_column("__code").to_numpy().astype(np.int64)
