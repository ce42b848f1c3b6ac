"""Statistical disclosure control for aggregate tables (implementation of kvklink.disclosure).

Primary suppression by a minimum number of units, the (n, k) dominance rule and the p%-rule;
secondary (complementary) suppression so that no suppressed cell can be recomputed from the
published cells and margins, verified by linear programming (``scipy.optimize.linprog``).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy.optimize import linprog

from kvklink.errors import DisclosureError, InputError, SchemaError
from kvklink.frames import like_input, require_columns, to_polars

__all__ = [
    "SUPPRESSION_REASONS",
    "TOTAL_LABEL",
    "DisclosurePolicy",
    "ProtectedTable",
    "protect_table",
]

#: Label of the margin (total) row and column.
TOTAL_LABEL = "Total"

#: Values of the ``reason`` column of a protected table: the first primary rule a cell breaks
#: (in this order), ``forced`` for a cell named in ``suppress=``, or ``secondary`` for a
#: complementary suppression.
SUPPRESSION_REASONS: tuple[str, ...] = (
    "min_units",
    "dominance",
    "p_percent",
    "forced",
    "secondary",
)

TableKind = Literal["count", "magnitude"]


@dataclass(frozen=True)
class DisclosurePolicy:
    """Parameters of disclosure control for tables that leave a secure environment.

    The defaults are conservative stand-ins (see ``domain.md`` §5): CBS's exact thresholds for
    business data are not published with the remote-access rules we could source. **The
    current CBS output rules take precedence over these defaults**; set the parameters to
    match them.

    Parameters
    ----------
    min_units : int, default 10
        A cell with fewer contributing units than this is suppressed (threshold rule).
    dominance_n, dominance_k : int, float, default 2, 0.85
        (n, k) dominance rule, magnitude tables only: a cell is suppressed when its ``n``
        largest contributions add up to more than ``k`` times the cell total.
    p_percent : float, default 80.0
        p%-rule, magnitude tables only, with ``p`` in percent. With ``x1 >= x2`` the two
        largest contributions to a cell of total ``T``, the second-largest contributor can
        estimate ``x1`` as ``T - x2`` with error ``T - x1 - x2``; the cell is sensitive when
        that error is smaller than ``p/100 · x1``, i.e. ``T - x1 - x2 < (p/100) · x1``.
        (p = 80 as in the project brief is strict; common practice uses 10–20.)
    protect_zeros : bool, default False
        Whether cells with zero units also count as below ``min_units``. By default empty
        cells are published (they describe no unit).
    marker : str, default "✱"
        Shown instead of a suppressed value in rendered tables.

    Examples
    --------
    >>> DisclosurePolicy()
    DisclosurePolicy(min_units=10, dominance_n=2, dominance_k=0.85, p_percent=80.0, protect_zeros=False, marker='✱')
    >>> DisclosurePolicy(min_units=0)
    Traceback (most recent call last):
    ...
    kvklink.errors.InputError: The 'min_units' parameter of DisclosurePolicy must be an int >= 1. Got 0 instead.
    """  # noqa: E501

    min_units: int = 10
    dominance_n: int = 2
    dominance_k: float = 0.85
    p_percent: float = 80.0
    protect_zeros: bool = False
    marker: str = "✱"

    def __post_init__(self) -> None:
        checks: list[tuple[str, bool, str]] = [
            ("min_units", _is_int(self.min_units) and self.min_units >= 1, "an int >= 1"),
            ("dominance_n", _is_int(self.dominance_n) and self.dominance_n >= 1, "an int >= 1"),
            ("dominance_k", 0.0 < float(self.dominance_k) <= 1.0, "a float in (0, 1]"),
            ("p_percent", float(self.p_percent) >= 0.0, "a float >= 0 (percent)"),
            ("marker", isinstance(self.marker, str) and bool(self.marker), "a non-empty str"),
        ]
        for name, ok, expected in checks:
            if not ok:
                got = getattr(self, name)
                msg = (
                    f"The {name!r} parameter of DisclosurePolicy must be {expected}. "
                    f"Got {got!r} instead."
                )
                raise InputError(msg)


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass(frozen=True, repr=False)
class ProtectedTable:
    """A table after disclosure control.

    Attributes
    ----------
    frame : pandas.DataFrame or polars.DataFrame
        Long format (caller's kind), one row per cell including margins (label
        :data:`TOTAL_LABEL`): the dimension column(s), ``unit_count``, ``value`` (both null
        when suppressed), ``suppressed`` (bool) and ``reason`` (see
        :data:`SUPPRESSION_REASONS`; null when published).
    parameters : dict
        The policy, table kind, dimensions and whether margins are published.
    kind : {"count", "magnitude"}

    Notes
    -----
    The object also keeps the original cell values (for :meth:`check`): publish the
    ``frame``, :meth:`to_markdown` or :meth:`to_html` output, never the object itself (e.g.
    pickled).
    """

    frame: Any
    parameters: dict[str, Any]
    kind: TableKind
    _cells: pl.DataFrame = field(repr=False)
    _constraints: tuple[tuple[tuple[int, ...], int], ...] = field(repr=False)
    _true_values: np.ndarray = field(repr=False)
    _true_units: np.ndarray = field(repr=False)

    @property
    def n_primary(self) -> int:
        """Number of cells suppressed by a primary rule."""
        reason = self._cells.get_column("reason")
        return int(reason.is_in(["min_units", "dominance", "p_percent"]).sum())

    @property
    def n_secondary(self) -> int:
        """Number of complementary (and forced) suppressions."""
        return int(self._cells.get_column("reason").is_in(["secondary", "forced"]).sum())

    def check(self) -> pl.DataFrame:
        """Feasible intervals of every suppressed cell given the published table (LP).

        For each suppressed cell the minimum and maximum value consistent with every published
        cell, the margin equations and non-negativity (when all values are non-negative) are
        computed with ``scipy.optimize.linprog``. A cell is ``recomputable`` when the interval
        is a single point. This only reads the published table and the suppression pattern.

        Returns
        -------
        polars.DataFrame
            One row per suppressed cell: the dimension column(s), ``measure`` (``value`` or
            ``unit_count``), ``lower``, ``upper`` and ``recomputable``. Bounds are derived
            from published numbers only, but they narrow the suppressed values down: keep
            this frame inside the secure environment.
        """
        dims = self.parameters["dimensions"]
        suppressed = self._cells.get_column("suppressed").to_numpy()
        parts = []
        measures = [("value", self._true_values)]
        if self.kind == "magnitude":
            measures.append(("unit_count", self._true_units))
        for name, values in measures:
            lower, upper = _intervals(values, suppressed, self._constraints)
            idx = np.flatnonzero(suppressed)
            width = upper - lower
            parts.append(
                self._cells.select(dims)[idx].with_columns(
                    measure=pl.lit(name),
                    lower=pl.Series(lower, dtype=pl.Float64),
                    upper=pl.Series(upper, dtype=pl.Float64),
                    recomputable=pl.Series(width <= _tolerance(values), dtype=pl.Boolean),
                )
            )
        return pl.concat(parts)

    def to_wide(self) -> pl.DataFrame:
        """The published table as strings, rows × columns, suppressed cells shown as the marker."""
        dims: list[str] = self.parameters["dimensions"]
        marker: str = self.parameters["policy"]["marker"]
        shown = self._cells.with_columns(
            text=pl.when(pl.col("suppressed"))
            .then(pl.lit(marker))
            .otherwise(pl.col("value").map_elements(_fmt, return_dtype=pl.Utf8))
        )
        if len(dims) == 1:
            return shown.select(dims[0], pl.col("text").alias(self.parameters["measure"]))
        return shown.pivot(
            on=dims[1], index=dims[0], values="text", aggregate_function=None, maintain_order=True
        )

    def to_markdown(self) -> str:
        """The published table as a Markdown table (suppressed cells marked)."""
        wide = self.to_wide()
        head = "| " + " | ".join(wide.columns) + " |"
        rule = "|" + "|".join("---" for _ in wide.columns) + "|"
        body = ["| " + " | ".join(str(v) for v in row) + " |" for row in wide.iter_rows()]
        note = (
            f"\n\n{self.parameters['policy']['marker']} suppressed (disclosure control: "
            f"{self.n_primary} primary, {self.n_secondary} secondary)."
        )
        return "\n".join([head, rule, *body]) + note

    def to_html(self) -> str:
        """The published table as an HTML table (suppressed cells marked)."""
        wide = self.to_wide()
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in wide.columns)
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
            for row in wide.iter_rows()
        )
        marker = html.escape(self.parameters["policy"]["marker"])
        return (
            f'<table class="kvklink-protected"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table><p>{marker} suppressed (disclosure control: "
            f"{self.n_primary} primary, {self.n_secondary} secondary).</p>"
        )

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return (
            f"ProtectedTable(kind={self.kind!r}, cells={self._cells.height}, "
            f"primary={self.n_primary}, secondary={self.n_secondary}, "
            f"min_units={self.parameters['policy']['min_units']})"
        )


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6g}"


def _tolerance(values: np.ndarray) -> float:
    scale = float(np.max(np.abs(values))) if values.size else 0.0
    return 1e-7 * max(1.0, scale)


def _intervals(
    values: np.ndarray,
    suppressed: np.ndarray,
    constraints: Sequence[tuple[tuple[int, ...], int]],
) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of every suppressed cell subject to the published table (LP)."""
    idx = np.flatnonzero(suppressed)
    n = idx.size
    lower = np.full(n, -np.inf)
    upper = np.full(n, np.inf)
    if n == 0:
        return lower, upper
    pos = {int(c): k for k, c in enumerate(idx)}
    rows_a: list[np.ndarray] = []
    rhs: list[float] = []
    for parts, total in constraints:
        # sum(parts) - total = 0 ; move published cells to the right-hand side
        row = np.zeros(n)
        b = 0.0
        for cell, coef in [*((p, 1.0) for p in parts), (total, -1.0)]:
            if cell in pos:
                row[pos[cell]] += coef
            else:
                b -= coef * float(values[cell])
        if np.any(row != 0):
            rows_a.append(row)
            rhs.append(b)
    bound = (0.0, None) if bool(np.all(values >= 0)) else (None, None)
    if not rows_a:
        if bound[0] is not None:
            lower[:] = 0.0
        return lower, upper
    a_eq = np.vstack(rows_a)
    b_eq = np.asarray(rhs)
    for k in range(n):
        c = np.zeros(n)
        for sign in (1.0, -1.0):
            c[k] = sign
            res = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=[bound] * n, method="highs")
            if res.status == 0:
                if sign > 0:
                    lower[k] = res.fun
                else:
                    upper[k] = -res.fun
            elif res.status == 2:  # pragma: no cover - the true values are always feasible
                msg = "Internal error: the published table is infeasible. Hint: report a bug."
                raise DisclosureError(msg)
            # status 3 (unbounded) keeps the infinite bound
    return lower, upper


def _top_merge(lists: Sequence[Sequence[float]], keep: int) -> list[float]:
    merged: list[float] = []
    for values in lists:
        merged.extend(values)
    merged.sort(reverse=True)
    return merged[:keep]


def protect_table(
    frame: Any,
    *,
    rows: str,
    columns: str | None = None,
    unit_count: str = "unit_count",
    value: str | None = None,
    contributions: str | None = None,
    policy: DisclosurePolicy | None = None,
    margins: bool = True,
    suppress: Sequence[tuple[str, ...]] = (),
) -> ProtectedTable:
    """Apply primary and secondary suppression to a 1-D or 2-D table with margins.

    The input is one row per cell: the dimension column(s), the number of units in the cell
    and — for a magnitude table — the cell total and the units' contributions. Missing
    combinations of a 2-D table are cells with zero units. Margins (row totals, column totals
    and the grand total, labelled :data:`TOTAL_LABEL`) are computed here; unit counts of
    margins are sums, so each unit must belong to exactly one cell.

    **Primary suppression**: a cell (margins included) is sensitive when it has fewer than
    ``policy.min_units`` units (zero-unit cells only with ``protect_zeros``); for magnitude
    tables also under the (n, k) dominance rule and the p%-rule (see
    :class:`DisclosurePolicy`).

    **Secondary suppression** (heuristic, then verified): while some line (a row or a column,
    each with its total) holds exactly one suppressed cell, another cell of that line is
    suppressed: each candidate is scored by its value plus the value a greedy completion
    from it would still have to suppress (one-step lookahead), and the cheapest wins; zero
    cells are complements of last resort. Every line with a suppressed cell thus ends with
    at least two. The result is then checked by linear programming: for each suppressed cell
    the minimum and maximum consistent with the published table are computed
    (:meth:`ProtectedTable.check`); while any is a single point (recomputable, e.g. because
    non-negativity pins it), the cheapest further cell of its line is suppressed. The
    pattern is therefore never recomputable, though not guaranteed minimal (cost = total
    suppressed value is not optimised globally).

    Parameters
    ----------
    frame : pandas.DataFrame or polars.DataFrame
        One row per cell.
    rows, columns : str
        Dimension columns (``columns`` None for a 1-D table). Labels are sorted in their own
        dtype (use an Enum dtype for a custom order) and rendered as text; nulls become
        ``"unknown"``.
    unit_count : str, default "unit_count"
        Number of units (firms, interactions …) in the cell; for a count table also the
        published value.
    value : str, optional
        Cell total of a magnitude table (e.g. turnover). Requires ``contributions``.
    contributions : str, optional
        A list column with the (non-negative) contributions of the cell's units — at least the
        ``max(dominance_n, 2)`` largest.
    policy : DisclosurePolicy, optional
        Defaults to ``DisclosurePolicy()``. Current CBS rules take precedence over defaults.
    margins : bool, default True
        Publish row/column totals (and so protect against recomputation from them).
    suppress : sequence of tuple of str, optional
        Cells to suppress regardless of the rules (reason ``forced``), as label tuples
        ``(row,)`` or ``(row, column)`` in their rendered text, margins labelled
        :data:`TOTAL_LABEL`. Use it to keep tables that share cells consistent: a cell
        suppressed in one published table must be suppressed in every table that shows it.
        Secondary suppression then protects the forced cells too.

    Returns
    -------
    ProtectedTable

    Examples
    --------
    >>> import polars as pl
    >>> cells = pl.DataFrame({"region": ["Noord", "Oost", "West", "Zuid"],
    ...                       "unit_count": [25, 4, 31, 40]})
    >>> table = protect_table(cells, rows="region")
    >>> table.frame["value"].to_list()
    [None, None, 31, 40, 100]
    >>> table.frame["reason"].to_list()
    ['secondary', 'min_units', None, None, None]
    >>> print(table.to_markdown())
    | region | unit_count |
    |---|---|
    | Noord | ✱ |
    | Oost | ✱ |
    | West | 31 |
    | Zuid | 40 |
    | Total | 100 |
    <BLANKLINE>
    ✱ suppressed (disclosure control: 1 primary, 1 secondary).
    """
    policy = policy if policy is not None else DisclosurePolicy()
    data, kind_in = to_polars(frame, argument="frame")
    dims = [rows] if columns is None else [rows, columns]
    if columns is not None and columns == rows:
        msg = "The 'rows' and 'columns' arguments name the same column. Hint: pass two dimensions."
        raise InputError(msg)
    needed = [*dims, unit_count]
    if value is not None:
        if contributions is None:
            msg = (
                "A magnitude table ('value' given) needs 'contributions' (a list column of the "
                "units' contributions) for the dominance and p% rules. Hint: pass "
                "contributions=..., or drop 'value' to publish counts only."
            )
            raise InputError(msg)
        needed += [value, contributions]
    require_columns(data, needed, argument="frame")
    kind: TableKind = "magnitude" if value is not None else "count"
    keep = max(policy.dominance_n, 2)

    cells = _grid(data, dims, unit_count, value, contributions, keep)
    labels = {d: cells.get_column(d).unique(maintain_order=True).to_list() for d in dims}
    n_r = len(labels[rows])
    n_c = len(labels[columns]) if columns is not None else 1
    units_in = cells.get_column("__units").to_numpy().astype(np.float64).reshape(n_r, n_c)
    values_in = (
        cells.get_column("__value").to_numpy().astype(np.float64).reshape(n_r, n_c)
        if kind == "magnitude"
        else units_in.copy()
    )
    tops_in: list[list[float]] = (
        cells.get_column("__top").to_list()
        if kind == "magnitude"
        else [[] for _ in range(n_r * n_c)]
    )

    # Extended table with margins: flat index i * width + j.
    if margins:
        width = n_c + 1 if columns is not None else 1
        height = n_r + 1
    else:
        width, height = n_c, n_r
    units = np.zeros((height, width))
    values = np.zeros((height, width))
    tops: list[list[list[float]]] = [[[] for _ in range(width)] for _ in range(height)]
    units[:n_r, :n_c] = units_in
    values[:n_r, :n_c] = values_in
    for i in range(n_r):
        for j in range(n_c):
            tops[i][j] = list(tops_in[i * n_c + j])
    constraints: list[tuple[tuple[int, ...], int]] = []
    if margins:
        tr = n_r  # totals row
        if columns is not None:
            tc = n_c  # totals column
            units[:n_r, tc] = units_in.sum(axis=1)
            values[:n_r, tc] = values_in.sum(axis=1)
            for i in range(n_r):
                tops[i][tc] = _top_merge(tops[i][:n_c], keep)
            units[tr, :] = units[:n_r, :].sum(axis=0)
            values[tr, :] = values[:n_r, :].sum(axis=0)
            for j in range(n_c + 1):
                tops[tr][j] = _top_merge([tops[i][j] for i in range(n_r)], keep)
            for i in range(n_r + 1):
                constraints.append((tuple(i * width + j for j in range(n_c)), i * width + tc))
            for j in range(n_c + 1):
                constraints.append((tuple(i * width + j for i in range(n_r)), tr * width + j))
        else:
            units[tr, 0] = units_in.sum()
            values[tr, 0] = values_in.sum()
            tops[tr][0] = _top_merge([tops[i][0] for i in range(n_r)], keep)
            constraints.append((tuple(range(n_r)), tr))

    flat_units = units.ravel()
    flat_values = values.ravel()
    flat_tops = [t for row in tops for t in row]
    reasons = _primary(flat_units, flat_values, flat_tops, kind, policy)
    if suppress:
        row_labels0 = [str(x) for x in labels[rows]] + ([TOTAL_LABEL] if margins else [])
        col_labels0 = (
            [str(x) for x in labels[columns]] + ([TOTAL_LABEL] if margins else [])
            if columns is not None
            else [""]
        )
        position: dict[tuple[str, ...], int] = {
            ((r,) if columns is None else (r, c)): i * width + j
            for i, r in enumerate(row_labels0)
            for j, c in enumerate(col_labels0)
        }
        unknown = [cell for cell in suppress if tuple(cell) not in position]
        if unknown:
            msg = (
                f"{len(unknown)} cell(s) in 'suppress' are not cells of this table. Hint: give "
                f"label tuples with {len(dims)} element(s), margins as {TOTAL_LABEL!r}."
            )
            raise InputError(msg)
        for cell in suppress:
            k = position[tuple(cell)]
            if reasons[k] is None:
                reasons[k] = "forced"
    suppressed = np.array([r is not None for r in reasons])
    measures = [flat_values] if kind == "count" else [flat_values, flat_units]
    _secondary(suppressed, reasons, flat_values, flat_units, constraints, measures)

    # Assemble the long output frame.
    row_labels = [*labels[rows], *([TOTAL_LABEL] if margins else [])]
    out: dict[str, Any] = {}
    if columns is not None:
        col_labels = [*labels[columns], *([TOTAL_LABEL] if margins else [])]
        out[rows] = [r for r in row_labels for _ in col_labels]
        out[columns] = [c for _ in row_labels for c in col_labels]
    else:
        out[rows] = row_labels
    published_units = [None if s else _num(u) for u, s in zip(flat_units, suppressed, strict=True)]
    published_values = [
        None if s else _num(v) for v, s in zip(flat_values, suppressed, strict=True)
    ]
    out["unit_count"] = published_units
    out["value"] = published_values
    out["suppressed"] = suppressed.tolist()
    out["reason"] = reasons
    value_dtype = pl.Int64 if kind == "count" or _all_int(flat_values) else pl.Float64
    result = pl.DataFrame(
        out,
        schema={
            **{d: pl.Utf8 for d in dims},
            "unit_count": pl.Int64,
            "value": value_dtype,
            "suppressed": pl.Boolean,
            "reason": pl.Utf8,
        },
    )
    parameters = {
        "policy": asdict(policy),
        "kind": kind,
        "dimensions": dims,
        "measure": value if value is not None else unit_count,
        "margins": margins,
        "secondary_method": "greedy cheapest complement per line + LP verification",
    }
    return ProtectedTable(
        frame=like_input(result, kind_in),
        parameters=parameters,
        kind=kind,
        _cells=result,
        _constraints=tuple(constraints),
        _true_values=flat_values,
        _true_units=flat_units,
    )


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else float(x)


def _all_int(values: np.ndarray) -> bool:
    return bool(np.all(np.mod(values, 1.0) == 0.0))


def _grid(
    data: pl.DataFrame,
    dims: list[str],
    unit_count: str,
    value: str | None,
    contributions: str | None,
    keep: int,
) -> pl.DataFrame:
    """Complete, sorted cell grid with ``__units``, ``__value``, ``__top`` (top contributions)."""
    for d in dims:
        if data.get_column(d).null_count():
            data = data.with_columns(pl.col(d).cast(pl.Utf8).fill_null("unknown"))
    if data.select(pl.struct(dims).is_duplicated().any()).item():
        msg = (
            f"The 'frame' has several rows for the same cell of {', '.join(map(repr, dims))}. "
            "Hint: aggregate to one row per cell first (group_by + sum)."
        )
        raise SchemaError(msg)
    for d in dims:
        if (data.get_column(d).cast(pl.Utf8) == TOTAL_LABEL).any():
            msg = (
                f"Column {d!r} has a label equal to the margin label {TOTAL_LABEL!r}. "
                "Hint: rename that category."
            )
            raise SchemaError(msg)
    exprs = [pl.col(unit_count).cast(pl.Float64).alias("__units")]
    if value is not None and contributions is not None:
        exprs.append(pl.col(value).cast(pl.Float64).alias("__value"))
        exprs.append(
            pl.col(contributions)
            .list.eval(pl.element().cast(pl.Float64))
            .list.sort(descending=True)
            .list.head(keep)
            .alias("__top")
        )
    cells = data.select(*(pl.col(d) for d in dims), *exprs)
    bad = cells.select(
        neg=(pl.col("__units") < 0).sum() + pl.col("__units").is_null().sum(),
    ).item()
    if bad:
        msg = (
            f"Column {unit_count!r} has {bad} negative or null unit count(s). "
            "Hint: unit counts must be whole numbers >= 0."
        )
        raise SchemaError(msg)
    if value is not None:
        neg = cells.select(
            (pl.col("__top").list.min() < 0).sum() + pl.col("__value").is_null().sum()
        ).item()
        if neg:
            msg = (
                f"{neg} cell(s) have a null value or negative contributions. Hint: the "
                "dominance and p% rules need non-negative contributions; shift or split them."
            )
            raise SchemaError(msg)
    # Sort labels in their own dtype, then complete the grid (missing cells: zero units).
    axes = [cells.select(pl.col(d).unique().sort()) for d in dims]
    grid = axes[0]
    for axis in axes[1:]:
        grid = grid.join(axis, how="cross")
    filled = grid.join(cells, on=dims, how="left", maintain_order="left").with_columns(
        pl.col("__units").fill_null(0.0),
        *([pl.col("__value").fill_null(0.0)] if value is not None else []),
        *(
            [pl.col("__top").fill_null(pl.lit([], dtype=pl.List(pl.Float64)))]
            if value is not None
            else []
        ),
    )
    return filled.with_columns(pl.col(d).cast(pl.Utf8) for d in dims)


def _primary(
    units: np.ndarray,
    values: np.ndarray,
    tops: Sequence[Sequence[float]],
    kind: TableKind,
    policy: DisclosurePolicy,
) -> list[str | None]:
    reasons: list[str | None] = []
    for u, v, top in zip(units, values, tops, strict=True):
        if u < policy.min_units and (u > 0 or policy.protect_zeros):
            reasons.append("min_units")
            continue
        if kind == "magnitude" and v > 0:
            largest = sorted(top, reverse=True)
            x1 = largest[0] if largest else 0.0
            x2 = largest[1] if len(largest) > 1 else 0.0
            if sum(largest[: policy.dominance_n]) > policy.dominance_k * v:
                reasons.append("dominance")
                continue
            if x1 > 0 and (v - x1 - x2) * 100.0 < policy.p_percent * x1:
                reasons.append("p_percent")
                continue
        reasons.append(None)
    return reasons


def _secondary(
    suppressed: np.ndarray,
    reasons: list[str | None],
    values: np.ndarray,
    units: np.ndarray,
    constraints: Sequence[tuple[tuple[int, ...], int]],
    measures: Sequence[np.ndarray],
) -> None:
    """Complementary suppression in place (see :func:`protect_table`).

    While a line holds exactly one suppressed cell, every free cell of that line is tried as
    its complement and the one whose greedy *rollout* (keep adding the cheapest complement to
    every line left with a single suppression, until none is) suppresses the least value wins.
    This one-step lookahead avoids the long cascades plain greedy choice runs into (e.g.
    through a column whose only non-zero cell is a margin). Zero cells cost more than any
    non-zero cell: they are complements of last resort.
    """
    lines = [np.asarray((*parts, total), dtype=np.int64) for parts, total in constraints]
    lines_of: dict[int, list[int]] = {}
    for k, line in enumerate(lines):
        for cell in line:
            lines_of.setdefault(int(cell), []).append(k)
    big = float(np.abs(values).sum()) + 1.0
    cost = np.where(values > 0, values, big).astype(np.float64)

    def order(cell: int) -> tuple[float, float, int]:
        return (float(cost[cell]), float(units[cell]), cell)

    def single_lines(mask: np.ndarray) -> list[int]:
        return [k for k, line in enumerate(lines) if int(mask[line].sum()) == 1]

    def rollout(mask: np.ndarray) -> float:
        """Greedy cheapest completion of ``mask`` (a copy); returns the added cost."""
        mask = mask.copy()
        added = 0.0
        for _ in range(mask.size):
            todo = single_lines(mask)
            if not todo:
                break
            free = [int(c) for c in lines[todo[0]] if not mask[c]]
            if not free:
                return np.inf
            pick = min(free, key=order)
            mask[pick] = True
            added += cost[pick]
        return added

    def complement(k: int) -> bool:
        free = [int(c) for c in lines[k] if not suppressed[c]]
        if not free:
            return False
        best, best_key = free[0], (np.inf, np.inf, 0.0, 0)
        for cell in free:
            trial = suppressed.copy()
            trial[cell] = True
            total = cost[cell] + rollout(trial)
            key = (total, *order(cell))
            if key < best_key:
                best, best_key = cell, key
        suppressed[best] = True
        reasons[best] = "secondary"
        return True

    for _ in range(2 * suppressed.size + 2):
        todo = single_lines(suppressed)
        if todo:
            if not complement(todo[0]):  # pragma: no cover - a single line always has a free cell
                break
            continue
        # Verify: every suppressed cell must have a non-degenerate feasible interval.
        stuck: list[int] = []
        for measure in measures:
            lower, upper = _intervals(measure, suppressed, constraints)
            idx = np.flatnonzero(suppressed)
            tol = _tolerance(measure)
            stuck.extend(int(c) for c, w in zip(idx, upper - lower, strict=True) if w <= tol)
        if not stuck:
            return
        cell = min(set(stuck))
        candidates = sorted(lines_of.get(cell, []), key=lambda k: int(suppressed[lines[k]].sum()))
        if not any(complement(k) for k in candidates):
            break
    msg = (
        "Secondary suppression could not make every suppressed cell safe (a line ran out of "
        "cells to suppress). Hint: publish the table without margins, or coarsen categories."
    )
    raise DisclosureError(msg)
