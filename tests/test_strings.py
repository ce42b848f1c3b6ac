"""The numba string kernels agree with rapidfuzz (the peer) on every similarity and level."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Indel, Jaro, JaroWinkler, Levenshtein

from kvklink.errors import ConfigError, InputError, SchemaError
from kvklink.linkage._compare import _SCORERS
from kvklink.linkage._strings import (
    SIMILARITIES,
    EncodedStrings,
    encode_strings,
    pair_levels,
    pair_similarities,
)


def _house_number(a: str, b: str) -> float:
    if a == b:
        return 1.0
    return 0.9 if a.split("-")[0] == b.split("-")[0] else 0.0


REFERENCE: dict[str, Callable[[str, str], float]] = {
    "jaro_winkler": lambda a, b: JaroWinkler.normalized_similarity(a, b),
    "jaro": lambda a, b: Jaro.normalized_similarity(a, b),
    "levenshtein": lambda a, b: Levenshtein.normalized_similarity(a, b),
    "indel": lambda a, b: Indel.normalized_similarity(a, b),
    "token_sort": lambda a, b: fuzz.token_sort_ratio(a, b) / 100.0,
    "token_set": lambda a, b: fuzz.token_set_ratio(a, b) / 100.0,
    "jaro_winkler_token_set": lambda a, b: max(
        JaroWinkler.normalized_similarity(a, b), fuzz.token_set_ratio(a, b) / 100.0
    ),
    "house_number": _house_number,
    "exact": lambda a, b: float(a == b),
}

# rapidfuzz scorer and scale per similarity: the reference path of kvklink.linkage._compare
CPDIST: dict[str, tuple[Any, float]] = dict(_SCORERS)

# letters, digits, hyphens, several kinds of whitespace (ASCII, U+00A0/U+0085 which rapidfuzz
# treats as whitespace only in strings holding a code point above U+00FF, wide spaces),
# accented Latin-1 letters, a code point above U+00FF and non-BMP characters
ALPHABET = "abcab12- \t\n\x1c\xa0\x85\u2003\u3000éüĀ\U0001d518\U0001f600"
SMALL = "ab -"

texts = st.one_of(
    st.text(alphabet=ALPHABET, max_size=12),
    st.text(alphabet=SMALL, max_size=10),
    st.text(alphabet="abcde fghij", min_size=50, max_size=140),  # past the 64-bit word
    st.text(alphabet="abé Ā", min_size=60, max_size=90),
)


def _decode(enc: EncodedStrings) -> list[str]:
    cps, off = enc.codepoints, enc.offsets
    return [
        cps[off[i] : off[i + 1]].astype("<u4").tobytes().decode("utf-32-le")
        for i in range(len(enc))
    ]


@st.composite
def pair_sets(draw: st.DrawFn) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    left = draw(st.lists(texts, min_size=1, max_size=8))
    right = draw(st.lists(texts, min_size=1, max_size=8))
    right = right + draw(st.lists(st.sampled_from(left), max_size=3))  # equal strings too
    n = draw(st.integers(0, 25))
    lc = np.asarray(draw(st.lists(st.integers(0, len(left) - 1), min_size=n, max_size=n)))
    rc = np.asarray(draw(st.lists(st.integers(0, len(right) - 1), min_size=n, max_size=n)))
    return left, right, lc.astype(np.int64), rc.astype(np.int64)


def _reference(
    left: list[str], right: list[str], lc: np.ndarray, rc: np.ndarray, similarity: str
) -> np.ndarray:
    ref = REFERENCE[similarity]
    return np.array([ref(left[i], right[j]) for i, j in zip(lc, rc, strict=True)], dtype=float)


def _encode(values: list[str]) -> EncodedStrings:
    return encode_strings(pl.Series(values, dtype=pl.String))


@settings(max_examples=200, deadline=None)
@given(data=pair_sets())
@example(data=(["", " ", "a"], ["", "  ", "a", "b"], np.arange(3), np.array([0, 1, 3])))
def test_similarities_equal_rapidfuzz(
    data: tuple[list[str], list[str], np.ndarray, np.ndarray],
) -> None:
    left, right, lc, rc = data
    enc_l, enc_r = _encode(left), _encode(right)
    for similarity in SIMILARITIES:
        got = pair_similarities(enc_l, enc_r, lc, rc, similarity)
        want = _reference(left, right, lc, rc, similarity)
        assert got.dtype == np.float64
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=similarity)


THRESHOLDS: dict[str, tuple[float, ...]] = {"exact": ()} | {
    s: (0.8, 0.92) for s in SIMILARITIES if s != "exact"
}
THRESHOLDS["house_number"] = (0.85,)
THRESHOLDS["token_set"] = (0.5, 0.75, 0.9)


@settings(max_examples=100, deadline=None)
@given(data=pair_sets(), nulls=st.lists(st.booleans(), min_size=25, max_size=25))
def test_levels_match_rapidfuzz_coding(
    data: tuple[list[str], list[str], np.ndarray, np.ndarray], nulls: list[bool]
) -> None:
    left, right, lc, rc = data
    # some codes null (-1) on either side
    flip = np.asarray(nulls[: lc.size], dtype=bool)
    lc = np.where(flip & (np.arange(lc.size) % 2 == 0), -1, lc)
    rc = np.where(flip & (np.arange(rc.size) % 2 == 1), -1, rc)
    enc_l, enc_r = _encode(left), _encode(right)
    for similarity in SIMILARITIES:
        thresholds = THRESHOLDS[similarity]
        got = pair_levels(enc_l, enc_r, lc, rc, similarity, thresholds)
        want = np.zeros(lc.size, dtype=np.int8)
        ref = REFERENCE[similarity]
        for k, (i, j) in enumerate(zip(lc, rc, strict=True)):
            if i < 0 or j < 0:
                continue
            a, b = left[i], right[j]
            if a == b:
                want[k] = len(thresholds) + 2
            else:
                s = ref(a, b)
                want[k] = 1 + sum(s >= t for t in thresholds)
        assert got.dtype == np.int8
        np.testing.assert_array_equal(got, want, err_msg=similarity)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(texts, st.text(max_size=20)), max_size=30))
def test_encode_round_trips(values: list[str]) -> None:
    series = pl.Series(values, dtype=pl.String)
    enc = encode_strings(series)
    assert len(enc) == len(values)
    assert enc.codepoints.dtype == np.uint32
    assert enc.offsets.dtype == np.int64
    assert _decode(enc) == values
    # a sliced series (non-zero Arrow offset) encodes its own values only
    if len(values) > 2:
        assert _decode(encode_strings(series.slice(1, len(values) - 2))) == values[1:-1]


def test_encode_rechunked_series() -> None:
    series = pl.concat([pl.Series(["ab", "é"]), pl.Series(["", "\U0001f600x"])], rechunk=False)
    assert series.n_chunks() == 2
    assert _decode(encode_strings(series)) == ["ab", "é", "", "\U0001f600x"]


EDGE = ["", "a", "b", " ", "   ", "\t \n", "ab", "a b", "b a", "aa", "a-b", "a-c", "12-a", "12"]


@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_edge_cases(similarity: str) -> None:
    """Empty, one-character, identical and all-whitespace strings, every combination."""
    enc = encode_strings(pl.Series(EDGE))
    n = len(EDGE)
    lc = np.repeat(np.arange(n), n)
    rc = np.tile(np.arange(n), n)
    got = pair_similarities(enc, enc, lc, rc, similarity)
    np.testing.assert_allclose(got, _reference(EDGE, EDGE, lc, rc, similarity), atol=1e-12)
    assert ((got >= 0.0) & (got <= 1.0)).all()


def test_known_values() -> None:
    enc = encode_strings(pl.Series(["", "", "   ", "  ", "x", "x", "martha", "marhta"]))
    pairs = np.array([0, 2, 4, 6]), np.array([1, 3, 5, 7])
    # identical empty strings: similar (1.0) except token_set, which gives 0 without tokens
    jaro = pair_similarities(enc, enc, *pairs, "jaro").tolist()
    assert jaro[:3] == [1.0, pytest.approx((2 / 3 + 1 + 1) / 3), 1.0]
    assert pair_similarities(enc, enc, *pairs, "token_set").tolist()[:3] == [0.0, 0.0, 1.0]
    assert pair_similarities(enc, enc, *pairs, "token_sort").tolist()[:3] == [1.0, 1.0, 1.0]
    assert pair_similarities(enc, enc, *pairs, "jaro_winkler")[3] == pytest.approx(0.9611111)
    # levels: equal strings are always the top level, whatever the similarity says
    levels = pair_levels(enc, enc, *pairs, "token_set", (0.8,))
    assert levels.tolist() == [3, 1, 3, 2]  # "   " vs "  ": token_set 0 -> else


def test_empty_inputs() -> None:
    empty = encode_strings(pl.Series([], dtype=pl.String))
    assert len(empty) == 0
    assert empty.offsets.tolist() == [0]
    none = np.zeros(0, dtype=np.int64)
    assert pair_similarities(empty, empty, none, none, "jaro").shape == (0,)
    assert pair_levels(empty, empty, none, none, "exact", ()).shape == (0,)
    enc = encode_strings(pl.Series(["a"]))
    assert pair_levels(enc, empty, np.array([0, -1]), np.array([-1, -1]), "jaro",
                       (0.9,)).tolist() == [0, 0]


def test_codes_accept_other_integer_dtypes() -> None:
    enc = encode_strings(pl.Series(["ab", "abc"]))
    got = pair_similarities(enc, enc, np.array([0], np.int32), np.array([1], np.uint8), "indel")
    assert got.tolist() == [pytest.approx(0.8)]


def test_bad_arguments() -> None:
    enc = encode_strings(pl.Series(["a", "b"]))
    one = np.array([0])
    with pytest.raises(ConfigError, match="Hint"):
        pair_similarities(enc, enc, one, one, "soundex")
    with pytest.raises(ConfigError, match="Hint"):
        pair_levels(enc, enc, one, one, "cosine", (0.5,))
    with pytest.raises(ConfigError, match="exact"):
        pair_levels(enc, enc, one, one, "exact", (0.5,))
    with pytest.raises(InputError, match="same length"):
        pair_similarities(enc, enc, one, np.array([0, 1]), "jaro")
    with pytest.raises(InputError, match="left_codes"):
        pair_similarities(enc, enc, np.array([-1]), one, "jaro")
    with pytest.raises(InputError, match="right_codes"):
        pair_levels(enc, enc, one, np.array([2]), "jaro", (0.5,))
    with pytest.raises(InputError, match="EncodedStrings"):
        pair_similarities(["a"], enc, one, one, "jaro")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="1 null"):
        encode_strings(pl.Series(["secret-name", None]))
    with pytest.raises(SchemaError, match="dtype"):
        encode_strings(pl.Series([1, 2]))
    with pytest.raises(SchemaError, match="Series"):
        encode_strings(["a"])  # type: ignore[arg-type]


def test_encoded_strings_refuse_bad_offsets() -> None:
    cps = np.array([97, 98], dtype=np.uint32)
    for offsets in ([], [0, 3], [1, 0, 2], [-1, 2]):
        with pytest.raises(InputError, match="offsets"):
            EncodedStrings(cps, np.array(offsets, dtype=np.int64))
    enc = EncodedStrings(cps.astype(np.int64), np.array([0, 1, 2], dtype=np.int32))  # type: ignore[arg-type]
    assert enc.codepoints.dtype == np.uint32
    assert enc.offsets.dtype == np.int64
    assert _decode(enc) == ["a", "b"]


def test_messages_and_repr_hold_no_values() -> None:
    enc = encode_strings(pl.Series(["geheime naam bv"]))
    assert "geheime" not in repr(enc)
    assert repr(enc) == "EncodedStrings(n=1, codepoints=15)"
    with pytest.raises(InputError) as info:
        encode_strings(pl.Series(["geheime naam bv", None]))
    assert "geheime" not in str(info.value)


COMPANY_WORDS = ["bakkerij", "jansen", "de", "vries", "holding", "bv", "v.o.f.", "van", "dijk",
                 "installatie", "techniek", "müller", "café", "’t", "hoekje", "b.v.", "12-a",
                 "12", "&"]


def _company_names(rng: np.random.Generator, n: int) -> list[str]:
    return [" ".join(rng.choice(COMPANY_WORDS, size=rng.integers(1, 5))) for _ in range(n)]


def test_similarities_on_company_names() -> None:
    """Realistic names (legal forms, typos, swapped words) against rapidfuzz's cpdist."""
    rng = np.random.default_rng(7)
    names = _company_names(rng, 300)
    typo = [n[: len(n) // 2] + n[len(n) // 2 + 1 :] for n in names]
    left = names + names
    right = typo + list(rng.permutation(names))
    codes = np.arange(len(left))
    enc_l = encode_strings(pl.Series(left))
    enc_r = encode_strings(pl.Series(right))
    for similarity in SIMILARITIES:
        got = pair_similarities(enc_l, enc_r, codes, codes, similarity)
        if similarity in CPDIST:
            scorer, scale = CPDIST[similarity]
            want = process.cpdist(left, right, scorer=scorer, dtype=np.float64) / scale
        else:
            want = _reference(left, right, codes, codes, similarity)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=similarity)


def test_levels_on_company_names_with_nulls() -> None:
    """Levels on row codes, nulls as -1, against the coding applied to rapidfuzz scores."""
    rng = np.random.default_rng(11)
    names = _company_names(rng, 200)
    left = [n if rng.random() > 0.05 else None for n in names]
    right: list[str | None] = [n[:-1] if rng.random() < 0.3 else n
                               for n in rng.permutation(names)]
    right[3] = None
    li = rng.integers(0, len(left), 3000)
    ri = rng.integers(0, len(right), 3000)
    ri[:200] = li[:200]  # many equal and near-equal pairs
    ls, rs = pl.Series(left, dtype=pl.String), pl.Series(right, dtype=pl.String)
    enc_l, enc_r = encode_strings(ls.fill_null("")), encode_strings(rs.fill_null(""))
    lc = np.where(ls.is_null().to_numpy()[li], -1, li)
    rc = np.where(rs.is_null().to_numpy()[ri], -1, ri)
    for similarity in SIMILARITIES:
        ref = REFERENCE[similarity]
        scores = [None if x < 0 or y < 0 else ref(left[x] or "", right[y] or "")
                  for x, y in zip(lc, rc, strict=True)]
        for thresholds in ((0.8, 0.92), (0.5,), (0.3, 0.6, 0.9)):
            ts = () if similarity == "exact" else thresholds
            want = [0 if s is None else (len(ts) + 2 if left[x] == right[y]
                                         else 1 + sum(s >= t for t in ts))
                    for s, x, y in zip(scores, lc, rc, strict=True)]
            got = pair_levels(enc_l, enc_r, lc, rc, similarity, ts)
            np.testing.assert_array_equal(got, want, err_msg=f"{similarity} {ts}")


def test_levels_at_a_threshold_exactly() -> None:
    """Jaro 0.8000000000000002 reaches the 0.8 threshold (rapidfuzz's cpdist with
    score_cutoff=0.8 returns 0 for this pair; the levels follow the definition)."""
    a, b = "simonis & van duvenvoirde", "houdijk & van duvenvoirde"
    assert Jaro.normalized_similarity(a, b) >= 0.8
    enc_a, enc_b = encode_strings(pl.Series([a])), encode_strings(pl.Series([b]))
    zero = np.array([0])
    assert pair_similarities(enc_a, enc_b, zero, zero, "jaro")[0] == Jaro.normalized_similarity(
        a, b
    )
    assert pair_levels(enc_a, enc_b, zero, zero, "jaro", (0.8, 0.92)).tolist() == [2]
