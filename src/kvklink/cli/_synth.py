"""``kvklink synth OUTDIR [--scale S] [--seed N]``: write the synthetic tables as Parquet.

Writes one Parquet file per table of :class:`kvklink.synth.SyntheticData` (``register``,
``kvk_history``, ``handelsregister``, ``interactions``, ``truth``, ``treatment``, ``effects``) and
``manifest.json`` (parameters, row counts, planted effect). Same seed, same files.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from kvklink.cli._app import EXIT_USAGE, app
from kvklink.cli._demo import demo_command  # noqa: F401 - registers `kvklink demo` too
from kvklink.errors import KvklinkError
from kvklink.synth import generate


@app.command("synth")
def synth_command(
    outdir: Path = typer.Argument(  # noqa: B008 - typer's declaration style
        ..., help="Directory to write the Parquet files and manifest.json into."
    ),
    scale: float = typer.Option(
        0.01, "--scale", help="Size relative to the Dutch register (1.0 ≈ 2.4 million units)."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, identical files)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing on success."),
) -> None:
    """Generate a synthetic register, KVK history, Handelsregister and interactions.

    All data are synthetic; the truth tables (truth, treatment, effects) are for scoring only.
    """
    if outdir.exists() and not outdir.is_dir():
        typer.echo(f"kvklink synth: error: OUTDIR {str(outdir)!r} is not a directory.", err=True)
        raise typer.Exit(EXIT_USAGE)
    started = time.perf_counter()
    try:
        data = generate(scale=scale, seed=seed)
    except KvklinkError as exc:
        typer.echo(f"kvklink synth: error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    paths = data.write(outdir)
    if not quiet:
        counts = ", ".join(f"{k} {v.height:,}" for k, v in data.tables().items())
        typer.echo(
            f"Wrote {len(paths)} files to {outdir} in {time.perf_counter() - started:.1f} s "
            f"(scale {scale}, seed {seed}): {counts}."
        )
