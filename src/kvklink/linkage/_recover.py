"""Fuzzy recovery of missing KVK numbers from company name and address.

Runs at the data holder, in the clear, against the public Handelsregister, *before*
pseudonymisation (see the privacy model): only the recovered KVK number is pseudonymised later.

The pipeline is standardise → block (several passes) → compare (compiled string kernels
equal to rapidfuzz's similarities) → Fellegi–Sunter with m/u estimated by EM → one candidate
per query (best KVK number, with a margin test against the second best) → status
``accepted`` / ``review`` / ``rejected``.

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

import functools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from kvklink.errors import ConfigError, InputError, LinkageError, SchemaError
from kvklink.frames import FrameKind, like_input, require_columns, to_polars
from kvklink.linkage._address_cleaners import COMPILED_CLEANERS, clean_compiled
from kvklink.linkage._address_cleaners import load_kernels as load_address_kernels
from kvklink.linkage._blocking import (
    BlockIndex,
    BlockingPass,
    BlockingStats,
    block_index,
    candidate_pairs,
    key_fields,
    load_kernels,
)
from kvklink.linkage._company_names import company_name_and_form
from kvklink.linkage._company_names import load_kernels as load_name_kernels
from kvklink.linkage._compare import (
    FieldComparison,
    ValueDictionary,
    factorize,
    pair_levels,
    value_dictionary,
)
from kvklink.linkage._fellegi_sunter import (
    FellegiSunterModel,
    fit_fellegi_sunter,
    level_frequencies,
)
from kvklink.linkage._select import best_per_query, single_pass_pruning
from kvklink.linkage._standardise import clean_expr
from kvklink.linkage._strings import EncodedStrings, pair_levels_in_range, prepare_tokens

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
        Number of random query × reference pairs used when ``u_init`` is ``"random"`` or
        ``"mixed"`` (only EM's starting point; 2,000, 5,000 and 50,000 gave the same links on
        the recovery benchmark and on nine synthetic data sets).
    max_iter, tol
        EM iteration cap and tolerance.
    prune_min_passes
        Single-pass pruning: when a query has a candidate that at least this many blocking
        passes found (it agrees on several keys at once), its candidates that only one pass
        found are dropped before they are compared. Those are almost never its match, and
        comparing them is most of the work: on the recovery benchmark 92% of the candidate
        pairs came from a single pass and held 10% of the true pairs, nearly all of them for
        queries without a multi-pass candidate (which keep every candidate); pruning at 3
        kept recall and F1 and compared 80% fewer pairs. ``None`` compares every candidate.
    fit_pairs
        With pruning, the model is still fitted on the candidate pairs *before* pruning
        (fitting on the kept, match-rich pairs alone learns a more lenient model): the kept
        pairs count exactly, and the pruned ones — when there are more than this many — through
        a seeded random sample of this size, each sampled pair weighted by the number it stands
        for. (Sampling *all* candidates uniformly instead was noisy enough to move a cluster of
        synthetic queries across the accept threshold; samples of 30,000 and 50,000 pruned
        pairs gave the same links on the benchmark and six synthetic data sets.)

    >>> spec = company_spec()
    >>> [f.name for f in spec.fields]
    ['name', 'legal_form', 'street', 'house_number', 'postcode', 'city']
    """

    fields: tuple[FieldComparison, ...]
    blocking: tuple[BlockingPass, ...]
    target: str = "kvk_nummer"
    query_id: str | None = None
    u_init: Literal["mixed", "candidates", "random"] = "mixed"
    random_pairs: int = 5_000
    max_iter: int = 1000
    tol: float = 1e-6
    prune_min_passes: int | None = 3
    fit_pairs: int = 30_000

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
        if self.prune_min_passes is not None and self.prune_min_passes < 2:
            msg = (
                f"'prune_min_passes' must be None or >= 2, got {self.prune_min_passes!r}. "
                "Hint: keep the default 3, or None to compare every candidate pair."
            )
            raise ConfigError(msg)
        if self.random_pairs < 1 or self.max_iter < 1 or self.fit_pairs < 1:
            msg = (
                "'random_pairs', 'fit_pairs' and 'max_iter' must be >= 1. "
                "Hint: keep the defaults."
            )
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
    any name word + street; street + house number; city + any name word — so a dirty
    postcode, house number, street, city or name alone does not lose the true pair. Blocks
    that hold many register rows (a common word in a big city) are skipped per pass: the
    other passes still find the pair through a more selective key.

    >>> [p.name for p in company_spec().blocking]
    ['postcode', 'pc4+name', 'name+number', 'name+street', 'street+number', 'city+name']
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
        BlockingPass("name+number", ("name:token", "house_number:number"), max_block_size=20),
        BlockingPass("name+street", ("name:token", "street"), max_block_size=20),
        BlockingPass("street+number", ("street", "house_number:number"), max_block_size=20),
        BlockingPass("city+name", ("city", "name:token"), max_block_size=20),
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
class _CandidateParts:
    """What the candidate-pair frame of a result is built from (only when asked for)."""

    scored: pl.DataFrame  # q, r, passes, match_score, w_* (canonical row numbers)
    query_orig: pl.Series  # canonical query row -> input row
    target: pl.Series  # canonical reference row -> target value
    ref_orig: pl.Series  # canonical reference row -> input row
    target_name: str
    wcols: tuple[str, ...]

    def frame(self) -> pl.DataFrame:
        s = self.scored
        return (
            s.select(
                self.query_orig.gather(s["q"]).cast(pl.Int64).alias("query_row"),
                self.ref_orig.gather(s["r"]).cast(pl.Int64).alias("register_row"),
                self.target.gather(s["r"]).alias(self.target_name),
                "match_score",
                (1.0 / (1.0 + (2.0 ** (-pl.col("match_score").clip(-60.0, 60.0)))))
                .alias("match_probability"),
                *self.wcols,
                "passes",
            )
            .sort("query_row", "register_row")
        )


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
        the best *other* target value; null when there is none), ``n_candidates`` (candidate
        pairs scored for the query, after single-pass pruning),
        ``best_candidate`` (the best target value whatever the status), ``register_row``
        (0-based row of the best reference record), ``runner_up`` and
        ``runner_up_register_row`` (the second-best target value and its record, shown to
        reviewers next to the best one) and ``w_<field>`` (the partial
        Fellegi–Sunter weight of each field: the per-field explanation of the score).
    candidates
        Every scored candidate pair (polars; built on first access): ``query_row``,
        ``register_row``, target, ``match_score``, ``match_probability`` (pairwise),
        ``w_<field>``, ``passes`` (bitmask of the blocking passes that found the pair). Pairs
        dropped by single-pass pruning (see :class:`RecoverySpec`) are not scored and not
        listed; ``blocking`` counts every pair each pass found.
    model
        The fitted :class:`FellegiSunterModel` (None when blocking found no pair).
    """

    frame: Any
    candidate_parts: _CandidateParts = field(compare=False)
    model: FellegiSunterModel | None
    spec: RecoverySpec
    thresholds: tuple[float, float]
    min_margin: float
    seed: int
    blocking: tuple[BlockingStats, ...]
    kind: FrameKind
    queries: pl.DataFrame = field(compare=False)
    reference: pl.DataFrame = field(compare=False)

    @functools.cached_property
    def candidates(self) -> pl.DataFrame:
        """Every scored candidate pair (built on first access; see the class docstring)."""
        return self.candidate_parts.frame()

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
            f"candidate_pairs={self.candidate_parts.scored.height}, "
            f"thresholds={self.thresholds})"
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
            frame=like_input(frame, self.kind), candidate_parts=self.candidate_parts,
            model=self.model,
            spec=self.spec, thresholds=self.thresholds, min_margin=self.min_margin,
            seed=self.seed, blocking=self.blocking, kind=self.kind, queries=self.queries,
            reference=self.reference,
        )


def _standardised(
    frame: pl.DataFrame, spec: RecoverySpec, side: str
) -> tuple[pl.DataFrame, list[ValueDictionary]]:
    """Standardised field columns and their value dictionaries, in the frame's row order.

    Streets, cities and house numbers repeat a lot: their columns are factorised once, the
    *distinct* values are cleaned, and the cleaned values are gathered back by code. A batch
    of queries' names and postcodes are nearly all distinct and cheap to clean, so they are
    cleaned row by row.
    Company names, streets, house numbers, postcodes and text are cleaned by compiled passes
    (``_company_names``, ``_address_cleaners``; tested equal to the polars expressions of
    ``_standardise``), other cleaners by those expressions. The value dictionary of each
    standardised field is built on the cleaned values and composed with the row codes.
    """
    by_column: dict[str, list[FieldComparison]] = {}
    for fc in spec.fields:
        by_column.setdefault(fc.left if side == "left" else fc.right, []).append(fc)
    columns: dict[str, pl.Series] = {}
    dictionaries: dict[str, ValueDictionary] = {}
    compiled = ("company_name", "legal_form")  # cleaned by one compiled pass, both at once
    # Cleaners that cost about as much per value as finding the distinct values: a query
    # column that only feeds these is cleaned row by row (a batch's names and postcodes are
    # nearly all distinct, so factorising first would not pay; a register's repeat more).
    # Everything else runs on the distinct values.
    cheap = (*compiled, "postcode", "none")

    factorized: list[tuple[list[FieldComparison], npt.NDArray[np.int64]]] = []
    cleaned: list[dict[str, pl.Series]] = []
    plans: list[pl.LazyFrame] = []
    planned: list[int] = []  # which columns have a polars query
    for column, fields in by_column.items():
        values = frame.get_column(column)
        if isinstance(values.dtype, (pl.Categorical, pl.Enum)):
            values = values.cast(pl.Utf8)
        if side == "left" and all(fc.cleaner in cheap for fc in fields):
            codes, uniq = np.arange(values.len(), dtype=np.int64), values
        else:
            codes, uniq = factorize(values)
        done: dict[str, pl.Series] = {}
        if any(fc.cleaner in compiled for fc in fields):
            name, form = company_name_and_form(uniq)
            for fc in fields:
                if fc.cleaner in compiled:
                    done[fc.name] = name if fc.cleaner == "company_name" else form
        for fc in fields:
            if fc.cleaner in COMPILED_CLEANERS:
                done[fc.name] = clean_compiled(uniq, fc.cleaner)
        rest = [fc for fc in fields
                if fc.cleaner not in compiled and fc.cleaner not in COMPILED_CLEANERS]
        if rest:
            planned.append(len(cleaned))
            plans.append(pl.DataFrame({"__v": uniq}).lazy().select(
                *(clean_expr(pl.col("__v"), fc.cleaner).alias(fc.name) for fc in rest)
            ))
        factorized.append((fields, codes))
        cleaned.append(done)
    # the other cleaners run as concurrent polars queries (one per column)
    for i, result in zip(planned, pl.collect_all(plans), strict=True):
        cleaned[i].update({c: result.get_column(c) for c in result.columns})
    for (fields, codes), done in zip(factorized, cleaned, strict=True):
        present = codes >= 0
        per_row = codes.size == done[fields[0].name].len() and bool(present.all())
        gather_codes = None if per_row else pl.Series(codes).set(pl.Series(~present), None)
        for fc in fields:
            col = done[fc.name].cast(pl.Utf8)
            columns[fc.name] = col if gather_codes is None else col.gather(gather_codes)
            # the register's dictionaries are kept and tokenised once: deduplicate them; a
            # batch of queries is mostly distinct values and used once: skip that work
            small = value_dictionary(col, distinct=side == "right")
            composed = np.full(codes.size, -1, dtype=np.int64)
            composed[present] = small.codes[codes[present]]
            dictionaries[fc.name] = ValueDictionary(
                values=small.values, codes=composed, encoded=small.encoded
            )
    frame_out = pl.DataFrame([columns[fc.name].alias(fc.name) for fc in spec.fields])
    return frame_out, [dictionaries[fc.name] for fc in spec.fields]


def _reordered(d: ValueDictionary, order: npt.NDArray[np.integer]) -> ValueDictionary:
    """The same dictionary with its rows permuted (``order[i]`` = old row of new row i)."""
    return ValueDictionary(values=d.values, codes=d.codes[order], encoded=d.encoded)


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


@dataclass(frozen=True, eq=False, repr=False)
class _FieldValues:
    """Every field's value dictionary of one side, with the codes as one row-major matrix.

    ``codes[i, j]`` is row ``i``'s code in field ``j`` (-1 = null): the codes of a pair's
    fields sit side by side, so taking the rows of many pairs reads one cache line per row
    instead of one per row and field.
    """

    encoded: tuple[EncodedStrings, ...]
    codes: npt.NDArray[np.int32]

    @classmethod
    def of(cls, dictionaries: Sequence[ValueDictionary]) -> _FieldValues:
        """The matrix of ``dictionaries``' codes, each checked against its dictionary."""
        codes = np.empty((dictionaries[0].codes.size if dictionaries else 0, len(dictionaries)),
                         dtype=np.int32)
        for j, d in enumerate(dictionaries):
            if d.codes.size and (int(d.codes.min()) < -1 or int(d.codes.max()) >= len(d.encoded)):
                msg = "A value dictionary holds codes outside its values. Hint: prepare again."
                raise LinkageError(msg)
            codes[:, j] = d.codes
        return cls(encoded=tuple(d.encoded for d in dictionaries), codes=codes)


def _levels(
    left: _FieldValues,
    right: _FieldValues,
    qi: npt.NDArray[np.integer],
    ri: npt.NDArray[np.integer],
    spec: RecoverySpec,
) -> npt.NDArray[np.int8]:
    """Levels (pairs × fields), stored field by field: each column is contiguous."""
    out = np.empty((len(spec.fields), len(qi)), dtype=np.int8)
    if len(qi) == 0:
        return out.T
    lc = np.ascontiguousarray(np.take(left.codes, qi, axis=0).T, dtype=np.int64)
    rc = np.ascontiguousarray(np.take(right.codes, ri, axis=0).T, dtype=np.int64)
    for j, fc in enumerate(spec.fields):  # the code matrices were range-checked when built
        out[j] = pair_levels_in_range(left.encoded[j], right.encoded[j], lc[j], rc[j],
                                      fc.similarity, fc.thresholds)
    return out.T


@dataclass(frozen=True, repr=False, eq=False)
class PreparedReference:
    """A reference frame standardised once, for recovering many batches of queries.

    Made by :func:`prepare_reference`; pass it to :func:`recover_kvk` as ``handelsregister``
    with a spec that has the same field comparisons, blocking passes and target. Holds the
    original frame, the standardised fields in canonical order, the value dictionaries the
    comparison kernels read, and the block index of every blocking pass — everything about
    the register that does not depend on the queries, so each batch only standardises its
    queries, probes the index and compares.
    """

    spec: RecoverySpec
    frame: pl.DataFrame = field(compare=False)
    standardised: pl.DataFrame = field(compare=False)
    dictionaries: tuple[ValueDictionary, ...] = field(compare=False)
    index: BlockIndex = field(compare=False)
    _values: _FieldValues = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_values", _FieldValues.of(self.dictionaries))

    def __repr__(self) -> str:
        return (
            f"PreparedReference(rows={self.frame.height}, "
            f"fields={[f.name for f in self.spec.fields]})"
        )


def _load_kernels(spec: RecoverySpec) -> None:
    """Load every compiled kernel a recovery with ``spec`` runs, on tiny inputs.

    A fresh process loads each kernel from numba's on-disk cache on its first call (tens of
    milliseconds each); preparing a reference does this once, so every batch recovered
    against it runs at full speed from the first.
    """
    tiny = value_dictionary(pl.Series(["a b", "a c"]))
    for fc in spec.fields:
        pair_levels(tiny, tiny, np.array([0], dtype=np.uint32), np.array([1], dtype=np.uint32), fc)
    one = np.zeros(1, dtype=np.uint32)
    best_per_query(np.array([0, 1]), one, np.zeros(1), one, p_any=0.5, prior_weight=0.0)
    single_pass_pruning(np.array([0, 1]), np.ones(1, dtype=np.uint32), one, 3)
    load_kernels()
    load_name_kernels()
    load_address_kernels()


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
    return _prepare(handelsregister, spec=spec, warm_up=True)


def _prepare(handelsregister: Any, *, spec: RecoverySpec | None, warm_up: bool) -> (
    PreparedReference
):
    """:func:`prepare_reference`; ``warm_up`` also loads every kernel a batch runs.

    The warm-up makes the first batch against a kept reference run at full speed; when the
    reference is prepared inside one :func:`recover_kvk` call, the batch right after loads
    what it needs itself, and the warm-up's own small calls would only add time.
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
    rstd, rdicts = _standardised(r, spec, "right")
    rs = rstd.with_columns(r[spec.target].cast(pl.Utf8).alias("__target")).with_row_index(
        "__orig"
    )
    rs = (
        rs.with_columns(rs.select("__target", *names).hash_rows(seed=0).alias("__h"))
        .sort("__h", maintain_order=True)
        .with_row_index("r")
    )
    # Dense rank of the target text (nulls last): sorts like the text, but numerically.
    rs = rs.with_columns(
        pl.col("__target").rank("dense").cast(pl.UInt32).fill_null(rs.height + 1).alias("__tid")
    )
    order = rs["__orig"].to_numpy()
    dictionaries = tuple(_reordered(d, order) for d in rdicts)
    for fc, d in zip(spec.fields, dictionaries, strict=True):
        prepare_tokens(d.encoded, fc.similarity)  # tokenised once for every batch
    index = block_index(rs.select("r", *names), spec.blocking)
    if warm_up:
        _load_kernels(spec)
    return PreparedReference(spec=spec, frame=r, standardised=rs, dictionaries=dictionaries,
                             index=index)


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
        Comparison spec; default :func:`company_spec` (or, with a prepared reference, the
        spec it was prepared with).
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
    if spec is None:
        spec = (handelsregister.spec if isinstance(handelsregister, PreparedReference)
                else company_spec())
    accept, review = _check_thresholds(thresholds, min_margin)
    q, kind = to_polars(queries, argument="queries")
    qcols = spec.left_columns + ([spec.query_id] if spec.query_id else [])
    require_columns(q, qcols, argument="queries")
    if isinstance(handelsregister, PreparedReference):
        prepared = handelsregister
        if (prepared.spec.fields, prepared.spec.blocking, prepared.spec.target) != (
            spec.fields, spec.blocking, spec.target
        ):
            msg = (
                "The prepared reference was made with other field comparisons, blocking or target "
                "than 'spec'. Hint: call prepare_reference(frame, spec=spec) with this spec."
            )
            raise ConfigError(msg)
    else:
        prepared = _prepare(handelsregister, spec=spec, warm_up=False)
    r = prepared.frame
    names = [f.name for f in spec.fields]
    target = spec.target
    wcols = [f"w_{n}" for n in names]

    # Canonical order: results must not depend on the row order of either input. Rows are
    # ordered by a fixed-seed hash of their standardised content (and target / query id);
    # rows with equal content are interchangeable, so their relative order does not matter.
    qstd, qdicts = _standardised(q, spec, "left")
    qs = qstd.with_row_index("__orig")
    if spec.query_id:
        qs = qs.with_columns(q[spec.query_id].cast(pl.Utf8).alias(spec.query_id))
    qcontent = names + ([spec.query_id] if spec.query_id else [])
    qs = qs.with_columns(
        qs.select(qcontent).hash_rows(seed=0).alias("__h")
    ).sort("__h", maintain_order=True)
    rs = prepared.standardised
    nq, nr = qs.height, rs.height
    qs = qs.with_row_index("q")

    cands, stats = candidate_pairs(qs.select("q", *names), prepared.index, spec.blocking)
    for st in stats:
        logger.debug("blocking pass %s: %d pairs, %d keys skipped", st.name, st.pairs,
                     st.skipped_keys)

    # With single-pass pruning, the model is still fitted on the candidate pairs *before*
    # pruning (the kept ones exactly, the pruned ones through a weighted seeded sample of
    # ``fit_pairs`` when there are more): the
    # kept pairs are mostly likely matches, and EM on them alone learns a different, more
    # lenient model. Only the kept pairs are scored; the posterior's prior share and its
    # number of competing targets also count the candidates before pruning.
    fit_pairs: tuple[npt.NDArray[np.integer], npt.NDArray[np.integer]] | None = None
    fit_weight = 1.0  # how many pruned pairs each sampled pruned pair stands for
    keep_mask: npt.NDArray[np.bool_] | None = None  # kept pairs, when all pairs are fitted on
    n_targets_before: npt.NDArray[np.int64] | None = None
    n_pairs_before = cands.height
    if spec.prune_min_passes is not None and cands.height:
        all_q = cands["q"].to_numpy()
        all_r = cands["r"].to_numpy()
        keep, n_targets_before = single_pass_pruning(
            np.searchsorted(all_q, np.arange(nq + 1, dtype=all_q.dtype)),
            cands["passes"].to_numpy(), rs["__tid"].to_numpy()[all_r], spec.prune_min_passes,
        )
        if keep.all():
            n_targets_before = None
        else:
            pruned = np.flatnonzero(~keep)
            if pruned.size > spec.fit_pairs:
                take = np.random.default_rng([seed, 1]).choice(
                    pruned.size, size=spec.fit_pairs, replace=False
                )
                sample = pruned[np.sort(take)]
                fit_pairs = (all_q[sample], all_r[sample])
                fit_weight = pruned.size / spec.fit_pairs
                cands = cands.filter(pl.Series(keep))
            else:
                keep_mask = keep  # few pairs: compare them all once, fit on all, score the kept
            logger.debug("single-pass pruning: %d of %d candidate pairs kept",
                         int(keep.sum()), n_pairs_before)

    n_levels = [f.n_levels for f in spec.fields]
    model: FellegiSunterModel | None = None
    scored_schema: dict[str, Any] = {"q": pl.UInt32, "r": pl.UInt32, "passes": pl.UInt32,
                                     "match_score": pl.Float64, **dict.fromkeys(wcols, pl.Float64)}
    if cands.height and nq:
        qi = cands["q"].to_numpy()
        ri = cands["r"].to_numpy()
        qorder = qs["__orig"].to_numpy()
        qdict = _FieldValues.of([_reordered(d, qorder) for d in qdicts])
        rdict = prepared._values
        levels = _levels(qdict, rdict, qi, ri, spec)
        fit_levels = levels
        fit_weights: npt.NDArray[np.float64] | None = None
        if fit_pairs is not None:  # the kept pairs exactly, the pruned ones from a sample
            sampled = _levels(qdict, rdict, *fit_pairs, spec)
            fit_levels = np.concatenate([levels, sampled])
            fit_weights = np.concatenate(
                [np.ones(levels.shape[0]), np.full(sampled.shape[0], fit_weight)]
            )
        if keep_mask is not None:  # fitted on every candidate, scored on the kept ones
            cands = cands.filter(pl.Series(keep_mask))
            levels = levels[keep_mask]
        u_cand = level_frequencies(fit_levels, n_levels, weights=fit_weights)
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
        lam0 = float(np.clip(min(nq, n_pairs_before) / (2.0 * n_pairs_before), 1e-4, 0.5))
        model = fit_fellegi_sunter(fit_levels, n_levels, u_init=u_init, lambda_init=lam0,
                                   max_iter=spec.max_iter, tol=spec.tol, weights=fit_weights)
        fw = [w[levels[:, j]] for j, w in enumerate(model.weights_)]
        total = np.full(levels.shape[0], model.prior_weight_)
        for col in fw:
            total += col
        scored = cands.with_columns(
            pl.Series("match_score", total),
            *(pl.Series(c, fw[j]) for j, c in enumerate(wcols)),
        )
    else:
        scored = pl.DataFrame(schema=scored_schema)

    # One candidate per query (numba, one pass over the pairs sorted by query): each
    # target's best record (ties: lowest ``r``), targets ranked by score (ties: the target
    # text, via its dense rank ``__tid``), and the query-level posterior under "at most one
    # true target per query" (see :mod:`kvklink.linkage._select`).
    qcol = scored["q"].to_numpy()
    rcol = scored["r"].to_numpy()
    score = scored["match_score"].to_numpy()
    tid_all = rs["__tid"].to_numpy()
    starts = np.searchsorted(qcol, np.arange(nq + 1, dtype=qcol.dtype if qcol.size else np.uint32))
    valid_flags = None
    if validity is not None and scored.height:
        with_target = scored.select("q").with_columns(rs["__target"].gather(scored["r"]))
        valid_flags = _valid_at_date(
            with_target, qs, q, validity, target=target, date_column=date_column
        ).to_numpy()
    prior_w = model.prior_weight_ if model is not None else 0.0
    p_any = (
        float(np.clip(model.lambda_ * n_pairs_before / max(nq, 1), 1e-3, 1.0 - 1e-3))
        if model is not None else 0.5
    )
    best, second, qprob = best_per_query(
        starts, tid_all[rcol] if rcol.size else np.zeros(0, dtype=np.uint32), score,
        rcol, p_any=p_any, prior_weight=prior_w, valid=valid_flags, n_targets=n_targets_before,
    )
    has_best = best >= 0
    has_second = second >= 0
    bi = np.where(has_best, best, 0)
    si = np.where(has_second, second, 0)
    best_r = rcol[bi] if rcol.size else np.zeros(nq, dtype=np.uint32)
    second_r = rcol[si] if rcol.size else np.zeros(nq, dtype=np.uint32)
    best_score = np.where(has_best, score[bi] if score.size else 0.0, np.nan)
    second_score = np.where(has_second, score[si] if score.size else 0.0, np.nan)
    n_cands = np.diff(starts).astype(np.int64)
    wvals = {
        c: np.where(has_best, scored[c].to_numpy()[bi] if score.size else 0.0, np.nan)
        for c in wcols
    }

    def _nullable(values: npt.NDArray[Any], present: npt.NDArray[np.bool_], name: str) -> pl.Series:
        return pl.Series(name, values).set(pl.Series(~present), None) if values.size else (
            pl.Series(name, values)
        )

    out = pl.DataFrame({
        "__orig": qs["__orig"],
        **({spec.query_id: qs[spec.query_id]} if spec.query_id else {}),
        "__target": rs["__target"].gather(pl.Series(best_r)).set(pl.Series(~has_best), None),
        "match_probability": _nullable(qprob, has_best, "match_probability"),
        "match_score": _nullable(best_score, has_best, "match_score"),
        "match_margin": _nullable(best_score - second_score, has_best & has_second,
                                  "match_margin"),
        "n_candidates": n_cands,
        "__rorig": rs["__orig"].gather(pl.Series(best_r)).set(pl.Series(~has_best), None),
        "__runner_up": rs["__target"].gather(pl.Series(second_r)).set(
            pl.Series(~has_second), None),
        "__runner_up_row": rs["__orig"].gather(pl.Series(second_r)).set(
            pl.Series(~has_second), None),
        **{c: _nullable(v, has_best, c) for c, v in wvals.items()},
    })
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
    # back to input order: ``__orig`` is a permutation of 0..nq-1
    to_input = np.argsort(qs["__orig"].to_numpy(), kind="stable")
    frame = out[to_input].select(
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
    parts = _CandidateParts(
        scored=scored, query_orig=qs["__orig"], target=rs["__target"], ref_orig=rs["__orig"],
        target_name=target, wcols=tuple(wcols),
    )
    return RecoveryResult(
        frame=like_input(frame, kind),
        candidate_parts=parts,
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
