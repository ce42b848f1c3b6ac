"""Property tests of the matching core against the pure-Python reference implementation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kvklink.cohort._core import (
    nearest_scalar,
    sort_order,
    weights_from_match_matrix,
    weights_from_subclass,
)
from kvklink.cohort._reference import reference_nearest, reference_weights


@st.composite
def problems(draw: st.DrawFn) -> dict[str, object]:
    n_t = draw(st.integers(1, 7))
    n_c = draw(st.integers(0, 12))
    n = n_t + n_c
    # small integer distances force ties; floats exercise the general case
    if draw(st.booleans()):
        dist = [float(v) for v in draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))]
    else:
        dist = draw(st.lists(st.floats(0, 1, allow_nan=False, width=32), min_size=n, max_size=n))
    treat = [1] * n_t + [0] * n_c
    perm = draw(st.permutations(list(range(n))))
    dist = [dist[i] for i in perm]
    treat = [treat[i] for i in perm]
    strata = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    key = draw(st.permutations(list(range(n))))
    order = draw(st.permutations(list(range(n_t))))
    return {
        "distance": dist,
        "treat": treat,
        "stratum": strata if draw(st.booleans()) else [0] * n,
        "key": list(key),
        "order": list(order),
        "ratio": draw(st.integers(1, 3)),
        "replace": draw(st.booleans()),
        "caliper": draw(st.sampled_from([None, 0.0, 0.5, 1.0, 2.5])),
    }


def _core(p: dict[str, object]) -> np.ndarray:
    return nearest_scalar(
        np.asarray(p["distance"], dtype=np.float64),
        np.asarray(p["treat"], dtype=bool),
        np.asarray(p["stratum"], dtype=np.int64),
        np.asarray(p["key"], dtype=np.int64),
        order=np.asarray(p["order"], dtype=np.int64),
        ratio=int(p["ratio"]),  # type: ignore[call-overload]
        replace=bool(p["replace"]),
        caliper=p["caliper"],  # type: ignore[arg-type]
    )


def check_matches(p: dict[str, object], mm: np.ndarray) -> None:
    """Invariants every nearest-neighbour result must satisfy (cf. expect_good_matchit)."""
    d = np.asarray(p["distance"])
    t = np.asarray(p["treat"], dtype=bool)
    s = np.asarray(p["stratum"])
    t_rows = np.flatnonzero(t)
    assert mm.shape == (t_rows.size, p["ratio"])
    used = mm[mm >= 0]
    assert not t[used].any(), "a treated unit was used as a control"
    if not p["replace"]:
        assert used.size == np.unique(used).size, "a control was used twice"
    for i, row in enumerate(mm):
        got = row[row >= 0]
        assert got.size == np.unique(got).size, "a control matched twice to one treated unit"
        # matches fill the columns from the left
        assert (row[: got.size] >= 0).all()
        assert (s[got] == s[t_rows[i]]).all(), "a match outside its exact stratum"
        if p["caliper"] is not None:
            assert (np.abs(d[got] - d[t_rows[i]]) <= p["caliper"]).all(), "outside the caliper"


@settings(max_examples=300, deadline=None)
@given(problems())
@example(
    {
        "distance": [0.5],
        "treat": [1],
        "stratum": [0],
        "key": [0],
        "order": [0],
        "ratio": 1,
        "replace": False,
        "caliper": None,
    }
)
def test_core_agrees_with_reference(p: dict[str, object]) -> None:
    mm = _core(p)
    check_matches(p, mm)
    ref = reference_nearest(
        p["distance"],  # type: ignore[arg-type]
        p["treat"],  # type: ignore[arg-type]
        order=p["order"],  # type: ignore[arg-type]
        stratum=p["stratum"],  # type: ignore[arg-type]
        key=p["key"],  # type: ignore[arg-type]
        ratio=p["ratio"],  # type: ignore[arg-type]
        replace=p["replace"],  # type: ignore[arg-type]
        caliper=p["caliper"],  # type: ignore[arg-type]
    )
    assert mm.tolist() == ref
    treat = np.asarray(p["treat"], dtype=bool)
    w = weights_from_match_matrix(mm, treat)
    np.testing.assert_allclose(w, reference_weights(ref, p["treat"]), rtol=1e-12)  # type: ignore[arg-type]
    # MatchIt's normalisation: control weights sum to the number of matched controls
    assert w[~treat].sum() == pytest.approx(np.count_nonzero(w[~treat]))
    assert (w[treat] == (mm >= 0).any(axis=1).astype(float)).all()


@settings(max_examples=100, deadline=None)
@given(problems())
def test_replacement_ignores_order(p: dict[str, object]) -> None:
    p = {**p, "replace": True}
    mm = _core(p)
    rev = _core({**p, "order": list(reversed(p["order"]))})  # type: ignore[call-overload]
    assert mm.tolist() == rev.tolist()


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=30),
    st.data(),
)
def test_sort_order_is_lexsort(dist: list[float], data: st.DataObject) -> None:
    n = len(dist)
    key = np.asarray(data.draw(st.permutations(list(range(n)))), dtype=np.int64)
    strat = np.asarray(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    d = np.asarray(dist)
    assert sort_order(d, strat, key).tolist() == np.lexsort((key, d, strat)).tolist()


def test_weights_from_subclass_like_matchit() -> None:
    treat = np.array([1, 0, 0, 1, 1, 0, 0], dtype=bool)
    sub = np.array([1, 1, 1, 2, 2, 2, -1])
    w = weights_from_subclass(sub, treat)
    # raw control weights n_t/n_c: 1/2, 1/2, 2/1; scaled to sum to 3 matched controls
    raw = np.array([0.5, 0.5, 2.0])
    np.testing.assert_allclose(w[[1, 2, 5]], raw * 3 / raw.sum())
    assert w[6] == 0.0
    assert (w[treat] == 1.0).all()


def test_no_controls_in_stratum_leaves_treated_unmatched() -> None:
    d = np.array([0.5, 0.6, 0.4, 0.55])
    t = np.array([True, True, False, False])
    s = np.array([0, 1, 0, 0])
    mm = nearest_scalar(d, t, s, np.arange(4), order=np.array([0, 1]))
    assert mm.tolist() == [[3], [-1]]
