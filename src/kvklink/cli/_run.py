"""``kvklink run CONFIG.toml``: the whole evaluation from one config file.

A thin layer over :func:`kvklink.pipeline.run_pipeline`. Exit codes (see docs/cli.md): 0 ok;
1 a stage failed (the message names it; previous outputs are unchanged); 2 the config, an input
or the key source is invalid (one line per problem on stderr). ``--json`` prints one JSON
object per event on stdout (for batch logs); ``--quiet`` shows no progress. Logging is
configured here, never in the library.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from kvklink.cli._app import EXIT_FAILURE, EXIT_USAGE, app
from kvklink.errors import InputError, KeyMaterialError, KvklinkError

__all__ = ["JsonLineHandler", "exit_code_for", "json_logging", "run_command"]


class JsonLineHandler(logging.Handler):
    """Write each log record as one JSON object per line to stdout."""

    def emit(self, record: logging.LogRecord) -> None:
        event: dict[str, Any] = dict(getattr(record, "kvklink_event", None) or {})
        if not event:
            event = {"event": "log", "message": record.getMessage()}
        event.setdefault("level", record.levelname.lower())
        event.setdefault("logger", record.name)
        typer.echo(json.dumps(event, sort_keys=True, default=str))


@contextmanager
def json_logging(enabled: bool) -> Iterator[None]:
    """Route ``kvklink`` log records to :class:`JsonLineHandler` while the block runs."""
    if not enabled:
        yield
        return
    logger = logging.getLogger("kvklink")
    handler = JsonLineHandler(level=logging.INFO)
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


def exit_code_for(exc: BaseException) -> int:
    """2 for config, input and key errors (also inside a stage), 1 for other failures."""
    from kvklink.pipeline import StageFailedError

    if isinstance(exc, StageFailedError):
        exc = exc.cause
    if isinstance(exc, InputError | KeyMaterialError):
        return EXIT_USAGE
    return EXIT_FAILURE


def _fail(command: str, exc: BaseException, *, as_json: bool) -> None:
    code = exit_code_for(exc)
    if as_json:
        stage = getattr(exc, "stage", None)
        typer.echo(
            json.dumps(
                {
                    "event": "error",
                    "error": type(exc).__name__,
                    "stage": stage,
                    "message": str(exc),
                    "exit_code": code,
                },
                sort_keys=True,
            )
        )
    typer.echo(f"kvklink {command}: error: {exc}", err=True)
    raise typer.Exit(code)


@app.command("run")
def run_command(
    config: Path = typer.Argument(..., help="The pipeline config (TOML); see docs/config.md."),  # noqa: B008
    stage: list[str] = typer.Option(  # noqa: B008
        None,
        "--stage",
        help="Run only this stage (repeatable): pseudonymise, link, cohort, "
        "match, effects, report.",
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Skip stages whose outputs are current (same config and inputs)."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress display."),
    as_json: bool = typer.Option(False, "--json", help="One JSON log line per event on stdout."),
) -> None:
    """Run the evaluation in CONFIG (pseudonymise → link → cohort → match → effects → report).

    Writes the stage outputs and manifest.json to the config's outputs directory. Exit codes:
    0 ok, 1 a stage failed (previous outputs unchanged), 2 invalid config, input or key.
    """
    from kvklink.pipeline import load_config, run_pipeline

    try:
        with json_logging(as_json):
            cfg = load_config(config)
            result = run_pipeline(cfg, stages=stage or None, resume=resume, quiet=quiet or as_json)
    except KvklinkError as exc:
        _fail("run", exc, as_json=as_json)
        return
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "event": "result",
                    "run_dir": str(result.run_dir),
                    "ran": list(result.ran),
                    "resumed": list(result.resumed),
                    "manifest": str(result.manifest_path),
                },
                sort_keys=True,
            )
        )
        return
    if quiet:
        return
    typer.echo(
        f"Ran: {', '.join(result.ran) or '-'}; current, skipped: "
        f"{', '.join(result.resumed) or '-'}."
    )
    effect = result.effect
    if effect and effect.get("matched_att"):
        att = effect["matched_att"]
        typer.echo(
            f"Matched ATT {att['estimate']:+.4f} [{att['ci_low']:+.4f}, "
            f"{att['ci_high']:+.4f}] (n treated {att['n_treated']})."
        )
    if result.report_html is not None:
        typer.echo(f"Report: {result.report_html}")
    typer.echo(f"Manifest: {result.manifest_path}")
    for w in result.warnings:
        typer.echo(f"warning: {w}", err=True)
