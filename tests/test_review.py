"""Clerical review: side-by-side export, decisions imported back, deterministic, validated."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kvklink as kl
from kvklink.errors import InputError, SchemaError
from kvklink.linkage._review import apply_review_decisions, build_review_table, read_frame


def _data_module() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "_recover_data.py"
    spec = importlib.util.spec_from_file_location("kvklink_recover_data", path)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


RD = _data_module()
SPEC = kl.company_spec(query_id="interaction_id")


@pytest.fixture(scope="module")
def result() -> kl.RecoveryResult:
    register, queries, _ = RD.make_recovery_data(3_000, 400, 40, seed=11)
    # wide review band so the test has rows to review
    return kl.recover_kvk(queries, register, spec=SPEC, thresholds=(0.999, 0.01))


def test_export_is_side_by_side(result: kl.RecoveryResult, tmp_path: Path) -> None:
    path = tmp_path / "review.csv"
    n = kl.export_review(result, path)
    assert n == result.counts["review"] > 0
    table = read_frame(path)
    assert table.height == n
    for col in ("query_row", "query_interaction_id", "kvk_nummer", "match_probability",
                "query_company_name", "register_trade_name", "w_name",
                "query_postcode", "register_postcode", "w_postcode", "decision"):
        assert col in table.columns
    assert table["decision"].null_count() == n
    # the register side really is the candidate record
    reg = result.reference
    first = table.row(0, named=True)
    rr = result.frame.filter(pl.col("query_row") == int(first["query_row"]))["register_row"].item()
    assert reg["trade_name"][rr] == first["register_trade_name"]
    assert reg["kvk_nummer"][rr] == first["kvk_nummer"]


def test_import_applies_decisions(result: kl.RecoveryResult, tmp_path: Path) -> None:
    path = tmp_path / "review.csv"
    kl.export_review(result, path)
    table = read_frame(path)
    rows = table["query_row"].to_list()
    decided = table.with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0).then(pl.lit("accept"))
        .when(pl.int_range(pl.len()) % 3 == 1).then(pl.lit("REJECT"))
        .otherwise(pl.lit("")).alias("decision")
    )
    decided.write_csv(path)
    after = kl.import_review(result, path)
    f = after.frame
    assert f.height == result.frame.height
    by_row = {r["query_row"]: r for r in f.iter_rows(named=True)}
    before = {r["query_row"]: r for r in result.frame.iter_rows(named=True)}
    for i, q in enumerate(rows):
        q = int(q)
        if i % 3 == 0:
            assert by_row[q]["status"] == "accepted"
            assert by_row[q]["kvk_nummer"] == before[q]["kvk_nummer"]
        elif i % 3 == 1:
            assert by_row[q]["status"] == "rejected"
            assert by_row[q]["kvk_nummer"] is None
        else:
            assert by_row[q]["status"] == "review"
    untouched = f.filter(~pl.col("query_row").is_in([int(r) for r in rows]))
    assert untouched.drop("review_decision").equals(
        result.frame.filter(~pl.col("query_row").is_in([int(r) for r in rows]))
    )


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_import_does_not_depend_on_decision_order(seed: int) -> None:
    frame = pl.DataFrame({
        "query_row": list(range(6)),
        "kvk_nummer": ["1", "2", "3", "4", "5", "6"],
        "status": ["review", "review", "review", "accepted", "review", "rejected"],
    })
    dec = pl.DataFrame({"query_row": ["0", "1", "2", "4"],
                        "decision": ["accept", "reject", None, "a"]})
    base = apply_review_decisions(frame, dec, target="kvk_nummer")
    shuffled = apply_review_decisions(frame, dec.sample(fraction=1.0, shuffle=True, seed=seed),
                                      target="kvk_nummer")
    assert base.equals(shuffled)
    assert base["status"].to_list() == ["accepted", "rejected", "review", "accepted",
                                        "accepted", "rejected"]


def test_bad_decisions_are_refused() -> None:
    frame = pl.DataFrame({"query_row": [0, 1], "kvk_nummer": ["1", "2"],
                          "status": ["review", "accepted"]})
    with pytest.raises(InputError, match="unknown decision"):
        apply_review_decisions(frame, pl.DataFrame({"query_row": ["0"], "decision": ["maybe"]}),
                               target="kvk_nummer")
    with pytest.raises(InputError, match="not in the review band"):
        apply_review_decisions(frame, pl.DataFrame({"query_row": ["1"], "decision": ["reject"]}),
                               target="kvk_nummer")
    with pytest.raises(InputError, match="more than once"):
        apply_review_decisions(
            frame, pl.DataFrame({"query_row": ["0", "0"], "decision": ["accept", "reject"]}),
            target="kvk_nummer")
    with pytest.raises(InputError, match="no valid 'query_row'"):
        apply_review_decisions(frame, pl.DataFrame({"query_row": ["x"], "decision": ["accept"]}),
                               target="kvk_nummer")
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
