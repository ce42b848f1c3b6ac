"""Synthetic interactions: messy KVK spellings and consent match their parameters; seeds.

Rates are checked on interactions of register firms against the configured parameters with a
tolerance of 4 binomial standard errors plus 0.003 (absolute).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from kvklink import synth
from kvklink.identifiers import normalise_kvk

MESSY = synth.MessyRates(
    spaces=0.10,
    dots=0.05,
    prefix=0.06,
    float_=0.08,
    vestigingsnummer=0.03,
    rsin=0.02,
    btw=0.02,
    empty=0.05,
    typo=0.02,
    stripped_zero=0.5,
)
PARAMS = synth.SynthParams(
    user_rate=0.25,
    consent_rate=0.55,
    evaluation_purpose_rate=0.8,
    withdrawal_rate=0.05,
    messy=MESSY,
)

PATTERNS = {
    "spaces": r"^\d{4} \d{4}$",
    "dots": r"^\d{2}\.\d{2}\.\d{2}\.\d{2}$",
    "prefix": r"^(KvK |KvK-nr\. |kvk: )",
    "float": r"^\d{7,8}\.0$",
    "vestigingsnummer": r"^\d{12}$",
    "rsin": r"^\d{9}$",
    "btw": r"^NL\d{9}B\d{2}$",
    "empty": r"^$",
    "stripped_zero": r"^\d{7}$",
}


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    data = synth.generate(scale=0.01, seed=5, params=PARAMS)
    return data.interactions.join(data.truth, on="interaction_id").filter(~pl.col("duplicate"))


def _observed_form(frame: pl.DataFrame) -> pl.Series:
    """Classify the raw strings independently of the generator's own label."""
    raw = pl.col("kvk_nummer")
    expr = pl.when(raw.is_null()).then(pl.lit("not_captured"))
    for name, pattern in PATTERNS.items():
        expr = expr.when(raw.str.contains(pattern)).then(pl.lit(name))
    expr = (
        expr.when(raw.str.contains(r"^\d{8}$") & (raw == pl.col("true_kvk_nummer")))
        .then(pl.lit("clean"))
        .when(raw.str.contains(r"^\d{8}$"))
        .then(pl.lit("typo"))
        .otherwise(pl.lit("other"))
    )
    return frame.select(expr.alias("form")).to_series()


def _close(got: float, want: float, n: int) -> bool:
    se = np.sqrt(max(want * (1 - want), 1e-9) / n)
    return abs(got - want) <= 4 * se + 0.003


def test_messy_forms_match_rates(rows: pl.DataFrame) -> None:
    reg = rows.filter(pl.col("true_kvk_nummer").is_not_null())
    reg = reg.with_columns(_observed_form(reg).alias("form"))
    assert (reg["form"] != "other").all()
    assert (reg["form"] == reg["kvk_form"].cast(pl.String)).all()
    captured = reg.filter(pl.col("form") != "not_captured")
    # numbers without a leading zero: every form at its configured rate
    plain = captured.filter(~pl.col("true_kvk_nummer").str.starts_with("0"))
    n = plain.height
    assert n > 3000
    shares = {k: v / n for k, v in plain["form"].value_counts().iter_rows()}
    for name, rate in MESSY.forms().items():
        assert _close(shares.get(name, 0.0), rate, n), (name, shares.get(name), rate)
    assert _close(shares["clean"], MESSY.clean, n)
    # leading-zero numbers lose the zero at the configured rate (clean and float spellings)
    lz = captured.filter(
        pl.col("true_kvk_nummer").str.starts_with("0")
        & pl.col("form").is_in(["clean", "float", "stripped_zero"])
    )
    assert lz.height > 100
    got = float((lz["form"] == "stripped_zero").mean())  # type: ignore[arg-type]
    assert _close(got, MESSY.stripped_zero, lz.height)


def test_capture_depends_on_activity(rows: pl.DataFrame) -> None:
    by = rows.group_by(pl.col("channel").cast(pl.String)).agg(
        pl.col("kvk_nummer").is_not_null().mean().alias("captured")
    )
    rate = dict(by.iter_rows())
    assert rate["web"] < 0.05
    assert rate["video"] == 0.0
    assert rate["programme"] > 0.85
    assert rate["tool"] > 0.5


def test_messy_values_normalise_back_to_truth(rows: pl.DataFrame) -> None:
    reg = rows.filter(pl.col("kvk_nummer").is_not_null() & pl.col("true_kvk_nummer").is_not_null())
    norm = normalise_kvk(reg["kvk_nummer"])
    both = reg.hstack(norm.rename({"kvk": "norm_kvk", "reason": "norm_reason"}))
    form = pl.col("kvk_form").cast(pl.String)
    good = both.filter(form.is_in(["clean", "spaces", "dots", "prefix"]))
    assert (good["norm_kvk"] == good["true_kvk_nummer"]).all()
    expected = {
        "vestigingsnummer": "vestigingsnummer",
        "rsin": "rsin_or_bsn",
        "btw": "btw_id",
        "empty": "missing",
    }
    for f, reason in expected.items():
        sub = both.filter(form == f)
        assert sub.height > 0, f
        assert (sub["norm_reason"] == reason).all(), f
    # a usable normalised number is either the true one or (for typos) another number
    usable = both.filter(pl.col("norm_kvk").is_not_null() & (form != "typo"))
    assert (usable["norm_kvk"] == usable["true_kvk_nummer"]).all()
    typos = both.filter(form == "typo")
    assert (typos["norm_kvk"] != typos["true_kvk_nummer"]).all()


def test_consent_rates_and_dates(rows: pl.DataFrame) -> None:
    identified = rows.filter(
        pl.col("kvk_nummer").is_not_null()
        | pl.col("company_name").is_not_null()
        | pl.col("email").is_not_null()
    )
    anonymous = rows.filter(
        pl.col("kvk_nummer").is_null()
        & pl.col("company_name").is_null()
        & pl.col("email").is_null()
    )
    assert anonymous.height > 0
    assert not anonymous["consent"].any()
    n = identified.height
    assert _close(float(identified["consent"].mean()), PARAMS.consent_rate, n)  # type: ignore[arg-type]
    consented = identified.filter("consent")
    purposes = consented["consent_purposes"]
    assert purposes.is_not_null().all()
    assert purposes.str.contains(r"^[a-z0-9\-]+(;[a-z0-9\-]+)*$").all()
    has_eval = purposes.str.split(";").list.contains(PARAMS.evaluation_purpose)
    assert _close(float(has_eval.mean()), PARAMS.evaluation_purpose_rate, consented.height)  # type: ignore[arg-type]
    withdrawn = consented["consent_withdrawn_date"].is_not_null()
    assert _close(float(withdrawn.mean()), PARAMS.withdrawal_rate, consented.height)  # type: ignore[arg-type]
    assert (consented["consent_date"] <= consented["date"]).all()
    w = consented.filter(pl.col("consent_withdrawn_date").is_not_null())
    assert (w["consent_withdrawn_date"] > w["consent_date"]).all()
    refused = rows.filter(~pl.col("consent"))
    assert refused["consent_purposes"].is_null().all()
    assert refused["consent_date"].is_null().all()
    assert refused["consent_withdrawn_date"].is_null().all()


def _digests(paths: dict[str, Path]) -> dict[str, str]:
    return {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in paths.items()}


def test_same_seed_identical_files_different_seed_differs(tmp_path: Path) -> None:
    a = synth.generate(scale=0.003, seed=11).write(tmp_path / "a")
    b = synth.generate(scale=0.003, seed=11).write(tmp_path / "b")
    c = synth.generate(scale=0.003, seed=12).write(tmp_path / "c")
    da, db, dc = _digests(a), _digests(b), _digests(c)
    assert da == db  # every Parquet file and the manifest, byte for byte
    assert set(a) == {*synth.TABLES, "manifest"}
    differing = [k for k in synth.TABLES if da[k] != dc[k]]
    assert set(differing) == set(synth.TABLES)
    ra = pl.read_parquet(a["register"])
    rc = pl.read_parquet(c["register"])
    assert not ra.equals(rc)
    manifest = (tmp_path / "a" / "manifest.json").read_text()
    assert '"seed": 11' in manifest
    assert "planted_effect" in manifest
