"""Atomic commits: interrupted runs and half-finished commits leave consistent outputs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

import kvklink.pipeline._run as run_module
from kvklink.pipeline import config_hash, prepare_demo, run_pipeline
from kvklink.pipeline._config import example_config_text, parse_config


def _hashes(run_dir: Path) -> dict[str, str]:
    return {
        p.relative_to(run_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = prepare_demo(tmp_path_factory.mktemp("atomic"), scale=0.002, seed=4)
    run_pipeline(config, quiet=True)
    return config


def test_keyboard_interrupt_leaves_previous_outputs(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = demo.parent / "run"
    before = _hashes(run_dir)

    def interrupted(ctx: Any) -> None:
        ctx.write_text("partial.txt", "half")
        raise KeyboardInterrupt

    stages = tuple((n, interrupted if n == "report" else f) for n, f in run_module.STAGES)
    monkeypatch.setattr(run_module, "STAGES", stages)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(demo, quiet=True)
    assert _hashes(run_dir) == before
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")]


def test_half_finished_commit_is_repaired(demo: Path) -> None:
    run_dir = demo.parent / "run"
    before = _hashes(run_dir)
    # a commit killed between its two renames: the old folder sits in the trash, none in place
    os.replace(run_dir / "link", run_dir / ".trash-99999-link")
    (run_dir / ".staging-99999").mkdir()
    result = run_pipeline(demo, resume=True, quiet=True)
    assert result.ran == ()  # the restored outputs are recognised as current
    after = _hashes(run_dir)
    assert {k: v for k, v in after.items() if k != "manifest.json"} == {
        k: v for k, v in before.items() if k != "manifest.json"
    }
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")]


def test_config_hash_ignores_layout_and_comments(tmp_path: Path) -> None:
    text = example_config_text()
    # same content, other layout: comments dropped, sections in another order
    lines = [ln.split("#")[0].rstrip() for ln in text.splitlines()]
    body = "\n".join(lines)
    head, _, rest = body.partition("[key]")
    sections = [
        "[key]" + part if i == 0 else "[" + part for i, part in enumerate(rest.split("\n["))
    ]
    shuffled = head + "\n" + "\n".join(reversed(sections))
    a = parse_config(text, base_dir=tmp_path, check_inputs=False)
    b = parse_config(shuffled, base_dir=tmp_path, check_inputs=False)
    assert a == b
    assert config_hash(a) == config_hash(b)
    c = parse_config(
        text.replace("random_state = 0", "random_state = 1"), base_dir=tmp_path, check_inputs=False
    )
    assert config_hash(c) != config_hash(a)
    assert config_hash(c, sections=("cohort",)) == config_hash(a, sections=("cohort",))
