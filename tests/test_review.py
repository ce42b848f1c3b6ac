"""Clerical review: side-by-side export, decisions imported back, deterministic, validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kvklink as kl
from kvklink.errors import InputError, SchemaError
from kvklink.linkage._review import apply_review_decisions, build_review_table, read_frame

SPEC = kl.company_spec(query_id="interaction_id")


@pytest.fixture(scope="module")
def result(make_recovery_data: Any) -> kl.RecoveryResult:
    register, queries, _ = make_recovery_data(3_000, 400, 40, seed=11)
    # wide review band so the test has rows to review
    return kl.recover_kvk(queries, register, spec=SPEC, thresholds=(0.999, 0.01))


def test_export_is_side_by_side(result: kl.RecoveryResult, tmp_path: Path) -> None:
    path = tmp_path / "review.csv"
    n = kl.export_review(result, path)
    table = read_frame(path)
    assert table.height == n
    # one row per review query for the best candidate, one more where there is a runner-up
    n_review = result.counts["review"]
    n_runner_up = result.frame.filter(
        (pl.col("status") == "review") & pl.col("runner_up").is_not_null()
    ).height
    assert n == n_review + n_runner_up > 0
    assert table["candidate"].value_counts().sort("candidate")["count"].to_list() == [
        n_review,
        n_runner_up,
    ]
    for col in (
        "query_row",
        "candidate",
        "query_interaction_id",
        "kvk_nummer",
        "match_probability",
        "query_company_name",
        "register_trade_name",
        "w_name",
        "query_postcode",
        "register_postcode",
        "w_postcode",
        "decision",
    ):
        assert col in table.columns
    assert table["decision"].null_count() == n
    # the register side really is the candidate record (best and runner-up)
    reg = result.reference
    for row in table.head(6).iter_rows(named=True):
        res_row = result.frame.filter(pl.col("query_row") == int(row["query_row"])).row(
            0, named=True
        )
        rr = res_row["register_row" if row["candidate"] == "1" else "runner_up_register_row"]
        assert reg["trade_name"][rr] == row["register_trade_name"]
        assert reg["kvk_nummer"][rr] == row["kvk_nummer"]


def test_import_applies_decisions(result: kl.RecoveryResult, tmp_path: Path) -> None:
    path = tmp_path / "review.csv"
    kl.export_review(result, path)
    table = read_frame(path)
    queries = table["query_row"].unique(maintain_order=True).to_list()
    before = {r["query_row"]: r for r in result.frame.iter_rows(named=True)}
    has_second = {q for q in queries if before[int(q)]["runner_up"] is not None}
    plan: dict[int, str] = {}
    for i, q in enumerate(queries):
        plan[int(q)] = ["accept1", "reject1", "blank", "accept2"][i % 4]
        if plan[int(q)] == "accept2" and q not in has_second:
            plan[int(q)] = "blank"

    def decide(q: str, cand: str) -> str:
        p = plan[int(q)]
        if p == "accept1":
            return "accept" if cand == "1" else ""
        if p == "reject1":
            return "REJECT" if cand == "1" else "reject"
        if p == "accept2":
            return "accept" if cand == "2" else "reject"
        return ""

    decided = table.with_columns(
        pl.Series(
            "decision",
            [decide(q, c) for q, c in zip(table["query_row"], table["candidate"], strict=True)],
        )
    )
    decided.write_csv(path)
    after = kl.import_review(result, path)
    f = after.frame
    assert f.height == result.frame.height
    by_row = {r["query_row"]: r for r in f.iter_rows(named=True)}
    for q, p in plan.items():
        if p == "accept1":
            assert by_row[q]["status"] == "accepted"
            assert by_row[q]["kvk_nummer"] == before[q]["kvk_nummer"]
        elif p == "accept2":
            assert by_row[q]["status"] == "accepted"
            assert by_row[q]["kvk_nummer"] == before[q]["runner_up"]
            assert by_row[q]["register_row"] == before[q]["runner_up_register_row"]
        elif p == "reject1":
            assert by_row[q]["status"] == "rejected"
            assert by_row[q]["kvk_nummer"] is None
        else:
            assert by_row[q]["status"] == "review"
    untouched = f.filter(~pl.col("query_row").is_in(list(plan)))
    assert untouched.drop("review_decision", "review_candidate").equals(
        result.frame.filter(~pl.col("query_row").is_in(list(plan)))
    )


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_import_does_not_depend_on_decision_order(seed: int) -> None:
    frame = pl.DataFrame(
        {
            "query_row": list(range(6)),
            "kvk_nummer": ["1", "2", "3", "4", "5", "6"],
            "status": ["review", "review", "review", "accepted", "review", "rejected"],
        }
    )
    dec = pl.DataFrame(
        {"query_row": ["0", "1", "2", "4"], "decision": ["accept", "reject", None, "a"]}
    )
    base = apply_review_decisions(frame, dec, target="kvk_nummer")
    shuffled = apply_review_decisions(
        frame, dec.sample(fraction=1.0, shuffle=True, seed=seed), target="kvk_nummer"
    )
    assert base.equals(shuffled)
    assert base["status"].to_list() == [
        "accepted",
        "rejected",
        "review",
        "accepted",
        "accepted",
        "rejected",
    ]


def test_two_accepted_candidates_are_refused() -> None:
    frame = pl.DataFrame(
        {
            "query_row": [0],
            "kvk_nummer": ["1"],
            "status": ["review"],
            "runner_up": ["2"],
            "register_row": [5],
            "runner_up_register_row": [7],
        }
    )
    both = pl.DataFrame(
        {"query_row": ["0", "0"], "candidate": ["1", "2"], "decision": ["accept", "accept"]}
    )
    with pytest.raises(InputError, match="more than one accepted"):
        apply_review_decisions(frame, both, target="kvk_nummer")
    second = apply_review_decisions(
        frame,
        pl.DataFrame({"query_row": ["0"], "candidate": ["2"], "decision": ["yes"]}),
        target="kvk_nummer",
    )
    assert second.select("kvk_nummer", "register_row", "status").row(0) == ("2", 7, "accepted")


def test_bad_decisions_are_refused() -> None:
    frame = pl.DataFrame(
        {"query_row": [0, 1], "kvk_nummer": ["1", "2"], "status": ["review", "accepted"]}
    )
    with pytest.raises(InputError, match="unknown decision"):
        apply_review_decisions(
            frame, pl.DataFrame({"query_row": ["0"], "decision": ["maybe"]}), target="kvk_nummer"
        )
    with pytest.raises(InputError, match="not in the review band"):
        apply_review_decisions(
            frame, pl.DataFrame({"query_row": ["1"], "decision": ["reject"]}), target="kvk_nummer"
        )
    with pytest.raises(InputError, match="more than once"):
        apply_review_decisions(
            frame,
            pl.DataFrame({"query_row": ["0", "0"], "decision": ["accept", "reject"]}),
            target="kvk_nummer",
        )
    with pytest.raises(InputError, match="no valid 'query_row'"):
        apply_review_decisions(
            frame, pl.DataFrame({"query_row": ["x"], "decision": ["accept"]}), target="kvk_nummer"
        )
    with pytest.raises(SchemaError, match="decision"):
        apply_review_decisions(frame, pl.DataFrame({"query_row": ["0"]}), target="kvk_nummer")


def test_review_table_refuses_the_wrong_files(result: kl.RecoveryResult) -> None:
    with pytest.raises(SchemaError, match="pass the files recovery ran on"):
        build_review_table(result.frame, result.queries.head(3), result.reference, SPEC)


def test_read_and_write_frame_checks_suffix(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_frame(tmp_path / "missing.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(InputError, match=r"\.csv or \.parquet"):
        read_frame(tmp_path / "x.json")
