"""Clerical review of the ``review`` band: export side by side, import decisions back.

The export has one row per query in review, keyed by ``query_row`` (and the query id when the
spec has one): for every field the query's value next to the candidate reference record's
value and the field's partial match weight, then the total score and probability, and an
empty ``decision`` column. A reviewer fills ``decision`` with ``accept`` or ``reject`` (blank =
still undecided). Importing applies the decisions; the result depends only on the decisions,
not on the order of the rows in the file.

Examples
--------
>>> import polars as pl
>>> from kvklink.linkage._review import apply_review_decisions
>>> frame = pl.DataFrame({"query_row": [0, 1, 2], "kvk_nummer": ["1", "2", "3"],
...                       "status": ["review", "review", "accepted"]})
>>> decisions = pl.DataFrame({"query_row": ["1", "0"], "decision": ["reject", "Accept"]})
>>> apply_review_decisions(frame, decisions, target="kvk_nummer").rows()
[(0, '1', 'accepted', 'accept'), (1, None, 'rejected', 'reject'), (2, '3', 'accepted', None)]
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from kvklink.errors import InputError, SchemaError
from kvklink.frames import require_columns, to_polars
from kvklink.linkage._recover import RecoveryResult, RecoverySpec

__all__ = [
    "REVIEW_DECISIONS",
    "apply_review_decisions",
    "build_review_table",
    "export_review",
    "import_review",
    "read_frame",
    "write_frame",
]

#: Accepted spellings of a reviewer's decision (case-insensitive); blank means undecided.
REVIEW_DECISIONS: dict[str, str] = {
    "accept": "accept", "accepted": "accept", "a": "accept", "yes": "accept", "y": "accept",
    "reject": "reject", "rejected": "reject", "r": "reject", "no": "reject", "n": "reject",
}


def read_frame(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read a CSV (every column as text, so leading zeros survive) or Parquet file."""
    p = Path(path)
    if not p.is_file():
        msg = f"Input file {p.name!r} does not exist. Hint: check the path."
        raise InputError(msg)
    if p.suffix.lower() in (".parquet", ".pq"):
        return pl.read_parquet(p)
    if p.suffix.lower() in (".csv", ".txt"):
        return pl.read_csv(p, infer_schema=False)
    msg = f"Input file {p.name!r} must be .csv or .parquet. Hint: convert it first."
    raise InputError(msg)


def write_frame(frame: pl.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write CSV or Parquet (by suffix) atomically: a temporary file, then a rename."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        msg = f"Output file {p.name!r} must end in .csv or .parquet. Hint: rename it."
        raise InputError(msg)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    try:
        if suffix == ".csv":
            frame.write_csv(tmp)
        else:
            frame.write_parquet(tmp)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _row_numbers(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Row-number columns as Int64 (a CSV round trip turns them into text)."""
    out = frame.with_columns(
        pl.col(c).cast(pl.Utf8).str.strip_chars().cast(pl.Int64, strict=False) for c in columns
    )
    bad = sum(out[c].null_count() - frame[c].null_count() for c in columns)
    if bad:
        msg = (
            f"The result has {bad} row-number value(s) that are not integers in "
            f"{', '.join(columns)}. Hint: pass the file written by recovery, unchanged."
        )
        raise SchemaError(msg)
    return out


def build_review_table(
    frame: pl.DataFrame,
    queries: pl.DataFrame,
    reference: pl.DataFrame,
    spec: RecoverySpec,
) -> pl.DataFrame:
    """Side-by-side table of the queries in review and their candidate reference records.

    ``frame`` is a recovery result frame (with ``query_row``, ``register_row``, ``status``);
    ``queries`` and ``reference`` are the frames recovery ran on (same rows, same order).
    """
    require_columns(frame, ["query_row", "register_row", "status", spec.target],
                    argument="result")
    frame = _row_numbers(frame, ["query_row", "register_row"])
    rows_q = frame["query_row"].drop_nulls().to_numpy()
    rows_r = frame["register_row"].drop_nulls().to_numpy()
    n_q = int(rows_q.max()) + 1 if rows_q.size else 0
    n_r = int(rows_r.max()) + 1 if rows_r.size else 0
    if queries.height < n_q or reference.height < n_r:
        msg = (
            f"The result refers to {n_q} query and {n_r} reference rows but the frames have "
            f"{queries.height} and {reference.height}. Hint: pass the files recovery ran on."
        )
        raise SchemaError(msg)
    review = frame.filter(pl.col("status") == "review").sort("query_row")
    left_cols = spec.left_columns + ([spec.query_id] if spec.query_id else [])
    right_cols = spec.right_columns
    q = queries.select(left_cols).with_row_index("query_row").with_columns(
        pl.col("query_row").cast(pl.Int64)
    ).rename({c: f"query_{c}" for c in left_cols})
    r = reference.select(right_cols).with_row_index("register_row").with_columns(
        pl.col("register_row").cast(pl.Int64)
    ).rename({c: f"register_{c}" for c in right_cols})
    if spec.query_id and spec.query_id in review.columns:
        review = review.drop(spec.query_id)
    joined = review.join(q, on="query_row", how="left").join(r, on="register_row", how="left")
    cols: list[str] = ["query_row"]
    if spec.query_id:
        cols.append(f"query_{spec.query_id}")
    cols += [spec.target, "match_probability", "match_score", "match_margin"]
    seen: set[str] = set()
    for fc in spec.fields:
        for c in (f"query_{fc.left}", f"register_{fc.right}"):
            if c not in seen:
                cols.append(c)
                seen.add(c)
        cols.append(f"w_{fc.name}")
    return joined.select(*cols).with_columns(pl.lit(None, dtype=pl.Utf8).alias("decision"))


def export_review(result: RecoveryResult, path: str | os.PathLike[str]) -> int:
    """Write the review band of ``result`` as CSV (atomically); return the number of rows."""
    frame = to_polars(result.frame, argument="result.frame")[0]
    table = build_review_table(frame, result.queries, result.reference, result.spec)
    write_frame(table, path)
    return table.height


def apply_review_decisions(
    frame: pl.DataFrame, decisions: pl.DataFrame, *, target: str
) -> pl.DataFrame:
    """Apply reviewer decisions (``query_row``, ``decision``) to a result frame.

    ``accept`` turns a ``review`` row into ``accepted``; ``reject`` into ``rejected`` with a
    null target. Blank decisions leave the row in review. Adds a ``review_decision`` column.
    Raises :class:`~kvklink.errors.InputError` on unknown spellings, duplicate rows or rows
    that are not in the review band.
    """
    require_columns(decisions, ["query_row", "decision"], argument="decisions")
    require_columns(frame, ["query_row", "status", target], argument="result")
    frame = _row_numbers(frame, ["query_row"])
    d = decisions.select(
        pl.col("query_row").cast(pl.Utf8).str.strip_chars().cast(pl.Int64, strict=False),
        pl.col("decision").cast(pl.Utf8).str.strip_chars().str.to_lowercase(),
    )
    if d["query_row"].null_count():
        msg = (
            f"{d['query_row'].null_count()} decision row(s) have no valid 'query_row'. "
            "Hint: keep the query_row column of the export unchanged."
        )
        raise InputError(msg)
    d = d.filter(pl.col("decision").is_not_null() & (pl.col("decision") != ""))
    bad = d.filter(~pl.col("decision").is_in(list(REVIEW_DECISIONS)))
    if bad.height:
        msg = (
            f"{bad.height} decision row(s) hold an unknown decision. "
            "Hint: write 'accept' or 'reject', or leave the cell blank."
        )
        raise InputError(msg)
    if d["query_row"].n_unique() != d.height:
        msg = "The decisions name some query_row more than once. Hint: one decision per row."
        raise InputError(msg)
    d = d.with_columns(
        pl.col("decision").replace_strict(REVIEW_DECISIONS).alias("review_decision")
    ).drop("decision")
    in_review = frame.filter(pl.col("status") == "review").select("query_row")
    stray = d.join(in_review, on="query_row", how="anti").height
    if stray:
        msg = (
            f"{stray} decision row(s) refer to queries that are not in the review band. "
            "Hint: import decisions against the result they were exported from."
        )
        raise InputError(msg)
    base = frame.drop("review_decision") if "review_decision" in frame.columns else frame
    out = base.join(d, on="query_row", how="left", maintain_order="left")
    if "review_decision" in frame.columns:
        out = out.with_columns(
            pl.coalesce("review_decision", frame["review_decision"]).alias("review_decision")
        )
    dec = pl.col("review_decision")
    return out.with_columns(
        pl.when(dec == "accept").then(pl.lit("accepted"))
        .when(dec == "reject").then(pl.lit("rejected"))
        .otherwise(pl.col("status")).alias("status"),
        pl.when(dec == "reject").then(None).otherwise(pl.col(target)).alias(target),
    )


def import_review(result: RecoveryResult, decisions: Any) -> RecoveryResult:
    """Apply decisions (a frame or a CSV/Parquet path) to ``result``; returns a new result."""
    if isinstance(decisions, str | os.PathLike):
        dec = read_frame(decisions)
    else:
        dec = to_polars(decisions, argument="decisions")[0]
    frame = to_polars(result.frame, argument="result.frame")[0]
    out = apply_review_decisions(frame, dec, target=result.spec.target)
    return result.with_frame(out)
