"""`kvklink demo`: stages run in order, the DEMO key stays apart and unprinted, ledgers add up."""

from __future__ import annotations

import json
import math
import stat
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from kvklink.cli import app
from kvklink.cli._demo import DEMO_KEY_FILE, STAGES, run_demo

SCALE = 0.003


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(app, ["demo", str(out), "--scale", str(SCALE), "--seed", "3"])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_stage_order() -> None:
    names = [name for name, _ in STAGES]
    assert names[:5] == ["generate", "recover", "pseudonymise", "link", "effect"]


def test_outputs_and_summary(demo_dir: tuple[Path, str]) -> None:
    out, text = demo_dir
    for rel in (
        "synthetic/register.parquet",
        "synthetic/manifest.json",
        "pseudonymised/interactions.parquet",
        "pseudonymised/kvk_history.parquet",
        "linked/interactions.parquet",
        "effects/turnover_growth.json",
        "demo-summary.json",
    ):
        assert (out / rel).is_file(), rel
    summary = json.loads((out / "demo-summary.json").read_text())
    assert summary["stages"][:3] == ["generate", "recover", "pseudonymise"]
    assert "DEMO key" in text
    assert "linked to a BE" in text
    assert "planted effect" in text


def test_effect_stage_reports_naive_matched_and_truth(demo_dir: tuple[Path, str]) -> None:
    out, _ = demo_dir
    eff = json.loads((out / "effects" / "turnover_growth.json").read_text())
    for key in ("naive_difference", "matched_att", "matched_se"):
        assert math.isfinite(eff[key]), key
    assert eff["matched_se"] > 0
    assert eff["planted_effect_of_matched_treated"] > 0
    assert eff["n_treated"] > 10


def test_demo_key_is_apart_private_and_never_printed(demo_dir: tuple[Path, str]) -> None:
    out, text = demo_dir
    key_dir = out / "demo-key"
    key_file = key_dir / DEMO_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    assert "DEMO" in (key_dir / "README.txt").read_text()
    hex_key = key_file.read_text().strip()
    assert len(hex_key) == 64
    assert hex_key not in text
    for path in out.rglob("*"):
        if path.is_file() and path != key_file:
            assert hex_key.encode() not in path.read_bytes(), path
    # the pseudonymised outputs carry no raw identifiers
    frame = pl.read_parquet(out / "pseudonymised" / "interactions.parquet")
    assert "kvk_nummer" not in frame.columns
    assert "email" not in frame.columns


def test_ledgers_reconcile_and_links_are_true(demo_dir: tuple[Path, str]) -> None:
    out, _ = demo_dir
    ledger = json.loads((out / "linked" / "interactions.ledger.json").read_text())
    counts = ledger["counts"]
    raw = pl.read_parquet(out / "synthetic" / "interactions.parquet")
    assert sum(counts.values()) == raw.height
    linked = pl.read_parquet(out / "linked" / "interactions.parquet")
    truth = pl.read_parquet(out / "synthetic" / "truth.parquet")
    rows = linked.filter(pl.col("link_status") == "linked").join(truth, on="interaction_id")
    assert rows.height > 0
    given = rows.filter(pl.col("kvk_source") == "given")
    honest = given.filter(pl.col("kvk_form").cast(pl.String) != "typo")
    assert (honest["be_id"] == honest["true_be_id"]).all()
    recovered = rows.filter(pl.col("kvk_source") == "recovered")
    assert recovered.height > 0
    assert (recovered["be_id"] == recovered["true_be_id"]).mean() > 0.95  # type: ignore[operator]


def test_rerun_replaces_the_demo_key(tmp_path: Path) -> None:
    stages = [s for s in STAGES if s[0] in {"generate", "pseudonymise"}]
    first = run_demo(tmp_path, scale=0.001, stages=stages)
    second = run_demo(tmp_path, scale=0.001, stages=stages)
    assert first.key is not None
    assert second.key is not None
    assert first.key.key_id != second.key.key_id
    assert len(list((tmp_path / "demo-key").glob("*.hex"))) == 1


def test_outdir_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
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
