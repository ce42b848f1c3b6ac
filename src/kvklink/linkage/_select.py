"""One candidate per query: the best target value, its runner-up and the query-level posterior.

Candidate pairs arrive sorted by query. For each query the kernel keeps each distinct target's
best-scoring reference record (ties: the lowest record), ranks the targets by score (ties: the
lowest target rank), and computes the posterior that the best target is the query's match
under "at most one true target per query": with ``p`` the share of queries that have a match
among their candidates and ``n`` their distinct targets,
``P(target k) = (p/n)·BF_k / ((1 - p) + (p/n)·Σ_j BF_j)``, ``BF = 2^(sum of field weights)``,
evaluated in log2 space. One pass over the pairs, no sort of the whole candidate set.

Examples
--------
>>> import numpy as np
>>> starts = np.array([0, 3, 3])                 # query 0 has three pairs, query 1 none
>>> tid = np.array([7, 7, 9], dtype=np.uint32)   # two targets: 7 (two records) and 9
>>> score = np.array([5.0, 6.0, 1.0])
>>> row = np.array([10, 11, 12], dtype=np.uint32)
>>> best, second, prob = best_per_query(starts, tid, score, row, p_any=0.5, prior_weight=0.0)
>>> best.tolist(), second.tolist(), round(float(prob[0]), 4)
([1, -1], [2, -1], 0.9412)
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from kvklink._arrays import kernel_input

__all__ = ["best_per_query", "single_pass_pruning"]


@numba.njit(cache=True, parallel=True)
def _best_kernel(
    starts: npt.NDArray[np.int64],
    tid: npt.NDArray[np.uint32],
    score: npt.NDArray[np.float64],
    row: npt.NDArray[np.uint32],
    valid: npt.NDArray[np.bool_],
    use_valid: bool,
    n_floor: npt.NDArray[np.int64],
    log_p: float,
    log_none: float,
    prior_weight: float,
    best: npt.NDArray[np.int64],
    second: npt.NDArray[np.int64],
    prob: npt.NDArray[np.float64],
) -> None:  # pragma: no cover - compiled
    nq = starts.size - 1
    for g in numba.prange(nq):
        s = starts[g]
        e = starts[g + 1]
        if e == s:
            continue
        any_valid = False
        if use_valid:
            for i in range(s, e):
                if valid[i]:
                    any_valid = True
                    break
        idx = np.empty(e - s, dtype=np.int64)
        k = 0
        for i in range(s, e):
            if (not any_valid) or valid[i]:
                idx[k] = i
                k += 1
        idx = idx[:k]
        keys = np.empty(k, dtype=np.int64)
        for j in range(k):
            keys[j] = np.int64(tid[idx[j]])
        order = np.argsort(keys, kind="mergesort")
        # best record of each distinct target, targets in ascending rank order
        t_best = np.empty(k, dtype=np.int64)
        n_t = 0
        prev = np.int64(-1)
        for j in range(k):
            i = idx[order[j]]
            t = np.int64(tid[i])
            if n_t == 0 or t != prev:
                t_best[n_t] = i
                n_t += 1
                prev = t
            else:
                b = t_best[n_t - 1]
                if score[i] > score[b] or (score[i] == score[b] and row[i] < row[b]):
                    t_best[n_t - 1] = i
        first = -1
        runner = -1
        for j in range(n_t):
            i = t_best[j]
            if first < 0 or score[i] > score[first]:
                runner = first
                first = i
            elif runner < 0 or score[i] > score[runner]:
                runner = i
        # log-sum-exp over the targets' terms and the "no match" term
        log_n = math.log2(max(n_t, n_floor[g]))
        top = log_none
        for j in range(n_t):
            term = log_p - log_n + (score[t_best[j]] - prior_weight)
            top = max(top, term)
        acc = 2.0 ** (log_none - top)
        for j in range(n_t):
            term = log_p - log_n + (score[t_best[j]] - prior_weight)
            acc += 2.0 ** (term - top)
        den = top + math.log2(acc)
        best[g] = first
        second[g] = runner
        prob[g] = 2.0 ** (log_p - log_n + (score[first] - prior_weight) - den)


def best_per_query(
    starts: npt.NDArray[np.integer],
    tid: npt.NDArray[np.uint32],
    score: npt.NDArray[np.float64],
    row: npt.NDArray[np.uint32],
    *,
    p_any: float,
    prior_weight: float,
    valid: npt.NDArray[np.bool_] | None = None,
    n_targets: npt.NDArray[np.integer] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Best pair, runner-up pair (best pair of another target) and posterior per query.

    Parameters
    ----------
    starts
        Query ``g``'s pairs are ``starts[g]:starts[g + 1]`` (pairs sorted by query).
    tid, score, row
        Per pair: target rank (orders like the target value), total match weight, reference
        record (tie-breaker).
    p_any, prior_weight
        Share of queries with a match among their candidates; the model's prior weight
        (subtracted from scores to get log2 Bayes factors).
    valid
        Optional per-pair flag: when a query has at least one valid pair, its invalid pairs
        do not compete.
    n_targets
        Optional per-query number of distinct targets its blocking found, when some of its
        pairs were dropped before scoring (single-pass pruning): the posterior's ``n`` is at
        least this, and the dropped targets count with a Bayes factor of 0 (their match
        weights are low by construction), so pruning does not inflate the posterior.

    Returns
    -------
    best, second, prob
        Pair index of the best and runner-up (-1: none) and the posterior of the best.
    """
    bounds = np.ascontiguousarray(starts, dtype=np.int64)
    nq = bounds.size - 1
    best = np.full(nq, -1, dtype=np.int64)
    second = np.full(nq, -1, dtype=np.int64)
    prob = np.full(nq, np.nan, dtype=np.float64)
    if nq <= 0 or score.size == 0:
        return best, second, prob
    use_valid = valid is not None
    flags = (
        np.ascontiguousarray(valid, dtype=np.bool_) if valid is not None
        else np.zeros(1, dtype=np.bool_)
    )
    floor = (
        np.ascontiguousarray(n_targets, dtype=np.int64) if n_targets is not None
        else np.zeros(nq, dtype=np.int64)
    )
    _best_kernel(
        kernel_input(bounds, np.int64), kernel_input(tid, np.uint32),
        kernel_input(score, np.float64), kernel_input(row, np.uint32),
        kernel_input(flags, np.bool_), use_valid, kernel_input(floor, np.int64),
        math.log2(p_any), math.log2(1.0 - p_any), float(prior_weight), best, second, prob,
    )
    return best, second, prob


@numba.njit(cache=True)
def _pruning_kernel(
    starts: npt.NDArray[np.int64],
    passes: npt.NDArray[np.uint32],
    tid: npt.NDArray[np.uint32],
    min_passes: int,
    n_tid: int,
    keep: npt.NDArray[np.bool_],
    n_targets: npt.NDArray[np.int64],
) -> None:  # pragma: no cover - compiled
    stamp = np.zeros(n_tid + 1, dtype=np.int64)  # last query that counted each target
    for g in range(starts.size - 1):
        s = starts[g]
        e = starts[g + 1]
        best = 0
        for i in range(s, e):
            best = max(best, _bits(passes[i]))
        if best < min_passes:
            continue
        lost = False
        distinct = 0
        for i in range(s, e):
            t = tid[i]
            if stamp[t] != g + 1:
                stamp[t] = g + 1
                distinct += 1
            if _bits(passes[i]) < 2:
                keep[i] = False
                lost = True
        if lost:
            n_targets[g] = distinct


@numba.njit(cache=True, inline="always")
def _bits(x: np.uint32) -> int:  # pragma: no cover - compiled
    n = 0
    while x:
        x &= x - np.uint32(1)
        n += 1
    return n


def single_pass_pruning(
    starts: npt.NDArray[np.integer],
    passes: npt.NDArray[np.uint32],
    tid: npt.NDArray[np.uint32],
    min_passes: int,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Which candidate pairs single-pass pruning keeps, and the targets of pruned queries.

    Pairs are sorted by query (query ``g`` owns ``starts[g]:starts[g + 1]``); ``passes`` is
    the bitmask of the blocking passes that found each pair and ``tid`` its target rank. A
    pair is dropped when one pass found it and another candidate of its query was found by
    at least ``min_passes`` passes. ``n_targets[g]`` is the number of distinct targets among
    query ``g``'s candidates before pruning when it lost any (else 0): see the
    ``n_targets`` argument of :func:`best_per_query`.

    >>> import numpy as np
    >>> keep, n = single_pass_pruning(
    ...     np.array([0, 3, 5]), np.array([0b111, 0b001, 0b011, 0b001, 0b010], dtype=np.uint32),
    ...     np.array([4, 5, 4, 1, 2], dtype=np.uint32), 3)
    >>> keep.tolist(), n.tolist()
    ([True, False, True, True, True], [2, 0])
    """
    bounds = np.ascontiguousarray(starts, dtype=np.int64)
    keep = np.ones(passes.size, dtype=np.bool_)
    n_targets = np.zeros(max(bounds.size - 1, 0), dtype=np.int64)
    if passes.size:
        tids = kernel_input(tid, np.uint32)
        _pruning_kernel(kernel_input(bounds, np.int64), kernel_input(passes, np.uint32), tids,
                        int(min_passes), int(tids.max()), keep, n_targets)
    return keep, n_targets
