"""A tiny, obviously-correct pure-Python greedy matcher: the yardstick for ``_core`` in tests.

Quadratic and slow on purpose — it states the rule instead of optimising it. Each treated unit,
in the given order, takes among the eligible controls (same stratum, within the caliper, not
yet used when matching without replacement, not already its own match) the one that sorts
first by:

1. the absolute distance difference |d_c − d_t|;
2. the side: a control sorting before the treated unit in (distance, key) order ("left")
   before one sorting after it ("right") — MatchIt prefers the left neighbour on a tie;
3. nearness in that order: on the left the largest (distance, key), on the right the smallest.

With ``ratio = k`` there are k rounds over all treated units (a treated unit without a match in
one round gets none in later rounds).

Examples
--------
>>> reference_nearest([0.9, 0.5, 0.85, 0.4, 0.1], [1, 1, 0, 0, 0], order=[0, 1])
[[2], [3]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["reference_nearest", "reference_weights"]


def reference_nearest(
    distance: Sequence[float],
    treat: Sequence[int | bool],
    *,
    order: Sequence[int],
    stratum: Sequence[int] | None = None,
    key: Sequence[int] | None = None,
    ratio: int = 1,
    replace: bool = False,
    caliper: float | None = None,
) -> list[list[int]]:
    """Match by the rule in the module docstring; returns control row indices, -1 = none.

    ``order`` lists treated units by their position among the treated (row order).
    """
    n = len(distance)
    strata = list(stratum) if stratum is not None else [0] * n
    keys = list(key) if key is not None else list(range(n))
    cal = math.inf if caliper is None else caliper
    treated = [i for i in range(n) if treat[i]]
    controls = [i for i in range(n) if not treat[i]]
    used: set[int] = set()
    out = [[-1] * ratio for _ in treated]
    for r in range(ratio):
        for pos in order:
            if r > 0 and out[pos][r - 1] < 0:
                continue
            t = treated[pos]
            s_t = (distance[t], keys[t])
            best = None
            best_rank: tuple[float, int, tuple[float, int]] | None = None
            for c in controls:
                if strata[c] != strata[t] or c in out[pos][:r]:
                    continue
                if not replace and c in used:
                    continue
                diff = abs(distance[c] - distance[t])
                if diff > cal:
                    continue
                s_c = (distance[c], keys[c])
                rank = (diff, 0, (-s_c[0], -s_c[1])) if s_c < s_t else (diff, 1, s_c)
                if best_rank is None or rank < best_rank:
                    best, best_rank = c, rank
            if best is not None:
                out[pos][r] = best
                used.add(best)
    return out


def reference_weights(
    match_matrix: Sequence[Sequence[int]], treat: Sequence[int | bool]
) -> list[float]:
    """MatchIt's ATT weights from a match matrix, written out longhand.

    >>> reference_weights([[2, 3], [2, -1]], [1, 1, 0, 0])
    [1.0, 1.0, 1.5, 0.5]
    """
    n = len(treat)
    w = [0.0] * n
    treated = [i for i in range(n) if treat[i]]
    for pos, row in enumerate(match_matrix):
        got = [c for c in row if c >= 0]
        if not got:
            continue
        w[treated[pos]] = 1.0
        for c in got:
            w[c] += 1.0 / len(got)
    ctrl = [i for i in range(n) if not treat[i]]
    total = sum(w[i] for i in ctrl)
    matched = sum(1 for i in ctrl if w[i] > 0)
    if total > 0:
        for i in ctrl:
            w[i] *= matched / total
    return w
