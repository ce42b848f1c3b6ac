"""Synthetic data: contract schemas, marginals (domain.md §3), history, Handelsregister, truth.

Tolerances (scale 0.02, ≈ 48,000 units alive at the end of 2024):

* units alive (open) at the end of 2024: within 5% of ``2.4M × scale``;
* one-person firms: 82.1% ± 1.0 percentage point; other size classes: ± max(0.6 pp, 20%);
* SBI sections: ± max(0.6 pp, 15% of the target share);
* legal forms: eenmanszaak 62% ± 2 pp, VOF 10% ± 1.5 pp, BV 25% ± 2 pp, other 4% ± 1 pp;
* Zuid- and Noord-Holland 20% ± 1.5 pp each, other provinces their prior ± 1 pp.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import polars as pl
import pytest

from kvklink import synth
from kvklink.errors import InputError
from kvklink.synth._config import (
    MUNICIPALITIES,
    PROVINCE_REGION,
    PROVINCE_SHARES,
    SECTION_SHARES,
    SIZE_CLASSES,
)

SCALE = 0.02


@pytest.fixture(scope="module")
def data() -> synth.SyntheticData:
    return synth.generate(scale=SCALE, seed=7)


@pytest.fixture(scope="module")
def stock(data: synth.SyntheticData) -> pl.DataFrame:
    return data.register.filter(pl.col("year") == 2024)


CONTRACT: dict[str, dict[str, type[pl.DataType] | tuple[type[pl.DataType], ...] | None]] = {
    "register": {
        "be_id": pl.Int64,
        "year": (pl.Int16, pl.Int32),
        "sbi": pl.String,
        "sbi_version": None,
        "section": pl.String,
        "size_class_kvk": None,
        "size_class_cbs": None,
        "size_band": None,
        "legal_form": None,
        "province": None,
        "kvk_region": None,
        "municipality": None,
        "start_date": pl.Date,
        "end_date": pl.Date,
        "employees": None,
        "turnover": None,
    },
    "kvk_history": {
        "kvk_nummer": pl.String,
        "be_id": pl.Int64,
        "valid_from": pl.Date,
        "valid_to": pl.Date,
    },
    "handelsregister": {
        "kvk_nummer": pl.String,
        "vestigingsnummer": pl.String,
        "trade_name": pl.String,
        "street": pl.String,
        "house_number": pl.String,
        "postcode": pl.String,
        "city": pl.String,
    },
    "interactions": {
        "interaction_id": pl.String,
        "date": pl.Date,
        "activity": None,
        "statutory_task": None,
        "channel": None,
        "kvk_nummer": pl.String,
        "company_name": pl.String,
        "street": pl.String,
        "house_number": pl.String,
        "postcode": pl.String,
        "city": pl.String,
        "email": pl.String,
        "consent": pl.Boolean,
        "consent_purposes": pl.String,
        "consent_date": pl.Date,
        "consent_withdrawn_date": pl.Date,
    },
    "truth": {"interaction_id": pl.String, "true_kvk_nummer": pl.String, "true_be_id": pl.Int64},
}


def test_contract_columns_and_dtypes(data: synth.SyntheticData) -> None:
    for table, columns in CONTRACT.items():
        frame = getattr(data, table)
        for name, dtype in columns.items():
            assert name in frame.columns, (table, name)
            if dtype is not None:
                allowed = dtype if isinstance(dtype, tuple) else (dtype,)
                assert frame.schema[name] in allowed, (table, name, frame.schema[name])
    assert data.manifest["row_counts"]["register"] == data.register.height
    assert set(data.manifest["row_counts"]) == set(synth.TABLES)


def test_stock_size_and_panel_years(data: synth.SyntheticData, stock: pl.DataFrame) -> None:
    target = 2_400_000 * SCALE
    alive_end = stock.filter(pl.col("end_date").is_null()).height
    assert abs(alive_end - target) / target < 0.05
    years = data.register["year"].unique().sort().to_list()
    assert years == list(range(2015, 2025))
    counts = data.register.group_by("year").len().sort("year")["len"].to_numpy()
    assert counts[-1] > counts[0] * 1.2  # births exceed deaths: the stock grows
    # births and deaths both happen inside the panel
    assert data.register.filter(pl.col("start_date") >= dt.date(2015, 1, 1)).height > 0
    assert data.register.filter(pl.col("end_date") <= dt.date(2024, 12, 31)).height > 0
    assert data.register.select(pl.struct("be_id", "year").is_unique().all()).item()


def test_size_class_marginals(stock: pl.DataFrame) -> None:
    emp = stock["employees"].to_numpy()
    bounds = [(c.low, c.high, c.share) for c in SIZE_CLASSES]
    one = float((emp == 1).mean())
    assert abs(one - 0.821) <= 0.01
    for low, high, share in bounds[1:]:
        got = float(((emp >= low) & (emp <= high)).mean())
        assert abs(got - share) <= max(0.006, 0.2 * share), (low, high, got, share)


def test_section_legal_form_and_province_marginals(stock: pl.DataFrame) -> None:
    n = stock.height
    sec = dict(stock["section"].value_counts().iter_rows())
    for s, share in SECTION_SHARES.items():
        got = sec.get(s, 0) / n
        assert abs(got - share) <= max(0.006, 0.15 * share), (s, got, share)
    lf = {k: v / n for k, v in stock["legal_form"].cast(pl.String).value_counts().iter_rows()}
    assert abs(lf["eenmanszaak"] - 0.62) <= 0.02
    assert abs(lf["vof"] - 0.10) <= 0.015
    assert abs(lf["bv"] - 0.25) <= 0.02
    assert abs(lf["other"] - 0.04) <= 0.01
    prov = {k: v / n for k, v in stock["province"].cast(pl.String).value_counts().iter_rows()}
    for p, share in PROVINCE_SHARES.items():
        tol = 0.015 if p in {"PV27", "PV28"} else 0.01
        assert abs(prov[p] - share) <= tol, (p, prov[p], share)
    assert abs(prov["PV27"] - 0.20) <= 0.015
    assert abs(prov["PV28"] - 0.20) <= 0.015


_DIVISION_SECTION = [
    (1, 3, "A"), (5, 9, "B"), (10, 33, "C"), (35, 35, "D"), (36, 39, "E"), (41, 43, "F"),
    (45, 47, "G"), (49, 53, "H"), (55, 56, "I"), (58, 63, "J"), (64, 66, "K"), (68, 68, "L"),
    (69, 75, "M"), (77, 82, "N"), (84, 84, "O"), (85, 85, "P"), (86, 88, "Q"), (90, 93, "R"),
    (94, 96, "S"), (97, 98, "T"), (99, 99, "U"),
]  # fmt: skip


def test_codes_are_consistent(data: synth.SyntheticData) -> None:
    reg = data.register
    pairs = reg.select("sbi", "section").unique()
    for sbi, section in pairs.iter_rows():
        assert re.fullmatch(r"\d{5}", sbi)
        division = int(sbi[:2])
        expected = next(s for lo, hi, s in _DIVISION_SECTION if lo <= division <= hi)
        assert expected == section, (sbi, section)
    assert reg["sbi_version"].cast(pl.String).unique().to_list() == ["SBI2008"]
    # size classes follow persons employed
    emp = pl.col("employees")
    checks = reg.select(
        a=((emp <= 1) == (pl.col("size_band").cast(pl.String) == "0-1")).all(),
        b=((emp >= 250) == (pl.col("size_band").cast(pl.String) == "250+")).all(),
        c=((emp == 1) == (pl.col("size_class_kvk").cast(pl.String) == "02")).all(),
        d=((emp == 2) == (pl.col("size_class_cbs").cast(pl.String) == "2")).all(),
        e=(emp >= 1).all(),
        f=(pl.col("turnover") > 0).all(),
    ).row(0)
    assert all(checks)
    # province -> KVK region, municipality within its province
    muni_prov = {m.code: m.province for m in MUNICIPALITIES}
    combos = reg.select(
        pl.col("province").cast(pl.String),
        pl.col("kvk_region").cast(pl.String),
        pl.col("municipality").cast(pl.String),
    ).unique()
    for prov, region, muni in combos.iter_rows():
        assert PROVINCE_REGION[prov] == region
        assert muni_prov[muni] == prov
        assert re.fullmatch(r"GM\d{4}", muni)


def test_outcomes_are_persistent(data: synth.SyntheticData) -> None:
    wide = (
        data.register.filter(pl.col("year").is_in([2019, 2020]))
        .pivot(on="year", index="be_id", values="turnover")
        .drop_nulls()
    )
    corr = np.corrcoef(np.log(wide["2019"].to_numpy()), np.log(wide["2020"].to_numpy()))[0, 1]
    assert corr > 0.9
    # heterogeneity: firms differ a lot in level
    assert data.register["turnover"].log().std() > 0.5


def test_history_many_to_one_and_number_changes(data: synth.SyntheticData) -> None:
    hist = data.kvk_history
    assert hist["kvk_nummer"].str.contains(r"^\d{8}$").all()
    assert hist.filter(pl.col("kvk_nummer").str.starts_with("0")).height > 0
    # no overlapping periods for one KVK number (valid_to exclusive, null = open)
    far = dt.date(9999, 1, 1)
    ordered = hist.with_columns(pl.col("valid_to").fill_null(far)).sort("kvk_nummer", "valid_from")
    overlap = ordered.with_columns(
        pl.col("valid_to").shift(1).over("kvk_nummer").alias("prev_to")
    ).filter(pl.col("prev_to").is_not_null() & (pl.col("prev_to") > pl.col("valid_from")))
    assert overlap.height == 0
    assert (ordered["valid_to"] > ordered["valid_from"]).all()
    # several numbers per BE at one date (holding + operating company)
    at = dt.date(2020, 6, 30)
    valid = hist.filter(
        (pl.col("valid_from") <= at) & (pl.col("valid_to").is_null() | (pl.col("valid_to") > at))
    )
    per_be = valid.group_by("be_id").len()
    assert per_be.filter(pl.col("len") >= 2).height > 50
    # number changes keeping the BE: a number ends and another starts on the same day
    ends = hist.filter(pl.col("valid_to").is_not_null()).select("be_id", d=pl.col("valid_to"))
    starts = hist.select("be_id", d=pl.col("valid_from"))
    changes = ends.join(starts, on=["be_id", "d"])
    assert changes.height > 100
    # a number moving to another BE after a takeover (second row for the same number)
    assert (
        hist.group_by("kvk_nummer")
        .agg(pl.col("be_id").n_unique())
        .filter(pl.col("be_id") > 1)
        .height
        > 0
    )
    # every BE in the register has a history row
    assert set(data.register["be_id"].unique()) <= set(hist["be_id"].unique())


def test_handelsregister(data: synth.SyntheticData) -> None:
    hr = data.handelsregister
    assert hr["vestigingsnummer"].str.contains(r"^\d{12}$").all()
    assert hr["vestigingsnummer"].is_unique().all()
    assert hr["vestigingsnummer"].str.starts_with("0").mean() > 0.5  # type: ignore[operator]
    assert hr["postcode"].str.contains(r"^[1-9]\d{3} [A-Z]{2}$").all()
    assert hr["house_number"].str.contains(r"^\d+([A-Z]|-\d+)?$").all()
    assert hr["house_number"].str.contains(r"[A-Z-]").any()
    numbers = set(data.kvk_history["kvk_nummer"].unique())
    assert set(hr["kvk_nummer"].unique()) == numbers
    assert (hr.group_by("kvk_nummer").len()["len"] > 1).any()  # several vestigingen
    names = hr["trade_name"]
    for suffix in (" B.V.", " Holding B.V.", " V.O.F."):
        assert names.str.ends_with(suffix).any(), suffix
    # common names recur; several firms at one address
    assert names.value_counts()["count"].max() > 3  # type: ignore[operator]
    shared = hr.group_by("street", "house_number", "postcode").agg(pl.col("kvk_nummer").n_unique())
    assert shared.filter(pl.col("kvk_nummer") >= 3).height > 10
    # postcode roughly consistent with the municipality (city)
    by_city = {m.name: (m.pc_low, m.pc_high) for m in MUNICIPALITIES}
    pc = hr.select("city", pc4=pl.col("postcode").str.slice(0, 4).cast(pl.Int32))
    lo = pc["city"].replace_strict({k: v[0] for k, v in by_city.items()}, return_dtype=pl.Int32)
    hi = pc["city"].replace_strict({k: v[1] for k, v in by_city.items()}, return_dtype=pl.Int32)
    assert ((pc["pc4"] >= lo) & (pc["pc4"] <= hi)).all()


def test_truth_numbers_are_valid_at_the_interaction_date(data: synth.SyntheticData) -> None:
    joined = (
        data.interactions.select("interaction_id", "date")
        .join(data.truth, on="interaction_id")
        .filter(pl.col("true_be_id").is_not_null())
        .join(data.kvk_history, left_on="true_kvk_nummer", right_on="kvk_nummer")
        .filter(
            (pl.col("valid_from") <= pl.col("date"))
            & (pl.col("valid_to").is_null() | (pl.col("date") < pl.col("valid_to")))
        )
    )
    in_register = data.truth.filter(pl.col("true_be_id").is_not_null()).height
    assert joined.height == in_register
    assert (joined["be_id"] == joined["true_be_id"]).all()
    # parties outside the register: truth null, and their number is in no history
    outside = data.truth.filter(pl.col("true_be_id").is_null())
    assert outside.height > 0
    assert outside["true_kvk_nummer"].is_null().all()


def test_interactions_shape(data: synth.SyntheticData) -> None:
    it = data.interactions
    assert it["interaction_id"].is_unique().all()
    assert it["date"].min() >= dt.date(2017, 1, 1)  # type: ignore[operator]
    assert it["date"].max() <= dt.date(2023, 12, 31)  # type: ignore[operator]
    web = it.filter(pl.col("activity").cast(pl.String).is_in(["Content kvk.nl", "YouTube-serie"]))
    assert web.height > 0
    assert web["kvk_nummer"].is_null().all()
    events = it.filter(pl.col("channel").cast(pl.String) == "programme")
    assert events["kvk_nummer"].is_not_null().mean() > 0.85  # type: ignore[operator]
    assert set(it["statutory_task"].cast(pl.String).unique()) == {"innovation", "region"}
    # repeat users and duplicates
    t = data.truth.filter(pl.col("true_be_id").is_not_null())
    assert t.group_by("true_be_id").len()["len"].max() > 2  # type: ignore[operator]
    assert data.truth["duplicate"].sum() > 0
    emails = it["email"].drop_nulls()
    # repeat users mostly give the same e-mail address
    per_firm = (
        it.join(data.truth, on="interaction_id")
        .filter(pl.col("email").is_not_null() & pl.col("true_be_id").is_not_null())
        .group_by("true_be_id")
        .agg(pl.col("email").n_unique().alias("u"), pl.len().alias("n"))
        .filter(pl.col("n") > 1)
    )
    assert per_firm["u"].mean() < 0.7 * per_firm["n"].mean()  # type: ignore[operator]
    assert emails.str.contains(r"^[a-z0-9.\-]+@[a-z0-9.\-]+\.[a-z]+$").all()


def test_variants_only_on_rows_without_a_number(data: synth.SyntheticData) -> None:
    t = data.truth.join(data.interactions, on="interaction_id")
    varied = t.filter(pl.col("name_variant") | pl.col("address_variant"))
    assert varied.height > 0
    assert varied["kvk_form"].cast(pl.String).is_in(["not_captured", "empty"]).all()
    named = t.filter(pl.col("company_name").is_not_null())
    share = named.filter(pl.col("kvk_form").cast(pl.String).is_in(["not_captured", "empty"]))[
        "name_variant"
    ].mean()
    assert 0.2 < share < 0.5  # type: ignore[operator]


def test_treatment_and_naive_bias(data: synth.SyntheticData) -> None:
    """Selection into use makes the naive users-vs-non-users growth gap far exceed the effect."""
    reg = data.register
    wide = (
        reg.filter(pl.col("year").is_in([2016, 2024]))
        .pivot(on="year", index="be_id", values="turnover")
        .drop_nulls()
        .with_columns(growth=pl.col("2024").log() - pl.col("2016").log())
    )
    treated = data.treatment.filter(pl.col("first_use_year") <= 2021).select("be_id")
    wide = wide.with_columns(treated=pl.col("be_id").is_in(treated["be_id"].implode()))
    wide = wide.filter(
        pl.col("treated") | ~pl.col("be_id").is_in(data.treatment["be_id"].implode())
    )
    naive = (
        wide.filter("treated")["growth"].mean() - wide.filter(~pl.col("treated"))["growth"].mean()
    )
    planted = (
        wide.filter("treated")
        .join(data.effects.filter(pl.col("year") == 2024), on="be_id", how="left")["effect_log"]
        .fill_null(0.0)
        .mean()
    )
    assert isinstance(naive, float)
    assert isinstance(planted, float)
    assert planted > 0.003
    assert naive - planted > 0.03  # biased upward by selection on growth, starters, size
    # the effects table follows the documented ramp
    info = data.planted_effect
    row = data.treatment.filter(pl.col("effect_full") > 0).row(0, named=True)
    eff = data.effects.filter(pl.col("be_id") == row["be_id"]).sort("year")
    ramp = info["ramp_years"]
    for year, value in eff.select("year", "effect_log").iter_rows():
        k = year - row["first_use_year"]
        assert k >= 1
        assert value == pytest.approx(np.log1p(row["effect_full"]) * min(k / ramp, 1.0))


def test_effect_multiplier_zero_gives_no_effect() -> None:
    data = synth.generate(0.002, seed=1, params=synth.SynthParams(effect_multiplier=0.0))
    assert data.effects.height == 0
    assert all(v == 0 for v in data.planted_effect["effect_by_activity"].values())


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [({"scale": 0}, InputError), ({"scale": -1.0}, InputError), ({"seed": -3}, InputError)],
)
def test_bad_arguments(kwargs: dict[str, float], exc: type[Exception]) -> None:
    with pytest.raises(exc, match="generate"):
        synth.generate(**kwargs)  # type: ignore[arg-type]


def test_bad_params() -> None:
    with pytest.raises(InputError, match="consent_rate"):
        synth.SynthParams(consent_rate=1.5)
    with pytest.raises(InputError, match="MessyRates"):
        synth.MessyRates(spaces=0.9, dots=0.2)
