"""Clerical review of the ``review`` band: export side by side, import decisions back.

The export has one row per query in review and candidate (``candidate`` 1 = the best KVK
number, 2 = the runner-up), keyed by ``query_row`` (and the query id when the spec has one):
for every field the query's value next to the candidate reference record's value and the
field's partial match weight, then the score and probability, and an empty ``decision``
column. A reviewer writes ``accept`` on at most one candidate per query, or ``reject`` (blank
= still undecided). Importing applies the decisions; the result depends only on the
decisions, not on the order of the rows in the file.

Examples
--------
>>> import polars as pl
>>> from kvklink.linkage._review import apply_review_decisions
>>> frame = pl.DataFrame({"query_row": [0, 1, 2], "kvk_nummer": ["1", "2", "3"],
...                       "status": ["review", "review", "accepted"]})
>>> decisions = pl.DataFrame({"query_row": ["1", "0"], "decision": ["reject", "Accept"]})
>>> out = apply_review_decisions(frame, decisions, target="kvk_nummer")
>>> out.select("kvk_nummer", "status", "review_decision").rows()
[('1', 'accepted', 'accept'), (None, 'rejected', 'reject'), ('3', 'accepted', None)]
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

    One row per query and candidate: ``candidate`` 1 is the best target value, 2 the
    runner-up (when there is one) — when two KVK numbers score alike the reviewer sees both.
    ``frame`` is a recovery result frame; ``queries`` and ``reference`` are the frames
    recovery ran on (same rows, same order).
    """
    require_columns(frame, ["query_row", "register_row", "status", spec.target],
                    argument="result")
    has_runner_up = {"runner_up", "runner_up_register_row"} <= set(frame.columns)
    frame = _row_numbers(
        frame, ["query_row", "register_row"]
        + (["runner_up_register_row"] if has_runner_up else [])
    )
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
    review = frame.filter(pl.col("status") == "review")
    wcols = [f"w_{fc.name}" for fc in spec.fields if f"w_{fc.name}" in frame.columns]
    cast = {c: pl.Float64 for c in ["match_probability", "match_score", "match_margin", *wcols]
            if c in review.columns}
    review = review.with_columns(pl.col(c).cast(t) for c, t in cast.items())
    first = review.select(
        "query_row", pl.lit(1, dtype=pl.Int64).alias("candidate"),
        pl.col(spec.target), "register_row",
        *(c for c in ("match_probability", "match_score", "match_margin") if c in cast),
        *wcols,
    )
    parts = [first]
    if has_runner_up:
        second = review.filter(pl.col("runner_up").is_not_null()).select(
            "query_row", pl.lit(2, dtype=pl.Int64).alias("candidate"),
            pl.col("runner_up").alias(spec.target),
            pl.col("runner_up_register_row").alias("register_row"),
            *(c for c in ("match_probability", "match_score", "match_margin") if c in cast),
            *wcols,
        ).with_columns(
            pl.lit(None, dtype=pl.Float64).alias(c)
            for c in ["match_probability", *wcols] if c in cast or c in wcols
        )
        if "match_score" in cast and "match_margin" in cast:
            second = second.with_columns(pl.col("match_score") - pl.col("match_margin"))
        parts.append(second)
    table = pl.concat(parts).sort("query_row", "candidate")
    left_cols = spec.left_columns + ([spec.query_id] if spec.query_id else [])
    right_cols = spec.right_columns
    q = queries.select(left_cols).with_row_index("query_row").with_columns(
        pl.col("query_row").cast(pl.Int64)
    ).rename({c: f"query_{c}" for c in left_cols})
    r = reference.select(right_cols).with_row_index("register_row").with_columns(
        pl.col("register_row").cast(pl.Int64)
    ).rename({c: f"register_{c}" for c in right_cols})
    joined = table.join(q, on="query_row", how="left").join(r, on="register_row", how="left")
    cols: list[str] = ["query_row", "candidate"]
    if spec.query_id:
        cols.append(f"query_{spec.query_id}")
    cols += [spec.target, *(c for c in ("match_probability", "match_score", "match_margin")
                            if c in cast)]
    seen: set[str] = set()
    for fc in spec.fields:
        for c in (f"query_{fc.left}", f"register_{fc.right}"):
            if c not in seen:
                cols.append(c)
                seen.add(c)
        if f"w_{fc.name}" in joined.columns:
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
    """Apply reviewer decisions (``query_row``, optional ``candidate``, ``decision``).

    Per query in review: accepting a candidate (1 = best, the default; 2 = runner-up) makes
    the query ``accepted`` with that candidate's target; rejecting candidate 1 without
    accepting another makes it ``rejected`` (target null). Blank decisions change nothing.
    Adds ``review_decision`` and ``review_candidate`` columns. Raises
    :class:`~kvklink.errors.InputError` on unknown spellings, a candidate named twice, more
    than one accepted candidate per query, or rows that are not in the review band.
    """
    require_columns(decisions, ["query_row", "decision"], argument="decisions")
    require_columns(frame, ["query_row", "status", target], argument="result")
    frame = _row_numbers(frame, ["query_row"])
    cand = (
        pl.col("candidate").cast(pl.Utf8).str.strip_chars().cast(pl.Int64, strict=False)
        .fill_null(1)
        if "candidate" in decisions.columns else pl.lit(1, dtype=pl.Int64)
    )
    d = decisions.select(
        pl.col("query_row").cast(pl.Utf8).str.strip_chars().cast(pl.Int64, strict=False),
        cand.alias("candidate"),
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
    if d.select("query_row", "candidate").n_unique() != d.height:
        msg = "The decisions name some query_row more than once. Hint: one decision per row."
        raise InputError(msg)
    if d.filter(~pl.col("candidate").is_in([1, 2])).height:
        msg = "Decision rows must have candidate 1 or 2. Hint: keep the export's column."
        raise InputError(msg)
    d = d.with_columns(pl.col("decision").replace_strict(REVIEW_DECISIONS))
    in_review = frame.filter(pl.col("status") == "review").select("query_row")
    stray = d.join(in_review, on="query_row", how="anti").height
    if stray:
        msg = (
            f"{stray} decision row(s) refer to queries that are not in the review band. "
            "Hint: import decisions against the result they were exported from."
        )
        raise InputError(msg)
    accepted = d.filter(pl.col("decision") == "accept")
    if accepted["query_row"].n_unique() != accepted.height:
        msg = "Some query has more than one accepted candidate. Hint: accept at most one."
        raise InputError(msg)
    if accepted.filter(pl.col("candidate") == 2).height and "runner_up" not in frame.columns:
        msg = "Candidate 2 was accepted but the result has no runner_up column. Hint: re-run."
        raise InputError(msg)
    rejected_first = d.filter((pl.col("decision") == "reject") & (pl.col("candidate") == 1))
    per_query = (
        in_review.join(accepted.select("query_row", pl.col("candidate").alias("__acc")),
                       on="query_row", how="left")
        .join(rejected_first.select("query_row", pl.lit(True).alias("__rej")),
              on="query_row", how="left")
        .with_columns(
            pl.when(pl.col("__acc").is_not_null()).then(pl.lit("accept"))
            .when(pl.col("__rej")).then(pl.lit("reject"))
            .otherwise(None).alias("__dec")
        )
        .filter(pl.col("__dec").is_not_null())
        .select("query_row", "__dec", "__acc")
    )
    base = frame.drop([c for c in ("review_decision", "review_candidate") if c in frame.columns])
    out = base.join(per_query, on="query_row", how="left", maintain_order="left")
    if "review_decision" in frame.columns:
        out = out.with_columns(
            pl.coalesce("__dec", frame["review_decision"]).alias("__dec"),
            pl.coalesce("__acc", frame["review_candidate"].cast(pl.Int64, strict=False))
            .alias("__acc"),
        )
    dec = pl.col("__dec")
    second = pl.col("__acc") == 2
    updates = [
        pl.when(dec == "accept").then(pl.lit("accepted"))
        .when(dec == "reject").then(pl.lit("rejected"))
        .otherwise(pl.col("status")).alias("status"),
        pl.when(dec == "reject").then(None)
        .when((dec == "accept") & second).then(
            pl.col("runner_up") if "runner_up" in frame.columns else pl.col(target)
        )
        .otherwise(pl.col(target)).alias(target),
    ]
    if "runner_up_register_row" in frame.columns and "register_row" in frame.columns:
        updates.append(
            pl.when((dec == "accept") & second)
            .then(pl.col("runner_up_register_row").cast(pl.Int64, strict=False))
            .otherwise(pl.col("register_row").cast(pl.Int64, strict=False))
            .alias("register_row")
        )
    return out.with_columns(updates).rename(
        {"__dec": "review_decision", "__acc": "review_candidate"}
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
