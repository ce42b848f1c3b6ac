"""ConsentPolicy: outcomes, precedence, firm-level withdrawal, column handling."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import polars as pl
import pytest

from kvklink.consent import CONSENT_OUTCOMES, ConsentPolicy
from kvklink.errors import ConsentError

D = dt.date
POLICY = ConsentPolicy("evaluatie-2024", "2024-06-30")


def frame(**columns: list[object]) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    base: dict[str, list[object]] = {
        "kvk_nummer": [f"{10_000_000 + i}" for i in range(n)],
        "consent": [True] * n,
        "consent_purposes": ["evaluatie-2024"] * n,
        "consent_date": [D(2024, 1, 1)] * n,
        "consent_withdrawn_date": [None] * n,
    }
    base.update(columns)
    overrides = {
        name: pl.Date
        for name in ("consent_date", "consent_withdrawn_date")
        if all(v is None for v in base[name])
    }
    return pl.DataFrame(base, schema_overrides=overrides)


def test_each_outcome() -> None:
    df = frame(
        consent=[True, False, None, True, True, True, True],
        consent_purposes=[
            "evaluatie-2024",
            "evaluatie-2024",
            "evaluatie-2024",
            "nieuwsbrief; andere",
            "evaluatie-2024",
            " nieuwsbrief ;evaluatie-2024 ",
            None,
        ],
        consent_date=[D(2024, 1, 1)] * 4 + [D(2024, 7, 1), D(2024, 6, 30), D(2024, 1, 1)],
    )
    assert POLICY.outcomes(df).to_list() == [
        "consented",
        "no_consent",
        "no_consent",
        "purpose_not_covered",
        "consent_after_as_of",
        "consented",
        "purpose_not_covered",
    ]


def test_precedence_is_documented_order() -> None:
    # no flag + wrong purpose + late + withdrawn -> no_consent
    # wrong purpose + late + withdrawn           -> purpose_not_covered
    # late + withdrawn                           -> consent_after_as_of
    df = frame(
        kvk_nummer=["11111111", "22222222", "33333333"],
        consent=[False, True, True],
        consent_purposes=["x", "x", "evaluatie-2024"],
        consent_date=[D(2025, 1, 1)] * 3,
        consent_withdrawn_date=[D(2024, 2, 1)] * 3,
    )
    assert POLICY.outcomes(df).to_list() == [
        "no_consent",
        "purpose_not_covered",
        "consent_after_as_of",
    ]


def test_withdrawal_excludes_every_row_of_the_firm() -> None:
    df = frame(
        kvk_nummer=["KvK 1234 5678", "12345678", "12.34.56.78", "87654321", "87654321"],
        consent_withdrawn_date=[None, None, D(2024, 3, 1), None, D(2024, 9, 1)],
    )
    out = POLICY.outcomes(df).to_list()
    # the firm 12345678 withdrew before as_of under three spellings; 87654321 withdrew after
    assert out == ["consent_withdrawn"] * 3 + ["consented", "consented"]


def test_withdrawal_is_per_purpose() -> None:
    df = frame(
        kvk_nummer=["12345678", "12345678", "22222222", "22222222"],
        consent_purposes=["evaluatie-2024", "nieuwsbrief", "evaluatie-2024", None],
        consent_withdrawn_date=[None, D(2024, 1, 2), None, D(2024, 1, 2)],
    )
    out = POLICY.outcomes(df).to_list()
    # withdrawing the newsletter consent keeps the evaluation consent; a withdrawal that
    # names no purpose counts for every purpose
    # (the last row's own outcome is purpose_not_covered, which comes first in the order)
    assert out == ["consented", "purpose_not_covered", "consent_withdrawn", "purpose_not_covered"]


def test_withdrawal_on_as_of_counts() -> None:
    df = frame(consent_withdrawn_date=[D(2024, 6, 30)])
    assert POLICY.outcomes(df).to_list() == ["consent_withdrawn"]


def test_unusable_ids_do_not_form_one_firm() -> None:
    df = frame(
        kvk_nummer=[None, None, "abc"],
        consent_withdrawn_date=[D(2024, 1, 2), None, None],
    )
    assert POLICY.outcomes(df).to_list() == ["consent_withdrawn", "consented", "consented"]


def test_list_purposes_text_flags_and_text_dates() -> None:
    df = pl.DataFrame(
        {
            "kvk_nummer": ["11111111", "22222222", "33333333"],
            "consent": ["ja", "Nee", "TRUE"],
            "consent_purposes": [["evaluatie-2024"], ["evaluatie-2024"], ["x", "evaluatie-2024"]],
            "consent_date": ["2024-01-01", "2024-01-01", "2024-06-30"],
            "consent_withdrawn_date": [None, None, ""],
        }
    )
    assert POLICY.outcomes(df).to_list() == ["consented", "no_consent", "consented"]


def test_integer_flags_and_datetimes() -> None:
    df = frame(
        consent=[1, 0],
        consent_date=[dt.datetime(2024, 6, 30, 23, 59), dt.datetime(2024, 1, 1)],
        consent_withdrawn_date=[None, None],
    )
    assert POLICY.outcomes(df).to_list() == ["consented", "no_consent"]


def test_missing_consent_date_is_no_consent() -> None:
    df = frame(consent_date=[None], consent_withdrawn_date=[None])
    assert POLICY.outcomes(df).to_list() == ["no_consent"]


def test_pandas_in_pandas_out() -> None:
    df = frame(consent=[True, False]).to_pandas()
    out = POLICY.outcomes(df)
    assert isinstance(out, pd.Series)
    assert out.tolist() == ["consented", "no_consent"]


@pytest.mark.parametrize(
    ("kwargs", "column", "arg"),
    [
        ({"consent_column": "toestemming"}, "toestemming", "consent_column"),
        ({"purposes_column": "doelen"}, "doelen", "purposes_column"),
        ({"consent_date_column": "datum"}, "datum", "consent_date_column"),
        ({"withdrawal_column": "ingetrokken"}, "ingetrokken", "withdrawal_column"),
    ],
)
def test_unknown_consent_columns_name_the_column_and_fix(
    kwargs: dict[str, str], column: str, arg: str
) -> None:
    policy = ConsentPolicy("evaluatie-2024", "2024-06-30", **kwargs)
    with pytest.raises(ConsentError, match=f"needs column '{column}' \\({arg}\\)") as info:
        policy.validate(frame(consent=[True]))
    assert f"{arg}='<your column>'" in str(info.value)


def test_withdrawal_column_none_is_explicit() -> None:
    df = frame(consent=[True]).drop("consent_withdrawn_date")
    with pytest.raises(ConsentError, match="withdrawal_column=None"):
        POLICY.outcomes(df)
    policy = ConsentPolicy("evaluatie-2024", "2024-06-30", withdrawal_column=None)
    assert policy.outcomes(df).to_list() == ["consented"]
    assert policy.columns == ("consent", "consent_purposes", "consent_date")


@pytest.mark.parametrize(
    ("columns", "match"),
    [
        ({"consent": ["misschien"]}, "not true/false"),
        ({"consent": [2]}, "other than 0 and 1"),
        ({"consent": [1.0]}, "dtype Float64"),
        ({"consent_date": ["01-02-2024"]}, "not ISO dates"),
        ({"consent_purposes": [1]}, "dtype Int64"),
        ({"consent_withdrawn_date": [1]}, "dtype Int64"),
    ],
)
def test_unreadable_consent_values(columns: dict[str, list[object]], match: str) -> None:
    with pytest.raises(ConsentError, match=match) as info:
        POLICY.outcomes(frame(**columns))
    assert "misschien" not in str(info.value)
    assert "01-02-2024" not in str(info.value)


def test_as_of_parsing() -> None:
    assert ConsentPolicy("p", dt.date(2024, 1, 2)).as_of == D(2024, 1, 2)
    assert ConsentPolicy("p", dt.datetime(2024, 1, 2, 3)).as_of == D(2024, 1, 2)
    with pytest.raises(ConsentError, match="YYYY-MM-DD"):
        ConsentPolicy("p", "30-06-2024")
    with pytest.raises(ConsentError, match="must be a date"):
        ConsentPolicy("p", 2024)  # type: ignore[arg-type]
    with pytest.raises(ConsentError, match="non-empty label"):
        ConsentPolicy(" ", "2024-01-01")


def test_policy_value_semantics() -> None:
    a = ConsentPolicy("p", "2024-01-01")
    assert a == ConsentPolicy("p", D(2024, 1, 1))
    assert a != ConsentPolicy("p", "2024-01-02")
    assert hash(a) == hash(ConsentPolicy("p", D(2024, 1, 1)))
    assert repr(a) == "ConsentPolicy(purpose='p', as_of=datetime.date(2024, 1, 1))"
    assert CONSENT_OUTCOMES == (
        "no_consent",
        "purpose_not_covered",
        "consent_after_as_of",
        "consent_withdrawn",
    )
