"""Blocking: several passes of polars hash joins on block keys, unioned and deduplicated.

A :class:`BlockingPass` lists block keys over *standardised* fields. A key is a field name
optionally followed by a transform:

``field``           the whole standardised value
``field:prefixN``   its first ``N`` characters (``postcode:prefix4`` is the PC4 area)
``field:token``     every word of the value (the pass is exploded over words; words shorter
                    than two characters and a few stop words are skipped)
``field:rare``      like ``token`` on the reference side; on the query side only the
                    ``RARE_TOKENS`` words that are rarest *in the reference frame* (words
                    absent there, e.g. typos, are skipped) — far fewer pairs than ``token``
                    from common words such as "bouw" or "advies", with the same recall when
                    at least one distinctive word is spelt right
``field:first``     the first word only
``field:number``    the leading digits (house number without addition)

Pairs found by any pass are candidates, so one dirty field does not lose a true pair as long
as another pass does not depend on it. A block key that matches more than ``max_block_size``
reference rows is skipped for that pass (it is too unselective); such keys are counted.

Examples
--------
>>> import polars as pl
>>> from kvklink.linkage._blocking import BlockingPass, candidate_pairs
>>> left = pl.DataFrame({"name": ["jansen bouw", "de vries"], "pc": ["1234AB", "9999ZZ"]})
>>> right = pl.DataFrame({"name": ["jansen bouw", "vries"], "pc": ["1234AC", "1111AA"]})
>>> passes = (BlockingPass("pc", ("pc",)), BlockingPass("name", ("name:token",)))
>>> cands, stats = candidate_pairs(left, right, passes)
>>> sorted(cands.select("q", "r").rows())
[(0, 0), (1, 1)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from kvklink.errors import ConfigError

__all__ = ["STOP_TOKENS", "BlockingPass", "BlockingStats", "candidate_pairs", "key_fields"]

#: Words never used as a blocking token (too common to be selective).
STOP_TOKENS: frozenset[str] = frozenset(
    {"de", "het", "een", "en", "van", "der", "den", "in", "op", "te", "the", "and", "of"}
)

_KEY = re.compile(
    r"^([A-Za-z_][A-Za-z0-9_]*)(?::(token|rare|first|number|prefix[1-9][0-9]*))?$"
)

#: Number of rarest words a query keeps for a ``field:rare`` blocking key.
RARE_TOKENS = 2


@dataclass(frozen=True)
class BlockingPass:
    """One blocking pass: pairs agreeing on every key are candidates.

    >>> BlockingPass("pc4+name", ("postcode:prefix4", "name:token")).keys
    ('postcode:prefix4', 'name:token')
    """

    name: str
    keys: tuple[str, ...]
    max_block_size: int = 100

    def __post_init__(self) -> None:
        if not self.keys:
            msg = f"Blocking pass {self.name!r} has no keys. Hint: e.g. keys=('postcode',)."
            raise ConfigError(msg)
        bad = [k for k in self.keys if not _KEY.match(k)]
        if bad:
            msg = (
                f"Blocking pass {self.name!r} has {len(bad)} malformed key(s). Hint: write "
                "'field', 'field:prefix4', 'field:token', 'field:first' or 'field:number'."
            )
            raise ConfigError(msg)
        if sum(k.endswith((":token", ":rare")) for k in self.keys) > 1:
            msg = (
                f"Blocking pass {self.name!r} explodes more than one field into tokens. "
                "Hint: use ':token' on one key and ':first' on the others."
            )
            raise ConfigError(msg)
        if self.max_block_size < 1:
            msg = (
                f"The 'max_block_size' of blocking pass {self.name!r} must be >= 1, "
                f"got {self.max_block_size}. Hint: e.g. 100."
            )
            raise ConfigError(msg)


@dataclass(frozen=True)
class BlockingStats:
    """What one blocking pass produced: pairs, and block keys skipped as too large."""

    name: str
    pairs: int
    skipped_keys: int
    skipped_reference_rows: int


def key_fields(passes: tuple[BlockingPass, ...]) -> set[str]:
    """Names of the standardised fields the passes refer to.

    >>> sorted(key_fields((BlockingPass("a", ("pc:prefix4", "name:token")),)))
    ['name', 'pc']
    """
    out: set[str] = set()
    for p in passes:
        for k in p.keys:
            m = _KEY.match(k)
            assert m is not None  # validated in BlockingPass
            out.add(m.group(1))
    return out


def _key_frame(
    frame: pl.DataFrame, row: str, key: str, cache: dict[str, pl.DataFrame]
) -> pl.DataFrame:
    """``(row, __v)``: the non-null values of one block key, one row per (row, value).

    Cached per key, so a key shared by several passes (``name:token``) is computed once.
    """
    got = cache.get(key)
    if got is not None:
        return got
    m = _KEY.match(key)
    assert m is not None
    col, transform = m.group(1), m.group(2)
    expr = pl.col(col)
    if transform in ("token", "rare"):
        words = pl.col("__v")
        out = (
            frame.select(pl.col(row), expr.str.split(" ").alias("__v"))
            .explode("__v")
            .filter((words.str.len_chars() >= 2) & ~words.is_in(sorted(STOP_TOKENS)))
            .unique()  # a repeated word counts once (block sizes, rarity ranks)
        )
    else:
        if transform == "first":
            expr = expr.str.split(" ").list.first()
        elif transform == "number":
            expr = expr.str.extract(r"^(\d+)", 1)
        elif transform is not None:
            expr = expr.str.slice(0, int(transform.removeprefix("prefix")))
        out = frame.select(pl.col(row), expr.alias("__v")).drop_nulls("__v")
    cache[key] = out
    return out


def _keyed(
    frame: pl.DataFrame,
    row: str,
    keys: tuple[str, ...],
    *,
    rare_against: pl.DataFrame | None = None,
    cache: dict[str, pl.DataFrame] | None = None,
) -> pl.DataFrame:
    cache = {} if cache is None else cache
    out: pl.DataFrame | None = None
    for i, k in enumerate(keys):
        part = _key_frame(frame, row, k, cache).rename({"__v": f"__k{i}"})
        out = part if out is None else out.join(part, on=row, how="inner")
    assert out is not None  # a pass has at least one key
    # (row, keys) is unique: single-valued keys give one row per input row and at most one
    # key per pass is exploded into words, deduplicated per row
    rare = [f"__k{i}" for i, k in enumerate(keys) if k.endswith(":rare")]
    if rare and rare_against is not None:
        col = rare[0]
        df = rare_against.select(col).group_by(col).agg(pl.len().alias("__df"))
        out = (
            out.join(df, on=col, how="inner")
            .sort([row, "__df", col])
            .with_columns(pl.int_range(pl.len()).over(row).alias("__rank"))
        )
        # keep the rarest words of each query row (over its other key values too)
        keep = out.select(row, col, "__rank").filter(pl.col("__rank") < RARE_TOKENS)
        out = out.join(keep.select(row, col).unique(), on=[row, col], how="semi").drop(
            "__df", "__rank"
        )
    return out


def candidate_pairs(
    left: pl.DataFrame,
    right: pl.DataFrame,
    passes: tuple[BlockingPass, ...],
    *,
    left_row: str = "q",
    right_row: str = "r",
) -> tuple[pl.DataFrame, tuple[BlockingStats, ...]]:
    """Union of the candidate pairs of every pass, deduplicated.

    ``left`` and ``right`` hold standardised fields; row numbers are taken from the columns
    ``left_row``/``right_row`` when present, otherwise from the row position. Returns a frame
    with columns ``left_row``, ``right_row`` (UInt32) and ``passes`` (bitmask of the passes that
    found the pair), plus per-pass statistics.
    """
    if left_row not in left.columns:
        left = left.with_row_index(left_row)
    if right_row not in right.columns:
        right = right.with_row_index(right_row)
    left = left.with_columns(pl.col(left_row).cast(pl.UInt32))
    right = right.with_columns(pl.col(right_row).cast(pl.UInt32))
    parts: list[pl.DataFrame] = []
    stats: list[BlockingStats] = []
    lcache: dict[str, pl.DataFrame] = {}
    rcache: dict[str, pl.DataFrame] = {}
    # A pair is one UInt64 (left << 32 | right): deduplicating and sorting one integer column
    # is much cheaper than two; it sorts like (left, right).
    pair_key = pl.col(left_row).cast(pl.UInt64) * (1 << 32) + pl.col(right_row).cast(pl.UInt64)
    for bit, bp in enumerate(passes):
        names = [f"__k{i}" for i in range(len(bp.keys))]
        rk = _keyed(right, right_row, bp.keys, cache=rcache)
        lk = _keyed(left, left_row, bp.keys, rare_against=rk, cache=lcache)
        too_big = (
            rk.group_by(names).agg(pl.len().alias("__n")).filter(pl.col("__n") > bp.max_block_size)
        )
        if too_big.height:
            # dropping the too-large keys on the (small) left side removes the same pairs
            lk = lk.join(too_big.select(names), on=names, how="anti")
        pairs = lk.join(rk, on=names, how="inner").select(pair_key.alias("__pair")).unique()
        stats.append(
            BlockingStats(
                name=bp.name,
                pairs=pairs.height,
                skipped_keys=too_big.height,
                skipped_reference_rows=int(too_big["__n"].sum()) if too_big.height else 0,
            )
        )
        parts.append(pairs.with_columns(pl.lit(1 << bit, dtype=pl.UInt32).alias("passes")))
    if not parts:
        empty = pl.DataFrame(
            schema={left_row: pl.UInt32, right_row: pl.UInt32, "passes": pl.UInt32}
        )
        return empty, tuple(stats)
    cands = (
        pl.concat(parts)
        .group_by("__pair")
        .agg(pl.col("passes").sum())
        .sort("__pair")
        .select(
            (pl.col("__pair") // (1 << 32)).cast(pl.UInt32).alias(left_row),
            (pl.col("__pair") % (1 << 32)).cast(pl.UInt32).alias(right_row),
            "passes",
        )
    )
    return cands, tuple(stats)
