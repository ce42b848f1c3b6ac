"""Tests for kvklink.link: exact linkage on pseudonyms at the interaction date."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kvklink
from kvklink.errors import KeyMismatchError, LinkageError, SchemaError
from kvklink.ledger import RowLedger
from kvklink.linkage import LINK_STATUSES, LinkResult, link

KEY = "0123456789abcdef"
OTHER_KEY = "fedcba9876543210"
D = dt.date


def pseud(kvk: str) -> str:
    """A stand-in pseudonym (64 hex chars); the real scheme is tested with intake."""
    return hashlib.sha256(b"test:" + kvk.encode()).hexdigest()


def history_frame(
    rows: list[tuple[str, int, dt.date, dt.date | None]], key: str = KEY
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "pseudonym": [pseud(r[0]) for r in rows],
            "be_id": [r[1] for r in rows],
            "valid_from": [r[2] for r in rows],
            "valid_to": [r[3] for r in rows],
            "key_id": key,
            "scheme_version": "v1",
        },
        schema_overrides={"be_id": pl.Int64, "valid_to": pl.Date, "valid_from": pl.Date},
    )


def interactions_frame(
    rows: list[tuple[str | None, dt.date | None]], key: str = KEY
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "interaction_id": [f"i{i}" for i in range(len(rows))],
            "pseudonym": [pseud(r[0]) if r[0] is not None else None for r in rows],
            "date": [r[1] for r in rows],
            "activity": ["webinar"] * len(rows),
            "key_id": key,
            "scheme_version": "v1",
        },
        schema_overrides={"date": pl.Date, "pseudonym": pl.Utf8},
    )


# A small register with known truth:
#  - 11111111 is a sole trader (BE 1) that incorporated on 2021-07-01 as 22222222 (same BE 1);
#  - 33333333 belonged to BE 2, was taken over on 2020-01-01 and then belonged to BE 3;
#  - 44444444 existed 2016-2019 only (BE 4);
#  - 55555555 is an ordinary open firm (BE 5).
HISTORY_ROWS = [
    ("11111111", 1, D(2015, 3, 1), D(2021, 7, 1)),
    ("22222222", 1, D(2021, 7, 1), None),
    ("33333333", 2, D(2010, 1, 1), D(2020, 1, 1)),
    ("33333333", 3, D(2020, 1, 1), None),
    ("44444444", 4, D(2016, 1, 1), D(2019, 1, 1)),
    ("55555555", 5, D(2000, 1, 1), None),
]
# (kvk, date, expected be_id, expected status)
CASES = [
    ("11111111", D(2021, 6, 30), 1, "linked"),
    ("11111111", D(2021, 7, 1), None, "not_valid_at_date"),  # old number after the change
    ("22222222", D(2021, 7, 1), 1, "linked"),  # valid_from inclusive
    ("22222222", D(2024, 2, 29), 1, "linked"),
    ("33333333", D(2019, 12, 31), 2, "linked"),
    ("33333333", D(2020, 1, 1), 3, "linked"),  # valid_to exclusive
    ("44444444", D(2015, 12, 31), None, "not_valid_at_date"),
    ("44444444", D(2018, 6, 1), 4, "linked"),
    ("44444444", D(2019, 1, 1), None, "not_valid_at_date"),
    ("55555555", D(2023, 1, 1), 5, "linked"),
    ("99999999", D(2023, 1, 1), None, "not_in_register"),
    (None, D(2023, 1, 1), None, "no_pseudonym"),
    ("55555555", None, None, "no_date"),
]


def expected_link(
    history_rows: list[tuple[str, int, dt.date, dt.date | None]],
    kvk: str | None,
    date: dt.date | None,
) -> tuple[int | None, str]:
    """Reference implementation: a plain loop, obviously correct."""
    if kvk is None:
        return None, "no_pseudonym"
    if date is None:
        return None, "no_date"
    periods = [r for r in history_rows if r[0] == kvk]
    if not periods:
        return None, "not_in_register"
    hits = {r[1] for r in periods if r[2] <= date and (r[3] is None or date < r[3])}
    if not hits:
        return None, "not_valid_at_date"
    if len(hits) > 1:
        return None, "ambiguous"
    return hits.pop(), "linked"


def test_known_history_including_number_changes() -> None:
    inter = interactions_frame([(c[0], c[1]) for c in CASES])
    result = link(inter, history_frame(HISTORY_ROWS))
    assert isinstance(result, LinkResult)
    assert result.frame["be_id"].to_list() == [c[2] for c in CASES]
    assert result.frame["link_status"].to_list() == [c[3] for c in CASES]
    # the caller's columns come first, unchanged and in order
    assert result.frame.columns == [*inter.columns, "be_id", "link_status"]
    assert result.frame.drop("be_id", "link_status").equals(inter)
    assert result.ledger.reconciles()
    assert result.ledger.counts["linked"] == 7
    assert result.key_id == KEY
    assert result.scheme_version == "v1"


def test_zero_false_links_every_linked_row_has_true_be() -> None:
    # the same incorporated firm under both numbers links to one BE; no row links elsewhere
    inter = interactions_frame([(c[0], c[1]) for c in CASES])
    out = link(inter, history_frame(HISTORY_ROWS)).frame
    for (kvk, date, _, _), be in zip(CASES, out["be_id"].to_list(), strict=True):
        truth, _status = expected_link(HISTORY_ROWS, kvk, date)
        assert be == truth


def test_pandas_in_pandas_out_and_datetime_dates() -> None:
    inter = interactions_frame([(c[0], c[1]) for c in CASES[:6]]).to_pandas()
    inter["date"] = pd.to_datetime(inter["date"])
    hist = history_frame(HISTORY_ROWS).to_pandas()
    result = link(inter, hist)
    assert isinstance(result.frame, pd.DataFrame)
    assert result.frame["link_status"].tolist() == [c[3] for c in CASES[:6]]
    assert [None if pd.isna(v) else int(v) for v in result.frame["be_id"]] == [
        c[2] for c in CASES[:6]
    ]


def test_iso_string_dates_and_bad_strings() -> None:
    inter = interactions_frame([("55555555", D(2023, 1, 1))]).with_columns(
        pl.col("date").cast(pl.Utf8)
    )
    assert link(inter, history_frame(HISTORY_ROWS)).frame["be_id"].to_list() == [5]
    bad = inter.with_columns(pl.lit("01-02-2023").alias("date"))
    with pytest.raises(SchemaError, match="not ISO dates"):
        link(bad, history_frame(HISTORY_ROWS))
    wrong = inter.with_columns(pl.lit(3).alias("date"))
    with pytest.raises(SchemaError, match="not a date"):
        link(wrong, history_frame(HISTORY_ROWS))


def test_custom_date_column() -> None:
    inter = interactions_frame([("55555555", D(2023, 1, 1))]).rename({"date": "when"})
    assert link(inter, history_frame(HISTORY_ROWS), date_column="when").frame["be_id"][0] == 5


def test_mismatched_key_ids_name_both_and_no_pseudonyms() -> None:
    inter = interactions_frame([("55555555", D(2023, 1, 1))], key=OTHER_KEY)
    with pytest.raises(KeyMismatchError) as info:
        link(inter, history_frame(HISTORY_ROWS))
    text = str(info.value)
    assert KEY in text
    assert OTHER_KEY in text
    assert pseud("55555555") not in text
    assert "Hint" in text


def test_mismatched_scheme_versions() -> None:
    inter = interactions_frame([("55555555", D(2023, 1, 1))]).with_columns(
        scheme_version=pl.lit("v2")
    )
    with pytest.raises(KeyMismatchError, match="Scheme versions differ"):
        link(inter, history_frame(HISTORY_ROWS))


@pytest.mark.parametrize("side", ["interactions", "history"])
def test_several_key_ids_in_one_input(side: str) -> None:
    inter = interactions_frame([("55555555", D(2023, 1, 1)), ("22222222", D(2023, 1, 1))])
    hist = history_frame(HISTORY_ROWS)
    if side == "interactions":
        inter = inter.with_columns(
            key_id=pl.when(pl.int_range(pl.len()) == 0)
            .then(pl.lit(KEY))
            .otherwise(pl.lit(OTHER_KEY))
        )
    else:
        hist = hist.with_columns(
            key_id=pl.when(pl.int_range(pl.len()) == 0)
            .then(pl.lit(KEY))
            .otherwise(pl.lit(OTHER_KEY))
        )
    with pytest.raises(KeyMismatchError, match=f"'{side}' frame holds 2 different key ids"):
        link(inter, hist)


@pytest.mark.parametrize(
    ("side", "column"),
    [
        ("interactions", "pseudonym"),
        ("interactions", "date"),
        ("interactions", "key_id"),
        ("history", "be_id"),
        ("history", "valid_to"),
        ("history", "scheme_version"),
    ],
)
def test_missing_columns(side: str, column: str) -> None:
    inter = interactions_frame([("55555555", D(2023, 1, 1))])
    hist = history_frame(HISTORY_ROWS)
    if side == "interactions":
        inter = inter.drop(column)
    else:
        hist = hist.drop(column)
    with pytest.raises(SchemaError, match=f"'{side}' frame lacks required column"):
        link(inter, hist)


def test_output_column_collision() -> None:
    inter = interactions_frame([("55555555", D(2023, 1, 1))]).with_columns(be_id=pl.lit(1))
    with pytest.raises(SchemaError, match="already has column"):
        link(inter, history_frame(HISTORY_ROWS))


def test_empty_interactions_give_empty_result() -> None:
    inter = interactions_frame([("55555555", D(2023, 1, 1))]).clear()
    result = link(inter, history_frame(HISTORY_ROWS))
    assert result.frame.height == 0
    assert result.frame.columns[-2:] == ["be_id", "link_status"]
    assert result.ledger.reconciles()
    assert result.ledger.total_input == 0
    assert result.link_rate == 0.0


def test_empty_history_is_refused() -> None:
    inter = interactions_frame([("55555555", D(2023, 1, 1))])
    with pytest.raises(SchemaError, match="'history' frame has no rows"):
        link(inter, history_frame(HISTORY_ROWS).clear())


def test_not_a_frame() -> None:
    with pytest.raises(SchemaError, match="'interactions' argument must be"):
        link([1, 2], history_frame(HISTORY_ROWS))


OVERLAP_ROWS = [
    *HISTORY_ROWS,
    # 66666666 overlaps between BE 6 and BE 7 during 2020; 77777777 overlaps within BE 8
    ("66666666", 6, D(2015, 1, 1), D(2021, 1, 1)),
    ("66666666", 7, D(2020, 1, 1), None),
    ("77777777", 8, D(2015, 1, 1), None),
    ("77777777", 8, D(2018, 1, 1), D(2019, 1, 1)),
]


def test_overlapping_history_raises_with_count() -> None:
    inter = interactions_frame([("66666666", D(2019, 1, 1)), ("77777777", D(2016, 1, 1))])
    with pytest.raises(LinkageError, match="overlapping validity periods for 2 pseudonym"):
        link(inter, history_frame(OVERLAP_ROWS))


def test_overlap_elsewhere_ignored_by_relevant_check_but_not_all() -> None:
    inter = interactions_frame([("55555555", D(2019, 1, 1))])
    result = link(inter, history_frame(OVERLAP_ROWS))
    assert result.frame["be_id"].to_list() == [5]
    with pytest.raises(LinkageError, match="for 2 pseudonym"):
        link(inter, history_frame(OVERLAP_ROWS), history_check="all")


def test_overlap_counted_as_ambiguous() -> None:
    inter = interactions_frame(
        [
            ("66666666", D(2019, 1, 1)),  # only BE 6
            ("66666666", D(2020, 6, 1)),  # BE 6 and BE 7: ambiguous
            ("66666666", D(2022, 1, 1)),  # only BE 7
            ("77777777", D(2018, 6, 1)),  # two periods, same BE: linked
        ]
    )
    result = link(inter, history_frame(OVERLAP_ROWS), on_overlap="ambiguous")
    assert result.frame["link_status"].to_list() == ["linked", "ambiguous", "linked", "linked"]
    assert result.frame["be_id"].to_list() == [6, None, 7, 8]
    assert result.overlapping_pseudonyms == 2
    assert result.ledger.counts["ambiguous"] == 1


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (pl.col("be_id").cast(pl.Int64).replace(5, None), "null pseudonym or be_id"),
        (
            pl.when(pl.col("be_id") == 5)
            .then(None)
            .otherwise(pl.col("valid_from"))
            .alias("valid_from"),
            "without valid_from",
        ),
        (
            pl.when(pl.col("be_id") == 4)
            .then(pl.col("valid_from"))
            .otherwise(pl.col("valid_to"))
            .alias("valid_to"),
            "on or before valid_from",
        ),
    ],
)
def test_history_row_checks(change: pl.Expr, match: str) -> None:
    hist = history_frame(HISTORY_ROWS).with_columns(change)
    inter = interactions_frame([("22222222", D(2023, 1, 1))])
    with pytest.raises(LinkageError, match=match):
        link(inter, hist)


def fake_intake_ledger(**counts: int) -> RowLedger:
    return RowLedger(counts, total_input=sum(counts.values()))


def test_ledger_continues_from_intake() -> None:
    inter = interactions_frame([(c[0], c[1]) for c in CASES])
    intake = fake_intake_ledger(pseudonymised=len(CASES), malformed=4, no_consent=2)
    result = link(inter, history_frame(HISTORY_ROWS), ledger=intake)
    ledger = result.ledger
    assert ledger.total_input == len(CASES) + 6
    assert "pseudonymised" not in ledger.counts
    assert ledger.counts["malformed"] == 4
    assert ledger.counts["no_consent"] == 2
    assert ledger.counts["linked"] == 7
    assert ledger.reconciles()
    assert ledger.stage == "link"
    doc = json.loads(ledger.to_json())
    assert doc["reconciles"] is True
    assert doc["total_input"] == len(CASES) + 6
    frame = ledger.to_frame()
    assert frame["rows"].sum() == ledger.total_input
    assert set(LINK_STATUSES) <= set(frame["outcome"])
    assert RowLedger.from_json(ledger.to_json()) == ledger


def test_ledger_that_does_not_match_is_refused() -> None:
    inter = interactions_frame([(c[0], c[1]) for c in CASES])
    with pytest.raises(LinkageError, match="counts 3 pseudonymised"):
        link(inter, history_frame(HISTORY_ROWS), ledger=fake_intake_ledger(pseudonymised=3))
    with pytest.raises(SchemaError, match="must be a RowLedger"):
        link(inter, history_frame(HISTORY_ROWS), ledger={"pseudonymised": len(CASES)})  # type: ignore[arg-type]
    with pytest.raises(LinkageError, match="already holds link outcome"):
        link(
            inter,
            history_frame(HISTORY_ROWS),
            ledger=fake_intake_ledger(pseudonymised=len(CASES), linked=1),
        )


def test_reprs_and_summary_hold_no_values() -> None:
    inter = interactions_frame([(c[0], c[1]) for c in CASES])
    result = link(inter, history_frame(HISTORY_ROWS))
    texts = [repr(result), repr(result.ledger), result.ledger.to_json(), str(result.summary())]
    for text in texts:
        for kvk, *_ in CASES:
            if kvk is not None:
                assert kvk not in text
                assert pseud(kvk) not in text
    summary = result.summary()
    assert summary["rows"].sum() == len(CASES)
    assert summary.filter(pl.col("link_status") == "linked")["rows"].item() == 7
    assert result.link_rate == pytest.approx(7 / len(CASES))


def test_public_names() -> None:
    assert kvklink.link is link
    assert kvklink.LinkResult is LinkResult


KVKS = ["11111111", "22222222", "33333333", "44444444", "55555555", "66666666", "99999999"]
row_strategy = st.tuples(
    st.one_of(st.none(), st.sampled_from(KVKS)),
    st.one_of(st.none(), st.dates(min_value=D(2008, 1, 1), max_value=D(2026, 1, 1))),
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(row_strategy, max_size=40), seed=st.randoms(use_true_random=False))
def test_property_matches_reference_and_is_row_order_invariant(
    rows: list[tuple[str | None, dt.date | None]], seed: object
) -> None:
    hist_rows = OVERLAP_ROWS[:8]  # HISTORY_ROWS + the BE 6/7 overlap
    hist = history_frame(hist_rows)
    inter = interactions_frame(rows)
    result = link(inter, hist, on_overlap="ambiguous")
    expected = [expected_link(hist_rows, kvk, date) for kvk, date in rows]
    assert result.frame["be_id"].to_list() == [e[0] for e in expected]
    assert result.frame["link_status"].to_list() == [e[1] for e in expected]
    assert result.ledger.reconciles()
    assert sum(result.ledger.counts.values()) == len(rows)
    # shuffling both inputs permutes the output rows and nothing else
    order = list(range(len(rows)))
    seed.shuffle(order)  # type: ignore[attr-defined]
    shuffled_hist = hist.sample(fraction=1.0, shuffle=True, seed=len(rows))
    again = link(inter[order], shuffled_hist, on_overlap="ambiguous")
    assert again.frame.equals(result.frame[order])
    assert again.ledger.counts == result.ledger.counts


def test_categorical_or_null_pseudonym_columns() -> None:
    inter = interactions_frame([("55555555", D(2023, 1, 1))]).with_columns(
        pl.col("pseudonym").cast(pl.Categorical)
    )
    assert link(inter, history_frame(HISTORY_ROWS)).frame["be_id"].to_list() == [5]
    nulls = pd.DataFrame(
        {"pseudonym": [None], "date": [D(2023, 1, 1)], "key_id": [None], "scheme_version": [None]}
    )
    result = link(nulls, history_frame(HISTORY_ROWS))
    assert result.frame["link_status"].tolist() == ["no_pseudonym"]


@pytest.mark.parametrize("sort_key", [None, pl.lit(0, dtype=pl.UInt64)])
def test_overlap_count_exact_with_and_without_hash_collisions(sort_key: pl.Expr | None) -> None:
    from kvklink.linkage._exact import _overlapping

    periods = history_frame(OVERLAP_ROWS).select("pseudonym", "valid_from", "valid_to")
    # a constant key makes every row "collide", forcing the exact string sort fallback
    assert _overlapping(periods, sort_key=sort_key) == 2
    assert _overlapping(periods.reverse(), sort_key=sort_key) == 2
    assert _overlapping(history_frame(HISTORY_ROWS).select(periods.columns), sort_key=sort_key) == 0
