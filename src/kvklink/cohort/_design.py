"""Covariate design matrices built from a frame, the way R's ``model.matrix`` builds them.

Numeric and boolean columns are used as they are; string, categorical and enum columns are
expanded into one indicator per level. Two versions are produced:

* the *model* design (for the propensity model): levels of a categorical column after the
  first are kept, the first (reference) level is dropped, as R's treatment contrasts do;
* the *balance* design: every level is kept, as MatchIt's ``summary()`` shows them.

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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

from kvklink.errors import SchemaError

__all__ = ["Design", "build_design", "is_categorical_dtype", "stratum_codes"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def is_categorical_dtype(dtype: pl.DataType) -> bool:
    """Return True for dtypes that kvklink treats as categorical (string, categorical, enum)."""
    return isinstance(dtype, pl.String | pl.Categorical | pl.Enum)


@dataclass(frozen=True)
class Design:
    """Design matrices of one frame for a list of covariates (see the module docstring)."""

    model: FloatArray
    model_names: list[str]
    balance: FloatArray
    balance_names: list[str]
    binary: BoolArray
    source: list[str] = field(default_factory=list)
    """For every model column, the covariate it came from."""
    factors: dict[str, list[str]] = field(default_factory=dict)
    """The levels of every categorical covariate, in order."""


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


def build_design(frame: pl.DataFrame, covariates: Sequence[str]) -> Design:
    """Build the model and balance designs of ``covariates`` (no intercept column)."""
    n = frame.height
    model_cols: list[FloatArray] = []
    model_names: list[str] = []
    source: list[str] = []
    bal_cols: list[FloatArray] = []
    bal_names: list[str] = []
    factors: dict[str, list[str]] = {}
    for name in covariates:
        s = frame.get_column(name)
        if is_categorical_dtype(s.dtype):
            levels = _levels(s)
            values = s.cast(pl.String).to_numpy()
            for j, level in enumerate(levels):
                col = (values == level).astype(np.float64)
                bal_cols.append(col)
                bal_names.append(f"{name}{level}")
                if j > 0:
                    model_cols.append(col)
                    model_names.append(f"{name}{level}")
                    source.append(name)
            factors[name] = levels
        elif s.dtype.is_numeric() or s.dtype == pl.Boolean:
            col = s.cast(pl.Float64).to_numpy().astype(np.float64, copy=False)
            model_cols.append(col)
            model_names.append(name)
            source.append(name)
            bal_cols.append(col)
            bal_names.append(name)
        else:
            msg = (
                f"The covariate {name!r} has dtype {s.dtype}, which match cannot use. "
                "Hint: use numeric, boolean, string or categorical columns (convert dates "
                "to a number such as firm age in years)."
            )
            raise SchemaError(msg)
    model = np.column_stack(model_cols) if model_cols else np.empty((n, 0))
    balance = np.column_stack(bal_cols) if bal_cols else np.empty((n, 0))
    binary = np.array(
        [np.unique(balance[:, j]).size == 2 for j in range(balance.shape[1])], dtype=np.bool_
    )
    return Design(
        model=np.ascontiguousarray(model, dtype=np.float64),
        model_names=model_names,
        balance=np.ascontiguousarray(balance, dtype=np.float64),
        balance_names=bal_names,
        binary=binary,
        source=source,
        factors=factors,
    )


def stratum_codes(frame: pl.DataFrame, columns: Sequence[str]) -> IntArray:
    """Return a dense int64 code per row for the combination of ``columns`` (row-order free).

    Codes are ranks of the sorted distinct combinations, so they do not depend on row order.
    """
    if not columns:
        return np.zeros(frame.height, dtype=np.int64)
    sub = frame.select([pl.col(c) for c in columns])
    keys = sub.unique().sort(list(columns), nulls_last=True).with_row_index("__code")
    coded = sub.join(keys, on=list(columns), how="left", nulls_equal=True, maintain_order="left")
    return coded.get_column("__code").to_numpy().astype(np.int64)
