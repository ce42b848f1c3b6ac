"""The documentation site builds with ``mkdocs build --strict`` (warnings are errors).

A broken docstring (griffe parse warning), a dead link between pages, a page missing from the
navigation or a missing snippet file fails this test, so a broken docs build fails the test
suite as well as CI's separate docs step.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _nav_pages(text: str) -> list[str]:
    return [line.split(": ", 1)[1].strip() for line in text.splitlines() if line.strip()
            .startswith("- ") and line.rstrip().endswith(".md")]


@pytest.mark.skipif(not (ROOT / "mkdocs.yml").exists(), reason="no mkdocs.yml in this tree")
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    site = tmp_path / "site"
    # Every page in the navigation was rendered, and the API pages really hold the API.
    nav = _nav_pages((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert nav, "no pages found in mkdocs.yml's nav"
    for page in nav:
        rendered = site / ("index.html" if page == "index.md" else page[:-3] + "/index.html")
        assert rendered.exists(), f"{page} was not rendered"
    # Every public name of kvklink has an entry (an anchor) in the API reference.
    anchors: set[str] = set()
    for page in (site / "api").rglob("index.html"):
        anchors |= {a.rsplit(".", 1)[-1] for a in re.findall(r'id="(kvklink[\w.]*)"',
                                                            page.read_text(encoding="utf-8"))}
    import kvklink

    missing = sorted(set(kvklink.__all__) - {"__version__"} - anchors)
    assert not missing, f"public names without an API reference entry: {missing}"


def test_every_docs_page_is_in_the_nav() -> None:
    """Pages outside the nav would be built but unreachable (mkdocs only logs that)."""
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = set(_nav_pages(text))
    pages = {
        p.relative_to(ROOT / "docs").as_posix()
        for p in (ROOT / "docs").rglob("*.md")
        if not p.relative_to(ROOT / "docs").as_posix().startswith("_")
    }
    assert pages - nav == set(), f"docs pages missing from mkdocs.yml nav: {sorted(pages - nav)}"


def _code_blocks(text: str) -> list[str]:
    """Contents of the fenced code blocks of a Markdown page (any language), in order."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if current is None:
            if stripped.startswith("```"):
                current = []
        elif stripped == "```":
            blocks.append("\n".join(current) + "\n")
            current = None
        else:
            current.append(line)
    return blocks


def _pages_with_examples() -> list[Path]:
    return sorted(p for p in (ROOT / "docs").rglob("*.md") if ">>>" in p.read_text("utf-8"))


@pytest.mark.parametrize(
    "page", _pages_with_examples(), ids=lambda p: p.relative_to(ROOT / "docs").as_posix()
)
def test_docs_examples_run(page: Path) -> None:
    """Every ``>>>`` example in a fenced code block of a docs page runs and prints what it shows.

    The blocks of one page share their globals, in page order, like a doctest file.
    """
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs: dict[str, object] = {}
    text = page.read_text(encoding="utf-8")
    blocks = [b for b in _code_blocks(text) if ">>>" in b]
    assert blocks, f"{page.name}: '>>>' found outside a fenced code block"
    for i, block in enumerate(blocks):
        test = parser.get_doctest(block, globs, f"{page.name}[{i}]", str(page), 0)
        runner.run(test, clear_globs=False)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} failing example(s) in {page.name} (see output)"
