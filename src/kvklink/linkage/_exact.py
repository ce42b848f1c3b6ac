"""Exact linkage of pseudonymised interactions to the pseudonymised register history.

The evaluation team receives two pseudonymised frames (see ``privacy-model.md``):

* interactions: analysis columns + ``pseudonym``, ``key_id``, ``scheme_version`` and a date;
* register history: ``pseudonym``, ``be_id``, ``valid_from``, ``valid_to``, ``key_id``,
  ``scheme_version`` — one row per period in which a KVK number belonged to a BE.

:func:`link` gives every interaction the ``be_id`` valid **at the interaction date** and a
``link_status`` explaining the outcome. It is one hash join on the pseudonym followed by an
interval filter and a group-by on the (small) candidate set, so it costs about as much as a bare
join of the two frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from kvklink.errors import KeyMismatchError, LinkageError, SchemaError
from kvklink.frames import like_input, require_columns, to_polars
from kvklink.ledger import RowLedger

__all__ = [
    "HISTORY_COLUMNS",
    "LINK_STATUSES",
    "LinkResult",
    "link",
]

#: Every value :func:`link` writes to ``link_status`` (in this order in ledgers and reports).
#:
#: * ``linked`` — exactly one BE is valid for the pseudonym at the interaction date;
#: * ``not_in_register`` — the pseudonym does not occur in the history at all;
#: * ``not_valid_at_date`` — the pseudonym occurs, but no period covers the interaction date;
#: * ``ambiguous`` — several periods with *different* BEs cover the date (only possible with
#:   ``on_overlap="ambiguous"``);
#: * ``no_pseudonym`` — the interaction row has a null pseudonym;
#: * ``no_date`` — the interaction row has a null date.
LINK_STATUSES: tuple[str, ...] = (
    "linked",
    "not_in_register",
    "not_valid_at_date",
    "ambiguous",
    "no_pseudonym",
    "no_date",
)

#: Required columns of the pseudonymised register history.
HISTORY_COLUMNS: tuple[str, ...] = (
    "pseudonym",
    "be_id",
    "valid_from",
    "valid_to",
    "key_id",
    "scheme_version",
)

_INTERACTION_ID_COLUMNS: tuple[str, ...] = ("pseudonym", "key_id", "scheme_version")
_OUTPUT_COLUMNS: tuple[str, ...] = ("be_id", "link_status")
_CONSUMED_OUTCOME = "pseudonymised"
_CODE: dict[str, int] = {s: k for k, s in enumerate(LINK_STATUSES)}

# Internal column names (chosen so they cannot collide with a caller's columns by accident).
_ROW = "__kvklink_row"
_DATE = "__kvklink_date"


@dataclass(frozen=True, repr=False)
class LinkResult:
    """The outcome of :func:`link`.

    Attributes
    ----------
    frame : pandas.DataFrame or polars.DataFrame
        The interactions (caller's kind, original row order) with two new columns: ``be_id``
        (null unless linked) and ``link_status`` (see :data:`LINK_STATUSES`).
    ledger : RowLedger
        Row accounting (stage ``"link"``). With the intake ledger passed to :func:`link`, its
        ``pseudonymised`` outcome is refined into the link outcomes and every intake outcome
        is kept, so the counts still add up to the raw input rows; without it, the ledger
        covers the interaction rows only.
    counts : dict[str, int]
        Link status -> number of interaction rows (every status of :data:`LINK_STATUSES`).
    key_id, scheme_version : str
        The (shared) key id and scheme version of both inputs (key ids are not secret).
    overlapping_pseudonyms : int
        Number of pseudonyms (among those checked) whose validity periods overlap; non-zero
        only with ``on_overlap="ambiguous"``.
    """

    frame: Any
    ledger: RowLedger
    counts: dict[str, int]
    key_id: str
    scheme_version: str
    overlapping_pseudonyms: int = 0

    def summary(self) -> pl.DataFrame:
        """Counts and shares per link status (a polars frame; counts only, no values)."""
        counts = self.counts
        total = sum(counts.values())
        return pl.DataFrame(
            {
                "link_status": list(counts),
                "rows": list(counts.values()),
                "share": [(v / total if total else 0.0) for v in counts.values()],
            },
            schema={"link_status": pl.Utf8, "rows": pl.Int64, "share": pl.Float64},
        )

    @property
    def link_rate(self) -> float:
        """Share of interaction rows that linked (0.0 for no rows)."""
        total = sum(self.counts.values())
        return self.counts["linked"] / total if total else 0.0

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.counts.items())
        return f"LinkResult(rows={sum(self.counts.values())}, {inner}, key_id={self.key_id!r})"


def _single_value(frame: pl.DataFrame, column: str, *, argument: str, what: str) -> str | None:
    """The one value of ``column`` (nulls ignored); refuse several."""
    series = frame.get_column(column).drop_nulls()
    if series.len() == 0:
        return None
    first = series[0]
    if bool((series != first).any()):
        n_distinct = series.n_unique()
        msg = (
            f"The {argument!r} frame holds {n_distinct} different {what}s in column {column!r}. "
            f"Hint: link one pseudonymisation run at a time; every row must share one {what}."
        )
        raise KeyMismatchError(msg)
    return str(first)


def _as_date(frame: pl.DataFrame, column: str, *, argument: str) -> pl.Expr:
    """An expression turning ``column`` into ``pl.Date`` (Date, Datetime or ISO strings)."""
    dtype = frame.schema[column]
    if dtype == pl.Date:
        return pl.col(column)
    if isinstance(dtype, pl.Datetime):
        return pl.col(column).dt.date()
    if dtype in (pl.Utf8, pl.String):
        parsed = frame.get_column(column).str.to_date("%Y-%m-%d", strict=False)
        bad = int((parsed.is_null() & frame.get_column(column).is_not_null()).sum())
        if bad:
            msg = (
                f"Column {column!r} of the {argument!r} frame has {bad} value(s) that are not "
                "ISO dates (YYYY-MM-DD). Hint: parse the column to a date type first."
            )
            raise SchemaError(msg)
        return pl.col(column).str.to_date("%Y-%m-%d", strict=False)
    if dtype == pl.Null:
        return pl.col(column).cast(pl.Date)
    msg = (
        f"Column {column!r} of the {argument!r} frame has dtype {dtype}, not a date. "
        "Hint: pass a Date or Datetime column (or ISO date strings)."
    )
    raise SchemaError(msg)


def _overlapping(periods: pl.DataFrame, *, sort_key: pl.Expr | None = None) -> int:
    """Number of pseudonyms whose periods overlap (rows: pseudonym, valid_from, valid_to).

    After sorting by (pseudonym, valid_from), any overlap within a pseudonym shows up between
    two consecutive periods: the later one starts before the earlier one ends (or the earlier
    one is open-ended). Sorting millions of 64-character strings is slow, so rows are sorted
    by a 64-bit hash of the pseudonym instead (``sort_key``), which groups each pseudonym's
    periods just as well — unless two pseudonyms share a hash. That is detected exactly (two
    adjacent rows with equal hashes but different pseudonyms) and then the string sort is
    used, so the count is always exact.
    """
    if periods.height < 2:
        return 0
    key = pl.col("pseudonym").hash(seed=0) if sort_key is None else sort_key
    by_hash = (
        periods.with_columns(key.alias("__key"))
        .sort(["__key", "valid_from"])
        .with_columns(
            same_key=pl.col("__key") == pl.col("__key").shift(1),
            same=pl.col("pseudonym") == pl.col("pseudonym").shift(1),
            prev_to=pl.col("valid_to").shift(1),
        )
    )
    if by_hash.select((pl.col("same_key") & ~pl.col("same")).any()).item():
        # a hash collision: fall back to sorting the pseudonyms themselves
        by_hash = periods.sort(["pseudonym", "valid_from"]).with_columns(
            same=pl.col("pseudonym") == pl.col("pseudonym").shift(1),
            prev_to=pl.col("valid_to").shift(1),
        )
    flagged = by_hash.filter(
        pl.col("same") & (pl.col("prev_to").is_null() | (pl.col("valid_from") < pl.col("prev_to")))
    )
    return int(flagged.get_column("pseudonym").n_unique())


def _overlapping_candidates(cand: pl.DataFrame, multi_mask: np.ndarray) -> int:
    """Number of pseudonyms with overlapping periods among the join candidates.

    Each interaction row's candidates are *all* periods of its pseudonym, so overlaps can be
    found per interaction row: sort by (row, valid_from) — integer and date keys, cheaper than
    sorting pseudonym strings — and compare consecutive periods, only for rows with more than
    one candidate period (``multi_mask``).
    """
    multi = cand.filter(pl.Series(multi_mask, dtype=pl.Boolean))
    if multi.height == 0:
        return 0
    flagged = (
        multi.sort([_ROW, "valid_from"])
        .with_columns(
            same=pl.col(_ROW) == pl.col(_ROW).shift(1),
            prev_to=pl.col("valid_to").shift(1),
        )
        .filter(
            pl.col("same")
            & (pl.col("prev_to").is_null() | (pl.col("valid_from") < pl.col("prev_to")))
        )
    )
    return int(flagged.get_column("pseudonym").n_unique())


def link(
    interactions: Any,
    history: Any,
    *,
    date_column: str = "date",
    ledger: RowLedger | None = None,
    on_overlap: Literal["raise", "ambiguous"] = "raise",
    history_check: Literal["relevant", "all"] = "relevant",
) -> LinkResult:
    """Link pseudonymised interactions to the BE valid at each interaction's date.

    A history period covers a date when ``valid_from <= date`` and (``valid_to`` is null or
    ``date < valid_to``): ``valid_from`` is **inclusive**, ``valid_to`` is **exclusive**, a
    null ``valid_to`` means the period is still open. So a KVK number that moved to a new BE on
    ``2021-07-01`` links interactions of ``2021-06-30`` to the old BE and of ``2021-07-01`` to
    the new one.

    Parameters
    ----------
    interactions : pandas.DataFrame or polars.DataFrame
        Pseudonymised interactions: ``pseudonym``, ``key_id``, ``scheme_version``,
        ``date_column`` and any analysis columns (kept as they are).
    history : pandas.DataFrame or polars.DataFrame
        Pseudonymised register history with columns :data:`HISTORY_COLUMNS`.
    date_column : str, default "date"
        The interaction date (Date, Datetime — its date part is used — or ISO strings).
    ledger : RowLedger, optional
        The intake ledger of the run that produced ``interactions``. Its ``pseudonymised``
        outcome must equal the number of interaction rows; the returned ledger refines it
        into the link outcomes (:meth:`RowLedger.refine`), so it still reconciles.
    on_overlap : {"raise", "ambiguous"}, default "raise"
        What to do when validity periods of one pseudonym overlap: raise a
        :class:`~kvklink.errors.LinkageError` naming the number of offending pseudonyms, or
        link anyway — interactions whose date falls in periods of *different* BEs become
        ``ambiguous`` (periods of the same BE still link) and
        :attr:`LinkResult.overlapping_pseudonyms` holds the count.
    history_check : {"relevant", "all"}, default "relevant"
        Check overlaps only among history periods of pseudonyms that occur in
        ``interactions`` (the only ones that can affect the result; fast), or in the whole
        history (sorts all of it). Row-level checks (nulls, ``valid_to <= valid_from``) always
        cover the whole history.

    Returns
    -------
    LinkResult
        ``.frame`` is ``interactions`` (same kind, same row order) plus ``be_id`` and
        ``link_status``; ``.ledger`` accounts for every row.

    Raises
    ------
    KeyMismatchError
        The two inputs carry different key ids or scheme versions, or either holds several.
    SchemaError
        A required column is missing, a date column has the wrong type, the history is empty,
        or ``interactions`` already has a ``be_id``/``link_status`` column.
    LinkageError
        The history violates its contract (null keys, empty periods, overlapping periods).

    Examples
    --------
    >>> import datetime as dt
    >>> import polars as pl
    >>> ids = dict(key_id="k" * 16, scheme_version="v1")
    >>> history = pl.DataFrame({"pseudonym": ["a", "b", "c"], "be_id": [1, 1, 2],
    ...     "valid_from": [dt.date(2015, 1, 1), dt.date(2021, 7, 1), dt.date(2019, 1, 1)],
    ...     "valid_to": [dt.date(2021, 7, 1), None, dt.date(2020, 1, 1)], **ids})
    >>> interactions = pl.DataFrame({"pseudonym": ["a", "b", "c", "d"],
    ...     "date": [dt.date(2021, 6, 30), dt.date(2021, 7, 1), dt.date(2022, 1, 1),
    ...              dt.date(2022, 1, 1)], **ids})
    >>> result = link(interactions, history)
    >>> result.frame["link_status"].to_list()
    ['linked', 'linked', 'not_valid_at_date', 'not_in_register']
    >>> result.frame["be_id"].to_list()
    [1, 1, None, None]
    >>> result.ledger.reconciles()
    True
    """
    inter, kind = to_polars(interactions, argument="interactions")
    hist, _ = to_polars(history, argument="history")
    require_columns(inter, (*_INTERACTION_ID_COLUMNS, date_column), argument="interactions")
    require_columns(hist, HISTORY_COLUMNS, argument="history")
    taken = [c for c in (*_OUTPUT_COLUMNS, _ROW) if c in inter.columns]
    if taken:
        msg = (
            f"The 'interactions' frame already has column(s) {', '.join(map(repr, taken))}, "
            "which link() adds. Hint: drop or rename them before linking."
        )
        raise SchemaError(msg)
    if hist.height == 0:
        msg = (
            "The 'history' frame has no rows, so nothing can link. "
            "Hint: check that the register extract was read from the right file."
        )
        raise SchemaError(msg)

    key_id, scheme_version = _check_keys(inter, hist)
    if ledger is not None:
        _check_upstream(ledger, inter.height)
    hist_dates = _check_history(hist)

    n_rows = inter.height
    date_expr = _as_date(inter, date_column, argument="interactions")
    keys = inter.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias(_ROW),
        pl.col("pseudonym").cast(pl.Utf8),
        date_expr.alias(_DATE),
    )
    hist_slim = hist.select(pl.col("pseudonym").cast(pl.Utf8), pl.col("be_id"), *hist_dates)
    # One hash join on the pseudonym; every candidate period of every interaction.
    cand = keys.filter(pl.col("pseudonym").is_not_null()).join(
        hist_slim, on="pseudonym", how="inner"
    )

    # Per interaction row (numpy scatter over the candidate rows, no group-by): how many
    # periods its pseudonym has, how many cover its date, and which candidate covers it.
    rows = cand.get_column(_ROW).to_numpy()
    n_cand = np.bincount(rows, minlength=n_rows)
    if history_check == "all":
        n_overlap = _overlapping(hist_slim.select("pseudonym", "valid_from", "valid_to"))
    else:
        n_overlap = _overlapping_candidates(cand, n_cand[rows] > 1)
    if n_overlap and on_overlap == "raise":
        msg = (
            f"The 'history' frame has overlapping validity periods for {n_overlap} pseudonym(s). "
            "Hint: fix the register extract, or pass on_overlap='ambiguous' to count the "
            "affected interactions as ambiguous."
        )
        raise LinkageError(msg)

    covers = (pl.col("valid_from") <= pl.col(_DATE)) & (
        pl.col("valid_to").is_null() | (pl.col(_DATE) < pl.col("valid_to"))
    )
    cover = cand.select(covers.fill_null(False)).to_series().to_numpy()
    hit_at = np.flatnonzero(cover)
    hit_rows = rows[hit_at]
    n_cover = np.bincount(hit_rows, minlength=n_rows)
    pick = np.full(n_rows, -1, dtype=np.int64)
    pick[hit_rows] = hit_at  # for rows with one covering period: that candidate
    ambiguous = np.zeros(n_rows, dtype=bool)
    several = n_cover[hit_rows] > 1
    if several.any():  # only with overlapping periods (on_overlap="ambiguous")
        dup = cand[hit_at[several]].group_by(_ROW).agg(pl.col("be_id").n_unique().alias("n"))
        amb_rows = dup.filter(pl.col("n") > 1).get_column(_ROW).to_numpy()
        ambiguous[amb_rows] = True

    flags = inter.select(no_pseudonym=pl.col("pseudonym").is_null(), no_date=date_expr.is_null())
    code = np.select(
        [
            flags.get_column("no_pseudonym").to_numpy(),
            flags.get_column("no_date").to_numpy(),
            n_cand == 0,
            n_cover == 0,
            ambiguous,
        ],
        [
            _CODE["no_pseudonym"],
            _CODE["no_date"],
            _CODE["not_in_register"],
            _CODE["not_valid_at_date"],
            _CODE["ambiguous"],
        ],
        default=_CODE["linked"],
    ).astype(np.uint8)
    linked = code == _CODE["linked"]
    gather = pl.Series(np.where(linked, pick, 0), dtype=pl.Int64)
    be_id = cand.get_column("be_id").gather(gather) if cand.height else None
    be_col = (
        pl.Series("be_id", [], dtype=hist.schema["be_id"]).extend_constant(None, n_rows)
        if be_id is None
        else pl.select(
            pl.when(pl.Series(linked)).then(be_id).otherwise(None).alias("be_id")
        ).to_series()
    )
    status_col = pl.Series("link_status", code).replace_strict(
        list(_CODE.values()), list(_CODE), return_dtype=pl.Utf8
    )
    out = inter.with_columns(be_col, status_col)
    tally = np.bincount(code, minlength=len(LINK_STATUSES))
    counts = {s: int(tally[_CODE[s]]) for s in LINK_STATUSES}
    if sum(counts.values()) != n_rows:  # pragma: no cover - internal invariant
        msg = "Internal error: link outcomes do not cover every row. Hint: report a bug."
        raise LinkageError(msg)
    context = {"key_id": key_id, "scheme_version": scheme_version, "date_column": date_column}
    if ledger is None:
        link_ledger = RowLedger(counts, total_input=n_rows, stage="link", context=context)
    else:
        link_ledger = ledger.refine(_CONSUMED_OUTCOME, counts, stage="link")
    return LinkResult(
        frame=like_input(out, kind),
        ledger=link_ledger,
        counts=counts,
        key_id=key_id,
        scheme_version=scheme_version,
        overlapping_pseudonyms=n_overlap,
    )


def _check_upstream(ledger: RowLedger, n_rows: int) -> None:
    """The intake ledger must account for exactly the interaction rows given."""
    if not isinstance(ledger, RowLedger):
        msg = (
            f"The 'ledger' argument must be a RowLedger, got {type(ledger).__name__}. "
            "Hint: pass the .ledger of the pseudonymise() result."
        )
        raise SchemaError(msg)
    clash = sorted(set(ledger.counts) & set(LINK_STATUSES))
    if clash:
        msg = (
            f"The 'ledger' already holds link outcome(s) {', '.join(map(repr, clash))}. "
            "Hint: pass the ledger of the intake (pseudonymise) run, not of an earlier link."
        )
        raise LinkageError(msg)
    reached = ledger[_CONSUMED_OUTCOME]
    if reached != n_rows:
        msg = (
            f"The 'ledger' counts {reached} pseudonymised row(s) but 'interactions' has "
            f"{n_rows} row(s). Hint: pass the ledger of the pseudonymise run that produced "
            "this interactions frame, unfiltered."
        )
        raise LinkageError(msg)


def _check_keys(inter: pl.DataFrame, hist: pl.DataFrame) -> tuple[str, str]:
    """Refuse inputs whose key ids or scheme versions differ (key ids are not secret)."""
    hist_key = _single_value(hist, "key_id", argument="history", what="key id")
    hist_scheme = _single_value(hist, "scheme_version", argument="history", what="scheme version")
    if hist_key is None or hist_scheme is None:
        msg = (
            "The 'history' frame has no key id or scheme version (all null). "
            "Hint: pass the frame produced by pseudonymise(), which records both."
        )
        raise SchemaError(msg)
    inter_key = _single_value(inter, "key_id", argument="interactions", what="key id")
    inter_scheme = _single_value(
        inter, "scheme_version", argument="interactions", what="scheme version"
    )
    has_pseudonyms = inter.height > 0 and inter.get_column("pseudonym").null_count() < inter.height
    if has_pseudonyms and (inter_key is None or inter_scheme is None):
        msg = (
            "The 'interactions' frame has pseudonyms but no key id or scheme version. "
            "Hint: pass the frame produced by pseudonymise(), which records both."
        )
        raise SchemaError(msg)
    if inter_key is not None and inter_key != hist_key:
        msg = (
            f"Key ids differ: interactions were pseudonymised with key id {inter_key!r}, the "
            f"history with key id {hist_key!r}; their pseudonyms can never meet. Hint: "
            "pseudonymise both with the same purpose key (same master key and purpose label)."
        )
        raise KeyMismatchError(msg)
    if inter_scheme is not None and inter_scheme != hist_scheme:
        msg = (
            f"Scheme versions differ: interactions use {inter_scheme!r}, the history "
            f"{hist_scheme!r} (key id {hist_key!r} for both). Hint: re-pseudonymise both "
            "inputs with the same kvklink scheme version."
        )
        raise KeyMismatchError(msg)
    return hist_key, hist_scheme


def _check_history(hist: pl.DataFrame) -> list[pl.Expr]:
    """Row-level checks of the whole history; returns the date expressions to use."""
    frm = _as_date(hist, "valid_from", argument="history").alias("valid_from")
    to = _as_date(hist, "valid_to", argument="history").alias("valid_to")
    checks = hist.select(
        null_key=pl.col("pseudonym").is_null().sum() + pl.col("be_id").is_null().sum(),
        null_from=frm.is_null().sum(),
        empty=(to.is_not_null() & (to <= frm)).sum(),
    ).row(0, named=True)
    if checks["null_key"]:
        msg = (
            f"The 'history' frame has {checks['null_key']} null pseudonym or be_id value(s). "
            "Hint: drop history rows without a pseudonym or BE before linking."
        )
        raise LinkageError(msg)
    if checks["null_from"]:
        msg = (
            f"The 'history' frame has {checks['null_from']} row(s) without valid_from. "
            "Hint: every period needs a start date; use the registration date."
        )
        raise LinkageError(msg)
    if checks["empty"]:
        msg = (
            f"The 'history' frame has {checks['empty']} period(s) with valid_to on or before "
            "valid_from (valid_to is exclusive). Hint: drop or fix these empty periods."
        )
        raise LinkageError(msg)
    return [frm, to]
