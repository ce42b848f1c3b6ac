"""Numpy/numba matching kernels. No data frames here: arrays in, arrays out.

Greedy nearest-neighbour matching on a scalar distance (a propensity score or its logit)
follows MatchIt's algorithm (``nn_matchC_vec``):

1. all units are sorted by (exact stratum, distance, tie-break key);
2. treated units are visited in the requested order; each takes the closest *available* control
   in its stratum, looking at the nearest available control to its left and to its right in the
   sorted order and preferring the left one when both are equally far;
3. a control further than the caliper is not taken; with ``ratio = k`` there are k rounds, round
   r giving every treated unit its r-th match; without replacement a taken control is removed.

Removal uses two union-find ("next available to the left / right") arrays with path
compression, so a match costs amortised near-constant time and the whole run is
O((n_t + n_c) log(n_t + n_c)), dominated by the sort. With replacement nothing is removed and
every treated unit walks outwards from its position in the sorted order.

Mahalanobis matching has no scalar order: each treated unit scans the available controls of
its stratum (O(n_t × n_c) like MatchIt). Ties go to the control that comes first in key order.

Examples
--------
>>> import numpy as np
>>> d = np.array([0.9, 0.5, 0.85, 0.4, 0.1])
>>> t = np.array([True, True, False, False, False])
>>> nearest_scalar(d, t, np.zeros(5, np.int64), np.arange(5), order=np.array([0, 1]))
array([[2],
       [3]])
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

__all__ = [
    "mahalanobis_nearest",
    "nearest_scalar",
    "sort_order",
    "stable_argsort",
    "weights_from_match_matrix",
    "weights_from_subclass",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@njit(cache=True, nogil=True)
def _find(parent: IntArray, x: int) -> int:  # pragma: no cover - compiled
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@njit(cache=True, nogil=True)
def _nearest_no_replace(
    cd: FloatArray,
    td: FloatArray,
    left: IntArray,
    lo: IntArray,
    hi: IntArray,
    order: IntArray,
    ratio: int,
    caliper: float,
    out: IntArray,
) -> None:  # pragma: no cover - compiled
    nc = cd.shape[0]
    lpar = np.arange(nc + 1)  # index j + 1 <-> control j; 0 = "none on the left"
    rpar = np.arange(nc + 1)  # index j <-> control j; nc = "none on the right"
    n_left = nc
    for r in range(ratio):
        for oi in range(order.shape[0]):
            if n_left == 0:
                return
            i = order[oi]
            if r > 0 and out[i, r - 1] < 0:
                continue
            a = left[i]
            dt = td[i]
            jl = -1
            if a >= lo[i]:
                jl = _find(lpar, a + 1) - 1
                if jl < lo[i] or abs(cd[jl] - dt) > caliper:
                    jl = -1
            jr = -1
            if a + 1 < hi[i]:
                jr = _find(rpar, a + 1)
                if jr >= hi[i] or abs(cd[jr] - dt) > caliper:
                    jr = -1
            if jl >= 0 and jr >= 0:
                j = jl if abs(cd[jl] - dt) <= abs(cd[jr] - dt) else jr
            elif jl >= 0:
                j = jl
            elif jr >= 0:
                j = jr
            else:
                continue
            out[i, r] = j
            lpar[j + 1] = j
            rpar[j] = j + 1
            n_left -= 1


@njit(cache=True, nogil=True)
def _nearest_replace(
    cd: FloatArray,
    td: FloatArray,
    left: IntArray,
    lo: IntArray,
    hi: IntArray,
    ratio: int,
    caliper: float,
    out: IntArray,
) -> None:  # pragma: no cover - compiled
    for i in range(td.shape[0]):
        pl_ = left[i]
        pr = left[i] + 1
        dt = td[i]
        for r in range(ratio):
            okl = pl_ >= lo[i] and abs(cd[pl_] - dt) <= caliper
            okr = pr < hi[i] and abs(cd[pr] - dt) <= caliper
            if okl and okr:
                if abs(cd[pl_] - dt) <= abs(cd[pr] - dt):
                    out[i, r] = pl_
                    pl_ -= 1
                else:
                    out[i, r] = pr
                    pr += 1
            elif okl:
                out[i, r] = pl_
                pl_ -= 1
            elif okr:
                out[i, r] = pr
                pr += 1
            else:
                break


def stable_argsort(values: npt.NDArray[np.generic]) -> IntArray:
    """``np.argsort(values, kind="stable")`` for floats or integers, faster on large arrays.

    An unstable (vectorised) argsort first, then every run of equal values is put back in
    ascending index order, which is what a stable sort gives. Values must not be NaN.

    >>> stable_argsort(np.array([2.0, 1.0, 2.0, 1.0, 0.5])).tolist()
    [4, 1, 3, 0, 2]
    """
    perm = np.argsort(values).astype(np.int64)
    if perm.size < 2:
        return perm
    vs = values[perm]
    eq = vs[1:] == vs[:-1]
    n_eq = int(np.count_nonzero(eq))
    if n_eq == 0:
        return perm
    if n_eq > perm.size // 8:  # mostly ties: numpy's stable sort is the faster fix
        return np.argsort(values, kind="stable").astype(np.int64)
    in_tie = np.zeros(perm.size, dtype=np.bool_)
    in_tie[1:] = eq
    in_tie[:-1] |= eq
    idx = np.flatnonzero(in_tie)
    # a run starts where the value differs from the previous one
    starts = np.ones(idx.size, dtype=np.bool_)
    starts[1:] = ~eq[idx[1:] - 1]
    run = np.cumsum(starts)
    sub = perm[idx]
    perm[idx] = sub[np.lexsort((sub, run))]
    return perm


def sort_order(distance: FloatArray, stratum: IntArray, key: IntArray) -> IntArray:
    """Row order sorted by (stratum, distance, key); ``key`` must be a permutation of 0..n-1.

    Equivalent to ``np.lexsort((key, distance, stratum))`` but needs one float sort: rows are
    first put in key order (an inverse permutation, no sort), then stably sorted by distance
    and, when there are strata, stably by stratum (integer radix sort).
    """
    n = key.shape[0]
    by_key = np.empty(n, dtype=np.int64)
    by_key[key] = np.arange(n)
    perm = by_key[stable_argsort(distance[by_key])]
    if n and stratum.max() != stratum.min():
        sp = stratum[perm]
        if sp.min() >= 0 and sp.max() < 2**15:
            sp = sp.astype(np.int16)  # numpy's stable sort of 16-bit integers is a radix sort
        perm = perm[np.argsort(sp, kind="stable")]
    return perm.astype(np.int64)


def nearest_scalar(
    distance: FloatArray,
    treat: BoolArray,
    stratum: IntArray,
    key: IntArray,
    *,
    order: IntArray,
    ratio: int = 1,
    replace: bool = False,
    caliper: float | None = None,
) -> IntArray:
    """Greedy nearest-neighbour matching on a scalar distance.

    Parameters
    ----------
    distance
        Distance score per unit (n,).
    treat
        True for treated units (n,).
    stratum
        Exact-matching stratum code per unit (n,); all zeros for none.
    key
        Tie-break rank per unit (n,): among equal distances, a smaller key sorts first.
    order
        Processing order: indices into the treated units (0 .. n_t - 1, treated in row order).
    ratio, replace, caliper
        As in :func:`kvklink.match`; ``caliper`` here is in distance units.

    Returns
    -------
    numpy.ndarray
        (n_t, ratio) array of control *row* indices per treated unit (row order), -1 = none.
    """
    n = distance.shape[0]
    perm = sort_order(distance, stratum, key)
    t_sorted = treat[perm]
    c_perm = perm[~t_sorted]
    cd = np.ascontiguousarray(distance[c_perm])
    c_strat = stratum[c_perm]
    ccount = np.cumsum(~t_sorted)
    pos = np.empty(n, dtype=np.int64)
    pos[perm] = np.arange(n)
    t_rows = np.flatnonzero(treat)
    left = (ccount[pos[t_rows]] - 1).astype(np.int64)
    t_strat = stratum[t_rows]
    lo = np.searchsorted(c_strat, t_strat, side="left").astype(np.int64)
    hi = np.searchsorted(c_strat, t_strat, side="right").astype(np.int64)
    td = np.ascontiguousarray(distance[t_rows])
    out = np.full((t_rows.size, ratio), -1, dtype=np.int64)
    cal = np.inf if caliper is None else float(caliper)
    if cd.size and t_rows.size:
        if replace:
            _nearest_replace(cd, td, left, lo, hi, ratio, cal, out)
        else:
            _nearest_no_replace(cd, td, left, lo, hi, order.astype(np.int64), ratio, cal, out)
    if c_perm.size == 0:
        return out
    res = np.where(out >= 0, c_perm[np.maximum(out, 0)], -1)
    return res.astype(np.int64)


@njit(cache=True, nogil=True)
def _mahalanobis_kernel(
    z: FloatArray,
    mv: FloatArray,
    treat: BoolArray,
    stratum: IntArray,
    perm: IntArray,
    pos: IntArray,
    t_rows: IntArray,
    order: IntArray,
    ratio: int,
    replace: bool,
    out: IntArray,
) -> None:  # pragma: no cover - compiled
    n = perm.shape[0]
    q = z.shape[1]
    eligible = np.ones(n, dtype=np.bool_)
    n_eligible_c = 0
    for u in range(n):
        if not treat[u]:
            n_eligible_c += 1
    best_j = np.empty(ratio, dtype=np.int64)
    best_d = np.empty(ratio, dtype=np.float64)
    rounds = 1 if replace else ratio
    want = ratio if replace else 1
    t_ok = np.ones(t_rows.shape[0], dtype=np.bool_)
    for r in range(rounds):
        for oi in range(order.shape[0]):
            if n_eligible_c == 0:
                return
            i = order[oi]
            if not t_ok[i]:
                continue
            t = t_rows[i]
            ii = pos[t]
            iil = ii
            iir = ii
            l_stop = False
            r_stop = False
            left = False
            nb = 0
            while not l_stop or not r_stop:
                if l_stop:
                    left = False
                elif r_stop:
                    left = True
                else:
                    left = not left
                if left:
                    if iil <= 0:
                        l_stop = True
                        continue
                    iil -= 1
                    iz = perm[iil]
                else:
                    if iir >= n - 1:
                        r_stop = True
                        continue
                    iir += 1
                    iz = perm[iir]
                if treat[iz] or not eligible[iz]:
                    continue
                if r > 0:
                    used = False
                    for rr in range(r):
                        if out[i, rr] == iz:
                            used = True
                    if used:
                        continue
                mvd = mv[t] - mv[iz]
                mvd = mvd * mvd
                if nb == want and best_d[nb - 1] < mvd:
                    if left:
                        l_stop = True
                    else:
                        r_stop = True
                    continue
                if stratum[iz] != stratum[t]:
                    continue
                dc = 0.0
                for k in range(q):
                    diff = z[t, k] - z[iz, k]
                    dc += diff * diff
                if nb == 0:
                    best_j[0] = iz
                    best_d[0] = dc
                    nb = 1
                elif dc > best_d[nb - 1]:
                    if nb == want:
                        continue
                    best_j[nb] = iz
                    best_d[nb] = dc
                    nb += 1
                elif want == 1:
                    best_j[0] = iz
                    best_d[0] = dc
                else:
                    if nb == want:
                        nb -= 1
                    if dc > best_d[nb - 1]:
                        best_j[nb] = iz
                        best_d[nb] = dc
                        nb += 1
                    else:
                        at = 0
                        while at < nb and best_d[at] < dc:
                            at += 1
                        for m in range(nb, at, -1):
                            best_j[m] = best_j[m - 1]
                            best_d[m] = best_d[m - 1]
                        best_j[at] = iz
                        best_d[at] = dc
                        nb += 1
            if nb == 0:
                t_ok[i] = False
                continue
            for m in range(nb):
                out[i, r + m] = best_j[m]
                if not replace:
                    eligible[best_j[m]] = False
                    n_eligible_c -= 1


def mahalanobis_nearest(
    z: FloatArray,
    scan: FloatArray,
    treat: BoolArray,
    stratum: IntArray,
    key: IntArray,
    *,
    order: IntArray,
    ratio: int = 1,
    replace: bool = False,
) -> IntArray:
    """Greedy nearest-neighbour matching on Euclidean distance of transformed covariates ``z``.

    ``z`` should already be Mahalanobis-transformed and ``scan`` be one linear projection of
    it (MatchIt uses its first transformed column): controls are searched outwards from the
    treated unit's position in the (scan, key) order, alternating left and right, and a
    search side stops once the scan-coordinate gap alone exceeds the best distance found.
    Among equally distant controls the one found last in that search wins, as in MatchIt.
    Returns control row indices like :func:`nearest_scalar`.
    """
    t_rows = np.flatnonzero(treat)
    n = treat.shape[0]
    perm = np.lexsort((key, scan))
    pos = np.empty(n, dtype=np.int64)
    pos[perm] = np.arange(n)
    out = np.full((t_rows.size, ratio), -1, dtype=np.int64)
    if t_rows.size and t_rows.size < n:
        _mahalanobis_kernel(
            np.ascontiguousarray(z, dtype=np.float64),
            np.ascontiguousarray(scan, dtype=np.float64),
            treat,
            stratum.astype(np.int64),
            perm.astype(np.int64),
            pos,
            t_rows.astype(np.int64),
            order.astype(np.int64),
            ratio,
            replace,
            out,
        )
    return out


def weights_from_match_matrix(mm: IntArray, treat: BoolArray) -> FloatArray:
    """MatchIt's weights from a match matrix (ATT).

    A matched treated unit gets 1; each control gets the sum over the treated units it was
    matched to of 1 / (number of matches of that treated unit); control weights are then scaled
    to sum to the number of matched controls.

    >>> import numpy as np
    >>> t = np.array([1, 1, 0, 0], bool)
    >>> weights_from_match_matrix(np.array([[2, 3], [2, -1]]), t).tolist()
    [1.0, 1.0, 1.5, 0.5]
    """
    n = treat.shape[0]
    w = np.zeros(n, dtype=np.float64)
    t_rows = np.flatnonzero(treat)
    valid = mm >= 0
    k = valid.sum(axis=1)
    matched = k > 0
    w[t_rows[matched]] = 1.0
    share = np.where(matched, 1.0 / np.maximum(k, 1), 0.0)
    contrib = np.broadcast_to(share[:, None], mm.shape)[valid]
    cw = np.bincount(mm[valid], weights=contrib, minlength=n)
    ctrl = ~treat
    w[ctrl] = cw[ctrl]
    total = w[ctrl].sum()
    if total > 0:
        w[ctrl] *= np.count_nonzero(w[ctrl]) / total
    return w


def weights_from_subclass(subclass: IntArray, treat: BoolArray) -> FloatArray:
    """MatchIt's ATT weights from subclasses (exact, CEM): treated 1, controls n_t/n_c scaled.

    ``subclass`` holds labels >= 0 (or 1-based) for matched units and -1 for unmatched ones.
    Control weights are scaled to sum to the number of matched controls.

    >>> import numpy as np
    >>> t = np.array([1, 0, 0, 0, 1, 0], bool)
    >>> weights_from_subclass(np.array([1, 1, 1, -1, 2, 2]), t).tolist()
    [1.0, 0.75, 0.75, 0.0, 1.0, 1.5]
    """
    n = treat.shape[0]
    w = np.zeros(n, dtype=np.float64)
    m = subclass >= 0
    if not m.any():
        return w
    labels = subclass[m]
    size = int(labels.max()) + 1
    nt = np.bincount(labels, weights=treat[m].astype(np.float64), minlength=size)
    nc = np.bincount(labels, weights=(~treat[m]).astype(np.float64), minlength=size)
    wm = np.where(treat[m], 1.0, nt[labels] / np.maximum(nc[labels], 1.0))
    w[m] = wm
    ctrl = ~treat
    total = w[ctrl].sum()
    if total > 0:
        w[ctrl] *= np.count_nonzero(w[ctrl]) / total
    return w
