"""The propensity fit agrees with statsmodels on both of its accumulation paths.

Few categorical cells: factors folded into one cell code per row; many cells: the row kernel
reads the level codes. Both must give the maximum-likelihood logistic fit.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm

from kvklink.cohort._core import stable_argsort
from kvklink.cohort._design import build_design
from kvklink.cohort._propensity import _Structured, fit_logistic


def _frame(n: int, levels: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    g = rng.integers(0, levels, n)
    h = rng.integers(0, levels, n)
    eta = -0.5 + 0.8 * x1 - 0.4 * x2 + 0.3 * (g % 3) - 0.2 * (h % 2)
    treat = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(np.int64)
    return pl.DataFrame(
        {
            "treat": treat,
            "x1": x1,
            "x2": x2,
            "g": [f"g{v:02d}" for v in g],
            "h": [f"h{v:02d}" for v in h],
        }
    )


@pytest.mark.parametrize(("n", "levels", "cells"), [(3000, 4, True), (3000, 20, False)])
def test_fit_matches_statsmodels(n: int, levels: int, cells: bool) -> None:
    f = _frame(n, levels, seed=levels)
    design = build_design(f, ["x1", "x2", "g", "h"])
    assert (_Structured(design).cell is not None) is cells
    y = f.get_column("treat").to_numpy()
    fit = fit_logistic(design, y)
    dense = np.column_stack(
        [
            np.ones(n),
            f.get_column("x1").to_numpy(),
            f.get_column("x2").to_numpy(),
            *[
                (f.get_column(c).to_numpy() == lv)
                for c in ("g", "h")
                for lv in sorted(set(f[c]))[1:]
            ],
        ]
    ).astype(np.float64)
    ref = sm.GLM(y, dense, family=sm.families.Binomial()).fit(tol=1e-12)
    np.testing.assert_allclose(fit.coef, ref.params, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(fit.fitted, ref.fittedvalues, rtol=0, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.uint64, np.int64])
def test_stable_argsort_equals_numpy_stable(dtype: type) -> None:
    rng = np.random.default_rng(3)
    for distinct in (5, 300, 10**9):
        v = rng.integers(0, distinct, 4000).astype(dtype)
        np.testing.assert_array_equal(stable_argsort(v), np.argsort(v, kind="stable"))
