"""Parameters of the synthetic data generator (frozen dataclasses with readable reprs)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kvklink.errors import InputError

__all__ = ["MessyRates", "SynthParams"]


@dataclass(frozen=True)
class MessyRates:
    """How captured KVK numbers are spelled (domain.md §1); shares of *captured* values.

    Every form except ``stripped_zero`` is a share of all interactions whose KVK number was
    captured; the remainder is the clean 8-digit form. ``stripped_zero`` is the share of captured
    numbers *with a leading zero* that lost it in a spreadsheet (``"1234567"``).

    Examples
    --------
    >>> MessyRates().clean > 0.7
    True
    """

    spaces: float = 0.05
    """``"1234 5678"``."""
    dots: float = 0.02
    """``"12.34.56.78"``."""
    prefix: float = 0.03
    """``"KvK 12345678"``, ``"KvK-nr. 12.34.56.78"``, ``"kvk: 1234 5678"``."""
    float_: float = 0.04
    """``"12345678.0"`` (a float from a spreadsheet; 7 digits + ``.0`` for a leading zero)."""
    vestigingsnummer: float = 0.01
    """the 12-digit vestigingsnummer of the main establishment instead of the KVK number."""
    rsin: float = 0.005
    """a 9-digit RSIN/BSN (passes the 11-test)."""
    btw: float = 0.005
    """a btw-id ``NL123456789B01``."""
    empty: float = 0.03
    """asked but left empty (``""``)."""
    typo: float = 0.005
    """one digit wrong: a well-formed 8-digit number of (probably) no or another firm."""
    stripped_zero: float = 0.3
    """share of captured numbers with a leading zero stored as 7 digits (``"1234567"``)."""

    @property
    def clean(self) -> float:
        """Share of captured values in the clean 8-digit form (before ``stripped_zero``)."""
        return 1.0 - sum(self.forms().values())

    def forms(self) -> dict[str, float]:
        """Rates of the non-clean forms that are shares of all captured values."""
        return {
            "spaces": self.spaces,
            "dots": self.dots,
            "prefix": self.prefix,
            "float": self.float_,
            "vestigingsnummer": self.vestigingsnummer,
            "rsin": self.rsin,
            "btw": self.btw,
            "empty": self.empty,
            "typo": self.typo,
        }

    def __post_init__(self) -> None:
        rates = {**self.forms(), "stripped_zero": self.stripped_zero}
        bad = [k for k, v in rates.items() if not 0.0 <= v <= 1.0]
        if bad or sum(self.forms().values()) > 1.0:
            msg = (
                f"MessyRates needs every rate in [0, 1] and the form rates summing to at most 1 "
                f"(offending: {bad or 'sum'}). Hint: lower the rates."
            )
            raise InputError(msg)


@dataclass(frozen=True)
class SynthParams:
    """Tunable knobs of :func:`kvklink.synth.generate` (defaults calibrated to domain.md §3–§4).

    Examples
    --------
    >>> SynthParams(consent_rate=0.5).consent_rate
    0.5
    """

    # --- register dynamics ---
    birth_rate: float = 0.12
    """new units per year as a share of the stock."""
    death_rate: float = 0.08
    """yearly exit hazard."""
    units_at_full_scale: int = 2_400_000
    """units alive at the end of 2024 at ``scale=1.0`` (CBS 2025 Q1: 2,385,010)."""
    # --- KVK number history ---
    incorporation_rate: float = 0.08
    """share of eenmanszaak/VOF units that incorporate (new KVK number, same BE) in 2015–2024."""
    takeover_switch_rate: float = 0.03
    """share of BV units that get a new KVK number after a takeover, keeping their BE."""
    holding_rate_one_person: float = 0.15
    """share of one-person BVs with a holding company (second KVK number, same BE)."""
    holding_rate: float = 0.35
    """share of BVs with 2+ persons with a holding company."""
    regroup_rate: float = 0.2
    """share of BV exits whose KVK number moves to an acquiring BE (a second history row)."""
    # --- interactions ---
    user_rate: float = 0.06
    """share of units alive in 2017–2023 that use a KVK service at least once."""
    repeat_mean: float = 1.0
    """mean number of further interactions per user (Poisson)."""
    not_in_register_rate: float = 0.02
    """share of interactions by parties not in the register (would-be starters, foreign firms)."""
    duplicate_rate: float = 0.02
    """share of interactions registered twice (same content, new interaction id)."""
    name_variant_rate: float = 0.35
    """share of rows without a captured number whose name/address carry a typo or variant."""
    consent_rate: float = 0.6
    """share of identified interactions whose user consented."""
    evaluation_purpose: str = "evaluatie-2024"
    """the evaluation purpose label among the consented purposes."""
    evaluation_purpose_rate: float = 0.7
    """share of consented rows whose purposes include ``evaluation_purpose``."""
    withdrawal_rate: float = 0.03
    """share of consented rows withdrawn later."""
    messy: MessyRates = field(default_factory=MessyRates)
    """spelling of captured KVK numbers."""
    # --- planted effect ---
    effect_ramp_years: int = 3
    """years after first use until the planted effect is at full size (linear ramp)."""
    effect_multiplier: float = 1.0
    """multiplies every activity's planted effect (0 gives a null effect)."""

    def __post_init__(self) -> None:
        rates = {
            "birth_rate": self.birth_rate,
            "death_rate": self.death_rate,
            "incorporation_rate": self.incorporation_rate,
            "takeover_switch_rate": self.takeover_switch_rate,
            "holding_rate_one_person": self.holding_rate_one_person,
            "holding_rate": self.holding_rate,
            "regroup_rate": self.regroup_rate,
            "user_rate": self.user_rate,
            "not_in_register_rate": self.not_in_register_rate,
            "duplicate_rate": self.duplicate_rate,
            "name_variant_rate": self.name_variant_rate,
            "consent_rate": self.consent_rate,
            "evaluation_purpose_rate": self.evaluation_purpose_rate,
            "withdrawal_rate": self.withdrawal_rate,
        }
        for name, value in rates.items():
            if not 0.0 <= value <= 1.0:
                msg = (
                    f"The {name!r} parameter of SynthParams must be in [0, 1]. Got {value} instead."
                )
                raise InputError(msg)
        if not 0.0 < self.user_rate < 1.0:
            msg = "The 'user_rate' parameter of SynthParams must be in (0, 1). Hint: e.g. 0.06."
            raise InputError(msg)
        if self.effect_ramp_years < 1 or self.repeat_mean < 0 or self.units_at_full_scale < 1:
            msg = (
                "SynthParams needs effect_ramp_years >= 1, repeat_mean >= 0 and "
                "units_at_full_scale >= 1. Hint: use the defaults."
            )
            raise InputError(msg)
        if ";" in self.evaluation_purpose or not self.evaluation_purpose:
            msg = "The 'evaluation_purpose' of SynthParams must be non-empty without ';'."
            raise InputError(msg)
