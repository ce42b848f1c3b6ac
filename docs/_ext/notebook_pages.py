"""MkDocs hook: render the jupytext percent sources in ``notebooks/`` as documentation pages.

Each ``notebooks/<name>.py`` becomes the page ``notebooks/<name>.md`` at build time: markdown
cells as prose, code cells as Python code blocks (no outputs — CI executes the notebooks in
``tests/test_notebooks.py``; run them to see the results). Nothing is written to ``docs/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def percent_to_markdown(source: str, name: str) -> str:
    """Markdown for one jupytext percent-format script (cells split on ``# %%``)."""
    cells: list[tuple[str, list[str]]] = []
    kind: str | None = None
    for line in source.splitlines():
        if line.startswith("# %%"):
            kind = "markdown" if "[markdown]" in line else "code"
            cells.append((kind, []))
        elif kind is not None:
            cells[-1][1].append(line)
    note = (
        f'!!! note "Generated from `notebooks/{name}.py`"\n'
        "    This page shows the notebook's text and code; CI executes it on every run. Run it\n"
        "    yourself (see [Notebooks](../notebooks.md)) to see the tables and plots.\n"
    )
    parts: list[str] = []
    for kind, lines in cells:
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines:
            continue
        if kind == "markdown":
            text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#")
                             for line in lines)
            parts.append(text + "\n")
        else:
            parts.append("```python\n" + "\n".join(lines) + "\n```\n")
    parts.insert(1 if parts else 0, note)  # after the title cell
    return "\n".join(parts)


def on_files(files: Files, config: Any, **kwargs: Any) -> Files:
    for script in sorted(NOTEBOOKS.glob("*.py")):
        content = percent_to_markdown(script.read_text(encoding="utf-8"), script.stem)
        files.append(File.generated(config, f"notebooks/{script.stem}.md", content=content))
    return files
