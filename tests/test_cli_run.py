"""``kvklink run``, ``kvklink cohort`` and ``kvklink match`` on a tiny synthetic demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import kvklink.pipeline._run as run_module
from kvklink.cli import app
from kvklink.pipeline import prepare_demo
from kvklink.pipeline._config import example_config_text

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_demo(tmp_path_factory.mktemp("cli"), scale=0.005, seed=2)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_run_json_then_single_stage_and_resume(runner: CliRunner, demo: Path) -> None:
    result = runner.invoke(app, ["run", str(demo), "--json"])
    assert result.exit_code == 0, result.stderr
    events = _events(result.stdout)  # every line is JSON
    finished = [e["stage"] for e in events if e["event"] == "stage_finished"]
    assert finished == ["pseudonymise", "link", "cohort", "match", "effects", "report"]
    assert events[-1]["event"] == "result"
    assert Path(events[-1]["manifest"]).is_file()

    result = runner.invoke(app, ["run", str(demo), "--stage", "link", "--json"])
    assert result.exit_code == 0, result.stderr
    assert _events(result.stdout)[-1]["ran"] == ["link"]

    result = runner.invoke(app, ["run", str(demo), "--resume", "--json"])
    assert result.exit_code == 0, result.stderr
    last = _events(result.stdout)[-1]
    assert last["ran"] == []
    assert len(last["resumed"]) == 6

    result = runner.invoke(app, ["run", str(demo)])
    assert result.exit_code == 0, result.stderr
    assert "Report:" in result.stdout
    assert "Matched ATT" in result.stdout


def test_config_error_exit_2_names_the_field(runner: CliRunner, demo: Path) -> None:
    bad = demo.with_name("bad.toml")
    bad.write_text(example_config_text().replace("ratio = 1", "ratio = -1"), encoding="utf-8")
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 2
    assert "matching.ratio" in result.stderr
    assert result.stderr.startswith("kvklink run: error:")


def test_unknown_stage_exit_2(runner: CliRunner, demo: Path) -> None:
    result = runner.invoke(app, ["run", str(demo), "--stage", "matching"])
    assert result.exit_code == 2
    assert "Unknown stage(s) 'matching'" in result.stderr


def test_missing_key_env_exit_2(runner: CliRunner, demo: Path) -> None:
    cfg = demo.with_name("envkey.toml")
    cfg.write_text(
        example_config_text().replace(
            'file = "demo-key/DEMO-KEY-not-for-real-data.hex"',
            'env = "KVKLINK_TEST_KEY_NOT_SET"',
        ),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["run", str(cfg), "--quiet"], env={"KVKLINK_TEST_KEY_NOT_SET": ""})
    assert result.exit_code == 2, result.stdout
    assert "KVKLINK_TEST_KEY_NOT_SET" in result.stderr


def test_input_schema_error_inside_stage_exit_2(runner: CliRunner, demo: Path) -> None:
    cfg = demo.with_name("columns.toml")
    cfg.write_text(
        example_config_text()
        .replace(
            'path = "synthetic/register.parquet"',
            'path = "synthetic/register.parquet"\ncolumns = { be_id = "BE_NUMMER" }',
        )
        .replace('directory = "run"', 'directory = "run-columns"'),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["run", str(cfg), "--quiet"])
    assert result.exit_code == 2
    assert "Stage 'cohort' failed" in result.stderr
    assert "inputs.register.columns" in result.stderr


def test_stage_failure_exit_1(
    runner: CliRunner, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(ctx: Any) -> None:
        raise RuntimeError("simulated failure")

    stages = tuple((n, boom if n == "effects" else f) for n, f in run_module.STAGES)
    monkeypatch.setattr(run_module, "STAGES", stages)
    result = runner.invoke(app, ["run", str(demo), "--json"])
    assert result.exit_code == 1
    assert "Stage 'effects' failed: RuntimeError" in result.stderr
    error = _events(result.stdout)[-1]
    assert error["event"] == "error"
    assert error["stage"] == "effects"


def test_cohort_and_match_commands_reproduce_the_pipeline(runner: CliRunner, demo: Path) -> None:
    root = demo.parent
    result = runner.invoke(app, ["run", str(demo), "--quiet"])
    assert result.exit_code == 0, result.stderr
    shared = example_config_text()
    cohort_section = shared[shared.index("[cohort]") : shared.index("[matching]")]
    matching_section = shared[shared.index("[matching]") : shared.index("[effects]")]
    effects_section = shared[shared.index("[effects]") : shared.index("[disclosure]")]
    (root / "cohort.toml").write_text(
        '[inputs.linked]\npath = "run/link/linked.parquet"\n'
        '[inputs.register]\npath = "synthetic/register.parquet"\n'
        + cohort_section
        + '[outputs]\ndirectory = "cli-cohort"\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["cohort", str(root / "cohort.toml")])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["stage"] == "cohort"
    for name in ("units.parquet", "panel.parquet"):
        assert (root / "cli-cohort" / name).read_bytes() == (
            root / "run" / "cohort" / name
        ).read_bytes()
    (root / "match.toml").write_text(
        '[inputs.units]\npath = "cli-cohort/units.parquet"\n'
        '[inputs.panel]\npath = "cli-cohort/panel.parquet"\n'
        + cohort_section
        + matching_section
        + effects_section
        + '[outputs]\ndirectory = "cli-match"\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["match", str(root / "match.toml"), "--quiet"])
    assert result.exit_code == 0, result.stderr
    for name in ("units.parquet", "balance.parquet"):
        assert (root / "cli-match" / name).read_bytes() == (
            root / "run" / "match" / name
        ).read_bytes()


def test_match_spec_errors(runner: CliRunner, tmp_path: Path) -> None:
    spec = tmp_path / "m.toml"
    spec.write_text('[inputs.units]\npath = "nope.parquet"\n[matching]\nratio = 1\n')
    result = runner.invoke(app, ["match", str(spec)])
    assert result.exit_code == 2
    assert "give matching.covariates, or a [cohort] section" in result.stderr
    spec.write_text('[inputs.units]\npath = "nope.parquet"\n[matching]\ncovariates = ["x"]\n')
    result = runner.invoke(app, ["match", str(spec)])
    assert result.exit_code == 2
    assert "inputs.units.path" in result.stderr
