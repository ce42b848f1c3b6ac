"""Pipeline inputs: CSV files with their own column names give the same result as Parquet."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from kvklink.errors import InputError
from kvklink.pipeline import StageFailedError, prepare_demo, run_pipeline


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_demo(tmp_path_factory.mktemp("inputs"), scale=0.002, seed=3)


def _ledger(run_dir: Path) -> dict[str, int]:
    counts: dict[str, int] = json.loads((run_dir / "link" / "ledger.json").read_text())["counts"]
    return counts


def test_csv_inputs_with_other_column_names(demo: Path) -> None:
    root = demo.parent
    base = run_pipeline(demo, stages=["pseudonymise", "link"], quiet=True)
    syn = root / "synthetic"
    inter = pl.read_parquet(syn / "interactions.parquet")
    inter.rename({"kvk_nummer": "KVK_NR", "date": "datum"}).write_csv(root / "inter.csv")
    hist = pl.read_parquet(syn / "kvk_history.parquet")
    hist.rename({"kvk_nummer": "kvk"}).write_csv(root / "hist.csv")
    text = (
        demo.read_text(encoding="utf-8")
        .replace(
            'path = "synthetic/interactions.parquet"',
            'path = "inter.csv"\ncolumns = { kvk_nummer = "KVK_NR", date = "datum" }',
        )
        .replace(
            'path = "synthetic/kvk_history.parquet"',
            'path = "hist.csv"\ncolumns = { kvk_nummer = "kvk" }',
        )
        .replace('directory = "run"', 'directory = "run-csv"')
    )
    (root / "csv.toml").write_text(text, encoding="utf-8")
    csv = run_pipeline(root / "csv.toml", stages=["pseudonymise", "link"], quiet=True)
    assert _ledger(csv.run_dir) == _ledger(base.run_dir)
    assert _ledger(base.run_dir)["linked"] > 0
    assert csv.manifest["inputs"]["interactions"]["rows"] == inter.height


def test_missing_mapped_column_is_an_input_error(demo: Path) -> None:
    root = demo.parent
    text = (
        demo.read_text(encoding="utf-8")
        .replace(
            'path = "synthetic/kvk_history.parquet"',
            'path = "synthetic/kvk_history.parquet"\ncolumns = { kvk_nummer = "KVK" }',
        )
        .replace('directory = "run"', 'directory = "run-bad"')
    )
    (root / "bad.toml").write_text(text, encoding="utf-8")
    with pytest.raises(StageFailedError, match=r"inputs\.kvk_history\.columns") as info:
        run_pipeline(root / "bad.toml", quiet=True)
    assert info.value.stage == "pseudonymise"
    assert isinstance(info.value.cause, InputError)
    assert not (root / "run-bad" / "manifest.json").exists()


def test_stage_needs_upstream_outputs(demo: Path) -> None:
    root = demo.parent
    text = demo.read_text(encoding="utf-8").replace('directory = "run"', 'directory = "empty"')
    (root / "empty.toml").write_text(text, encoding="utf-8")
    with pytest.raises(StageFailedError, match=r"needs link/linked.parquet") as info:
        run_pipeline(root / "empty.toml", stages=["cohort"], quiet=True)
    assert info.value.stage == "cohort"
