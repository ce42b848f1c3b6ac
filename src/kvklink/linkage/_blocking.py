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

import numba
import numpy as np
import numpy.typing as npt
import polars as pl

from kvklink.errors import ConfigError

__all__ = [
    "STOP_TOKENS",
    "BlockIndex",
    "BlockingPass",
    "BlockingStats",
    "block_index",
    "candidate_pairs",
    "key_fields",
    "load_kernels",
]

_HASH_SEED = 0x6B766B

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


def _key_values(
    frame: pl.DataFrame, key: str, cache: dict[str, pl.Series | pl.DataFrame]
) -> pl.Series | pl.DataFrame:
    """The values of one block key, cached per key (a key shared by passes is computed once).

    A single-valued key gives a series aligned with ``frame`` (null = no key); a ``token`` /
    ``rare`` key gives a frame ``(__pos, __v)``: one row per distinct word of each row.
    """
    got = cache.get(key)
    if got is not None:
        return got
    m = _KEY.match(key)
    assert m is not None
    col, transform = m.group(1), m.group(2)
    expr = pl.col(col)
    out: pl.Series | pl.DataFrame
    if transform in ("token", "rare"):
        words = pl.col("__v")
        out = (
            frame.select(expr.str.split(" ").alias("__v"))
            .with_row_index("__pos")
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
        out = frame.select(expr.alias("__v")).to_series()
    cache[key] = out
    return out


def _keyed(
    frame: pl.DataFrame,
    row: str,
    keys: tuple[str, ...],
    *,
    cache: dict[str, pl.Series | pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """``(row, __k0, __k1, ...)``: one row per combination of key values of each input row.

    At most one key of a pass is exploded into words; the single-valued keys are gathered
    onto its rows by position (no join).
    """
    cache = {} if cache is None else cache
    values = [_key_values(frame, k, cache) for k in keys]
    exploded = [i for i, v in enumerate(values) if isinstance(v, pl.DataFrame)]
    if exploded:
        base = values[exploded[0]]
        assert isinstance(base, pl.DataFrame)
        pos = base["__pos"]
        cols = {
            f"__k{i}": base["__v"] if isinstance(v, pl.DataFrame) else v.gather(pos)
            for i, v in enumerate(values)
        }
        out = pl.DataFrame({row: frame[row].gather(pos), **cols})
    else:
        out = pl.DataFrame({row: frame[row], **{f"__k{i}": v for i, v in enumerate(values)}})
    # (row, keys) is unique: single-valued keys give one value per row and the exploded key
    # is deduplicated per row
    return out.drop_nulls()


@dataclass(frozen=True, repr=False, eq=False)
class _PassIndex:
    """One pass over the reference side: its block keys (hashed), sorted, and their rows."""

    keys: npt.NDArray[np.uint64]  # sorted distinct key hashes of the blocks kept
    starts: npt.NDArray[np.int64]  # block i holds rows[starts[i]:starts[i + 1]]
    rows: npt.NDArray[np.uint32]
    skipped_keys: int  # blocks larger than the pass's max_block_size, left out
    skipped_reference_rows: int
    rare_keys: npt.NDArray[np.uint64] | None  # ``field:rare``: word hashes, sorted
    rare_counts: npt.NDArray[np.int64] | None  # ... and in how many keyed rows each occurs


@dataclass(frozen=True, repr=False, eq=False)
class BlockIndex:
    """The reference side of every blocking pass, built once and probed by many queries.

    Made by :func:`block_index`; :func:`candidate_pairs` accepts it in place of the
    reference frame (this is what ``prepare_reference`` keeps for repeated recoveries).
    Block keys are 64-bit hashes of the key values (a hash collision can only add a
    candidate pair, never lose one; the pair is then compared like any other).
    """

    passes: tuple[BlockingPass, ...]
    n_rows: int
    _index: tuple[_PassIndex, ...]

    def __repr__(self) -> str:
        return f"BlockIndex(rows={self.n_rows}, passes={[p.name for p in self.passes]})"


def _key_hashes(keyed: pl.DataFrame, n_keys: int) -> npt.NDArray[np.uint64]:
    names = [f"__k{i}" for i in range(n_keys)]
    return keyed.select(names).hash_rows(seed=_HASH_SEED).to_numpy()


def _word_hashes(words: pl.Series) -> npt.NDArray[np.uint64]:
    return words.hash(seed=_HASH_SEED).to_numpy()


def block_index(
    right: pl.DataFrame, passes: tuple[BlockingPass, ...], *, right_row: str = "r"
) -> BlockIndex:
    """Index the reference frame for every pass (rows taken from ``right_row`` if present).

    >>> import polars as pl
    >>> idx = block_index(pl.DataFrame({"pc": ["1234AB", "1234AB", None]}),
    ...                   (BlockingPass("pc", ("pc",)),))
    >>> idx
    BlockIndex(rows=3, passes=['pc'])
    """
    if right_row not in right.columns:
        right = right.with_row_index(right_row)
    right = right.with_columns(pl.col(right_row).cast(pl.UInt32))
    cache: dict[str, pl.Series | pl.DataFrame] = {}
    out: list[_PassIndex] = []
    for bp in passes:
        rk = _keyed(right, right_row, bp.keys, cache=cache)
        h = _key_hashes(rk, len(bp.keys))
        rows = rk[right_row].to_numpy()
        order = np.argsort(h)  # rows within a block may come in any order
        hs, rows = h[order], rows[order]
        new_block = np.empty(hs.size, dtype=bool)
        new_block[:1] = True
        np.not_equal(hs[1:], hs[:-1], out=new_block[1:])
        first = np.flatnonzero(new_block)
        sizes = np.diff(np.append(first, hs.size))
        keep = sizes <= bp.max_block_size
        row_keep = np.repeat(keep, sizes)
        kept_sizes = sizes[keep]
        starts = np.zeros(kept_sizes.size + 1, dtype=np.int64)
        np.cumsum(kept_sizes, out=starts[1:])
        rare_keys = rare_counts = None
        rare = [f"__k{i}" for i, k in enumerate(bp.keys) if k.endswith(":rare")]
        if rare:
            words = _word_hashes(rk[rare[0]])
            rare_keys, rare_counts = np.unique(words, return_counts=True)
            rare_counts = rare_counts.astype(np.int64)
        out.append(
            _PassIndex(
                keys=hs[first[keep]],
                starts=starts,
                rows=np.ascontiguousarray(rows[row_keep], dtype=np.uint32),
                skipped_keys=int((~keep).sum()),
                skipped_reference_rows=int(sizes[~keep].sum()),
                rare_keys=rare_keys,
                rare_counts=rare_counts,
            )
        )
    return BlockIndex(passes=passes, n_rows=right.height, _index=tuple(out))


def _rarest(
    lk: pl.DataFrame, row: str, col: str, index: _PassIndex
) -> pl.DataFrame:
    """Keep, per query row, the ``RARE_TOKENS`` words of ``col`` rarest in the reference."""
    assert index.rare_keys is not None
    assert index.rare_counts is not None
    h = _word_hashes(lk[col])
    pos = np.searchsorted(index.rare_keys, h)
    pos_c = np.minimum(pos, max(index.rare_keys.size - 1, 0))
    found = (
        (pos < index.rare_keys.size) & (index.rare_keys[pos_c] == h)
        if index.rare_keys.size else np.zeros(h.size, dtype=bool)
    )
    counts = np.where(found, index.rare_counts[pos_c] if index.rare_keys.size else 0, 0)
    ranked = (
        lk.with_columns(pl.Series("__df", counts))
        .filter(pl.Series(found))
        .sort([row, "__df", col])
        .with_columns(pl.int_range(pl.len()).over(row).alias("__rank"))
    )
    keep = ranked.filter(pl.col("__rank") < RARE_TOKENS).select(row, col).unique()
    return ranked.join(keep, on=[row, col], how="semi").drop("__df", "__rank")


@numba.njit(cache=True)
def _probe_expand(
    hq: npt.NDArray[np.uint64],
    order: npt.NDArray[np.int64],
    qrows: npt.NDArray[np.uint32],
    keys: npt.NDArray[np.uint64],
    starts: npt.NDArray[np.int64],
    rows: npt.NDArray[np.uint32],
    width: np.uint64,
    n_bits: np.uint64,
    bit: np.uint64,
) -> npt.NDArray[np.uint64]:  # pragma: no cover - compiled
    """Every (query row, reference row) pair whose key hits a block, packed as one uint64.

    ``pair = ((q * width + r) << n_bits) | bit``. The query keys are visited in sorted order
    (``order`` sorts ``hq``), each binary search starting where the previous one ended, so the
    index is walked once in order; the hits are counted, then written.
    """
    n = hq.size
    block = np.full(n, -1, dtype=np.int64)
    total = 0
    m = keys.size
    lo = 0
    for j in range(n):
        i = order[j]
        pos = lo + np.searchsorted(keys[lo:], hq[i])
        lo = pos
        if pos < m and keys[pos] == hq[i]:
            block[i] = pos
            total += starts[pos + 1] - starts[pos]
    out = np.empty(total, dtype=np.uint64)
    k = 0
    for i in range(n):
        b = block[i]
        if b < 0:
            continue
        base = np.uint64(qrows[i]) * width
        for t in range(starts[b], starts[b + 1]):
            out[k] = ((base + np.uint64(rows[t])) << n_bits) | bit
            k += 1
    return out


def load_kernels() -> None:
    """Load (or compile) the compiled probe step now, with the dtypes a real call uses."""
    one = np.zeros(1, dtype=np.uint64)
    _probe_expand(one, np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.uint32), one,
                  np.array([0, 1], dtype=np.int64), np.zeros(1, dtype=np.uint32),
                  np.uint64(1), np.uint64(1), np.uint64(0))


def candidate_pairs(
    left: pl.DataFrame,
    right: pl.DataFrame | BlockIndex,
    passes: tuple[BlockingPass, ...],
    *,
    left_row: str = "q",
    right_row: str = "r",
) -> tuple[pl.DataFrame, tuple[BlockingStats, ...]]:
    """Union of the candidate pairs of every pass, deduplicated.

    ``left`` holds standardised fields, ``right`` too or is a :class:`BlockIndex` built
    with the same passes; row numbers are taken from the columns ``left_row``/``right_row``
    when present, otherwise from the row position. Returns a frame with columns
    ``left_row``, ``right_row`` (UInt32) and ``passes`` (bitmask of the passes that found the
    pair), sorted by (left, right), plus per-pass statistics.
    """
    if isinstance(right, BlockIndex):
        if right.passes != passes:
            msg = (
                "The block index was built with other blocking passes. Hint: build it with "
                "the same passes (prepare_reference does this from the spec)."
            )
            raise ConfigError(msg)
        index = right
    else:
        index = block_index(right, passes, right_row=right_row)
    if left_row not in left.columns:
        left = left.with_row_index(left_row)
    left = left.with_columns(pl.col(left_row).cast(pl.UInt32))
    cache: dict[str, pl.Series | pl.DataFrame] = {}
    n_bits = max(1, int(len(passes) - 1).bit_length())
    packed: list[npt.NDArray[np.uint64]] = []
    for bit, (bp, pidx) in enumerate(zip(passes, index._index, strict=True)):
        lk = _keyed(left, left_row, bp.keys, cache=cache)
        rare = [f"__k{i}" for i, k in enumerate(bp.keys) if k.endswith(":rare")]
        if rare:
            lk = _rarest(lk, left_row, rare[0], pidx)
        # expand every (query key, block) hit into its (query, reference row) pairs
        hq = np.ascontiguousarray(_key_hashes(lk, len(bp.keys)))
        packed.append(
            _probe_expand(
                hq, np.argsort(hq), np.ascontiguousarray(lk[left_row].to_numpy(), dtype=np.uint32),
                pidx.keys, pidx.starts, pidx.rows,
                np.uint64(max(index.n_rows, 1)), np.uint64(n_bits), np.uint64(bit),
            )
        )
    stats_pairs = np.zeros(len(passes), dtype=np.int64)
    allp = np.sort(np.concatenate(packed)) if packed else np.zeros(0, dtype=np.uint64)
    if allp.size:
        distinct = np.empty(allp.size, dtype=bool)
        distinct[0] = True
        np.not_equal(allp[1:], allp[:-1], out=distinct[1:])
        allp = allp[distinct]  # one entry per (pair, pass)
        bits = (allp & np.uint64((1 << n_bits) - 1)).astype(np.int64)
        stats_pairs = np.bincount(bits, minlength=len(passes))
        pair = allp >> np.uint64(n_bits)
        starts_ = np.empty(pair.size, dtype=bool)
        starts_[0] = True
        np.not_equal(pair[1:], pair[:-1], out=starts_[1:])
        first_idx = np.flatnonzero(starts_)
        mask = np.bitwise_or.reduceat(np.left_shift(1, bits).astype(np.uint32), first_idx)
        upair = pair[first_idx]
        width = np.uint64(max(index.n_rows, 1))
        qcol = (upair // width).astype(np.uint32)
        rcol = (upair % width).astype(np.uint32)
    else:
        qcol = rcol = mask = np.zeros(0, dtype=np.uint32)
    cands = pl.DataFrame(
        {left_row: qcol, right_row: rcol, "passes": mask},
        schema={left_row: pl.UInt32, right_row: pl.UInt32, "passes": pl.UInt32},
    )
    stats = tuple(
        BlockingStats(name=bp.name, pairs=int(stats_pairs[i]), skipped_keys=p.skipped_keys,
                      skipped_reference_rows=p.skipped_reference_rows)
        for i, (bp, p) in enumerate(zip(passes, index._index, strict=True))
    )
    return cands, stats
