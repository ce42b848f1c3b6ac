"""Fuzzy recovery of missing KVK numbers from company name and address.

Runs at the data holder, in the clear, against the public Handelsregister, *before*
pseudonymisation (see the privacy model): only the recovered KVK number is pseudonymised later.

The pipeline is standardise → block (several passes) → compare (rapidfuzz, vectorised) →
Fellegi–Sunter with m/u estimated by EM → one candidate per query (best KVK number, with a
margin test against the second best) → status ``accepted`` / ``review`` / ``rejected``.

Results do not depend on the row order of either input (both are put in a canonical order
before anything random happens) and are reproducible from ``seed`` (which only drives the
random pairs used to initialise the u-probabilities).

Examples
--------
>>> import polars as pl
>>> import kvklink as kl
>>> register = pl.DataFrame({
...     "kvk_nummer": ["01234567", "76543210", "11223344"],
...     "trade_name": ["Bakkerij Jansen B.V.", "Fietsenmaker De Vries", "Jansen Bouw"],
...     "street": ["Dorpsstraat", "Kerkweg", "Dorpsstraat"],
...     "house_number": ["12A", "3", "14"],
...     "postcode": ["1234 AB", "9876 ZX", "1234 AB"],
...     "city": ["Utrecht", "Assen", "Utrecht"],
... })
>>> queries = pl.DataFrame({
...     "company_name": ["bakkerij jansen", "Fietsenmakr de Vries vof"],
...     "street": ["Dorpsstr.", "Kerkweg"], "house_number": ["12 a", "3"],
...     "postcode": ["1234ab", "9876ZX"], "city": ["utrecht", None],
... })
>>> res = kl.recover_kvk(queries, register, thresholds=(0.9, 0.5))
>>> res.frame["kvk_nummer"].to_list()
['01234567', '76543210']
>>> res.frame["status"].to_list()
['accepted', 'accepted']
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from kvklink.errors import ConfigError, InputError, SchemaError
from kvklink.frames import FrameKind, like_input, require_columns, to_polars
from kvklink.linkage._blocking import BlockingPass, BlockingStats, candidate_pairs, key_fields
from kvklink.linkage._compare import FieldComparison, pair_levels, value_dictionary
from kvklink.linkage._fellegi_sunter import (
    FellegiSunterModel,
    fit_fellegi_sunter,
    level_frequencies,
)
from kvklink.linkage._standardise import (
    _company_base,
    _form_from_base,
    _name_from_base,
    clean_expr,
)

__all__ = [
    "RECOVERY_STATUSES",
    "PreparedReference",
    "RecoveryResult",
    "RecoverySpec",
    "company_spec",
    "person_spec",
    "prepare_reference",
    "recover_kvk",
]

logger = logging.getLogger(__name__)

#: Status of every query after recovery (and after clerical review).
RECOVERY_STATUSES: tuple[str, ...] = ("accepted", "review", "rejected")

#: Default (accept, review) thresholds on the posterior match probability.
DEFAULT_THRESHOLDS: tuple[float, float] = (0.75, 0.15)


@dataclass(frozen=True)
class RecoverySpec:
    """What to compare, how, and which blocking passes find candidates.

    Parameters
    ----------
    fields
        Field comparisons (see :class:`~kvklink.linkage.FieldComparison`).
    blocking
        Blocking passes over the standardised field names.
    target
        Column of the reference frame whose value is recovered (``kvk_nummer``).
    query_id
        Optional id column of the query frame carried into the result (e.g.
        ``interaction_id``); the result always has ``query_row`` (0-based input position).
    u_init
        Where EM's starting u-probabilities come from: ``"random"``: level frequencies over
        ``random_pairs`` random query × reference pairs drawn with ``seed``;
        ``"candidates"``: frequencies over all candidate pairs (overwhelmingly non-matches
        *within blocks*); ``"mixed"`` (default): the average of both. Random pairs alone
        almost never agree on an address, so with several firms per address EM then tends to
        converge to "same address" rather than "same firm"; candidate pairs alone fail on tiny
        inputs where nearly every candidate is a match. The mixture avoids both.
    random_pairs
        Number of random query × reference pairs used when ``u_init="random"``.
    max_iter, tol
        EM iteration cap and tolerance.

    >>> spec = company_spec()
    >>> [f.name for f in spec.fields]
    ['name', 'legal_form', 'street', 'house_number', 'postcode', 'city']
    """

    fields: tuple[FieldComparison, ...]
    blocking: tuple[BlockingPass, ...]
    target: str = "kvk_nummer"
    query_id: str | None = None
    u_init: Literal["mixed", "candidates", "random"] = "mixed"
    random_pairs: int = 50_000
    max_iter: int = 1000
    tol: float = 1e-6

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if not names:
            msg = "A RecoverySpec needs at least one field comparison. Hint: see company_spec()."
            raise ConfigError(msg)
        if len(set(names)) != len(names):
            msg = "The field comparisons of a RecoverySpec must have distinct names. Hint: rename."
            raise ConfigError(msg)
        if not self.blocking:
            msg = "A RecoverySpec needs at least one blocking pass. Hint: see company_spec()."
            raise ConfigError(msg)
        unknown = key_fields(self.blocking) - set(names)
        if unknown:
            shown = ", ".join(sorted(repr(u) for u in unknown))
            msg = (
                f"Blocking keys refer to {len(unknown)} unknown field(s): {shown}. "
                "Hint: blocking keys name standardised fields of the spec."
            )
            raise ConfigError(msg)
        if self.random_pairs < 1 or self.max_iter < 1:
            msg = "'random_pairs' and 'max_iter' must be >= 1. Hint: keep the defaults."
            raise ConfigError(msg)

    @property
    def left_columns(self) -> list[str]:
        """Query-frame columns the spec reads."""
        return list(dict.fromkeys(f.left for f in self.fields))

    @property
    def right_columns(self) -> list[str]:
        """Reference-frame columns the spec reads (without the target)."""
        return list(dict.fromkeys(f.right for f in self.fields))


def company_spec(
    *,
    query_id: str | None = None,
    name_column: str = "company_name",
    trade_name_column: str = "trade_name",
) -> RecoverySpec:
    """The default spec for companies: interactions × Handelsregister extract.

    Query columns ``company_name, street, house_number, postcode, city``; reference columns
    ``trade_name, street, house_number, postcode, city`` and the target ``kvk_nummer``.
    Blocking passes: full postcode; PC4 + any name word; any name word + house number;
    city + any name word — so a dirty postcode, house number, city or name alone does not
    lose the true pair.

    >>> [p.name for p in company_spec().blocking]
    ['postcode', 'pc4+name', 'name+number', 'city+name']
    """
    fields = (
        FieldComparison("name", name_column, trade_name_column, cleaner="company_name",
                        similarity="jaro_winkler_token_set", thresholds=(0.94, 0.88, 0.8)),
        FieldComparison("legal_form", name_column, trade_name_column, cleaner="legal_form",
                        similarity="exact"),
        FieldComparison("street", "street", "street", cleaner="street",
                        similarity="jaro_winkler", thresholds=(0.92, 0.8)),
        FieldComparison("house_number", "house_number", "house_number",
                        cleaner="house_number", similarity="house_number", thresholds=(0.85,)),
        FieldComparison("postcode", "postcode", "postcode", cleaner="postcode",
                        similarity="jaro_winkler", thresholds=(0.92, 0.85)),
        FieldComparison("city", "city", "city", cleaner="text", similarity="jaro_winkler",
                        thresholds=(0.9,)),
    )
    blocking = (
        BlockingPass("postcode", ("postcode",), max_block_size=200),
        BlockingPass("pc4+name", ("postcode:prefix4", "name:token"), max_block_size=50),
        BlockingPass("name+number", ("name:token", "house_number:number"), max_block_size=50),
        BlockingPass("city+name", ("city", "name:token"), max_block_size=50),
    )
    return RecoverySpec(fields=fields, blocking=blocking, target="kvk_nummer", query_id=query_id)


def person_spec(*, target: str = "person_id", query_id: str | None = None) -> RecoverySpec:
    """An example spec for a persons file: given name, surname, date of birth, address.

    Both frames have columns ``given_name, surname, date_of_birth, postcode, house_number``;
    the reference frame also has ``target`` (the identifier to recover).

    >>> [f.name for f in person_spec().fields]
    ['given_name', 'surname', 'date_of_birth', 'postcode', 'house_number']
    """
    fields = (
        FieldComparison("given_name", "given_name", "given_name", thresholds=(0.92, 0.8)),
        FieldComparison("surname", "surname", "surname", thresholds=(0.92, 0.8)),
        FieldComparison("date_of_birth", "date_of_birth", "date_of_birth", cleaner="date",
                        similarity="levenshtein", thresholds=(0.85,)),
        FieldComparison("postcode", "postcode", "postcode", cleaner="postcode",
                        thresholds=(0.92,)),
        FieldComparison("house_number", "house_number", "house_number",
                        cleaner="house_number", similarity="house_number", thresholds=(0.85,)),
    )
    blocking = (
        BlockingPass("postcode", ("postcode",)),
        BlockingPass("dob", ("date_of_birth",)),
        BlockingPass("surname+pc4", ("surname:token", "postcode:prefix4")),
    )
    return RecoverySpec(fields=fields, blocking=blocking, target=target, query_id=query_id)


@dataclass(frozen=True, repr=False, eq=False)
class RecoveryResult:
    """The outcome of :func:`recover_kvk`.

    Attributes
    ----------
    frame
        One row per query, in input order, in the caller's frame kind: ``query_row``, the
        spec's ``query_id`` column (when set), the recovered ``<target>`` (null unless
        ``accepted`` or ``review``), ``status``, ``match_probability`` (posterior that the
        best target is the query's match, assuming at most one true target per query: the
        candidates compete, so an ambiguous query gets a low probability), ``match_score``
        (total pairwise match weight, log2 Bayes factor incl. prior), ``match_margin`` (gap to
        the best *other* target value; null when there is none), ``n_candidates``,
        ``best_candidate`` (the best target value whatever the status), ``register_row``
        (0-based row of the best reference record), ``runner_up`` and
        ``runner_up_register_row`` (the second-best target value and its record, shown to
        reviewers next to the best one) and ``w_<field>`` (the partial
        Fellegi–Sunter weight of each field: the per-field explanation of the score).
    candidates
        Every scored candidate pair (polars): ``query_row``, ``register_row``, target,
        ``match_score``, ``match_probability`` (pairwise), ``w_<field>``, ``passes`` (bitmask of the
        blocking passes that found the pair).
    model
        The fitted :class:`FellegiSunterModel` (None when blocking found no pair).
    """

    frame: Any
    candidates: pl.DataFrame
    model: FellegiSunterModel | None
    spec: RecoverySpec
    thresholds: tuple[float, float]
    min_margin: float
    seed: int
    blocking: tuple[BlockingStats, ...]
    kind: FrameKind
    queries: pl.DataFrame = field(compare=False)
    reference: pl.DataFrame = field(compare=False)

    @property
    def counts(self) -> dict[str, int]:
        """Number of queries per status."""
        frame = to_polars(self.frame, argument="frame")[0]
        got = dict(frame.group_by("status").len().iter_rows())
        return {s: int(got.get(s, 0)) for s in RECOVERY_STATUSES}

    def __repr__(self) -> str:
        c = self.counts
        return (
            f"RecoveryResult(queries={sum(c.values())}, accepted={c['accepted']}, "
            f"review={c['review']}, rejected={c['rejected']}, "
            f"candidate_pairs={self.candidates.height}, thresholds={self.thresholds})"
        )

    def weights_table(self) -> pl.DataFrame:
        """m, u and match weight of every level of every field (empty without a model).

        Columns ``field``, ``level``, ``label``, ``m``, ``u``, ``weight``.
        """
        schema = {"field": pl.Utf8, "level": pl.Int8, "label": pl.Utf8, "m": pl.Float64,
                  "u": pl.Float64, "weight": pl.Float64}
        if self.model is None:
            return pl.DataFrame(schema=schema)
        rows = []
        for fc, m, u, w in zip(self.spec.fields, self.model.m_, self.model.u_,
                               self.model.weights_, strict=True):
            for lvl, label in enumerate(fc.level_labels):
                rows.append((fc.name, lvl, label, float(m[lvl]), float(u[lvl]), float(w[lvl])))
        return pl.DataFrame(rows, schema=schema, orient="row")

    def with_frame(self, frame: pl.DataFrame) -> RecoveryResult:
        """A copy of this result with another per-query frame (used by clerical review)."""
        return RecoveryResult(
            frame=like_input(frame, self.kind), candidates=self.candidates, model=self.model,
            spec=self.spec, thresholds=self.thresholds, min_margin=self.min_margin,
            seed=self.seed, blocking=self.blocking, kind=self.kind, queries=self.queries,
            reference=self.reference,
        )


def _standardised(frame: pl.DataFrame, spec: RecoverySpec, side: str) -> pl.DataFrame:
    """Standardised field columns, computed once per distinct raw value of each column.

    Names, streets, cities and house numbers repeat a lot in a register, so cleaning the
    distinct values and joining them back is much cheaper than cleaning every row.
    """
    by_column: dict[str, list[FieldComparison]] = {}
    for fc in spec.fields:
        by_column.setdefault(fc.left if side == "left" else fc.right, []).append(fc)
    columns: dict[str, pl.Series] = {}
    for column, fields in by_column.items():
        raw = pl.DataFrame({"__v": frame.get_column(column)})
        distinct = raw.unique()
        # Company names feed two fields (name and legal form): fold and squash them once.
        base = {"company_name", "legal_form"} & {fc.cleaner for fc in fields}
        if base:
            distinct = distinct.with_columns(_company_base(pl.col("__v")).alias("__b"))

        def expr(fc: FieldComparison) -> pl.Expr:
            if fc.cleaner == "company_name":
                return _name_from_base(pl.col("__b"))
            if fc.cleaner == "legal_form":
                return _form_from_base(pl.col("__b"))
            return clean_expr(pl.col("__v"), fc.cleaner)

        cleaned = distinct.select(pl.col("__v"), *(expr(fc).alias(fc.name) for fc in fields))
        back = raw.join(cleaned, on="__v", how="left", nulls_equal=True, maintain_order="left")
        for fc in fields:
            columns[fc.name] = back.get_column(fc.name)
    return pl.DataFrame([columns[fc.name] for fc in spec.fields])


def _as_date(values: pl.Series) -> pl.Series:
    """Dates from a date, datetime or ISO text column (text as read from CSV)."""
    if values.dtype == pl.Utf8:
        return values.str.to_date("%Y-%m-%d", strict=True)
    if isinstance(values.dtype, pl.Datetime):
        return values.dt.date()
    return values.cast(pl.Date)


def _valid_at_date(
    scored: pl.DataFrame,
    qs: pl.DataFrame,
    q: pl.DataFrame,
    validity: Any,
    *,
    target: str,
    date_column: str,
) -> pl.Series:
    """Per candidate pair: was its target registered at the query's date (unknown = True)?"""
    v, _ = to_polars(validity, argument="validity")
    require_columns(v, [target, "valid_from", "valid_to"], argument="validity")
    require_columns(q, [date_column], argument="queries")
    try:
        dates = _as_date(q[date_column])
        periods = pl.DataFrame([
            v[target].cast(pl.Utf8).alias("__target"),
            _as_date(v["valid_from"]),
            _as_date(v["valid_to"]),
        ])
    except pl.exceptions.PolarsError as exc:
        msg = (
            f"The query column {date_column!r} and the 'validity' columns 'valid_from', "
            "'valid_to' must be dates. Hint: parse them with str.to_date() first."
        )
        raise SchemaError(msg) from exc
    pairs = scored.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("__i"),
        "__target",
        dates.gather(qs["__orig"].gather(scored["q"])).alias("__date"),
    )
    covered = (
        pairs.join(periods, on="__target", how="inner")
        .filter(
            (pl.col("valid_from") <= pl.col("__date"))
            & (pl.col("valid_to").is_null() | (pl.col("__date") < pl.col("valid_to")))
        )
        .select("__i")
        .unique()
    )
    known = pairs.join(periods.select("__target").unique(), on="__target", how="semi")
    valid = np.ones(scored.height, dtype=bool)
    unknown_date = pairs["__date"].is_null().to_numpy()
    valid[known["__i"].to_numpy()] = False
    valid[covered["__i"].to_numpy()] = True
    valid[unknown_date] = True
    return pl.Series("__valid", valid)


def _check_thresholds(thresholds: Sequence[float], min_margin: float) -> tuple[float, float]:
    if len(thresholds) != 2:
        msg = (
            f"The 'thresholds' argument must be (accept, review), got {len(thresholds)} "
            "value(s). Hint: e.g. thresholds=(0.75, 0.15)."
        )
        raise InputError(msg)
    accept, review = float(thresholds[0]), float(thresholds[1])
    if not (0.0 <= review <= accept <= 1.0) or math.isnan(accept) or math.isnan(review):
        msg = (
            f"The 'thresholds' argument must satisfy 0 <= review <= accept <= 1, got "
            f"({accept:g}, {review:g}). Hint: e.g. thresholds=(0.75, 0.15)."
        )
        raise InputError(msg)
    if not min_margin >= 0.0:
        msg = f"The 'min_margin' argument must be >= 0, got {min_margin!r}. Hint: e.g. 1.0."
        raise InputError(msg)
    return accept, review


_Dictionary = tuple[npt.NDArray[np.object_], npt.NDArray[np.int64]]


def _levels(
    left: list[_Dictionary],
    right: list[_Dictionary],
    qi: npt.NDArray[np.integer],
    ri: npt.NDArray[np.integer],
    spec: RecoverySpec,
) -> npt.NDArray[np.int8]:
    out = np.zeros((len(qi), len(spec.fields)), dtype=np.int8)
    for j, fc in enumerate(spec.fields):
        out[:, j] = pair_levels(left[j], right[j], qi, ri, fc)
    return out


@dataclass(frozen=True, repr=False, eq=False)
class PreparedReference:
    """A reference frame standardised once, for recovering many batches of queries.

    Made by :func:`prepare_reference`; pass it to :func:`recover_kvk` as ``handelsregister``
    with a spec that has the same field comparisons and target. Holds the original frame,
    the standardised fields in canonical order and the value dictionaries used to compare.
    """

    spec: RecoverySpec
    frame: pl.DataFrame = field(compare=False)
    standardised: pl.DataFrame = field(compare=False)
    dictionaries: tuple[_Dictionary, ...] = field(compare=False)

    def __repr__(self) -> str:
        return (
            f"PreparedReference(rows={self.frame.height}, "
            f"fields={[f.name for f in self.spec.fields]})"
        )


def prepare_reference(handelsregister: Any, *, spec: RecoverySpec | None = None) -> (
    PreparedReference
):
    """Standardise a reference frame once for repeated :func:`recover_kvk` calls.

    >>> import polars as pl
    >>> ref = prepare_reference(pl.DataFrame({
    ...     "kvk_nummer": ["01234567"], "trade_name": ["Jansen B.V."], "street": ["Laan"],
    ...     "house_number": ["1"], "postcode": ["1234 AB"], "city": ["Ede"]}))
    >>> ref
    PreparedReference(rows=1, fields=['name', 'legal_form', 'street', 'house_number', \
'postcode', 'city'])
    """
    spec = company_spec() if spec is None else spec
    r, _ = to_polars(handelsregister, argument="handelsregister")
    require_columns(r, [*spec.right_columns, spec.target], argument="handelsregister")
    if r.height == 0:
        msg = (
            "The 'handelsregister' frame is empty (0 rows). Hint: pass the register extract "
            "the queries are to be matched against."
        )
        raise SchemaError(msg)
    names = [f.name for f in spec.fields]
    rs = _standardised(r, spec, "right").with_columns(
        r[spec.target].cast(pl.Utf8).alias("__target")
    ).with_row_index("__orig")
    rs = (
        rs.with_columns(rs.select("__target", *names).hash_rows(seed=0).alias("__h"))
        .sort("__h", maintain_order=True)
        .with_row_index("r")
    )
    # Dense rank of the target text (nulls last): sorts like the text, but numerically.
    rs = rs.with_columns(
        pl.col("__target").rank("dense").cast(pl.UInt32).fill_null(rs.height + 1).alias("__tid")
    )
    dictionaries = tuple(value_dictionary(rs[fc.name]) for fc in spec.fields)
    return PreparedReference(spec=spec, frame=r, standardised=rs, dictionaries=dictionaries)


def recover_kvk(
    queries: Any,
    handelsregister: Any,
    *,
    spec: RecoverySpec | None = None,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    min_margin: float = 1.0,
    seed: int = 0,
    validity: Any | None = None,
    date_column: str = "date",
) -> RecoveryResult:
    """Recover the KVK number of each query from its name and address.

    Parameters
    ----------
    queries
        Interactions without a usable KVK number (pandas or polars), with the spec's query
        columns (default ``company_name, street, house_number, postcode, city``).
    handelsregister
        Reference records with the spec's reference columns and target (``kvk_nummer``);
        several rows (establishments) per KVK number are fine. Or a
        :class:`PreparedReference` from :func:`prepare_reference`, to standardise a large
        register once and recover many batches of queries against it.
    spec
        Comparison spec; default :func:`company_spec`.
    thresholds
        ``(accept, review)`` on the query-level match probability of the best candidate
        (see :class:`RecoveryResult`). Default ``(0.75, 0.15)``, chosen with
        :func:`threshold_curve` on synthetic data; choose them for your data with
        :func:`threshold_curve` on a labelled sample. A query is ``accepted`` when its
        probability is at least ``accept`` *and* its best KVK number beats the best other
        one by at least ``min_margin`` bits of match weight;
        ``review`` when the probability is at least ``review`` (or it passed ``accept`` but
        not the margin); ``rejected`` otherwise (then the recovered number is null).
    min_margin
        Required gap, in log2 match weight, between the best and the second-best distinct
        target value for acceptance.
    seed
        Seed of the random pairs that initialise the u-probabilities (see
        :class:`RecoverySpec`).
    validity
        Optional registration periods of the targets (pandas or polars): columns
        ``<target>``, ``valid_from`` (inclusive) and ``valid_to`` (exclusive, null = still
        registered), e.g. the registration and closure dates of the Handelsregister. With it,
        a query's candidates whose number was not registered at the query's
        ``date_column`` do not compete with those that were (when at least one was): this
        breaks the tie between a predecessor and a successor number that share name and
        address. Targets without a period, and queries without a date, are not affected.
    date_column
        Query column with the interaction date, used only with ``validity``.

    Returns
    -------
    RecoveryResult
    """
    spec = company_spec() if spec is None else spec
    accept, review = _check_thresholds(thresholds, min_margin)
    q, kind = to_polars(queries, argument="queries")
    qcols = spec.left_columns + ([spec.query_id] if spec.query_id else [])
    require_columns(q, qcols, argument="queries")
    if isinstance(handelsregister, PreparedReference):
        prepared = handelsregister
        if prepared.spec.fields != spec.fields or prepared.spec.target != spec.target:
            msg = (
                "The prepared reference was made with other field comparisons or target "
                "than 'spec'. Hint: call prepare_reference(frame, spec=spec) with this spec."
            )
            raise ConfigError(msg)
    else:
        prepared = prepare_reference(handelsregister, spec=spec)
    r = prepared.frame
    names = [f.name for f in spec.fields]
    target = spec.target
    wcols = [f"w_{n}" for n in names]

    # Canonical order: results must not depend on the row order of either input. Rows are
    # ordered by a fixed-seed hash of their standardised content (and target / query id);
    # rows with equal content are interchangeable, so their relative order does not matter.
    qs = _standardised(q, spec, "left").with_row_index("__orig")
    if spec.query_id:
        qs = qs.with_columns(q[spec.query_id].cast(pl.Utf8).alias(spec.query_id))
    qcontent = names + ([spec.query_id] if spec.query_id else [])
    qs = qs.with_columns(
        qs.select(qcontent).hash_rows(seed=0).alias("__h")
    ).sort("__h", maintain_order=True)
    rs = prepared.standardised
    nq, nr = qs.height, rs.height
    qs = qs.with_row_index("q")

    cands, stats = candidate_pairs(qs.select("q", *names), rs.select("r", *names), spec.blocking)
    for st in stats:
        logger.debug("blocking pass %s: %d pairs, %d keys skipped", st.name, st.pairs,
                     st.skipped_keys)

    n_levels = [f.n_levels for f in spec.fields]
    model: FellegiSunterModel | None = None
    scored_schema: dict[str, Any] = {"q": pl.UInt32, "r": pl.UInt32, "passes": pl.UInt32,
                                     "match_score": pl.Float64, **dict.fromkeys(wcols, pl.Float64)}
    if cands.height and nq:
        qi = cands["q"].to_numpy()
        ri = cands["r"].to_numpy()
        qdict = [value_dictionary(qs[fc.name]) for fc in spec.fields]
        rdict = list(prepared.dictionaries)
        levels = _levels(qdict, rdict, qi, ri, spec)
        u_cand = level_frequencies(levels, n_levels)
        if spec.u_init == "candidates":
            u_init = u_cand
        else:
            rng = np.random.default_rng(seed)
            n_rand = int(min(spec.random_pairs, nq * nr))
            rq = rng.integers(0, nq, n_rand)
            rr = rng.integers(0, nr, n_rand)
            u_rand = level_frequencies(_levels(qdict, rdict, rq, rr, spec), n_levels)
            u_init = (
                u_rand if spec.u_init == "random"
                else tuple((a + b) / 2.0 for a, b in zip(u_rand, u_cand, strict=True))
            )
        lam0 = float(np.clip(min(nq, cands.height) / (2.0 * cands.height), 1e-4, 0.5))
        model = fit_fellegi_sunter(levels, n_levels, u_init=u_init, lambda_init=lam0,
                                   max_iter=spec.max_iter, tol=spec.tol)
        fw = model.field_weights(levels)
        scored = cands.with_columns(
            pl.Series("match_score", model.prior_weight_ + fw.sum(axis=1)),
            *(pl.Series(c, fw[:, j]) for j, c in enumerate(wcols)),
        )
    else:
        scored = pl.DataFrame(schema=scored_schema)

    # ``r`` is the row position in ``rs``: gather instead of joining.
    ridx = scored["r"]
    scored = scored.with_columns(
        rs["__target"].gather(ridx), rs["__tid"].gather(ridx),
        rs["__orig"].gather(ridx).alias("__rorig"),
    )
    n_cands = scored.group_by("q").agg(pl.len().alias("n_candidates"))
    competing = scored
    if validity is not None:
        valid = _valid_at_date(scored, qs, q, validity, target=target, date_column=date_column)
        competing = (
            scored.with_columns(valid)
            .filter(pl.col("__valid") | ~pl.col("__valid").any().over("q"))
            .drop("__valid")
        )
    # One row per (query, target): its best-scoring reference record (ties: lowest ``r``),
    # ranked by score with ties broken by target. ``__tid`` orders like the target text (a
    # dense rank), so one numeric sort and a first-per-(query, target) filter do it.
    per_target = (
        competing.sort(["q", "match_score", "__tid", "r"],
                       descending=[False, True, False, False])
        .filter(
            (pl.col("q").cast(pl.UInt64) * (1 << 32) + pl.col("__tid")).is_first_distinct()
        )
        .with_columns(pl.int_range(pl.len()).over("q").alias("__rank"))
    )
    # Query-level posterior under "at most one true target per query": with p the share of
    # queries that have a match among their candidates and n their distinct targets,
    # P(target k) = (p/n)·BF_k / ((1 - p) + (p/n)·Σ_j BF_j), BF = 2^(sum of field weights).
    prior_w = model.prior_weight_ if model is not None else 0.0
    p_any = (
        float(np.clip(model.lambda_ * scored.height / max(nq, 1), 1e-3, 1.0 - 1e-3))
        if model is not None else 0.5
    )
    # In stages (each window once): one nested expression re-evaluates its windows.
    lbf = pl.col("match_score") - prior_w
    log_none = pl.lit(math.log2(1.0 - p_any))
    term, top = pl.col("__term"), pl.col("__top")
    per_target = (
        per_target.with_columns(
            ((math.log2(p_any) - pl.len().over("q").cast(pl.Float64).log(2.0)) + lbf)
            .alias("__term")
        )
        .with_columns(pl.max_horizontal(term.max().over("q"), log_none).alias("__top"))
        .with_columns(
            (top + ((2.0 ** (log_none - top)) + (2.0 ** (term - top)).sum().over("q")).log(2.0))
            .alias("__den")
        )
        .with_columns((2.0 ** (term - pl.col("__den"))).alias("__qprob"))
        .drop("__term", "__top", "__den")
    )
    best = per_target.filter(pl.col("__rank") == 0)
    second = per_target.filter(pl.col("__rank") == 1).select(
        "q",
        pl.col("match_score").alias("__second"),
        pl.col("__target").alias("__runner_up"),
        pl.col("__rorig").alias("__runner_up_row"),
    )
    out = (
        qs.select("q", "__orig", *([spec.query_id] if spec.query_id else []))
        .join(best.drop("__rank"), on="q", how="left")
        .join(second, on="q", how="left")
        .join(n_cands, on="q", how="left")
    )
    out = out.with_columns(
        pl.col("__qprob").alias("match_probability"),
        (pl.col("match_score") - pl.col("__second")).alias("match_margin"),
        pl.col("n_candidates").fill_null(0).cast(pl.Int64),
    )
    margin_ok = pl.col("match_margin").is_null() | (pl.col("match_margin") >= min_margin)
    status = (
        pl.when(pl.col("match_score").is_null())
        .then(pl.lit("rejected"))
        .when((pl.col("match_probability") >= accept) & margin_ok)
        .then(pl.lit("accepted"))
        .when(pl.col("match_probability") >= review)
        .then(pl.lit("review"))
        .otherwise(pl.lit("rejected"))
    )
    out = out.with_columns(status.alias("status"))
    frame = out.sort("__orig").select(
        pl.col("__orig").cast(pl.Int64).alias("query_row"),
        *([pl.col(spec.query_id)] if spec.query_id else []),
        pl.when(pl.col("status") != "rejected").then(pl.col("__target")).alias(target),
        "status",
        "match_probability",
        "match_score",
        "match_margin",
        "n_candidates",
        pl.col("__target").alias("best_candidate"),
        pl.col("__rorig").cast(pl.Int64).alias("register_row"),
        pl.col("__runner_up").alias("runner_up"),
        pl.col("__runner_up_row").cast(pl.Int64).alias("runner_up_register_row"),
        *wcols,
    )
    if spec.query_id:
        frame = frame.with_columns(q[spec.query_id].alias(spec.query_id))
    candidates = (
        scored.with_columns(qs["__orig"].gather(scored["q"]))
        .select(
            pl.col("__orig").cast(pl.Int64).alias("query_row"),
            pl.col("__rorig").cast(pl.Int64).alias("register_row"),
            pl.col("__target").alias(target),
            "match_score",
            (1.0 / (1.0 + (2.0 ** (-pl.col("match_score").clip(-60.0, 60.0)))))
            .alias("match_probability"),
            *wcols,
            "passes",
        )
        .sort("query_row", "register_row")
    )
    return RecoveryResult(
        frame=like_input(frame, kind),
        candidates=candidates,
        model=model,
        spec=spec,
        thresholds=(accept, review),
        min_margin=float(min_margin),
        seed=seed,
        blocking=stats,
        kind=kind,
        queries=q,
        reference=r,
    )
