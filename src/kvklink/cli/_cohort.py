"""``kvklink cohort SPEC.toml`` and ``kvklink match SPEC.toml``: one stage from a spec file.

The spec files use the pipeline config's sections (``[cohort]``, ``[matching]``,
``[effects]``, ``[outputs]``) with the input paths in ``[inputs]``; see docs/config.md. Outputs
are written atomically into ``outputs.directory``: ``units.parquet``, ``panel.parquet`` and
``cohort.json`` (cohort); ``units.parquet`` (with ``weights``, ``subclass``, ``match_status``),
``balance.parquet`` and ``match.json`` (match). Exit codes as ``kvklink run``.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import typer

from kvklink.cli._app import app
from kvklink.cli._run import _fail
from kvklink.errors import KvklinkError

__all__ = ["cohort_command", "match_command"]


def _echo_ledger(kind: str, outdir: Path, ledger: dict[str, object], quiet: bool) -> None:
    if not quiet:
        typer.echo(
            json.dumps(
                {"stage": kind, "outputs": str(outdir), "ledger": ledger}, sort_keys=True, indent=2
            )
        )


@app.command("cohort")
def cohort_command(
    spec: Path = typer.Argument(  # noqa: B008 - typer's declaration style
        ..., help="Spec file: [inputs] linked, register; [cohort]; [outputs]."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="Print nothing on success."),
) -> None:
    """Build the treated/control cohort from linked interactions and the register."""
    from kvklink.pipeline._config import CohortFile, load_spec_file
    from kvklink.pipeline._io import read_table, write_json, write_parquet
    from kvklink.pipeline._stages import cohort_tables

    try:
        cfg = load_spec_file(spec, CohortFile)
        linked = read_table(cfg.resolve(cfg.inputs.linked.path), cfg.inputs.linked, name="linked")
        register = read_table(
            cfg.resolve(cfg.inputs.register_.path), cfg.inputs.register_, name="register"
        )
        _cohort, units, panel, ledger = cohort_tables(linked, register, cfg.cohort)
        outdir = cfg.resolve(cfg.outputs.directory)
        write_parquet(units, outdir / "units.parquet")
        write_parquet(panel, outdir / "panel.parquet")
        write_json(ledger, outdir / "cohort.json")
    except KvklinkError as exc:
        _fail("cohort", exc, as_json=False)
        return
    _echo_ledger("cohort", outdir, ledger, quiet)


@app.command("match")
def match_command(
    spec: Path = typer.Argument(  # noqa: B008 - typer\'s declaration style
        ..., help="Spec file: [inputs] units (, panel); [matching]; [outputs]."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="Print nothing on success."),
) -> None:
    """Match cohort units on their pre-treatment covariates and write the balance table."""
    from kvklink.pipeline._config import MatchFile, load_spec_file
    from kvklink.pipeline._io import read_table, write_json, write_parquet
    from kvklink.pipeline._stages import cohort_spec, match_tables

    warnings_seen: list[str] = []
    try:
        cfg = load_spec_file(spec, MatchFile)
        units = read_table(cfg.resolve(cfg.inputs.units.path), cfg.inputs.units, name="units")
        panel: pl.DataFrame | None = None
        if cfg.inputs.panel is not None:
            panel = read_table(cfg.resolve(cfg.inputs.panel.path), cfg.inputs.panel, name="panel")
        covariates = cfg.matching.covariates or cohort_spec(cfg.cohort).covariates()
        horizon = cfg.effects.horizon
        if horizon is None:
            horizon = cfg.cohort.horizon_years if cfg.cohort is not None else 0
        out, balance, ledger = match_tables(
            units,
            panel,
            cfg.matching,
            covariates=covariates,
            effects=cfg.effects if panel is not None else None,
            horizon=horizon,
            warnings_sink=warnings_seen,
        )
        outdir = cfg.resolve(cfg.outputs.directory)
        write_parquet(out, outdir / "units.parquet")
        write_parquet(balance, outdir / "balance.parquet")
        write_json(
            {**ledger, "covariates": covariates, "warnings": warnings_seen}, outdir / "match.json"
        )
    except KvklinkError as exc:
        _fail("match", exc, as_json=False)
        return
    _echo_ledger("match", outdir, ledger, quiet)
    for w in warnings_seen:
        typer.echo(f"warning: {w}", err=True)
