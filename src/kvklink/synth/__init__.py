"""Synthetic ABR-like register, KVK history, Handelsregister and interactions with known truth.

Nobody may put real register data in this repository; every later stage is tested, benchmarked
and demonstrated on these tables instead. :func:`generate` returns a :class:`SyntheticData` with
polars frames ``register``, ``kvk_history``, ``handelsregister``, ``interactions``, ``truth``,
``treatment`` and ``effects`` plus a ``manifest`` (parameters, row counts, planted effect).

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
