"""`kvklink demo`: the pipeline on synthetic data; the DEMO key stays apart and unprinted."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from kvklink.cli import app

SCALE = 0.01


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(app, ["demo", str(out), "--scale", str(SCALE), "--seed", "3"])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_every_pipeline_stage_ran_and_the_report_exists(demo_dir: tuple[Path, str]) -> None:
    out, text = demo_dir
    manifest = json.loads((out / "run" / "manifest.json").read_text())
    assert set(manifest["stages"]) == {
        "pseudonymise",
        "link",
        "cohort",
        "match",
        "effects",
        "report",
    }
    assert all(stage["status"] == "ran" for stage in manifest["stages"].values())
    assert (out / "run" / "report" / "report.html").is_file()
    assert "report.html" in text.replace("\n", "")
    assert "matched ATT" in text
    assert "planted effect" in text


def test_ledgers_reconcile_and_links_are_true(demo_dir: tuple[Path, str]) -> None:
    out, _ = demo_dir
    manifest = json.loads((out / "run" / "manifest.json").read_text())
    raw = pl.read_parquet(out / "synthetic" / "interactions.parquet")
    for stage in ("pseudonymise", "link"):
        ledger = manifest["stages"][stage]["ledger"]["interactions"]
        assert ledger["reconciles"]
        assert sum(ledger["counts"].values()) == ledger["total_input"] == raw.height
    truth = json.loads((out / "run" / "demo-truth-checks.json").read_text())
    assert truth["linked"] > 0
    assert truth["captured_links_to_true_be"] == 1.0
    assert truth["recovered_links_to_true_be"] > 0.95


def test_demo_key_is_apart_private_and_never_printed(demo_dir: tuple[Path, str]) -> None:
    out, text = demo_dir
    key_files = list((out / "demo-key").glob("*.hex"))
    assert len(key_files) == 1
    key_file = key_files[0]
    assert "DEMO" in key_file.name.upper()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    hex_key = key_file.read_text().strip()
    assert len(hex_key) == 64
    assert hex_key not in text
    for path in (out / "run").rglob("*"):
        if path.is_file():
            assert hex_key.encode() not in path.read_bytes(), path


def test_no_identifying_columns_leave_the_data_holder(demo_dir: tuple[Path, str]) -> None:
    out, _ = demo_dir
    for path in (out / "run").rglob("*.parquet"):
        columns = pl.read_parquet_schema(path)
        for identifying in ("kvk_nummer", "email", "company_name", "street", "postcode"):
            assert identifying not in columns, (path, identifying)


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    target = tmp_path / "afile"
    target.write_text("x")
    result = CliRunner().invoke(app, ["demo", str(target)])
    assert result.exit_code == 2
    bad_scale = CliRunner().invoke(app, ["demo", str(tmp_path / "d"), "--scale", "-1"])
    assert bad_scale.exit_code == 2


def test_synth_command_writes_tables(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["synth", str(tmp_path), "--scale", "0.001", "--seed", "4"])
    assert result.exit_code == 0, result.output
    names = {p.name for p in tmp_path.iterdir()}
    assert {"register.parquet", "interactions.parquet", "truth.parquet", "manifest.json"} <= names
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["seed"] == 4
    assert (
        manifest["row_counts"]["register"] == pl.read_parquet(tmp_path / "register.parquet").height
    )
    bad = CliRunner().invoke(app, ["synth", str(tmp_path / "x"), "--scale", "-1"])
    assert bad.exit_code == 2
