"""Execute every notebook source in ``notebooks/`` (jupytext percent format) with a fresh kernel.

Each ``notebooks/*.py`` is read with jupytext, turned into an nbformat notebook and run by
nbclient in a fresh ``python3`` kernel whose working directory is a temporary directory (so a
notebook cannot depend on, or litter, the repository). Any cell error fails the test; the
executed notebook is written next to the test's tmp dir for inspection, never into the repo.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
#: Per-cell timeout in seconds; the whole notebook should run in well under a minute.
CELL_TIMEOUT = 300

pytestmark = pytest.mark.slow


def test_notebook_sources_exist() -> None:
    names = {p.name for p in NOTEBOOKS}
    assert {"quickstart.py", "methods.py"} <= names


@pytest.mark.parametrize("source", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jupytext = pytest.importorskip("jupytext")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")

    notebook = jupytext.read(source)
    assert notebook.cells, f"{source.name} has no cells"
    assert any(c.cell_type == "markdown" for c in notebook.cells), "notebooks teach: add prose"
    # Headless plotting and a kernel that starts in the tmp dir.
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    monkeypatch.delenv("KVKLINK_KEY", raising=False)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
        allow_errors=False,
    )
    try:
        client.execute()
    finally:
        nbformat.write(notebook, str(tmp_path / f"{source.stem}.ipynb"))
    errors = [
        out
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors, f"{source.name}: cell errors {errors}"
