# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Methods: matching specifications, balance, calipers and staggered effects
#
# The quickstart notebook ran one matching specification and one estimate. This notebook is
# about the choices behind them:
#
# 1. **Choosing a matching specification**: nearest neighbour on a propensity score (glm) vs
#    Mahalanobis distance vs coarsened exact matching (CEM), all within exact strata.
# 2. **Reading balance**: the balance table and the love plot.
# 3. **Calipers and the estimand**: how many treated firms a caliper drops, and why the
#    estimate then answers a different question (ATT vs ATM).
# 4. **Staggered effects**: the event study on the matched sample, group-time ATTs
#    (Callaway & Sant'Anna), and why not a two-way fixed-effects regression.
#
# Everything runs on kvklink's **synthetic** data, whose planted effect is known, so every
# estimate is printed next to the truth. Estimates are printed, not asserted: the synthetic data's
# effect sizes are calibrated separately and may change.

# %%
import matplotlib.pyplot as plt
import numpy as np
import polars as pl

import kvklink as kl

pl.Config.set_tbl_rows(20)
pl.Config.set_fmt_str_lengths(40)

# %% [markdown]
# ## Setup: synthetic data → pseudonymise → link → cohort
#
# The same steps as in the quickstart, in one cell (a throw-away in-memory key; real keys come
# from `KVKLINK_KEY` or a key file). The outcome is the growth of log turnover from the year
# before the index year to two years after it.

# %%
data = kl.synth.generate(scale=0.02, seed=1)
key = kl.LinkageKey.generate().for_purpose("evaluatie-2024")  # demo only
policy = kl.ConsentPolicy("evaluatie-2024", as_of="2024-12-31")
intake = kl.pseudonymise(
    data.interactions, key=key, consent=policy,
    keep=["interaction_id", "date", "activity", "statutory_task", "channel"],
)
history = kl.pseudonymise(
    data.kvk_history, key=key, consent=None, keep=["be_id", "valid_from", "valid_to"]
)
linked = kl.link(intake.frame, history.frame, ledger=intake.ledger)

HORIZON = 2
spec = kl.CohortSpec(window=("2018-01-01", "2021-12-31"), horizon_years=HORIZON, pre_years=3)
cohort = kl.build_cohort(linked.frame, data.register, spec)
growth = (
    cohort.panel.filter(pl.col("event_time").is_in([-1, HORIZON]))
    .select("cohort_id", "event_time", pl.col("turnover").log().alias("y"))
    .pivot(on="event_time", index="cohort_id", values="y")
    .select("cohort_id", (pl.col(str(HORIZON)) - pl.col("-1")).alias("growth"))
)
units = cohort.units.join(growth, on="cohort_id").drop_nulls(["growth", *spec.covariates()])
treat = units["treat"].cast(pl.Int8).to_numpy()
y = units["growth"].to_numpy()
covariates = spec.covariates()
strata = ["index_year", "section", "size_band"]
print(f"treated: {int(treat.sum())}, candidate controls: {int((1 - treat).sum()):,}")
print("covariates:", covariates)

# %% [markdown]
# The planted effect, for any set of treated firms: the generator's effect on log turnover at
# `index_year + HORIZON` minus that at `index_year − 1`, averaged over the firms. We use it to
# score every estimate below.

# %%
EFFECTS = data.effects.select("be_id", pl.col("year").cast(pl.Int32), "effect_log")


def planted(treated: pl.DataFrame, event_time: int = HORIZON) -> float:
    """Mean planted effect of ``treated`` (be_id, index_year) at ``event_time`` vs −1."""
    frame = (
        treated.select("be_id", pl.col("index_year").cast(pl.Int32))
        .with_columns(post=pl.col("index_year") + event_time, pre=pl.col("index_year") - 1)
        .join(EFFECTS.rename({"year": "post", "effect_log": "e_post"}),
              on=["be_id", "post"], how="left")
        .join(EFFECTS.rename({"year": "pre", "effect_log": "e_pre"}),
              on=["be_id", "pre"], how="left")
    )
    return float((frame["e_post"].fill_null(0) - frame["e_pre"].fill_null(0)).mean())


def matched_treated(result: kl.MatchResult) -> pl.DataFrame:
    """The treated rows of ``units`` that the match kept."""
    return units.filter(pl.Series(result.weights_ > 0) & pl.col("treat"))


naive = kl.estimate_att(y, treat)
print(f"naive difference: {naive.estimate:+.4f}   planted (all treated): "
      f"{planted(units.filter(pl.col('treat'))):+.4f}")

# %% [markdown]
# ## 1. Choosing a matching specification
#
# Three families, each as R's MatchIt defines it:
#
# - **nearest, glm**: 1:1 nearest neighbour on a logistic propensity score. Balances covariates
#   *on average*; pairs can differ a lot on individual covariates (the standardised pair
#   distance shows it).
# - **nearest, Mahalanobis**: 1:1 nearest neighbour on the Mahalanobis distance of the
#   covariates. Pairs are close on every covariate; works well with few covariates, less well
#   with many or with binary ones.
# - **CEM**: coarsen each numeric covariate into bins and match exactly on the combination of
#   bins and categories. Balance is guaranteed *within* bins, but treated firms in a cell
#   without controls are dropped — with many covariates, many of them.
#
# For nearest-neighbour matching the strata (index year, sector, size band) are `exact=`; for CEM
# they are simply categorical covariates, which CEM matches exactly.

# %%
specs = {
    "nearest, glm": dict(method="nearest", distance="glm", exact=strata, covariates=covariates),
    "nearest, mahalanobis": dict(
        method="nearest", distance="mahalanobis", exact=strata, covariates=covariates
    ),
    "cem (Sturges bins)": dict(method="cem", covariates=strata + covariates),
    "cem (3 bins each)": dict(
        method="cem", covariates=strata + covariates, cutpoints={c: 3 for c in covariates}
    ),
}
results: dict[str, kl.MatchResult] = {}
rows = []
for name, options in specs.items():
    res = kl.match(units, treatment="treat", random_state=0, **options)
    results[name] = res
    est = kl.estimate_att(y, treat, res.weights_, subclass=res.subclass_)
    bal = res.balance()
    rows.append({
        "specification": name,
        "treated matched": f"{res.counts_['n_treated_matched']} / {res.counts_['n_treated_all']}",
        "controls used": res.counts_["n_control_matched"],
        "max |SMD|": round(bal.max_abs_smd, 3),
        "flagged": len(bal.imbalanced),
        "ATT": round(est.estimate, 4),
        "95% CI": f"[{est.ci_low:+.3f}, {est.ci_high:+.3f}]",
        "planted (matched treated)": round(planted(matched_treated(res)), 4),
    })
pl.DataFrame(rows)

# %% [markdown]
# How to read this table:
#
# - **Balance first, estimate second.** Choose the specification on balance and sample size,
#   *before* looking at the outcome; choosing on the estimate is a forking path.
# - **max |SMD|** should be below 0.1; `flagged` counts covariates that miss |SMD| < 0.1 or a
#   variance ratio within 0.5–2.
# - **treated matched**: CEM with fine (Sturges) bins on many covariates drops treated firms whose
#   cell has no control. The estimate then describes only the firms that could be matched — see
#   section 3. Coarser bins keep more treated firms at the price of looser balance within bins.
# - If the specifications that balance well agree with each other but *not* with the planted
#   effect, the remaining bias is not in the observed covariates: matching cannot remove
#   selection on something it does not see (here: firms that use KVK services were already on a
#   persistent growth path that two noisy pre-period trends only partly capture). Section 4 shows
#   how the event study's pre-period estimates reveal this.

# %% [markdown]
# ## 2. Reading balance
#
# The full balance table of the glm specification: means, standardised mean differences (SMD,
# with the treated group's SD in the *full* sample as denominator — the same before and after
# matching, as MatchIt and cobalt define it for the ATT), variance ratios and eCDF statistics.

# %%
glm = results["nearest, glm"]
print(glm.balance())

# %% [markdown]
# The love plot puts |SMD| before and after matching side by side for every covariate; the
# dashed line is the 0.1 threshold. Before matching, users are younger, more often starters and
# grew faster; after matching those gaps should be (nearly) gone. The Mahalanobis match usually
# has smaller pair distances on the numeric covariates — compare the two plots.

# %%
fig = glm.plot_balance()
fig.suptitle("nearest, glm")
fig2 = results["nearest, mahalanobis"].plot_balance()
fig2.suptitle("nearest, mahalanobis")
plt.show()

# %% [markdown]
# The same numbers as a frame, for your own reporting (before and after, one row per covariate):

# %%
(
    glm.balance()
    .to_frame()
    .filter(pl.col("sample") == "after")
    .select("variable", "std_mean_diff", "var_ratio", "ecdf_mean", "ecdf_max", "flag_smd")
)

# %% [markdown]
# ## 3. Calipers and the estimand
#
# A **caliper** forbids matches further apart than `caliper` standard deviations of the distance
# (MatchIt's `std.caliper = TRUE`). A common choice is 0.2 SD of the *logit* of the propensity
# score. A treated firm without a control inside the caliper stays **unmatched** — and then the
# estimate is no longer the average effect on *all* treated firms (ATT), but on the treated firms
# that could be matched: the "average treatment effect in the matched sample" (ATM). That can be
# a different population: typically the firms most unlike any non-user are the ones dropped.
# Always report how many treated firms were dropped, and who they are.

# %%
rows = []
for caliper in [None, 0.2, 0.1, 0.05, 0.01]:
    res = kl.match(units, treatment="treat", covariates=covariates, exact=strata,
                   distance="logit", caliper=caliper, random_state=0)
    est = kl.estimate_att(y, treat, res.weights_, subclass=res.subclass_)
    kept = matched_treated(res)
    rows.append({
        "caliper (SD of logit)": "none" if caliper is None else caliper,
        "treated dropped": res.counts_["n_treated_unmatched"],
        "max |SMD|": round(res.balance().max_abs_smd, 3),
        "ATT (matched treated)": round(est.estimate, 4),
        "95% CI": f"[{est.ci_low:+.3f}, {est.ci_high:+.3f}]",
        "planted, matched treated": round(planted(kept), 4),
        "planted, all treated": round(planted(units.filter(pl.col("treat"))), 4),
    })
pl.DataFrame(rows)

# %% [markdown]
# Who is dropped by the tightest caliper? Compare the treated firms that were kept with those
# that were dropped, on the covariates:

# %%
tight = kl.match(units, treatment="treat", covariates=covariates, exact=strata,
                 distance="logit", caliper=0.01, random_state=0)
treated_units = units.with_columns(
    kept=pl.Series(tight.weights_ > 0)
).filter(pl.col("treat"))
treated_units.group_by("kept").agg(
    pl.len().alias("firms"),
    *[pl.col(c).mean().round(3) for c in covariates],
).sort("kept")

# %% [markdown]
# When the planted effect of the kept firms differs from that of all treated firms, the caliper
# has changed the question, not just the precision. Whether the ATM is acceptable is a judgement
# about the population you want to learn about: for KVK's services, dropping the most atypical
# users (for instance fast-growing young firms with no comparable non-user) may exclude exactly
# the firms a service was designed for. Widening the control pool (`controls="not_yet_treated"`),
# coarser exact strata, or CEM with deliberate cut points are alternatives to a tight caliper.

# %% [markdown]
# ## 4. Staggered effects
#
# Firms start using services in different years (2018–2021 here). Two designs handle that:
#
# ### 4a. Event study on the matched sample
#
# Every treated firm has an index year, and its matched control gets the same one. For each event
# time `e` the estimate is the weighted 2×2 difference-in-differences against `e = −1`, with
# standard errors clustered by matched set. The pre-period estimates (`e < −1`) are placebo
# tests: were treated and matched controls already diverging before the treated firm used a
# service?

# %%
matched = glm.matched_data()
panel = cohort.panel.join(
    matched.select("cohort_id", "weights", "subclass"), on="cohort_id"
).with_columns(pl.col("turnover").log().alias("log_turnover"))
treated_matched = matched.filter(pl.col("treat"))
planted_by_e = pl.DataFrame(
    {
        "event_time": list(range(-3, HORIZON + 1)),
        "planted": [planted(treated_matched, e) for e in range(-3, HORIZON + 1)],
    }
)


def event_table(result: kl.EventStudyResult) -> pl.DataFrame:
    """Event-study estimates next to the planted effect per event time."""
    return (
        result.to_frame()
        .join(planted_by_e, on="event_time", how="left")
        .select("event_time", "estimate", "ci_low", "ci_high", "planted", "n_treated")
    )


es = kl.event_study(panel, unit="cohort_id", time="year", outcome="log_turnover",
                    treat="treat", index_time="index_year", weights="weights",
                    cluster="subclass", window=(-3, HORIZON))
event_table(es)

# %%
fig = es.plot()
plt.show()

# %% [markdown]
# If the pre-period estimates are clearly positive, treated firms were growing faster than their
# matches even before they used a service — selection on growth that matching on two noisy
# pre-period trends did not remove — and the post-period estimates carry that difference too.
# `trend="linear"` removes each firm's own linear pre-trend before differencing (DiD with
# unit-specific trends). It assumes the pre-trend would have continued without the service, and
# its pre-period estimates then only test departures from a linear trend:

# %%
es_trend = kl.event_study(panel, unit="cohort_id", time="year", outcome="log_turnover",
                          treat="treat", index_time="index_year", weights="weights",
                          cluster="subclass", window=(-3, HORIZON), trend="linear")
event_table(es_trend)

# %% [markdown]
# ### 4b. Group-time ATTs (Callaway & Sant'Anna)
#
# Group firms by the year of their first linked use `g` (0 = never used a service) and estimate
# ATT(g, t) = E[Y_t − Y_{g−1} | G = g] − E[Y_t − Y_{g−1} | controls] for every group and year,
# with never-treated or not-yet-treated firms as controls; then aggregate by event time `t − g`.
# This uses the whole register panel (balanced: firms observed in every year), without
# matching. kvklink's implementation is *unconditional* (no covariates).

# %%
first_use = (
    linked.frame.filter(pl.col("link_status") == "linked")
    .group_by("be_id")
    .agg(pl.col("date").min().dt.year().cast(pl.Int32).alias("g"))
)
register_panel = (
    data.register.filter(pl.col("turnover") > 0)
    .select("be_id", pl.col("year").cast(pl.Int32), pl.col("turnover").log().alias("y"))
    .join(first_use, on="be_id", how="left")
    .with_columns(pl.col("g").fill_null(0))
)
n_years = register_panel["year"].n_unique()
balanced = register_panel.filter(pl.len().over("be_id") == n_years)
gt = kl.group_time_att(balanced, unit="be_id", time="year", outcome="y", group="g",
                       control="notyet")
dynamic = gt.aggregate("dynamic")
print(dynamic)
print("pre-trend test (all pre-period ATT(g, t) = 0):", gt.pretrend_test())

# %% [markdown]
# The planted effect per event time for the same firms (mean over treated firm-years):

# %%
post_cells = (
    balanced.filter(pl.col("g") > 0)
    .with_columns(event_time=pl.col("year") - pl.col("g"))
    .join(EFFECTS, on=["be_id", "year"], how="left")
    .join(
        EFFECTS.rename({"year": "base", "effect_log": "e_base"}),
        left_on=["be_id", pl.col("g") - 1],
        right_on=["be_id", "base"],
        how="left",
    )
    .group_by("event_time")
    .agg(
        (pl.col("effect_log").fill_null(0) - pl.col("e_base").fill_null(0))
        .mean()
        .alias("planted")
    )
)
dynamic.to_frame().join(post_cells, on="event_time", how="left").select(
    "event_time", "estimate", "ci_low", "ci_high", "planted"
).sort("event_time")

# %% [markdown]
# Read the pre-periods first. Users of KVK services are selected on growth (the synthetic data
# plant exactly that), so *without matching* their pre-period ATT(g, t) tend to be positive, and
# the pre-trend test above says whether they are jointly distinguishable from zero. When they are,
# the unconditional parallel-trends assumption fails and the post-period estimates mix the effect
# with the growth difference. That is the case for matching *first* (4a), or for conditioning the
# comparison on pre-period growth; an unconditional staggered design is credible only when the
# pre-periods are flat.
#
# ### 4c. Why not a two-way fixed-effects regression?
#
# The familiar regression `y_it = α_i + λ_t + β · D_it` (firm and year fixed effects, D = 1 from
# the first use on) averages all 2×2 comparisons in the data, **including comparisons that use
# already-treated firms as controls for later adopters**. When effects grow with time since first
# use, those comparisons subtract part of the effect, some with negative weights, and β need not
# equal any average effect. A clean simulation shows it: parallel trends hold exactly, three
# adoption cohorts, and an effect that grows by 0.03 per year since adoption.

# %%
rng = np.random.default_rng(0)
n_firms, years = 3000, np.arange(2015, 2025)
group = rng.choice([2017, 2019, 2021, 0], size=n_firms, p=[0.25, 0.25, 0.25, 0.25])
firm_fe = rng.normal(0, 1, n_firms)
year_fe = 0.02 * (years - 2015)
g = np.repeat(group, years.size)
t = np.tile(years, n_firms)
treated_now = (g > 0) & (t >= g)
true_effect = np.where(treated_now, 0.03 * (t - g + 1), 0.0)
sim = pl.DataFrame({
    "unit": np.repeat(np.arange(n_firms), years.size),
    "year": t,
    "g": g,
    "D": treated_now.astype(float),
    "y": np.repeat(firm_fe, years.size) + np.tile(year_fe, n_firms) + true_effect
    + rng.normal(0, 0.05, n_firms * years.size),
    "true_effect": true_effect,
})


def twfe(frame: pl.DataFrame) -> float:
    """β of y ~ D + unit FE + year FE on a balanced panel (two-way demeaning)."""
    dm = frame.with_columns(
        [
            (pl.col(c) - pl.col(c).mean().over("unit") - pl.col(c).mean().over("year")
             + pl.col(c).mean()).alias(f"{c}_dm")
            for c in ["y", "D"]
        ]
    )
    return float((dm["y_dm"] * dm["D_dm"]).sum() / (dm["D_dm"] ** 2).sum())


sim_gt = kl.group_time_att(sim, unit="unit", time="year", outcome="y", group="g",
                           control="never")
truth = float(sim.filter(pl.col("D") == 1)["true_effect"].mean())
pl.DataFrame({
    "estimator": ["two-way fixed effects", "group-time ATT, simple average", "truth"],
    "average effect on treated firm-years": [
        twfe(sim), sim_gt.aggregate("simple").overall["estimate"], truth
    ],
})

# %% [markdown]
# TWFE lands well below the true average effect although the data satisfy parallel trends
# exactly; the group-time estimator, which only compares treated firms with never-treated (or
# not-yet-treated) firms, recovers it. For KVK's services, whose effects plausibly build up over
# years, this is why kvklink offers the event study on a matched sample and group-time ATTs, and
# no TWFE estimator.
#
# ## Summary
#
# - Pick the matching specification on **balance and sample size**, before looking at outcomes.
# - Report **who was dropped** (calipers, CEM, empty strata): the estimand follows the sample.
# - Read **pre-period estimates** before post-period ones; they are the only visible check of the
#   design's key assumption.
# - With staggered adoption and effects that grow over time, use **clean comparisons**
#   (group-time ATTs, event studies on matched samples), not TWFE.
# - Outputs of real data go through **disclosure control** before they leave the secure
#   environment.
