"""Names, addresses and messy identifier spellings, sampled vectorised from a shipped vocabulary."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = [
    "COMMON_STREETS",
    "FANCY_WORDS",
    "digits",
    "load_vocab",
    "zipf_index",
]

I64 = npt.NDArray[np.int64]

_VOCAB_PATH = Path(__file__).with_name("_vocab.json")

#: The most common Dutch street names; sampled with a high weight next to the Faker vocabulary.
COMMON_STREETS: tuple[str, ...] = (
    "Kerkstraat",
    "Dorpsstraat",
    "Schoolstraat",
    "Molenweg",
    "Stationsweg",
    "Hoofdstraat",
    "Molenstraat",
    "Kerkweg",
    "Nieuwstraat",
    "Industrieweg",
    "Julianastraat",
    "Wilhelminastraat",
    "Beatrixstraat",
    "Parallelweg",
    "Marktstraat",
    "Havenstraat",
    "Kastanjelaan",
    "Eikenlaan",
    "Nijverheidsweg",
    "Kanaalweg",
)

#: Words for invented trade names (many firms share them: realistic duplication).
FANCY_WORDS: tuple[str, ...] = (
    "De Eik",
    "Het Anker",
    "Noorderlicht",
    "De Zonnebloem",
    "Het Atelier",
    "De Werkplaats",
    "Vakwerk",
    "Topwerk",
    "Oranje",
    "Delta",
    "Polder",
    "Horizon",
    "Duurzaam",
    "Groen",
    "Prima",
    "Smart",
    "Blue",
    "Nova",
    "Vitaal",
    "Centrum",
    "Dijk",
    "Molen",
    "Tulp",
    "Kompas",
    "Vonk",
    "Kiem",
    "Brug",
    "Haven",
    "Linde",
    "Meander",
)


@lru_cache(maxsize=1)
def load_vocab() -> dict[str, list[str]]:
    """The shipped vocabulary (built once from Faker ``nl_NL``; see ``_build_vocab.py``).

    >>> len(load_vocab()["last_names"]) > 500
    True
    """
    raw = json.loads(_VOCAB_PATH.read_text(encoding="utf-8"))
    return {k: list(v) for k, v in raw.items() if isinstance(v, list)}


def zipf_index(rng: np.random.Generator, n: int, size: int, *, a: float = 1.0) -> I64:
    """Draw ``n`` indices in ``[0, size)`` with Zipf-like weights ``1 / (rank + 5) ** a``.

    The rank order is a seeded permutation, so which names are common depends on the seed.

    >>> idx = zipf_index(np.random.default_rng(0), 1000, 50)
    >>> int(idx.min()) >= 0 and int(idx.max()) < 50
    True
    """
    weights = 1.0 / (np.arange(size) + 5.0) ** a
    cum = np.cumsum(weights / weights.sum())
    cum[-1] = 1.0
    order = rng.permutation(size)
    ranks = np.searchsorted(cum, rng.random(n), side="right")
    out: I64 = order[ranks].astype(np.int64)
    return out


def digits(values: I64, width: int) -> pl.Series:
    """Zero-padded decimal strings of non-negative integers.

    >>> digits(np.array([38509504]), 12).to_list()
    ['000038509504']
    """
    return pl.Series(values, dtype=pl.Int64).cast(pl.String).str.zfill(width)
