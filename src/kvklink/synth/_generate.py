"""Orchestration: draw every table, assemble polars frames, manifest, writing to Parquet."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from kvklink.errors import InputError
from kvklink.synth._config import (
    ACTIVITIES,
    BANDS,
    CBS_SIZE_CLASSES,
    FIRST_YEAR,
    INTERACTION_FIRST_YEAR,
    INTERACTION_LAST_YEAR,
    KVK_SIZE_CLASSES,
    LAST_YEAR,
    LEGAL_FORMS,
    MUNICIPALITIES,
    PROVINCE_SHARES,
    REGIONS,
    SBI_BY_SECTION,
    SECTION_SHARES,
    SECTION_WORDS,
)
from kvklink.synth._history import ROLES, History, draw_history
from kvklink.synth._panel import (
    SELECTION_COEFFICIENTS,
    Panel,
    Usage,
    draw_latent,
    draw_outcomes,
    draw_usage,
    effect_fraction,
)
from kvklink.synth._params import SynthParams
from kvklink.synth._register import (
    LEGAL_FORM_NAMES,
    OPEN,
    Units,
    day,
    draw_units,
    unique_ints,
    year_of,
)
from kvklink.synth._text import COMMON_STREETS, FANCY_WORDS, digits, load_vocab, zipf_index

__all__ = ["TABLES", "SyntheticData", "generate", "planted_effect"]

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]

#: Tables written by :meth:`SyntheticData.write`, in order.
TABLES: tuple[str, ...] = (
    "register",
    "kvk_history",
    "handelsregister",
    "interactions",
    "truth",
    "treatment",
    "effects",
)
#: Last SBI 2008 year: KVK converted the Handelsregister to SBI 2025 in September 2025, so every
#: register year generated here (≤ 2024) carries SBI 2008.
SBI_VERSION = "SBI2008"
KVK_FORMS: tuple[str, ...] = (
    "clean",
    "spaces",
    "dots",
    "prefix",
    "float",
    "vestigingsnummer",
    "rsin",
    "btw",
    "empty",
    "typo",
    "stripped_zero",
    "not_captured",
)
_PURPOSE_OTHER: tuple[tuple[str, float], ...] = (("nieuwsbrief", 0.4), ("marketing", 0.2))
_STREAMS = ("units", "history", "usage", "outcomes", "address", "names", "interactions", "ids")


def _enum(values: tuple[str, ...] | list[str]) -> pl.Enum:
    return pl.Enum(list(values))


def _gather(categories: tuple[str, ...] | list[str], codes: I64, *, enum: bool = True) -> pl.Series:
    base = pl.Series(list(categories), dtype=_enum(categories) if enum else pl.String)
    return base.gather(codes.astype(np.int64))


def _dates(days: I32 | I64) -> pl.Series:
    arr = days.astype(np.int64)
    series = pl.Series(np.where(arr == int(OPEN), 0, arr).astype(np.int32), dtype=pl.Int32)
    mask = pl.Series(arr == int(OPEN))
    return pl.select(
        pl.when(mask).then(None).otherwise(series.cast(pl.Date)).alias("d")
    ).to_series()


def _class_codes(bounds: tuple[tuple[str, int], ...], values: npt.NDArray[Any]) -> I64:
    """Index of the class whose lower bound is the largest one ``<= value`` (table lookup)."""
    lows = np.array([b for _, b in bounds])
    cap = int(lows[-1]) + 1
    table = (np.searchsorted(lows, np.arange(cap + 1), side="right") - 1).astype(np.int64)
    out: I64 = table[np.clip(values, 0, cap)]
    return out


@dataclass
class SyntheticData:
    """Synthetic register, KVK history, Handelsregister, interactions and truth (polars frames).

    Attributes follow the contract in the project's CONTRACTS.md; the extra ``treatment`` and
    ``effects`` tables hold the planted effect per treated BE (and BE-year), for scoring only.
    """

    register: pl.DataFrame
    kvk_history: pl.DataFrame
    handelsregister: pl.DataFrame
    interactions: pl.DataFrame
    truth: pl.DataFrame
    treatment: pl.DataFrame
    effects: pl.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def planted_effect(self) -> dict[str, Any]:
        """The planted treatment effect (also in ``manifest["planted_effect"]``)."""
        out: dict[str, Any] = self.manifest["planted_effect"]
        return out

    def tables(self) -> dict[str, pl.DataFrame]:
        """The tables by name, in :data:`TABLES` order."""
        return {name: getattr(self, name) for name in TABLES}

    def write(self, outdir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write one Parquet file per table plus ``manifest.json`` into ``outdir``.

        Files are written to a temporary name and renamed, so a crash leaves no half file.
        Returns the paths by table name (``"manifest"`` for the JSON).
        """
        out = Path(outdir)
        out.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        for name, frame in self.tables().items():
            path = out / f"{name}.parquet"
            tmp = out / f".{name}.parquet.tmp"
            frame.write_parquet(tmp, compression="zstd", statistics=True)
            tmp.replace(path)
            paths[name] = path
        path = out / "manifest.json"
        tmp = out / ".manifest.json.tmp"
        tmp.write_text(json.dumps(self.manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)
        paths["manifest"] = path
        return paths

    def __repr__(self) -> str:
        rows = ", ".join(f"{k}={v.height}" for k, v in self.tables().items())
        return f"SyntheticData({rows})"


def planted_effect(params: SynthParams | None = None) -> dict[str, Any]:
    """Describe the planted treatment effect for ``params`` (defaults when None).

    The effect is multiplicative on the latent persons-employed level *and* on turnover of a BE,
    from the calendar year after its first use of a KVK service (any interaction, observed or
    not): in year ``first_year + k`` the log outcome is raised by ``log1p(effect[activity]) *
    min(k / ramp_years, 1)`` for ``k >= 1`` (0 before), where ``activity`` is the BE's first
    activity. Reported employees are the rounded latent level (at least 1), so for one-person
    firms the effect shows in turnover only.

    Examples
    --------
    >>> info = planted_effect()
    >>> info["effect_by_activity"]["KVK Business Challenge"]
    0.12
    >>> info["ramp_years"]
    3
    """
    p = params or SynthParams()
    return {
        "outcomes": ["employees (latent, before rounding)", "turnover"],
        "scale": "log points: log1p(effect) at full size",
        "starts": "calendar year after the first interaction (k = year - first_use_year >= 1)",
        "ramp_years": p.effect_ramp_years,
        "ramp": "linear: min(k / ramp_years, 1)",
        "effect_by_activity": {
            a.name: round(a.effect * p.effect_multiplier, 6) for a in ACTIVITIES
        },
        "assigned_by": "activity of the BE's first interaction (table 'treatment')",
        "per_unit_year": "table 'effects' (be_id, year, effect_log)",
        "selection": {
            "coefficients_log_odds": dict(SELECTION_COEFFICIENTS),
            "note": "users are more often micro-mkb (2-9 persons in the year before first use), "
            "starters, in sections J/M/C/G, in region Noord, and grew faster (realised turnover "
            "growth over the two years before first use; growth persists): a naive comparison is "
            "biased up. Selection is on what the register shows before first use, so matching on "
            "pre-period levels and trends can remove the bias.",
        },
    }


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[str], None]]:
    if not enabled:
        yield lambda _label: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]synth[/] {task.description:<28}"),
        BarColumn(),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("start", total=total)

        def step(label: str) -> None:
            bar.update(task, advance=1, description=label)

        yield step


def generate(
    scale: float = 0.01,
    seed: int = 0,
    *,
    params: SynthParams | None = None,
    progress: bool | None = None,
) -> SyntheticData:
    """Generate a synthetic ABR-like register, KVK history, Handelsregister and interactions.

    Parameters
    ----------
    scale
        Size relative to the Dutch business population: ``1.0`` ≈ 2.4 million BE units alive at
        the end of 2024 (about 4 million units over 2015–2024 and 20 million unit-years).
    seed
        Seed; the same seed (and parameters) gives identical frames and identical Parquet files.
    params
        Rates and knobs (:class:`SynthParams`); defaults calibrated to the domain notes.
    progress
        Show a rich progress bar; ``None`` shows it when stderr is a terminal and ``scale >= 0.05``.

    Examples
    --------
    >>> data = generate(scale=0.0005, seed=1)
    >>> data.register.columns[:3]
    ['be_id', 'year', 'sbi']
    >>> bool(data.kvk_history["kvk_nummer"].str.len_chars().eq(8).all())
    True
    """
    if not isinstance(scale, int | float) or not 0.0 < float(scale) <= 4.0:
        msg = f"The 'scale' argument of generate must be a number in (0, 4]. Got {scale!r} instead."
        raise InputError(msg)
    if not isinstance(seed, int) or seed < 0:
        msg = f"The 'seed' argument of generate must be an int >= 0. Got {seed!r} instead."
        raise InputError(msg)
    p = params or SynthParams()
    show = progress if progress is not None else (sys.stderr.isatty() and scale >= 0.05)
    streams = dict(zip(_STREAMS, np.random.SeedSequence(seed).spawn(len(_STREAMS)), strict=True))
    rngs = {k: np.random.default_rng(v) for k, v in streams.items()}
    with _progress(show, 8) as step:
        step("units and traits")
        units = draw_units(rngs["units"], float(scale), p)
        step("KVK number history")
        hist = draw_history(rngs["history"], units, p)
        step("service use (selection)")
        latent = draw_latent(rngs["outcomes"], units)
        usage = draw_usage(rngs["usage"], units, p, latent)
        step("outcome panel")
        panel = draw_outcomes(units, usage, p, latent)
        del latent
        step("register frame")
        be_ids = np.arange(units.n, dtype=np.int64) + 10_000_001
        register = _register_frame(units, hist, panel, be_ids)
        del panel
        step("addresses and trade names")
        addr = _unit_addresses(rngs["address"], units)
        names = _unit_names(rngs["names"], units)
        hr, hoofd = _handelsregister(rngs["ids"], units, hist, addr, names)
        history = _history_frame(hist, be_ids)
        step("interactions")
        interactions, truth = _interactions(
            rngs["interactions"], units, hist, usage, hoofd, p, be_ids
        )
        step("truth and manifest")
        treatment, effects = _treatment_frames(units, usage, p, be_ids)
    data = SyntheticData(
        register=register,
        kvk_history=history,
        handelsregister=hr,
        interactions=interactions,
        truth=truth,
        treatment=treatment,
        effects=effects,
    )
    data.manifest = _manifest(data, float(scale), seed, p)
    return data


# ----------------------------------------------------------------------------------- register


def _register_frame(units: Units, hist: History, panel: Panel, be_ids: I64) -> pl.DataFrame:
    flat = np.flatnonzero(panel.alive)  # unit-major: rows sorted by unit, then year
    n_years = panel.alive.shape[1]
    unit_idx = flat // n_years
    year_idx = flat - unit_idx * n_years
    del flat
    years = (year_idx + FIRST_YEAR).astype(np.int16)
    year_major = year_idx * units.n + unit_idx
    employees = panel.employees.ravel()[year_major]
    turnover = panel.turnover.ravel()[year_major]
    del year_major
    sections = list(SECTION_SHARES)
    sbi_flat = [code for s in sections for code, _ in SBI_BY_SECTION[s]]
    provinces = list(PROVINCE_SHARES)
    munis = [m.code for m in MUNICIPALITIES]
    # legal form per year: incorporated units are a BV from the year of the switch
    lf = units.legal_form[unit_idx]
    inc = hist.incorporated[unit_idx]
    switch_y = year_of(hist.switch_day)[unit_idx]
    lf = np.where(inc & (years >= switch_y), LEGAL_FORM_NAMES.index("bv"), lf)
    kvk_labels = [c for c, _ in KVK_SIZE_CLASSES]
    cbs_labels = [c for c, _ in CBS_SIZE_CLASSES]
    band_labels = [c for c, _ in BANDS]
    frame = pl.DataFrame(
        {
            "be_id": pl.Series(be_ids[unit_idx], dtype=pl.Int64),
            "year": pl.Series(years, dtype=pl.Int16),
            "sbi": _gather(sbi_flat, units.sbi[unit_idx], enum=False),
            "sbi_version": _gather([SBI_VERSION], np.zeros(unit_idx.size, np.int64)),
            "section": _gather(sections, units.section[unit_idx], enum=False),
            "size_class_kvk": _gather(kvk_labels, _class_codes(KVK_SIZE_CLASSES, employees)),
            "size_class_cbs": _gather(cbs_labels, _class_codes(CBS_SIZE_CLASSES, employees)),
            "size_band": _gather(band_labels, _class_codes(BANDS, employees)),
            "legal_form": _gather(LEGAL_FORM_NAMES, lf),
            "province": _gather(provinces, units.province[unit_idx]),
            "kvk_region": _gather(REGIONS, units.region[unit_idx]),
            "municipality": _gather(munis, units.municipality[unit_idx]),
            "start_date": _dates(units.start).gather(unit_idx),
            "end_date": _dates(units.end).gather(unit_idx),
            "employees": pl.Series(employees, dtype=pl.Int32),
            "turnover": pl.Series(turnover, dtype=pl.Float64),
        }
    )
    return frame


def _history_frame(hist: History, be_ids: I64) -> pl.DataFrame:
    order = np.argsort(hist.kvk * (1 << 20) + (hist.valid_from.astype(np.int64) + (1 << 19)))
    return pl.DataFrame(
        {
            "kvk_nummer": digits(hist.kvk[order], 8),
            "be_id": pl.Series(be_ids[hist.unit[order]], dtype=pl.Int64),
            "valid_from": _dates(hist.valid_from[order]),
            "valid_to": _dates(hist.valid_to[order]),
            "role": _gather(ROLES, hist.role[order]),
            "legal_form": _gather(LEGAL_FORM_NAMES, hist.legal_form[order]),
        }
    )


# ---------------------------------------------------------------------- addresses and names

_LETTERS = np.array(list("ABCDEGHJKLMNPRSTVWXZ"))
_ADDITIONS = ("", "A", "B", "C", "-1", "-2", "-3", "-4", "D", "-11")


def _postcode_house(rng: np.random.Generator, muni: I64) -> dict[str, pl.Series]:
    n = muni.size
    lo = np.array([m.pc_low for m in MUNICIPALITIES])[muni]
    hi = np.array([m.pc_high for m in MUNICIPALITIES])[muni]
    pc4 = lo + (rng.random(n) * (hi - lo + 1)).astype(np.int64)
    letters = rng.integers(0, _LETTERS.size, size=(n, 2))
    pc_letters = np.char.add(_LETTERS[letters[:, 0]], _LETTERS[letters[:, 1]])
    vocab = load_vocab()
    streets = list(COMMON_STREETS) + vocab["street_names"]
    common = rng.random(n) < 0.25
    street_idx = np.where(
        common,
        rng.integers(0, len(COMMON_STREETS), size=n),
        len(COMMON_STREETS) + zipf_index(rng, n, len(vocab["street_names"]), a=0.6),
    )
    number = 1 + np.minimum(rng.exponential(35.0, size=n).astype(np.int64), 399)
    add_idx = np.where(rng.random(n) < 0.12, rng.integers(1, len(_ADDITIONS), size=n), 0)
    house = pl.Series(number, dtype=pl.Int64).cast(pl.String) + _gather(
        _ADDITIONS, add_idx.astype(np.int64), enum=False
    )
    return {
        "street": _gather(streets, street_idx.astype(np.int64), enum=False),
        "house_number": house,
        "postcode": pl.Series(pc4, dtype=pl.Int64).cast(pl.String)
        + " "
        + pl.Series(pc_letters, dtype=pl.String),
        "city": _gather([m.name for m in MUNICIPALITIES], muni, enum=False),
    }


def _unit_addresses(rng: np.random.Generator, units: Units) -> pl.DataFrame:
    """Main-establishment address per unit; ~6% share a business-centre address."""
    own = pl.DataFrame(_postcode_house(rng, units.municipality))
    n = units.n
    order = np.lexsort((rng.random(n), units.municipality))
    counts = np.bincount(units.municipality, minlength=len(MUNICIPALITIES))
    offsets = np.cumsum(counts) - counts
    centres = np.maximum(counts // 200, 1)
    m = units.municipality
    anchor = order[offsets[m] + (rng.random(n) * centres[m]).astype(np.int64)]
    shared = rng.random(n) < 0.06
    source = np.where(shared, anchor, np.arange(n))
    return own[source]


def _unit_names(rng: np.random.Generator, units: Units, subset: I64 | None = None) -> pl.Series:
    """A trade-name root per unit (or per element of ``subset``), without legal-form suffix."""
    section = units.section if subset is None else units.section[subset]
    n = int(section.size)
    vocab = load_vocab()
    last = vocab["last_names"]
    first = vocab["first_names"]
    sections = list(SECTION_SHARES)
    words_flat = [w for s in sections for w in SECTION_WORDS[s]]
    w_off = np.cumsum([0] + [len(SECTION_WORDS[s]) for s in sections])
    w_len = np.array([len(SECTION_WORDS[s]) for s in sections])
    word_idx = w_off[section] + (rng.random(n) * w_len[section]).astype(np.int64)
    cols = pl.DataFrame(
        {
            "l1": _gather(last, zipf_index(rng, n, len(last)), enum=False),
            "l2": _gather(last, zipf_index(rng, n, len(last)), enum=False),
            "f": _gather(first, zipf_index(rng, n, len(first)), enum=False),
            "w": _gather(words_flat, word_idx, enum=False),
            "x": _gather(FANCY_WORDS, rng.integers(0, len(FANCY_WORDS), size=n), enum=False),
            "p": pl.Series(
                np.searchsorted([0.4, 0.6, 0.72, 0.9, 1.0], rng.random(n), side="right"),
                dtype=pl.Int8,
            ),
        }
    )
    c = pl.col
    name = (
        pl.when(c("p") == 0)
        .then(pl.concat_str([c("l1"), c("w")], separator=" "))
        .when(c("p") == 1)
        .then(pl.concat_str([c("w"), c("l1")], separator=" "))
        .when(c("p") == 2)
        .then(pl.concat_str([c("l1"), pl.lit("&"), c("l2")], separator=" "))
        .when(c("p") == 3)
        .then(pl.concat_str([c("f"), c("l1")], separator=" "))
        .otherwise(pl.concat_str([c("x"), c("w")], separator=" "))
    )
    return cols.select(name.alias("trade_name")).to_series()


def _handelsregister(
    rng: np.random.Generator,
    units: Units,
    hist: History,
    addr: pl.DataFrame,
    names: pl.Series,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per vestiging of every KVK number (primary, successor and holding numbers)."""
    keep = hist.role != ROLES.index("acquired")
    kvk = hist.kvk[keep]
    unit = hist.unit[keep]
    role = hist.role[keep]
    lf = hist.legal_form[keep]
    emp = units.emp0[unit]
    lam = np.where(emp <= 1, 0.03, np.where(emp < 10, 0.2, np.where(emp < 50, 0.8, 3.0)))
    lam = np.where(role == ROLES.index("holding"), 0.0, lam)
    n_vest = 1 + np.minimum(rng.poisson(lam), 50)
    row_num = np.repeat(np.arange(kvk.size), n_vest)
    first = np.ones(row_num.size, dtype=bool)
    first[1:] = row_num[1:] != row_num[:-1]
    vest = unique_ints(rng, row_num.size, 10**7, 10**11)
    r_unit = unit[row_num]
    base = addr[r_unit]
    extra = ~first
    if extra.any():
        other = pl.DataFrame(_postcode_house(rng, units.municipality[r_unit[extra]]))
        extra_pos = np.flatnonzero(extra)
        base = base.with_row_index("_i")
        other = other.with_columns(pl.Series("_i", extra_pos, dtype=pl.UInt32))
        base = base.update(other, on="_i").drop("_i")
    suffixes = {
        "eenmanszaak": "",
        "vof": " V.O.F.",
        "bv": " B.V.",
        "other": "",
    }
    assert tuple(suffixes) == tuple(LEGAL_FORMS)
    suffix = np.where(
        role[row_num] == ROLES.index("holding"),
        len(suffixes),
        lf[row_num],
    ).astype(np.int64)
    suffix_s = _gather([*suffixes.values(), " Holding B.V."], suffix, enum=False)
    frame = pl.DataFrame(
        {
            "kvk_nummer": digits(kvk[row_num], 8),
            "vestigingsnummer": digits(vest, 12),
            "trade_name": names.gather(r_unit) + suffix_s,
        }
    ).hstack(base)
    frame = frame.with_columns(pl.Series("is_hoofdvestiging", first))
    hoofd = frame.filter(pl.col("is_hoofdvestiging")).drop("is_hoofdvestiging")
    return frame, hoofd


# -------------------------------------------------------------------------------- interactions


def _rsin(rng: np.random.Generator, n: int) -> pl.Series:
    """Nine-digit numbers passing the 11-test (weights 9..2 and -1 on the last digit)."""
    out = np.zeros(n, dtype=np.int64)
    todo = np.arange(n)
    weights = np.arange(9, 1, -1)
    while todo.size:
        d = rng.integers(0, 10, size=(todo.size, 8))
        d[:, 0] = rng.integers(1, 10, size=todo.size)
        check = (d @ weights) % 11
        ok = check < 10
        value = (d @ (10 ** np.arange(8, 0, -1))) + check
        out[todo[ok]] = value[ok]
        todo = todo[~ok]
    return digits(out, 9)


def _interactions(
    rng: np.random.Generator,
    units: Units,
    hist: History,
    usage: Usage,
    hoofd: pl.DataFrame,
    p: SynthParams,
    be_ids: I64,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    acts = ACTIVITIES
    n_reg = usage.unit.size
    n_nir = round(p.not_in_register_rate * n_reg / max(1.0 - p.not_in_register_rate, 1e-9))
    w0, w1 = day(INTERACTION_FIRST_YEAR), day(INTERACTION_LAST_YEAR, 12, 31)
    # the KVK number really used: valid number of the BE at the date (holding 15% if any)
    unit = usage.unit
    use_succ = (hist.successor[unit] >= 0) & (usage.day >= hist.switch_day[unit])
    number = np.where(use_succ, hist.successor[unit], hist.primary[unit])
    use_hold = (hist.holding[unit] >= 0) & (rng.random(n_reg) < 0.15)
    number = np.where(use_hold, hist.holding[unit], number)
    # parties outside the register
    nir_day = rng.integers(w0, w1 + 1, size=n_nir)
    shares = np.array([a.share for a in acts])
    cum = np.cumsum(shares / shares.sum())
    cum[-1] = 1.0
    nir_act = np.searchsorted(cum, rng.random(n_nir), side="right").astype(np.int64)
    known = np.sort(hist.kvk)
    nir_number = rng.integers(1_000_000, 100_000_000, size=n_nir)

    def in_known(values: I64) -> npt.NDArray[np.bool_]:
        pos = np.minimum(np.searchsorted(known, values), max(known.size - 1, 0))
        return known[pos] == values if known.size else np.zeros(values.size, bool)

    clash = in_known(nir_number)
    while clash.any():
        nir_number[clash] = rng.integers(1_000_000, 100_000_000, size=int(clash.sum()))
        clash = in_known(nir_number)
    n = n_reg + n_nir
    act = np.concatenate([usage.activity, nir_act])
    day_ = np.concatenate([usage.day.astype(np.int64), nir_day])
    true_num = np.concatenate([number, np.full(n_nir, -1)])
    true_unit = np.concatenate([unit, np.full(n_nir, -1)])
    given_num = np.concatenate([number, nir_number])
    capture_p = np.array([a.capture for a in acts])[act]
    name_p = np.array([a.name_capture for a in acts])[act]
    captured = rng.random(n) < capture_p
    name_cap = captured | (rng.random(n) < name_p)
    channel_email = np.array([a.channel == "email" for a in acts])[act]
    has_email = name_cap | channel_email

    # messy spelling of captured numbers
    forms = p.messy.forms()
    form_names = list(forms)
    cum_f = np.cumsum(list(forms.values()))
    u = rng.random(n)
    form = np.searchsorted(cum_f, u, side="right")  # len(forms) == clean
    form_code = np.where(form == len(form_names), 0, form + 1)  # KVK_FORMS index
    leading_zero = given_num < 10_000_000
    stripped = (
        captured
        & leading_zero
        & np.isin(form_code, [0, 4])  # clean or float spelling of a leading-zero number
        & (rng.random(n) < p.messy.stripped_zero)
    )
    form_code = np.where(stripped, KVK_FORMS.index("stripped_zero"), form_code)
    form_code = np.where(captured, form_code, KVK_FORMS.index("not_captured")).astype(np.int64)
    # typo: one digit replaced by another
    pos = rng.integers(0, 8, size=n)
    place = 10 ** (7 - pos)
    old_digit = (given_num // place) % 10
    new_digit = (old_digit + rng.integers(1, 10, size=n)) % 10
    typo_num = given_num + (new_digit - old_digit) * place
    typo_num = np.where(typo_num < 1_000_000, given_num, typo_num)  # keep 8 significant-ish

    frame = pl.DataFrame(
        {
            "_n": digits(given_num, 8),
            "_typo": digits(typo_num, 8),
            "_int": pl.Series(given_num, dtype=pl.Int64).cast(pl.String),
            "_form": pl.Series(form_code, dtype=pl.Int64),
            "_pv": pl.Series(rng.integers(0, 3, size=n), dtype=pl.Int64),
            "_rsin": _rsin(rng, n),
            "_btw": pl.Series(["NL"] * n, dtype=pl.String)
            + _rsin(rng, n)
            + pl.Series(["B0"] * n, dtype=pl.String)
            + pl.Series(rng.integers(1, 4, size=n), dtype=pl.Int64).cast(pl.String),
        }
    )
    # hoofdvestiging details of the number given (register parties)
    details = pl.DataFrame({"_n": digits(given_num, 8)}).join(
        hoofd.rename({"kvk_nummer": "_n"}), on="_n", how="left", maintain_order="left"
    )
    c = pl.col
    s = c("_n")
    spaces = pl.concat_str([s.str.slice(0, 4), pl.lit(" "), s.str.slice(4, 4)])
    dots = pl.concat_str(
        [s.str.slice(0, 2), s.str.slice(2, 2), s.str.slice(4, 2), s.str.slice(6, 2)], separator="."
    )
    prefix = (
        pl.when(c("_pv") == 0)
        .then(pl.concat_str([pl.lit("KvK "), s]))
        .when(c("_pv") == 1)
        .then(pl.concat_str([pl.lit("KvK-nr. "), dots]))
        .otherwise(pl.concat_str([pl.lit("kvk: "), spaces]))
    )
    f = c("_form")
    kvk_raw = (
        pl.when(f == 0)
        .then(s)
        .when(f == 1)
        .then(spaces)
        .when(f == 2)
        .then(dots)
        .when(f == 3)
        .then(prefix)
        .when(f == 4)
        .then(pl.concat_str([c("_int"), pl.lit(".0")]))
        .when(f == 5)
        .then(c("vestigingsnummer"))
        .when(f == 6)
        .then(c("_rsin"))
        .when(f == 7)
        .then(c("_btw"))
        .when(f == 8)
        .then(pl.lit(""))
        .when(f == 9)
        .then(c("_typo"))
        .when(f == 10)
        .then(c("_int"))
        .otherwise(None)
    )
    nir = np.concatenate([np.zeros(n_reg, bool), np.ones(n_nir, bool)])
    vest_fallback = digits(unique_ints(rng, n, 10**7, 10**11), 12)
    frame = frame.hstack(details.drop("_n")).with_columns(
        pl.when(pl.Series(nir))
        .then(vest_fallback)
        .otherwise(c("vestigingsnummer"))
        .alias("vestigingsnummer")
    )
    # names and addresses for parties outside the register: sampled afresh
    if n_nir:
        fresh_units = rng.integers(0, units.n, size=n_nir)
        fake_names = _unit_names(rng, units, fresh_units)
        fake_addr = pl.DataFrame(_postcode_house(rng, units.municipality[fresh_units]))
        fill = pl.concat(
            [
                pl.DataFrame({"trade_name": pl.Series([None] * n_reg, dtype=pl.String)}).hstack(
                    pl.DataFrame(schema=fake_addr.schema).clear(n_reg)
                ),
                pl.DataFrame({"trade_name": fake_names}).hstack(fake_addr),
            ]
        )
        frame = frame.with_columns(
            [
                c(k).fill_null(fill[k])
                for k in ("trade_name", "street", "house_number", "postcode", "city")
            ]
        )
    frame = frame.with_columns(kvk_raw.alias("kvk_nummer"))

    # name/address variants on rows without a (usable) number
    no_number = (form_code == KVK_FORMS.index("not_captured")) | (
        form_code == KVK_FORMS.index("empty")
    )
    variant = np.where(
        no_number & (rng.random(n) < p.name_variant_rate), rng.integers(1, 7, size=n), 0
    )
    addr_variant = np.where(
        no_number & (rng.random(n) < p.name_variant_rate), rng.integers(1, 5, size=n), 0
    )
    frame = frame.with_columns(
        pl.Series("_v", variant, dtype=pl.Int64),
        pl.Series("_av", addr_variant, dtype=pl.Int64),
        pl.Series("_u", rng.random(n)),
    )
    name = c("trade_name")
    ln = name.str.len_chars()
    pos_e = (c("_u") * (ln - 2).clip(lower_bound=1)).floor().cast(pl.Int64) + 1
    name_v = (
        pl.when(c("_v") == 1)
        .then(name.str.to_lowercase())
        .when(c("_v") == 2)
        .then(name.str.replace(r" (Holding B\.V\.|B\.V\.|V\.O\.F\.)$", ""))
        .when(c("_v") == 3)
        .then(name.str.replace("B.V.", "BV", literal=True))
        .when(c("_v") == 4)
        .then(pl.concat_str([name.str.slice(0, pos_e), name.str.slice(pos_e + 1)]))
        .when(c("_v") == 5)
        .then(
            pl.concat_str(
                [
                    name.str.slice(0, pos_e),
                    name.str.slice(pos_e + 1, 1),
                    name.str.slice(pos_e, 1),
                    name.str.slice(pos_e + 2),
                ]
            )
        )
        .when(c("_v") == 6)
        .then(name.str.replace(" & ", " en ", literal=True))
        .otherwise(name)
    )
    av = c("_av")
    frame = frame.with_columns(
        name_v.alias("company_name"),
        pl.when(av == 1)
        .then(c("postcode").str.replace(" ", "", literal=True))
        .when(av == 2)
        .then(c("postcode").str.to_lowercase())
        .otherwise(c("postcode"))
        .alias("postcode"),
        pl.when(av == 3)
        .then(c("street").str.replace("straat$", "str."))
        .otherwise(c("street"))
        .alias("street"),
        pl.when(av == 4).then(c("city").str.to_uppercase()).otherwise(c("city")).alias("city"),
    )
    # e-mail: company or personal, synthetic
    vocab = load_vocab()
    firsts = vocab["first_names"]
    lasts = vocab["last_names"]
    domains = vocab["free_email_domains"]
    # one contact per firm (repeat users mostly give the same address), sometimes a colleague
    n_users = usage.users.size
    f_idx = zipf_index(rng, n_users + n, len(firsts))
    l_idx = zipf_index(rng, n_users + n, len(lasts))
    d_idx = rng.integers(0, len(domains), size=n_users + n)
    k_flag = rng.random(n_users + n) < 0.55
    user_pos = np.searchsorted(usage.users, np.maximum(true_unit, 0))
    same = (true_unit >= 0) & (rng.random(n) < 0.85)
    pick = np.where(same, user_pos, n_users + np.arange(n))
    frame = frame.with_columns(
        _gather(firsts, f_idx[pick], enum=False).alias("_ef"),
        _gather(lasts, l_idx[pick], enum=False).alias("_el"),
        _gather(domains, d_idx[pick], enum=False).alias("_ed"),
        pl.Series("_ek", k_flag[pick]),
    )
    slug = c("trade_name").str.to_lowercase().str.replace_all(r"[^a-z0-9]", "")
    personal = pl.concat_str(
        [
            c("_ef").str.to_lowercase(),
            pl.lit("."),
            c("_el").str.to_lowercase().str.replace_all(r"[^a-z]", ""),
            pl.lit("@"),
            c("_ed"),
        ]
    )
    email = pl.when(c("_ek")).then(pl.concat_str([pl.lit("info@"), slug, pl.lit(".nl")]))
    frame = frame.with_columns(email.otherwise(personal).alias("email"))

    # consent
    identified = captured | name_cap | has_email
    consent = identified & (rng.random(n) < p.consent_rate)
    with_eval = consent & (rng.random(n) < p.evaluation_purpose_rate)
    purposes = pl.Series(["dienstverlening"] * n, dtype=pl.String)
    purposes = purposes + pl.Series(np.where(with_eval, ";" + p.evaluation_purpose, ""))
    for label, rate in _PURPOSE_OTHER:
        purposes = purposes + pl.Series(np.where(rng.random(n) < rate, ";" + label, ""))
    consent_day = day_ - rng.integers(0, 61, size=n) * (rng.random(n) < 0.3)
    withdrawn = consent & (rng.random(n) < p.withdrawal_rate)
    withdraw_day = consent_day + rng.integers(30, 1100, size=n)
    channels = [a.channel for a in acts]
    tasks = [a.statutory_task for a in acts]
    names_act = [a.name for a in acts]
    out = pl.DataFrame(
        {
            "date": _dates(day_),
            "activity": _gather(names_act, act),
            "statutory_task": _gather(
                ["innovation", "region"],
                np.array([0 if t == "innovation" else 1 for t in tasks])[act],
            ),
            "channel": _gather(
                sorted(set(channels)),
                np.array([sorted(set(channels)).index(ch) for ch in channels])[act],
            ),
            "kvk_nummer": frame["kvk_nummer"],
            "company_name": frame["company_name"],
            "street": frame["street"],
            "house_number": frame["house_number"],
            "postcode": frame["postcode"],
            "city": frame["city"],
            "email": frame["email"],
        }
    )
    mask = pl.Series(~name_cap)
    out = out.with_columns(
        [
            pl.when(mask).then(None).otherwise(c(k)).alias(k)
            for k in ("company_name", "street", "house_number", "postcode", "city")
        ]
        + [pl.when(pl.Series(~has_email)).then(None).otherwise(c("email")).alias("email")]
    ).with_columns(
        pl.Series("consent", consent),
        pl.when(pl.Series(consent)).then(purposes).otherwise(None).alias("consent_purposes"),
        pl.when(pl.Series(consent)).then(_dates(consent_day)).otherwise(None).alias("consent_date"),
        pl.when(pl.Series(withdrawn))
        .then(_dates(withdraw_day))
        .otherwise(None)
        .alias("consent_withdrawn_date"),
    )
    truth = pl.DataFrame(
        {
            "true_kvk_nummer": pl.select(
                pl.when(pl.Series(true_num >= 0))
                .then(digits(np.maximum(true_num, 0), 8))
                .otherwise(None)
            ).to_series(),
            "true_be_id": pl.Series(
                np.where(true_unit >= 0, be_ids[np.maximum(true_unit, 0)], 0), dtype=pl.Int64
            ),
            "kvk_form": _gather(KVK_FORMS, form_code),
            "name_variant": pl.Series(variant > 0),
            "address_variant": pl.Series(addr_variant > 0),
            "duplicate": pl.Series(np.zeros(n, bool)),
        }
    ).with_columns(
        pl.when(pl.Series(true_unit >= 0))
        .then(pl.col("true_be_id"))
        .otherwise(None)
        .alias("true_be_id")
    )
    # duplicates (registered twice), then order by date and number the interactions
    dup = np.flatnonzero(rng.random(n) < p.duplicate_rate)
    if dup.size:
        out = pl.concat([out, out[dup]])
        truth = pl.concat([truth, truth[dup].with_columns(pl.lit(True).alias("duplicate"))])
    order = np.lexsort((rng.random(out.height), out["date"].to_physical().to_numpy()))
    ids = pl.Series(np.arange(1, out.height + 1), dtype=pl.Int64).cast(pl.String).str.zfill(8)
    ids = "KVKI-" + ids
    out = out[order].insert_column(0, ids.alias("interaction_id"))
    truth = truth[order].insert_column(0, ids.alias("interaction_id"))
    return out, truth


# ------------------------------------------------------------------------ treatment, manifest


def _treatment_frames(
    units: Units, usage: Usage, p: SynthParams, be_ids: I64
) -> tuple[pl.DataFrame, pl.DataFrame]:
    frac = effect_fraction(usage.first_activity, p)
    first_year = year_of(usage.first_day)
    order = np.argsort(usage.users, kind="stable")
    treatment = pl.DataFrame(
        {
            "be_id": pl.Series(be_ids[usage.users], dtype=pl.Int64),
            "first_use_date": _dates(usage.first_day),
            "first_use_year": pl.Series(first_year, dtype=pl.Int16),
            "first_activity": _gather([a.name for a in ACTIVITIES], usage.first_activity),
            "effect_full": pl.Series(frac, dtype=pl.Float64),
        }
    )[order]
    years = np.arange(FIRST_YEAR, LAST_YEAR + 1)
    k = years[None, :] - first_year[:, None]
    ramp = np.clip(k / p.effect_ramp_years, 0.0, 1.0)
    eff = np.log1p(frac)[:, None] * ramp
    start_y = year_of(units.start[usage.users])
    end_y = np.where(units.end[usage.users] == OPEN, 9999, year_of(units.end[usage.users]))
    alive = (start_y[:, None] <= years[None, :]) & (end_y[:, None] >= years[None, :])
    ui, yi = np.nonzero((eff > 0) & alive)
    effects = pl.DataFrame(
        {
            "be_id": pl.Series(be_ids[usage.users[ui]], dtype=pl.Int64),
            "year": pl.Series(years[yi], dtype=pl.Int16),
            "effect_log": pl.Series(eff[ui, yi], dtype=pl.Float64),
        }
    ).sort("be_id", "year")
    return treatment, effects


def _manifest(data: SyntheticData, scale: float, seed: int, p: SynthParams) -> dict[str, Any]:
    params = asdict(p)
    return {
        "generator": "kvklink.synth",
        "synthetic": True,
        "scale": scale,
        "seed": seed,
        "parameters": params,
        "years": {
            "register": [FIRST_YEAR, LAST_YEAR],
            "interactions": [INTERACTION_FIRST_YEAR, INTERACTION_LAST_YEAR],
        },
        "row_counts": {k: v.height for k, v in data.tables().items()},
        "units": int(data.register["be_id"].n_unique()),
        "planted_effect": planted_effect(p),
        "kvk_forms": list(KVK_FORMS),
        "notes": {
            "valid_to": "exclusive: a KVK number maps to be_id on valid_from <= date < valid_to; "
            "null = still valid",
            "sbi_version": "SBI2008 for every year <= 2024; KVK switched the Handelsregister to "
            "SBI 2025 in September 2025",
            "province_shares": "ZH and NH 20% each; other provinces a population-proportional "
            "SYNTHETIC prior",
            "municipalities": "a plausible handful per province (GM codes), synthetic weights",
            "employees": "persons employed, rounded latent level, at least 1",
            "turnover": "EUR thousands",
            "vocabulary": "names and streets from a vocabulary built once from Faker nl_NL",
        },
    }
