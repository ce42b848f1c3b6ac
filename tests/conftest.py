"""Shared fixtures. Keep this small: each area adds only what several test files need."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import settings

from kvklink.keys import LinkageKey, PurposeKey

#: ``KVKLINK_HYPOTHESIS_PROFILE=thorough`` searches ten times longer for counterexamples
#: (before a release, or after changing a property's code); the default keeps CI quick.
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("KVKLINK_HYPOTHESIS_PROFILE", "default"))

#: A fixed, obviously-test-only master key (64 hex characters).
TEST_KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
TEST_PURPOSE = "evaluatie-2024"


@pytest.fixture
def master_key() -> LinkageKey:
    """A fixed master key for tests."""
    return LinkageKey.from_hex(TEST_KEY_HEX)


@pytest.fixture
def purpose_key(master_key: LinkageKey) -> PurposeKey:
    """The purpose key for ``evaluatie-2024`` derived from :func:`master_key`."""
    return master_key.for_purpose(TEST_PURPOSE)


@pytest.fixture
def raw_interactions() -> pl.DataFrame:
    """A small raw interactions frame with messy KVK numbers and consent columns."""
    d = dt.date
    return pl.DataFrame(
        {
            "interaction_id": [f"i{i}" for i in range(8)],
            "date": [d(2023, 3, 1 + i) for i in range(8)],
            "activity": [
                "webinar",
                "digiscan",
                "event",
                "webinar",
                "event",
                "chat",
                "event",
                "chat",
            ],
            "kvk_nummer": [
                "KvK 1234 5678",
                "12345678",
                "KvK-nr. 87.65.43.21",
                "n.v.t.",
                "000038509504",
                "55555555",
                "66666666",
                "77777777",
            ],
            "company_name": ["Alfa BV", "Alfa BV", "Beta", "Gamma", "Delta", "Eps", "Zeta", "Eta"],
            "email": ["a@x.nl"] * 8,
            "consent": [True, True, True, True, True, False, True, True],
            "consent_purposes": [
                "evaluatie-2024;nieuwsbrief",
                "evaluatie-2024",
                "evaluatie-2024",
                "evaluatie-2024",
                "evaluatie-2024",
                "evaluatie-2024",
                "nieuwsbrief",
                "evaluatie-2024",
            ],
            "consent_date": [d(2023, 1, 1)] * 7 + [d(2025, 1, 1)],
            "consent_withdrawn_date": [None] * 8,
        },
        schema_overrides={"consent_withdrawn_date": pl.Date},
    )


@pytest.fixture(scope="session")
def make_recovery_data() -> Callable[..., Any]:
    """The seeded messy-query generator shared with ``benchmarks/bench_recover.py``.

    ``make_recovery_data(n_firms, n_queries, n_nomatch, seed=...)`` returns
    ``(register, queries, truth)``.
    """
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "_recover_data.py"
    spec = importlib.util.spec_from_file_location("kvklink_recover_data", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generator: Callable[..., Any] = module.make_recovery_data
    return generator
