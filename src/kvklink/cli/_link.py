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

from pathlib import Path

import polars as pl
import typer

from kvklink._files import atomic_write, read_table, table_format, write_table
from kvklink.cli._app import EXIT_FAILURE, EXIT_USAGE, app
from kvklink.errors import InputError, KvklinkError
from kvklink.ledger import RowLedger
from kvklink.linkage import link, linkage_report

__all__ = ["link_command"]


def _ledger_path(path: Path) -> Path:
    return path.with_name(path.name + ".ledger.json")


def _read_ledger(path: Path) -> RowLedger:
    try:
        return RowLedger.from_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"cannot read ledger {str(path)!r} ({exc.strerror or type(exc).__name__})."
        raise InputError(msg) from None


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
            raise InputError(msg)
        if history_check not in ("relevant", "all"):
            msg = f"--history-check must be 'relevant' or 'all', got {history_check!r}."
            raise InputError(msg)
        table_format(output, role="OUTPUT")
        if report is not None and report.suffix.lower() not in (".md", ".html"):
            msg = f"--report {str(report)!r} must end in .md or .html. Hint: rename it."
            raise InputError(msg)
        resolved = output.resolve()
        if resolved in (interactions.resolve(), history.resolve()):
            msg = "OUTPUT must differ from the inputs. Hint: write to a new file."
            raise InputError(msg)
        if not output.parent.is_dir():
            msg = f"the directory of OUTPUT {str(output.parent)!r} does not exist."
            raise InputError(msg)
        text_ids = {"pseudonym": pl.String, "key_id": pl.String}
        inter = read_table(interactions, role="INTERACTIONS", schema_overrides=text_ids)
        hist = read_table(history, role="HISTORY", schema_overrides=text_ids)
        intake: RowLedger | None = None
        if ledger is not None and no_intake_ledger:
            msg = "--ledger and --no-intake-ledger exclude each other."
            raise InputError(msg)
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
        write_table(output, frame, metadata=metadata)
        ledger_text = result.ledger.to_json()
        atomic_write(_ledger_path(output), lambda fh: fh.write(ledger_text.encode("utf-8")))
        if report is not None:
            rep = linkage_report(frame, date_column=date_column, ledger=result.ledger)
            text = rep.to_html() if report.suffix.lower() == ".html" else rep.to_markdown()
            atomic_write(report, lambda fh: fh.write(text.encode("utf-8")))
    except KvklinkError as exc:
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
