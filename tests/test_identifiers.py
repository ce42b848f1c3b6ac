"""KVK-number normalisation and classification; vestigingsnummer and RSIN validators."""

from __future__ import annotations

import math

import pandas as pd
import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import kvklink
from kvklink.errors import SchemaError
from kvklink.identifiers import (
    KVK_REASONS,
    USABLE_KVK_REASONS,
    is_valid_rsin,
    is_valid_vestigingsnummer,
    kvk_number_expr,
    normalise_kvk,
)

TEXT_CASES = [
    ("12345678", "12345678", "ok"),
    ("01234567", "01234567", "ok"),
    ("KvK 1234 5678", "12345678", "ok"),
    ("KvK-nr. 12.34.56.78", "12345678", "ok"),
    ("KVK-nummer: 12345678", "12345678", "ok"),
    ("kvk nr 12345678", "12345678", "ok"),
    ("KvK 1234 5678 (hoofdvestiging)", "12345678", "ok"),
    ("  12-34-56-78  ", "12345678", "ok"),
    ("KvK12345678", "12345678", "ok"),
    ("12345678.0", "12345678", "ok"),
    ("1234\u00a05678", "12345678", "ok"),
    ("1234567", None, "malformed"),
    ("1234567.0", None, "malformed"),
    ("000038509504", None, "vestigingsnummer"),
    ("0000 3850 9504", None, "vestigingsnummer"),
    ("123456782", None, "rsin_or_bsn"),
    ("NL123456789B01", None, "btw_id"),
    ("nl 1234.56.789 b 01", None, "btw_id"),
    ("", None, "missing"),
    ("   ", None, "missing"),
    ("n.v.t.", None, "missing"),
    ("Onbekend", None, "missing"),
    ("-", None, "missing"),
    (None, None, "missing"),
    ("abc", None, "malformed"),
    ("123", None, "malformed"),
    ("1234567890", None, "malformed"),
    ("12345678 / 87654321", None, "malformed"),
    ("KvK 12345678, vest. 000012345678", None, "malformed"),
]


@pytest.mark.parametrize(("raw", "kvk", "reason"), TEXT_CASES)
def test_text_spellings(raw: str | None, kvk: str | None, reason: str) -> None:
    out = normalise_kvk(pl.Series("k", [raw], dtype=pl.String))
    assert out.row(0) == (kvk, reason)


def test_all_text_cases_in_one_vectorised_pass() -> None:
    raw = pl.Series("k", [c[0] for c in TEXT_CASES], dtype=pl.String)
    out = normalise_kvk(raw)
    assert out.rows() == [(c[1], c[2]) for c in TEXT_CASES]
    assert set(out["reason"]) <= set(KVK_REASONS)


@pytest.mark.parametrize(
    ("values", "dtype", "expected"),
    [
        ([12345678, 1234567, 123456, 123456789, 38509504, None], pl.Int64,
         [("12345678", "ok"), ("01234567", "padded_numeric"), (None, "malformed"),
          (None, "rsin_or_bsn"), ("38509504", "ok"), (None, "missing")]),
        ([12345678.0, 1234567.0, math.nan, None, 12.5, -12345678.0, math.inf, 1e20], pl.Float64,
         [("12345678", "ok"), ("01234567", "padded_numeric"), (None, "missing"), (None, "missing"),
          (None, "malformed"), (None, "malformed"), (None, "malformed"), (None, "malformed")]),
        ([1234567, 12345678], pl.UInt32, [("01234567", "padded_numeric"), ("12345678", "ok")]),
    ],
)  # fmt: skip
def test_numeric_input(values: list[float | None], dtype: pl.DataType, expected: list) -> None:
    assert normalise_kvk(pl.Series("k", values, dtype=dtype)).rows() == expected


def test_padding_only_for_numeric_dtype() -> None:
    as_text = normalise_kvk(pl.Series(["1234567"]))
    as_int = normalise_kvk(pl.Series([1234567]))
    assert as_text.row(0) == (None, "malformed")
    assert as_int.row(0) == ("01234567", "padded_numeric")


def test_explicit_numeric_flag() -> None:
    df = pl.DataFrame({"s": ["12345678", "1234567", "abc", None], "i": [1234567, 2, 3, 4]})
    forced = df.select(kvk_number_expr("s", numeric=True).struct.unnest()).rows()
    assert forced == [
        ("12345678", "ok"),
        ("01234567", "padded_numeric"),
        (None, "malformed"),
        (None, "missing"),
    ]
    as_text = df.select(kvk_number_expr("i", numeric=False).struct.field("reason"))
    assert as_text.to_series()[0] == "malformed"


def test_dtype_dispatch_in_an_expression() -> None:
    df = pl.DataFrame({"i": [1234567], "s": ["1234567"]})
    out = df.select(
        kvk_number_expr("i").struct.field("reason").alias("ri"),
        kvk_number_expr(pl.col("s")).struct.field("reason").alias("rs"),
    )
    assert out.row(0) == ("padded_numeric", "malformed")


def test_categorical_and_null_columns() -> None:
    cat = pl.Series(["KvK 1234 5678", None], dtype=pl.Categorical)
    assert normalise_kvk(cat).rows() == [("12345678", "ok"), (None, "missing")]
    nulls = pl.Series([None, None])
    assert normalise_kvk(nulls)["reason"].to_list() == ["missing", "missing"]


def test_pandas_in_pandas_out() -> None:
    out = normalise_kvk(pd.Series([12345678.0, math.nan, 1234567.0]))
    assert isinstance(out, pd.DataFrame)
    assert out["reason"].tolist() == ["ok", "missing", "padded_numeric"]
    mixed = normalise_kvk(pd.Series([12345678, "KvK 8765 4321", None], dtype=object))
    assert mixed["kvk"].tolist() == ["12345678", "87654321", None]


@pytest.mark.parametrize(
    "series",
    [
        pl.Series([[1, 2]]),
        pl.Series([{"a": 1}]),
        pl.Series([True]),
        pl.Series([None], dtype=pl.Date),
    ],
)
def test_wrong_dtype_is_refused(series: pl.Series) -> None:
    with pytest.raises(SchemaError, match="cannot hold KVK numbers"):
        normalise_kvk(series)


def test_not_a_series_is_refused() -> None:
    with pytest.raises(SchemaError, match="'values'"):
        normalise_kvk(["12345678"])  # type: ignore[arg-type]


def test_constants() -> None:
    assert {"ok", "padded_numeric"} == USABLE_KVK_REASONS
    assert KVK_REASONS == (
        "ok",
        "padded_numeric",
        "vestigingsnummer",
        "rsin_or_bsn",
        "btw_id",
        "malformed",
        "missing",
    )
    assert kvklink.normalise_kvk is normalise_kvk


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

kvk8 = st.text(alphabet="0123456789", min_size=8, max_size=8)


def _spellings(k: str) -> list[str]:
    a, b = k[:4], k[4:]
    dots = ".".join(k[i : i + 2] for i in range(0, 8, 2))
    return [
        k,
        f" {k} ",
        f"KvK {a} {b}",
        f"KvK-nr. {dots}",
        f"KVK-nummer: {k}",
        f"kvk nr {k}",
        f"KvK {a} {b} (hoofdvestiging)",
        f"{a}-{b}",
        f"{k}.0",
        f"KvK-nummer:{k}",
        f"Kamer van Koophandel nr. {a} {b}, Utrecht",
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(kvk8, min_size=1, max_size=20))
@example(["00000000"])
@example(["01234567"])
def test_every_valid_number_survives_every_text_spelling(numbers: list[str]) -> None:
    raw = [s for k in numbers for s in _spellings(k)]
    want = [k for k in numbers for _ in _spellings(k)]
    out = normalise_kvk(pl.Series(raw))
    assert out["kvk"].to_list() == want
    assert set(out["reason"]) == {"ok"}


@settings(max_examples=60, deadline=None)
@given(st.lists(kvk8.filter(lambda k: not k.startswith("00")), min_size=1, max_size=20))
def test_every_valid_number_survives_numeric_spellings(numbers: list[str]) -> None:
    ints = normalise_kvk(pl.Series([int(k) for k in numbers], dtype=pl.Int64))
    floats = normalise_kvk(pl.Series([float(k) for k in numbers], dtype=pl.Float64))
    for out in (ints, floats):
        assert out["kvk"].to_list() == numbers
        assert set(out["reason"]) <= USABLE_KVK_REASONS


messy = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.text(alphabet="0123456789 .-KvkNLBnr:()", max_size=30),
    kvk8.map(lambda k: f"KvK {k[:4]} {k[4:]}"),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(messy, min_size=1, max_size=30))
def test_normalisation_is_idempotent(values: list[str | None]) -> None:
    once = normalise_kvk(pl.Series(values, dtype=pl.String))
    twice = normalise_kvk(once["kvk"])
    assert twice["kvk"].to_list() == once["kvk"].to_list()
    usable = once["reason"].is_in(list(USABLE_KVK_REASONS))
    assert twice.filter(usable)["reason"].to_list() == ["ok"] * int(usable.sum())
    assert set(twice.filter(~usable)["reason"]) <= {"missing"}
    # usable ids are always exactly 8 digits
    assert once.filter(usable)["kvk"].str.contains(r"^\d{8}$").all()


# ---------------------------------------------------------------------------------------------
# RSIN and vestigingsnummer
# ---------------------------------------------------------------------------------------------


def _reference_rsin(value: str) -> bool:
    """Independent scalar 11-test, written from the definition."""
    if len(value) != 9 or not value.isdigit() or value == "000000000":
        return False
    weights = [9, 8, 7, 6, 5, 4, 3, 2, -1]
    return sum(int(d) * w for d, w in zip(value, weights, strict=True)) % 11 == 0


def test_rsin_known_values_and_the_minus_one_weight() -> None:
    values = ["123456782", "111222333", "002186283", "123456783", "12345678", "000000000", None]
    got = is_valid_rsin(pl.Series(values)).to_list()
    assert got == [True, True, False, False, False, False, False]
    # With weight +1 on the last digit 123456782 would fail: 9+16+21+24+25+24+21+16+2 = 158.
    assert 158 % 11 != 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="0123456789", min_size=9, max_size=9), min_size=1, max_size=50))
def test_rsin_matches_reference(values: list[str]) -> None:
    assert is_valid_rsin(pl.Series(values)).to_list() == [_reference_rsin(v) for v in values]


def test_rsin_separators_ints_and_pandas() -> None:
    assert is_valid_rsin(pl.Series(["123.456.782", "123 456 782"])).to_list() == [True, True]
    assert is_valid_rsin(pl.Series([123456782, 1234])).to_list() == [True, False]
    out = is_valid_rsin(pd.Series(["123456782", None]))
    assert isinstance(out, pd.Series)
    assert out.tolist() == [True, False]


def test_vestigingsnummer_validator() -> None:
    values = ["000038509504", "0000-3850-9504", "38509504", "0000385095041", "abc", None]
    got = is_valid_vestigingsnummer(pl.Series(values)).to_list()
    assert got == [True, True, False, False, False, False]
    assert is_valid_vestigingsnummer(pl.Series([38509504])).to_list() == [True]
    assert is_valid_vestigingsnummer(pd.Series(["000038509504"])).tolist() == [True]
