"""``kvklink pseudonymise INPUT OUTPUT --purpose P``: the intake stage on files.

Reads CSV or Parquet, calls :func:`kvklink.pseudonymise`, and writes, next to OUTPUT:

* ``OUTPUT`` itself (CSV or Parquet by its suffix; Parquet carries ``kvklink.key_id``,
  ``kvklink.scheme_version`` and ``kvklink.purpose`` in its metadata);
* ``OUTPUT.ledger.json``: one count per outcome, reconciling with the input rows;
* ``<stem>.QUARANTINE-contains-raw-identifiers.<ext>`` (mode 0600): rows with unusable KVK
  numbers and their reason. It holds raw identifiers and stays with the data holder.

Every file is written to a temporary file in the same directory and renamed into place, so a
crash never leaves a half-written output. Input errors exit with code 2 and one line on
stderr that names the problem but never a value from the file.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import typer

from kvklink._files import atomic_write, read_table, table_format, write_table
from kvklink.cli._app import EXIT_FAILURE, EXIT_USAGE, app
from kvklink.consent import ConsentPolicy
from kvklink.errors import InputError, KvklinkError
from kvklink.keys import KEY_ENV_VAR, LinkageKey
from kvklink.pseudonymise import PseudonymisationResult, pseudonymise

#: Inputs at least this large show a progress display (when stderr is a terminal).
PROGRESS_MIN_BYTES = 20_000_000
QUARANTINE_MARK = "QUARANTINE-contains-raw-identifiers"


def quarantine_path(output: Path) -> Path:
    """``<dir>/<stem>.QUARANTINE-contains-raw-identifiers.<ext>`` for ``output``.

    Examples
    --------
    >>> quarantine_path(Path("out/interactions.parquet")).name
    'interactions.QUARANTINE-contains-raw-identifiers.parquet'
    """
    return output.with_name(f"{output.stem}.{QUARANTINE_MARK}{output.suffix}")


def ledger_path(output: Path) -> Path:
    """``<output>.ledger.json``.

    Examples
    --------
    >>> ledger_path(Path("out/interactions.parquet")).name
    'interactions.parquet.ledger.json'
    """
    return output.with_name(output.name + ".ledger.json")


def _read(path: Path, column: str, *, numeric_ids: bool = False) -> pl.DataFrame:
    # KVK numbers are text: reading them as numbers would drop leading zeros. With --numeric-ids
    # the column is read as numbers when it holds only numbers (a spreadsheet export), so
    # 7-digit values are padded and counted.
    overrides = {} if numeric_ids else {column: pl.String}
    return read_table(path, role="INPUT", schema_overrides=overrides)


def _load_key(key_file: Path | None) -> LinkageKey:
    if key_file is not None:
        return LinkageKey.from_file(key_file)
    if KEY_ENV_VAR not in os.environ:
        msg = (
            f"no key: set {KEY_ENV_VAR} or pass --key-file PATH. "
            "Hint: create a key with `kvklink keygen PATH`."
        )
        raise InputError(msg)
    return LinkageKey.from_env()


@contextlib.contextmanager
def _progress(show: bool) -> Iterator[Callable[[str], None]]:
    """Yield ``step(description)``; with ``show``, a rich spinner on stderr tracks the steps."""
    if not show:
        yield lambda _description: None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None)
        yield lambda description: progress.update(task, description=description)


@app.command("pseudonymise")
def pseudonymise_command(
    input_path: Path = typer.Argument(  # noqa: B008
        ..., metavar="INPUT", help="Raw CSV or Parquet file (interactions or register)."
    ),
    output: Path = typer.Argument(  # noqa: B008
        ..., metavar="OUTPUT", help="Pseudonymised CSV or Parquet file to write."
    ),
    purpose: str = typer.Option(..., "--purpose", help="Purpose label, e.g. evaluatie-2024."),
    column: str = typer.Option("kvk_nummer", "--column", help="Column with KVK numbers."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Consent date YYYY-MM-DD (interactions; required there)."
    ),
    register: bool = typer.Option(
        False, "--register", help="Register side: no consent columns (consent=None)."
    ),
    key_file: Path | None = typer.Option(  # noqa: B008
        None, "--key-file", help=f"Master key file (mode 600); default: ${KEY_ENV_VAR}."
    ),
    keep: list[str] | None = typer.Option(  # noqa: B008
        None, "--keep", help="Keep exactly these columns (repeat the option); default allow-list."
    ),
    consent_column: str = typer.Option("consent", help="Consent flag column."),
    purposes_column: str = typer.Option("consent_purposes", help="Consented purposes column."),
    consent_date_column: str = typer.Option("consent_date", help="Consent date column."),
    withdrawal_column: str = typer.Option(
        "consent_withdrawn_date", help="Withdrawal date column ('' if none recorded)."
    ),
    numeric_ids: bool = typer.Option(
        False,
        "--numeric-ids",
        help="CSV: read the KVK column as numbers when it holds only numbers (spreadsheet "
        "exports that dropped leading zeros; 7-digit values are then padded and counted).",
    ),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Show progress (default: for large files)."
    ),
) -> None:
    """Pseudonymise the KVK numbers in INPUT and write OUTPUT, its ledger and quarantine."""
    try:
        if register and as_of is not None:
            msg = "--as-of is a consent date; the register side (--register) has no consent."
            raise InputError(msg)
        if not register and as_of is None:
            msg = "pass --as-of YYYY-MM-DD (consent date) for interactions, or --register."
            raise InputError(msg)
        table_format(output, role="OUTPUT")
        if output.resolve() == input_path.resolve():
            msg = "OUTPUT must differ from INPUT. Hint: write to a new file."
            raise InputError(msg)
        if not output.parent.is_dir():
            msg = f"the directory of OUTPUT {str(output.parent)!r} does not exist."
            raise InputError(msg)
        master = _load_key(key_file)
        key = master.for_purpose(purpose)
        policy = None
        if not register:
            assert as_of is not None
            policy = ConsentPolicy(
                purpose,
                as_of,
                consent_column=consent_column,
                purposes_column=purposes_column,
                consent_date_column=consent_date_column,
                withdrawal_column=withdrawal_column or None,
            )
        size = input_path.stat().st_size if input_path.is_file() else 0
        show = progress if progress is not None else size >= PROGRESS_MIN_BYTES
        with _progress(bool(show)) as step:
            step(f"reading {input_path.name}")
            frame = _read(input_path, column, numeric_ids=numeric_ids)
            step(f"pseudonymising {frame.height:,} rows")
            result = pseudonymise(frame, key=key, consent=policy, column=column, keep=keep)
            step(f"writing {output.name}")
            _write_outputs(result, output)
    except KvklinkError as exc:
        message = " ".join(str(exc).split())
        typer.echo(f"kvklink pseudonymise: error: {message}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except OSError as exc:
        message = f"{exc.strerror or type(exc).__name__} ({type(exc).__name__})"
        typer.echo(f"kvklink pseudonymise: error: cannot write output: {message}", err=True)
        raise typer.Exit(EXIT_FAILURE) from None
    ledger = result.ledger
    quarantined = len(result.quarantine)
    typer.echo(
        f"Pseudonymised {len(result.frame):,} of {ledger.total_input:,} rows -> {output} "
        f"(key id {result.key_id}, scheme {result.scheme_version}); "
        f"ledger {ledger_path(output).name}; {quarantined:,} quarantined rows in "
        f"{quarantine_path(output).name} (raw identifiers: keep it with the data holder)."
    )


def _write_outputs(result: PseudonymisationResult, output: Path) -> None:
    metadata = {
        "kvklink.key_id": result.key_id,
        "kvklink.scheme_version": result.scheme_version,
        "kvklink.purpose": result.purpose,
    }
    frame = result.frame
    quarantine = result.quarantine
    assert isinstance(frame, pl.DataFrame)
    assert isinstance(quarantine, pl.DataFrame)
    qpath = quarantine_path(output)
    write_table(
        qpath,
        quarantine,
        metadata={**metadata, "kvklink.contents": QUARANTINE_MARK},
        private=True,
    )
    write_table(output, frame, metadata=metadata)
    ledger = result.ledger.to_dict()
    ledger["files"] = {"output": output.name, "quarantine": qpath.name}
    text = json.dumps(ledger, indent=2) + "\n"
    atomic_write(ledger_path(output), lambda fh: fh.write(text.encode("utf-8")))
