"""Blocking passes: union, deduplication, block-size caps, key transforms."""

from __future__ import annotations

import numpy as np
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

_WORDS = ["jansen", "bouw", "de", "vries", "advies", "a", "12", "x", "", "één", "é", "١٢", "3٣b"]


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
            if not ch.isdecimal():  # a regex \d: any decimal digit, not only ASCII
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


# --- edge cases of the probe and merge ---------------------------------------------------


def _rows(cands: pl.DataFrame) -> list[tuple[int, int, int]]:
    return [(int(q), int(r), int(m)) for q, r, m in cands.rows()]


def test_empty_query_frame() -> None:
    passes = (BlockingPass("pc", ("pc",)), BlockingPass("tok", ("name:token",)))
    cands, stats = candidate_pairs(LEFT.head(0), block_index(RIGHT, passes), passes)
    assert cands.height == 0
    assert cands.schema == {"q": pl.UInt32, "r": pl.UInt32, "passes": pl.UInt32}
    assert [s.pairs for s in stats] == [0, 0]


def test_queries_without_hits_and_a_pass_without_hits() -> None:
    left = pl.DataFrame({"name": ["zzz qqq", "jansen"], "pc": ["0000AA", "0000AA"]})
    passes = (BlockingPass("pc", ("pc",)), BlockingPass("tok", ("name:token",)))
    cands, stats = candidate_pairs(left, RIGHT, passes)
    # query 0 finds nothing, the postcode pass finds nothing
    assert _rows(cands) == [(1, 0, 0b10), (1, 3, 0b10)]
    assert [s.pairs for s in stats] == [0, 2]


def test_one_pair_through_several_passes_and_several_tokens() -> None:
    left = pl.DataFrame({"name": ["bouw jansen bouw"], "pc": ["1234AB"], "hn": ["12"]})
    right = pl.DataFrame(
        {"name": ["jansen bouw", "bouw"], "pc": ["1234AB", "9"], "hn": ["12", "1"]}
    )
    passes = (
        BlockingPass("pc", ("pc",)),
        BlockingPass("tok", ("name:token",)),  # reference row 0 through "bouw" and "jansen"
        BlockingPass("tok+num", ("name:token", "hn:number")),
    )
    cands, stats = candidate_pairs(left, right, passes)
    assert _rows(cands) == [(0, 0, 0b111), (0, 1, 0b010)]
    assert [s.pairs for s in stats] == [1, 2, 1]  # a pair found twice by a pass counts once


def test_repeated_and_unsorted_query_numbers_are_one_query_each() -> None:
    left = pl.DataFrame(
        {"q": [5, 2, 5, None], "pc": ["1234AB", "1234AC", "1234AC", "1234AB"]},
        schema={"q": pl.UInt32, "pc": pl.Utf8},
    )
    right = pl.DataFrame({"pc": ["1234AC", "1234AB", "1234AC"]})
    passes = (BlockingPass("pc", ("pc",)),)
    cands, stats = candidate_pairs(left, right, passes)
    # a row without a query number is left out
    assert _rows(cands) == [(2, 0, 1), (2, 2, 1), (5, 0, 1), (5, 1, 1), (5, 2, 1)]
    assert stats[0].pairs == 5


def test_text_transforms_count_characters_and_unicode_digits() -> None:
    left = pl.DataFrame({"a": ["ééx", "١٢b", "12", "één  één a"]})
    right = pl.DataFrame({"a": ["éé", "١٢", "12٣", "x één"]})
    pre, _ = candidate_pairs(left, right, (BlockingPass("p", ("a:prefix2",)),))
    # two characters, not bytes: "éé", "١٢", "12", "éé" / "éé", "١٢", "12", "x "
    assert {(q, r) for q, r, _ in _rows(pre)} == {(0, 0), (1, 1), (2, 2), (3, 0)}
    num, _ = candidate_pairs(left, right, (BlockingPass("n", ("a:number",)),))
    assert {(q, r) for q, r, _ in _rows(num)} == {(1, 1)}  # "١٢"; "12" is not "12٣"
    first, _ = candidate_pairs(left, right, (BlockingPass("f", ("a:first",)),))
    assert _rows(first) == []
    tok, stats = candidate_pairs(left, right, (BlockingPass("t", ("a:token",)),))
    assert _rows(tok) == [(3, 3, 1)]
    assert stats[0].pairs == 1


def test_rows_with_many_words() -> None:
    words = [f"w{i:02d}" for i in range(40)]
    left = pl.DataFrame({"name": [" ".join(words + words[::-1]), "w07 w07"]})
    right = pl.DataFrame({"name": ["w07", "w39 w00", "x"]})
    cands, stats = candidate_pairs(left, right, (BlockingPass("t", ("name:token",)),))
    assert _rows(cands) == [(0, 0, 1), (0, 1, 1), (1, 0, 1)]
    assert stats[0].pairs == 3


def test_rare_ties_go_to_the_smaller_word() -> None:
    left = pl.DataFrame({"name": ["gamma beta alfa"]})
    right = pl.DataFrame({"name": ["alfa", "beta", "gamma"]})
    cands, _ = candidate_pairs(left, right, (BlockingPass("r", ("name:rare",)),))
    assert _rows(cands) == [(0, 0, 1), (0, 1, 1)]


# --- the compiled helpers -----------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 2**40), max_size=300), st.booleans())
def test_sort_hits_sorts(values: list[int], bunched: bool) -> None:
    from kvklink.linkage._blocking import _sort_hits

    vals = np.array(values, dtype=np.uint64)
    if bunched and vals.size:  # most values equal: the buckets come out uneven
        vals[: vals.size * 3 // 4] = vals[0]
    buf = np.concatenate([[7], vals, [3]]).astype(np.uint64)  # values outside lo:hi stay
    tmp = np.zeros_like(buf)
    hist = np.zeros(2 * buf.size + 2, dtype=np.int64)
    lo, hi = 1, 1 + vals.size
    low = np.uint64(vals.min()) if vals.size else np.uint64(0)
    high = np.uint64(vals.max()) if vals.size else np.uint64(0)
    in_tmp = _sort_hits(buf, tmp, lo, hi, low, high, hist)
    out = tmp if in_tmp else buf
    assert out[lo:hi].tolist() == sorted(values if not bunched else vals.tolist())
    assert buf[0] == 7
    assert buf[-1] == 3


def test_split_words_keeps_distinct_words_in_row_order() -> None:
    from kvklink.linkage._blocking import _text, _word_values

    values = pl.Series(["de  bouw é bouw één", None, "", "x", "a b c de het"])
    words = _word_values(_text(values))
    got = [
        (int(r), bytes(words.data[s:e]).decode())
        for r, s, e in zip(words.row, words.start, words.end, strict=True)
    ]
    assert got == [(0, "bouw"), (0, "één")]
    assert words.hashes[0] != words.hashes[1]


def test_find_blocks_and_merge_pairs_directly() -> None:
    from kvklink.linkage._blocking import _find_blocks, _merge_pairs

    passes = (BlockingPass("pc", ("pc",)), BlockingPass("tok", ("name:token",)))
    blocks = block_index(RIGHT, passes)._blocks
    # no keys at all
    start, end = _find_blocks(np.zeros(0, dtype=np.uint64), np.zeros(3, dtype=np.int64),
                              blocks.table, blocks.directory, blocks.dir_base, blocks.shift, 1)
    assert start.size == end.size == 0
    q, r, m, counts = _merge_pairs(
        np.arange(3, dtype=np.int64), np.array([4, 9], dtype=np.uint32),
        np.zeros((2, 3), dtype=np.int64), start, end, blocks.rows, np.uint64(1), 2,
    )
    assert q.size == r.size == m.size == 0
    assert counts.tolist() == [0, 0]
