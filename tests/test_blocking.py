"""Blocking passes: union, deduplication, block-size caps, key transforms."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvklink.errors import ConfigError
from kvklink.linkage import BlockingPass
from kvklink.linkage._blocking import block_index, candidate_pairs, key_fields

LEFT = pl.DataFrame(
    {
        "name": ["jansen bouw", "de vries", "pietersen", None],
        "pc": ["1234AB", "9999ZZ", "1234XY", "1234AB"],
        "hn": ["12-A", "3", "7", None],
    }
)
RIGHT = pl.DataFrame(
    {
        "name": ["jansen bouw", "vries advies", "pieterse", "jansen"],
        "pc": ["1234AB", "5555AA", "1234AC", "1234AB"],
        "hn": ["12", "3", "7", "14"],
    }
)


def _pairs(passes: tuple[BlockingPass, ...]) -> set[tuple[int, int]]:
    cands, _ = candidate_pairs(LEFT, RIGHT, passes)
    return {(int(a), int(b)) for a, b in cands.select("q", "r").rows()}


def test_single_pass_on_full_postcode() -> None:
    assert _pairs((BlockingPass("pc", ("pc",)),)) == {(0, 0), (0, 3), (3, 0), (3, 3)}


def test_prefix_token_and_number_keys() -> None:
    assert _pairs((BlockingPass("pc4", ("pc:prefix4",)),)) >= {(2, 2)}
    # "de" is a stop word: "de vries" blocks with "vries advies" on the token "vries" only
    assert _pairs((BlockingPass("tok", ("name:token",)),)) == {(0, 0), (0, 3), (1, 1)}
    assert _pairs((BlockingPass("first+num", ("name:first", "hn:number")),)) == {(0, 0)}


def test_union_keeps_pairs_lost_by_one_dirty_field() -> None:
    # query 1 has a wrong postcode: only the name+number pass finds it
    passes = (BlockingPass("pc", ("pc",)), BlockingPass("name+num", ("name:token", "hn:number")))
    got = _pairs(passes)
    assert (1, 1) in got
    assert (0, 0) in got
    cands, stats = candidate_pairs(LEFT, RIGHT, passes)
    assert cands.height == len(got)  # deduplicated
    both = cands.filter((pl.col("q") == 0) & (pl.col("r") == 0))["passes"].item()
    assert both == 0b11
    assert [s.name for s in stats] == ["pc", "name+num"]


def test_oversized_blocks_are_skipped_and_counted() -> None:
    cands, stats = candidate_pairs(LEFT, RIGHT, (BlockingPass("pc", ("pc",), max_block_size=1),))
    assert cands.height == 0
    assert stats[0].skipped_keys == 1
    assert stats[0].skipped_reference_rows == 2


def test_nulls_never_block_together() -> None:
    left = pl.DataFrame({"pc": [None, None]}, schema={"pc": pl.Utf8})
    right = pl.DataFrame({"pc": [None]}, schema={"pc": pl.Utf8})
    cands, _ = candidate_pairs(left, right, (BlockingPass("pc", ("pc",)),))
    assert cands.height == 0


@pytest.mark.parametrize(
    "keys", [(), ("pc:foo",), ("a:token", "b:token"), ("1bad",)]
)
def test_bad_passes_are_refused(keys: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError):
        BlockingPass("bad", keys)


def test_key_fields() -> None:
    assert key_fields((BlockingPass("a", ("x:prefix2", "y")), BlockingPass("b", ("z:token",)))) == {
        "x", "y", "z"
    }


def test_rare_tokens_keep_only_the_rarest_reference_words() -> None:
    left = pl.DataFrame({"name": ["bouw zzyzx alfa", "bouw qqq"]})
    right = pl.DataFrame({"name": ["bouw zzyzx", "bouw alfa", "bouw beta", "gamma bouw"]})
    token, _ = candidate_pairs(left, right, (BlockingPass("t", ("name:token",)),))
    rare, _ = candidate_pairs(left, right, (BlockingPass("r", ("name:rare",)),))
    # "token" pairs everything on the common word; "rare" keeps each query's two rarest
    # words present in the reference ("zzyzx", "alfa"); for "bouw qqq" the typo-like "qqq"
    # is absent, so the common "bouw" is its only word left
    assert token.height == 8
    got = {(int(a), int(b)) for a, b in rare.select("q", "r").rows()}
    assert got == {(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (1, 3)}
    assert rare.height < token.height


# --- the block index against a brute-force reference ------------------------------------

_WORDS = ["jansen", "bouw", "de", "vries", "advies", "a", "12", "x"]


def _key_values(value: str | None, key: str) -> set[str]:
    """Reference key values of one standardised value (the module docstring's rules)."""
    if value is None:
        return set()
    field, _, transform = key.partition(":")
    del field
    if transform == "token":
        from kvklink.linkage._blocking import STOP_TOKENS

        return {w for w in value.split(" ") if len(w) >= 2 and w not in STOP_TOKENS}
    if transform == "first":
        return {value.split(" ")[0]}
    if transform == "number":
        digits = ""
        for ch in value:
            if not ch.isdigit():
                break
            digits += ch
        return {digits} if digits else set()
    if transform.startswith("prefix"):
        return {value[: int(transform.removeprefix("prefix"))]}
    return {value}


def _reference_pairs(
    left: pl.DataFrame, right: pl.DataFrame, bp: BlockingPass
) -> set[tuple[int, int]]:
    def combos(frame: pl.DataFrame, i: int) -> set[tuple[str, ...]]:
        out: set[tuple[str, ...]] = {()}
        for k in bp.keys:
            vals = _key_values(frame[k.partition(":")[0]][i], k)
            out = {(*c, v) for c in out for v in vals}
        return out

    rkeys = [combos(right, j) for j in range(right.height)]
    sizes: dict[tuple[str, ...], int] = {}
    for ks in rkeys:
        for k in ks:
            sizes[k] = sizes.get(k, 0) + 1
    pairs = set()
    for i in range(left.height):
        for k in combos(left, i):
            if sizes.get(k, 0) > bp.max_block_size:
                continue
            pairs |= {(i, j) for j, ks in enumerate(rkeys) if k in ks}
    return pairs


_texts = st.one_of(
    st.none(),
    st.lists(st.sampled_from(_WORDS), min_size=1, max_size=3).map(" ".join),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(_texts, _texts), min_size=0, max_size=6),
    st.lists(st.tuples(_texts, _texts), min_size=1, max_size=10),
    st.integers(1, 4),
)
def test_block_index_equals_brute_force(
    left_rows: list[tuple[str | None, str | None]],
    right_rows: list[tuple[str | None, str | None]],
    cap: int,
) -> None:
    schema = {"name": pl.Utf8, "hn": pl.Utf8}
    left = pl.DataFrame(left_rows, schema=schema, orient="row")
    right = pl.DataFrame(right_rows, schema=schema, orient="row")
    passes = (
        BlockingPass("tok", ("name:token",), max_block_size=cap),
        BlockingPass("first+num", ("name:first", "hn:number"), max_block_size=cap),
        BlockingPass("pre", ("hn:prefix1",), max_block_size=cap),
    )
    index = block_index(right, passes)
    cands, stats = candidate_pairs(left, index, passes)
    fresh, fresh_stats = candidate_pairs(left, right, passes)
    assert cands.equals(fresh)
    assert stats == fresh_stats
    union: set[tuple[int, int]] = set()
    for bit, bp in enumerate(passes):
        ref = _reference_pairs(left, right, bp)
        got = {(int(a), int(b)) for a, b, m in cands.rows() if m & (1 << bit)}
        assert got == ref, bp.name
        assert stats[bit].pairs == len(ref)
        union |= ref
    assert {(int(a), int(b)) for a, b, _ in cands.rows()} == union
    # sorted by (query, reference), no duplicates
    assert cands.select("q", "r").rows() == sorted(set(cands.select("q", "r").rows()))


def test_block_index_refuses_other_passes() -> None:
    index = block_index(RIGHT, (BlockingPass("pc", ("pc",)),))
    with pytest.raises(ConfigError, match="other blocking passes"):
        candidate_pairs(LEFT, index, (BlockingPass("tok", ("name:token",)),))
