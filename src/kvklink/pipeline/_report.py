"""The run report: one self-contained HTML file and one Markdown file.

Every table passes disclosure control with the configured :class:`~kvklink.DisclosurePolicy`:
count tables through :func:`kvklink.protect_table` (primary and secondary suppression with
margins), tables of statistics (means, SMDs, estimates) row by row — a row is published only
when every group count behind it (and, for binary covariates, the implied number of units with
and without the characteristic) reaches ``min_units``; the check itself runs through
:func:`kvklink.protect_table` on those counts. Suppressed cells show the policy's marker.
The report holds aggregates only: no BE ids, pseudonyms or KVK numbers, and no timestamps, so
the same run gives the same bytes. Every published table is also written as data
(``report/tables.json``) for audits.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from kvklink.cohort._balance import BALANCE_STATISTICS
from kvklink.disclosure import (
    TOTAL_LABEL,
    Cell,
    DisclosurePolicy,
    ProtectedTable,
    protect_jointly,
    protect_table,
)
from kvklink.ledger import RowLedger
from kvklink.linkage import linkage_report
from kvklink.pipeline._io import write_bytes

if TYPE_CHECKING:
    from kvklink.pipeline._stages import StageContext

__all__ = ["ReportTable", "build_report", "render_html", "render_markdown"]


@dataclass
class ReportTable:
    """A published table: header, rows as text, and which columns are unit counts."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    count_columns: list[str] = field(default_factory=list)
    note: str = ""
    values: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Section:
    title: str
    blocks: list[Any] = field(default_factory=list)  # str (paragraph) | ReportTable | _Raw | _Img


@dataclass
class _Raw:
    markdown: str
    html: str


@dataclass
class _Img:
    name: str
    png: bytes
    alt: str


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value)}"
    if isinstance(value, float | np.floating):
        v = float(value)
        if not np.isfinite(v):
            return "–"
        return f"{v:.{digits}f}"
    return str(value)


def _protected_to_table(name: str, title: str, table: ProtectedTable) -> ReportTable:
    wide = table.to_wide()
    frame: pl.DataFrame = (
        table._cells if isinstance(table.frame, pl.DataFrame) else pl.from_pandas(table.frame)
    )
    return ReportTable(
        name=name,
        title=title,
        columns=[str(c) for c in wide.columns],
        rows=[[str(v) for v in row] for row in wide.iter_rows()],
        count_columns=["unit_count", "value"] if table.kind == "count" else ["unit_count"],
        note=(
            f"{table.parameters['policy']['marker']} suppressed (disclosure control: "
            f"{table.n_primary} primary, {table.n_secondary} secondary)."
        ),
        values=frame.select(pl.exclude("reason")).to_dicts(),
    )


def _match_sizes(outcomes: dict[str, Any]) -> pl.DataFrame:
    """Units by coarse matching status × group (``treated_matched`` … → matched / not)."""
    # Coarse statuses keep small cells (e.g. one unmatched treated unit) out of the table.
    coarse: dict[tuple[str, str], int] = {}
    for key, count in outcomes.items():
        group, _, status = key.partition("_")
        label = "matched" if status == "matched" else "not matched or dropped"
        coarse[(label, group)] = coarse.get((label, group), 0) + int(count)
    return pl.DataFrame(
        {
            "status": [k[0] for k in coarse],
            "group": [k[1] for k in coarse],
            "unit_count": list(coarse.values()),
        }
    )


def _protect_cohort_counts(
    outcomes: pl.DataFrame,
    by_year: pl.DataFrame,
    sizes: pl.DataFrame,
    *,
    policy: DisclosurePolicy,
    one_to_one: bool,
) -> dict[str, ProtectedTable]:
    """The cohort outcome, cohort size and matching tables, protected together.

    They share their treated and control totals (:func:`_shared_cohort_cells`), so each
    table being safe alone is not enough.
    """
    return protect_jointly(
        {
            "cohort_outcomes": lambda extra: protect_table(
                outcomes, rows="outcome", policy=policy, suppress=extra
            ),
            "cohort_sizes": lambda extra: protect_table(
                by_year, rows="index_year", columns="group", policy=policy, suppress=extra
            ),
            "match_sizes": lambda extra: protect_table(
                sizes, rows="status", columns="group", policy=policy, suppress=extra
            ),
        },
        _shared_cohort_cells(
            outcomes.get_column("outcome").cast(pl.Utf8).to_list(),
            by_year.get_column("group").to_list(),
            sizes.get_column("group").to_list(),
            one_to_one=one_to_one,
        ),
    )


def _shared_cohort_cells(
    outcome_labels: list[str],
    cohort_groups: list[str],
    match_groups: list[str],
    *,
    one_to_one: bool,
) -> list[list[Cell]]:
    """Cells the cohort and matching tables share (each group is one number).

    The treated total is the ``treated`` cohort outcome; the control and grand totals of the
    cohort sizes are those of the matching table; in 1:1 matching without replacement the
    matched controls are as many as the matched treated units (a reader knows that from the
    method, so the audit must too). Only cells both tables have are paired.
    """
    both = [g for g in ("treated", "control") if g in cohort_groups and g in match_groups]
    groups: list[list[Cell]] = [
        [("cohort_sizes", (TOTAL_LABEL, g)), ("match_sizes", (TOTAL_LABEL, g))]
        for g in [*both, TOTAL_LABEL]
    ]
    if "treated" in outcome_labels and "treated" in cohort_groups:
        groups.append(
            [("cohort_outcomes", ("treated",)), ("cohort_sizes", (TOTAL_LABEL, "treated"))]
        )
    if one_to_one and "treated" in both and "control" in both:
        groups.append(
            [("match_sizes", ("matched", "treated")), ("match_sizes", ("matched", "control"))]
        )
    return groups


def _stat_rows_published(
    labels: list[str], counts: dict[str, list[int]], policy: DisclosurePolicy
) -> list[bool]:
    """Which statistic rows may be published: every count cell of the row passes the rules."""
    if not labels:
        return []
    strict = dataclasses.replace(policy, protect_zeros=True)
    groups = list(counts)
    cells = pl.DataFrame(
        {
            "__row": [f"{i:06d}" for i in range(len(labels)) for _ in groups],
            "__group": [g for _ in labels for g in groups],
            "unit_count": [max(int(counts[g][i]), 0) for i in range(len(labels)) for g in groups],
        }
    )
    protected = protect_table(cells, rows="__row", columns="__group", policy=strict, margins=False)
    frame: pl.DataFrame = protected.frame
    bad = set(frame.filter(pl.col("suppressed")).get_column("__row").to_list())
    return [f"{i:06d}" not in bad for i in range(len(labels))]


def _stat_table(
    name: str,
    title: str,
    frame: pl.DataFrame,
    *,
    label_columns: list[str],
    stat_columns: list[str],
    count_columns: list[str],
    policy: DisclosurePolicy,
    extra_counts: dict[str, list[int]] | None = None,
    blocked: list[bool] | None = None,
    note: str = "",
    digits: int = 4,
) -> tuple[ReportTable, list[bool]]:
    labels = [" / ".join(str(r[c]) for c in label_columns) for r in frame.iter_rows(named=True)]
    counts = {c: [int(v or 0) for v in frame.get_column(c).to_list()] for c in count_columns}
    counts.update(extra_counts or {})
    published = _stat_rows_published(labels, counts, policy)
    n_dominated = 0
    if blocked is not None:
        n_dominated = sum(1 for ok, b in zip(published, blocked, strict=True) if ok and b)
        published = [ok and not b for ok, b in zip(published, blocked, strict=True)]
    marker = policy.marker
    rows: list[list[str]] = []
    values: list[dict[str, Any]] = []
    for ok, rec in zip(published, frame.iter_rows(named=True), strict=True):
        shown = [str(rec[c]) for c in label_columns]
        data: dict[str, Any] = {c: rec[c] for c in label_columns}
        for c in [*stat_columns, *count_columns]:
            if ok:
                shown.append(_fmt(rec[c], digits) if c in stat_columns else _fmt(rec[c]))
                data[c] = rec[c]
            else:
                shown.append(marker)
                data[c] = marker
        rows.append(shown)
        values.append(data)
    n_sup = published.count(False) - n_dominated
    full_note = (note + " " if note else "") + (
        f"{marker} suppressed: {n_sup} row(s) with a group of fewer than {policy.min_units} units."
        if n_sup
        else f"All rows have at least {policy.min_units} units per group."
    )
    if n_dominated:
        full_note += (
            f" {marker} suppressed: {n_dominated} row(s) whose mean is dominated by a few units "
            f"(({policy.dominance_n}, {policy.dominance_k}) dominance or p% rule)."
        )
    table = ReportTable(
        name=name,
        title=title,
        columns=[*label_columns, *stat_columns, *count_columns],
        rows=rows,
        count_columns=count_columns,
        note=full_note,
        values=values,
    )
    return table, published


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, metadata={"Software": None})
    return buf.getvalue()


def _love_plot(balance: pl.DataFrame, threshold: float = 0.1) -> bytes | None:
    from matplotlib.figure import Figure

    if balance.height == 0:
        return None
    variables = list(dict.fromkeys(balance.get_column("variable").to_list()))
    fig = Figure(figsize=(6.0, 1.2 + 0.3 * len(variables)), layout="constrained")
    ax = fig.add_subplot()
    ypos = {v: len(variables) - 1 - i for i, v in enumerate(variables)}
    for sample, face in (("before", "none"), ("after", "C1")):
        part = balance.filter(pl.col("sample") == sample)
        if part.height:
            ax.scatter(
                np.abs(part.get_column("std_mean_diff").to_numpy()),
                [ypos[v] for v in part.get_column("variable").to_list()],
                edgecolors="C0" if sample == "before" else "C1",
                label=sample,
                facecolors=face,
            )
    ax.axvline(threshold, linestyle="--", color="grey", linewidth=1)
    ax.set_yticks(range(len(variables)), list(reversed(variables)))
    ax.set_xlabel("|standardised mean difference|")
    ax.legend(loc="lower right")
    return _png(fig)


def _event_plot(frame: pl.DataFrame, title: str) -> bytes | None:
    from matplotlib.figure import Figure

    if frame.height == 0:
        return None
    fig = Figure(figsize=(6.0, 3.6), layout="constrained")
    ax = fig.add_subplot()
    x = frame.get_column("event_time").to_numpy()
    est = frame.get_column("estimate").to_numpy()
    lo = frame.get_column("ci_low").to_numpy()
    hi = frame.get_column("ci_high").to_numpy()
    ax.errorbar(x, est, yerr=[est - lo, hi - est], fmt="o", capsize=3)
    if -1 not in set(x.tolist()):  # the reference period, zero by construction
        ax.plot([-1], [0.0], marker="o", markerfacecolor="none", color="C0", linestyle="none")
    ax.axhline(0.0, color="grey", linewidth=1)
    ax.axvline(-0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("event time (years from the index year)")
    ax.set_ylabel("effect")
    ax.set_title(title)
    return _png(fig)


def _dominated_rows(
    balance: pl.DataFrame, units: pl.DataFrame, policy: DisclosurePolicy
) -> list[bool]:
    """Balance rows whose group mean of a non-negative continuous covariate is dominated.

    Each (row, group) cell is a magnitude cell — total ``sum(w * x)`` over the sample's units,
    contributions ``w * x`` — checked with :func:`kvklink.protect_table`'s dominance and
    p% rules (no margins). Binary, negative-valued and derived (``distance``) rows pass.
    """
    keep = max(policy.dominance_n, 2)
    treat = units.get_column("treat").cast(pl.Boolean).to_numpy()
    weights = units.get_column("weights").to_numpy()
    cells: list[dict[str, Any]] = []
    rows: list[int] = []
    for i, rec in enumerate(balance.iter_rows(named=True)):
        var = rec["variable"]
        if rec["type"] != "continuous" or var == "distance" or var not in units.columns:
            continue
        x = units.get_column(var).cast(pl.Float64).to_numpy()
        if np.nanmin(x) < 0:
            continue
        rows.append(i)
        for group, mask in (("treated", treat), ("control", ~treat)):
            w = np.ones_like(x) if rec["sample"] == "before" else weights
            sel = mask & (w > 0)
            contrib = (x * w)[sel]
            top = np.sort(contrib)[::-1][:keep]
            cells.append(
                {
                    "__row": f"{i:06d}",
                    "__group": group,
                    "unit_count": int(sel.sum()),
                    "value": float(contrib.sum()),
                    "contributions": [float(v) for v in top],
                }
            )
    blocked = [False] * balance.height
    if not cells:
        return blocked
    frame = pl.DataFrame(
        cells,
        schema={
            "__row": pl.Utf8,
            "__group": pl.Utf8,
            "unit_count": pl.Int64,
            "value": pl.Float64,
            "contributions": pl.List(pl.Float64),
        },
    )
    protected = protect_table(
        frame,
        rows="__row",
        columns="__group",
        value="value",
        contributions="contributions",
        policy=policy,
        margins=False,
    )
    out: pl.DataFrame = protected.frame
    bad = out.filter(pl.col("suppressed") & pl.col("reason").is_in(["dominance", "p_percent"]))
    for label in bad.get_column("__row").to_list():
        blocked[int(label)] = True
    return blocked


def _binary_counts(frame: pl.DataFrame) -> dict[str, list[int]]:
    """Implied units with/without a binary characteristic per group (for the threshold)."""
    out: dict[str, list[int]] = {
        "ones_treated": [],
        "zeros_treated": [],
        "ones_control": [],
        "zeros_control": [],
    }
    for rec in frame.iter_rows(named=True):
        for g in ("treated", "control"):
            n = int(rec[f"n_{g}"] or 0)
            if rec["type"] == "binary" and rec[f"mean_{g}"] is not None:
                ones = round(float(rec[f"mean_{g}"]) * n)
                out[f"ones_{g}"].append(ones)
                out[f"zeros_{g}"].append(n - ones)
            else:
                out[f"ones_{g}"].append(n)
                out[f"zeros_{g}"].append(n)
    return out


def build_report(ctx: StageContext) -> None:
    """Write ``report/report.html``, ``report/report.md``, plots and ``report/tables.json``."""
    from kvklink import __version__
    from kvklink.pipeline._config import config_hash

    config = ctx.config
    policy = DisclosurePolicy(**config.disclosure.model_dump())
    sections: list[_Section] = []
    images: list[_Img] = []

    # --- run --------------------------------------------------------------------------
    pseudo_ledger = RowLedger.from_json(
        ctx.path("pseudonymise", "interactions.ledger.json").read_text(encoding="utf-8")
    )
    context = pseudo_ledger.context
    run = _Section("Run")
    run.blocks.append(
        ReportTable(
            name="run",
            title="Run",
            columns=["item", "value"],
            rows=[
                ["purpose", config.purpose],
                ["consent as of", config.as_of.isoformat()],
                ["key id / scheme", f"{context.get('key_id')} / {context.get('scheme_version')}"],
                ["kvklink version", __version__],
                ["config sha256", config_hash(config)],
                [
                    "disclosure control",
                    f"min_units={policy.min_units}, "
                    f"dominance=({policy.dominance_n}, {policy.dominance_k}), "
                    f"p%={policy.p_percent}",
                ],
            ],
        )
    )
    sections.append(run)

    # --- linkage ------------------------------------------------------------------------
    linkage = _Section("Linkage")
    linked = ctx.read_parquet("link", "linked.parquet")
    ledger = RowLedger.from_json(ctx.path("link", "ledger.json").read_text(encoding="utf-8"))
    recovery_column = "recovery_status" if "recovery_status" in linked.columns else None
    report_frame = linked.drop(
        [c for c in ("pseudonym", "be_id", "interaction_id") if c in linked.columns]
    )
    if recovery_column is not None:
        rec = ctx.read_json("pseudonymise", "recovery.json")
        cells = pl.DataFrame(
            {
                "recovery": ["accepted", "review", "rejected"],
                "unit_count": [rec["accepted"], rec["review"], rec["rejected"]],
            }
        )
        linkage.blocks.append(
            "Fuzzy recovery of missing or unusable KVK numbers (consenting interactions only), "
            "at the data holder against the public Handelsregister."
        )
        linkage.blocks.append(
            _protected_to_table(
                "recovery",
                "Recovery of KVK numbers",
                protect_table(cells, rows="recovery", policy=policy),
            )
        )
    lr = linkage_report(
        report_frame,
        by=config.linkage.report_by,
        recovery_column=recovery_column,
        policy=policy,
        ledger=ledger,
    )
    md = re.sub(
        r"^(#+) ", lambda m: "#" * (len(m.group(1)) + 2) + " ", lr.to_markdown(), flags=re.M
    )
    md = md.replace("#### Linkage report", "").strip()
    html_text = re.sub(
        r"<(/?)h([1-4])>", lambda m: f"<{m.group(1)}h{int(m.group(2)) + 2}>", lr.to_html()
    )
    linkage.blocks.append(_Raw(md, html_text))
    link_tables = dict(lr.tables)
    link_tables.update({"reasons": lr.reasons, "overall": lr.overall})
    if lr.intake is not None:
        link_tables["intake"] = lr.intake
    hidden = [_protected_to_table(f"linkage_{k}", k, t) for k, t in sorted(link_tables.items())]
    sections.append(linkage)

    # --- cohort -----------------------------------------------------------------------
    cohort = _Section("Cohort")
    cj = ctx.read_json("cohort", "cohort.json")
    outcomes = pl.DataFrame(
        {"outcome": list(cj["outcomes"]), "unit_count": [int(v) for v in cj["outcomes"].values()]}
    ).with_columns(pl.col("outcome").cast(pl.Enum(list(cj["outcomes"]))))
    cohort.blocks.append(
        "Business units with a qualifying linked interaction, by cohort outcome (the treated "
        "units are those whose first qualifying use falls in the window "
        f"{config.cohort.window[0]}..{config.cohort.window[1]})."
    )
    units = ctx.read_parquet("cohort", "units.parquet")
    by_year = (
        units.with_columns(
            pl.when(pl.col("treat"))
            .then(pl.lit("treated"))
            .otherwise(pl.lit("control"))
            .alias("group"),
            pl.col("index_year").cast(pl.Utf8),
        )
        .group_by("index_year", "group")
        .agg(pl.len().cast(pl.Int64).alias("unit_count"))
    )
    mj = ctx.read_json("match", "match.json")
    m = config.matching
    sizes = _match_sizes(mj["outcomes"])
    counts = _protect_cohort_counts(
        outcomes,
        by_year,
        sizes,
        policy=policy,
        one_to_one=m.method == "nearest" and m.ratio == 1 and not m.replace,
    )
    cohort.blocks.append(
        _protected_to_table(
            "cohort_outcomes", "Treated candidates by outcome", counts["cohort_outcomes"]
        )
    )
    cohort.blocks.append(
        _protected_to_table(
            "cohort_sizes",
            "Cohort units by index year (controls enter once per index year)",
            counts["cohort_sizes"],
        )
    )
    sections.append(cohort)

    # --- matching and balance ---------------------------------------------------------------
    matching = _Section("Matching and balance")
    matching.blocks.append(
        f"Method {m.method!r}, distance {m.distance!r}, ratio {m.ratio}, replace {m.replace}, "
        f"caliper {m.caliper}, exact strata {m.exact or []}; covariates: "
        f"{', '.join(mj['covariates'])}."
    )
    matching.blocks.append(
        _protected_to_table("match_sizes", "Units by matching status", counts["match_sizes"])
    )
    balance = ctx.read_parquet("match", "balance.parquet")
    stats: list[str] = [
        c
        for c in BALANCE_STATISTICS
        if c != "std_pair_dist" and c in balance.columns
    ]
    bal_table, published = _stat_table(
        "balance",
        "Balance before and after matching",
        balance,
        label_columns=["variable", "sample"],
        stat_columns=stats,
        count_columns=["n_treated", "n_control"],
        policy=policy,
        extra_counts=_binary_counts(balance),
        blocked=_dominated_rows(balance, ctx.read_parquet("match", "units.parquet"), policy),
        note="Standardised mean differences as MatchIt/cobalt define them for the ATT.",
    )
    matching.blocks.append(bal_table)
    love = _love_plot(balance.filter(pl.Series(published)))
    if love is not None:
        img = _Img("love_plot.png", love, "Love plot: |SMD| before and after matching")
        images.append(img)
        matching.blocks.append(img)
    after = balance.filter((pl.col("sample") == "after") & pl.Series(published))
    if after.height:
        worst = float(np.nanmax(np.abs(after.get_column("std_mean_diff").to_numpy())))
        matching.blocks.append(f"Largest |SMD| after matching (published rows): {worst:.3f}.")
    sections.append(matching)

    # --- effects ----------------------------------------------------------------------------
    effects = _Section("Effects")
    ej = ctx.read_json("effects", "effects.json")
    effects.blocks.append(
        f"Outcome: {ej['description']}. Intervals at level {config.effects.level}."
    )
    att_rows = []
    for label, key in (
        ("matched ATT", "matched_att"),
        ("naive difference (all units)", "naive_difference"),
    ):
        e = ej[key]
        att_rows.append(
            {
                "estimate": label,
                "value": e["estimate"],
                "se": e["se"],
                "ci_low": e["ci_low"],
                "ci_high": e["ci_high"],
                "n_treated": e["n_treated"],
                "n_control": e["n_control"],
            }
        )
    att_frame = pl.DataFrame(att_rows)
    att_table, att_ok = _stat_table(
        "att",
        "Average treatment effect on the treated",
        att_frame,
        label_columns=["estimate"],
        stat_columns=["value", "se", "ci_low", "ci_high"],
        count_columns=["n_treated", "n_control"],
        policy=policy,
    )
    effects.blocks.append(att_table)
    if ej.get("planted_effect") is not None:
        planted = float(ej["planted_effect"])
        if att_ok[0]:
            covered = "covers" if ej.get("planted_covered") else "does NOT cover"
            effects.blocks.append(
                f"Synthetic truth: the planted effect of the matched treated units is "
                f"{planted:+.4f}; the matched ATT's interval {covered} it."
            )
    es = ctx.read_parquet("effects", "event_study.parquet")
    es_table, es_ok = _stat_table(
        "event_study",
        "Event study (matched difference-in-differences, reference -1)",
        es,
        label_columns=["event_time"],
        stat_columns=["estimate", "se", "ci_low", "ci_high"],
        count_columns=["n_treated", "n_control"],
        policy=policy,
    )
    effects.blocks.append(es_table)
    plot = _event_plot(es.filter(pl.Series(es_ok)), "Event study (matched DiD)")
    if plot is not None:
        img = _Img("event_study.png", plot, "Event-study plot")
        images.append(img)
        effects.blocks.append(img)
    if "group_time" in ej:
        dyn = ctx.read_parquet("effects", "group_time_dynamic.parquet")
        gt = ej["group_time"]
        dyn_table, dyn_ok = _stat_table(
            "group_time_dynamic",
            f"Group-time ATTs (Callaway & Sant'Anna, {gt['control']} controls), by event time",
            dyn,
            label_columns=["event_time"],
            stat_columns=["estimate", "se", "ci_low", "ci_high"],
            count_columns=["n_treated"],
            policy=policy,
            note="Unmatched register panel of the cohort's units (no covariates).",
        )
        effects.blocks.append(dyn_table)
        post = [
            ok
            for ok, e in zip(dyn_ok, dyn.get_column("event_time").to_list(), strict=True)
            if e >= 0
        ]
        if post and all(post):  # the overall effect is a mean of these rows
            ov = gt["overall"]
            effects.blocks.append(
                f"Overall (mean of post-treatment event times): {ov['estimate']:+.4f} "
                f"[{ov['ci_low']:+.4f}, {ov['ci_high']:+.4f}]."
            )
        pre = gt.get("pretrend_test")
        if pre is not None and pre.get("p_value") is not None and all(dyn_ok):
            effects.blocks.append(
                f"Joint test of zero pre-treatment ATT(g, t): chi² = {pre['statistic']:.2f} on "
                f"{pre['df']:.0f} df, p = {pre['p_value']:.3g}."
            )
            if pre["p_value"] < 1 - config.effects.level:
                effects.blocks.append(
                    "Warning: the pre-treatment group-time effects are not zero, so parallel "
                    "trends between users and never-users fail in the unmatched panel (users were "
                    "selected on prior growth). These unconditional group-time ATTs are not "
                    "credible here; rely on the matched estimates above."
                )
    sections.append(effects)

    # --- write ------------------------------------------------------------------------------
    for img in images:
        write_bytes(img.png, ctx.out(img.name))
    title = config.report.title
    if "html" in config.report.formats:
        ctx.write_text("report.html", render_html(title, sections, policy.marker))
    if "markdown" in config.report.formats:
        ctx.write_text("report.md", render_markdown(title, sections))
    tables = [b for s in sections for b in s.blocks if isinstance(b, ReportTable)] + hidden
    ctx.write_json(
        "tables.json",
        {
            "min_units": policy.min_units,
            "marker": policy.marker,
            "tables": [
                {
                    "name": t.name,
                    "title": t.title,
                    "count_columns": t.count_columns,
                    "columns": t.columns,
                    "rows": t.rows,
                    "values": t.values,
                }
                for t in tables
            ],
        },
    )
    ctx.ledger = {}
    ctx.metrics = {"tables": len(tables), "images": len(images)}


def render_markdown(title: str, sections: list[_Section]) -> str:
    """The report as Markdown (plots referenced as PNG files next to it)."""
    out = [f"# {title}", ""]
    for section in sections:
        out += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, str):
                out += [block, ""]
            elif isinstance(block, _Raw):
                out += [block.markdown, ""]
            elif isinstance(block, _Img):
                out += [f"![{block.alt}]({block.name})", ""]
            elif isinstance(block, ReportTable):
                out += [f"**{block.title}**", ""]
                out.append("| " + " | ".join(block.columns) + " |")
                out.append("|" + "|".join("---" for _ in block.columns) + "|")
                out += ["| " + " | ".join(r) + " |" for r in block.rows]
                out.append("")
                if block.note:
                    out += [block.note, ""]
    return "\n".join(out).rstrip() + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:60rem;
margin:2rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.45}
h1{border-bottom:2px solid #0b5394}h2{margin-top:2.2rem;color:#0b5394}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.25rem .55rem;text-align:right}
th{background:#eef3f8}td:first-child,th:first-child{text-align:left}
td.suppressed{background:#fff3cd;color:#7a5b00;text-align:center}
caption{font-weight:600;text-align:left;padding:.2rem 0}
p.note{font-size:.85rem;color:#555}img{max-width:100%}
"""


def _html_table(table: ReportTable, marker: str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="suppressed">{html.escape(v)}</td>'
            if v == marker
            else f"<td>{html.escape(v)}</td>"
            for v in row
        )
        + "</tr>"
        for row in table.rows
    )
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return (
        f"<table><caption>{html.escape(table.title)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>{note}"
    )


def render_html(title: str, sections: list[_Section], marker: str = "✱") -> str:
    """The report as one self-contained HTML page (inline CSS, plots as base64 PNG)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, str):
                parts.append(f"<p>{html.escape(block)}</p>")
            elif isinstance(block, _Raw):
                cell = f"<td>{html.escape(marker)}</td>"
                parts.append(
                    block.html.replace('class="kvklink-protected"', "").replace(
                        cell, f'<td class="suppressed">{html.escape(marker)}</td>'
                    )
                )
            elif isinstance(block, _Img):
                data = base64.b64encode(block.png).decode("ascii")
                parts.append(
                    f'<figure><img alt="{html.escape(block.alt)}" '
                    f'src="data:image/png;base64,{data}"></figure>'
                )
            elif isinstance(block, ReportTable):
                parts.append(_html_table(block, marker))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
