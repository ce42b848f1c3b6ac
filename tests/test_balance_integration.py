"""kvklink.match results feed the balance, summary, effect and plot functions."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import kvklink
from kvklink.cohort._effects import att_from_match
from kvklink.cohort._summary import summarise_match

REF = Path("/work/shared/reference/matchit")
COVS = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]
SPECS = {
    "a": {},
    "c": {"ratio": 2, "replace": True},
    "e": {"exact": ["married", "nodegree"]},
    "f_cem": {"method": "cem"},
    "f_exact": {"method": "exact"},
}

pytestmark = pytest.mark.skipif(not REF.exists(), reason="MatchIt reference files not present")


@pytest.fixture(scope="module")
def lalonde() -> pd.DataFrame:
    return pd.read_csv(REF / "lalonde.csv")


@pytest.mark.parametrize("spec", list(SPECS))
def test_summary_of_a_match_agrees_with_matchit(lalonde: pd.DataFrame, spec: str) -> None:
    ref = json.loads((REF / f"lalonde_{spec}.json").read_text())
    result = kvklink.match(lalonde, treatment="treat", covariates=COVS, **SPECS[spec])  # type: ignore[arg-type]
    bt = summarise_match(result)
    assert list(bt.names) == [r["variable"] for r in ref["balance"]["after"]]
    assert bt.after is not None
    for i, row in enumerate(ref["balance"]["after"]):
        assert bt.after["std_mean_diff"][i] == pytest.approx(row["std_mean_diff"], abs=1e-3)
        if row["var_ratio"] is not None:
            assert bt.after["var_ratio"][i] == pytest.approx(row["var_ratio"], abs=1e-3)
    nn = {r["row"]: (r["control"], r["treated"]) for r in ref["counts"]["summary_nn"]}
    assert bt.counts["matched"] == nn["Matched"]
    text = repr(bt)
    assert "Summary of balance for matched data" in text
    assert "Sample sizes" in text
    assert "<table>" in bt._repr_html_()
    assert isinstance(bt.plot(), matplotlib.figure.Figure)


@pytest.mark.parametrize("spec", ["f_cem", "f_exact"])
def test_effect_of_a_deterministic_match_equals_r(lalonde: pd.DataFrame, spec: str) -> None:
    ref = json.loads((REF / f"lalonde_{spec}.json").read_text())
    result = kvklink.match(lalonde, treatment="treat", covariates=COVS, **SPECS[spec])  # type: ignore[arg-type]
    est = att_from_match(result, lalonde["re78"].to_numpy())
    assert est.estimate == pytest.approx(ref["att"]["estimate"], rel=1e-6)
    assert est.se == pytest.approx(ref["att"]["se_cluster_subclass"], rel=1e-6)


def test_effect_with_replacement_uses_pair_clustering(lalonde: pd.DataFrame) -> None:
    result = kvklink.match(lalonde, treatment="treat", covariates=COVS, ratio=2, replace=True)
    est = att_from_match(result, lalonde["re78"].to_numpy())
    assert est.se_kind.startswith("cluster: matched set + unit")
    assert np.isfinite(est.se)
    assert est.n_treated == 185
