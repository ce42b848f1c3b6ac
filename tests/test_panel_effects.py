"""Event-time DiD and Callaway & Sant'Anna group-time ATTs on simulated panels."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
import statsmodels.api as sm
from scipy import stats

from kvklink.cohort._panel import EventStudyResult, GroupTimeResult, event_study, group_time_att
from kvklink.errors import InputError, SchemaError

YEARS = np.arange(2010, 2020)


def staggered_panel(
    seed: int,
    effect: str = "constant",
    n_per_group: int = 400,
    groups: tuple[int, ...] = (2013, 2015, 2017, 0),
) -> pl.DataFrame:
    """Y_it = a_i + l_t + tau(t - g) 1[t >= g] + noise; levels differ by group (selection)."""
    rng = np.random.default_rng(seed)
    rows = []
    lam = rng.normal(scale=1.0, size=YEARS.size).cumsum()
    uid = 0
    for g in groups:
        for _ in range(n_per_group):
            a = rng.normal(loc=0.5 * (g > 0) + 0.0002 * g, scale=1.0)
            for j, t in enumerate(YEARS):
                e = t - g
                tau = 0.0
                if g > 0 and e >= 0:
                    tau = 2.0 if effect == "constant" else 1.0 + 0.5 * e
                rows.append((uid, int(t), a + lam[j] + tau + rng.normal(scale=1.0), g))
            uid += 1
    return pl.DataFrame(rows, schema=["unit", "year", "y", "g"], orient="row")


def true_effect(e: int, effect: str) -> float:
    if e < 0:
        return 0.0
    return 2.0 if effect == "constant" else 1.0 + 0.5 * e


@pytest.mark.parametrize("effect", ["constant", "dynamic"])
@pytest.mark.parametrize("control", ["never", "notyet"])
def test_group_time_recovers_known_effects(effect: str, control: str) -> None:
    panel = staggered_panel(1, effect)
    res = group_time_att(panel, unit="unit", time="year", outcome="y", group="g", control=control)
    assert isinstance(res, GroupTimeResult)
    tab = res.to_frame()
    truth = np.array([true_effect(e, effect) for e in tab["event_time"]])
    err = tab["estimate"].to_numpy() - truth
    z = err / tab["se"].to_numpy()
    # estimates within tolerance; 95% intervals cover all but a few of the ~27 cells
    assert np.max(np.abs(err)) < 0.5
    covered = (tab["ci_low"].to_numpy() <= truth) & (truth <= tab["ci_high"].to_numpy())
    assert covered.mean() >= 0.85
    assert np.mean(z**2) < 2.0  # SEs are the right size (z-scores have variance about 1)
    dyn = res.aggregate("dynamic").to_frame()
    for row in dyn.iter_rows(named=True):
        t = true_effect(row["event_time"], effect)
        assert abs(row["estimate"] - t) < 0.35, row
    pre = dyn.filter(pl.col("event_time") < 0)
    assert pre.height > 0
    # no pre-trend: pre-period estimates are near 0, and the joint Wald test does not reject
    # (the pre cells share data, so a joint test rather than separate intervals)
    assert (pre["estimate"].abs() < 0.35).all()
    test = res.pretrend_test()
    assert test["df"] >= 6
    assert test["p_value"] > 0.001
    simple = res.aggregate("simple").overall
    post = tab.filter(pl.col("event_time") >= 0)
    target = float(np.mean([true_effect(e, effect) for e in post["event_time"]]))
    assert simple["ci_low"] <= target <= simple["ci_high"]
    grp = res.aggregate("group")
    assert grp.to_frame()["group"].to_list() == [2013, 2015, 2017]
    assert grp.to_frame()["n_treated"].to_list() == [400, 400, 400]
    # unit counts per aggregated row (for disclosure control): all three groups reach e = 0
    assert dyn.filter(pl.col("event_time") == 0)["n_treated"][0] == 1200
    assert dyn.filter(pl.col("event_time") == 6)["n_treated"][0] == 400


def test_two_by_two_closed_form_exact() -> None:
    rng = np.random.default_rng(5)
    n_t, n_c = 7, 11
    y0 = rng.normal(size=n_t + n_c)
    y1 = y0 + rng.normal(size=n_t + n_c) + np.r_[np.full(n_t, 3.0), np.zeros(n_c)]
    g = np.r_[np.full(n_t, 2021), np.zeros(n_c, dtype=int)]
    panel = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n_t + n_c), 2),
            "year": np.tile([2020, 2021], n_t + n_c),
            "y": np.column_stack([y0, y1]).ravel(),
            "g": np.repeat(g, 2),
        }
    )
    res = group_time_att(panel, unit="unit", time="year", outcome="y", group="g")
    tab = res.to_frame()
    assert tab.height == 1
    dy = y1 - y0
    dt, dc = dy[:n_t], dy[n_t:]
    att = dt.mean() - dc.mean()
    var = ((dt - dt.mean()) ** 2).sum() / n_t**2 + ((dc - dc.mean()) ** 2).sum() / n_c**2
    assert tab["estimate"][0] == pytest.approx(att, rel=1e-12)
    assert tab["se"][0] == pytest.approx(math.sqrt(var), rel=1e-12)
    # aggregations of a single cell are that cell
    for kind in ("dynamic", "simple", "group"):
        o = res.aggregate(kind).overall  # type: ignore[arg-type]
        assert o["estimate"] == pytest.approx(att, rel=1e-12)
        assert o["se"] == pytest.approx(math.sqrt(var), rel=1e-9)
    # the matched-sample event study on the same data is the same DiD
    panel["treat"] = (panel["g"] > 0).astype(int)
    panel["index_year"] = 2021
    es = event_study(panel, outcome="y", window=(0, 0))
    assert es.to_frame()["estimate"][0] == pytest.approx(att, rel=1e-12)


def test_weighted_two_by_two_and_universal_base() -> None:
    rng = np.random.default_rng(9)
    n = 30
    g = np.where(np.arange(n) < 12, 2022, 0)
    w = rng.uniform(0.5, 2.0, size=n)
    y = rng.normal(size=(n, 3)).cumsum(axis=1)
    panel = pl.DataFrame(
        {
            "unit": np.repeat(np.arange(n), 3),
            "year": np.tile([2020, 2021, 2022], n),
            "y": y.ravel(),
            "g": np.repeat(g, 3),
            "w": np.repeat(w, 3),
        }
    )
    res = group_time_att(panel, unit="unit", time="year", outcome="y", group="g", weights="w")
    tr = g > 0
    dy = y[:, 2] - y[:, 1]
    att = np.average(dy[tr], weights=w[tr]) - np.average(dy[~tr], weights=w[~tr])
    post = res.to_frame().filter(pl.col("time") == 2022)
    assert post["estimate"][0] == pytest.approx(att, rel=1e-12)
    # varying base: the pre cell compares 2021 with 2020
    pre = res.to_frame().filter(pl.col("time") == 2021)
    dyp = y[:, 1] - y[:, 0]
    attp = np.average(dyp[tr], weights=w[tr]) - np.average(dyp[~tr], weights=w[~tr])
    assert pre["estimate"][0] == pytest.approx(attp, rel=1e-12)
    assert pre["base_time"][0] == 2020
    # universal base: 2020 vs 2021 (sign flipped long difference), and 2021 itself is the reference
    uni = group_time_att(
        panel,
        unit="unit",
        time="year",
        outcome="y",
        group="g",
        weights="w",
        base_period="universal",
    ).to_frame()
    assert uni["time"].to_list() == [2020, 2022]
    assert uni["estimate"][0] == pytest.approx(-attp, rel=1e-12)


def test_twfe_is_biased_where_group_time_is_not() -> None:
    """Staggered adoption with growing effects: the static TWFE coefficient is biased."""
    groups = (2012, 2016, 0)
    panel = staggered_panel(3, "dynamic", n_per_group=300, groups=groups)
    res = group_time_att(panel, unit="unit", time="year", outcome="y", group="g")
    simple = res.aggregate("simple").overall
    post = res.to_frame().filter(pl.col("event_time") >= 0)
    target = float(np.mean([true_effect(e, "dynamic") for e in post["event_time"]]))
    # TWFE: y ~ D + unit FE + year FE, by two-way demeaning of a balanced panel
    df = panel.to_pandas()
    df["D"] = ((df["g"] > 0) & (df["year"] >= df["g"])).astype(float)
    for c in ("y", "D"):
        df[c + "_dm"] = (
            df[c]
            - df.groupby("unit")[c].transform("mean")
            - df.groupby("year")[c].transform("mean")
            + df[c].mean()
        )
    twfe = float(sm.OLS(df["y_dm"], df["D_dm"]).fit().params.iloc[0])
    assert abs(simple["estimate"] - target) < 0.15
    assert simple["ci_low"] <= target <= simple["ci_high"]
    assert abs(twfe - target) > 0.5  # documented bias of the static TWFE estimator


def test_pretrend_test_detects_a_violation() -> None:
    panel = staggered_panel(2, "constant", n_per_group=200)
    # treated groups drift upwards before treatment: parallel trends fail
    panel = panel.with_columns(
        pl.when((pl.col("g") > 0) & (pl.col("year") < pl.col("g")))
        .then(pl.col("y") + 0.3 * (pl.col("year") - 2010))
        .otherwise(pl.col("y"))
        .alias("y")
    )
    res = group_time_att(panel, unit="unit", time="year", outcome="y", group="g")
    assert res.pretrend_test()["p_value"] < 1e-6


def matched_pairs_panel(seed: int, n_pairs: int = 300) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    idx = rng.integers(2014, 2018, size=n_pairs)
    rows = []
    for s in range(n_pairs):
        for tr in (1, 0):
            a = rng.normal(loc=1.0 * tr)  # treated firms are larger: DiD removes levels
            trend = rng.normal(scale=0.2)
            for t in range(2009, 2022):
                e = t - idx[s]
                tau = (1.0 + 0.5 * e) if (tr and e >= 0) else 0.0
                y = a + 0.1 * (t - 2009) + trend * 0 + tau + rng.normal(scale=0.5)
                rows.append((2 * s + tr, t, y, tr, int(idx[s]), s, 1.0))
    return pl.DataFrame(
        rows,
        schema=["unit", "year", "outcome", "treat", "index_year", "subclass", "weights"],
        orient="row",
    )


def test_event_study_on_matched_pairs_recovers_dynamic_effect() -> None:
    panel = matched_pairs_panel(11)
    res = event_study(panel, weights="weights", cluster="subclass")
    assert isinstance(res, EventStudyResult)
    tab = res.to_frame()
    assert tab["event_time"].to_list() == [-3, -2, 0, 1, 2, 3]
    for row in tab.iter_rows(named=True):
        truth = true_effect(row["event_time"], "dynamic")
        assert abs(row["estimate"] - truth) < 0.2, row
        assert row["ci_low"] <= truth <= row["ci_high"], row
        assert row["n_treated"] == 300
        assert row["n_clusters"] == 300
    truth_overall = np.mean([true_effect(e, "dynamic") for e in range(4)])
    assert res.overall["ci_low"] <= truth_overall <= res.overall["ci_high"]
    assert "Overall" in repr(res)


def test_event_study_matches_hand_computed_did_and_cluster_se() -> None:
    panel = matched_pairs_panel(2, n_pairs=40)
    res = event_study(panel, cluster="subclass", window=(-2, 2))
    df = panel.to_pandas()
    df["e"] = df["year"] - df["index_year"]
    ref = df[df["e"] == -1].set_index("unit")["outcome"]
    for e in (-2, 0, 2):
        sub = df[df["e"] == e].set_index("unit")
        dy = sub["outcome"] - ref.loc[sub.index]
        t = sub["treat"].to_numpy()
        fit = sm.OLS(dy.to_numpy(), sm.add_constant(t.astype(float))).fit(
            cov_type="cluster", cov_kwds={"groups": sub["subclass"].to_numpy()}
        )
        row = res.to_frame().filter(pl.col("event_time") == e)
        assert row["estimate"][0] == pytest.approx(float(fit.params[1]), rel=1e-10)
        assert row["se"][0] == pytest.approx(float(fit.bse[1]), rel=1e-10)


def test_event_study_unbalanced_units_drop_per_event_time() -> None:
    panel = matched_pairs_panel(4, n_pairs=20)
    # remove one treated unit's year at e = +2
    first = panel.filter(pl.col("treat") == 1).row(0, named=True)
    drop_year = first["index_year"] + 2
    panel = panel.filter(~((pl.col("unit") == first["unit"]) & (pl.col("year") == drop_year)))
    tab = event_study(panel, cluster="subclass").to_frame()
    counts = dict(zip(tab["event_time"], tab["n_treated"], strict=True))
    assert counts[2] == 19
    assert counts[1] == 20


def test_panel_input_errors() -> None:
    panel = matched_pairs_panel(4, n_pairs=5)
    with pytest.raises(SchemaError, match="lacks required column"):
        event_study(panel, outcome="nope")
    with pytest.raises(InputError, match="window"):
        event_study(panel, window=(2, -2))
    dup = pl.concat([panel, panel])
    with pytest.raises(SchemaError, match="more than one row"):
        event_study(dup)
    sp = staggered_panel(0, n_per_group=5)
    with pytest.raises(InputError, match="control"):
        group_time_att(sp, unit="unit", time="year", outcome="y", group="g", control="all")  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="never-treated"):
        group_time_att(sp.filter(pl.col("g") > 0), unit="unit", time="year", outcome="y", group="g")
    with pytest.raises(SchemaError, match="more than one row"):
        group_time_att(pl.concat([sp, sp]), unit="unit", time="year", outcome="y", group="g")


def test_balancing_and_first_period_groups_are_counted() -> None:
    sp = staggered_panel(0, n_per_group=10, groups=(2010, 2014, 0))
    sp = sp.filter(~((pl.col("unit") == 25) & (pl.col("year") == 2011)))
    res = group_time_att(sp.to_pandas(), unit="unit", time="year", outcome="y", group="g")
    assert res.n_dropped == {"unbalanced": 1, "treated_in_first_period": 10}
    assert res.n_units == 19
    assert set(res.to_frame()["group"].to_list()) == {2014}
    assert "GroupTimeResult" in repr(res)


def test_cluster_option_sums_influence_within_clusters() -> None:
    sp = staggered_panel(7, n_per_group=40)
    sp = sp.with_columns((pl.col("unit") // 2).alias("firm_group"))
    a = group_time_att(sp, unit="unit", time="year", outcome="y", group="g")
    b = group_time_att(sp, unit="unit", time="year", outcome="y", group="g", cluster="firm_group")
    np.testing.assert_allclose(a.to_frame()["estimate"], b.to_frame()["estimate"])
    assert not np.allclose(a.to_frame()["se"], b.to_frame()["se"])
    # clustering by the unit itself reproduces the unit-level SEs
    c = group_time_att(sp, unit="unit", time="year", outcome="y", group="g", cluster="unit")
    np.testing.assert_allclose(a.to_frame()["se"], c.to_frame()["se"], rtol=1e-12)
    np.testing.assert_allclose(
        a.aggregate("dynamic").to_frame()["se"], c.aggregate("dynamic").to_frame()["se"], rtol=1e-12
    )


def trending_pairs_panel(seed: int, n_pairs: int = 400) -> pl.DataFrame:
    """Treated units grow faster (selection on persistent growth) and gain 0.5 from e >= 0."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_pairs):
        idx = int(rng.integers(2014, 2018))
        for tr in (1, 0):
            a = rng.normal(loc=1.0 * tr)
            growth = rng.normal(loc=0.05 + 0.1 * tr, scale=0.05)
            for t in range(2009, 2022):
                e = t - idx
                y = a + growth * (t - 2009) + (0.5 if (tr and e >= 0) else 0.0)
                rows.append((2 * s + tr, t, y + rng.normal(scale=0.1), tr, idx, s))
    return pl.DataFrame(
        rows, schema=["unit", "year", "outcome", "treat", "index_year", "subclass"], orient="row"
    )


def test_linear_trend_option_removes_differential_growth_bias() -> None:
    panel = trending_pairs_panel(8)
    plain = event_study(panel, cluster="subclass").to_frame()
    detr = event_study(panel, cluster="subclass", trend="linear")
    tab = detr.to_frame()
    # plain DiD is biased by the growth gap (0.1 per year of distance from the reference)
    e3 = plain.filter(pl.col("event_time") == 3)
    assert e3["estimate"][0] == pytest.approx(0.5 + 0.4, abs=0.05)
    # detrended DiD recovers the step of 0.5 at every post event time (simulation over 40
    # seeds: z-scores centred on 0, 97% coverage; here each row within 3 SE and 0.05)
    for row in tab.filter(pl.col("event_time") >= 0).iter_rows(named=True):
        assert abs(row["estimate"] - 0.5) < min(3 * row["se"], 0.05), row
    assert detr.overall["ci_low"] <= 0.5 <= detr.overall["ci_high"]
    # with pre-periods -3..-1 the detrended e = -3 difference is zero by construction
    e_3 = tab.filter(pl.col("event_time") == -3)
    assert e_3["estimate"][0] == 0.0
    assert e_3["se"][0] is None
    pre2 = tab.filter(pl.col("event_time") == -2)
    assert pre2["ci_low"][0] <= 0.0 <= pre2["ci_high"][0]
    assert "linear trends removed" in repr(detr)


def test_linear_trend_matches_hand_computation() -> None:
    panel = trending_pairs_panel(3, n_pairs=30)
    res = event_study(panel, cluster="subclass", trend="linear", window=(-3, 2)).to_frame()
    df = panel.to_pandas()
    df["e"] = df["year"] - df["index_year"]
    pre = df[(df["e"] >= -3) & (df["e"] <= -1)]
    slope = pre.groupby("unit").apply(
        lambda g: np.polyfit(g["e"], g["outcome"], 1)[0], include_groups=False
    )
    df["yd"] = df["outcome"] - df["unit"].map(slope) * (df["e"] + 1)
    ref = df[df["e"] == -1].set_index("unit")["yd"]
    sub = df[df["e"] == 2].set_index("unit")
    dy = sub["yd"] - ref.loc[sub.index]
    t = sub["treat"].to_numpy() == 1
    expected = dy[t].mean() - dy[~t].mean()
    got = res.filter(pl.col("event_time") == 2)["estimate"][0]
    assert got == pytest.approx(expected, rel=1e-9)
    with pytest.raises(InputError, match="trend"):
        event_study(panel, trend="quadratic")  # type: ignore[arg-type]


def test_uniform_band_from_multiplier_bootstrap() -> None:
    panel = staggered_panel(6, "dynamic", n_per_group=150)
    res = group_time_att(panel, unit="unit", time="year", outcome="y", group="g")
    point = res.aggregate("dynamic")
    band = res.aggregate("dynamic", uniform=True, n_boot=2000, random_state=1)
    again = res.aggregate("dynamic", uniform=True, n_boot=2000, random_state=1)
    assert band.critical_value == again.critical_value  # seeded
    k = band.to_frame().height
    bonferroni = float(stats.norm.ppf(1 - 0.05 / (2 * k)))
    assert band.critical_value is not None
    assert 1.96 < band.critical_value < bonferroni + 0.1
    width_p = (point.to_frame()["ci_high"] - point.to_frame()["ci_low"]).to_numpy()
    width_u = (band.to_frame()["ci_high"] - band.to_frame()["ci_low"]).to_numpy()
    np.testing.assert_allclose(width_u / width_p, band.critical_value / 1.959963984540054)
    np.testing.assert_allclose(band.to_frame()["se"], point.to_frame()["se"])
    assert "uniform band" in repr(band)
    # a single event time: the uniform critical value is the pointwise one (up to MC noise)
    one = res.aggregate("dynamic", min_e=2, max_e=2, uniform=True, n_boot=4000, random_state=0)
    assert one.critical_value == pytest.approx(1.96, abs=0.12)
    with pytest.raises(InputError, match="n_boot"):
        res.aggregate("dynamic", uniform=True, n_boot=0)
