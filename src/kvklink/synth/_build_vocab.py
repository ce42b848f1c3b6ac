"""Rebuild ``_vocab.json`` from Faker's ``nl_NL`` locale (maintainer tool, not used at run time).

Faker is only needed to *rebuild* the vocabulary; :mod:`kvklink.synth` samples from the shipped
JSON file, so Faker is not a runtime dependency. Run::

    python -m kvklink.synth._build_vocab

The output is deterministic for a given Faker version (the Faker instance is seeded and lists are
sorted).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["build_vocab", "main"]

VOCAB_PATH = Path(__file__).with_name("_vocab.json")


def build_vocab(*, seed: int = 2024, n_streets: int = 6000) -> dict[str, Any]:
    """Return the vocabulary dictionary built from Faker ``nl_NL`` (seeded)."""
    from faker import Faker  # imported here: Faker is a build-time tool only
    from faker.providers.address import nl_NL as address_nl
    from faker.providers.person import nl_NL as person_nl

    fake = Faker("nl_NL")
    fake.seed_instance(seed)
    last = sorted({n for n in person_nl.Provider.last_names if n.isascii() and len(n) <= 20})
    first = sorted(
        {
            n
            for n in (*person_nl.Provider.first_names_male, *person_nl.Provider.first_names_female)
            if n.isascii() and n.isalpha()
        }
    )
    streets = sorted({fake.street_name() for _ in range(n_streets * 2)})[:n_streets]
    places = sorted({c for c in address_nl.Provider.cities if c.isascii()})
    domains = sorted({fake.free_email_domain() for _ in range(500)})
    return {
        "source": f"Faker nl_NL (seed {seed}); synthetic vocabulary, no real firms",
        "last_names": last,
        "first_names": first,
        "street_names": streets,
        "street_suffixes": list(address_nl.Provider.street_suffixes),
        "places": places,
        "free_email_domains": domains,
    }


def main() -> None:
    """Write ``_vocab.json`` next to this module."""
    vocab = build_vocab()
    VOCAB_PATH.write_text(json.dumps(vocab, ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":  # pragma: no cover
    main()
