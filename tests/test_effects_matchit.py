"""ATT and its standard errors agree with R (lm + sandwich) after MatchIt 4.7.2 on lalonde."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from kvklink.cohort._effects import EffectEstimate, estimate_att
from kvklink.errors import InputError

REF = Path("/work/shared/reference/matchit")
SPECS = ["a", "b", "c", "d", "e", "f_cem", "f_exact"]


def _load(spec: str) -> dict[str, Any]:
    df = pd.read_csv(REF / "lalonde.csv")
    ref = json.loads((REF / f"lalonde_{spec}.json").read_text())
    mu = pd.DataFrame(ref["matched_units"])
    weights = (
        df["id"].map(dict(zip(mu["id"], mu["weight"], strict=True))).fillna(0.0).to_numpy(float)
    )
    subclass = None
    if mu["subclass"].notna().any():
        subclass = (
            df["id"]
            .map(dict(zip(mu["id"], mu["subclass"], strict=True)))
            .fillna(-1)
            .astype(int)
            .to_numpy()
        )
    mm = None
    treat = df["treat"].to_numpy()
    if "match_matrix" in ref:
        row = {u: i for i, u in enumerate(df["id"])}
        treated_rows = np.flatnonzero(treat == 1)
        k = max(len(m["controls"]) for m in ref["match_matrix"])
        mm = np.full((treated_rows.shape[0], k), -1, dtype=np.int64)
        for m in ref["match_matrix"]:
            i = int(np.searchsorted(treated_rows, row[m["treated"]]))
            for j, c in enumerate(m["controls"]):
                if c is not None:
                    mm[i, j] = row[c]
    return {
        "ref": ref,
        "y": df["re78"].to_numpy(float),
        "treat": treat,
        "weights": weights,
        "subclass": subclass,
        "match_matrix": mm,
    }


pytestmark = pytest.mark.skipif(not REF.exists(), reason="MatchIt reference files not present")


@pytest.mark.parametrize("spec", SPECS)
def test_att_and_all_ses_match_r(spec: str) -> None:
    d = _load(spec)
    att = d["ref"]["att"]
    est = estimate_att(
        d["y"], d["treat"], d["weights"], subclass=d["subclass"], match_matrix=d["match_matrix"]
    )
    rel = 1e-6
    assert est.estimate == pytest.approx(att["estimate"], rel=rel)
    assert est.se_ols == pytest.approx(att["se_ols"], rel=rel)
    assert est.se_hc3 == pytest.approx(att["se_hc3"], rel=rel)
    assert est.se_hc1 == pytest.approx(att["se_hc1"], rel=rel)
    assert est.mean_treated == pytest.approx(att["weighted_mean_treated"], rel=rel)
    assert est.mean_control == pytest.approx(att["weighted_mean_control"], rel=rel)
    assert est.n_treated + est.n_control == att["n_rows_matchdata"]
    if "se_cluster_subclass" in att:
        # vcovCL(fit, cluster = ~subclass), HC1 with cadjust
        assert est.se_kind == "cluster: subclass"
        assert est.se_cluster == pytest.approx(att["se_cluster_subclass"], rel=rel)
        assert est.n_clusters == att["n_clusters"]
    else:
        # with replacement: get_matches() rows, clustered by matched set and unit
        assert est.se_kind.startswith("cluster: matched set + unit")
        assert est.se_cluster == pytest.approx(att["se_cluster_subclass_id_get_matches"], rel=rel)
        assert est.estimate == pytest.approx(att["get_matches_estimate"], rel=rel)
    assert est.se == est.se_cluster


@pytest.mark.parametrize("spec", ["a", "f_cem", "f_exact"])
def test_cross_check_with_statsmodels(spec: str) -> None:
    d = _load(spec)
    keep = d["weights"] > 0
    y, t, w, s = d["y"][keep], d["treat"][keep], d["weights"][keep], d["subclass"][keep]
    X = sm.add_constant(t.astype(float))
    fit = sm.WLS(y, X, weights=w)
    est = estimate_att(d["y"], d["treat"], d["weights"], subclass=d["subclass"], ci="t")
    assert est.se_hc3 == pytest.approx(float(fit.fit(cov_type="HC3").bse[1]), rel=1e-9)
    assert est.se_hc1 == pytest.approx(float(fit.fit(cov_type="HC1").bse[1]), rel=1e-9)
    cl = fit.fit(cov_type="cluster", cov_kwds={"groups": s})
    assert est.se_cluster == pytest.approx(float(cl.bse[1]), rel=1e-9)
    ols = fit.fit()
    lo, hi = ols.conf_int(0.05)[1]
    t_est = estimate_att(d["y"], d["treat"], d["weights"], cluster="none", ci="t")
    # with the OLS SE the t interval is statsmodels' (and R's confint) interval
    crit = (hi - lo) / 2 / float(ols.bse[1])
    assert (t_est.ci_high - t_est.ci_low) / 2 / t_est.se == pytest.approx(crit, rel=1e-9)


def test_normal_interval_and_frame() -> None:
    d = _load("a")
    est = estimate_att(d["y"], d["treat"], d["weights"], subclass=d["subclass"])
    assert est.ci_method == "normal"
    assert est.ci_low == pytest.approx(est.estimate - 1.959963984540054 * est.se, rel=1e-12)
    assert est.ci_high == pytest.approx(est.estimate + 1.959963984540054 * est.se, rel=1e-12)
    frame = est.to_frame()
    assert frame.height == 1
    assert {"estimate", "se", "n_treated", "n_control", "n_clusters"} <= set(frame.columns)
    pdf = est.to_frame("pandas")
    assert isinstance(pdf, pd.DataFrame)
    text = repr(est)
    assert "ATT=" in text
    assert "cluster: subclass" in text
    assert "CI" in est.summary()
    assert "<div" in est._repr_html_()


def test_naive_difference_without_weights() -> None:
    d = _load("a")
    est = estimate_att(d["y"], d["treat"])
    y, t = d["y"], d["treat"] == 1
    assert est.estimate == pytest.approx(y[t].mean() - y[~t].mean(), rel=1e-12)
    assert est.se_kind == "HC3"
    assert est.n_treated == 185
    assert est.n_control == 429


def test_bad_inputs_are_clear_errors() -> None:
    y = np.array([1.0, 2, 3, 4])
    with pytest.raises(InputError, match="treat"):
        estimate_att(y, np.array([1, 2, 0, 0]))
    with pytest.raises(InputError, match="treated and control"):
        estimate_att(y, np.array([1, 1, 1, 1]))
    with pytest.raises(InputError, match="missing"):
        estimate_att(np.array([1.0, np.nan, 3, 4]), np.array([1, 1, 0, 0]))
    with pytest.raises(InputError, match="subclass"):
        estimate_att(y, np.array([1, 1, 0, 0]), cluster="subclass")
    with pytest.raises(InputError, match="level"):
        estimate_att(y, np.array([1, 1, 0, 0]), level=95)
    # a missing outcome on an unmatched unit is fine
    est = estimate_att(
        np.array([1.0, 2, 3, 4, np.nan]), np.array([1, 1, 0, 0, 0]), np.array([1, 1, 1, 1, 0.0])
    )
    assert isinstance(est, EffectEstimate)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(6, 40),
    seed=st.integers(0, 10_000),
    shift=st.floats(-5, 5),
    scale=st.floats(0.1, 10),
)
def test_properties_difference_in_means_and_invariances(
    n: int, seed: int, shift: float, scale: float
) -> None:
    rng = np.random.default_rng(seed)
    t = np.zeros(n, dtype=int)
    t[: max(2, n // 3)] = 1
    y = rng.normal(size=n)
    w = rng.uniform(0.2, 3.0, size=n)
    sub = rng.integers(0, 4, size=n)
    est = estimate_att(y, t, w, subclass=sub)
    tb = t == 1
    diff = np.average(y[tb], weights=w[tb]) - np.average(y[~tb], weights=w[~tb])
    assert est.estimate == pytest.approx(diff, abs=1e-9)
    # location shift leaves everything unchanged, scaling scales the estimate and every SE
    est2 = estimate_att(scale * y + shift, t, w, subclass=sub)
    assert est2.estimate == pytest.approx(scale * est.estimate, abs=1e-8)
    for a, b in [
        (est.se_ols, est2.se_ols),
        (est.se_hc1, est2.se_hc1),
        (est.se_cluster, est2.se_cluster),
    ]:
        assert b == pytest.approx(scale * a, rel=1e-6, abs=1e-9)  # type: ignore[operator]
    # rescaling the control weights as a group changes nothing in the point estimate
    w3 = np.where(tb, w, 2.5 * w)
    assert estimate_att(y, t, w3).estimate == pytest.approx(est.estimate, abs=1e-9)
    assert math.isfinite(est.se)
