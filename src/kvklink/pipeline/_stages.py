"""The pipeline stages: each reads the previous stage's outputs and writes its own.

Every stage is a function of a :class:`StageContext`. It reads inputs through the context
(configured input files, or outputs of earlier stages from the run directory), writes its
outputs into its own staging folder, and records a row ledger and metrics. The frame-level
work of the ``cohort`` and ``match`` stages lives in :func:`cohort_tables` and
:func:`match_tables`, which ``kvklink cohort`` / ``kvklink match`` call as well.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import polars as pl

from kvklink.cohort import match
from kvklink.cohort._effects import estimate_att
from kvklink.cohort._panel import event_study, group_time_att
from kvklink.cohort._spec import Cohort, CohortSpec, build_cohort
from kvklink.consent import ConsentPolicy
from kvklink.errors import InputError
from kvklink.identifiers import USABLE_KVK_REASONS, normalise_kvk
from kvklink.keys import PurposeKey
from kvklink.ledger import RowLedger
from kvklink.linkage import link, recover_kvk
from kvklink.pipeline._config import (
    CohortSection,
    EffectsSection,
    MatchingSection,
    PipelineConfig,
)
from kvklink.pipeline._io import read_table, write_json, write_parquet, write_text
from kvklink.pseudonymise import pseudonymise

__all__ = [
    "STAGES",
    "StageContext",
    "cohort_spec",
    "cohort_tables",
    "match_tables",
    "outcome_change",
]

#: Name of the outcome-change column the ``match`` stage adds (the ATT's outcome).
OUTCOME_CHANGE = "outcome_change"


@dataclass
class StageContext:
    """What a stage sees: the config, where to read and where to write, and what it records."""

    config: PipelineConfig
    stage: str
    run_dir: Path
    staging: Path
    computed: frozenset[str]
    key: Callable[[], PurposeKey]
    ledger: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    # -------------------------------------------------------------------- reading
    def path(self, stage: str, name: str) -> Path:
        """Path of output ``name`` of ``stage`` (this run's, else the committed one)."""
        base = self.staging if stage in self.computed else self.run_dir
        path = base / stage / name
        if not path.is_file():
            msg = (
                f"Stage {self.stage!r} needs {stage}/{name}, which does not exist. Hint: run "
                f"stage {stage!r} first (kvklink run CONFIG --stage {stage})."
            )
            raise InputError(msg)
        return path

    def read_parquet(self, stage: str, name: str) -> pl.DataFrame:
        """An earlier stage's Parquet output."""
        return pl.read_parquet(self.path(stage, name))

    def read_json(self, stage: str, name: str) -> Any:
        """An earlier stage's JSON output."""
        return json.loads(self.path(stage, name).read_text(encoding="utf-8"))

    def read_input(self, name: str) -> pl.DataFrame:
        """A configured input table, with kvklink's column names."""
        spec = self.config.input_files()[name]
        return read_table(self.config.resolve(spec.path), spec, name=name)

    # -------------------------------------------------------------------- writing
    def out(self, name: str) -> Path:
        """Where this stage writes its output ``name``."""
        path = self.staging / self.stage / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write_parquet(self, name: str, frame: pl.DataFrame) -> None:
        """Write a table (deterministic settings)."""
        write_parquet(frame, self.out(name))

    def write_json(self, name: str, obj: Any) -> None:
        """Write a JSON document (sorted keys)."""
        write_json(obj, self.out(name))

    def write_text(self, name: str, text: str) -> None:
        """Write a text document."""
        write_text(text, self.out(name))


def _sorted(frame: pl.DataFrame, *first: str) -> pl.DataFrame:
    """A fixed row order: by ``first`` columns, then every other column."""
    keys = [c for c in first if c in frame.columns]
    rest = [c for c in frame.columns if c not in keys and frame.schema[c] != pl.List]
    return frame.sort([*keys, *rest], nulls_last=True, maintain_order=True)


class _Recorder(warnings.catch_warnings):
    """Collect the warnings of a block as one-line messages (they hold no record values)."""

    def __init__(self, sink: list[str]) -> None:
        super().__init__(record=True)
        self._sink = sink
        self._log: list[warnings.WarningMessage] | None = None

    def __enter__(self) -> Any:
        self._log = super().__enter__()
        warnings.simplefilter("always")
        return self._log

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        for w in self._log or []:
            self._sink.append(f"{w.category.__name__}: {w.message}")


# ---------------------------------------------------------------------------- pseudonymise


def _recover(
    ctx: StageContext, interactions: pl.DataFrame, policy: ConsentPolicy
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Recover unusable KVK numbers of consenting rows against the Handelsregister."""
    cfg = ctx.config.recovery
    normalised = cast(pl.DataFrame, normalise_kvk(interactions.get_column("kvk_nummer")))
    reason = normalised.get_column("reason")
    consented = policy.outcomes(interactions) == "consented"
    need = (~reason.is_in(sorted(USABLE_KVK_REASONS))) & consented
    indexed = interactions.with_row_index("__row")
    queries = indexed.filter(need)
    counts = {"queries": queries.height, "accepted": 0, "review": 0, "rejected": 0, "used": 0}
    status = pl.Series("recovery_status", [None] * interactions.height, dtype=pl.Utf8)
    if queries.height == 0:
        return interactions.with_columns(status), counts
    handelsregister = ctx.read_input("handelsregister")
    result = recover_kvk(
        queries.drop("__row"),
        handelsregister,
        thresholds=(cfg.accept, cfg.review),
        min_margin=cfg.min_margin,
        seed=cfg.seed,
    )
    found: pl.DataFrame = result.frame
    statuses = found.get_column("status")
    use = statuses == "accepted"
    if cfg.use_review:
        use = use | (statuses == "review")
    recovered = pl.DataFrame(
        {
            "__row": queries.get_column("__row"),
            "__kvk": found.get_column("kvk_nummer").zip_with(use, pl.Series([None], dtype=pl.Utf8)),
            "recovery_status": statuses,
        }
    )
    for name in ("accepted", "review", "rejected"):
        counts[name] = int((statuses == name).sum())
    counts["used"] = int(use.sum())
    original = pl.col("kvk_nummer").cast(pl.Utf8)
    if interactions.schema["kvk_nummer"] != pl.Utf8:
        # numeric input: keep the normalised number (a 7-digit number is padded) so that
        # the text column still pseudonymises the same KVK number
        indexed = indexed.with_columns(normalised.get_column("kvk").alias("__norm"))
        original = pl.coalesce(pl.col("__norm"), original)
    merged = (
        indexed.join(recovered, on="__row", how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.col("__kvk").is_not_null())
            .then(pl.col("__kvk"))
            .otherwise(original)
            .alias("kvk_nummer")
        )
        .drop("__row", "__kvk", "__norm", strict=False)
    )
    return merged, counts


def stage_pseudonymise(ctx: StageContext) -> None:
    """Data holder: recover (optional), consent, pseudonymise; register holder: the history."""
    config = ctx.config
    key = ctx.key()
    policy = ConsentPolicy(config.purpose, config.as_of)
    interactions = ctx.read_input("interactions")
    keep = list(config.inputs.interactions.keep)
    recovery: dict[str, int] | None = None
    if config.recovery.enabled:
        with _Recorder(ctx.warnings):
            interactions, recovery = _recover(ctx, interactions, policy)
        keep.append("recovery_status")
    with _Recorder(ctx.warnings):
        inter = pseudonymise(interactions, key=key, consent=policy, keep=keep)
        history = ctx.read_input("kvk_history")
        hist = pseudonymise(
            history, key=key, consent=None, keep=["be_id", "valid_from", "valid_to"]
        )
    ctx.write_parquet("interactions.parquet", _sorted(inter.frame, "interaction_id", "pseudonym"))
    ctx.write_parquet("kvk_history.parquet", _sorted(hist.frame, "pseudonym", "valid_from"))
    ctx.write_text("interactions.ledger.json", inter.ledger.to_json())
    ctx.write_text("kvk_history.ledger.json", hist.ledger.to_json())
    ctx.ledger = {
        "interactions": inter.ledger.to_dict(),
        "kvk_history": hist.ledger.to_dict(),
    }
    if recovery is not None:
        ctx.write_json("recovery.json", recovery)
        ctx.ledger["recovery"] = {
            "input": recovery["queries"],
            "outcomes": {k: recovery[k] for k in ("accepted", "review", "rejected")},
            "used": recovery["used"],
        }
    ctx.metrics = {"key_id": key.key_id, "scheme_version": key.scheme_version}


# ---------------------------------------------------------------------------------- link


def stage_link(ctx: StageContext) -> None:
    """Link pseudonymised interactions to the BE valid at each date."""
    config = ctx.config
    inter = ctx.read_parquet("pseudonymise", "interactions.parquet")
    hist = ctx.read_parquet("pseudonymise", "kvk_history.parquet")
    ledger = RowLedger.from_json(
        ctx.path("pseudonymise", "interactions.ledger.json").read_text(encoding="utf-8")
    )
    with _Recorder(ctx.warnings):
        result = link(
            inter,
            hist,
            ledger=ledger,
            on_overlap=config.linkage.on_overlap,
            history_check=config.linkage.history_check,
        )
    ctx.write_parquet("linked.parquet", _sorted(result.frame, "interaction_id", "pseudonym"))
    ctx.write_text("ledger.json", result.ledger.to_json())
    ctx.ledger = {"interactions": result.ledger.to_dict()}
    ctx.metrics = {"link_counts": dict(result.counts)}


# -------------------------------------------------------------------------------- cohort


def cohort_spec(section: CohortSection) -> CohortSpec:
    """The :class:`~kvklink.CohortSpec` of a ``[cohort]`` config section."""
    return CohortSpec(
        window=(section.window[0], section.window[1]),
        activities=section.activities,
        statutory_task=section.statutory_task,
        controls=section.controls,
        horizon_years=section.horizon_years,
        pre_years=section.pre_years,
        size_bands=section.size_bands,
        legal_forms=section.legal_forms,
        sections=section.sections,
        regions=section.regions,
        outcomes=tuple(section.outcomes),
    )


def cohort_tables(
    linked: pl.DataFrame, register: pl.DataFrame, section: CohortSection
) -> tuple[Cohort, pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """Build the cohort: ``(cohort, units, panel, ledger)`` with a fixed row order."""
    if "link_status" in linked.columns:
        linked = linked.filter(pl.col("link_status") == "linked")
    cohort = build_cohort(linked, register, cohort_spec(section))
    units = _sorted(cohort.units, "cohort_id")
    panel = _sorted(cohort.panel, "cohort_id", "event_time")
    outcomes = {k: int(v) for k, v in cohort.treated_outcomes.items()}
    ledger = {
        "input": sum(outcomes.values()),
        "input_meaning": "business units with a qualifying linked interaction",
        "outcomes": outcomes,
        "units": {
            "treated": cohort.n_treated,
            "control_rows": int(cohort.control_rows),
            "total": units.height,
        },
    }
    return cohort, units, panel, ledger


def stage_cohort(ctx: StageContext) -> None:
    """Treated units, index dates, the control pool, covariates and the outcome panel."""
    linked = ctx.read_parquet("link", "linked.parquet")
    register = ctx.read_input("register")
    with _Recorder(ctx.warnings):
        _cohort, units, panel, ledger = cohort_tables(linked, register, ctx.config.cohort)
    ctx.write_parquet("units.parquet", units)
    ctx.write_parquet("panel.parquet", panel)
    ctx.write_json("cohort.json", ledger)
    ctx.ledger = ledger


# --------------------------------------------------------------------------------- match


def _transform(expr: pl.Expr, transform: str) -> pl.Expr:
    if transform == "log":
        return pl.when(expr > 0).then(expr.cast(pl.Float64).log()).otherwise(None)
    if transform == "log1p":
        return pl.when(expr > -1).then(expr.cast(pl.Float64).log1p()).otherwise(None)
    return expr.cast(pl.Float64)


def outcome_change(panel: pl.DataFrame, effects: EffectsSection, horizon: int) -> pl.DataFrame:
    """Per ``cohort_id``: change of the transformed outcome from event time -1 to ``horizon``."""
    y = _transform(pl.col(effects.outcome), effects.transform)
    pre = panel.filter(pl.col("event_time") == -1).select("cohort_id", y.alias("__pre"))
    post = panel.filter(pl.col("event_time") == horizon).select("cohort_id", y.alias("__post"))
    return pre.join(post, on="cohort_id", how="inner").select(
        "cohort_id", (pl.col("__post") - pl.col("__pre")).alias(OUTCOME_CHANGE)
    )


def match_tables(
    units: pl.DataFrame,
    panel: pl.DataFrame | None,
    matching: MatchingSection,
    *,
    covariates: list[str],
    effects: EffectsSection | None,
    horizon: int,
    warnings_sink: list[str],
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """Match the cohort units: ``(analysis units with weights, balance table, ledger)``.

    Units without the outcome change (when ``panel`` is given) or with a missing covariate
    are counted and left out; the rest are matched with ``matching``'s settings.
    """
    frame = units
    needed = [*covariates, *(matching.exact or [])]
    if panel is not None and effects is not None:
        frame = frame.join(outcome_change(panel, effects, horizon), on="cohort_id", how="left")
        needed.append(OUTCOME_CHANGE)
    missing_cols = [c for c in needed if c not in frame.columns]
    if missing_cols:
        msg = (
            f"matching: {len(missing_cols)} column(s) not in the cohort units: "
            f"{', '.join(missing_cols)}. Hint: use the cohort's covariates and strata."
        )
        raise InputError(msg)
    complete = pl.all_horizontal(
        [
            pl.col(c).is_not_null()
            & (pl.col(c).is_finite() if frame.schema[c].is_float() else True)
            for c in needed
        ]
    )
    frame = frame.with_columns(complete.alias("__complete"))
    dropped = frame.filter(~pl.col("__complete"))
    analysis = frame.filter(pl.col("__complete")).drop("__complete")
    with _Recorder(warnings_sink):
        result = match(
            analysis,
            treatment="treat",
            covariates=covariates,
            method=matching.method,
            distance=matching.distance,
            exact=matching.exact,
            ratio=matching.ratio,
            replace=matching.replace,
            caliper=matching.caliper,
            order=matching.order,
            random_state=matching.random_state,
        )
        balance = result.balance().to_frame()
    weights = np.asarray(result.weights_, dtype=np.float64)
    discarded = np.asarray(result.discarded_, dtype=bool)
    status = np.where(weights > 0, "matched", np.where(discarded, "discarded", "unmatched"))
    cols: list[pl.Series] = [
        pl.Series("weights", weights),
        pl.Series("subclass", np.asarray(result.subclass_, dtype=np.int64)),
        pl.Series("match_status", status),
    ]
    if result.distance_ is not None:
        cols.append(pl.Series("distance", np.asarray(result.distance_, dtype=np.float64)))
    out = _sorted(analysis.with_columns(cols), "cohort_id")
    treat = out.get_column("treat").cast(pl.Boolean)
    outcomes: dict[str, int] = {}
    d_treat = dropped.get_column("treat").cast(pl.Boolean)
    outcomes["treated_dropped_missing_data"] = int(d_treat.sum())
    outcomes["control_dropped_missing_data"] = int((~d_treat).sum())
    for group, mask in (("treated", treat), ("control", ~treat)):
        st = out.filter(mask).get_column("match_status")
        for name in ("matched", "unmatched", "discarded"):
            outcomes[f"{group}_{name}"] = int((st == name).sum())
    ledger = {"input": units.height, "input_meaning": "cohort units", "outcomes": outcomes}
    return out, balance, ledger


def stage_match(ctx: StageContext) -> None:
    """Outcome change per unit, then matching on the pre-treatment covariates; balance."""
    config = ctx.config
    units = ctx.read_parquet("cohort", "units.parquet")
    panel = ctx.read_parquet("cohort", "panel.parquet")
    covariates = config.matching.covariates or cohort_spec(config.cohort).covariates()
    out, balance, ledger = match_tables(
        units,
        panel,
        config.matching,
        covariates=covariates,
        effects=config.effects,
        horizon=config.horizon,
        warnings_sink=ctx.warnings,
    )
    ctx.write_parquet("units.parquet", out)
    ctx.write_parquet("balance.parquet", balance)
    ctx.write_json("match.json", {**ledger, "covariates": covariates})
    ctx.ledger = ledger


# ------------------------------------------------------------------------------- effects


def _est_dict(est: Any) -> dict[str, Any]:
    keys = (
        "estimate",
        "se",
        "se_kind",
        "ci_low",
        "ci_high",
        "level",
        "p_value",
        "n_treated",
        "n_control",
        "n_clusters",
    )
    out: dict[str, Any] = {}
    for k in keys:
        v = getattr(est, k, None)
        if isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


def _planted(ctx: StageContext, matched_treated: pl.DataFrame) -> float | None:
    """Planted effect (synthetic truth) of the matched treated units on the ATT's scale."""
    path = ctx.config.validation.planted_effects
    if path is None or ctx.config.effects.transform != "log":
        return None
    h = ctx.config.horizon
    eff = pl.read_parquet(ctx.config.resolve(path)).select(
        "be_id", pl.col("year").cast(pl.Int32), "effect_log"
    )
    frame = (
        matched_treated.select("be_id", pl.col("index_year").cast(pl.Int32), "weights")
        .with_columns(
            (pl.col("index_year") + h).alias("y_post"), (pl.col("index_year") - 1).alias("y_pre")
        )
        .join(
            eff.rename({"year": "y_post", "effect_log": "e_post"}),
            on=["be_id", "y_post"],
            how="left",
        )
        .join(
            eff.rename({"year": "y_pre", "effect_log": "e_pre"}), on=["be_id", "y_pre"], how="left"
        )
    )
    if frame.height == 0:
        return None
    diff = (frame["e_post"].fill_null(0.0) - frame["e_pre"].fill_null(0.0)).to_numpy()
    w = frame["weights"].to_numpy()
    return float(np.sum(diff * w) / np.sum(w))


def _group_time(ctx: StageContext, units: pl.DataFrame) -> dict[str, Any]:
    """Callaway–Sant'Anna ATT(g, t) on the register panel of the cohort's business units."""
    config = ctx.config
    linked = ctx.read_parquet("link", "linked.parquet").filter(pl.col("link_status") == "linked")
    spec = cohort_spec(config.cohort)
    if spec.activities is not None and "activity" in linked.columns:
        linked = linked.filter(pl.col("activity").cast(pl.Utf8).is_in(list(spec.activities)))
    if spec.statutory_task is not None and "statutory_task" in linked.columns:
        linked = linked.filter(
            pl.col("statutory_task").cast(pl.Utf8).is_in(list(spec.statutory_task))
        )
    first = linked.group_by("be_id").agg(pl.col("date").min().dt.year().alias("group"))
    ids = (
        units.select("be_id")
        .unique()
        .join(first, on="be_id", how="left")
        .with_columns(pl.col("group").fill_null(0).cast(pl.Int64))
    )
    register = ctx.read_input("register")
    y = _transform(pl.col(config.effects.outcome), config.effects.transform)
    panel = (
        register.select("be_id", pl.col("year").cast(pl.Int64), y.alias("__y"))
        .join(ids, on="be_id", how="inner")
        .drop_nulls("__y")
        .sort("be_id", "year")
    )
    with _Recorder(ctx.warnings):
        gt = group_time_att(
            panel,
            unit="be_id",
            time="year",
            outcome="__y",
            group="group",
            control=config.effects.group_time_control,
            level=config.effects.level,
        )
        dyn = gt.aggregate("dynamic")
    table: pl.DataFrame = gt.table
    ctx.write_parquet("group_time.parquet", table.sort("group", "time"))
    ctx.write_parquet("group_time_dynamic.parquet", dyn.table.sort("event_time"))
    return {
        "overall": {k: float(v) for k, v in dyn.overall.items()},
        "n_units": int(gt.n_units),
        "n_dropped": {k: int(v) for k, v in gt.n_dropped.items()},
        "control": config.effects.group_time_control,
        "pretrend_test": {k: float(v) for k, v in gt.pretrend_test().items()},
    }


def stage_effects(ctx: StageContext) -> None:
    """Matched ATT on the outcome change, the naive gap, the event study and group-time ATTs."""
    config = ctx.config
    eff = config.effects
    units = ctx.read_parquet("match", "units.parquet")
    matched = units.filter(pl.col("weights") > 0)
    if matched.height == 0:
        msg = "No matched units: no effect can be estimated. Hint: relax the matching spec."
        raise InputError(msg)
    y = matched.get_column(OUTCOME_CHANGE).to_numpy()
    t = matched.get_column("treat").cast(pl.Int8).to_numpy()
    w = matched.get_column("weights").to_numpy()
    subclass = matched.get_column("subclass").to_numpy()
    use_subclass = bool(np.all(subclass >= 0))
    with _Recorder(ctx.warnings):
        att = estimate_att(y, t, w, subclass=subclass if use_subclass else None, level=eff.level)
        naive = estimate_att(
            units.get_column(OUTCOME_CHANGE).to_numpy(),
            units.get_column("treat").cast(pl.Int8).to_numpy(),
            level=eff.level,
        )
    planted = _planted(ctx, matched.filter(pl.col("treat").cast(pl.Boolean)))
    result: dict[str, Any] = {
        "outcome": eff.outcome,
        "transform": eff.transform,
        "horizon": config.horizon,
        "description": (
            f"change in {eff.transform}({eff.outcome}) from event time -1 to {config.horizon}"
        ),
        "matched_att": _est_dict(att),
        "naive_difference": _est_dict(naive),
        "planted_effect": planted,
        "planted_covered": (
            None if planted is None else bool(att.ci_low <= planted <= att.ci_high)
        ),
    }
    # event study on the matched panel
    panel = ctx.read_parquet("cohort", "panel.parquet")
    ylong = _transform(pl.col(eff.outcome), eff.transform)
    mpanel = (
        panel.join(matched.select("cohort_id", "weights", "subclass"), on="cohort_id", how="inner")
        .with_columns(ylong.alias("__y"), pl.col("treat").cast(pl.Int8))
        .drop_nulls("__y")
        .sort("cohort_id", "event_time")
    )
    window = eff.event_window or (-config.cohort.pre_years, config.horizon)
    with _Recorder(ctx.warnings):
        es = event_study(
            mpanel,
            unit="cohort_id",
            time="year",
            outcome="__y",
            treat="treat",
            index_time="index_year",
            weights="weights",
            cluster="subclass" if use_subclass else None,
            window=(window[0], window[1]),
            reference=-1,
            trend=eff.event_trend,
            level=eff.level,
        )
    ctx.write_parquet("event_study.parquet", es.to_frame().sort("event_time"))
    result["event_study_overall"] = {k: float(v) for k, v in es.overall.items()}
    if eff.group_time:
        result["group_time"] = _group_time(ctx, ctx.read_parquet("cohort", "units.parquet"))
    ctx.write_json("effects.json", _clean(result))
    n_t = int(t.sum())
    ctx.ledger = {
        "input": units.height,
        "input_meaning": "analysis units of the match stage",
        "outcomes": {
            "matched_treated": n_t,
            "matched_control": matched.height - n_t,
            "not_matched": units.height - matched.height,
        },
    }
    ctx.metrics = {
        "matched_att": result["matched_att"],
        "planted_effect": planted,
        "planted_covered": result["planted_covered"],
        "naive_difference": result["naive_difference"]["estimate"],
    }


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf become None."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def stage_report(ctx: StageContext) -> None:
    """The HTML and Markdown run report (every table through disclosure control)."""
    from kvklink.pipeline._report import build_report

    build_report(ctx)


#: The stages in order: (name, function).
STAGES: tuple[tuple[str, Callable[[StageContext], None]], ...] = (
    ("pseudonymise", stage_pseudonymise),
    ("link", stage_link),
    ("cohort", stage_cohort),
    ("match", stage_match),
    ("effects", stage_effects),
    ("report", stage_report),
)
