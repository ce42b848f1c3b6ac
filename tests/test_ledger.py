"""RowLedger: reconciliation, refinement, frame and JSON export, reprs."""

from __future__ import annotations

import json

import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvklink.errors import InputError
from kvklink.ledger import LEDGER_OUTCOMES, RowLedger


def test_reconciles_and_order() -> None:
    ledger = RowLedger({"no_consent": 1, "zzz_custom": 0, "pseudonymised": 3}, total_input=4)
    assert ledger.reconciles()
    assert list(ledger.counts) == ["pseudonymised", "no_consent", "zzz_custom"]
    assert ledger["pseudonymised"] == 3
    assert ledger["linked"] == 0
    assert not RowLedger({"pseudonymised": 3}, total_input=4).reconciles()


def test_counts_are_copies() -> None:
    ledger = RowLedger({"pseudonymised": 3}, total_input=3)
    ledger.counts["pseudonymised"] = 99
    assert ledger["pseudonymised"] == 3


def test_from_outcomes_with_zero_rows_included() -> None:
    outcomes = pl.Series(["pseudonymised", "malformed", "pseudonymised"])
    ledger = RowLedger.from_outcomes(outcomes, include=("pseudonymised", "missing"))
    assert ledger.counts == {"pseudonymised": 2, "malformed": 1, "missing": 0}
    assert ledger.total_input == 3
    assert ledger.reconciles()
    with pytest.raises(InputError, match="1 row\\(s\\) have no outcome"):
        RowLedger.from_outcomes(pl.Series(["pseudonymised", None]))


def test_refine_keeps_reconciliation() -> None:
    ledger = RowLedger({"pseudonymised": 5, "missing": 2}, total_input=7)
    linked = ledger.refine("pseudonymised", {"linked": 4, "not_in_register": 1}, stage="link")
    assert linked.counts == {"linked": 4, "not_in_register": 1, "missing": 2}
    assert linked.stage == "link"
    assert linked.reconciles()
    with pytest.raises(InputError, match="does not add up"):
        ledger.refine("pseudonymised", {"linked": 4})
    with pytest.raises(InputError, match="already exist"):
        ledger.refine("pseudonymised", {"missing": 5})


def test_frame_and_json_round_trip() -> None:
    ledger = RowLedger(
        {"pseudonymised": 3, "malformed": 1},
        total_input=4,
        flags={"padded_numeric": 1},
        context={"key_id": "0123456789abcdef", "purpose": "p", "consent": True},
    )
    frame = ledger.to_frame()
    assert frame.rows() == [("pseudonymised", 3, 0.75), ("malformed", 1, 0.25)]
    assert isinstance(ledger.to_frame(kind="pandas"), pd.DataFrame)
    data = json.loads(ledger.to_json())
    assert data["counts"] == {"pseudonymised": 3, "malformed": 1}
    assert data["total_input"] == 4
    assert data["reconciles"] is True
    assert data["flags"] == {"padded_numeric": 1}
    assert RowLedger.from_json(ledger.to_json()) == ledger
    assert hash(RowLedger.from_json(ledger.to_json())) == hash(ledger)
    with pytest.raises(InputError, match="not valid JSON"):
        RowLedger.from_json("{")
    with pytest.raises(InputError, match="format"):
        RowLedger.from_json("{}")


def test_repr_shows_counts_only() -> None:
    ledger = RowLedger({"pseudonymised": 2}, total_input=2, context={"as_of": "2024-01-01"})
    assert repr(ledger) == "RowLedger(stage='pseudonymise', total_input=2, pseudonymised=2)"
    assert repr(RowLedger({}, total_input=0)) == "RowLedger(stage='pseudonymise', total_input=0)"


@pytest.mark.parametrize(
    ("counts", "total"),
    [({"a": -1}, 0), ({"a": 1.5}, 1), ({"": 1}, 1), ({"a": True}, 1), ({"a": 1}, -1)],
)
def test_bad_counts_are_refused(counts: dict[str, object], total: int) -> None:
    with pytest.raises(InputError):
        RowLedger(counts, total_input=total)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(LEDGER_OUTCOMES), max_size=200))
def test_counts_from_any_outcomes_sum_to_rows(outcomes: list[str]) -> None:
    ledger = RowLedger.from_outcomes(pl.Series(outcomes, dtype=pl.String))
    assert ledger.reconciles()
    assert sum(ledger.counts.values()) == len(outcomes)
    assert ledger.to_frame()["rows"].sum() == len(outcomes)
