"""Synthetic ABR-like register, KVK history, Handelsregister and interactions with known truth.

Nobody may put real register data in this repository; every later stage is tested, benchmarked
and demonstrated on these tables instead. :func:`generate` returns a :class:`SyntheticData` with
polars frames ``register``, ``kvk_history``, ``handelsregister``, ``interactions``, ``truth``,
``treatment`` and ``effects`` plus a ``manifest`` (parameters, row counts, planted effect).

Tables (polars; contract columns first, extra columns after ``+``)

``register``
    one row per BE per year 2015–2024: ``be_id`` (Int64), ``year`` (Int16), ``sbi`` (5 digits),
    ``sbi_version`` (``SBI2008`` for every year ≤ 2024; KVK switched to SBI 2025 in September
    2025), ``section``, ``size_class_kvk`` (``01``–``11``), ``size_class_cbs`` (``1``, ``2``,
    ``3-4``, …), ``size_band`` (``0-1`` … ``250+``), ``legal_form`` (``eenmanszaak``, ``vof``,
    ``bv``, ``other``; a BV from the year of incorporation), ``province`` (``PV20``–``PV31``),
    ``kvk_region``, ``municipality`` (``GM0363``-style), ``start_date``, ``end_date`` (null =
    alive at the end of 2024), ``employees`` (persons employed), ``turnover`` (EUR thousands).
    Categorical columns are polars ``Enum``.
``kvk_history``
    ``kvk_nummer`` (8 digits), ``be_id``, ``valid_from``, ``valid_to`` (**exclusive**; null =
    still valid) + ``role`` (``primary``, ``successor`` after incorporation or takeover,
    ``holding``, ``acquired`` = the number of an exited BV continuing under another BE),
    ``legal_form`` of the legal unit.
``handelsregister``
    one row per vestiging: ``kvk_nummer``, ``vestigingsnummer`` (12 digits), ``trade_name``,
    ``street``, ``house_number``, ``postcode`` (``1234 AB``), ``city`` + ``is_hoofdvestiging``.
``interactions``
    ``interaction_id``, ``date``, ``activity``, ``statutory_task``, ``channel``,
    ``kvk_nummer`` (raw, messy; null when not captured), ``company_name``, ``street``,
    ``house_number``, ``postcode``, ``city``, ``email``, ``consent``, ``consent_purposes``
    (``;``-separated), ``consent_date``, ``consent_withdrawn_date``.
``truth``
    ``interaction_id``, ``true_kvk_nummer``, ``true_be_id`` (both null for parties outside the
    register) + ``kvk_form`` (which spelling, see :data:`KVK_FORMS`), ``name_variant``,
    ``address_variant``, ``duplicate``.
``treatment``
    per BE that used a service: ``first_use_date``, ``first_use_year``, ``first_activity``,
    ``effect_full`` (planted effect at full size, a fraction).
``effects``
    per treated BE-year with a non-zero planted effect: ``effect_log`` (log points).

Examples
--------
>>> from kvklink import synth
>>> data = synth.generate(scale=0.0005, seed=3)
>>> sorted(data.planted_effect)[:2]
['assigned_by', 'effect_by_activity']
"""

from __future__ import annotations

from kvklink.synth._generate import KVK_FORMS, TABLES, SyntheticData, generate, planted_effect
from kvklink.synth._params import MessyRates, SynthParams

__all__ = [
    "KVK_FORMS",
    "TABLES",
    "MessyRates",
    "SynthParams",
    "SyntheticData",
    "generate",
    "planted_effect",
]
