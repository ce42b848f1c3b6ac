"""Field comparisons: the deduplicating fast path equals the plain per-pair reference."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvklink.linkage import FieldComparison
from kvklink.linkage._compare import (
    comparison_levels,
    factorize,
    pair_levels,
    value_dictionary,
)

WORDS = st.sampled_from(["jansen", "janssen", "jansen bouw", "bouw jansen", "12-A", "12", "13",
                         "ede", "edee", "", "x"])
FIELDS = [
    FieldComparison("name", "a", "b", similarity="jaro_winkler_token_set",
                    thresholds=(0.94, 0.88, 0.8)),
    FieldComparison("hn", "a", "b", cleaner="house_number", similarity="house_number",
                    thresholds=(0.85,)),
    FieldComparison("pc", "a", "b", similarity="levenshtein", thresholds=(0.8,)),
    FieldComparison("ex", "a", "b", similarity="exact"),
]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.none(), WORDS), min_size=1, max_size=8),
    st.lists(st.one_of(st.none(), WORDS), min_size=1, max_size=8),
    st.integers(0, 2**32 - 1),
    st.sampled_from(FIELDS),
)
def test_pair_levels_equal_the_per_pair_reference(
    left: list[str | None], right: list[str | None], seed: int, fc: FieldComparison
) -> None:
    rng = np.random.default_rng(seed)
    qi = rng.integers(0, len(left), 30)
    ri = rng.integers(0, len(right), 30)
    ls = pl.Series(left, dtype=pl.Utf8)
    rs = pl.Series(right, dtype=pl.Utf8)
    fast = pair_levels(ls, rs, qi, ri, fc)
    ref = comparison_levels(ls.gather(qi), rs.gather(ri), fc)
    np.testing.assert_array_equal(fast, ref)


def test_value_dictionary_round_trips() -> None:
    s = pl.Series(["b", None, "a", "b", "c"])
    d = value_dictionary(s)
    got = [None if c < 0 else d.values[int(c)] for c in d.codes]
    assert got == s.to_list()
    assert len(d.encoded) == d.values.len() == 3


def test_levels_have_the_documented_coding() -> None:
    fc = FieldComparison("name", "a", "b", thresholds=(0.9, 0.7))
    assert fc.level_labels == ("null", "else", ">=0.7", ">=0.9", "exact")
    got = comparison_levels(
        pl.Series(["abcdefgh", "abcdefgh", "abcdefgh", None, "abcdefgh"]),
        pl.Series(["abcdefgh", "abcdefgx", "abxyzfgh", "a", "zzzzzzzz"]),
        fc,
    ).tolist()
    assert got == [4, 3, 2, 0, 1]
    with pytest.raises(ValueError, match="identifier"):
        FieldComparison("bad name", "a", "b")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=4), WORDS), max_size=40),
       st.integers(0, 5))
def test_factorize_codes_in_first_seen_order(values: list[str | None], skip: int) -> None:
    """Codes number the distinct non-null values in first-seen order; nulls are -1."""
    series = pl.Series("v", ["pad"] * skip + values, dtype=pl.Utf8).slice(skip)  # offset > 0
    codes, distinct = factorize(series)
    seen: dict[str, int] = {}
    expected = [-1 if v is None else seen.setdefault(v, len(seen)) for v in values]
    assert codes.tolist() == expected
    assert distinct.to_list() == list(seen)


def test_factorize_other_dtypes_as_text() -> None:
    codes, distinct = factorize(pl.Series([3, None, 1, 3]))
    assert codes.tolist() == [0, -1, 1, 0]
    assert distinct.to_list() == [3, 1]
    assert distinct.dtype == pl.Int64
