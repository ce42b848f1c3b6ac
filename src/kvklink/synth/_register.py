"""Units and their static traits for the synthetic register (numpy bulk)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kvklink.synth._config import (
    FIRST_YEAR,
    LAST_YEAR,
    LEGAL_FORM_BY_SIZE,
    LEGAL_FORMS,
    MUNICIPALITIES,
    PROVINCE_REGION,
    PROVINCE_SHARES,
    REGIONS,
    SBI_BY_SECTION,
    SECTION_SHARES,
    SIZE_CLASSES,
)
from kvklink.synth._params import SynthParams

__all__ = [
    "OPEN",
    "Units",
    "day",
    "draw_units",
    "sample_within",
    "unique_ints",
    "year_of",
]

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

#: Sentinel "day" for an open end date (far future).
OPEN = np.int32(2**31 - 1)
N_YEARS = LAST_YEAR - FIRST_YEAR + 1
LEGAL_FORM_NAMES: tuple[str, ...] = tuple(LEGAL_FORMS)


def day(year: int, month: int = 1, dom: int = 1) -> int:
    """Days since 1970-01-01 of a calendar date.

    >>> day(1970, 1, 2)
    1
    """
    return (_dt.date(year, month, dom) - _dt.date(1970, 1, 1)).days


def year_of(days: npt.NDArray[np.int32] | npt.NDArray[np.int64]) -> I32:
    """Calendar year of day numbers (vectorised).

    >>> int(year_of(np.array([day(2020, 12, 31)]))[0])
    2020
    """
    clipped = np.minimum(days.astype(np.int64), day(9999, 1, 1))
    years = clipped.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    return years.astype(np.int32)


def unique_ints(rng: np.random.Generator, n: int, low: int, high: int) -> I64:
    """``n`` distinct integers in ``[low, high)`` in random order (deterministic for the rng).

    >>> vals = unique_ints(np.random.default_rng(0), 5, 0, 10)
    >>> len(set(vals.tolist()))
    5
    """
    if n == 0:
        return np.empty(0, dtype=np.int64)
    got = np.empty(0, dtype=np.int64)
    while got.size < n:
        extra = rng.integers(low, high, size=int((n - got.size) * 1.05) + 16, dtype=np.int64)
        got = np.sort(np.concatenate([got, extra]), kind="stable")
        got = got[np.concatenate([[True], got[1:] != got[:-1]])]
    if got.size > n:
        got = np.delete(got, rng.choice(got.size, size=got.size - n, replace=False))
    out: I64 = got[rng.permutation(n)]
    return out


def sample_within(rng: np.random.Generator, groups: I64, weights: list[list[float]]) -> I64:
    """For each element's group ``g`` draw an index into ``weights[g]`` (vectorised).

    Returns the index into the *flattened* list of all weights.

    >>> flat = sample_within(np.random.default_rng(1), np.array([0, 1, 1]), [[1.0], [0.0, 1.0]])
    >>> flat.tolist()
    [0, 2, 2]
    """
    cum: list[float] = []
    for g, ws in enumerate(weights):
        total = float(sum(ws))
        acc = 0.0
        for w in ws:
            acc += w / total
            cum.append(g + min(acc, 1.0))
        cum[-1] = g + 1.0
    cum_arr = np.asarray(cum)
    u = rng.random(groups.size)
    u = np.minimum(u, 1.0 - 1e-12)
    return np.searchsorted(cum_arr, groups + u, side="right").astype(np.int64)


@dataclass
class Units:
    """The BE units as numpy columns (one element per unit)."""

    n: int
    start: I32
    end: I32  # OPEN when still alive at the end of LAST_YEAR
    emp0: F64
    size_idx: I64
    legal_form: I64  # index into LEGAL_FORM_NAMES
    section: I64  # index into SECTION_SHARES
    sbi: I64  # index into the flattened SBI table
    province: I64
    region: I64
    municipality: I64  # index into MUNICIPALITIES
    growth: F64  # persistent yearly growth of (latent) persons employed
    turnover_growth: F64  # persistent yearly growth of turnover per person employed
    productivity: F64
    starter: B


def _choice(rng: np.random.Generator, n: int, probs: list[float]) -> I64:
    p = np.asarray(probs, dtype=np.float64)
    cum = np.cumsum(p / p.sum())
    cum[-1] = 1.0
    return np.searchsorted(cum, rng.random(n), side="right").astype(np.int64)


def draw_units(rng: np.random.Generator, scale: float, params: SynthParams) -> Units:
    """Draw the unit population: entries, exits and static traits."""
    g = params.birth_rate - params.death_rate
    # Continuous-time stock: S(t) = S0 exp(g t); target alive at the end of the last year.
    target = params.units_at_full_scale * scale
    s0 = target / np.exp(g * N_YEARS)
    n0 = max(1, round(s0))
    year_births = [
        round(params.birth_rate * s0 * (np.exp(g * (k + 1)) - np.exp(g * k)) / g)
        if g != 0
        else round(params.birth_rate * s0)
        for k in range(N_YEARS)
    ]
    d_first = day(FIRST_YEAR)
    # initial stock: ages ~ exponential (stationary age distribution of a constant hazard)
    age_days = rng.exponential(365.25 / max(params.death_rate, 1e-3), size=n0)
    start0 = np.maximum(d_first - 1 - age_days.astype(np.int64), day(1950)).astype(np.int32)
    starts = [start0]
    for k, nb in enumerate(year_births):
        lo, hi = day(FIRST_YEAR + k), day(FIRST_YEAR + k + 1)
        starts.append(rng.integers(lo, hi, size=nb, dtype=np.int64).astype(np.int32))
    start = np.concatenate(starts)
    n = int(start.size)
    # exit: memoryless hazard from max(start, first day)
    from_day = np.maximum(start, d_first).astype(np.int64)
    life = rng.exponential(365.25 / max(params.death_rate, 1e-9), size=n).astype(np.int64)
    end64 = from_day + 1 + life
    end = np.where(end64 <= day(LAST_YEAR, 12, 31), end64, OPEN).astype(np.int32)

    size_idx = _choice(rng, n, [c.entry_share for c in SIZE_CLASSES])
    lows = np.array([c.low for c in SIZE_CLASSES], dtype=np.float64)
    highs = np.array([c.high for c in SIZE_CLASSES], dtype=np.float64)
    u = rng.random(n)
    emp0 = np.floor(lows[size_idx] + u * (highs[size_idx] - lows[size_idx] + 1))
    top = size_idx == len(SIZE_CLASSES) - 1
    emp0[top] = np.minimum(100.0 * (1.0 + rng.pareto(1.3, size=int(top.sum()))), 20000.0)
    emp0 = np.maximum(emp0, 1.0)

    group = np.where(emp0 <= 1, 0, np.where(emp0 < 10, 1, 2)).astype(np.int64)
    lf_keys = ("1", "2-9", "10+")
    lf_weights = [[LEGAL_FORM_BY_SIZE[k][f] for f in LEGAL_FORM_NAMES] for k in lf_keys]
    legal_form = sample_within(rng, group, lf_weights) - group * len(LEGAL_FORM_NAMES)

    sections = list(SECTION_SHARES)
    section = _choice(rng, n, list(SECTION_SHARES.values()))
    sbi = sample_within(rng, section, [[w for _, w in SBI_BY_SECTION[s]] for s in sections])

    provinces = list(PROVINCE_SHARES)
    province = _choice(rng, n, list(PROVINCE_SHARES.values()))
    region_of = np.array([REGIONS.index(PROVINCE_REGION[p]) for p in provinces], dtype=np.int64)
    region = region_of[province]
    by_prov: list[list[int]] = [[] for _ in provinces]
    for i, m in enumerate(MUNICIPALITIES):
        by_prov[provinces.index(m.province)].append(i)
    flat_munis = np.array([i for lst in by_prov for i in lst], dtype=np.int64)
    muni_flat = sample_within(
        rng, province, [[MUNICIPALITIES[i].weight for i in lst] for lst in by_prov]
    )
    municipality = flat_munis[muni_flat]

    starter = year_of(start) >= FIRST_YEAR - 1
    one = emp0 <= 1
    sd = np.where(one, 0.012, 0.02)
    mu = np.where(one, 0.0, 0.004 + 0.012 * starter)
    growth = mu + sd * rng.standard_normal(n)
    turnover_growth = 0.005 + 0.015 * starter + 0.03 * rng.standard_normal(n)
    sector_prod = np.zeros(len(sections))
    for s, bump in {
        "K": 0.6,
        "D": 0.8,
        "B": 0.8,
        "C": 0.3,
        "G": 0.3,
        "J": 0.2,
        "I": -0.3,
        "S": -0.4,
        "Q": -0.2,
        "P": -0.4,
        "R": -0.3,
    }.items():
        sector_prod[sections.index(s)] = bump
    productivity = np.log(85.0) + sector_prod[section] + 0.45 * rng.standard_normal(n)
    return Units(
        n=n,
        start=start,
        end=end,
        emp0=emp0,
        size_idx=size_idx,
        legal_form=legal_form,
        section=section,
        sbi=sbi,
        province=province,
        region=region,
        municipality=municipality,
        growth=growth,
        turnover_growth=turnover_growth,
        productivity=productivity,
        starter=starter,
    )
