"""KVK numbers per BE over time: primary, successor (incorporation/takeover), holding, acquired."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kvklink.synth._config import FIRST_YEAR, LAST_YEAR
from kvklink.synth._params import SynthParams
from kvklink.synth._register import LEGAL_FORM_NAMES, OPEN, Units, day, unique_ints

__all__ = ["ROLES", "History", "draw_history"]

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]

#: Role of a KVK number in its BE (extra column of ``kvk_history``).
ROLES: tuple[str, ...] = ("primary", "successor", "holding", "acquired")
_BV = LEGAL_FORM_NAMES.index("bv")
_EZ = LEGAL_FORM_NAMES.index("eenmanszaak")
_VOF = LEGAL_FORM_NAMES.index("vof")


@dataclass
class History:
    """History rows (numpy) plus per-unit lookups used by the interaction generator.

    ``valid_to`` is exclusive (half-open ``[valid_from, valid_to)``); ``OPEN`` = still valid.
    """

    kvk: I64  # per history row, integer KVK number (< 10**8)
    unit: I64  # per history row, index of the BE unit
    valid_from: I32
    valid_to: I32
    role: I64
    legal_form: I64  # legal form of the legal unit behind the number
    primary: I64  # per unit: primary KVK number
    successor: I64  # per unit: successor number or -1
    switch_day: I32  # per unit: day the successor takes over (OPEN if none)
    holding: I64  # per unit: holding number or -1
    incorporated: npt.NDArray[np.bool_]  # per unit: the switch was an incorporation (-> bv)


def draw_history(rng: np.random.Generator, units: Units, params: SynthParams) -> History:
    """Draw the KVK numbers of every unit and their validity periods."""
    n = units.n
    d_first, d_last = day(FIRST_YEAR), day(LAST_YEAR, 12, 31)
    lo = np.maximum(units.start.astype(np.int64), d_first) + 30
    hi = np.minimum(units.end.astype(np.int64), d_last) - 30
    room = hi > lo
    lf = units.legal_form
    person = (lf == _EZ) | (lf == _VOF)
    u = rng.random(n)
    incorporated = room & person & (u < params.incorporation_rate)
    takeover = room & (lf == _BV) & (u < params.takeover_switch_rate)
    switched = incorporated | takeover
    span = np.where(room, hi - lo, 1)
    switch_day = np.where(switched, lo + (rng.random(n) * span).astype(np.int64), int(OPEN)).astype(
        np.int32
    )
    hold_p = np.where(units.emp0 <= 1, params.holding_rate_one_person, params.holding_rate)
    has_holding = (lf == _BV) & (rng.random(n) < hold_p)
    dying = units.end != OPEN
    final_bv = (lf == _BV) | incorporated
    regroup = dying & final_bv & (rng.random(n) < params.regroup_rate)

    n_succ = int(switched.sum())
    n_hold = int(has_holding.sum())
    numbers = unique_ints(rng, n + n_succ + n_hold, 1_000_000, 100_000_000)
    primary = numbers[:n]
    successor = np.full(n, -1, dtype=np.int64)
    successor[switched] = numbers[n : n + n_succ]
    holding = np.full(n, -1, dtype=np.int64)
    holding[has_holding] = numbers[n + n_succ :]

    end_excl = np.where(dying, units.end.astype(np.int64) + 1, int(OPEN))
    idx = np.arange(n, dtype=np.int64)
    # primary rows
    p_to = np.where(switched, switch_day.astype(np.int64), end_excl)
    rows_kvk = [primary, successor[switched], holding[has_holding]]
    rows_unit = [idx, idx[switched], idx[has_holding]]
    rows_from = [
        units.start.astype(np.int64),
        switch_day[switched].astype(np.int64),
        units.start[has_holding].astype(np.int64),
    ]
    rows_to = [p_to, end_excl[switched], end_excl[has_holding]]
    rows_role = [np.zeros(n, np.int64), np.full(n_succ, 1, np.int64), np.full(n_hold, 2, np.int64)]
    rows_lf = [
        lf,
        np.where(incorporated[switched], _BV, lf[switched]),
        np.full(n_hold, _BV, np.int64),
    ]
    # acquired: the final number of an exiting BV continues under an acquiring BE that exists
    # before FIRST_YEAR and never exits.
    acquirers = idx[(units.start < d_first) & ~dying]
    n_reg = int(regroup.sum())
    if n_reg and acquirers.size:
        final_number = np.where(switched, successor, primary)[regroup]
        rows_kvk.append(final_number)
        rows_unit.append(acquirers[rng.integers(0, acquirers.size, size=n_reg)])
        rows_from.append(end_excl[regroup])
        rows_to.append(np.full(n_reg, int(OPEN), np.int64))
        rows_role.append(np.full(n_reg, 3, np.int64))
        rows_lf.append(np.full(n_reg, _BV, np.int64))
    return History(
        kvk=np.concatenate(rows_kvk),
        unit=np.concatenate(rows_unit),
        valid_from=np.concatenate(rows_from).astype(np.int32),
        valid_to=np.concatenate(rows_to).astype(np.int32),
        role=np.concatenate(rows_role),
        legal_form=np.concatenate(rows_lf),
        primary=primary,
        successor=successor,
        switch_day=switch_day,
        holding=holding,
        incorporated=incorporated,
    )
