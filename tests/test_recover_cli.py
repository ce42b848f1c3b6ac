"""CLI: kvklink recover, kvklink review export|import (files, exit codes, atomic output)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from kvklink.cli import app

runner = CliRunner()


@pytest.fixture
def inputs(tmp_path: Path, make_recovery_data: Any) -> tuple[Path, Path]:
    register, queries, _ = make_recovery_data(1_500, 200, 20, seed=2)
    q = tmp_path / "queries.csv"
    r = tmp_path / "register.parquet"
    queries.write_csv(q)
    register.write_parquet(r)
    return q, r


def test_recover_then_review_round_trip(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    q, r = inputs
    out = tmp_path / "out" / "recovered.csv"
    res = runner.invoke(
        app,
        [
            "recover",
            str(q),
            str(r),
            str(out),
            "--id-column",
            "interaction_id",
            "--accept",
            "0.999",
            "--review",
            "0.01",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "accepted" in res.output
    frame = pl.read_csv(out, infer_schema=False)
    assert frame.height == 220
    assert frame["kvk_nummer"].drop_nulls().str.len_chars().eq(8).all()
    assert not list(out.parent.glob(".*.tmp"))  # atomic write left no temporary file

    review = tmp_path / "review.csv"
    res = runner.invoke(
        app,
        [
            "review",
            "export",
            str(out),
            str(q),
            str(r),
            str(review),
            "--id-column",
            "interaction_id",
        ],
    )
    assert res.exit_code == 0, res.output
    table = pl.read_csv(review, infer_schema=False)
    n_review = int((frame["status"] == "review").sum())
    assert table.filter(pl.col("candidate") == "1").height == n_review > 0
    table.with_columns(pl.lit("reject").alias("decision")).write_csv(review)

    final = tmp_path / "final.parquet"
    res = runner.invoke(app, ["review", "import", str(out), str(review), str(final)])
    assert res.exit_code == 0, res.output
    after = pl.read_parquet(final)
    assert int((after["status"] == "review").sum()) == 0
    assert (
        int((after["status"] == "rejected").sum())
        == int((frame["status"] == "rejected").sum()) + n_review
    )


def test_usage_errors_exit_2_with_one_line(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    q, r = inputs
    res = runner.invoke(
        app, ["recover", str(tmp_path / "nope.csv"), str(r), str(tmp_path / "o.csv")]
    )
    assert res.exit_code == 2
    res = runner.invoke(app, ["recover", str(q), str(r), str(tmp_path / "o.json")])
    assert res.exit_code == 2
    res = runner.invoke(
        app,
        ["recover", str(q), str(r), str(tmp_path / "o.csv"), "--accept", "0.1", "--review", "0.5"],
    )
    assert res.exit_code == 2
    bad = tmp_path / "bad.csv"
    pl.DataFrame({"x": ["1"]}).write_csv(bad)
    res = runner.invoke(app, ["recover", str(bad), str(r), str(tmp_path / "o.csv")])
    assert res.exit_code == 2
    assert "company_name" in res.output
    assert not (tmp_path / "o.csv").exists()
