"""Invariants of the synthetic tables for any seed and small scale (hypothesis)."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kvklink import synth

FAR = dt.date(9999, 1, 1)


def _check_invariants(data: synth.SyntheticData) -> None:
    reg = data.register
    assert reg.select(pl.struct("be_id", "year").is_unique().all()).item()
    years_ok = reg.select(
        (pl.col("year") >= pl.col("start_date").dt.year()).all()
        & (pl.col("end_date").is_null() | (pl.col("year") <= pl.col("end_date").dt.year())).all()
    ).item()
    assert years_ok
    assert (reg["employees"] >= 1).all()
    hist = data.kvk_history
    assert hist["kvk_nummer"].str.contains(r"^\d{8}$").all()
    ordered = hist.with_columns(pl.col("valid_to").fill_null(FAR)).sort("kvk_nummer", "valid_from")
    assert (ordered["valid_to"] > ordered["valid_from"]).all()
    prev = ordered.select(pl.col("valid_to").shift(1).over("kvk_nummer").alias("p"), "valid_from")
    assert prev.filter(pl.col("p") > pl.col("valid_from")).height == 0
    assert set(reg["be_id"].unique()) <= set(hist["be_id"].unique())
    hr = data.handelsregister
    assert hr["vestigingsnummer"].is_unique().all()
    assert set(hr["kvk_nummer"].unique()) <= set(hist["kvk_nummer"].unique())
    it = data.interactions
    assert it["interaction_id"].is_unique().all()
    assert it.height == data.truth.height
    assert (it["consent"] == it["consent_purposes"].is_not_null()).all()
    assert (it["consent"] == it["consent_date"].is_not_null()).all()
    assert it.filter(~pl.col("consent"))["consent_withdrawn_date"].is_null().all()
    joined = (
        it.select("interaction_id", "date")
        .join(data.truth, on="interaction_id")
        .filter(pl.col("true_be_id").is_not_null())
        .join(hist, left_on="true_kvk_nummer", right_on="kvk_nummer")
        .filter(
            (pl.col("valid_from") <= pl.col("date"))
            & (pl.col("valid_to").is_null() | (pl.col("date") < pl.col("valid_to")))
        )
    )
    assert joined.height == data.truth["true_be_id"].is_not_null().sum()
    assert (joined["be_id"] == joined["true_be_id"]).all()
    assert set(data.treatment["be_id"]) <= set(reg["be_id"].unique())
    assert data.manifest["row_counts"] == {k: v.height for k, v in data.tables().items()}


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([0.0003, 0.001, 0.002]))
@example(seed=0, scale=0.0003)
def test_invariants_hold_for_any_seed(seed: int, scale: float) -> None:
    _check_invariants(synth.generate(scale=scale, seed=seed))


def test_progress_bar_does_not_change_the_data() -> None:
    quiet = synth.generate(scale=0.001, seed=9, progress=False)
    shown = synth.generate(scale=0.001, seed=9, progress=True)
    for name in synth.TABLES:
        assert getattr(quiet, name).equals(getattr(shown, name)), name


def test_parameters_change_the_data_as_documented() -> None:
    few = synth.generate(scale=0.002, seed=2, params=synth.SynthParams(user_rate=0.02))
    many = synth.generate(scale=0.002, seed=2, params=synth.SynthParams(user_rate=0.2))
    assert many.interactions.height > 5 * few.interactions.height
    none = synth.generate(scale=0.002, seed=2, params=synth.SynthParams(consent_rate=0.0))
    assert not none.interactions["consent"].any()
    # the register does not depend on the interaction parameters (separate random streams)
    assert few.kvk_history.equals(many.kvk_history)
