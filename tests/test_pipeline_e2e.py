"""End-to-end: the shipped example config on synthetic data (kvklink.pipeline)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import kvklink.pipeline._run as run_module
from kvklink.identifiers import USABLE_KVK_REASONS, normalise_kvk
from kvklink.pipeline import StageFailedError, load_config, prepare_demo, run_pipeline

pytestmark = pytest.mark.slow

SCALE = 0.01
_TOKEN = re.compile(r"(?<![0-9A-Za-z])\d{8}(?![0-9A-Za-z])")


def _hashes(run_dir: Path) -> dict[str, str]:
    return {
        p.relative_to(run_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("demo")
    config_path = prepare_demo(root, scale=SCALE, seed=1)
    first = run_pipeline(config_path, quiet=True)
    first_hashes = _hashes(first.run_dir)
    second = run_pipeline(config_path, quiet=True)
    return {
        "root": root,
        "config": config_path,
        "first": first,
        "first_hashes": first_hashes,
        "second": second,
    }


def _sum(counts: dict[str, int]) -> int:
    return sum(int(v) for v in counts.values())


def test_manifest_ledgers_reconcile(demo: dict[str, Any]) -> None:
    m = demo["second"].manifest
    rows = {name: rec["rows"] for name, rec in m["inputs"].items()}
    st = m["stages"]
    inter = st["pseudonymise"]["ledger"]["interactions"]
    assert inter["total_input"] == rows["interactions"] == _sum(inter["counts"])
    hist = st["pseudonymise"]["ledger"]["kvk_history"]
    assert hist["total_input"] == rows["kvk_history"] == _sum(hist["counts"])
    rec = st["pseudonymise"]["ledger"]["recovery"]
    assert rec["input"] == _sum(rec["outcomes"]) > 0
    linked = st["link"]["ledger"]["interactions"]
    assert linked["total_input"] == rows["interactions"] == _sum(linked["counts"])
    # link outcomes split exactly the rows the intake pseudonymised
    link_part = sum(linked["counts"][k] for k in st["link"]["metrics"]["link_counts"])
    assert link_part == inter["counts"]["pseudonymised"]
    cohort = st["cohort"]["ledger"]
    assert cohort["input"] == _sum(cohort["outcomes"])
    assert cohort["units"]["treated"] == cohort["outcomes"]["treated"]
    assert cohort["units"]["treated"] + cohort["units"]["control_rows"] == cohort["units"]["total"]
    match = st["match"]["ledger"]
    assert match["input"] == cohort["units"]["total"] == _sum(match["outcomes"])
    effects = st["effects"]["ledger"]
    dropped = sum(v for k, v in match["outcomes"].items() if "dropped" in k)
    assert effects["input"] == match["input"] - dropped == _sum(effects["outcomes"])
    assert effects["outcomes"]["matched_treated"] == match["outcomes"]["treated_matched"]
    # key id and scheme, never key material
    assert re.fullmatch(r"[0-9a-f]{16}", m["key"]["key_id"])
    assert m["key"]["scheme_version"] == "v1"
    key_hex = next((demo["root"] / "demo-key").glob("*.hex")).read_text().strip()
    assert key_hex not in json.dumps(m)
    assert all(rec["seconds"] >= 0 for rec in st.values())


def test_report_has_no_disclosure_violations(demo: dict[str, Any]) -> None:
    run_dir = demo["second"].run_dir
    data = json.loads((run_dir / "report" / "tables.json").read_text(encoding="utf-8"))
    min_units, marker = data["min_units"], data["marker"]
    checked = 0
    for table in data["tables"]:
        for row in table["values"]:
            if row.get("suppressed"):
                continue
            for col in table["count_columns"]:
                value = row.get(col)
                if value is None or value == marker:
                    continue
                assert value == 0 or value >= min_units, (table["name"], col, value)
                checked += 1
    assert checked > 50
    html = (run_dir / "report" / "report.html").read_text(encoding="utf-8")
    md = (run_dir / "report" / "report.md").read_text(encoding="utf-8")
    assert marker in html
    assert marker in md
    assert 'class="suppressed"' in html
    assert "data:image/png;base64," in html
    assert "<style>" in html
    pseudonyms = set(
        pl.read_parquet(run_dir / "pseudonymise" / "interactions.parquet")["pseudonym"]
    )
    be_ids = set(
        pl.read_parquet(demo["root"] / "synthetic" / "register.parquet")["be_id"].cast(pl.Utf8)
    )
    tables_text = (run_dir / "report" / "tables.json").read_text(encoding="utf-8")
    for text in (html, md, tables_text):
        assert not pseudonyms & set(re.findall(r"[0-9a-f]{64}", text))
        assert not be_ids & set(_TOKEN.findall(text))


def _raw_kvk_numbers(root: Path) -> set[str]:
    syn = root / "synthetic"
    numbers: set[str] = set()
    numbers |= set(pl.read_parquet(syn / "kvk_history.parquet")["kvk_nummer"].drop_nulls())
    numbers |= set(pl.read_parquet(syn / "handelsregister.parquet")["kvk_nummer"].drop_nulls())
    numbers |= set(pl.read_parquet(syn / "truth.parquet")["true_kvk_nummer"].drop_nulls())
    inter = pl.read_parquet(syn / "interactions.parquet")
    norm = normalise_kvk(inter["kvk_nummer"])
    assert isinstance(norm, pl.DataFrame)
    numbers |= set(norm.filter(pl.col("reason").is_in(list(USABLE_KVK_REASONS)))["kvk"])
    return numbers


def test_no_raw_kvk_number_in_any_output(demo: dict[str, Any]) -> None:
    numbers = _raw_kvk_numbers(demo["root"])
    assert len(numbers) > 1000
    be_ids = set(
        pl.read_parquet(demo["root"] / "synthetic" / "register.parquet")["be_id"].cast(pl.Utf8)
    )
    run_dir = demo["second"].run_dir
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files)
    for path in files:
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            for col in frame.columns:
                values = frame[col].cast(pl.Utf8, strict=False).drop_nulls().unique()
                tokens = {t for v in values.to_list() for t in _TOKEN.findall(v)}
                if col in ("be_id", "cohort_id"):
                    # the register's own unit id (cohort_id = "<be_id>-<index year>"); in the
                    # synthetic data a few ids coincide numerically with KVK numbers
                    tokens -= be_ids
                assert not tokens & numbers, (path.name, col)
        else:
            text = path.read_bytes().decode("latin-1")
            assert not set(_TOKEN.findall(text)) & numbers, path.name


def test_second_run_is_byte_identical(demo: dict[str, Any]) -> None:
    first = demo["first_hashes"]
    second = _hashes(demo["second"].run_dir)
    assert set(first) == set(second)
    differing = [k for k in first if first[k] != second[k] and k != "manifest.json"]
    assert differing == []
    assert "report/report.html" in first
    assert "report/report.md" in first
    assert any(k.endswith(".parquet") for k in first)


def test_matched_att_covers_planted_effect(demo: dict[str, Any]) -> None:
    effect = demo["second"].effect
    assert effect is not None
    assert effect["planted_effect"] is not None
    att = effect["matched_att"]
    assert att["ci_low"] <= effect["planted_effect"] <= att["ci_high"]
    assert effect["planted_covered"] is True


def test_planted_and_estimate_recorded(demo: dict[str, Any]) -> None:
    effect = demo["second"].effect
    assert isinstance(effect["planted_effect"], float)
    assert isinstance(effect["planted_covered"], bool)
    md = (demo["second"].run_dir / "report" / "report.md").read_text(encoding="utf-8")
    assert "planted effect" in md


def test_resume_reruns_only_what_changed(demo: dict[str, Any]) -> None:
    config_path: Path = demo["config"]
    resumed = run_pipeline(config_path, resume=True, quiet=True)
    assert resumed.ran == ()
    assert resumed.resumed == run_module.STAGE_NAMES
    changed = config_path.with_name("demo-min11.toml")
    changed.write_text(
        config_path.read_text(encoding="utf-8").replace("min_units = 10", "min_units = 11"),
        encoding="utf-8",
    )
    result = run_pipeline(changed, resume=True, quiet=True)
    assert result.ran == ("report",)
    tables = json.loads((result.run_dir / "report" / "tables.json").read_text(encoding="utf-8"))
    assert tables["min_units"] == 11
    # back to the original config: the report is recomputed and identical to before
    again = run_pipeline(config_path, resume=True, quiet=True)
    assert again.ran == ("report",)
    assert (
        _hashes(again.run_dir)["report/report.html"] == demo["first_hashes"]["report/report.html"]
    )


def test_failed_stage_leaves_previous_outputs_intact(
    demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = demo["second"].run_dir
    before = _hashes(run_dir)

    def boom(ctx: Any) -> None:
        ctx.write_text("half-written.txt", "partial")
        raise RuntimeError("simulated crash")

    stages = tuple((n, boom if n == "match" else f) for n, f in run_module.STAGES)
    monkeypatch.setattr(run_module, "STAGES", stages)
    with pytest.raises(StageFailedError, match="Stage 'match' failed") as info:
        run_pipeline(load_config(demo["config"]), quiet=True)
    assert info.value.stage == "match"
    assert isinstance(info.value.cause, RuntimeError)
    assert _hashes(run_dir) == before  # nothing committed, manifest unchanged
    assert not list(run_dir.glob(".staging-*"))
