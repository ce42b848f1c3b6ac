"""Tests for the disclosure-controlled linkage report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kvklink.disclosure import TOTAL_LABEL, DisclosurePolicy
from kvklink.errors import SchemaError
from kvklink.linkage._report import LINKAGE_CATEGORIES, LinkageReport, linkage_report


def frame_of(spec: list[tuple[str, str, str | None, str | None, int]]) -> pl.DataFrame:
    """(activity, status, recovery, region, n) → n identical interaction rows."""
    rows = [r for r in spec for _ in range(r[4])]
    return pl.DataFrame(
        {
            "activity": [r[0] for r in rows],
            "link_status": [r[1] for r in rows],
            "recovery_status": [r[2] for r in rows],
            "kvk_region": [r[3] for r in rows],
            "date": [dt.date(2020 + i % 3, 5, 1) for i in range(len(rows))],
        },
        schema_overrides={"recovery_status": pl.Utf8, "kvk_region": pl.Utf8},
    )


BIG = frame_of(
    [
        ("webinar", "linked", None, "Noord", 120),
        ("webinar", "linked", "accepted", "Oost", 30),
        ("webinar", "missing", "review", None, 25),
        ("digiscan", "linked", None, "West", 200),
        ("digiscan", "not_in_register", None, None, 40),
        ("digiscan", "no_consent", None, None, 35),
        ("digiscan", "missing", "rejected", None, 15),
    ]
)


def cell(report: LinkageReport, dim: str, level: str, category: str) -> int | None:
    frame = report.frame.filter(
        (pl.col("dimension") == dim) & (pl.col("level") == level) & (pl.col("category") == category)
    )
    assert frame.height == 1
    value = frame["interactions"].item()
    return None if value is None else int(value)


def test_categories_and_counts_without_suppression() -> None:
    report = linkage_report(BIG, by=["activity"], recovery_column="recovery_status")
    assert cell(report, "all", TOTAL_LABEL, "linked_exact") == 320
    assert cell(report, "all", TOTAL_LABEL, "linked_recovered") == 30
    assert cell(report, "all", TOTAL_LABEL, "in_review") == 25
    assert cell(report, "all", TOTAL_LABEL, "unlinked") == 90
    assert cell(report, "all", TOTAL_LABEL, TOTAL_LABEL) == 465
    assert cell(report, "activity", "webinar", "linked_recovered") == 30
    assert cell(report, "activity", "digiscan", "unlinked") == 90
    assert cell(report, "unlinked_reason", "not_in_register", "unlinked") == 40
    assert cell(report, "unlinked_reason", "no_consent", "unlinked") == 35
    assert cell(report, "unlinked_reason", "missing", "unlinked") == 15
    rates = report.link_rates()
    webinar = rates.filter(pl.col("level") == "webinar")
    assert webinar["link_rate"].item() == pytest.approx(150 / 175)
    overall = rates.filter(pl.col("dimension") == "all")
    assert overall["link_rate"].item() == pytest.approx(350 / 465)


def test_without_recovery_column_every_link_is_exact() -> None:
    report = linkage_report(BIG, by=["activity"])
    assert cell(report, "all", TOTAL_LABEL, "linked_exact") == 350
    assert cell(report, "all", TOTAL_LABEL, "linked_recovered") == 0
    assert cell(report, "all", TOTAL_LABEL, "in_review") == 0


def test_default_dimensions_and_year_from_date() -> None:
    report = linkage_report(BIG)
    assert list(report.tables) == ["activity", "year", "kvk_region"]
    years = report.tables["year"].frame["year"].unique().to_list()
    assert set(years) == {"2020", "2021", "2022", TOTAL_LABEL}
    # unlinked rows have no register region: reported as "unknown"
    assert "unknown" in report.tables["kvk_region"].frame["kvk_region"].to_list()


def test_small_cells_suppressed_and_tables_consistent() -> None:
    small = frame_of(
        [
            ("webinar", "linked", None, "Noord", 60),
            ("webinar", "linked", "accepted", "Noord", 4),
            ("webinar", "not_in_register", None, None, 15),
            ("event", "linked", None, "Zuid", 45),
            ("event", "not_valid_at_date", None, None, 3),
            ("chat", "linked", None, "Zuid", 30),
            ("chat", "no_consent", None, None, 20),
        ]
    )
    report = linkage_report(small, by=["activity", "kvk_region"], recovery_column="recovery_status")
    frame = report.frame
    published = frame.filter(~pl.col("suppressed"))
    assert not ((published["interactions"] > 0) & (published["interactions"] < 10)).any()
    # linked_recovered overall is 4: suppressed everywhere it appears, never recomputable
    assert cell(report, "all", TOTAL_LABEL, "linked_recovered") is None
    overall_supp = set(report.overall.frame.filter(pl.col("suppressed"))["category"].to_list())
    for dim, table in report.tables.items():
        margin = table.frame.filter(pl.col(dim) == TOTAL_LABEL)
        assert set(margin.filter(pl.col("suppressed"))["category"].to_list()) == overall_supp
        assert not table.check()["recomputable"].any()
    assert not report.overall.check()["recomputable"].any()
    assert not report.reasons.check()["recomputable"].any()
    # a rate that would reveal a suppressed count is not published
    rates = report.link_rates().filter(pl.col("dimension") == "all")
    assert rates["link_rate"].item() is None
    md = report.to_markdown()
    assert "✱" in md
    assert "Current CBS output rules take precedence" in md
    assert "✱" in report.to_html()


def test_policy_is_applied() -> None:
    report = linkage_report(
        BIG,
        by=["activity"],
        recovery_column="recovery_status",
        policy=DisclosurePolicy(min_units=50),
    )
    assert report.policy.min_units == 50
    assert cell(report, "activity", "webinar", "linked_recovered") is None
    assert "min_units=50" in repr(report)


def test_pandas_input() -> None:
    report = linkage_report(BIG.to_pandas(), by=["activity"])
    assert isinstance(report.frame, pl.DataFrame)
    assert cell(report, "all", TOTAL_LABEL, TOTAL_LABEL) == 465
    assert isinstance(BIG.to_pandas(), pd.DataFrame)


def test_plot(tmp_path: Path) -> None:
    report = linkage_report(BIG, by=["activity", "kvk_region"], recovery_column="recovery_status")
    fig = report.plot()
    assert len(fig.axes) == 2
    out = tmp_path / "report.png"
    fig.savefig(out)
    assert out.stat().st_size > 1000


def test_bad_inputs() -> None:
    with pytest.raises(SchemaError, match="lacks required column"):
        linkage_report(BIG, by=["sector"])
    with pytest.raises(SchemaError, match="lacks required column"):
        linkage_report(BIG.drop("link_status"))
    with pytest.raises(SchemaError, match="none of the default report dimensions"):
        linkage_report(BIG.select("link_status"))
    with pytest.raises(SchemaError, match="reserved"):
        linkage_report(BIG.with_columns(category=pl.lit("x")), by=["category"])


def test_ledger_must_match_frame() -> None:
    from kvklink.ledger import RowLedger

    ledger = RowLedger({"pseudonymised": 10, "missing": 4}, total_input=14)
    with pytest.raises(SchemaError, match="counts 10 row"):
        linkage_report(BIG, by=["activity"], ledger=ledger)
    with pytest.raises(SchemaError, match="must be a RowLedger"):
        linkage_report(BIG, by=["activity"], ledger={"x": 1})  # type: ignore[arg-type]
    ok = RowLedger({"pseudonymised": BIG.height, "missing": 4}, total_input=BIG.height + 4)
    report = linkage_report(BIG, by=["activity"], ledger=ok)
    assert report.intake is not None
    # 4 missing rows: below the threshold, so suppressed with a complement
    assert report.intake.frame["suppressed"].to_list()[:2] == [True, True]
    assert cell(report, "intake", TOTAL_LABEL, "input") == BIG.height + 4


def test_all_linked_has_empty_reasons_table() -> None:
    report = linkage_report(frame_of([("webinar", "linked", None, "Noord", 20)]), by=["activity"])
    assert cell(report, "unlinked_reason", TOTAL_LABEL, "unlinked") == 0


STATUSES = ["linked", "linked", "not_in_register", "not_valid_at_date", "missing", "no_consent"]


#: Each table on its own is safe, but region Noord's exact links were the activity table's
#: published webinar total minus the region table's published Zuid total.
JOINTLY_EXPOSED: list[tuple[str, str, str | None, str | None, int]] = [
    *[("webinar", "linked", None, "Noord", 1)] * 7,
    ("webinar", "linked", None, "Zuid", 8),
    ("webinar", "not_in_register", None, "Zuid", 15),
    ("event", "linked", "accepted", "Noord", 1),
]


@settings(max_examples=40, deadline=None)
@example(spec=JOINTLY_EXPOSED, firms=10)
@given(
    spec=st.lists(
        st.tuples(
            st.sampled_from(["webinar", "event", "chat"]),
            st.sampled_from(STATUSES),
            st.sampled_from([None, None, "accepted", "review", "rejected"]),
            st.sampled_from(["Noord", "Zuid", None]),
            st.integers(1, 25),
        ),
        min_size=1,
        max_size=10,
    ),
    firms=st.integers(3, 60),
)
def test_property_report_never_publishes_small_cells(
    spec: list[tuple[str, str, str | None, str | None, int]], firms: int
) -> None:
    frame = frame_of(spec).with_columns(pseudonym=pl.format("f{}", pl.int_range(pl.len()) % firms))
    report = linkage_report(frame, by=["activity", "kvk_region"], recovery_column="recovery_status")
    # no published cell of the activity table has interactions from 1..9 firms
    table = report.tables["activity"].frame.filter(~pl.col("suppressed"))
    with_cat = frame.with_columns(
        category=pl.when(
            (pl.col("link_status") == "linked") & (pl.col("recovery_status") == "accepted")
        )
        .then(pl.lit("linked_recovered"))
        .when(pl.col("link_status") == "linked")
        .then(pl.lit("linked_exact"))
        .when(pl.col("recovery_status") == "review")
        .then(pl.lit("in_review"))
        .otherwise(pl.lit("unlinked"))
    )
    for row in table.iter_rows(named=True):
        sub = with_cat
        if row["activity"] != TOTAL_LABEL:
            sub = sub.filter(pl.col("activity") == row["activity"])
        if row["category"] != TOTAL_LABEL:
            sub = sub.filter(pl.col("category") == row["category"])
        n_firms = sub["pseudonym"].n_unique() if sub.height else 0
        assert n_firms == 0 or n_firms >= 10, row
    published = report.frame.filter(~pl.col("suppressed"))
    assert not ((published["interactions"] > 0) & (published["interactions"] < 10)).any()
    overall = report.overall.frame
    assert overall["category"].to_list() == [*LINKAGE_CATEGORIES, TOTAL_LABEL]
    overall_supp = set(overall.filter(pl.col("suppressed"))["category"].to_list())
    for dim, table in report.tables.items():
        margin = table.frame.filter(pl.col(dim) == TOTAL_LABEL)
        assert set(margin.filter(pl.col("suppressed"))["category"].to_list()) == overall_supp
    # the tables together do not let anyone recompute a suppressed cell either
    assert not report.check()["recomputable"].any()


def test_cells_exposed_only_jointly_get_one_more_suppression() -> None:
    frame = frame_of(JOINTLY_EXPOSED).with_columns(
        pseudonym=pl.format("f{}", pl.int_range(pl.len()) % 10)
    )
    report = linkage_report(frame, by=["activity", "kvk_region"], recovery_column="recovery_status")
    audit = report.check()
    assert not audit["recomputable"].any()
    noord = audit.filter((pl.col("level") == "Noord") & (pl.col("category") == "linked_exact"))
    assert noord["upper"].item() > noord["lower"].item()  # no longer pinned at 7
    # each table alone was already safe: the extra suppression is the joint audit's
    for table in report.tables.values():
        assert not table.check()["recomputable"].any()


@pytest.mark.slow
def test_report_on_synthetic_link_with_register_covariates() -> None:
    synth = pytest.importorskip("kvklink.synth")
    import kvklink as kl

    data = synth.generate(scale=0.003, seed=3)
    key = kl.LinkageKey.generate().for_purpose("evaluatie-2024")
    policy = kl.ConsentPolicy("evaluatie-2024", data.interactions["date"].max())
    inter = kl.pseudonymise(
        data.interactions, key=key, consent=policy, keep=["interaction_id", "date", "activity"]
    )
    hist = kl.pseudonymise(
        data.kvk_history, key=key, consent=None, keep=["be_id", "valid_from", "valid_to"]
    )
    result = kl.link(inter.frame, hist.frame, ledger=inter.ledger)
    linked = result.frame
    covariates = data.register.select("be_id", "year", "kvk_region", "size_band", "section")
    frame = linked.with_columns(year=pl.col("date").dt.year().cast(covariates.schema["year"])).join(
        covariates, on=["be_id", "year"], how="left"
    )
    report = kl.linkage_report(frame, ledger=result.ledger)
    assert list(report.tables) == ["activity", "year", "kvk_region", "size_band", "section"]
    # every raw input row is accounted for: intake outcomes + the rows that reached linkage
    assert report.intake is not None
    intake = report.intake.frame
    assert intake["outcome"].to_list()[-2:] == ["pseudonymised", TOTAL_LABEL]
    assert (
        intake.filter(pl.col("outcome") == TOTAL_LABEL)["value"].item() == data.interactions.height
    )
    assert {"missing", "no_consent"} <= set(intake["outcome"].to_list())
    all_input = report.link_rates().filter(pl.col("dimension") == "all_input")
    assert all_input["interactions"].item() == data.interactions.height
    assert "All input rows (row ledger)" in report.to_markdown()
    total = cell(report, "all", TOTAL_LABEL, TOTAL_LABEL)
    assert total is None or total == linked.height
    published = report.frame.filter(~pl.col("suppressed"))
    assert not ((published["interactions"] > 0) & (published["interactions"] < 10)).any()
    for table in report.tables.values():
        assert not table.check()["recomputable"].any()
    joint = report.check()
    assert not joint["recomputable"].any()
    assert set(joint["table"]) <= {"all", "intake", "unlinked_reason", *report.tables}


def test_threshold_rule_counts_firms_not_interactions() -> None:
    # webinar: 40 interactions by 40 firms; event: 30 interactions by only 3 firms
    frame = pl.DataFrame(
        {
            "activity": ["webinar"] * 40 + ["event"] * 30,
            "link_status": ["linked"] * 70,
            "pseudonym": [f"p{i}" for i in range(40)] + [f"q{i % 3}" for i in range(30)],
        }
    )
    report = linkage_report(frame, by=["activity"])
    event = report.tables["activity"].frame.filter(pl.col("activity") == "event")
    assert event.filter(pl.col("category") == "linked_exact")["reason"].item() == "forced"
    assert event["value"].drop_nulls().to_list() == [0, 0, 0]  # only the empty cells remain
    assert not report.check()["recomputable"].any()
    # counting interactions only, the same table is published in full
    plain = linkage_report(frame, by=["activity"], unit_column=None)
    assert not plain.tables["activity"].frame["suppressed"].any()
