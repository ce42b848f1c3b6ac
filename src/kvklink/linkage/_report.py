"""Linkage report: how many interactions reached the register, by group, with reasons.

Every table passes through disclosure control (:func:`kvklink.disclosure.protect_table`)
before it is shown, so a report can leave the secure environment.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from kvklink._disclosure import (
    TOTAL_LABEL,
    DisclosurePolicy,
    ProtectedTable,
    protect_table,
)
from kvklink._joint_disclosure import Cell, TableBuilder, audit_jointly, protect_jointly
from kvklink.errors import SchemaError
from kvklink.frames import require_columns, to_polars
from kvklink.ledger import RowLedger
from kvklink.linkage._exact import LINK_STATUSES

__all__ = [
    "DEFAULT_DIMENSIONS",
    "LINKAGE_CATEGORIES",
    "LinkageReport",
    "linkage_report",
]

#: Outcome categories of the report, per interaction row:
#:
#: * ``linked_exact`` — ``link_status == "linked"`` and the KVK number was captured (the
#:   recovery column is null, or absent);
#: * ``linked_recovered`` — linked, with a KVK number recovered by fuzzy matching (recovery
#:   status ``accepted``);
#: * ``in_review`` — recovery status ``review`` and not linked (awaiting clerical review);
#: * ``unlinked`` — everything else; the reason is the row's status (a link status such as
#:   ``not_in_register``, or an intake outcome such as ``missing``/``no_consent`` for rows
#:   that never reached linkage), or ``not_recovered`` when recovery rejected the row and it
#:   has no status.
LINKAGE_CATEGORIES: tuple[str, ...] = ("linked_exact", "linked_recovered", "in_review", "unlinked")

#: Dimensions used when ``by`` is not given (those present in the frame; ``year`` is derived
#: from the date column when absent).
DEFAULT_DIMENSIONS: tuple[str, ...] = ("activity", "year", "kvk_region", "size_band", "section")

_CATEGORY = "__kvklink_category"
_REASON = "__kvklink_reason"
_LINKED = ("linked_exact", "linked_recovered")
_REACHED = "pseudonymised"


@dataclass(frozen=True, repr=False)
class LinkageReport:
    """Disclosure-controlled link counts and rates by group.

    Attributes
    ----------
    tables : dict[str, ProtectedTable]
        Per dimension: a 2-D count table (dimension level × :data:`LINKAGE_CATEGORIES`) with
        margins, after primary and secondary suppression.
    reasons : ProtectedTable
        Unlinked interactions by reason (1-D with total), after suppression.
    overall : ProtectedTable
        All interactions by category (1-D with total), after suppression.
    policy : DisclosurePolicy
        The disclosure policy applied.
    intake : ProtectedTable or None
        With a ledger: every raw input row by intake outcome (``pseudonymised`` = reached
        linkage), total = raw input rows, after suppression.
    """

    tables: dict[str, ProtectedTable]
    reasons: ProtectedTable
    overall: ProtectedTable
    policy: DisclosurePolicy
    intake: ProtectedTable | None = None

    @property
    def frame(self) -> pl.DataFrame:
        """All published counts in long form.

        Columns ``dimension``, ``level``, ``category``, ``interactions`` (null when
        suppressed), ``suppressed`` and ``reason`` (why suppressed). The overall table has
        dimension ``"all"``; the unlinked-reasons table has dimension ``"unlinked_reason"``;
        the intake table (with a ledger) has dimension ``"intake"`` and category ``"input"``.
        """
        parts = []
        for dim, table in [("all", self.overall), *self.tables.items()]:
            cells = table._cells
            if dim == "all":
                cells = cells.with_columns(level=pl.lit(TOTAL_LABEL))
            else:
                cells = cells.rename({dim: "level"})
            parts.append(
                cells.select(
                    pl.lit(dim).alias("dimension"),
                    pl.col("level"),
                    pl.col("category"),
                    pl.col("value").alias("interactions"),
                    "suppressed",
                    "reason",
                )
            )
        reasons = self.reasons._cells.select(
            pl.lit("unlinked_reason").alias("dimension"),
            pl.col("unlinked_reason").alias("level"),
            pl.lit("unlinked").alias("category"),
            pl.col("value").alias("interactions"),
            "suppressed",
            "reason",
        )
        if self.intake is not None:
            parts.append(
                self.intake._cells.select(
                    pl.lit("intake").alias("dimension"),
                    pl.col("outcome").alias("level"),
                    pl.lit("input").alias("category"),
                    pl.col("value").alias("interactions"),
                    "suppressed",
                    "reason",
                )
            )
        return pl.concat([*parts, reasons])

    def check(self) -> pl.DataFrame:
        """Audit all tables *jointly*: can any suppressed cell be recomputed from them together?

        The tables share cells (the overall counts are the margin row of every dimension
        table; the unlinked total heads the reasons table; the pseudonymised rows of the
        intake table are the overall total). This solves one linear program over every table
        at once (:func:`kvklink.disclosure.audit_jointly`) — shared cells as one variable,
        published cells fixed, suppressed cells non-negative, every row and column adding up
        to its total — for the minimum and maximum of each suppressed cell.

        Returns
        -------
        polars.DataFrame
            One row per suppressed cell (shared cells once): ``table``, ``level``,
            ``category``, ``lower``, ``upper``, ``recomputable`` (interval is a point). The
            bounds narrow suppressed values down: keep this frame in the secure environment.
        """
        audit = audit_jointly(self._named_tables(), _shared_cells(self.tables, self.intake))
        overall = pl.col("table") == "all"
        return audit.select(
            "table",
            pl.when(overall).then(pl.lit(TOTAL_LABEL)).otherwise(pl.col("row")).alias("level"),
            pl.when(overall).then(pl.col("row")).otherwise(pl.col("column")).alias("category"),
            "lower",
            "upper",
            "recomputable",
        )

    def _named_tables(self) -> dict[str, ProtectedTable]:
        named = {"all": self.overall, **self.tables, "unlinked_reason": self.reasons}
        if self.intake is not None:
            named["intake"] = self.intake
        return named

    def link_rates(self) -> pl.DataFrame:
        """Link rate per dimension level, where it can be published.

        ``link_rate = (linked_exact + linked_recovered) / Total``. It is null when any of
        these cells is suppressed (a rate would reveal the suppressed count). With a ledger,
        dimension ``"all_input"`` relates the linked interactions to every raw input row.
        """
        rows = []
        for dim, table in [("all", self.overall), *self.tables.items()]:
            cells = table._cells
            if dim == "all":
                cells = cells.with_columns(level=pl.lit(TOTAL_LABEL))
            else:
                cells = cells.rename({dim: "level"})
            wide = cells.pivot(on="category", index="level", values="value", maintain_order=True)
            for cat in (*_LINKED, TOTAL_LABEL):
                if cat not in wide.columns:  # pragma: no cover - the grid is always complete
                    wide = wide.with_columns(pl.lit(None, dtype=pl.Int64).alias(cat))
            rows.append(
                wide.select(
                    pl.lit(dim).alias("dimension"),
                    pl.col("level"),
                    pl.col(TOTAL_LABEL).alias("interactions"),
                    (pl.col("linked_exact") + pl.col("linked_recovered")).alias("linked"),
                )
            )
        if self.intake is not None:
            total_input = self.intake._cells.filter(pl.col("outcome") == TOTAL_LABEL)
            rows.append(
                rows[0].select(
                    pl.lit("all_input").alias("dimension"),
                    pl.col("level"),
                    pl.lit(total_input["value"].item(), dtype=pl.Int64).alias("interactions"),
                    pl.col("linked"),
                )
            )
        out = pl.concat(rows)
        return out.with_columns(
            link_rate=pl.when(pl.col("interactions") > 0).then(
                pl.col("linked") / pl.col("interactions")
            )
        )

    def to_markdown(self) -> str:
        """The report as Markdown: overall, rates, one table per dimension, reasons."""
        marker = self.policy.marker
        lines = ["# Linkage report", ""]
        if self.intake is not None:
            lines += ["## All input rows (row ledger)", "", self.intake.to_markdown(), ""]
        lines += ["## Interactions that reached linkage", "", self.overall.to_markdown()]
        lines += ["", "## Link rates", "", _rates_markdown(self.link_rates(), marker)]
        for dim, table in self.tables.items():
            lines += ["", f"## By {dim}", "", table.to_markdown()]
        lines += ["", "## Unlinked interactions by reason", "", self.reasons.to_markdown()]
        lines += ["", _policy_note(self.policy), ""]
        return "\n".join(lines)

    def to_html(self) -> str:
        """The report as a self-contained HTML fragment."""
        parts = ["<h1>Linkage report</h1>"]
        if self.intake is not None:
            parts += ["<h2>All input rows (row ledger)</h2>", self.intake.to_html()]
        parts += ["<h2>Interactions that reached linkage</h2>", self.overall.to_html()]
        for dim, table in self.tables.items():
            parts += [f"<h2>By {html.escape(dim)}</h2>", table.to_html()]
        parts += ["<h2>Unlinked interactions by reason</h2>", self.reasons.to_html()]
        parts.append(f"<p>{html.escape(_policy_note(self.policy))}</p>")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()

    def plot(self) -> Any:
        """Stacked bars of the published category counts per dimension level.

        Returns a :class:`matplotlib.figure.Figure` (built without pyplot, so no global
        backend is touched; save it with ``fig.savefig(path)``). Suppressed cells are left
        out of the bars (zero width) and labelled with the marker.
        """
        from matplotlib.figure import Figure

        dims = list(self.tables)
        n = max(1, len(dims))
        fig = Figure(figsize=(8, 2.2 + 1.8 * n), layout="constrained")
        axes = fig.subplots(n, 1, squeeze=False)[:, 0]
        colours = {
            "linked_exact": "#1b7837",
            "linked_recovered": "#7fbf7b",
            "in_review": "#fdb863",
            "unlinked": "#b2abd2",
        }
        for ax, dim in zip(axes, dims, strict=False):
            cells = self.tables[dim]._cells.filter(
                (pl.col(dim) != TOTAL_LABEL) & (pl.col("category") != TOTAL_LABEL)
            )
            levels = cells.get_column(dim).unique(maintain_order=True).to_list()
            left = [0.0] * len(levels)
            for cat in LINKAGE_CATEGORIES:
                sub = cells.filter(pl.col("category") == cat)
                vals = sub.get_column("value").to_list()
                supp = sub.get_column("suppressed").to_list()
                widths = [float(v) if v is not None else 0.0 for v in vals]
                ax.barh(levels, widths, left=left, color=colours[cat], label=cat)
                for k, s in enumerate(supp):
                    if s:
                        ax.annotate(self.policy.marker, (left[k], k), fontsize=8, va="center")
                left = [a + b for a, b in zip(left, widths, strict=True)]
            ax.set_title(f"Interactions by {dim}")
            ax.set_xlabel("interactions (published cells)")
            ax.invert_yaxis()
        axes[0].legend(loc="lower right", fontsize=8)
        return fig

    def __repr__(self) -> str:
        supp = sum(t.n_primary + t.n_secondary for t in self.tables.values())
        return (
            f"LinkageReport(dimensions={list(self.tables)}, suppressed_cells={supp}, "
            f"min_units={self.policy.min_units})"
        )


def _fmt_rate(rate: float | None) -> str:
    return "" if rate is None else f"{100 * rate:.1f}%"


def _rates_markdown(rates: pl.DataFrame, marker: str) -> str:
    head = "| dimension | level | interactions | linked | link rate |\n|---|---|---|---|---|"
    body = []
    for r in rates.iter_rows(named=True):
        cells = [
            str(r["dimension"]),
            str(r["level"]),
            marker if r["interactions"] is None else str(r["interactions"]),
            marker if r["linked"] is None else str(r["linked"]),
            marker if r["link_rate"] is None else _fmt_rate(r["link_rate"]),
        ]
        body.append("| " + " | ".join(cells) + " |")
    return "\n".join([head, *body])


def _policy_note(policy: DisclosurePolicy) -> str:
    return (
        f"Disclosure control: cells with fewer than {policy.min_units} interactions are "
        f"suppressed ({policy.marker}), with secondary suppression so that no suppressed cell "
        "can be recomputed from the margins. Current CBS output rules take precedence."
    )


def linkage_report(
    frame: Any,
    *,
    by: Sequence[str] | None = None,
    status_column: str = "link_status",
    recovery_column: str | None = None,
    date_column: str = "date",
    policy: DisclosurePolicy | None = None,
    ledger: RowLedger | None = None,
    unit_column: str | None = "pseudonym",
) -> LinkageReport:
    """Count interactions by group and outcome, under disclosure control.

    Parameters
    ----------
    frame : pandas.DataFrame or polars.DataFrame
        One row per interaction: the ``.frame`` of :func:`kvklink.link` (optionally joined to
        register covariates such as region, size band and sector — unlinked rows then have
        nulls, reported as ``"unknown"``), possibly stacked with intake rows that never
        reached linkage, whose ``status_column`` holds their intake outcome.
    by : sequence of str, optional
        Dimension columns. Default: those of :data:`DEFAULT_DIMENSIONS` present in ``frame``
        (``year`` is derived from ``date_column`` when there is no ``year`` column).
    status_column : str, default "link_status"
        Link status (see :data:`kvklink.linkage.LINK_STATUSES`) or intake outcome per row.
    recovery_column : str, optional
        Fuzzy-recovery status per row (``accepted``, ``review``, ``rejected``, as written by
        :func:`kvklink.recover_kvk`; null when the KVK number was captured). Without it every
        linked row counts as ``linked_exact``.
    date_column : str, default "date"
        Used to derive ``year``.
    policy : DisclosurePolicy, optional
        Defaults to ``DisclosurePolicy()``; the unit of every count is one interaction.
    ledger : RowLedger, optional
        The row ledger of the run (:attr:`kvklink.LinkResult.ledger`, or the intake ledger).
        Adds a table of every raw input row by intake outcome — rows that never reached
        linkage (unusable or missing KVK number, no consent …) — and the link rate over all
        input rows. Its pseudonymised rows must equal the rows of ``frame``.
    unit_column : str or None, default "pseudonym"
        The firm behind each interaction. Counts are of interactions, but the threshold rule
        is about units: any cell (margins included) with interactions from fewer than
        ``policy.min_units`` distinct firms is suppressed too (reason ``forced``), so a cell
        of many interactions by a few firms is not published. Rows with a null unit count as
        one firm each. Ignored when the column is absent; ``None`` counts interactions only.

    Returns
    -------
    LinkageReport
        Audited jointly (:meth:`LinkageReport.check`) before it is returned.

    Raises
    ------
    DisclosureError
        The tables taken together would still let a suppressed cell be recomputed after
        further suppression (see :func:`kvklink.disclosure.protect_jointly`).

    Examples
    --------
    >>> import polars as pl
    >>> rows = pl.DataFrame({
    ...     "activity": ["webinar"] * 40 + ["digiscan"] * 30,
    ...     "link_status": ["linked"] * 50 + ["not_in_register"] * 12 + ["missing"] * 8,
    ... })
    >>> report = linkage_report(rows, by=["activity"])
    >>> report.link_rates().filter(pl.col("dimension") == "all")["link_rate"].round(3).to_list()
    [0.714]
    >>> print(report.tables["activity"].to_markdown().splitlines()[2])
    | digiscan | 10 | 0 | 0 | 20 | 30 |
    """
    policy = policy if policy is not None else DisclosurePolicy()
    data, _ = to_polars(frame, argument="frame")
    require_columns(data, [status_column], argument="frame")
    if recovery_column is not None:
        require_columns(data, [recovery_column], argument="frame")
    if by is None:
        dims = [d for d in DEFAULT_DIMENSIONS if d in data.columns]
        if "year" not in dims and "year" not in data.columns and date_column in data.columns:
            dims.insert(1 if "activity" in dims else 0, "year")
        if not dims:
            msg = (
                f"The 'frame' has none of the default report dimensions "
                f"{', '.join(DEFAULT_DIMENSIONS)}. Hint: pass by=[...] with your group columns."
            )
            raise SchemaError(msg)
    else:
        dims = list(by)
    if "year" in dims and "year" not in data.columns:
        require_columns(data, [date_column], argument="frame")
        data = data.with_columns(_year(data, date_column))
    require_columns(data, dims, argument="frame")
    reserved = [d for d in dims if d in ("category", "unlinked_reason")]
    if reserved:
        msg = f"Dimension name(s) {reserved} are reserved by the report. Hint: rename them."
        raise SchemaError(msg)

    data = data.with_columns(*_categorise(status_column, recovery_column))
    category_enum = pl.Enum(list(LINKAGE_CATEGORIES))
    data = data.with_columns(pl.col(_CATEGORY).cast(category_enum))

    def counts(dim: str | None) -> pl.DataFrame:
        keys = [_CATEGORY] if dim is None else [dim, _CATEGORY]
        cells = (
            data.group_by(keys).agg(pl.len().alias("interactions")).rename({_CATEGORY: "category"})
        )
        return _complete(cells, dim, category_enum)

    unlinked = (
        data.filter(pl.col(_CATEGORY) == "unlinked")
        .group_by(_REASON)
        .agg(pl.len().alias("interactions"))
        .rename({_REASON: "unlinked_reason"})
    )
    if unlinked.height == 0:
        unlinked = pl.DataFrame(
            {"unlinked_reason": ["none"], "interactions": [0]},
            schema={"unlinked_reason": pl.Utf8, "interactions": pl.Int64},
        )
    cells = {dim: counts(dim) for dim in [None, *dims]}
    intake_cells = None if ledger is None else _intake_cells(ledger, data.height)
    use_units = unit_column is not None and unit_column in data.columns
    few: dict[str | None, list[tuple[str, ...]]] = {}
    for key in [None, *dims, _REASON]:
        few[key] = (
            _few_units(data, key, unit_column, policy.min_units)
            if use_units and unit_column is not None
            else []
        )

    def builder(
        table: pl.DataFrame, rows: str, columns: str | None, forced: list[tuple[str, ...]]
    ) -> TableBuilder:
        def build(extra: list[tuple[str, ...]]) -> ProtectedTable:
            return protect_table(
                table,
                rows=rows,
                columns=columns,
                unit_count="interactions",
                policy=policy,
                suppress=[*forced, *extra],
            )

        return build

    build = {"all": builder(cells[None], "category", None, few[None])}
    for dim in dims:
        build[dim] = builder(cells[dim], dim, "category", few[dim])
    build["unlinked_reason"] = builder(unlinked, "unlinked_reason", None, few[_REASON])
    if intake_cells is not None:
        build["intake"] = builder(intake_cells, "outcome", None, [])
    # The tables share cells (see LinkageReport.check); protect them together, so that no
    # suppressed cell can be recomputed from one table nor from all of them.
    shared = _shared_cells(dims, intake_cells)
    tables = protect_jointly(build, shared)
    return LinkageReport(
        tables={dim: tables[dim] for dim in dims},
        reasons=tables["unlinked_reason"],
        overall=tables["all"],
        policy=policy,
        intake=tables.get("intake"),
    )


def _shared_cells(dims: Iterable[str], intake: object | None) -> list[list[Cell]]:
    """The cells the report's tables share: each group is one number."""
    groups: list[list[Cell]] = [
        [("all", (category,)), *((dim, (TOTAL_LABEL, category)) for dim in dims)]
        for category in (*LINKAGE_CATEGORIES, TOTAL_LABEL)
    ]
    groups[LINKAGE_CATEGORIES.index("unlinked")].append(("unlinked_reason", (TOTAL_LABEL,)))
    if intake is not None:
        groups[-1].append(("intake", (_REACHED,)))
    return groups


def _few_units(
    data: pl.DataFrame, dim: str | None, unit_column: str, min_units: int
) -> list[tuple[str, ...]]:
    """Cells (margins included, labels as rendered) with 1..min_units-1 distinct units.

    ``dim`` None: the overall table (category); ``_REASON``: the unlinked-reasons table;
    otherwise the dimension × category table.
    """
    unit = pl.col(unit_column)
    n_units = (unit.drop_nulls().n_unique() + unit.null_count()).alias("n")
    if dim == _REASON:
        frame = data.filter(pl.col(_CATEGORY) == "unlinked").with_columns(
            __a=pl.col(_REASON).cast(pl.Utf8).fill_null("unknown")
        )
        axes = ["__a"]
    else:
        frame = data.with_columns(__b=pl.col(_CATEGORY).cast(pl.Utf8))
        if dim is None:
            axes = ["__b"]
        else:
            frame = frame.with_columns(__a=pl.col(dim).cast(pl.Utf8).fill_null("unknown"))
            axes = ["__a", "__b"]
    if frame.height == 0:
        return []
    found: list[tuple[str, ...]] = []
    # every subset of the axes: the cells, then the margins over each axis, then the total
    for kept in [axes, *([[a] for a in axes] if len(axes) == 2 else []), []]:
        groups = frame.group_by(kept).agg(n_units) if kept else frame.select(n_units)
        groups = groups.filter((pl.col("n") > 0) & (pl.col("n") < min_units))
        for row in groups.iter_rows(named=True):
            found.append(tuple(str(row[a]) if a in kept else TOTAL_LABEL for a in axes))
    return found


def _intake_cells(ledger: RowLedger, n_rows: int) -> pl.DataFrame:
    """Raw input rows by intake outcome; link outcomes fold back into ``pseudonymised``."""
    if not isinstance(ledger, RowLedger):
        msg = (
            f"The 'ledger' argument must be a RowLedger, got {type(ledger).__name__}. "
            "Hint: pass the .ledger of the link or pseudonymise result."
        )
        raise SchemaError(msg)
    counts = ledger.counts
    reached = sum(v for k, v in counts.items() if k in LINK_STATUSES) + counts.get(_REACHED, 0)
    if reached != n_rows:
        msg = (
            f"The 'ledger' counts {reached} row(s) that reached linkage but 'frame' has "
            f"{n_rows}. Hint: pass the ledger of the run that produced this frame (and no "
            "ledger when the frame already holds intake rows)."
        )
        raise SchemaError(msg)
    intake = {k: v for k, v in counts.items() if k not in LINK_STATUSES and k != _REACHED}
    labels = [*intake, _REACHED]
    return pl.DataFrame(
        {"outcome": labels, "interactions": [*intake.values(), reached]},
        schema={"outcome": pl.Enum(labels), "interactions": pl.Int64},
    )


def _complete(cells: pl.DataFrame, dim: str | None, category_enum: pl.Enum) -> pl.DataFrame:
    """Make sure every category appears (missing ones are zero cells)."""
    present = set(cells.get_column("category").cast(pl.Utf8).to_list())
    missing = [c for c in LINKAGE_CATEGORIES if c not in present]
    cells = cells.with_columns(pl.col("interactions").cast(pl.Int64))
    if not missing:
        return cells
    filler: dict[str, Any] = {"category": missing, "interactions": [0] * len(missing)}
    schema: dict[str, Any] = {"category": category_enum, "interactions": pl.Int64}
    if dim is not None:
        if cells.height == 0:  # pragma: no cover - a frame with rows always has a level
            return cells
        filler = {dim: [cells.get_column(dim)[0]] * len(missing), **filler}
        schema = {dim: cells.schema[dim], **schema}
    return pl.concat([cells, pl.DataFrame(filler, schema=schema).select(cells.columns)])


def _year(data: pl.DataFrame, date_column: str) -> pl.Expr:
    dtype = data.schema[date_column]
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return pl.col(date_column).dt.year().alias("year")
    if dtype in (pl.Utf8, pl.String):
        return pl.col(date_column).str.slice(0, 4).cast(pl.Int32, strict=False).alias("year")
    msg = (
        f"Column {date_column!r} has dtype {dtype}; cannot derive 'year'. "
        "Hint: pass a date column or a 'year' column."
    )
    raise SchemaError(msg)


def _categorise(status_column: str, recovery_column: str | None) -> list[pl.Expr]:
    status = pl.col(status_column).cast(pl.Utf8)
    linked = status == "linked"
    if recovery_column is None:
        recovery = pl.lit(None, dtype=pl.Utf8)
    else:
        recovery = pl.col(recovery_column).cast(pl.Utf8)
    category = (
        pl.when(linked & (recovery == "accepted"))
        .then(pl.lit("linked_recovered"))
        .when(linked)
        .then(pl.lit("linked_exact"))
        .when(recovery == "review")
        .then(pl.lit("in_review"))
        .otherwise(pl.lit("unlinked"))
    )
    reason = (
        pl.when(status.is_not_null())
        .then(status)
        .when(recovery == "rejected")
        .then(pl.lit("not_recovered"))
        .otherwise(pl.lit("unknown"))
    )
    return [category.alias(_CATEGORY), reason.alias(_REASON)]
