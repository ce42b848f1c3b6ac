"""Selection into KVK services, first use, and the outcome panel with the planted effect (numpy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kvklink.synth._config import (
    ACTIVITIES,
    FIRST_YEAR,
    INTERACTION_FIRST_YEAR,
    INTERACTION_LAST_YEAR,
    LAST_YEAR,
    REGIONS,
    SECTION_SHARES,
)
from kvklink.synth._params import SynthParams
from kvklink.synth._register import N_YEARS, OPEN, Units, day, year_of

__all__ = [
    "SELECTION_COEFFICIENTS",
    "STARTER_ACTIVITIES",
    "Latent",
    "Panel",
    "Usage",
    "draw_latent",
    "draw_outcomes",
    "draw_usage",
]

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
F64 = npt.NDArray[np.float64]

#: Log-odds of becoming a user (synthetic; documented in the manifest). ``growth_sd`` multiplies
#: the unit's standardised *realised* turnover growth over the two years before its first use.
#: Growth is persistent, so users keep growing faster afterwards: a naive users-versus-non-users
#: comparison is biased upward. Selection is on what the register shows before first use
#: (selection on observables), so matching on pre-period levels and trends can remove the bias.
SELECTION_COEFFICIENTS: dict[str, float] = {
    "band_2_9": 0.9,
    "band_10_49": 0.3,
    "band_50_plus": -0.6,
    "starter": 0.8,
    "growth_sd": 0.6,
    "section_M": 0.3,
    "section_J": 0.5,
    "section_C": 0.3,
    "section_G": 0.2,
    "section_Q": -0.4,
    "section_P": -0.2,
    "section_A": -0.3,
    "region_Noord": 0.25,
    "region_Oost": 0.1,
    "region_Zuidwest": -0.1,
}
#: Activities that starters are three times as likely to use.
STARTER_ACTIVITIES: frozenset[str] = frozenset(
    {"Startersevenement", "StartupBox", "KVK Adviesteam", "Informatiepakket"}
)


@dataclass
class Usage:
    """Interactions of register units (numpy columns, one element per interaction)."""

    unit: I64
    day: I32
    activity: I64
    first: npt.NDArray[np.bool_]
    users: I64  # unit indices of users
    first_day: I32  # per user
    first_activity: I64  # per user


def _sigmoid(x: F64) -> F64:
    out: F64 = 1.0 / (1.0 + np.exp(-x))
    return out


@dataclass
class Latent:
    """Untreated potential outcomes in year-major layout (``[year, unit]``), before rounding.

    ``log_emp`` is log persons employed and ``log_turnover`` log turnover, both *without* the
    planted effect; :func:`draw_outcomes` adds the effect of use and rounds.
    """

    log_emp: npt.NDArray[np.float32]
    log_turnover: npt.NDArray[np.float32]


def draw_latent(rng: np.random.Generator, units: Units) -> Latent:
    """Untreated employment and turnover paths with persistence and unit-specific growth."""
    n = units.n
    start_y = year_of(units.start)
    entry = np.maximum(start_y - FIRST_YEAR, 0).astype(np.float32)
    one = units.emp0 <= 1
    sd_e = np.where(one, 0.015, 0.025).astype(np.float32)
    sd_v = np.float32(0.02)
    rho = np.float32(0.6)
    rho_v = np.float32(0.5)
    t_growth = units.turnover_growth.astype(np.float32)
    base_emp = np.log(units.emp0).astype(np.float32)
    growth = units.growth.astype(np.float32)
    prod = units.productivity.astype(np.float32)
    e = np.zeros(n, dtype=np.float32)
    v = np.zeros(n, dtype=np.float32)
    log_emp = np.empty((N_YEARS, n), dtype=np.float32)
    log_turnover = np.empty((N_YEARS, n), dtype=np.float32)
    for j in range(N_YEARS):
        e = rho * e + sd_e * rng.standard_normal(n, dtype=np.float32)
        v = rho_v * v + sd_v * rng.standard_normal(n, dtype=np.float32)
        age = np.maximum(np.float32(j) - entry, np.float32(0.0))
        log_emp[j] = base_emp + growth * age + e
        log_turnover[j] = prod + t_growth * age + log_emp[j] + v
    return Latent(log_emp=log_emp, log_turnover=log_turnover)


def _prior_growth(units: Units, latent: Latent, idx: I64, year: I32) -> F64:
    """Realised log turnover growth from ``year - 3`` to ``year - 1`` (NaN without that history).

    This is what the register shows before first use: selection on it is selection on
    observables, which matching on pre-period trends can remove.
    """
    j1 = year.astype(np.int64) - 1 - FIRST_YEAR
    j3 = j1 - 2
    ok = (j3 >= 0) & (year_of(units.start[idx]) <= year - 3)
    j1c = np.clip(j1, 0, N_YEARS - 1)
    j3c = np.clip(j3, 0, N_YEARS - 1)
    growth = latent.log_turnover[j1c, idx].astype(np.float64) - latent.log_turnover[j3c, idx]
    out: F64 = np.where(ok, growth, np.nan)
    return out


def _size_before(units: Units, latent: Latent, idx: I64, year: I32) -> F64:
    """Persons employed in ``year - 1`` as the register shows it (``emp0`` before the panel)."""
    j1 = year.astype(np.int64) - 1 - FIRST_YEAR
    inside = (j1 >= 0) & (year_of(units.start[idx]) <= year - 1)
    emp = np.maximum(np.rint(np.exp(latent.log_emp[np.clip(j1, 0, N_YEARS - 1), idx])), 1)
    out: F64 = np.where(inside, emp, units.emp0[idx]).astype(np.float64)
    return out


def draw_usage(
    rng: np.random.Generator, units: Units, params: SynthParams, latent: Latent
) -> Usage:
    """Select users on observable traits before first use, their first-use day and interactions.

    Every eligible unit gets a candidate first-use day; whether it becomes a user depends on what
    the register shows *before* that day: size in the year before, starter status, sector, region
    and realised turnover growth over the two years before (the "prior growth" of the issue).
    """
    w0, w1 = day(INTERACTION_FIRST_YEAR), day(INTERACTION_LAST_YEAR, 12, 31)
    eligible = (units.start <= w1) & (units.end >= w0)
    idx = np.flatnonzero(eligible)
    a_all = np.maximum(units.start[idx].astype(np.int64), w0)
    b_all = np.minimum(units.end[idx].astype(np.int64), w1)
    young_all = units.start[idx] >= w0
    soon = a_all + rng.exponential(120.0, size=idx.size).astype(np.int64)
    uniform = a_all + (rng.random(idx.size) * (b_all - a_all + 1)).astype(np.int64)
    candidate_day = np.minimum(np.where(young_all, soon, uniform), b_all).astype(np.int32)
    candidate_year = year_of(candidate_day)

    c = SELECTION_COEFFICIENTS
    emp = _size_before(units, latent, idx, candidate_year)
    x = (
        c["band_2_9"] * ((emp >= 2) & (emp < 10))
        + c["band_10_49"] * ((emp >= 10) & (emp < 50))
        + c["band_50_plus"] * (emp >= 50)
        + c["starter"] * units.starter[idx]
    ).astype(np.float64)
    g = _prior_growth(units, latent, idx, candidate_year)
    known = np.isfinite(g)
    if known.any():
        z = (g - np.nanmean(g)) / max(float(np.nanstd(g)), 1e-12)
        x += c["growth_sd"] * np.where(known, z, 0.0)
    sections = list(SECTION_SHARES)
    sec_coef = np.array([c.get(f"section_{s}", 0.0) for s in sections])
    reg_coef = np.array([c.get(f"region_{r}", 0.0) for r in REGIONS])
    x += sec_coef[units.section[idx]] + reg_coef[units.region[idx]]
    lo, hi = -15.0, 5.0
    for _ in range(40):  # bisection on the intercept so the mean probability is user_rate
        mid = (lo + hi) / 2
        if float(_sigmoid(x + mid).mean()) < params.user_rate:
            lo = mid
        else:
            hi = mid
    p = _sigmoid(x + (lo + hi) / 2)
    chosen = rng.random(idx.size) < p
    users = idx[chosen]
    b = b_all[chosen]
    first_day = candidate_day[chosen]

    n_int = 1 + rng.poisson(params.repeat_mean, size=users.size)
    owner = np.repeat(np.arange(users.size), n_int)
    starts = np.cumsum(n_int) - n_int
    k = np.arange(owner.size) - starts[owner]
    later = (rng.random(owner.size) * 730).astype(np.int64)
    d = np.where(k == 0, first_day[owner], np.minimum(first_day[owner] + later, b[owner]))
    age_years = (d - units.start[users][owner]) / 365.25
    shares = np.array([act.share for act in ACTIVITIES])
    boost = np.array([3.0 if act.name in STARTER_ACTIVITIES else 1.0 for act in ACTIVITIES])
    cum_plain = np.cumsum(shares / shares.sum())
    cum_start = np.cumsum(shares * boost / (shares * boost).sum())
    cum_plain[-1] = cum_start[-1] = 1.0
    u = rng.random(owner.size)
    activity = np.where(
        age_years < 2.0,
        np.searchsorted(cum_start, u, side="right"),
        np.searchsorted(cum_plain, u, side="right"),
    ).astype(np.int64)
    first = k == 0
    return Usage(
        unit=users[owner],
        day=d.astype(np.int32),
        activity=activity,
        first=first,
        users=users,
        first_day=first_day,
        first_activity=activity[first],
    )


@dataclass
class Panel:
    """Outcome matrices in year-major layout (``[year, unit]``) and the unit-major alive mask."""

    alive: npt.NDArray[np.bool_]  # [unit, year]
    employees: npt.NDArray[np.int32]  # [year, unit]
    turnover: F64  # [year, unit]


def effect_fraction(activity: I64, params: SynthParams) -> F64:
    """Full-size planted effect (fraction) per first activity."""
    eff = np.array([act.effect for act in ACTIVITIES]) * params.effect_multiplier
    out: F64 = eff[activity]
    return out


def draw_outcomes(units: Units, usage: Usage, params: SynthParams, latent: Latent) -> Panel:
    """Employees and turnover per unit-year: untreated paths plus the planted effect, rounded."""
    years = np.arange(FIRST_YEAR, LAST_YEAR + 1, dtype=np.int32)
    start_y = year_of(units.start)
    end_y = np.where(units.end == OPEN, 9999, year_of(units.end))
    alive = (start_y[:, None] <= years[None, :]) & (end_y[:, None] >= years[None, :])
    effect = np.zeros((N_YEARS, usage.users.size), dtype=np.float32)
    if usage.users.size:
        frac = effect_fraction(usage.first_activity, params)
        first_y = year_of(usage.first_day)
        k = years[:, None] - first_y[None, :]
        ramp = np.clip(k / params.effect_ramp_years, 0.0, 1.0)
        effect = (np.log1p(frac)[None, :] * ramp).astype(np.float32)
    employees = np.empty((N_YEARS, units.n), dtype=np.int32)
    turnover = np.empty((N_YEARS, units.n), dtype=np.float64)
    for j in range(N_YEARS):
        log_emp = latent.log_emp[j].copy()
        log_turn = latent.log_turnover[j].copy()
        log_emp[usage.users] += effect[j]
        log_turn[usage.users] += effect[j]
        employees[j] = np.maximum(np.rint(np.exp(log_emp)), 1)
        turnover[j] = np.round(np.exp(log_turn.astype(np.float64)), 1)
    return Panel(alive=alive, employees=employees, turnover=turnover)
