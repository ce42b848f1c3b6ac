"""Consent: which interactions may be processed for a purpose at a date.

A row may be pseudonymised for purpose ``P`` at date ``as_of`` only when the firm consented to
``P`` on or before ``as_of`` and had not withdrawn that consent by ``as_of`` (privacy-model.md).
:class:`ConsentPolicy` reads four columns (default names, all overridable):

=========================== ================================================================
column                      content
=========================== ================================================================
``consent``                 consent flag: Boolean, 0/1, or text (true/false, ja/nee, yes/no)
``consent_purposes``        purposes consented to: ``;``-separated text or a list of strings
``consent_date``            date the consent was given (Date, Datetime or ISO text)
``consent_withdrawn_date``  date the consent was withdrawn, null if never (Date/Datetime/text)
=========================== ================================================================

Every row gets exactly one outcome, checked in this order (the first that applies wins):

1. ``no_consent``: the flag is false or null, or the consent date is null (consent that
   cannot be dated cannot be shown to precede ``as_of``);
2. ``purpose_not_covered``: the purposes do not include ``P`` (exact label, whitespace around
   each label ignored);
3. ``consent_after_as_of``: the consent date is after ``as_of``;
4. ``consent_withdrawn``: **any** row of the same firm (same normalised KVK number) has a
   withdrawal date on or before ``as_of`` for a consent that covered ``P`` (or listed no
   purposes). Withdrawal is per firm and purpose, so it excludes *all* the firm's rows,
   including rows that look consented on their own. A later renewed consent does not undo a
   withdrawal (the conservative reading);
5. otherwise ``consented``.

:func:`kvklink.pseudonymise` puts the identifier check before all of these: rows with an
unusable KVK number are quarantined with their identifier reason instead.

Examples
--------
>>> import datetime as dt, polars as pl
>>> policy = ConsentPolicy("evaluatie-2024", "2024-06-30")
>>> df = pl.DataFrame({
...     "kvk_nummer": ["12345678", "12345678", "87654321", "11111111"],
...     "consent": [True, True, True, False],
...     "consent_purposes": ["evaluatie-2024", "evaluatie-2024", "nieuwsbrief", None],
...     "consent_date": [dt.date(2024, 1, 1)] * 4,
...     "consent_withdrawn_date": [None, dt.date(2024, 3, 1), None, None],
... })
>>> policy.outcomes(df).to_list()
['consent_withdrawn', 'consent_withdrawn', 'purpose_not_covered', 'no_consent']
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from kvklink._identifiers import kvk_number_expr
from kvklink.errors import ConsentError
from kvklink.frames import like_input, to_polars

__all__ = ["CONSENTED", "CONSENT_OUTCOMES", "ConsentPolicy"]

#: The outcomes that exclude a row, in the order they are checked.
CONSENT_OUTCOMES: tuple[str, ...] = (
    "no_consent",
    "purpose_not_covered",
    "consent_after_as_of",
    "consent_withdrawn",
)
#: The outcome of a row that may be processed.
CONSENTED = "consented"

_TRUE = ("true", "t", "ja", "j", "yes", "y", "1")
_FALSE = ("false", "f", "nee", "n", "no", "0")


def _parse_as_of(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
        msg = (
            "The 'as_of' argument of ConsentPolicy is not an ISO date. "
            "Hint: write it as YYYY-MM-DD, e.g. '2024-06-30'."
        )
        raise ConsentError(msg)
    msg = (
        f"The 'as_of' argument of ConsentPolicy must be a date or an ISO date string, got "
        f"{type(value).__name__}. Hint: pass datetime.date(2024, 6, 30) or '2024-06-30'."
    )
    raise ConsentError(msg)


class ConsentPolicy:
    """Consent rules for one purpose at one date.

    Parameters
    ----------
    purpose
        The purpose label; must equal the purpose of the key used to pseudonymise.
    as_of
        The date processing happens (``datetime.date`` or ``"YYYY-MM-DD"``).
    consent_column, purposes_column, consent_date_column, withdrawal_column
        Column names in the interactions frame. ``withdrawal_column=None`` states explicitly
        that the data record no withdrawals.

    Raises
    ------
    ConsentError
        ``as_of`` is not a date, or (when applied) a named column is missing or has a type
        that cannot be read.

    Examples
    --------
    >>> ConsentPolicy("evaluatie-2024", "2024-06-30")
    ConsentPolicy(purpose='evaluatie-2024', as_of=datetime.date(2024, 6, 30))
    """

    __slots__ = (
        "_as_of",
        "_consent_column",
        "_consent_date_column",
        "_purpose",
        "_purposes_column",
        "_withdrawal_column",
    )

    def __init__(
        self,
        purpose: str,
        as_of: dt.date | str,
        *,
        consent_column: str = "consent",
        purposes_column: str = "consent_purposes",
        consent_date_column: str = "consent_date",
        withdrawal_column: str | None = "consent_withdrawn_date",
    ) -> None:
        if not isinstance(purpose, str) or not purpose.strip():
            msg = (
                "The 'purpose' argument of ConsentPolicy must be a non-empty label. "
                "Hint: use the purpose of your key, e.g. 'evaluatie-2024'."
            )
            raise ConsentError(msg)
        names = {
            "consent_column": consent_column,
            "purposes_column": purposes_column,
            "consent_date_column": consent_date_column,
        }
        for arg, name in names.items():
            if not isinstance(name, str) or not name:
                msg = f"The {arg!r} argument of ConsentPolicy must be a column name (str)."
                raise ConsentError(msg)
        if withdrawal_column is not None and not isinstance(withdrawal_column, str):
            msg = "The 'withdrawal_column' argument of ConsentPolicy must be a str or None."
            raise ConsentError(msg)
        self._purpose = purpose
        self._as_of = _parse_as_of(as_of)
        self._consent_column = consent_column
        self._purposes_column = purposes_column
        self._consent_date_column = consent_date_column
        self._withdrawal_column = withdrawal_column

    @property
    def purpose(self) -> str:
        """The purpose label."""
        return self._purpose

    @property
    def as_of(self) -> dt.date:
        """The processing date."""
        return self._as_of

    @property
    def consent_column(self) -> str:
        """Name of the consent flag column."""
        return self._consent_column

    @property
    def purposes_column(self) -> str:
        """Name of the consented purposes column."""
        return self._purposes_column

    @property
    def consent_date_column(self) -> str:
        """Name of the consent date column."""
        return self._consent_date_column

    @property
    def withdrawal_column(self) -> str | None:
        """Name of the withdrawal date column (``None``: no withdrawals recorded)."""
        return self._withdrawal_column

    @property
    def columns(self) -> tuple[str, ...]:
        """The column names this policy reads."""
        cols = (self._consent_column, self._purposes_column, self._consent_date_column)
        return (*cols, self._withdrawal_column) if self._withdrawal_column else cols

    def __repr__(self) -> str:
        return f"ConsentPolicy(purpose={self._purpose!r}, as_of={self._as_of!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ConsentPolicy):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, s) for s in self.__slots__))

    # -- validation ----------------------------------------------------------------------------
    def validate(self, frame: Any) -> None:
        """Check that ``frame`` has every consent column, with a readable type.

        Raises
        ------
        ConsentError
            Naming the missing column and the ConsentPolicy argument that sets it.
        """
        df, _ = to_polars(frame, argument="frame")
        self._check_schema(df.schema)

    def _check_schema(self, schema: pl.Schema) -> None:
        args = {
            self._consent_column: "consent_column",
            self._purposes_column: "purposes_column",
            self._consent_date_column: "consent_date_column",
        }
        if self._withdrawal_column:
            args[self._withdrawal_column] = "withdrawal_column"
        for column, arg in args.items():
            if column not in schema:
                have = ", ".join(repr(c) for c in list(schema)[:12])
                msg = (
                    f"The consent policy needs column {column!r} ({arg}) but the frame lacks "
                    f"it; the frame has: {have}. Hint: pass ConsentPolicy(..., {arg}='<your "
                    "column>') to name the right column"
                    + (
                        ", or withdrawal_column=None if no withdrawals are recorded."
                        if arg == "withdrawal_column"
                        else "."
                    )
                )
                raise ConsentError(msg)
        flag = schema[self._consent_column]
        if not (flag == pl.Boolean or flag.is_integer() or flag in (pl.String, pl.Null)):
            msg = (
                f"Consent column {self._consent_column!r} has dtype {flag}; expected Boolean, "
                "0/1 integers or true/false text. Hint: cast it to pl.Boolean."
            )
            raise ConsentError(msg)
        purposes = schema[self._purposes_column]
        ok_list = isinstance(purposes, pl.List) and purposes.inner in (pl.String, pl.Null)
        if not (purposes in (pl.String, pl.Null, pl.Categorical) or ok_list):
            msg = (
                f"Purposes column {self._purposes_column!r} has dtype {purposes}; expected "
                "';'-separated text or a list of strings. Hint: cast it to pl.String."
            )
            raise ConsentError(msg)
        for date_col in (self._consent_date_column, self._withdrawal_column):
            if date_col is None:
                continue
            column = date_col
            dtype = schema[column]
            if not (dtype in (pl.Date, pl.String, pl.Null) or isinstance(dtype, pl.Datetime)):
                msg = (
                    f"Date column {column!r} has dtype {dtype}; expected Date, Datetime or ISO "
                    "text. Hint: cast it with .str.to_date() or .cast(pl.Date)."
                )
                raise ConsentError(msg)

    # -- evaluation ----------------------------------------------------------------------------
    def _flag_expr(self, df: pl.DataFrame) -> pl.Expr:
        col = pl.col(self._consent_column)
        dtype = df.schema[self._consent_column]
        if dtype == pl.Boolean:
            return col
        if dtype == pl.Null:
            return col.cast(pl.Boolean)
        if dtype.is_integer():
            bad = df.select((col.is_not_null() & ~col.is_in([0, 1])).sum()).item()
            if bad:
                msg = (
                    f"Consent column {self._consent_column!r} holds {bad} integer value(s) "
                    "other than 0 and 1. Hint: recode consent as 0/1 or true/false."
                )
                raise ConsentError(msg)
            return col == 1
        text = col.str.strip_chars().str.to_lowercase()
        bad = df.select(
            (text.is_not_null() & (text != "") & ~text.is_in(_TRUE + _FALSE)).sum()
        ).item()
        if bad:
            msg = (
                f"Consent column {self._consent_column!r} holds {bad} text value(s) that are "
                "not true/false, ja/nee, yes/no or 1/0. Hint: recode the column to Boolean."
            )
            raise ConsentError(msg)
        return pl.when(text.is_in(_TRUE)).then(True).when(text.is_in(_FALSE)).then(False)

    def _date_expr(self, df: pl.DataFrame, column: str) -> pl.Expr:
        col = pl.col(column)
        dtype = df.schema[column]
        if dtype == pl.Date:
            return col
        if isinstance(dtype, pl.Datetime):
            return col.dt.date()
        if dtype == pl.Null:
            return col.cast(pl.Date)
        text = col.str.strip_chars()
        parsed = text.str.to_date("%Y-%m-%d", strict=False)
        bad = df.select((text.is_not_null() & (text != "") & parsed.is_null()).sum()).item()
        if bad:
            msg = (
                f"Date column {column!r} holds {bad} value(s) that are not ISO dates "
                "(YYYY-MM-DD). Hint: parse the column to pl.Date first."
            )
            raise ConsentError(msg)
        return parsed

    def _covers_expr(self, df: pl.DataFrame) -> tuple[pl.Expr, pl.Expr]:
        """(purposes include P, purposes are empty/null) per row.

        For text the ``;``-split is evaluated once per *distinct* purposes string (there are
        few) and mapped back with ``is_in``, instead of splitting every row.
        """
        col = pl.col(self._purposes_column)
        dtype = df.schema[self._purposes_column]
        if isinstance(dtype, pl.List):
            covers, empty = self._list_covers(col.cast(pl.List(pl.String)))
            return covers.fill_null(False), empty.fill_null(True)
        distinct = df.select(col.cast(pl.String).unique().drop_nulls().alias("p"))
        flags = distinct.select(pl.col("p"), *self._list_covers(pl.col("p").str.split(";")))
        values, covers_v, empty_v = (flags[:, 0], flags[:, 1], flags[:, 2])
        text = col.cast(pl.String)
        covers = text.is_in(values.filter(covers_v).implode()).fill_null(False)
        empty = text.is_null() | text.is_in(values.filter(empty_v).implode()).fill_null(False)
        return covers, empty

    def _list_covers(self, items: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
        items = items.list.eval(pl.element().str.strip_chars()).list.eval(
            pl.element().filter(pl.element() != "")
        )
        covers = items.list.contains(pl.lit(self._purpose)).fill_null(False).alias("covers")
        empty = (items.is_null() | (items.list.len() == 0)).alias("empty")
        return covers, empty

    def _outcome_expr(self, df: pl.DataFrame, kvk: pl.Expr) -> pl.Expr:
        """Expression with one outcome per row (``consented`` or a :data:`CONSENT_OUTCOMES`).

        ``kvk`` is the normalised KVK number expression (null for unusable ids); rows with the
        same non-null KVK number form one firm for withdrawal. The set of withdrawn firms is
        computed here (eagerly, usually tiny) so the expression needs no group-by.
        """
        self._check_schema(df.schema)
        flag = self._flag_expr(df).fill_null(False)
        given = self._date_expr(df, self._consent_date_column)
        covers, empty = self._covers_expr(df)
        as_of = pl.lit(self._as_of, dtype=pl.Date)
        if self._withdrawal_column is None:
            withdrawn_firm: pl.Expr = pl.lit(False)
        else:
            withdrawn = self._date_expr(df, self._withdrawal_column)
            withdrawn_row = ((withdrawn <= as_of) & (covers | empty)).fill_null(False)
            firms = (
                df.lazy()
                .select(kvk.alias("k"), withdrawn_row.alias("w"))
                .filter(pl.col("w") & pl.col("k").is_not_null())
                .select(pl.col("k").unique())
                .collect()
                .to_series()
            )
            withdrawn_firm = withdrawn_row | kvk.is_in(firms.implode()).fill_null(False)
        return (
            pl.when(~flag | given.is_null())
            .then(pl.lit("no_consent"))
            .when(~covers)
            .then(pl.lit("purpose_not_covered"))
            .when(given > as_of)
            .then(pl.lit("consent_after_as_of"))
            .when(withdrawn_firm)
            .then(pl.lit("consent_withdrawn"))
            .otherwise(pl.lit(CONSENTED))
        )

    def outcomes(self, frame: Any, *, column: str = "kvk_nummer") -> Any:
        """Return the consent outcome of every row of ``frame`` (caller's kind of series).

        ``column`` holds the KVK numbers (normalised here with
        :func:`kvklink.kvk_number_expr`) that group rows into firms for withdrawal.
        """
        df, kind = to_polars(frame, argument="frame")
        if column not in df.columns:
            msg = f"The frame lacks KVK column {column!r}. Hint: pass column='<your KVK column>'."
            raise ConsentError(msg)
        kvk = kvk_number_expr(column).struct.field("kvk")
        out = df.select(self._outcome_expr(df, kvk).alias("consent_outcome"))
        result = like_input(out, kind)
        return result["consent_outcome"]
