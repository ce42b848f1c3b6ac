"""``kvklink recover``, ``prepare-register`` and ``review export|import``: fuzzy recovery.

``kvklink recover QUERIES HANDELSREGISTER OUTPUT`` writes one row per query (recovered
``kvk_nummer``, status, probability, per-field weights) as CSV or Parquet, atomically.
``HANDELSREGISTER`` is a CSV/Parquet extract or a directory written by
``kvklink prepare-register HANDELSREGISTER DIR`` (standardised and indexed once, so that
each batch of queries skips that work).
``kvklink review export RESULT QUERIES HANDELSREGISTER REVIEW.csv`` writes the review band
side by side; ``kvklink review import RESULT DECISIONS.csv OUTPUT`` applies the decisions.
These files hold names, addresses and KVK numbers in the clear: they stay with the data holder.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import typer

from kvklink.cli._app import EXIT_FAILURE, EXIT_USAGE, app
from kvklink.errors import InputError, KvklinkError
from kvklink.linkage._prepared_io import load_prepared_reference, save_prepared_reference
from kvklink.linkage._recover import (
    PreparedReference,
    RecoverySpec,
    company_spec,
    prepare_reference,
    recover_kvk,
)
from kvklink.linkage._review import (
    apply_review_decisions,
    build_review_table,
    read_frame,
    write_frame,
)

review_app = typer.Typer(
    name="review",
    help="Clerical review of recovered KVK numbers: export the review band, import decisions.",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")

_ID_HELP = "Query id column to carry into the output (e.g. interaction_id)."


def _register(path: Path, spec: RecoverySpec) -> PreparedReference | pl.DataFrame:
    """A prepared register directory, or the extract file as a frame."""
    if path.is_dir():
        return load_prepared_reference(path, spec=spec)
    return read_frame(path)


def _fail(exc: Exception, *, command: str) -> typer.Exit:
    code = EXIT_USAGE if isinstance(exc, InputError) else EXIT_FAILURE
    typer.echo(f"kvklink {command}: error: {exc}", err=True)
    return typer.Exit(code)


@app.command("recover")
def recover_command(
    queries: Path = typer.Argument(  # noqa: B008 - typer's declaration style
        ..., help="Interactions without a usable KVK number (CSV or Parquet)."
    ),
    handelsregister: Path = typer.Argument(  # noqa: B008
        ..., help="Handelsregister extract (CSV or Parquet) with kvk_nummer, or a directory "
                  "written by `kvklink prepare-register`."
    ),
    output: Path = typer.Argument(..., help="Result file (.csv or .parquet)."),  # noqa: B008
    id_column: str | None = typer.Option(None, "--id-column", help=_ID_HELP),
    accept: float = typer.Option(0.75, "--accept", help="Accept threshold on probability."),
    review: float = typer.Option(0.15, "--review", help="Review threshold on probability."),
    min_margin: float = typer.Option(
        1.0, "--min-margin", help="Required weight gap (bits) to the second-best KVK number."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    validity: Path | None = typer.Option(  # noqa: B008
        None, "--validity",
        help="Registration periods (kvk_nummer, valid_from, valid_to; CSV or Parquet): the "
             "number registered at the query date wins a predecessor/successor tie.",
    ),
    date_column: str = typer.Option(
        "date", "--date-column", help="Query date column (used with --validity)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing on success."),
) -> None:
    """Recover missing KVK numbers from company name and address (data holder only)."""
    try:
        q = read_frame(queries)
        spec = company_spec(query_id=id_column)
        r = _register(handelsregister, spec)
        periods = None if validity is None else read_frame(validity)
        res = recover_kvk(
            q, r, spec=spec, thresholds=(accept, review),
            min_margin=min_margin, seed=seed, validity=periods, date_column=date_column,
        )
        write_frame(res.frame, output)
    except KvklinkError as exc:
        raise _fail(exc, command="recover") from None
    if not quiet:
        c = res.counts
        typer.echo(
            f"Recovered {q.height:,} queries: accepted {c['accepted']:,}, review "
            f"{c['review']:,}, rejected {c['rejected']:,}. Wrote {output}."
        )


@app.command("prepare-register")
def prepare_register_command(
    handelsregister: Path = typer.Argument(  # noqa: B008
        ..., help="Handelsregister extract (CSV or Parquet) with kvk_nummer."
    ),
    output: Path = typer.Argument(  # noqa: B008
        ..., help="Directory to write (pass it to `kvklink recover` as HANDELSREGISTER)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing directory."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing on success."),
) -> None:
    """Standardise and index a Handelsregister extract once, for many `kvklink recover` runs.

    The directory holds the register in the clear: it stays with the data holder. It is only
    valid for this kvklink and polars version (recover refuses others).
    """
    try:
        register = read_frame(handelsregister)
        prepared = prepare_reference(register, spec=company_spec())
        save_prepared_reference(prepared, output, overwrite=overwrite)
    except KvklinkError as exc:
        raise _fail(exc, command="prepare-register") from None
    if not quiet:
        typer.echo(f"Prepared {register.height:,} register rows. Wrote {output}.")


@review_app.command("export")
def review_export_command(
    result: Path = typer.Argument(..., help="Output of `kvklink recover`."),  # noqa: B008
    queries: Path = typer.Argument(..., help="The queries file recovery ran on."),  # noqa: B008
    handelsregister: Path = typer.Argument(  # noqa: B008
        ..., help="The Handelsregister file (or prepared directory) recovery ran on."
    ),
    output: Path = typer.Argument(..., help="Review CSV to write."),  # noqa: B008
    id_column: str | None = typer.Option(None, "--id-column", help=_ID_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing on success."),
) -> None:
    """Write the review band side by side (query vs register record) with a decision column."""
    try:
        frame = read_frame(result)
        spec = company_spec(query_id=id_column)
        register = _register(handelsregister, spec)
        table = build_review_table(
            frame, read_frame(queries),
            register.frame if isinstance(register, PreparedReference) else register, spec,
        )
        write_frame(table, output)
    except KvklinkError as exc:
        raise _fail(exc, command="review export") from None
    if not quiet:
        typer.echo(f"Wrote {table.height:,} rows to review to {output}.")


@review_app.command("import")
def review_import_command(
    result: Path = typer.Argument(..., help="Output of `kvklink recover`."),  # noqa: B008
    decisions: Path = typer.Argument(  # noqa: B008
        ..., help="The review CSV with its decision column filled (accept/reject)."
    ),
    output: Path = typer.Argument(..., help="Updated result file."),  # noqa: B008
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing on success."),
) -> None:
    """Apply reviewer decisions to a recovery result and write the updated result."""
    try:
        frame = read_frame(result)
        out = apply_review_decisions(frame, read_frame(decisions), target="kvk_nummer")
        write_frame(out, output)
    except KvklinkError as exc:
        raise _fail(exc, command="review import") from None
    if not quiet:
        n = int(out["review_decision"].is_not_null().sum())
        left = int((out["status"] == "review").sum())
        typer.echo(f"Applied {n:,} decisions; {left:,} still in review. Wrote {output}.")


__all__ = [
    "prepare_register_command",
    "recover_command",
    "review_app",
    "review_export_command",
    "review_import_command",
]
