"""Fuzzy recovery of KVK numbers: quality on messy queries, order-freedom, seeds, errors."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kvklink as kl
from kvklink.errors import ConfigError, InputError, SchemaError
from kvklink.linkage import BlockingPass, FieldComparison, RecoverySpec

SPEC = kl.company_spec(query_id="interaction_id")


@pytest.fixture(scope="module")
def medium(make_recovery_data: Any) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    return make_recovery_data(20_000, 2_000, 200, seed=0)


@pytest.fixture(scope="module")
def small(make_recovery_data: Any) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    return make_recovery_data(600, 120, 15, seed=3)


def test_quality_at_default_thresholds(medium) -> None:  # type: ignore[no-untyped-def]
    register, queries, truth = medium
    res = kl.recover_kvk(queries, register, spec=SPEC)
    assert res.model is not None
    assert res.model.converged_
    rep = kl.recovery_quality(res, truth)
    acc = rep.band("accepted")
    # F1 on the accepted band: accepted links vs ALL matchable queries (recall denominator)
    assert acc["precision"] >= 0.99
    assert acc["f1"] >= 0.98
    assert rep.n_matchable == 2_000
    assert rep.blocking_recall >= 0.99
    assert rep.reduction_ratio > 0.999
    # the review band holds most of the true matches that were not accepted
    assert rep.review_share_of_remaining >= 0.5
    # no-match queries are never accepted
    frame = res.frame.join(truth, on="interaction_id")
    no_match = frame.filter(pl.col("true_kvk_nummer").is_null())
    assert (no_match["status"] == "accepted").mean() < 0.05


def test_result_frame_shape_and_explanation(small) -> None:  # type: ignore[no-untyped-def]
    register, queries, _ = small
    res = kl.recover_kvk(queries, register, spec=SPEC)
    f = res.frame
    assert f.height == queries.height
    assert f["query_row"].to_list() == list(range(queries.height))
    assert f["interaction_id"].to_list() == queries["interaction_id"].to_list()
    for name in ("name", "legal_form", "street", "house_number", "postcode", "city"):
        assert f"w_{name}" in f.columns
    assert set(f["status"].unique()) <= set(kl.linkage.RECOVERY_STATUSES)
    # recovered number null exactly when rejected
    assert (f["kvk_nummer"].is_null() == (f["status"] == "rejected")).all()
    # the per-field weights explain the pairwise score
    scored = f.filter(pl.col("match_score").is_not_null())
    wsum = scored.select(pl.sum_horizontal(pl.col("^w_.*$"))).to_series()
    assert res.model is not None
    np.testing.assert_allclose(
        (scored["match_score"] - res.model.prior_weight_).to_numpy(), wsum.to_numpy()
    )
    # the recovered KVK number belongs to the register row shown
    acc = f.filter(pl.col("status") == "accepted")
    rows = acc["register_row"].to_list()
    assert register["kvk_nummer"].gather(rows).to_list() == acc["kvk_nummer"].to_list()
    wt = res.weights_table()
    assert set(wt["field"].unique()) == {fc.name for fc in SPEC.fields}


def test_repr_shows_counts_not_values(small) -> None:  # type: ignore[no-untyped-def]
    register, queries, _ = small
    res = kl.recover_kvk(queries, register, spec=SPEC)
    text = repr(res)
    assert "accepted=" in text
    assert not re.search(r"\d{8}", text)


#: With a small ``fit_pairs`` the model is fitted on a seeded sample of the candidates before
#: single-pass pruning (the path large inputs take).
SAMPLED_FIT = dataclasses.replace(SPEC, fit_pairs=200)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([SPEC, SAMPLED_FIT]))
def test_results_do_not_depend_on_row_order(
    make_recovery_data: Any, seed: int, spec: RecoverySpec
) -> None:
    register, queries, _ = make_recovery_data(300, 60, 8, seed=5)
    base = kl.recover_kvk(queries, register, spec=spec).frame
    rq = queries.sample(fraction=1.0, shuffle=True, seed=seed)
    rr = register.sample(fraction=1.0, shuffle=True, seed=seed + 1)
    other = kl.recover_kvk(rq, rr, spec=spec).frame
    rows = ("query_row", "register_row", "runner_up_register_row")
    cols = [c for c in base.columns if c not in rows]
    a = base.sort("interaction_id").select(cols)
    b = other.sort("interaction_id").select(cols)
    assert a.equals(b)
    # register_row / runner_up_register_row point at identical register records
    for col in ("register_row", "runner_up_register_row"):
        ra = base.sort("interaction_id")[col].to_list()
        rb = other.sort("interaction_id")[col].to_list()
        for x, y in zip(ra, rb, strict=True):
            if x is None:
                assert y is None
            else:
                assert register.row(x) == rr.row(y)


def test_reproducible_from_seed_with_random_u_start(small) -> None:  # type: ignore[no-untyped-def]
    register, queries, _ = small
    spec = RecoverySpec(
        fields=SPEC.fields,
        blocking=SPEC.blocking,
        query_id="interaction_id",
        u_init="random",
        random_pairs=5_000,
    )
    a = kl.recover_kvk(queries, register, spec=spec, seed=7)
    b = kl.recover_kvk(queries, register, spec=spec, seed=7)
    assert a.frame.equals(b.frame)
    assert a.model is not None
    assert b.model is not None
    assert a.model.lambda_ == b.model.lambda_
    for x, y in zip(a.model.m_ + a.model.u_, b.model.m_ + b.model.u_, strict=True):
        np.testing.assert_array_equal(x, y)
    c = kl.recover_kvk(queries, register, spec=spec, seed=8)
    assert c.frame.height == a.frame.height


def test_pandas_in_pandas_out(small) -> None:  # type: ignore[no-untyped-def]
    register, queries, _ = small
    res = kl.recover_kvk(queries.to_pandas(), register.to_pandas(), spec=SPEC)
    assert isinstance(res.frame, pd.DataFrame)
    polars_res = kl.recover_kvk(queries, register, spec=SPEC)
    assert res.frame["status"].tolist() == polars_res.frame["status"].to_list()


def test_leading_zeros_of_kvk_numbers_survive() -> None:
    register = pl.DataFrame(
        {
            "kvk_nummer": ["00012345", "99999999"],
            "trade_name": ["Alfa Bouw", "Beta Zorg"],
            "street": ["Kerkstraat", "Laan"],
            "house_number": ["1", "2"],
            "postcode": ["1111 AA", "2222 BB"],
            "city": ["Ede", "Oss"],
        }
    )
    queries = register.rename({"trade_name": "company_name"}).drop("kvk_nummer")
    res = kl.recover_kvk(queries, register, thresholds=(0.5, 0.1))
    assert res.frame["best_candidate"].to_list() == ["00012345", "99999999"]


def test_queries_without_candidates_are_rejected(make_recovery_data: Any) -> None:
    register, queries, _ = make_recovery_data(200, 20, 0, seed=1)
    far = queries.with_columns(
        pl.lit("Qqqqq Xxxxx").alias("company_name"),
        pl.lit("0000 ZZ").alias("postcode"),
        pl.lit("Nergens").alias("city"),
        pl.lit("999").alias("house_number"),
    )
    res = kl.recover_kvk(far, register)
    assert (res.frame["status"] == "rejected").all()
    assert (res.frame["n_candidates"] == 0).all()
    assert res.model is None
    assert res.weights_table().height == 0


def test_empty_queries_give_an_empty_result(small) -> None:  # type: ignore[no-untyped-def]
    register, queries, _ = small
    res = kl.recover_kvk(queries.head(0), register, spec=SPEC)
    assert res.frame.height == 0
    assert "kvk_nummer" in res.frame.columns
    assert res.counts == {"accepted": 0, "review": 0, "rejected": 0}


def test_bad_inputs_are_refused(small) -> None:  # type: ignore[no-untyped-def]
    register, queries, _ = small
    with pytest.raises(SchemaError, match=r"'queries'.*'company_name'"):
        kl.recover_kvk(queries.drop("company_name"), register)
    with pytest.raises(SchemaError, match=r"'handelsregister'.*'kvk_nummer'"):
        kl.recover_kvk(queries, register.drop("kvk_nummer"))
    with pytest.raises(SchemaError, match="empty"):
        kl.recover_kvk(queries, register.head(0))
    with pytest.raises(InputError, match="thresholds"):
        kl.recover_kvk(queries, register, thresholds=(0.2, 0.9))
    with pytest.raises(InputError, match="thresholds"):
        kl.recover_kvk(queries, register, thresholds=(0.9,))
    with pytest.raises(InputError, match="min_margin"):
        kl.recover_kvk(queries, register, min_margin=-1)
    with pytest.raises(SchemaError):
        kl.recover_kvk([1, 2], register)


def test_bad_specs_are_refused() -> None:
    fc = FieldComparison("name", "a", "b")
    with pytest.raises(ConfigError, match="unknown field"):
        RecoverySpec(fields=(fc,), blocking=(BlockingPass("p", ("postcode",)),))
    with pytest.raises(ConfigError, match="distinct names"):
        RecoverySpec(fields=(fc, fc), blocking=(BlockingPass("p", ("name",)),))
    with pytest.raises(ConfigError, match="at least one blocking"):
        RecoverySpec(fields=(fc,), blocking=())
    with pytest.raises(ConfigError, match="thresholds"):
        FieldComparison("x", "a", "b", thresholds=(1.5,))
    with pytest.raises(ConfigError, match="similarity"):
        FieldComparison("x", "a", "b", similarity="soundex")  # type: ignore[arg-type]


def test_person_spec_links_a_persons_file() -> None:
    rng = np.random.default_rng(0)
    n = 400
    given_names = np.array(["Jan", "Piet", "Klaas", "Anna", "Marie", "Sanne", "Daan", "Emma"])
    surnames = np.array(["de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "Bos"])
    people = pl.DataFrame(
        {
            "person_id": [f"P{i:05d}" for i in range(n)],
            "given_name": given_names[rng.integers(0, len(given_names), n)],
            "surname": surnames[rng.integers(0, len(surnames), n)],
            "date_of_birth": pl.date_range(
                pl.date(1950, 1, 1), pl.date(2000, 1, 1), "1d", eager=True
            ).sample(n, seed=1),
            "postcode": [f"{1000 + int(x)} AB" for x in rng.integers(0, 150, n)],
            "house_number": [str(int(x)) for x in rng.integers(1, 60, n)],
        }
    )
    queries = people.head(150).with_columns(
        pl.col("surname").str.to_uppercase(),
        pl.col("postcode").str.replace(" ", ""),
        pl.col("date_of_birth")
        .dt.to_string("%d-%m-%Y")
        .str.slice(0, 0)
        .fill_null("")  # clear a few dates below
        .alias("_blank"),
    )
    queries = queries.with_columns(
        pl.when(pl.int_range(pl.len()) % 10 == 0)
        .then(None)
        .otherwise(pl.col("date_of_birth"))
        .alias("date_of_birth")
    ).drop("_blank", "person_id")
    res = kl.recover_kvk(queries, people, spec=kl.person_spec(), thresholds=(0.9, 0.2))
    f = res.frame
    truth = people.head(150)["person_id"]
    accepted = f["status"] == "accepted"
    assert accepted.mean() > 0.8
    assert (f.filter(accepted)["person_id"] == truth.filter(accepted)).all()


def test_prepared_reference_gives_the_same_result(small) -> None:  # type: ignore[no-untyped-def]
    register, queries, _ = small
    prepared = kl.linkage.prepare_reference(register, spec=SPEC)
    assert "rows=" in repr(prepared)
    a = kl.recover_kvk(queries, register, spec=SPEC)
    b = kl.recover_kvk(queries, prepared, spec=SPEC)
    assert a.frame.equals(b.frame)
    # a second batch reuses the same preparation
    c = kl.recover_kvk(queries.head(10), prepared, spec=SPEC)
    assert c.frame.height == 10
    other = RecoverySpec(
        fields=tuple(f for f in SPEC.fields if f.name != "legal_form"),
        blocking=SPEC.blocking,
        query_id="interaction_id",
    )
    with pytest.raises(ConfigError, match="prepare_reference"):
        kl.recover_kvk(queries, prepared, spec=other)


def test_single_pass_pruning_keeps_the_result(medium) -> None:  # type: ignore[no-untyped-def]
    """Pruning drops most candidate pairs but not the recovered numbers or statuses."""
    register, queries, _ = medium
    pruned = kl.recover_kvk(queries, register, spec=SPEC)
    full = kl.recover_kvk(
        queries, register, spec=dataclasses.replace(SPEC, prune_min_passes=None)
    )
    assert pruned.candidates.height < 0.5 * full.candidates.height
    a, b = pruned.frame, full.frame
    assert a["kvk_nummer"].to_list() == b["kvk_nummer"].to_list()
    assert a["status"].to_list() == b["status"].to_list()
    # the pruned competitors had tiny Bayes factors: probabilities move only a little
    assert (a["match_probability"] - b["match_probability"]).abs().max() < 0.05
    # every pair that was kept is scored exactly as without pruning
    joined = pruned.candidates.join(full.candidates, on=["query_row", "register_row"],
                                    suffix="_full")
    assert joined.height == pruned.candidates.height
    assert (joined["match_score"] - joined["match_score_full"]).abs().max() < 1e-9


def test_prune_min_passes_must_be_at_least_two() -> None:
    with pytest.raises(ConfigError, match="prune_min_passes"):
        dataclasses.replace(SPEC, prune_min_passes=1)
