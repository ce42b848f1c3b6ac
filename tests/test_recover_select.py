"""The one-pass selection kernel against a plain Python reference of the same rules."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kvklink.linkage._select import best_per_query


def _reference(
    groups: list[list[tuple[int, float, int, bool]]], p_any: float, prior: float, use_valid: bool,
    floors: list[int],
) -> tuple[list[int], list[int], list[float]]:
    best_out: list[int] = []
    second_out: list[int] = []
    prob_out: list[float] = []
    offset = 0
    for pairs, floor in zip(groups, floors, strict=True):
        idx = list(range(offset, offset + len(pairs)))
        offset += len(pairs)
        if not pairs:
            best_out.append(-1)
            second_out.append(-1)
            prob_out.append(math.nan)
            continue
        rows = list(zip(idx, pairs, strict=True))
        if use_valid and any(p[3] for _, p in rows):
            rows = [(i, p) for i, p in rows if p[3]]
        per_target: dict[int, tuple[int, float, int]] = {}
        for i, (tid, score, row, _) in rows:
            cur = per_target.get(tid)
            if cur is None or score > cur[1] or (score == cur[1] and row < cur[2]):
                per_target[tid] = (i, score, row)
        ranked = sorted(per_target.items(), key=lambda kv: (-kv[1][1], kv[0]))
        n = len(ranked)
        n_post = max(n, floor)  # targets dropped before scoring count with a Bayes factor of 0
        terms = [math.log2(p_any) - math.log2(n_post) + (v[1] - prior) for _, v in ranked]
        log_none = math.log2(1 - p_any)
        top = max([*terms, log_none])
        den = top + math.log2(2 ** (log_none - top) + sum(2 ** (t - top) for t in terms))
        best_out.append(ranked[0][1][0])
        second_out.append(ranked[1][1][0] if n > 1 else -1)
        prob_out.append(2 ** (terms[0] - den))
    return best_out, second_out, prob_out


_pair = st.tuples(
    st.integers(0, 4),  # target rank
    st.sampled_from([-3.0, 0.0, 1.5, 2.0, 7.25]),  # few values: ties are common
    st.integers(0, 6),  # reference row
    st.booleans(),  # valid at the query date
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(_pair, max_size=7), min_size=1, max_size=6),
    st.floats(0.01, 0.99),
    st.floats(-5.0, 5.0),
    st.booleans(),
    st.lists(st.integers(0, 9), min_size=6, max_size=6),
)
def test_selection_equals_the_reference(
    groups: list[list[tuple[int, float, int, bool]]], p_any: float, prior: float, use_valid: bool,
    floors: list[int],
) -> None:
    flat = [p for g in groups for p in g]
    starts = np.cumsum([0] + [len(g) for g in groups])
    tid = np.array([p[0] for p in flat], dtype=np.uint32)
    score = np.array([p[1] for p in flat], dtype=np.float64)
    row = np.array([p[2] for p in flat], dtype=np.uint32)
    valid = np.array([p[3] for p in flat], dtype=bool) if use_valid else None
    floors = floors[: len(groups)]
    best, second, prob = best_per_query(starts, tid, score, row, p_any=p_any,
                                        prior_weight=prior, valid=valid,
                                        n_targets=np.array(floors))
    ref_best, ref_second, ref_prob = _reference(groups, p_any, prior, use_valid, floors)
    assert best.tolist() == ref_best
    assert second.tolist() == ref_second
    np.testing.assert_allclose(prob, ref_prob, rtol=1e-12, atol=1e-15)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(1, 63), st.integers(0, 5)), max_size=8),
        min_size=1, max_size=6,
    ),
    st.integers(2, 4),
)
def test_single_pass_pruning_equals_the_reference(
    groups: list[list[tuple[int, int]]], min_passes: int
) -> None:
    from kvklink.linkage._select import single_pass_pruning

    flat = [p for g in groups for p in g]
    starts = np.cumsum([0] + [len(g) for g in groups])
    masks = np.array([m for m, _ in flat], dtype=np.uint32)
    tids = np.array([t for _, t in flat], dtype=np.uint32)
    keep, n_targets = single_pass_pruning(starts, masks, tids, min_passes)
    ref_keep: list[bool] = []
    ref_n: list[int] = []
    for g in groups:
        best = max((bin(m).count("1") for m, _ in g), default=0)
        kept = [best < min_passes or bin(m).count("1") >= 2 for m, _ in g]
        ref_keep += kept
        ref_n.append(len({t for _, t in g}) if not all(kept) else 0)
    assert keep.tolist() == ref_keep
    assert n_targets.tolist() == ref_n
