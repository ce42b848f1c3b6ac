"""Tests for ``kvklink link INTERACTIONS HISTORY OUTPUT``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import kvklink as kl
from kvklink.cli import app

KEY = "0123456789abcdef"
D = dt.date


def pseud(kvk: str) -> str:
    return hashlib.sha256(b"cli:" + kvk.encode()).hexdigest()


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    hist = pl.DataFrame(
        {
            "pseudonym": [pseud("1"), pseud("2"), pseud("3")],
            "be_id": [10, 10, 30],
            "valid_from": [D(2015, 1, 1), D(2021, 7, 1), D(2010, 1, 1)],
            "valid_to": [D(2021, 7, 1), None, None],
            "key_id": KEY,
            "scheme_version": "v1",
        }
    )
    inter = pl.DataFrame(
        {
            "interaction_id": ["a", "b", "c", "d"],
            "pseudonym": [pseud("1"), pseud("2"), pseud("3"), pseud("9")],
            "date": [D(2020, 1, 1), D(2022, 1, 1), D(2023, 1, 1), D(2023, 1, 1)],
            "activity": "webinar",
            "key_id": KEY,
            "scheme_version": "v1",
        }
    )
    h, i = tmp_path / "history.parquet", tmp_path / "interactions.csv"
    hist.write_parquet(h)
    inter.write_csv(i)
    return i, h


def run(*args: str | Path):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, [str(a) for a in args])


def test_link_parquet_output_ledger_and_report(files: tuple[Path, Path], tmp_path: Path) -> None:
    inter, hist = files
    out = tmp_path / "linked.parquet"
    report = tmp_path / "report.md"
    res = run("link", inter, hist, out, "--report", report)
    assert res.exit_code == 0, res.output
    assert "linked 3 of 4 interactions" in res.output
    frame = pl.read_parquet(out)
    assert frame["be_id"].to_list() == [10, 10, 30, None]
    assert frame["link_status"].to_list() == ["linked"] * 3 + ["not_in_register"]
    meta = pq.read_metadata(out).metadata
    assert meta[b"kvklink.key_id"] == KEY.encode()
    ledger = json.loads((tmp_path / "linked.parquet.ledger.json").read_text())
    assert ledger["reconciles"] is True
    assert ledger["counts"]["linked"] == 3
    assert "Linkage report" in report.read_text()
    # no temporary files left behind
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_intake_ledger_next_to_input_is_continued(files: tuple[Path, Path], tmp_path: Path) -> None:
    inter, hist = files
    intake = kl.RowLedger({"pseudonymised": 4, "missing": 5}, total_input=9)
    (tmp_path / "interactions.csv.ledger.json").write_text(intake.to_json())
    out = tmp_path / "linked.csv"
    res = run("link", inter, hist, out)
    assert res.exit_code == 0, res.output
    ledger = json.loads((tmp_path / "linked.csv.ledger.json").read_text())
    assert ledger["total_input"] == 9
    assert ledger["counts"]["missing"] == 5
    assert ledger["reconciles"] is True
    assert pl.read_csv(out)["link_status"].to_list()[0] == "linked"
    # explicitly not continuing it
    res = run("link", inter, hist, out, "--no-intake-ledger")
    assert res.exit_code == 0
    assert json.loads((tmp_path / "linked.csv.ledger.json").read_text())["total_input"] == 4


def test_end_to_end_with_pseudonymise_command(tmp_path: Path) -> None:
    key_file = tmp_path / "key.hex"
    assert run("keygen", key_file).exit_code == 0
    raw_inter = pl.DataFrame(
        {
            "interaction_id": ["a", "b", "c"],
            "date": [D(2023, 3, 1), D(2023, 4, 1), D(2023, 5, 1)],
            "activity": ["webinar", "event", "chat"],
            "kvk_nummer": ["01234567", "KvK 7654 3210", "12"],
            "consent": [True, True, True],
            "consent_purposes": ["evaluatie-2024"] * 3,
            "consent_date": [D(2023, 1, 1)] * 3,
            "consent_withdrawn_date": [None, None, None],
        },
        schema_overrides={"consent_withdrawn_date": pl.Date},
    )
    raw_hist = pl.DataFrame(
        {
            "kvk_nummer": ["01234567", "76543210"],
            "be_id": [1, 2],
            "valid_from": [D(2000, 1, 1), D(2000, 1, 1)],
            "valid_to": [None, D(2020, 1, 1)],
        },
        schema_overrides={"valid_to": pl.Date},
    )
    raw_inter.write_parquet(tmp_path / "raw_inter.parquet")
    raw_hist.write_parquet(tmp_path / "raw_hist.parquet")
    pi, ph = tmp_path / "inter.parquet", tmp_path / "hist.parquet"
    common = ["--purpose", "evaluatie-2024", "--key-file", key_file]
    res = run("pseudonymise", tmp_path / "raw_inter.parquet", pi, *common, "--as-of", "2024-01-01")
    assert res.exit_code == 0, res.output
    res = run(
        "pseudonymise",
        tmp_path / "raw_hist.parquet",
        ph,
        *common,
        "--register",
        "--keep",
        "be_id",
        "--keep",
        "valid_from",
        "--keep",
        "valid_to",
    )
    assert res.exit_code == 0, res.output
    out = tmp_path / "linked.parquet"
    res = run("link", pi, ph, out)
    assert res.exit_code == 0, res.output
    frame = pl.read_parquet(out)
    assert frame["link_status"].to_list() == ["linked", "not_valid_at_date"]
    ledger = json.loads((tmp_path / "linked.parquet.ledger.json").read_text())
    assert ledger["total_input"] == 3
    assert ledger["counts"]["malformed"] + ledger["counts"].get("missing", 0) == 1
    assert ledger["reconciles"] is True


def test_mismatched_keys_exit_2_without_values(files: tuple[Path, Path], tmp_path: Path) -> None:
    inter, hist = files
    other = tmp_path / "other.parquet"
    pl.read_parquet(hist).with_columns(key_id=pl.lit("ffffffffffffffff")).write_parquet(other)
    out = tmp_path / "linked.parquet"
    res = run("link", inter, other, out)
    assert res.exit_code == 2
    assert "Key ids differ" in res.output
    assert pseud("1") not in res.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--on-overlap", "maybe"], "--on-overlap must be"),
        (["--history-check", "some"], "--history-check must be"),
        (["--report", "r.txt"], "must end in .md or .html"),
    ],
)
def test_bad_options(
    files: tuple[Path, Path], tmp_path: Path, extra: list[str], message: str
) -> None:
    inter, hist = files
    res = run("link", inter, hist, tmp_path / "o.parquet", *extra)
    assert res.exit_code == 2
    assert message in res.output


def test_bad_paths(files: tuple[Path, Path], tmp_path: Path) -> None:
    inter, hist = files
    assert "does not exist" in run("link", tmp_path / "nope.csv", hist, tmp_path / "o.csv").output
    assert run("link", inter, hist, tmp_path / "o.json").exit_code == 2
    assert run("link", inter, hist, inter).exit_code == 2
    assert run("link", inter, hist, tmp_path / "missing_dir" / "o.csv").exit_code == 2
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet at all")
    res = run("link", inter, garbage, tmp_path / "o.csv")
    assert res.exit_code == 2
    assert "cannot read HISTORY" in res.output
