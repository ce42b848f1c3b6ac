"""Cohorts on synthetic data: balance after matching, ATT covers the planted effect, no pre-trend.

The synthetic users were selected on what the register shows before first use (size, starter
status, sector, region and realised turnover growth), so a naive users-versus-non-users
comparison is biased while matching on the cohort's pre-period covariates can recover the
planted effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pytest

import kvklink as kl
from kvklink import synth

HORIZON = 2


@dataclass
class Evaluation:
    units: pl.DataFrame
    matched: pl.DataFrame
    result: kl.MatchResult
    panel: pl.DataFrame
    planted_att: float


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    data = synth.generate(scale=0.05, seed=3)
    key = kl.LinkageKey.generate().for_purpose("evaluatie-2024")
    policy = kl.ConsentPolicy("evaluatie-2024", as_of="2024-01-01")
    interactions = kl.pseudonymise(data.interactions, key=key, consent=policy)
    history = kl.pseudonymise(data.kvk_history, key=key, consent=None)
    linked = kl.link(interactions.frame, history.frame, ledger=interactions.ledger)
    spec = kl.CohortSpec(window=("2018-01-01", "2021-12-31"), horizon_years=HORIZON)
    cohort = kl.build_cohort(linked.frame, data.register, spec)

    log_turnover = cohort.panel.with_columns(pl.col("turnover").log().alias("log_turnover"))
    wide = log_turnover.pivot(on="event_time", index="cohort_id", values="log_turnover")
    growth = (pl.col(str(HORIZON)) - pl.col("-1")).alias("growth")
    units = cohort.units.join(wide.select("cohort_id", growth), on="cohort_id").filter(
        pl.col("growth").is_not_null()
    )
    # Sections with hardly any users (e.g. B, D, E, O) would make the propensity model separate;
    # merge them, as an analyst would.
    treated_sections = units.filter(pl.col("treat"))["section"].value_counts()
    common = treated_sections.filter(pl.col("count") >= 20)["section"]
    units = units.with_columns(
        pl.when(pl.col("section").is_in(common.implode()))
        .then(pl.col("section"))
        .otherwise(pl.lit("other"))
        .alias("section")
    )
    covariates = [*spec.covariates(), "section", "legal_form", "kvk_region"]
    result = kl.match(
        units, treatment="treat", covariates=covariates, exact=["index_year", "size_band"]
    )
    matched = result.matched_data()
    treated = matched.filter(pl.col("treat")).select("be_id", "index_year")
    effects = data.effects.with_columns(pl.col("year").cast(pl.Int32))
    planted = treated.join(
        effects,
        left_on=["be_id", pl.col("index_year") + HORIZON],
        right_on=["be_id", "year"],
        how="left",
    )["effect_log"].fill_null(0.0)
    panel = log_turnover.join(
        matched.select("cohort_id", "weights", "subclass"), on="cohort_id", how="inner"
    ).with_columns(pl.col("treat").cast(pl.Int8))
    return Evaluation(units, matched, result, panel, float(planted.mean()))


def test_every_covariate_is_balanced_after_matching(evaluation: Evaluation) -> None:
    table = evaluation.result.balance().to_frame()
    after = table.filter(pl.col("sample") == "after", pl.col("variable") != "distance")
    smd = after["std_mean_diff"].to_numpy()
    assert np.isfinite(smd).all()
    assert np.abs(smd).max() < 0.1, after.filter(pl.col("std_mean_diff").abs() >= 0.1)


def test_matched_att_covers_the_planted_effect_and_naive_does_not(evaluation: Evaluation) -> None:
    m = evaluation.matched
    att = kl.estimate_att(
        m["growth"].to_numpy(),
        m["treat"].to_numpy(),
        m["weights"].to_numpy(),
        subclass=m["subclass"].to_numpy(),
    )
    naive = kl.estimate_att(
        evaluation.units["growth"].to_numpy(), evaluation.units["treat"].to_numpy()
    )
    truth = evaluation.planted_att
    assert truth > 0
    assert att.ci_low <= truth <= att.ci_high, (att, truth)
    assert not (naive.ci_low <= truth <= naive.ci_high), (naive, truth)
    assert naive.estimate - truth > 2 * (att.estimate - truth)


def test_event_study_shows_no_pre_trend(evaluation: Evaluation) -> None:
    result = kl.event_study(
        evaluation.panel,
        unit="cohort_id",
        time="year",
        outcome="log_turnover",
        treat="treat",
        index_time="index_year",
        weights="weights",
        cluster="subclass",
        window=(-3, HORIZON),
        reference=-1,
    )
    frame = result.to_frame()
    pre = frame.filter(pl.col("event_time") < -1)
    assert pre.height == 2
    for row in pre.iter_rows(named=True):
        assert row["ci_low"] <= 0.0 <= row["ci_high"], row
    post = frame.filter(pl.col("event_time") == HORIZON).row(0, named=True)
    assert post["estimate"] > 0
