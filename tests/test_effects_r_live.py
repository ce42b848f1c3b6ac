"""Live cross-check of the sandwich algebra against R's lm + sandwich (skipped without R)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kvklink.cohort._effects import estimate_att

pytestmark = [
    pytest.mark.r,
    pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript not available"),
]

R_CODE = r"""
suppressMessages({library(sandwich); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
fit <- lm(y ~ treat, data = d, weights = w)
out <- list(
  est = unname(coef(fit)[2]),
  ols = sqrt(vcov(fit)[2, 2]),
  hc3 = sqrt(vcovHC(fit, type = "HC3")[2, 2]),
  hc1 = sqrt(vcovHC(fit, type = "HC1")[2, 2]),
  cl = sqrt(vcovCL(fit, cluster = ~subclass)[2, 2])
)
g <- read.csv(args[2])
fit2 <- lm(y ~ treat, data = g, weights = w)
out$pairs_est <- unname(coef(fit2)[2])
out$pairs_cl <- sqrt(vcovCL(fit2, cluster = ~subclass + id)[2, 2])
cat(toJSON(out, digits = NA, auto_unbox = TRUE))
"""


def test_against_r_sandwich(tmp_path: Path) -> None:
    rng = np.random.default_rng(42)
    n_t, n_c, k = 60, 150, 3
    n = n_t + n_c
    treat = np.r_[np.ones(n_t, dtype=int), np.zeros(n_c, dtype=int)]
    y = rng.normal(size=n) + 0.7 * treat + rng.normal(scale=0.5, size=n) * treat
    # matching with replacement: each treated unit gets k controls, controls may repeat
    mm = rng.integers(n_t, n, size=(n_t, k))
    for i in range(n_t):
        mm[i] = rng.choice(np.arange(n_t, n), size=k, replace=False)
    mm[:5, 2] = -1  # some treated units with only 2 matches
    counts = np.zeros(n)
    kk = (mm >= 0).sum(axis=1)
    for i in range(n_t):
        for c in mm[i][mm[i] >= 0]:
            counts[c] += 1.0 / kk[i]
    w = counts.copy()
    w[:n_t] = 1.0
    sub = rng.integers(0, 40, size=n)
    keep = w > 0
    pd.DataFrame({"y": y[keep], "treat": treat[keep], "w": w[keep], "subclass": sub[keep]}).to_csv(
        tmp_path / "d.csv", index=False
    )
    rows = []
    for i in range(n_t):
        cs = mm[i][mm[i] >= 0]
        rows.append((y[i], 1, 1.0, i, i))
        rows.extend((y[c], 0, 1.0 / cs.size, i, int(c)) for c in cs)
    pd.DataFrame(rows, columns=["y", "treat", "w", "subclass", "id"]).to_csv(
        tmp_path / "g.csv", index=False
    )
    (tmp_path / "run.R").write_text(R_CODE)
    proc = subprocess.run(
        ["Rscript", str(tmp_path / "run.R"), str(tmp_path / "d.csv"), str(tmp_path / "g.csv")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"R sandwich not usable: {proc.stderr[-200:]}")
    r = json.loads(proc.stdout)
    est = estimate_att(y, treat, w, subclass=sub, cluster="subclass")
    assert est.estimate == pytest.approx(r["est"], rel=1e-9)
    assert est.se_ols == pytest.approx(r["ols"], rel=1e-9)
    assert est.se_hc3 == pytest.approx(r["hc3"], rel=1e-9)
    assert est.se_hc1 == pytest.approx(r["hc1"], rel=1e-9)
    assert est.se_cluster == pytest.approx(r["cl"], rel=1e-9)
    pairs = estimate_att(y, treat, w, match_matrix=mm)
    assert pairs.se_kind.startswith("cluster: matched set + unit")
    assert pairs.estimate == pytest.approx(r["pairs_est"], rel=1e-9)
    assert pairs.se_cluster == pytest.approx(r["pairs_cl"], rel=1e-9)
