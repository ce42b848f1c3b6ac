"""Balance engine: definitions, edge cases, bad input, and properties."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats

from kvklink.cohort._balance import BALANCE_STATISTICS, balance_table, effective_sample_size
from kvklink.errors import InputError


def _data(seed: int, n: int = 80) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 5, n), rng.random(n) < 0.3])
    t = np.zeros(n, dtype=int)
    t[: n // 3] = 1
    rng.shuffle(t)
    w = rng.choice([0.0, 0.5, 1.0, 2.0], size=n)
    w[np.flatnonzero(t)[:2]] = 1.0
    w[np.flatnonzero(1 - t)[:2]] = 1.0
    return X.astype(float), t, w


def test_atc_and_ate_denominators() -> None:
    X, t, w = _data(1)
    x = X[:, 0]
    tb = t == 1
    d_before = x[tb].mean() - x[~tb].mean()
    att = balance_table(X, ["a", "b", "c"], t, w)
    atc = balance_table(X, ["a", "b", "c"], t, w, estimand="ATC")
    ate = balance_table(X, ["a", "b", "c"], t, w, estimand="ATE")
    assert att.before["std_mean_diff"][0] == pytest.approx(d_before / x[tb].std(ddof=1))
    assert atc.before["std_mean_diff"][0] == pytest.approx(d_before / x[~tb].std(ddof=1))
    pooled = math.sqrt((x[tb].var(ddof=1) + x[~tb].var(ddof=1)) / 2)
    assert ate.before["std_mean_diff"][0] == pytest.approx(d_before / pooled)
    # binary: sqrt(p(1-p)) of the treated group
    p = X[tb, 2].mean()
    d2 = X[tb, 2].mean() - X[~tb, 2].mean()
    assert att.binary.tolist() == [False, False, True]
    assert att.before["std_mean_diff"][2] == pytest.approx(d2 / math.sqrt(p * (1 - p)))
    assert math.isnan(att.before["var_ratio"][2])
    assert att.before["ecdf_max"][2] == pytest.approx(abs(d2))


def test_weighted_statistics_by_hand() -> None:
    X, t, w = _data(2)
    bt = balance_table(X, ["a", "b", "c"], t, w)
    assert bt.after is not None
    tb = t == 1
    x = X[:, 0]
    mt = np.average(x[tb], weights=w[tb])
    mc = np.average(x[~tb], weights=w[~tb])
    assert bt.after["mean_treated"][0] == pytest.approx(mt)
    assert bt.after["mean_control"][0] == pytest.approx(mc)
    assert bt.after["std_mean_diff"][0] == pytest.approx((mt - mc) / x[tb].std(ddof=1))

    def cov_wt(v: np.ndarray, ww: np.ndarray) -> float:
        ww = ww / ww.sum()
        m = (ww * v).sum()
        return float((ww * (v - m) ** 2).sum() / (1 - (ww**2).sum()))

    vr = cov_wt(x[tb], w[tb]) / cov_wt(x[~tb], w[~tb])
    assert bt.after["var_ratio"][0] == pytest.approx(vr)
    # weighted eCDFs evaluated at every distinct value of x (zero-weight units included)
    grid = np.unique(x)
    ft = np.array([w[tb][x[tb] <= g].sum() for g in grid]) / w[tb].sum()
    fc = np.array([w[~tb][x[~tb] <= g].sum() for g in grid]) / w[~tb].sum()
    assert bt.after["ecdf_mean"][0] == pytest.approx(np.abs(ft - fc).mean())
    assert bt.after["ecdf_max"][0] == pytest.approx(np.abs(ft - fc).max())
    assert bt.counts["matched_ess"][1] == pytest.approx(effective_sample_size(w[tb]))


def test_sampling_weights_enter_before_and_after() -> None:
    X, t, w = _data(3)
    sw = np.random.default_rng(0).uniform(0.5, 1.5, size=t.size)
    bt = balance_table(X, ["a", "b", "c"], t, w, sd_weights=sw)
    tb = t == 1
    assert bt.before["mean_treated"][0] == pytest.approx(np.average(X[tb, 0], weights=sw[tb]))
    assert bt.after is not None
    assert bt.after["mean_control"][0] == pytest.approx(
        np.average(X[~tb, 0], weights=(w * sw)[~tb])
    )
    assert bt.counts["all_ess"][1] == pytest.approx(effective_sample_size(sw[tb]))


def test_frames_summary_and_html() -> None:
    X, t, w = _data(4)
    bt = balance_table(X, ["a", "b", "c"], t, w, distance=np.linspace(0.1, 0.9, t.size))
    frame = bt.to_frame()
    assert isinstance(frame, pl.DataFrame)
    assert frame.height == 8
    assert frame.columns[:3] == ["variable", "type", "sample"]
    assert set(BALANCE_STATISTICS) <= set(frame.columns)
    assert frame.filter(pl.col("sample") == "after")["n_treated"].unique().to_list() == [
        bt.counts["matched"][1]
    ]
    assert frame.filter(pl.col("type") == "binary")["var_ratio"].null_count() == 2
    assert isinstance(bt.to_frame("pandas"), pd.DataFrame)
    assert bt.to_frame(sample="after").height == 4
    counts = bt.counts_frame()
    assert counts["row"].to_list()[:2] == ["All (ESS)", "All"]
    text = repr(bt)
    assert "Summary of balance for all data" in text
    assert "Std. Mean Diff." in text
    assert "distance" in text
    assert "<table>" in bt._repr_html_()


def test_before_only_table() -> None:
    X, t, _ = _data(5)
    bt = balance_table(X, ["a", "b", "c"], t, None)
    assert bt.after is None
    assert bt.to_frame()["sample"].unique().to_list() == ["before"]
    assert "matched data" not in repr(bt)
    assert "Matched" not in bt.counts_frame()["row"].to_list()


def test_identical_groups_report_raw_difference() -> None:
    X = np.array([[1.0], [2.0], [1.0], [2.0]])
    bt = balance_table(X, ["x"], np.array([1, 1, 0, 0]), None)
    assert bt.before["std_mean_diff"][0] == 0.0
    assert bt.before["ecdf_max"][0] == 0.0


def test_bad_inputs() -> None:
    X, t, w = _data(6)
    names = ["a", "b", "c"]
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(InputError, match="'b'"):
        balance_table(Xn, names, t, w)
    with pytest.raises(InputError, match="names"):
        balance_table(X, ["a"], t, w)
    with pytest.raises(InputError, match="0/1"):
        balance_table(X, names, t * 2, w)
    with pytest.raises(InputError, match="both treated and control"):
        balance_table(X, names, np.ones_like(t), w)
    with pytest.raises(InputError, match="weights"):
        balance_table(X, names, t, -w)
    with pytest.raises(InputError, match="positive weight"):
        balance_table(X, names, t, np.where(t == 1, 0.0, 1.0))
    with pytest.raises(InputError, match="length"):
        balance_table(X, names, t[:-1], w)
    with pytest.raises(InputError, match="estimand"):
        balance_table(X, names, t, w, estimand="ATX")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="match_matrix"):
        balance_table(X, names, t, w, match_matrix=np.zeros((3, 1), dtype=int))


@st.composite
def samples(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(6, 40))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [rng.normal(size=n).round(draw(st.integers(0, 3))), rng.integers(0, 2, n)]
    ).astype(float)
    t = np.zeros(n, dtype=int)
    t[: draw(st.integers(2, n - 2))] = 1
    rng.shuffle(t)
    w = rng.uniform(0.1, 3.0, size=n) * (rng.random(n) < 0.8)
    w[np.flatnonzero(t)[:2]] = 1.0
    w[np.flatnonzero(1 - t)[:2]] = 1.0
    return X, t, w


def _close(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    for k in BALANCE_STATISTICS:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=k)


@settings(max_examples=60, deadline=None)
@given(samples())
@example((np.array([[0.0, 1], [1, 0], [2, 1], [3, 0]]), np.array([1, 1, 0, 0]), np.ones(4)))
def test_properties(sample: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    X, t, w = sample
    bt = balance_table(X, ["x", "d"], t, w)
    assert bt.after is not None
    # 1. invariant to the order of the rows
    perm = np.random.default_rng(0).permutation(t.size)
    bp = balance_table(X[perm], ["x", "d"], t[perm], w[perm])
    _close(bt.before, bp.before)
    _close(bt.after, bp.after)  # type: ignore[arg-type]
    # 2. SMD, variance ratio and eCDF statistics are invariant to x -> a x + b (a > 0)
    #    (unless x is 0/1, where MatchIt switches to the binary formulas)
    if not bt.binary[0]:
        Xa = X.copy()
        Xa[:, 0] = 3.5 * X[:, 0] - 7.0
        ba = balance_table(Xa, ["x", "d"], t, w)
        for k in ("std_mean_diff", "var_ratio", "ecdf_mean", "ecdf_max"):
            np.testing.assert_allclose(ba.before[k][0], bt.before[k][0], rtol=1e-7, atol=1e-7)
    # 3. unweighted eCDF max is the two-sample Kolmogorov-Smirnov statistic
    tb = t == 1
    with warnings.catch_warnings():
        # scipy may warn about its exact p-value; only the statistic is used here
        warnings.simplefilter("ignore", RuntimeWarning)
        ks = stats.ks_2samp(X[tb, 0], X[~tb, 0]).statistic
    assert bt.before["ecdf_max"][0] == pytest.approx(ks, abs=1e-12)
    # 4. all-ones matching weights reproduce the unmatched table
    b1 = balance_table(X, ["x", "d"], t, np.ones(t.size))
    assert b1.after is not None
    _close(b1.after, {**b1.before, "std_pair_dist": b1.after["std_pair_dist"]})
    # 5. bounds
    assert np.all((bt.after["ecdf_max"] >= 0) & (bt.after["ecdf_max"] <= 1 + 1e-12))
    assert np.all(bt.after["ecdf_mean"] <= bt.after["ecdf_max"] + 1e-12)
    assert 0 < bt.counts["matched_ess"][0] <= bt.counts["matched"][0] + 1e-9


def test_covariate_constant_within_groups_gives_infinite_smd_and_is_flagged() -> None:
    X = np.array([[0.0], [0.0], [1.0], [1.0], [1.0]])
    bt = balance_table(X, ["x"], np.array([1, 1, 0, 0, 0]), None)
    assert bt.before["std_mean_diff"][0] == -math.inf
    assert bt.flags("before")["smd"][0]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 60), n_sub=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_pair_distance_equals_brute_force(n: int, n_sub: int, seed: int) -> None:
    from kvklink.cohort._balance import _SubclassPairs

    rng = np.random.default_rng(seed)
    x = rng.normal(size=n).round(1)
    t = rng.random(n) < 0.4
    sub = rng.integers(-1, n_sub, size=n)
    pairs = [
        abs(x[i] - x[j])
        for i in range(n)
        for j in range(n)
        if t[i] and not t[j] and sub[i] >= 0 and sub[i] == sub[j]
    ]
    got = _SubclassPairs.build(t, sub).mean_distance(x)
    if pairs:
        assert got == pytest.approx(float(np.mean(pairs)), rel=1e-10, abs=1e-12)
    else:
        assert math.isnan(got)
