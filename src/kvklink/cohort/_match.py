"""`match()` and :class:`Matcher`: the frame adapter around the numpy matching core.

The options mean what they mean in R's MatchIt (``matchit()``), for the ATT:

``method``
    ``"nearest"`` (greedy nearest neighbour), ``"cem"`` (coarsened exact matching) or
    ``"exact"``.
``distance``
    ``"glm"`` (propensity score from an unpenalised logistic regression, probability scale),
    ``"logit"`` (its linear predictor; MatchIt's ``link = "linear.logit"``), ``"mahalanobis"``
    (Mahalanobis distance with MatchIt's pooled within-group covariance of the standardised
    covariates), or the name of a numeric column holding a score to match on.
``exact``
    Columns to match exactly: nearest-neighbour matching runs inside each stratum.
``ratio``, ``replace``
    1:``ratio`` matching with or without replacement. With ``ratio = k`` there are k rounds;
    round r gives every treated unit its r-th match.
``caliper``
    In standard deviations of the distance over all units (MatchIt's ``std.caliper = TRUE``).
    A treated unit without a control within the caliper stays unmatched.
``order``
    The order in which treated units pick controls (MatchIt's ``m.order``): ``"largest"``
    distance first (default for a score), ``"smallest"``, ``"random"`` (seeded by
    ``random_state``) or ``"data"`` (row order; default for Mahalanobis, which has no score).

Ties and row order
------------------
Greedy matching needs a tie-break when two units have the same distance (common: firms with
identical covariates have identical propensity scores). MatchIt breaks ties by row order, so
shuffling the rows changes which of two identical controls is used. kvklink breaks ties by a
key that does not depend on row order: by default a hash of the whole row (all columns of
``data``), so only rows that are identical in every column can swap, which changes nothing.
Pass ``tie_breaker="<column>"`` to break ties by a unique column instead (e.g. a pseudonym) —
or by a row-number column to reproduce MatchIt exactly. With ``order="data"`` the treated
units are visited in row order, so the result then depends on row order by design.

Examples
--------
>>> import numpy as np, polars as pl
>>> import kvklink
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=200)
>>> frame = pl.DataFrame({"x": x, "t": (rng.random(200) < 1 / (1 + np.exp(1 - x))).astype(int)})
>>> m = kvklink.match(frame, treatment="t", covariates=["x"])
>>> m.counts_["n_treated_matched"] == m.counts_["n_treated_all"]
True
>>> m.matched_data().columns[-3:]
['distance', 'weights', 'subclass']
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.linalg.lapack import dpstrf

from kvklink.cohort._cem import Cutpoints, cem_strata, exact_subclass
from kvklink.cohort._core import (
    mahalanobis_nearest,
    nearest_scalar,
    stable_argsort,
    weights_from_match_matrix,
    weights_from_subclass,
)
from kvklink.cohort._design import Design, build_design, check_missing, stratum_codes
from kvklink.cohort._propensity import LogisticFit, fit_logistic
from kvklink.errors import MatchingError, SchemaError
from kvklink.frames import FrameKind, like_input, require_columns, to_polars

__all__ = ["MatchMethod", "MatchOrder", "MatchResult", "Matcher", "match"]

MatchMethod: TypeAlias = Literal["nearest", "cem", "exact"]
MatchOrder: TypeAlias = Literal["largest", "smallest", "random", "data"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_METHODS = ("nearest", "cem", "exact")
_ORDERS = ("largest", "smallest", "random", "data")


def _bad(owner: str, name: str, expected: str, got: Any) -> MatchingError:
    msg = f"The {name!r} parameter of {owner} must be {expected}. Got {got!r} instead."
    return MatchingError(msg)


@dataclass(frozen=True)
class _Settings:
    treatment: str
    covariates: tuple[str, ...]
    method: MatchMethod
    distance: str | None
    exact: tuple[str, ...]
    ratio: int
    replace: bool
    caliper: float | None
    order: MatchOrder | None
    cutpoints: Mapping[str, Any] | None
    random_state: int | np.random.Generator | None
    tie_breaker: str | None


def _validate(owner: str, s: dict[str, Any]) -> _Settings:
    treatment = s["treatment"]
    if not isinstance(treatment, str) or not treatment:
        raise _bad(owner, "treatment", "a column name (str)", treatment)
    covs = s["covariates"]
    if isinstance(covs, str) or not isinstance(covs, Sequence):
        raise _bad(owner, "covariates", "a list of column names", covs)
    covariates = tuple(covs)
    if not covariates or not all(isinstance(c, str) for c in covariates):
        raise _bad(owner, "covariates", "a non-empty list of column names", covs)
    if len(set(covariates)) != len(covariates):
        raise _bad(owner, "covariates", "a list without duplicates", covs)
    if treatment in covariates:
        raise _bad(owner, "covariates", f"a list without the treatment column {treatment!r}", covs)
    method = s["method"]
    if method not in _METHODS:
        raise _bad(owner, "method", "one of 'nearest', 'cem', 'exact'", method)
    distance = s["distance"]
    if method == "nearest":
        if not isinstance(distance, str) or not distance:
            raise _bad(
                owner, "distance", "'glm', 'logit', 'mahalanobis' or a column name", distance
            )
    else:
        distance = None
    ex = s["exact"]
    if ex is None:
        exact: tuple[str, ...] = ()
    elif isinstance(ex, str):
        exact = (ex,)
    elif isinstance(ex, Sequence) and all(isinstance(c, str) for c in ex):
        exact = tuple(ex)
    else:
        raise _bad(owner, "exact", "None, a column name or a list of column names", ex)
    if exact and method != "nearest":
        raise _bad(owner, "exact", "None unless method='nearest'", ex)
    ratio = s["ratio"]
    if isinstance(ratio, bool) or not isinstance(ratio, numbers.Integral) or int(ratio) < 1:
        raise _bad(owner, "ratio", "an int >= 1", ratio)
    replace = s["replace"]
    if not isinstance(replace, bool | np.bool_):
        raise _bad(owner, "replace", "a bool", replace)
    caliper = s["caliper"]
    if caliper is not None:
        if (
            isinstance(caliper, bool)
            or not isinstance(caliper, numbers.Real)
            or not math.isfinite(float(caliper))
            or caliper <= 0
        ):
            raise _bad(owner, "caliper", "a float > 0", caliper)
        caliper = float(caliper)
        if method == "nearest" and distance == "mahalanobis":
            raise _bad(owner, "caliper", "None with distance='mahalanobis' (no score)", caliper)
    order = s["order"]
    if order is not None and order not in _ORDERS:
        raise _bad(owner, "order", "one of 'largest', 'smallest', 'random', 'data'", order)
    if distance == "mahalanobis" and order in ("largest", "smallest"):
        raise _bad(owner, "order", "'random' or 'data' with distance='mahalanobis'", order)
    cutpoints = s["cutpoints"]
    if cutpoints is not None:
        if not isinstance(cutpoints, Mapping):
            raise _bad(owner, "cutpoints", "None or a dict column -> bins/cut points", cutpoints)
        if method != "cem":
            raise _bad(owner, "cutpoints", "None unless method='cem'", "a dict")
    rs = s["random_state"]
    if rs is not None and not (
        isinstance(rs, np.random.Generator)
        or (isinstance(rs, numbers.Integral) and not isinstance(rs, bool) and int(rs) >= 0)
    ):
        raise _bad(owner, "random_state", "None, an int >= 0 or a numpy Generator", rs)
    if rs is not None and not isinstance(rs, np.random.Generator):
        rs = int(rs)
    tb = s["tie_breaker"]
    if tb is not None and (not isinstance(tb, str) or not tb):
        raise _bad(owner, "tie_breaker", "None or a column name", tb)
    return _Settings(
        treatment=treatment,
        covariates=covariates,
        method=method,
        distance=distance,
        exact=exact,
        ratio=int(ratio),
        replace=bool(replace),
        caliper=caliper,
        order=order,
        cutpoints=cutpoints,
        random_state=rs,
        tie_breaker=tb,
    )


@dataclass(eq=False)
class MatchResult:
    """The outcome of :func:`match`: weights, matched sets and the design used.

    Every array is aligned with the rows of the input frame. Learned state carries a trailing
    underscore; nothing is recomputed when read.

    Attributes
    ----------
    weights_
        Matching weight per row (MatchIt's ATT weights; 0 = not matched).
    subclass_
        Matched set / stratum label per row, 1, 2, … as MatchIt numbers them; -1 = none
        (unmatched rows, and every row when matching with replacement).
    distance_
        The distance score per row (probability for ``"glm"``, linear predictor for
        ``"logit"``, the user column), or None (Mahalanobis, cem, exact).
    treated_
        True for treated rows.
    match_matrix_
        (n_treated × ratio) control row indices per treated unit (treated in row order),
        -1 = no match. Zero columns for cem and exact matching.
    discarded_
        Rows discarded before matching (always False: no ``discard`` option yet).
    covariate_matrix_, covariate_names_, binary_
        The balance design (numeric columns as they are, every level of a categorical column),
        its column names (R style, e.g. ``raceblack``) and whether each column is binary.
    counts_
        Sample sizes: ``n_treated_all``, ``n_control_all``, ``n_treated_matched``,
        ``n_control_matched``, ``n_treated_unmatched``, ``n_control_unmatched``,
        ``n_treated_discarded``, ``n_control_discarded``, ``n_treated_no_control_in_stratum``
        (treated units whose exact stratum holds no control at all), ``n_subclasses``.
    propensity_
        The fitted logistic model for ``"glm"``/``"logit"`` distances, else None.
    caliper_raw_
        The caliper in distance units (caliper × SD of the distance), or None.
    """

    settings: dict[str, Any]
    weights_: FloatArray
    subclass_: IntArray
    distance_: FloatArray | None
    treated_: BoolArray
    match_matrix_: IntArray
    discarded_: BoolArray
    covariate_names_: list[str]
    binary_: BoolArray
    counts_: dict[str, int]
    propensity_: LogisticFit | None = None
    caliper_raw_: float | None = None
    _frame: pl.DataFrame | None = field(default=None, repr=False)
    _kind: FrameKind = field(default="polars", repr=False)
    _design: Design | None = field(default=None, repr=False)

    @functools.cached_property
    def covariate_matrix_(self) -> FloatArray:
        """The dense balance design (n × p), built on first access."""
        if self._design is None:  # pragma: no cover - always set by match()
            msg = "This MatchResult holds no design. Hint: create it with kvklink.match()."
            raise MatchingError(msg)
        return self._design.balance_matrix()

    # -- presentation -----------------------------------------------------------------------
    def __repr__(self) -> str:
        s = self.settings
        c = self.counts_
        head = f"MatchResult(method={s['method']!r}"
        if s["method"] == "nearest":
            head += (
                f", distance={s['distance']!r}, ratio={s['ratio']}, replace={s['replace']}"
                f", caliper={s['caliper']!r}, order={s['order']!r}"
            )
            if s["exact"]:
                head += f", exact={list(s['exact'])!r}"
        head += ")"
        lines = [
            head,
            f"  treated: {c['n_treated_all']} total, {c['n_treated_matched']} matched, "
            f"{c['n_treated_unmatched']} unmatched",
            f"  control: {c['n_control_all']} total, {c['n_control_matched']} matched, "
            f"{c['n_control_unmatched']} unmatched",
        ]
        if c["n_treated_no_control_in_stratum"]:
            lines.append(
                f"  {c['n_treated_no_control_in_stratum']} treated unit(s) had no control "
                "in their exact stratum"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        return "<pre>" + escape(repr(self)) + "</pre>"

    # -- downstream ---------------------------------------------------------------------------
    def matched_data(self) -> Any:
        """The matched rows of the input frame plus ``distance``, ``weights`` and ``subclass``.

        Like MatchIt's ``match_data()``: rows with a positive weight, in input order, in the
        caller's frame kind; ``subclass`` is null when there is none (with replacement).
        """
        if self._frame is None:  # pragma: no cover - always set by match()
            msg = "This MatchResult holds no frame. Hint: create it with kvklink.match()."
            raise MatchingError(msg)
        keep = self.weights_ > 0
        extra: list[pl.Series] = []
        if self.distance_ is not None:
            extra.append(pl.Series("distance", self.distance_))
        extra.append(pl.Series("weights", self.weights_))
        sub = pl.Series("subclass", self.subclass_)
        extra.append(sub.set(sub < 0, None))
        frame = self._frame.drop([e.name for e in extra], strict=False)
        out = frame.with_columns(extra).filter(pl.Series(keep))
        return like_input(out, self._kind)

    def balance(self, **kwargs: Any) -> Any:
        """Balance table before and after matching (:func:`~kvklink.cohort._balance.balance_table`).

        The distance, when there is one, is the first row, as in MatchIt's ``summary()``; the
        matched sets give the standardised pair distance. Keyword arguments are passed on.
        """
        from kvklink.cohort._balance import balance_table

        if self.distance_ is not None:
            kwargs.setdefault("distance", self.distance_)
        kwargs.setdefault("subclass", self.subclass_ if (self.subclass_ >= 0).any() else None)
        kwargs.setdefault(
            "match_matrix", self.match_matrix_ if self.match_matrix_.shape[1] else None
        )
        kwargs.setdefault("discarded", self.discarded_)
        return balance_table(
            self.covariate_matrix_,
            list(self.covariate_names_),
            self.treated_.astype(np.int64),
            self.weights_,
            binary=self.binary_,
            **kwargs,
        )

    def summary(self, **kwargs: Any) -> Any:
        """A summary like MatchIt's ``summary()``: sample sizes and balance before and after."""
        from kvklink.cohort._summary import summarise_match

        return summarise_match(self, **kwargs)

    def effect(self, outcome: str, **kwargs: Any) -> Any:
        """ATT of ``outcome`` with the matching weights and MatchIt's standard errors.

        Calls :func:`kvklink.cohort._effects.att_from_match` with the outcome column of the
        matched frame (all input rows); keyword arguments are passed on.
        """
        from kvklink.cohort._effects import att_from_match

        if self._frame is None:  # pragma: no cover - always set by match()
            msg = "This MatchResult holds no frame. Hint: create it with kvklink.match()."
            raise MatchingError(msg)
        require_columns(self._frame, [outcome], argument="data")
        check_missing(self._frame, [outcome], argument="outcome")
        y = self._frame.get_column(outcome).cast(pl.Float64).to_numpy()
        return att_from_match(self, y, **kwargs)

    def plot_balance(self, **kwargs: Any) -> Any:
        """Love plot of |SMD| before and after matching (a matplotlib Figure)."""
        return self.balance().plot(**kwargs)


class Matcher:
    """Matching estimator: stores settings; :meth:`fit` validates them and matches a frame.

    Parameters are those of :func:`match` (except ``data``). ``fit`` returns a
    :class:`MatchResult`.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame({"t": [1, 0, 0, 1, 0], "x": [0.1, 0.2, 0.5, 0.9, 0.8]})
    >>> res = Matcher(treatment="t", covariates=["x"], distance="x").fit(frame)
    >>> res.match_matrix_.tolist()
    [[1], [4]]
    """

    def __init__(
        self,
        *,
        treatment: str,
        covariates: Sequence[str],
        method: MatchMethod = "nearest",
        distance: str = "glm",
        exact: Sequence[str] | str | None = None,
        ratio: int = 1,
        replace: bool = False,
        caliper: float | None = None,
        order: MatchOrder | None = None,
        cutpoints: Cutpoints | None = None,
        random_state: int | np.random.Generator | None = None,
        tie_breaker: str | None = None,
    ) -> None:
        self.treatment = treatment
        self.covariates = covariates
        self.method = method
        self.distance = distance
        self.exact = exact
        self.ratio = ratio
        self.replace = replace
        self.caliper = caliper
        self.order = order
        self.cutpoints = cutpoints
        self.random_state = random_state
        self.tie_breaker = tie_breaker

    def get_params(self) -> dict[str, Any]:
        """The settings, as stored."""
        return {
            k: getattr(self, k)
            for k in inspect.signature(Matcher.__init__).parameters
            if k != "self"
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"Matcher({args})"

    def fit(self, data: Any) -> MatchResult:
        """Match the rows of ``data`` (pandas or polars) and return a :class:`MatchResult`."""
        return _fit(data, self.get_params(), owner="Matcher")


def match(
    data: Any,
    *,
    treatment: str,
    covariates: Sequence[str],
    method: MatchMethod = "nearest",
    distance: str = "glm",
    exact: Sequence[str] | str | None = None,
    ratio: int = 1,
    replace: bool = False,
    caliper: float | None = None,
    order: MatchOrder | None = None,
    cutpoints: Cutpoints | None = None,
    random_state: int | np.random.Generator | None = None,
    tie_breaker: str | None = None,
) -> MatchResult:
    """Match treated and control units like R's ``MatchIt::matchit()`` (ATT).

    Parameters
    ----------
    data
        pandas or polars frame, one row per unit.
    treatment
        0/1 (or boolean) treatment column.
    covariates
        Columns to balance; numeric, boolean, string or categorical. For ``"glm"`` they form
        the propensity model (categoricals dummy-coded, first level dropped); for
        ``"mahalanobis"``, ``"cem"`` and ``"exact"`` they are the matching variables.
    method, distance, exact, ratio, replace, caliper, order
        See the module documentation (``kvklink.cohort._match``); they mean what they mean in
        MatchIt. ``order=None`` means ``"largest"`` for a score and ``"data"`` for Mahalanobis.
    cutpoints
        For ``method="cem"``: per numeric covariate ``"sturges"`` (default), a number of
        equal-width bins, 0 for no coarsening, or a list of cut points.
    random_state
        Seed or Generator for ``order="random"``.
    tie_breaker
        Column used to break ties in distance (unique values recommended). Default: a hash
        of the whole row, so results do not depend on row order.

    Returns
    -------
    MatchResult

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame({"t": [1, 1, 0, 0, 0], "g": ["a", "b", "a", "b", "b"],
    ...                       "x": [1.0, 2.0, 1.1, 2.5, 1.9]})
    >>> res = match(frame, treatment="t", covariates=["x"], distance="x", exact=["g"])
    >>> res.match_matrix_.tolist(), res.weights_.tolist()
    ([[2], [4]], [1.0, 1.0, 1.0, 0.0, 1.0])
    """
    params = {
        "treatment": treatment,
        "covariates": covariates,
        "method": method,
        "distance": distance,
        "exact": exact,
        "ratio": ratio,
        "replace": replace,
        "caliper": caliper,
        "order": order,
        "cutpoints": cutpoints,
        "random_state": random_state,
        "tie_breaker": tie_breaker,
    }
    return _fit(data, params, owner="match")


# --------------------------------------------------------------------------------------------
def _treatment_vector(frame: pl.DataFrame, column: str) -> BoolArray:
    s = frame.get_column(column)
    nulls = s.null_count()
    if s.dtype.is_float():
        nulls += int(s.is_nan().sum())
    if nulls:
        msg = (
            f"The treatment column {column!r} has {nulls} missing value(s). "
            "Hint: drop those rows or code them 0/1."
        )
        raise SchemaError(msg)
    if s.dtype == pl.Boolean:
        return np.asarray(s.to_numpy(), dtype=np.bool_)
    if not s.dtype.is_numeric():
        msg = (
            f"The treatment column {column!r} must be 0/1 or boolean, got dtype {s.dtype}. "
            "Hint: code treated as 1 and controls as 0."
        )
        raise SchemaError(msg)
    v = s.cast(pl.Float64).to_numpy()
    bad = int(np.count_nonzero((v != 0) & (v != 1)))
    if bad:
        msg = (
            f"The treatment column {column!r} has {bad} value(s) other than 0 and 1. "
            "Hint: code treated as 1 and controls as 0."
        )
        raise SchemaError(msg)
    return np.asarray(v == 1, dtype=np.bool_)


def _tie_key(frame: pl.DataFrame, column: str | None) -> IntArray:
    """Rank 0..n-1 per row used to break distance ties, independent of row order."""
    n = frame.height
    idx = np.arange(n)
    if column is None:
        h = frame.hash_rows(seed=0).to_numpy()
        perm = stable_argsort(h)
    else:
        check_missing(frame, [column], argument="tie_breaker")
        ranks = frame.get_column(column).rank("ordinal").to_numpy()
        return (ranks.astype(np.int64) - 1).astype(np.int64)
    key = np.empty(n, dtype=np.int64)
    key[perm] = idx
    return key


def _mahalanobis_transform(x: FloatArray, treat: BoolArray) -> tuple[FloatArray, FloatArray]:
    """MatchIt's Mahalanobis transform of ``x``.

    Columns without variance are dropped, the rest standardised; the covariance is the pooled
    within-group covariance; its inverse (a generalised inverse when nearly singular) gives
    ``z`` such that Euclidean distances in ``z`` are Mahalanobis distances. Also returns
    MatchIt's search coordinate: the first column of the pivoted-Cholesky transform.
    """
    keep = np.ptp(x, axis=0) >= math.sqrt(np.finfo(np.float64).eps)
    x = x[:, keep]
    if x.shape[1] == 0:
        zero = np.zeros((x.shape[0], 1))
        return zero, zero[:, 0].copy()
    xs = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)
    centred = xs.copy()
    for g in (treat, ~treat):
        if g.any():
            centred[g] -= centred[g].mean(axis=0)
    n = xs.shape[0]
    cov = (centred.T @ centred) / (n - 2)
    inv: FloatArray | None = None
    if np.linalg.det(cov) > 1e-8:
        try:
            inv = np.linalg.inv(cov)
        except np.linalg.LinAlgError:  # pragma: no cover - det check guards this
            inv = None
    if inv is None:
        u, d, vt = np.linalg.svd(cov)
        pos = d > max(1e-8 * d[0], 0.0)
        inv = (vt[pos].T / d[pos]) @ u[:, pos].T
    # Pivoted Cholesky factor (LAPACK dpstrf, as R's chol(pivot = TRUE)): inv = R'R, z = x R'.
    fac, piv, rank, _info = dpstrf(inv, lower=0)
    fac = np.triu(fac)
    if rank < fac.shape[0]:  # rank-deficient: drop the undefined trailing block
        fac[rank:, rank:] = 0.0
    back = np.argsort(piv - 1)
    z = np.ascontiguousarray(xs @ fac[:, back].T)
    return z, np.ascontiguousarray(z[:, 0])


def _exact_strata(frame: pl.DataFrame, exact: Sequence[str], design: Design) -> IntArray:
    """Stratum code per row for the ``exact`` columns; row-order free.

    Categorical covariates already have codes (ranks of their sorted levels); they are combined
    arithmetically. Other columns go through :func:`stratum_codes`.
    """
    if not exact:
        return np.zeros(frame.height, dtype=np.int64)
    factors = {f.name: f for f in design.factors}
    cols = list(dict.fromkeys(exact))
    if all(c in factors for c in cols):
        sizes = [len(factors[c].levels) for c in cols]
        if math.prod(sizes) < 2**62:
            code = np.zeros(frame.height, dtype=np.int64)
            for c, size in zip(cols, sizes, strict=True):
                code = code * size + factors[c].codes
            return code
    return stratum_codes(frame, cols)


def _treated_order(
    order: MatchOrder,
    score: FloatArray | None,
    key_t: IntArray,
    rng_seed: int | np.random.Generator | None,
) -> IntArray:
    n_t = key_t.size
    if order == "data":
        return np.arange(n_t, dtype=np.int64)
    if order == "random":
        rng = np.random.default_rng(rng_seed)
        by_key = np.argsort(key_t, kind="stable")
        return by_key[rng.permutation(n_t)].astype(np.int64)
    assert score is not None
    if order == "largest":
        return np.lexsort((key_t, -score)).astype(np.int64)
    return np.lexsort((key_t, score)).astype(np.int64)


def _fit(data: Any, params: dict[str, Any], *, owner: str) -> MatchResult:
    st = _validate(owner, params)
    frame, kind = to_polars(data, argument="data")
    if frame.height == 0:
        msg = "The 'data' frame has no rows. Hint: pass the treated and control units."
        raise SchemaError(msg)
    user_distance = st.method == "nearest" and st.distance not in ("glm", "logit", "mahalanobis")
    needed = [st.treatment, *st.covariates, *st.exact]
    if user_distance:
        needed.append(str(st.distance))
    if st.tie_breaker is not None:
        needed.append(st.tie_breaker)
    require_columns(frame, dict.fromkeys(needed), argument="data")
    treat = _treatment_vector(frame, st.treatment)
    n_t = int(treat.sum())
    n_c = int((~treat).sum())
    if n_t == 0:
        msg = (
            f"The treatment column {st.treatment!r} has no treated units (all {n_c} rows are "
            "0). Hint: check the cohort definition or the treatment coding."
        )
        raise MatchingError(msg)
    if n_c == 0:
        msg = (
            f"The treatment column {st.treatment!r} has no control units (all {n_t} rows are "
            "1). Hint: add a control pool."
        )
        raise MatchingError(msg)
    check_missing(frame, [*st.covariates, *st.exact], argument="covariates")
    design = build_design(frame, st.covariates)
    n = frame.height

    distance: FloatArray | None = None
    propensity: LogisticFit | None = None
    caliper_raw: float | None = None
    mm = np.empty((n_t, 0), dtype=np.int64)
    n_no_stratum = 0
    order_used: MatchOrder | None = st.order

    if st.method == "nearest":
        if st.distance in ("glm", "logit"):
            propensity = fit_logistic(design, treat)
            distance = propensity.fitted if st.distance == "glm" else propensity.linear
        elif user_distance:
            col = str(st.distance)
            check_missing(frame, [col], argument="distance")
            s = frame.get_column(col)
            if not s.dtype.is_numeric():
                msg = (
                    f"The distance column {col!r} must be numeric, got dtype {s.dtype}. "
                    "Hint: pass a precomputed score column, or 'glm'/'logit'/'mahalanobis'."
                )
                raise SchemaError(msg)
            distance = s.cast(pl.Float64).to_numpy().astype(np.float64)
        if order_used is None:
            order_used = "data" if distance is None else "largest"
        key = _tie_key(frame, st.tie_breaker)
        stratum = _exact_strata(frame, st.exact, design)
        t_rows = np.flatnonzero(treat)
        score_t = None if distance is None else distance[t_rows]
        order_idx = _treated_order(order_used, score_t, key[t_rows], st.random_state)
        if st.exact:
            has_ctrl = np.isin(stratum[t_rows], np.unique(stratum[~treat]))
            n_no_stratum = int(np.count_nonzero(~has_ctrl))
        if distance is None:
            z, scan = _mahalanobis_transform(design.balance_matrix(), treat)
            mm = mahalanobis_nearest(
                z, scan, treat, stratum, key, order=order_idx, ratio=st.ratio, replace=st.replace
            )
        else:
            if st.caliper is not None:
                caliper_raw = st.caliper * float(np.std(distance, ddof=1))
            mm = nearest_scalar(
                distance,
                treat,
                stratum,
                key,
                order=order_idx,
                ratio=st.ratio,
                replace=st.replace,
                caliper=caliper_raw,
            )
        weights = weights_from_match_matrix(mm, treat)
        subclass = np.full(n, -1, dtype=np.int64)
        if not st.replace:
            matched_t = (mm >= 0).any(axis=1)
            labels = np.cumsum(matched_t)
            subclass[t_rows[matched_t]] = labels[matched_t]
            rows = np.broadcast_to(labels[:, None], mm.shape)
            valid = mm >= 0
            subclass[mm[valid]] = rows[valid]
        n_sub = int(subclass.max()) if (subclass >= 0).any() else 0
    else:
        codes = cem_strata(frame, st.covariates, cutpoints=st.cutpoints, coarsen=st.method == "cem")
        subclass = exact_subclass(codes, treat)
        if not (subclass >= 0).any():
            msg = (
                f"No stratum of the {len(st.covariates)} covariate(s) holds both treated and "
                f"control units, so {st.method} matching matched nothing. Hint: coarsen the "
                "covariates further or match on fewer of them."
            )
            raise MatchingError(msg)
        weights = weights_from_subclass(subclass, treat)
        n_sub = int(subclass.max())

    matched = weights > 0
    counts = {
        "n_treated_all": n_t,
        "n_control_all": n_c,
        "n_treated_matched": int(np.count_nonzero(matched & treat)),
        "n_control_matched": int(np.count_nonzero(matched & ~treat)),
        "n_treated_unmatched": int(np.count_nonzero(~matched & treat)),
        "n_control_unmatched": int(np.count_nonzero(~matched & ~treat)),
        "n_treated_discarded": 0,
        "n_control_discarded": 0,
        "n_treated_no_control_in_stratum": n_no_stratum,
        "n_subclasses": n_sub,
    }
    settings = {
        "method": st.method,
        "distance": st.distance,
        "exact": list(st.exact),
        "ratio": st.ratio,
        "replace": st.replace,
        "caliper": st.caliper,
        "order": order_used,
        "cutpoints": dict(st.cutpoints) if st.cutpoints is not None else None,
        "random_state": st.random_state,
        "tie_breaker": st.tie_breaker,
        "treatment": st.treatment,
        "covariates": list(st.covariates),
        "estimand": "ATT",
    }
    return MatchResult(
        settings=settings,
        weights_=weights,
        subclass_=subclass,
        distance_=distance,
        treated_=treat,
        match_matrix_=mm,
        discarded_=np.zeros(n, dtype=np.bool_),
        covariate_names_=design.balance_names,
        binary_=design.binary,
        counts_=counts,
        propensity_=propensity,
        caliper_raw_=caliper_raw,
        _frame=frame,
        _kind=kind,
        _design=design,
    )
