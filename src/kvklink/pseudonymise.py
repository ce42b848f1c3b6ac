"""The intake stage: validate, normalise KVK numbers, apply consent, pseudonymise, account.

:func:`pseudonymise` turns a raw frame (service interactions, or the register's KVK-number
history) into a pseudonymised frame that carries analysis columns, ``pseudonym``, ``key_id``
and ``scheme_version`` only. Every input row gets exactly one outcome in the
:class:`~kvklink.ledger.RowLedger`; rows with unusable KVK numbers go to a quarantine frame
that stays with the data holder.

Which columns leave
-------------------
An **allow-list**. With ``keep=None`` the output keeps the input columns named in
:data:`DEFAULT_KEEP` (non-identifying analysis columns of the interactions and the register
history) plus ``date_column``; every other column is dropped and listed in
:attr:`PseudonymisationResult.dropped_columns`. With ``keep=[...]`` exactly those columns are
kept (an explicit choice, which may include columns from :data:`IDENTIFYING_COLUMNS`). The
KVK column itself never survives, whatever ``keep`` says.

Pipeline (no Python loop per row): :func:`~kvklink.identifiers.kvk_number_expr` → consent
outcome expression → HMAC-SHA256 over the **unique** consented KVK numbers (each hashed once)
→ gathered back onto the rows.

Examples
--------
>>> import datetime as dt, polars as pl
>>> from kvklink import ConsentPolicy, LinkageKey
>>> key = LinkageKey.from_hex("00" * 32).for_purpose("evaluatie-2024")
>>> raw = pl.DataFrame({
...     "interaction_id": ["a", "b", "c"],
...     "kvk_nummer": ["KvK 1234 5678", "12345678", "n.v.t."],
...     "company_name": ["X BV", "X BV", "Y"],
...     "consent": [True, True, True],
...     "consent_purposes": ["evaluatie-2024"] * 3,
...     "consent_date": [dt.date(2024, 1, 1)] * 3,
...     "consent_withdrawn_date": [None, None, None],
... })
>>> res = pseudonymise(raw, key=key, consent=ConsentPolicy("evaluatie-2024", "2024-06-30"))
>>> res.frame.columns
['interaction_id', 'pseudonym', 'key_id', 'scheme_version']
>>> {k: n for k, n in res.ledger.counts.items() if n}
{'pseudonymised': 2, 'missing': 1}
>>> res.frame["pseudonym"].n_unique(), res.quarantine.height
(1, 1)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import polars as pl

from kvklink._identifiers import (
    KVK_REASONS,
    USABLE_KVK_REASONS,
    check_identifier_dtype,
    is_numeric_dtype,
    kvk_number_expr,
)
from kvklink.consent import CONSENT_OUTCOMES, CONSENTED, ConsentPolicy
from kvklink.errors import ConsentError, IdentifierError, InputError, SchemaError
from kvklink.frames import FrameKind, like_input, require_columns, to_polars
from kvklink.keys import PurposeKey
from kvklink.ledger import RowLedger

__all__ = [
    "DEFAULT_KEEP",
    "IDENTIFYING_COLUMNS",
    "OUTPUT_COLUMNS",
    "PseudonymisationResult",
    "pseudonymise",
]

logger = logging.getLogger(__name__)

#: Columns kept by default when present: non-identifying analysis columns of the interactions
#: (synthetic schema) and of the register's KVK-number history, plus coarse covariates.
DEFAULT_KEEP: tuple[str, ...] = (
    # interactions
    "interaction_id",
    "date",
    "activity",
    "statutory_task",
    "channel",
    # register history and business-unit covariates
    "be_id",
    "valid_from",
    "valid_to",
    "year",
    "sbi",
    "sbi_version",
    "section",
    "size_class_kvk",
    "size_class_cbs",
    "size_band",
    "legal_form",
    "province",
    "kvk_region",
)

#: Columns that identify a firm or a person. Never kept by default; kept only when named in
#: ``keep=`` (the KVK column itself is never kept).
IDENTIFYING_COLUMNS: tuple[str, ...] = (
    "kvk_nummer",
    "kvk",
    "true_kvk_nummer",
    "vestigingsnummer",
    "rsin",
    "bsn",
    "btw_id",
    "company_name",
    "trade_name",
    "name",
    "contact_name",
    "email",
    "phone",
    "street",
    "house_number",
    "postcode",
    "city",
    "address",
    "municipality",
    "consent",
    "consent_purposes",
    "consent_date",
    "consent_withdrawn_date",
)

#: Columns :func:`pseudonymise` adds to the output.
OUTPUT_COLUMNS: tuple[str, ...] = ("pseudonym", "key_id", "scheme_version")

_ID = "__kvklink_id"
_KVK = "__kvklink_kvk"
_REASON = "__kvklink_reason"
_OUTCOME = "__kvklink_outcome"
_PSEUDONYM_OK = "pseudonymised"


@dataclass(frozen=True, repr=False, eq=False)
class PseudonymisationResult:
    """What :func:`pseudonymise` returns.

    Attributes
    ----------
    frame
        The pseudonymised rows (caller's kind): kept columns + ``pseudonym``, ``key_id``,
        ``scheme_version``, in input order.
    ledger
        One outcome per input row (:class:`~kvklink.ledger.RowLedger`).
    quarantine
        Input rows with an unusable KVK number, all their columns plus ``reason`` (caller's
        kind). **Contains raw identifiers: for the data holder only.**
    key_id, scheme_version, purpose
        The key the pseudonyms were made with.
    dropped_columns
        Input columns that were not kept (names only).
    """

    frame: Any
    ledger: RowLedger
    quarantine: Any
    key_id: str
    scheme_version: str
    purpose: str
    dropped_columns: tuple[str, ...]

    def __repr__(self) -> str:
        return (
            f"PseudonymisationResult(rows={len(self.frame)}, quarantined={len(self.quarantine)}, "
            f"purpose={self.purpose!r}, key_id={self.key_id!r}, "
            f"scheme_version={self.scheme_version!r}, ledger={self.ledger!r})"
        )


def _pandas_to_polars(frame: pd.DataFrame, column: str) -> pl.DataFrame:
    """Convert a pandas frame; an object KVK column mixing ints and strings becomes text.

    The direct conversion is tried first: converting every object column to text up front
    would cost a pass over millions of Python objects that is rarely needed.
    """
    try:
        return to_polars(frame, argument="frame")[0]
    except SchemaError:
        series = frame[column] if column in frame.columns else None
        if not isinstance(series, pd.Series) or series.dtype != object:
            raise
        return to_polars(frame.assign(**{column: series.astype("string")}), argument="frame")[0]


def _output_columns(
    df: pl.DataFrame,
    *,
    column: str,
    keep: Sequence[str] | None,
    date_column: str,
    consent: ConsentPolicy | None,
) -> list[str]:
    if keep is None:
        allowed = {*DEFAULT_KEEP, date_column}
        consent_cols = set(consent.columns) if consent else set()
        return [c for c in df.columns if c in allowed and c != column and c not in consent_cols]
    if isinstance(keep, str) or not all(isinstance(c, str) for c in keep):
        msg = (
            "The 'keep' argument must be a sequence of column names. "
            "Hint: keep=['interaction_id', 'date']."
        )
        raise InputError(msg)
    kept = list(dict.fromkeys(keep))
    if column in kept:
        msg = (
            f"The 'keep' argument names the KVK column {column!r}; raw KVK numbers never leave "
            "pseudonymisation. Hint: remove it from keep; the output carries 'pseudonym'."
        )
        raise SchemaError(msg)
    clash = [c for c in kept if c in OUTPUT_COLUMNS]
    if clash:
        msg = (
            f"The 'keep' argument names {clash}, which pseudonymise adds itself. "
            "Hint: drop or rename those input columns."
        )
        raise SchemaError(msg)
    require_columns(df, kept, argument="frame")
    identifying = [c for c in kept if c in IDENTIFYING_COLUMNS]
    if identifying:
        logger.info("keeping identifying column(s) %s as requested by keep=", identifying)
    return kept


def _check_arguments(key: object, consent: object, column: object, date_column: object) -> None:
    if not isinstance(key, PurposeKey):
        msg = (
            f"The 'key' argument must be a PurposeKey, got {type(key).__name__}. "
            "Hint: key=LinkageKey.from_env().for_purpose('evaluatie-2024')."
        )
        raise InputError(msg)
    if consent is not None and not isinstance(consent, ConsentPolicy):
        msg = (
            f"The 'consent' argument must be a ConsentPolicy or None, got "
            f"{type(consent).__name__}. Hint: consent=ConsentPolicy(purpose, as_of), or "
            "consent=None for the register."
        )
        raise ConsentError(msg)
    if isinstance(consent, ConsentPolicy) and consent.purpose != key.purpose:
        msg = (
            f"The consent policy is for purpose {consent.purpose!r} but the key was derived for "
            f"purpose {key.purpose!r}. Hint: use one purpose label for both."
        )
        raise ConsentError(msg)
    for arg, value in (("column", column), ("date_column", date_column)):
        if not isinstance(value, str) or not value:
            msg = f"The {arg!r} argument must be a column name (str)."
            raise InputError(msg)


def pseudonymise(
    frame: Any,
    *,
    key: PurposeKey,
    consent: ConsentPolicy | None,
    column: str = "kvk_nummer",
    keep: Sequence[str] | None = None,
    date_column: str = "date",
) -> PseudonymisationResult:
    """Pseudonymise the KVK numbers of ``frame`` and account for every row.

    Parameters
    ----------
    frame
        pandas or polars frame (a polars LazyFrame is collected).
    key
        The purpose key (:meth:`kvklink.LinkageKey.for_purpose`).
    consent
        Required keyword. A :class:`~kvklink.ConsentPolicy` for interactions; ``None`` only
        for the register side, written out explicitly so consent is never skipped by accident.
        The policy's purpose must equal the key's.
    column
        The column holding raw KVK numbers (text, ints or floats). Never kept.
    keep
        Columns to keep (exactly these). ``None`` keeps the :data:`DEFAULT_KEEP` columns
        present plus ``date_column``.
    date_column
        The interaction date column: kept by default and checked to hold dates (Date,
        Datetime or text). Consent is judged at the policy's ``as_of`` date.

    Returns
    -------
    PseudonymisationResult
        ``.frame`` and ``.quarantine`` in the caller's kind, ``.ledger``, ``.key_id``,
        ``.scheme_version``.

    Raises
    ------
    SchemaError
        ``frame`` is empty or not a frame, ``column`` (or a ``keep`` column) is missing, or
        ``column`` has a dtype that cannot hold KVK numbers (list, struct, boolean, date …).
    IdentifierError
        No row has a usable KVK number.
    ConsentError
        A consent column is missing or unreadable, or the policy's purpose differs from the
        key's.
    """
    _check_arguments(key, consent, column, date_column)
    source = frame
    from_pandas = isinstance(source, pd.DataFrame)
    if from_pandas:
        # Convert only the columns the computation reads: pandas text columns cost one Python
        # object per cell to convert. Kept columns never enter polars; their rows are taken
        # from the caller's frame at the end (keeping their pandas dtypes). Names and dtypes
        # are checked on an empty probe, so errors list every column of the caller's frame.
        probe, _ = to_polars(source.head(0), argument="frame")
        names = probe.columns
        require_columns(probe, [column], argument="frame")
        wanted = {column, *(consent.columns if consent is not None else ())}
        df = _pandas_to_polars(source[[c for c in names if c in wanted]], column)
        kind: FrameKind = "pandas"
        schema = probe.schema
    else:
        df, kind = to_polars(source, argument="frame")
        names = df.columns
        schema = df.schema
    if df.height == 0:
        msg = (
            f"The 'frame' argument has no rows (columns: {len(names)}). "
            "Hint: check that the input file holds data."
        )
        raise SchemaError(msg)
    require_columns(df, [column], argument="frame")
    dtype = df.schema[column]
    check_identifier_dtype(dtype, column=column, argument="frame")
    if date_column in schema:
        d = schema[date_column]
        if not (d in (pl.Date, pl.String, pl.Null) or isinstance(d, pl.Datetime)):
            msg = (
                f"Date column {date_column!r} has dtype {d}; expected Date, Datetime or text. "
                "Hint: pass date_column='<your date column>' or cast it to pl.Date."
            )
            raise SchemaError(msg)
    if consent is not None:
        if from_pandas:
            consent._check_schema(probe.schema)  # names: errors list every column
        consent._check_schema(df.schema)
    kept = _output_columns(
        probe if from_pandas else df,
        column=column,
        keep=keep,
        date_column=date_column,
        consent=consent,
    )

    # 1. normalise and classify (one polars pass)
    ident = kvk_number_expr(column, numeric=is_numeric_dtype(dtype))
    work = (
        df.with_columns(ident.alias(_ID))
        .with_columns(
            pl.col(_ID).struct.field("kvk").alias(_KVK),
            pl.col(_ID).struct.field("reason").alias(_REASON),
        )
        .drop(_ID)
    )
    usable = pl.col(_REASON).is_in(list(USABLE_KVK_REASONS))
    n_usable = work.select(usable.sum()).item()
    if n_usable == 0:
        reasons = work[_REASON].value_counts(sort=True)
        summary = ", ".join(f"{r}={n}" for r, n in reasons.iter_rows())
        msg = (
            f"Column {column!r} holds no usable KVK number in {df.height} rows ({summary}). "
            "Hint: check that 'column' names the KVK-number column and that numbers are "
            "8 digits."
        )
        raise IdentifierError(msg)

    # 2. consent (identifier reasons take precedence)
    if consent is not None:
        consent_outcome = consent._outcome_expr(work, pl.col(_KVK))
        after_id = (
            pl.when(consent_outcome == CONSENTED)
            .then(pl.lit(_PSEUDONYM_OK))
            .otherwise(consent_outcome)
        )
    else:
        after_id = pl.lit(_PSEUDONYM_OK)
    work = work.with_columns(
        pl.when(usable).then(after_id).otherwise(pl.col(_REASON)).alias(_OUTCOME)
    )

    # 3. HMAC over the unique consented KVK numbers only, mapped back to the rows: the distinct
    #    numbers are hashed once each and every row gathers its pseudonym by dense rank.
    selected = work.filter(pl.col(_OUTCOME) == _PSEUDONYM_OK)
    pseudonyms = key._pseudonymise_valid_kvk(selected[_KVK])
    out = selected.with_columns(pseudonyms.alias("pseudonym")).select(
        *([] if from_pandas else kept),
        "pseudonym",
        pl.lit(key.key_id, dtype=pl.String).alias("key_id"),
        pl.lit(key.scheme_version, dtype=pl.String).alias("scheme_version"),
    )
    if from_pandas:
        rows = work.select(pl.arg_where(pl.col(_OUTCOME) == _PSEUDONYM_OK)).to_series()
        taken = source[kept].iloc[rows.to_numpy()].reset_index(drop=True)
        result_frame = pd.concat([taken, like_input(out, "pandas")], axis=1)
    else:
        result_frame = like_input(out, kind)

    # 4. quarantine (raw identifiers!) and ledger (counts only)
    reason_name = "reason" if "reason" not in names else "kvklink_reason"
    bad = work.select(pl.arg_where(~usable)).to_series()
    if from_pandas:
        raw = _pandas_to_polars(source.iloc[bad.to_numpy()], column)
        quarantine = raw.with_columns(work[_REASON].gather(bad).alias(reason_name))
    else:
        quarantine = work.filter(~usable).select(*names, pl.col(_REASON).alias(reason_name))
    include = [_PSEUDONYM_OK, *(r for r in KVK_REASONS if r not in USABLE_KVK_REASONS)]
    if consent is not None:
        include += list(CONSENT_OUTCOMES)
    padded = work.select((pl.col(_REASON) == "padded_numeric").sum()).item()
    ledger = RowLedger.from_outcomes(
        work[_OUTCOME],
        include=tuple(include),
        flags={"padded_numeric": int(padded)},
        context={
            "purpose": key.purpose,
            "key_id": key.key_id,
            "scheme_version": key.scheme_version,
            "consent": consent is not None,
            "as_of": consent.as_of.isoformat() if consent is not None else None,
            "column": column,
        },
    )
    if not ledger.reconciles():  # pragma: no cover - an internal invariant
        msg = "Row ledger does not reconcile with the input rows. Hint: report this as a bug."
        raise InputError(msg)
    dropped = tuple(c for c in names if c not in kept)
    logger.info(
        "pseudonymised %d of %d rows (%d quarantined, %d excluded by consent)",
        out.height,
        df.height,
        quarantine.height,
        df.height - out.height - quarantine.height,
    )
    return PseudonymisationResult(
        frame=result_frame,
        ledger=ledger,
        quarantine=like_input(quarantine, kind),
        key_id=key.key_id,
        scheme_version=key.scheme_version,
        purpose=key.purpose,
        dropped_columns=dropped,
    )
