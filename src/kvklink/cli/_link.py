"""``kvklink link INTERACTIONS HISTORY OUTPUT``: exact linkage on files.

Reads the pseudonymised interactions and register history (CSV or Parquet), calls
:func:`kvklink.link`, and writes, atomically (temporary file + rename):

* ``OUTPUT``: the interactions with ``be_id`` and ``link_status`` (CSV or Parquet by suffix;
  Parquet carries ``kvklink.key_id`` and ``kvklink.scheme_version`` in its metadata);
* ``OUTPUT.ledger.json``: the row ledger. When the intake ledger
  (``INTERACTIONS.ledger.json``, written by ``kvklink pseudonymise``) exists, or is given with
  ``--ledger``, the link ledger continues it and reconciles with the raw input rows.
* with ``--report PATH`` (``.md`` or ``.html``): the disclosure-controlled linkage report.

Input errors exit with code 2 and one line on stderr that never quotes a value from a file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import polars as pl
import typer

from kvklink.cli._app import EXIT_FAILURE, EXIT_USAGE, app
from kvklink.errors import KvklinkError
from kvklink.ledger import RowLedger
from kvklink.linkage import link, linkage_report

__all__ = ["link_command"]

_CSV = (".csv",)
_PARQUET = (".parquet", ".pq")


class _InputProblem(Exception):
    """An input error reported in one line with exit code 2."""


def _format(path: Path, *, role: str) -> Literal["csv", "parquet"]:
    suffix = path.suffix.lower()
    if suffix in _CSV:
        return "csv"
    if suffix in _PARQUET:
        return "parquet"
    msg = f"{role} {str(path)!r} must end in .csv or .parquet. Hint: rename the file."
    raise _InputProblem(msg)


def _read(path: Path, *, role: str) -> pl.DataFrame:
    fmt = _format(path, role=role)
    if not path.is_file():
        msg = f"{role} {str(path)!r} does not exist or is not a file. Hint: check the path."
        raise _InputProblem(msg)
    try:
        if fmt == "csv":
            return pl.read_csv(
                path,
                schema_overrides={"pseudonym": pl.String, "key_id": pl.String},
                infer_schema_length=10_000,
                try_parse_dates=True,
            )
        return pl.read_parquet(path)
    except OSError as exc:
        msg = f"cannot read {role} {str(path)!r} ({exc.strerror or type(exc).__name__})."
        raise _InputProblem(msg) from None
    except Exception as exc:
        # Parser messages can quote cell values, so only the error type is shown.
        msg = (
            f"cannot read {role} {str(path)!r} as {fmt.upper()} ({type(exc).__name__}). "
            "Hint: check the file format and that it is not truncated."
        )
        raise _InputProblem(msg) from None


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _ledger_path(path: Path) -> Path:
    return path.with_name(path.name + ".ledger.json")


def _read_ledger(path: Path) -> RowLedger:
    try:
        return RowLedger.from_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"cannot read ledger {str(path)!r} ({exc.strerror or type(exc).__name__})."
        raise _InputProblem(msg) from None


@app.command("link")
def link_command(
    interactions: Path = typer.Argument(  # noqa: B008
        ..., metavar="INTERACTIONS", help="Pseudonymised interactions (CSV or Parquet)."
    ),
    history: Path = typer.Argument(  # noqa: B008
        ..., metavar="HISTORY", help="Pseudonymised register history (CSV or Parquet)."
    ),
    output: Path = typer.Argument(  # noqa: B008
        ..., metavar="OUTPUT", help="Linked interactions to write (CSV or Parquet)."
    ),
    date_column: str = typer.Option("date", "--date-column", help="Interaction date column."),
    ledger: Path | None = typer.Option(  # noqa: B008
        None,
        "--ledger",
        help="Intake ledger JSON to continue (default: INTERACTIONS.ledger.json if present).",
    ),
    no_intake_ledger: bool = typer.Option(
        False, "--no-intake-ledger", help="Do not continue an intake ledger."
    ),
    on_overlap: str = typer.Option(
        "raise", "--on-overlap", help="Overlapping history periods: raise | ambiguous."
    ),
    history_check: str = typer.Option(
        "relevant", "--history-check", help="Check overlaps among relevant | all periods."
    ),
    report: Path | None = typer.Option(  # noqa: B008
        None, "--report", help="Also write the linkage report (.md or .html)."
    ),
) -> None:
    """Link pseudonymised INTERACTIONS to the BE valid at each date in HISTORY; write OUTPUT."""
    try:
        if on_overlap not in ("raise", "ambiguous"):
            msg = f"--on-overlap must be 'raise' or 'ambiguous', got {on_overlap!r}."
            raise _InputProblem(msg)
        if history_check not in ("relevant", "all"):
            msg = f"--history-check must be 'relevant' or 'all', got {history_check!r}."
            raise _InputProblem(msg)
        out_fmt = _format(output, role="OUTPUT")
        if report is not None and report.suffix.lower() not in (".md", ".html"):
            msg = f"--report {str(report)!r} must end in .md or .html. Hint: rename it."
            raise _InputProblem(msg)
        resolved = output.resolve()
        if resolved in (interactions.resolve(), history.resolve()):
            msg = "OUTPUT must differ from the inputs. Hint: write to a new file."
            raise _InputProblem(msg)
        if not output.parent.is_dir():
            msg = f"the directory of OUTPUT {str(output.parent)!r} does not exist."
            raise _InputProblem(msg)
        inter = _read(interactions, role="INTERACTIONS")
        hist = _read(history, role="HISTORY")
        intake: RowLedger | None = None
        if ledger is not None and no_intake_ledger:
            msg = "--ledger and --no-intake-ledger exclude each other."
            raise _InputProblem(msg)
        if ledger is not None:
            intake = _read_ledger(ledger)
        elif not no_intake_ledger and _ledger_path(interactions).is_file():
            intake = _read_ledger(_ledger_path(interactions))
        result = link(
            inter,
            hist,
            date_column=date_column,
            ledger=intake,
            on_overlap="ambiguous" if on_overlap == "ambiguous" else "raise",
            history_check="all" if history_check == "all" else "relevant",
        )
        frame: pl.DataFrame = result.frame
        metadata = {
            "kvklink.key_id": result.key_id,
            "kvklink.scheme_version": result.scheme_version,
            "kvklink.stage": "link",
        }
        if out_fmt == "csv":
            _atomic_write(output, lambda fh: frame.write_csv(fh))
        else:
            _atomic_write(output, lambda fh: frame.write_parquet(fh, metadata=metadata))
        ledger_text = result.ledger.to_json()
        _atomic_write(_ledger_path(output), lambda fh: fh.write(ledger_text.encode("utf-8")))
        if report is not None:
            rep = linkage_report(frame, date_column=date_column, ledger=result.ledger)
            text = rep.to_html() if report.suffix.lower() == ".html" else rep.to_markdown()
            _atomic_write(report, lambda fh: fh.write(text.encode("utf-8")))
    except (KvklinkError, _InputProblem) as exc:
        message = " ".join(str(exc).split())
        typer.echo(f"kvklink link: error: {message}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except OSError as exc:
        message = f"{exc.strerror or type(exc).__name__} ({type(exc).__name__})"
        typer.echo(f"kvklink link: error: cannot write output: {message}", err=True)
        raise typer.Exit(EXIT_FAILURE) from None
    counts = ", ".join(f"{k}={v}" for k, v in result.counts.items() if v)
    typer.echo(
        f"linked {result.counts['linked']:,} of {frame.height:,} interactions "
        f"({100 * result.link_rate:.1f}%); {counts}; ledger reconciles: "
        f"{result.ledger.reconciles()}"
    )
