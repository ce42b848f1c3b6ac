"""Integration: synthetic data → pseudonymise (both sides, one purpose key) → link → truth."""

from __future__ import annotations

import polars as pl
import pytest

import kvklink as kl

synth = pytest.importorskip("kvklink.synth")


@pytest.fixture(scope="module")
def linked() -> tuple[kl.LinkResult, pl.DataFrame, pl.DataFrame]:
    data = synth.generate(scale=0.003, seed=7)
    key = kl.LinkageKey.generate().for_purpose("evaluatie-2024")
    policy = kl.ConsentPolicy("evaluatie-2024", data.interactions["date"].max())
    inter = kl.pseudonymise(
        data.interactions, key=key, consent=policy, keep=["interaction_id", "date", "activity"]
    )
    hist = kl.pseudonymise(
        data.kvk_history, key=key, consent=None, keep=["be_id", "valid_from", "valid_to"]
    )
    result = kl.link(inter.frame, hist.frame, ledger=inter.ledger)
    return result, data.truth, data.kvk_history


def test_ledger_reconciles_from_raw_input(
    linked: tuple[kl.LinkResult, pl.DataFrame, pl.DataFrame],
) -> None:
    result, truth, _ = linked
    assert result.ledger.reconciles()
    assert result.ledger.total_input == truth.height
    assert result.ledger.stage == "link"
    assert "pseudonymised" not in result.ledger.counts


def test_every_valid_consented_kvk_links_to_its_true_be(
    linked: tuple[kl.LinkResult, pl.DataFrame, pl.DataFrame],
) -> None:
    result, truth, history = linked
    rows = result.frame.join(truth, on="interaction_id", how="left")
    assert rows["true_be_id"].null_count() < rows.height
    # a captured number that is the firm's true number (any formatting except a typo) links
    # to the firm's true BE; firms outside the register are not_in_register
    honest = rows.filter(pl.col("kvk_form").cast(pl.Utf8) != "typo")
    in_register = honest.filter(pl.col("true_be_id").is_not_null())
    assert in_register.height > 50
    assert (in_register["link_status"] == "linked").all()
    assert (in_register["be_id"] == in_register["true_be_id"]).all()
    outside = honest.filter(pl.col("true_be_id").is_null())
    assert (outside["link_status"] == "not_in_register").all()
    # zero false links: no linked row, typo or not, carries a BE other than the true one
    # unless the typo produced another firm's real number
    wrong = rows.filter(
        (pl.col("link_status") == "linked") & (pl.col("be_id") != pl.col("true_be_id"))
    )
    assert (wrong["kvk_form"].cast(pl.Utf8) == "typo").all()
    # firms that changed KVK number (a BE with several numbers) are among the linked rows
    multi = (
        history.group_by("be_id")
        .agg(pl.col("kvk_nummer").n_unique().alias("n"))
        .filter(pl.col("n") > 1)
    )
    assert in_register.filter(pl.col("true_be_id").is_in(multi["be_id"].implode())).height > 0
