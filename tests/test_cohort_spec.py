"""Cohort definition: treated units, index dates, control pools, covariates, panel."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kvklink as kl
from kvklink.errors import InputError, SchemaError

YEARS = list(range(2015, 2025))


def _register(n_units: int, *, starts: dict[int, dt.date] | None = None) -> pl.DataFrame:
    """A small BE-year register; unit u has employees = u + year - 2015."""
    starts = starts or {}
    rows = []
    for u in range(1, n_units + 1):
        start = starts.get(u, dt.date(2010, 1, 1))
        for year in YEARS:
            if year < start.year:
                continue
            rows.append(
                {
                    "be_id": u,
                    "year": year,
                    "section": "M" if u % 2 else "G",
                    "size_band": "0-1" if u % 3 else "2-9",
                    "legal_form": "eenmanszaak",
                    "kvk_region": "West",
                    "start_date": start,
                    "end_date": None,
                    "employees": u + year - 2015,
                    "turnover": float(10 * u + year - 2015),
                }
            )
    return pl.DataFrame(rows, schema_overrides={"end_date": pl.Date})


def _linked(rows: list[tuple[int, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "be_id": [r[0] for r in rows],
            "date": [dt.date.fromisoformat(r[1]) for r in rows],
            "activity": [r[2] for r in rows],
            "statutory_task": ["innovation"] * len(rows),
            "link_status": ["linked"] * len(rows),
        }
    )


SPEC = kl.CohortSpec(window=("2019-01-01", "2020-12-31"), horizon_years=2, pre_years=3)


def test_treated_get_first_use_as_index_date_and_pre_period_covariates() -> None:
    linked = _linked(
        [(1, "2019-05-01", "webinar"), (1, "2020-02-01", "event"), (2, "2020-07-01", "event")]
    )
    cohort = kl.build_cohort(linked, _register(6), SPEC)
    units = cohort.units
    treated = units.filter(pl.col("treat")).sort("be_id")
    assert treated["be_id"].to_list() == [1, 2]
    assert treated["index_date"].to_list() == [dt.date(2019, 5, 1), dt.date(2020, 7, 1)]
    # Level in y-1 and log-growth from y-2 to y-1.
    row = treated.row(0, named=True)
    assert row["employees_pre"] == 1 + 2018 - 2015
    assert row["employees_trend"] == pytest.approx(
        float(pl.Series([4.0]).log1p()[0] - pl.Series([3.0]).log1p()[0])
    )
    assert row["firm_age"] == pytest.approx(
        (dt.date(2019, 5, 1) - dt.date(2010, 1, 1)).days / 365.25
    )
    assert cohort.n_treated == 2


def test_controls_are_never_treated_and_get_each_index_year() -> None:
    linked = _linked(
        [(1, "2019-05-01", "webinar"), (2, "2020-07-01", "event"), (3, "2023-01-01", "event")]
    )
    cohort = kl.build_cohort(linked, _register(6), SPEC)
    controls = cohort.units.filter(~pl.col("treat"))
    assert set(controls["be_id"].to_list()) == {4, 5, 6}
    assert sorted(set(controls["index_year"].to_list())) == [2019, 2020]
    assert controls.height == 6  # 3 controls x 2 index years
    assert cohort.treated_outcomes["first_use_after_window"] == 1


def test_not_yet_treated_controls_respect_the_horizon() -> None:
    linked = _linked(
        [(1, "2019-05-01", "webinar"), (3, "2021-06-01", "event"), (4, "2023-06-01", "event")]
    )
    spec = kl.CohortSpec(
        window=("2019-01-01", "2019-12-31"), horizon_years=2, controls="not_yet_treated"
    )
    cohort = kl.build_cohort(linked, _register(6), spec)
    controls = set(cohort.units.filter(~pl.col("treat"))["be_id"].to_list())
    # 3 is treated in 2021 <= 2019 + 2: not eligible; 4 is treated in 2023 > 2021: eligible.
    assert controls == {2, 4, 5, 6}


def test_counts_reconcile_and_starters_without_pre_period_are_counted() -> None:
    reg = _register(8, starts={5: dt.date(2020, 3, 1)})
    linked = _linked(
        [
            (1, "2018-02-01", "webinar"),  # before window
            (2, "2019-03-01", "event"),
            (5, "2020-06-01", "event"),  # born in index year: no y-1 record
            (7, "2024-06-01", "event"),  # after window
        ]
    )
    cohort = kl.build_cohort(linked, reg, SPEC)
    outcomes = cohort.treated_outcomes
    assert sum(outcomes.values()) == 4
    assert outcomes["treated"] == 1
    assert outcomes["first_use_before_window"] == 1
    assert outcomes["first_use_after_window"] == 1
    assert outcomes["no_register_record_before_index"] == 1


def test_activity_filter_and_unlinked_rows_are_ignored() -> None:
    linked = _linked([(1, "2019-05-01", "webinar"), (2, "2019-05-01", "event")]).with_columns(
        pl.Series("link_status", ["linked", "not_in_register"])
    )
    spec = kl.CohortSpec(window=("2019-01-01", "2020-12-31"), activities=["webinar", "event"])
    cohort = kl.build_cohort(linked, _register(4), spec)
    assert cohort.units.filter(pl.col("treat"))["be_id"].to_list() == [1]
    spec_web = kl.CohortSpec(window=("2019-01-01", "2020-12-31"), activities="event")
    assert kl.build_cohort(linked, _register(4), spec_web).n_treated == 0


def test_target_group_filter_applies_to_both_groups() -> None:
    linked = _linked([(1, "2019-05-01", "webinar"), (2, "2019-05-01", "webinar")])
    spec = kl.CohortSpec(window=("2019-01-01", "2020-12-31"), sections=["M"])
    cohort = kl.build_cohort(linked, _register(6), spec)
    assert set(cohort.units["section"].to_list()) == {"M"}
    assert cohort.treated_outcomes["outside_target_group"] == 1


def test_panel_is_in_event_time_with_register_outcomes() -> None:
    linked = _linked([(2, "2019-05-01", "webinar")])
    cohort = kl.build_cohort(linked, _register(3), SPEC)
    panel = cohort.panel.filter(pl.col("be_id") == 2)
    assert panel["event_time"].to_list() == [-3, -2, -1, 0, 1, 2]
    assert panel["employees"].to_list() == [2 + y - 2015 for y in range(2016, 2022)]


def test_pandas_in_pandas_out() -> None:
    linked = _linked([(1, "2019-05-01", "webinar")]).to_pandas()
    cohort = kl.build_cohort(linked, _register(3).to_pandas(), SPEC)
    assert isinstance(cohort.units, pd.DataFrame)
    assert isinstance(cohort.panel, pd.DataFrame)
    assert "Cohort(treated=1" in repr(cohort)


def test_bad_input_is_a_clear_error() -> None:
    linked = _linked([(1, "2019-05-01", "webinar")])
    with pytest.raises(SchemaError, match="employees"):
        kl.build_cohort(linked, _register(3).drop("employees"), SPEC)
    with pytest.raises(SchemaError, match="'date'"):
        kl.build_cohort(linked.drop("date"), _register(3), SPEC)
    with pytest.raises(SchemaError, match="empty"):
        kl.build_cohort(linked, _register(3).clear(), SPEC)
    with pytest.raises(InputError, match="window"):
        kl.CohortSpec(window=("2020-01-01", "2019-01-01"))
    with pytest.raises(InputError, match="controls"):
        kl.CohortSpec(window=("2019-01-01", "2020-01-01"), controls="everyone")  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 12), st.dates(dt.date(2016, 1, 1), dt.date(2024, 12, 31))),
        max_size=30,
    ),
    st.sampled_from(["never_treated", "not_yet_treated"]),
)
def test_invariants(events: list[tuple[int, dt.date]], controls: str) -> None:
    linked = _linked([(u, d.isoformat(), "event") for u, d in events])
    spec = kl.CohortSpec(window=("2018-01-01", "2021-12-31"), controls=controls)  # type: ignore[arg-type]
    cohort = kl.build_cohort(linked, _register(12), spec)
    units = cohort.units
    # Every BE with a qualifying interaction has exactly one outcome.
    assert sum(cohort.treated_outcomes.values()) == len({u for u, _ in events})
    # A BE is treated at most once; treated BEs never serve as controls in any index year.
    treated = units.filter(pl.col("treat"))
    assert treated["be_id"].is_unique().all()
    first_use = {u: min(d for v, d in events if v == u) for u, _ in events}
    for be_id, year in units.filter(~pl.col("treat")).select("be_id", "index_year").iter_rows():
        if controls == "never_treated":
            assert be_id not in first_use
        else:
            assert be_id not in first_use or first_use[be_id].year > year + spec.horizon_years
    # Row order of the input does not matter.
    again = kl.build_cohort(linked.reverse(), _register(12).reverse(), spec)
    assert again.units.equals(units)
    assert again.treated_outcomes == cohort.treated_outcomes
