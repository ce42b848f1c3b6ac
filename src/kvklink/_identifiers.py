"""KVK numbers, vestigingsnummers and RSINs: vectorised normalisation and validation.

Everything here is vectorised: polars expressions, plus a one-pass numba kernel for the
common text shapes (:mod:`kvklink._identifiers_kernel`, checked against the expressions). No
Python code runs per row. The central piece is :func:`kvk_number_expr`, which turns a messy
column into a struct of the normalised 8-digit KVK number (or null) and a *reason code*:

* ``ok``: 8 digits once prefixes (``KvK``, ``KvK-nr.``, ``KVK-nummer:``, ``kvk nr``),
  separators (spaces, dots, dashes) and surrounding text are removed. Never rejected on a
  checksum: KVK numbers have none. Text such as ``12345678.0`` (a float written out) counts.
* ``padded_numeric``: 7 digits in a *numeric* (int/float) input: a spreadsheet dropped the
  leading zero. Padded with one ``0`` and counted. Seven-digit *text* is ``malformed``
  (ambiguous with a typo).
* ``vestigingsnummer``: 12 digits, an establishment number (or a legacy dossier + subdossier).
* ``rsin_or_bsn``: 9 digits, an RSIN or BSN, not a KVK number.
* ``btw_id``: a Dutch VAT id (``NL`` + 9 digits + ``B`` + 2 digits).
* ``malformed``: anything else: another digit count, several separate numbers in one cell,
  a negative or fractional number, text without digits.
* ``missing``: null, NaN, empty or a placeholder (:data:`MISSING_TOKENS`: ``n.v.t.``,
  ``onbekend``, ``-`` …).

Only ``ok`` and ``padded_numeric`` (:data:`USABLE_KVK_REASONS`) carry a KVK number.

Examples
--------
>>> import polars as pl
>>> s = pl.Series("kvk", ["KvK-nr. 12.34.56.78", "KvK 1234 5678 (hoofdvestiging)", "1234567", None])
>>> normalise_kvk(s).rows()
[('12345678', 'ok'), ('12345678', 'ok'), (None, 'malformed'), (None, 'missing')]
>>> normalise_kvk(pl.Series([1234567, 12345678])).rows()
[('01234567', 'padded_numeric'), ('12345678', 'ok')]
"""

from __future__ import annotations

from typing import Any, overload

import numpy as np
import pandas as pd
import polars as pl

from kvklink.errors import SchemaError

__all__ = [
    "KVK_REASONS",
    "USABLE_KVK_REASONS",
    "is_valid_rsin",
    "is_valid_vestigingsnummer",
    "kvk_number_expr",
    "normalise_kvk",
]

#: Every reason code :func:`kvk_number_expr` can return, in order of the table above.
KVK_REASONS: tuple[str, ...] = (
    "ok",
    "padded_numeric",
    "vestigingsnummer",
    "rsin_or_bsn",
    "btw_id",
    "malformed",
    "missing",
)

#: Reason codes whose ``kvk`` field holds a usable, normalised 8-digit KVK number.
USABLE_KVK_REASONS: frozenset[str] = frozenset({"ok", "padded_numeric"})

#: Lower-cased cell contents read as "no value" (after stripping surrounding whitespace).
MISSING_TOKENS: tuple[str, ...] = (
    "",
    "-",
    "--",
    "?",
    "n.v.t.",
    "n.v.t",
    "nvt",
    "n/a",
    "na",
    "nan",
    "none",
    "null",
    "onbekend",
    "unknown",
    "geen",
)

KVK_STRUCT = pl.Struct({"kvk": pl.String, "reason": pl.String})

# One "number": digits, optionally broken up by spaces, dots or dashes (``12.34.56.78``).
_NUMBER_RUN = r"[0-9][0-9\s.\-]*[0-9]|[0-9]"
_SEPARATORS = r"[\s.\-]"
# NL + 9 digits + B + 2 digits, with optional separators anywhere in between.
_BTW = r"(?i)NL[\s.\-]*(?:[0-9][\s.\-]*){9}B[\s.\-]*[0-9][\s.\-]*[0-9]"
# A float rendered as text by a spreadsheet or pandas: ``12345678.0``.
_FLOAT_TEXT = r"^([0-9]+)\.0+$"
# Numbers this large cannot be any identifier we know (14+ digits).
_NUMERIC_LIMIT = 1e13

_Stringish = (pl.String, pl.Categorical, pl.Enum, pl.Null)


def _classify(digits: pl.Expr, *, pad: bool) -> tuple[pl.Expr, pl.Expr]:
    """Reason and kvk for a column of digit strings (no separators, may be null)."""
    length = digits.str.len_bytes()
    seven = pl.lit("padded_numeric") if pad else pl.lit("malformed")
    reason = (
        pl.when(length == 8)
        .then(pl.lit("ok"))
        .when(length == 7)
        .then(seven)
        .when(length == 9)
        .then(pl.lit("rsin_or_bsn"))
        .when(length == 12)
        .then(pl.lit("vestigingsnummer"))
        .otherwise(pl.lit("malformed"))
    )
    return reason, digits


def _finish(reason: pl.Expr, digits: pl.Expr) -> pl.Expr:
    kvk = (
        pl.when(reason == "ok")
        .then(digits)
        .when(reason == "padded_numeric")
        .then(pl.lit("0") + digits)
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return pl.struct(kvk.alias("kvk"), reason.alias("reason"))


def _text_expr(column: pl.Expr, *, pad: bool = False) -> pl.Expr:
    """The pipeline for text input: strip, detect placeholders and VAT ids, extract one number."""
    text = column.cast(pl.String).str.strip_chars()
    missing = text.is_null() | text.str.to_lowercase().is_in(MISSING_TOKENS)
    btw = text.str.contains(_BTW)
    unfloated = text.str.replace(_FLOAT_TEXT, "${1}")
    runs = unfloated.str.count_matches(_NUMBER_RUN)
    digits = unfloated.str.extract(_NUMBER_RUN, 0).str.replace_all(_SEPARATORS, "")
    by_length, digits = _classify(digits, pad=pad)
    reason = (
        pl.when(missing)
        .then(pl.lit("missing"))
        .when(btw)
        .then(pl.lit("btw_id"))
        .when(runs != 1)
        .then(pl.lit("malformed"))
        .otherwise(by_length)
    )
    return _finish(reason, digits)


#: Text columns with at least this many rows take the numba fast path in
#: :mod:`kvklink._identifiers_kernel`; smaller ones (and every undecided row) the polars
#: expressions of :func:`_text_expr`. Both give identical results.
FAST_PATH_MIN_ROWS = 4096


def _text_series(series: pl.Series, *, engine: str = "auto") -> pl.Series:
    """Normalise a text series to the ``kvk``/``reason`` struct (fast path + reference)."""
    text = series.cast(pl.String)
    name = series.name
    if engine == "polars" or (engine == "auto" and text.len() < FAST_PATH_MIN_ROWS):
        return text.to_frame("v").select(_text_expr(pl.col("v")).alias(name)).to_series()
    from kvklink._identifiers_kernel import UNDECIDED, classify_text

    codes, kvk = classify_text(text)
    undecided = np.flatnonzero(codes == UNDECIDED)
    codes[undecided] = 0
    reason = pl.Series("reason", KVK_REASONS, dtype=pl.String).gather(codes)
    if undecided.size:
        sub = text.gather(undecided).to_frame("v").select(_text_expr(pl.col("v")).struct.unnest())
        kvk = kvk.scatter(undecided, sub["kvk"])
        reason = reason.scatter(undecided, sub["reason"])
    return pl.DataFrame({"kvk": kvk, "reason": reason}).to_struct(name)


def _numeric_expr(column: pl.Expr) -> pl.Expr:
    """The pipeline for numeric input: integral, non-negative numbers; 7 digits are padded."""
    value = column.cast(pl.Float64, strict=False)
    as_int = value.cast(pl.Int64, strict=False)
    digits = as_int.cast(pl.String)
    by_length, digits = _classify(digits, pad=True)
    bad = (
        value.is_null()
        | value.is_infinite()
        | (value < 0)
        | (value != value.floor())
        | (value >= _NUMERIC_LIMIT)
    )
    reason = (
        pl.when(column.is_null())
        .then(pl.lit("missing"))
        .when(value.is_nan().fill_null(False))
        .then(pl.lit("missing"))
        .when(bad.fill_null(True))
        .then(pl.lit("malformed"))
        .otherwise(by_length)
    )
    return _finish(reason, digits)


def is_numeric_dtype(dtype: pl.DataType) -> bool:
    """Whether ``dtype`` takes the numeric path (integers, floats, decimals)."""
    return bool(dtype.is_numeric())


def check_identifier_dtype(dtype: pl.DataType, *, column: str, argument: str) -> None:
    """Raise :class:`SchemaError` unless ``dtype`` can hold KVK numbers (text or numbers)."""
    if is_numeric_dtype(dtype) or isinstance(dtype, _Stringish):
        return
    msg = (
        f"Column {column!r} of {argument!r} has dtype {dtype}, which cannot hold KVK numbers. "
        "Hint: pass a text or integer column (e.g. cast it to pl.String)."
    )
    raise SchemaError(msg)


def _dispatch(series: pl.Series) -> pl.Series:
    check_identifier_dtype(series.dtype, column=series.name, argument="kvk_number_expr")
    if not is_numeric_dtype(series.dtype):
        return _text_series(series)
    expr = _numeric_expr(pl.col(series.name))
    return series.to_frame().select(expr.alias(series.name)).to_series()


def kvk_number_expr(column: str | pl.Expr, *, numeric: bool | None = None) -> pl.Expr:
    """Return an expression normalising and classifying KVK numbers.

    Parameters
    ----------
    column
        Column name or expression holding captured KVK numbers (text, ints or floats).
    numeric
        ``None`` (default) decides by the column's dtype when the expression runs: integer,
        float and decimal columns take the numeric path (7 digits are padded to 8 with reason
        ``padded_numeric``; fractional or negative numbers are ``malformed``), everything else
        the text path. ``True`` forces the numeric path (text that is not a number becomes
        ``malformed``), ``False`` the text path. ``None`` dispatches once per batch on the
        dtype. The numeric path is pure polars expressions; the text path runs, per batch, a
        one-pass numba kernel for the common shapes (optional prefix + digits and separators)
        and the polars expression pipeline for everything else (and for batches under
        :data:`FAST_PATH_MIN_ROWS` rows). No Python code runs per row.

    Returns
    -------
    pl.Expr
        A struct with fields ``kvk`` (8-digit string or null) and ``reason`` (one of
        :data:`KVK_REASONS`). Use ``.struct.unnest()`` or ``.struct.field("kvk")``.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"k": ["KVK-nummer: 01234567", "NL123456789B01", "0000 3850 9504"]})
    >>> df.select(kvk_number_expr("k").struct.unnest()).rows()
    [('01234567', 'ok'), (None, 'btw_id'), (None, 'vestigingsnummer')]
    >>> pl.DataFrame({"k": [12345678.0, 1234567.0, 12.5]}).select(
    ...     kvk_number_expr("k").struct.unnest()).rows()
    [('12345678', 'ok'), ('01234567', 'padded_numeric'), (None, 'malformed')]
    """
    expr = pl.col(column) if isinstance(column, str) else column
    if numeric is None:
        return expr.map_batches(_dispatch, return_dtype=KVK_STRUCT, is_elementwise=True)
    if numeric:
        return _numeric_expr(expr)
    return expr.cast(pl.String).map_batches(
        _text_series, return_dtype=KVK_STRUCT, is_elementwise=True
    )


def _series_to_polars(values: Any, *, argument: str) -> tuple[pl.Series, bool]:
    """Return ``values`` as a polars series and whether it came from pandas."""
    if isinstance(values, pl.Series):
        return values, False
    if isinstance(values, pd.Series):
        plain = values.reset_index(drop=True)
        name = str(plain.name) if plain.name is not None else argument
        try:
            return pl.from_pandas(plain.rename(name)), True
        except Exception:
            # Mixed object columns (ints and strings from a spreadsheet) become text.
            return pl.from_pandas(plain.astype("string").rename(name)), True
    msg = (
        f"The {argument!r} argument must be a polars or pandas Series, got "
        f"{type(values).__name__}. Hint: wrap the values in pl.Series(...)."
    )
    raise SchemaError(msg)


def normalise_kvk(values: pl.Series | pd.Series) -> pl.DataFrame | pd.DataFrame:
    """Normalise and classify KVK numbers; one output row per input value.

    Parameters
    ----------
    values
        A polars or pandas series of captured KVK numbers (text, ints or floats).

    Returns
    -------
    pl.DataFrame or pd.DataFrame
        Columns ``kvk`` (normalised 8-digit string or null) and ``reason`` (see
        :data:`KVK_REASONS`), of the same kind (polars/pandas) as ``values``.

    Raises
    ------
    SchemaError
        ``values`` is not a series, or has a dtype that cannot hold KVK numbers (list, struct,
        date, boolean, binary).

    Examples
    --------
    >>> import pandas as pd
    >>> raw = pd.Series([12345678.0, None, "kvk nr 8765-4321"], dtype=object)
    >>> normalise_kvk(raw).values.tolist()
    [['12345678', 'ok'], [None, 'missing'], ['87654321', 'ok']]
    """
    series, from_pandas = _series_to_polars(values, argument="values")
    check_identifier_dtype(series.dtype, column=series.name, argument="values")
    expr = kvk_number_expr(pl.col(series.name), numeric=is_numeric_dtype(series.dtype))
    out = series.to_frame().select(expr.struct.unnest())
    if from_pandas:
        return out.to_pandas()
    return out


def _digits_expr(column: pl.Expr, *, width: int, dtype: pl.DataType) -> pl.Expr:
    if is_numeric_dtype(dtype):
        value = column.cast(pl.Float64, strict=False)
        ok = (value >= 0) & (value == value.floor()) & (value < 10.0**width)
        text = value.cast(pl.Int64, strict=False).cast(pl.String).str.zfill(width)
        return pl.when(ok).then(text).otherwise(pl.lit(None, dtype=pl.String))
    text = column.cast(pl.String).str.strip_chars().str.replace_all(_SEPARATORS, "")
    return pl.when(text.str.contains(rf"^[0-9]{{{width}}}$")).then(text)


def _rsin_expr(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    digits = _digits_expr(column, width=9, dtype=dtype)
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    total = pl.sum_horizontal(
        [digits.str.slice(i, 1).cast(pl.Int64) * w for i, w in enumerate(weights)]
    )
    # All zeros passes the 11-test but is a placeholder, not a number.
    return ((total % 11 == 0) & (digits != "000000000")).fill_null(False)


@overload
def is_valid_rsin(values: pl.Series) -> pl.Series: ...
@overload
def is_valid_rsin(values: pd.Series) -> pd.Series: ...
def is_valid_rsin(values: pl.Series | pd.Series) -> pl.Series | pd.Series:
    """Check RSINs (and BSNs) with the 11-test, vectorised.

    An RSIN is 9 digits ``d1..d9`` with ``9·d1 + 8·d2 + … + 2·d8 − 1·d9 ≡ 0 (mod 11)`` (note
    the **−1** weight on the last digit, which several public validators get wrong). Text may
    contain spaces, dots and dashes; integers are zero-padded to 9 digits. Nulls, other lengths
    and ``000000000`` are ``False``.

    Examples
    --------
    >>> import polars as pl
    >>> is_valid_rsin(pl.Series(["123456782", "111 222 333", "123456783", None])).to_list()
    [True, True, False, False]
    """
    series, from_pandas = _series_to_polars(values, argument="values")
    out = (
        series.to_frame()
        .select(_rsin_expr(pl.col(series.name), series.dtype).alias(series.name))
        .to_series()
    )
    return out.to_pandas() if from_pandas else out


@overload
def is_valid_vestigingsnummer(values: pl.Series) -> pl.Series: ...
@overload
def is_valid_vestigingsnummer(values: pd.Series) -> pd.Series: ...
def is_valid_vestigingsnummer(values: pl.Series | pd.Series) -> pl.Series | pd.Series:
    """Check vestigingsnummers: exactly 12 digits (leading zeros kept), no checksum.

    Text may contain spaces, dots and dashes. Integers are zero-padded to 12 digits (a numeric
    column has lost the leading zeros). Nulls and other lengths are ``False``.

    Examples
    --------
    >>> import polars as pl
    >>> values = pl.Series(["000038509504", "0000 3850 9504", "38509504"])
    >>> is_valid_vestigingsnummer(values).to_list()
    [True, True, False]
    """
    series, from_pandas = _series_to_polars(values, argument="values")
    digits = _digits_expr(pl.col(series.name), width=12, dtype=series.dtype)
    out = series.to_frame().select(digits.is_not_null().alias(series.name)).to_series()
    return out.to_pandas() if from_pandas else out
