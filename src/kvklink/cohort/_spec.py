"""Cohort definition: treated business units, their index dates, and an eligible control pool.

A :class:`CohortSpec` says which linked interactions make a business unit (BE) *treated* and which
units may serve as controls. :func:`build_cohort` turns linked interactions and the BE-year register
into a :class:`Cohort`:

* **treated**: BEs whose *first* qualifying interaction (chosen activities and/or statutory task)
  falls inside ``window``; the index date is that first interaction. BEs whose first qualifying
  interaction lies *before* the window were treated earlier and are excluded from both groups.
* **controls**: for every index year ``y`` that has treated units, the BEs alive at the start of
  ``y`` that are not treated before the end of the outcome horizon (``never_treated``: no
  qualifying interaction ever; ``not_yet_treated``: first qualifying interaction after year
  ``y + horizon_years``). A control enters the pool once per index year it is eligible for,
  with that index year, so calendar time is respected: match with
  ``exact=["index_year", ...]``.
* **covariates** are measured in year ``y - 1``, strictly before the index date: sector, size band,
  legal form, KVK region, firm age at the index date, and for each outcome the level in ``y - 1``
  (``o_pre``, and ``o_log_pre = log1p(o_pre)`` for modelling skewed sizes) and three yearly
  pre-period growth rates ``o_trend = log1p(o[y-1]) - log1p(o[y-2])``, ``o_trend2`` (``y-3`` to
  ``y-2``) and ``o_trend3`` (``y-4`` to ``y-3``), 0 where a year has no record; units without a
  ``y - 2`` record are flagged by ``new_firm``. Three lags, because the index date is the first
  *linked* interaction, which can lag a firm's true first use (an earlier visit without a KVK
  number): the growth that drove its selection then lies further back.

Every treated candidate ends in exactly one outcome of :attr:`Cohort.treated_outcomes`
(``treated``, ``first_use_before_window``, ``first_use_after_window``,
``no_register_record_before_index`` — e.g. a starter born in its index year, which has no
pre-treatment covariates —, ``not_alive_at_index``, ``outside_target_group``), so the counts
reconcile with the number of BEs that had a qualifying linked interaction.

Examples
--------
>>> import datetime as dt
>>> import polars as pl
>>> from kvklink import CohortSpec, build_cohort
>>> register = pl.DataFrame({
...     "be_id": [1, 1, 1, 2, 2, 2], "year": [2018, 2019, 2020] * 2,
...     "section": ["M"] * 6, "size_band": ["0-1"] * 6, "legal_form": ["eenmanszaak"] * 6,
...     "kvk_region": ["West"] * 6, "start_date": [dt.date(2010, 1, 1)] * 6,
...     "end_date": [None] * 6, "employees": [1, 1, 2, 1, 1, 1],
... })
>>> linked = pl.DataFrame({"be_id": [1], "date": [dt.date(2020, 3, 1)],
...                        "activity": ["webinar"], "statutory_task": ["innovation"]})
>>> spec = CohortSpec(window=("2020-01-01", "2020-12-31"), outcomes=("employees",),
...                   horizon_years=0, pre_years=2)
>>> cohort = build_cohort(linked, register, spec)
>>> cohort.units.select("be_id", "treat", "index_year").sort("be_id").rows()
[(1, True, 2020), (2, False, 2020)]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from kvklink.errors import InputError, SchemaError
from kvklink.frames import AnyFrame, like_input, require_columns, to_polars

__all__ = ["Cohort", "CohortSpec", "build_cohort"]

ControlPool = Literal["never_treated", "not_yet_treated"]

#: Outcomes of a BE with at least one qualifying linked interaction, in order of precedence.
TREATED_OUTCOMES: tuple[str, ...] = (
    "treated",
    "first_use_before_window",
    "first_use_after_window",
    "no_register_record_before_index",
    "not_alive_at_index",
    "outside_target_group",
)


def _as_date(value: dt.date | str, *, argument: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        msg = (
            f"The {argument!r} parameter of CohortSpec must be a date or an ISO date string "
            f"(YYYY-MM-DD). Got {value!r} instead."
        )
        raise InputError(msg) from None


def _as_tuple(value: Sequence[str] | str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@dataclass(frozen=True)
class CohortSpec:
    """Which interactions make a BE treated, which BEs may be controls, and what is measured.

    Parameters
    ----------
    window
        ``(start, end)`` dates, inclusive: a BE is treated when its first qualifying interaction
        falls in this window.
    activities, statutory_task
        Which interactions qualify. ``None`` means any. Both given: an interaction qualifies when
        it matches both.
    controls
        ``"never_treated"`` or ``"not_yet_treated"`` (first qualifying use after the horizon).
    horizon_years
        Outcome years after the index year (event time ``0 .. horizon_years``).
    pre_years
        Outcome years before the index year kept in the panel (event time ``-pre_years .. -1``).
    size_bands, legal_forms, sections, regions
        Target-group filters applied to treated and controls alike (``None`` = no filter), using
        the register's ``size_band``, ``legal_form``, ``section`` and ``kvk_region`` in ``y - 1``.
    outcomes
        Numeric register columns used as pre-period covariates and as panel outcomes.
    """

    window: tuple[dt.date | str, dt.date | str]
    activities: Sequence[str] | str | None = None
    statutory_task: Sequence[str] | str | None = None
    controls: ControlPool = "never_treated"
    horizon_years: int = 3
    pre_years: int = 3
    size_bands: Sequence[str] | str | None = None
    legal_forms: Sequence[str] | str | None = None
    sections: Sequence[str] | str | None = None
    regions: Sequence[str] | str | None = None
    outcomes: Sequence[str] = ("employees", "turnover")
    _start: dt.date = field(init=False, repr=False, compare=False)
    _end: dt.date = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.window, tuple | list) or len(self.window) != 2:
            msg = (
                "The 'window' parameter of CohortSpec must be a (start, end) pair of dates. "
                f"Got {type(self.window).__name__} instead."
            )
            raise InputError(msg)
        start = _as_date(self.window[0], argument="window")
        end = _as_date(self.window[1], argument="window")
        if end < start:
            msg = "The 'window' of CohortSpec ends before it starts. Hint: swap start and end."
            raise InputError(msg)
        if self.controls not in ("never_treated", "not_yet_treated"):
            msg = (
                "The 'controls' parameter of CohortSpec must be 'never_treated' or "
                f"'not_yet_treated'. Got {self.controls!r} instead."
            )
            raise InputError(msg)
        for name in ("horizon_years", "pre_years"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                msg = (
                    f"The {name!r} parameter of CohortSpec must be an int >= 0. "
                    f"Got {value!r} instead."
                )
                raise InputError(msg)
        if self.pre_years < 1:
            msg = "The 'pre_years' parameter of CohortSpec must be >= 1 (covariates use year y-1)."
            raise InputError(msg)
        object.__setattr__(self, "_start", start)
        object.__setattr__(self, "_end", end)
        for name in (
            "activities",
            "statutory_task",
            "size_bands",
            "legal_forms",
            "sections",
            "regions",
        ):
            object.__setattr__(self, name, _as_tuple(getattr(self, name)))
        object.__setattr__(self, "outcomes", tuple(self.outcomes))

    @property
    def start(self) -> dt.date:
        """First day of the treatment window."""
        return self._start

    @property
    def end(self) -> dt.date:
        """Last day of the treatment window (inclusive)."""
        return self._end

    def covariates(self) -> list[str]:
        """Names of the pre-treatment covariates :func:`build_cohort` adds for matching."""
        names = ["firm_age", "new_firm"]
        for outcome in self.outcomes:
            names += [
                f"{outcome}_log_pre",
                f"{outcome}_trend",
                f"{outcome}_trend2",
                f"{outcome}_trend3",
            ]
        return names


@dataclass(frozen=True, repr=False)
class Cohort:
    """Treated units with their index dates and the eligible controls, with covariates and panel.

    Attributes
    ----------
    units
        One row per (BE, index year): ``cohort_id``, ``be_id``, ``index_year``, ``index_date``
        (treated only), ``treat``, strata (``section``, ``size_band``, ``legal_form``,
        ``kvk_region``) and the covariates of :meth:`CohortSpec.covariates`. The caller's
        frame kind.
    panel
        Long outcome panel: ``cohort_id``, ``be_id``, ``index_year``, ``treat``, ``event_time``,
        ``year`` and one column per outcome (null where the BE has no register record that year).
    treated_outcomes
        Outcome of every BE that had a qualifying linked interaction -> count.
    spec
        The :class:`CohortSpec` used.
    """

    units: Any
    panel: Any
    treated_outcomes: dict[str, int]
    control_rows: int
    spec: CohortSpec

    @property
    def n_treated(self) -> int:
        """Number of treated units."""
        return self.treated_outcomes.get("treated", 0)

    def strata(self) -> list[str]:
        """Columns to match exactly on by default: index year and the register strata."""
        return ["index_year", "section", "size_band", "legal_form", "kvk_region"]

    def __repr__(self) -> str:
        outcomes = ", ".join(f"{k}={v}" for k, v in self.treated_outcomes.items() if v)
        return (
            f"Cohort(treated={self.n_treated}, control_rows={self.control_rows}, "
            f"controls={self.spec.controls!r}, "
            f"window={self.spec.start}..{self.spec.end}; {outcomes})"
        )


_LINKED_REQUIRED = ("be_id", "date")
_REGISTER_REQUIRED = (
    "be_id",
    "year",
    "section",
    "size_band",
    "legal_form",
    "kvk_region",
    "start_date",
)


def _qualifying_first_use(linked: pl.DataFrame, spec: CohortSpec) -> pl.DataFrame:
    """First qualifying linked interaction date per BE (one row per BE)."""
    condition = pl.col("be_id").is_not_null() & pl.col("date").is_not_null()
    if "link_status" in linked.columns:
        condition &= pl.col("link_status") == "linked"
    if spec.activities is not None:
        require_columns(linked, ["activity"], argument="linked")
        condition &= pl.col("activity").is_in(list(spec.activities))
    if spec.statutory_task is not None:
        require_columns(linked, ["statutory_task"], argument="linked")
        condition &= pl.col("statutory_task").is_in(list(spec.statutory_task))
    return (
        linked.lazy()
        .filter(condition)
        .group_by("be_id")
        .agg(pl.col("date").min().alias("first_use"))
        .collect()
    )


def _target_filter(spec: CohortSpec) -> pl.Expr:
    expr = pl.lit(True)
    for column, allowed in (
        ("size_band", spec.size_bands),
        ("legal_form", spec.legal_forms),
        ("section", spec.sections),
        ("kvk_region", spec.regions),
    ):
        if allowed is not None:
            expr &= pl.col(column).cast(pl.String).is_in(list(allowed))
    return expr


def _log_growth(later: str, earlier: str) -> pl.Expr:
    """``log1p(later) - log1p(earlier)``, 0 where either year has no record."""
    later_expr = pl.col(later).cast(pl.Float64)
    earlier_expr = pl.col(earlier).cast(pl.Float64)
    return (
        pl.when(later_expr.is_null() | earlier_expr.is_null())
        .then(0.0)
        .otherwise(later_expr.log1p() - earlier_expr.log1p())
    )


def _covariates_at(register: pl.LazyFrame, units: pl.LazyFrame, spec: CohortSpec) -> pl.LazyFrame:
    """Join covariates measured in ``index_year - 1`` and trends over the two years before."""
    base_cols = ["section", "size_band", "legal_form", "kvk_region", "start_date", "end_date"]
    pre = register.select(["be_id", "year", *base_cols, *spec.outcomes]).rename(
        {o: f"{o}_pre" for o in spec.outcomes}
    )
    joined = units.with_columns(
        (pl.col("index_year") - 1).alias("_y1"),
        (pl.col("index_year") - 2).alias("_y2"),
        (pl.col("index_year") - 3).alias("_y3"),
        (pl.col("index_year") - 4).alias("_y4"),
    )
    joined = joined.join(pre, left_on=["be_id", "_y1"], right_on=["be_id", "year"], how="inner")
    for lag in (2, 3, 4):
        lagged = register.select(
            "be_id", "year", *[pl.col(o).alias(f"_{o}_{lag}") for o in spec.outcomes]
        )
        joined = joined.join(
            lagged, left_on=["be_id", f"_y{lag}"], right_on=["be_id", "year"], how="left"
        )
    reference_day = pl.coalesce(pl.col("index_date"), pl.date(pl.col("index_year"), 1, 1))
    trends = []
    for o in spec.outcomes:
        trends.append(pl.col(f"{o}_pre").cast(pl.Float64).log1p().alias(f"{o}_log_pre"))
        trends.append(_log_growth(f"{o}_pre", f"_{o}_2").alias(f"{o}_trend"))
        trends.append(_log_growth(f"_{o}_2", f"_{o}_3").alias(f"{o}_trend2"))
        trends.append(_log_growth(f"_{o}_3", f"_{o}_4").alias(f"{o}_trend3"))
    first_outcome = spec.outcomes[0] if spec.outcomes else None
    new_firm = (
        (pl.col(f"_{first_outcome}_2").is_null() if first_outcome else pl.lit(False))
        .cast(pl.Int8)
        .alias("new_firm")
    )
    lag_columns = [f"_{o}_{lag}" for o in spec.outcomes for lag in (2, 3, 4)]
    return joined.with_columns(
        # Rounded so that the last bit does not depend on how polars vectorises the division
        # (results must not depend on input row order).
        ((reference_day - pl.col("start_date")).dt.total_days() / 365.25)
        .round(9)
        .alias("firm_age"),
        *trends,
        new_firm,
    ).drop("_y1", "_y2", "_y3", "_y4", *lag_columns)


def build_cohort(linked: AnyFrame, register: AnyFrame, spec: CohortSpec) -> Cohort:
    """Build treated units, the eligible control pool, covariates and the outcome panel.

    Parameters
    ----------
    linked
        Linked interactions with at least ``be_id`` and ``date`` (plus ``activity`` /
        ``statutory_task`` when the spec filters on them; rows with a ``link_status`` other than
        ``"linked"`` are ignored).
    register
        The BE-year register: ``be_id``, ``year``, ``section``, ``size_band``, ``legal_form``,
        ``kvk_region``, ``start_date`` (and optionally ``end_date``) plus the outcome columns.
    spec
        The :class:`CohortSpec`.

    Returns
    -------
    Cohort
        With ``units`` and ``panel`` in the kind of ``register`` (pandas or polars).
    """
    linked_pl, _ = to_polars(linked, argument="linked")
    register_pl, kind = to_polars(register, argument="register")
    require_columns(linked_pl, _LINKED_REQUIRED, argument="linked")
    require_columns(register_pl, [*_REGISTER_REQUIRED, *spec.outcomes], argument="register")
    if register_pl.height == 0:
        msg = (
            "The 'register' frame is empty. "
            "Hint: pass the BE-year register of the evaluation years."
        )
        raise SchemaError(msg)
    for outcome in spec.outcomes:
        if not register_pl.schema[outcome].is_numeric():
            msg = (
                f"The outcome column {outcome!r} of 'register' must be numeric, "
                f"got {register_pl.schema[outcome]}. Hint: cast it to a number first."
            )
            raise SchemaError(msg)
    if not register_pl.schema["start_date"].is_temporal():
        msg = (
            "The 'start_date' column of 'register' must be a date. "
            "Hint: parse it with pl.col('start_date').str.to_date()."
        )
        raise SchemaError(msg)
    if "end_date" not in register_pl.columns:
        register_pl = register_pl.with_columns(pl.lit(None, dtype=pl.Date).alias("end_date"))
    if linked_pl.schema["date"] != pl.Date:
        if not (linked_pl.schema["date"].is_temporal() or linked_pl.schema["date"] == pl.Null):
            msg = (
                "The 'date' column of 'linked' must be a date. "
                "Hint: parse it with pl.col('date').str.to_date()."
            )
            raise SchemaError(msg)
        linked_pl = linked_pl.with_columns(pl.col("date").cast(pl.Date))
    register_pl = register_pl.with_columns(
        pl.col("be_id").cast(pl.Int64), pl.col("year").cast(pl.Int32)
    )
    linked_pl = linked_pl.with_columns(pl.col("be_id").cast(pl.Int64))

    first = _qualifying_first_use(linked_pl, spec)
    reg = register_pl.lazy()
    target = _target_filter(spec)

    # --- treated: first use inside the window, alive at the index date, inside the target group.
    candidates = first.lazy().with_columns(
        pl.col("first_use").dt.year().cast(pl.Int32).alias("index_year"),
        pl.col("first_use").alias("index_date"),
    )
    window_status = (
        pl.when(pl.col("first_use") < pl.lit(spec.start))
        .then(pl.lit("first_use_before_window"))
        .when(pl.col("first_use") > pl.lit(spec.end))
        .then(pl.lit("first_use_after_window"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    candidates = candidates.with_columns(window_status.alias("_status"))
    in_window = candidates.filter(pl.col("_status").is_null()).drop("_status", "first_use")
    with_cov = _covariates_at(reg, in_window, spec)
    alive = (pl.col("start_date") <= pl.col("index_date")) & (
        pl.col("end_date").is_null() | (pl.col("end_date") > pl.col("index_date"))
    )
    with_cov = with_cov.with_columns(
        pl.when(~alive)
        .then(pl.lit("not_alive_at_index"))
        .when(~target)
        .then(pl.lit("outside_target_group"))
        .otherwise(pl.lit("treated"))
        .alias("_status")
    )
    treated_all = with_cov.collect()
    status_counts = dict.fromkeys(TREATED_OUTCOMES, 0)
    for name, n in candidates.group_by("_status").len().collect().iter_rows():
        if name is not None:
            status_counts[name] += n
    for name, n in treated_all.group_by("_status").len().iter_rows():
        status_counts[name] += n
    n_in_window = candidates.filter(pl.col("_status").is_null()).select(pl.len()).collect().item()
    # In-window BEs without a register record in y-1 never reach the covariate join.
    status_counts["no_register_record_before_index"] += n_in_window - treated_all.height
    treated = treated_all.filter(pl.col("_status") == "treated").drop("_status")
    treated = treated.with_columns(pl.lit(True).alias("treat"))

    # --- controls: one row per (eligible BE, index year with treated units).
    index_years = treated.select(pl.col("index_year").unique().sort())
    first_use_lookup = first.lazy().select(
        "be_id", pl.col("first_use").dt.year().cast(pl.Int32).alias("_first_year")
    )
    pool = (
        reg.select("be_id")
        .unique()
        .join(first_use_lookup, on="be_id", how="left")
        .join(index_years.lazy(), how="cross")
    )
    if spec.controls == "never_treated":
        pool = pool.filter(pl.col("_first_year").is_null())
    else:
        pool = pool.filter(
            pl.col("_first_year").is_null()
            | (pl.col("_first_year") > pl.col("index_year") + spec.horizon_years)
        )
    pool = pool.drop("_first_year").with_columns(pl.lit(None, dtype=pl.Date).alias("index_date"))
    controls = _covariates_at(reg, pool, spec)
    year_start = pl.date(pl.col("index_year"), 1, 1)
    controls = controls.filter(
        (pl.col("start_date") <= year_start)
        & (pl.col("end_date").is_null() | (pl.col("end_date") > year_start))
        & target
    ).with_columns(pl.lit(False).alias("treat"))
    controls_df = controls.collect()

    columns = [
        "be_id",
        "index_year",
        "index_date",
        "treat",
        "section",
        "size_band",
        "legal_form",
        "kvk_region",
        *[f"{o}_pre" for o in spec.outcomes],
        *spec.covariates(),
    ]
    units = (
        pl.concat([treated.select(columns), controls_df.select(columns)], how="vertical_relaxed")
        .with_columns(
            pl.col(c).cast(pl.String) for c in ("section", "size_band", "legal_form", "kvk_region")
        )
        .sort("index_year", "be_id", "treat", descending=[False, False, True])
        .with_columns(pl.format("{}-{}", pl.col("be_id"), pl.col("index_year")).alias("cohort_id"))
        .select("cohort_id", *columns)
    )

    # --- long outcome panel in event time.
    offsets = pl.DataFrame(
        {
            "event_time": pl.int_range(-spec.pre_years, spec.horizon_years + 1, eager=True).cast(
                pl.Int32
            )
        }
    )
    panel = (
        units.select("cohort_id", "be_id", "index_year", "treat")
        .join(offsets, how="cross")
        .with_columns((pl.col("index_year") + pl.col("event_time")).cast(pl.Int32).alias("year"))
        .join(
            register_pl.select("be_id", "year", *spec.outcomes),
            on=["be_id", "year"],
            how="left",
        )
        .sort("cohort_id", "event_time")
    )
    return Cohort(
        units=like_input(units, kind),
        panel=like_input(panel, kind),
        treated_outcomes=status_counts,
        control_rows=controls_df.height,
        spec=spec,
    )
