"""Disclosure control across several tables that share cells (implementation of kvklink.disclosure).

Tables that are each safe on their own can still pin a suppressed cell together: the same
count published in two tables, one table's published total minus another's. These helpers
audit a set of count tables *jointly* (one linear program over all of them, shared cells as
one variable) and protect them jointly (a shared cell suppressed in one table is suppressed in
every table; while the audit finds a cell that can be recomputed, one more published cell next
to it is suppressed and the tables are protected again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import polars as pl

from kvklink._disclosure import TOTAL_LABEL, ProtectedTable, _intervals, _tolerance
from kvklink.errors import DisclosureError, SchemaError

__all__ = ["Cell", "TableBuilder", "audit_jointly", "protect_jointly"]

#: A cell of one of several tables: (table name, its labels — one per dimension, margins
#: labelled :data:`kvklink.disclosure.TOTAL_LABEL`).
Cell = tuple[str, tuple[str, ...]]

#: Builds one protected table given the extra cells it must suppress (``suppress=`` labels).
TableBuilder = Callable[[list[tuple[str, ...]]], ProtectedTable]


def _labels(table: ProtectedTable) -> list[tuple[str, ...]]:
    cells = table._cells
    columns = [cells.get_column(d).cast(pl.Utf8).to_list() for d in table.parameters["dimensions"]]
    return [tuple(str(v) for v in key) for key in zip(*columns, strict=True)]


def audit_jointly(
    tables: Mapping[str, ProtectedTable], same: Sequence[Sequence[Cell]] = ()
) -> pl.DataFrame:
    """Feasible intervals of every suppressed cell given *all* the published tables (LP).

    Like :meth:`ProtectedTable.check`, but one linear program over every table at once: each
    group in ``same`` names cells that hold the same count in different tables (one variable);
    published cells are fixed, suppressed ones non-negative, every row and column adds up to
    its margin. Count tables (the ``value`` measure).

    Parameters
    ----------
    tables : mapping of str to ProtectedTable
        The tables published together, by name.
    same : sequence of sequences of (table name, labels)
        Groups of cells that are the same number. Unknown tables or labels are a
        :class:`~kvklink.errors.SchemaError`.

    Returns
    -------
    polars.DataFrame
        One row per suppressed cell (a shared cell once, under its first table): ``table``,
        ``row``, ``column`` (``""`` in a one-way table), ``lower``, ``upper``,
        ``recomputable``. Keep it inside the secure environment: the bounds narrow the
        suppressed values down.

    Examples
    --------
    Each table is safe alone, but the treated total of the first is the second's total:

    >>> import polars as pl
    >>> from kvklink.disclosure import protect_table, audit_jointly
    >>> outcomes = pl.DataFrame({"outcome": ["treated", "dropped", "other"],
    ...                          "unit_count": [25, 4, 30]})
    >>> years = pl.DataFrame({"year": ["2020", "2021"], "unit_count": [15, 10]})
    >>> tables = {"outcomes": protect_table(outcomes, rows="outcome"),
    ...           "years": protect_table(years, rows="year")}
    >>> same = [[("outcomes", ("treated",)), ("years", ("Total",))]]
    >>> audit_jointly(tables, same).select("table", "row", "recomputable").rows()
    [('outcomes', 'dropped', True)]
    """
    names = list(tables)
    labels: list[Cell] = []
    values: list[float] = []
    suppressed: list[bool] = []
    constraints: list[tuple[tuple[int, ...], int]] = []
    for name in names:
        table = tables[name]
        offset = len(values)
        labels.extend((name, key) for key in _labels(table))
        values.extend(float(v) for v in table._true_values)
        suppressed.extend(bool(v) for v in table._cells.get_column("suppressed").to_list())
        constraints.extend(
            (tuple(offset + c for c in parts), offset + total)
            for parts, total in table._constraints
        )
    index = {cell: k for k, cell in enumerate(labels)}
    parent = list(range(len(values)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for group in same:
        members = [_position(index, cell) for cell in group]
        for k in members[1:]:
            parent[root(k)] = root(members[0])
    roots = sorted({root(k) for k in range(len(values))})
    pos = {r: i for i, r in enumerate(roots)}
    g_values = np.zeros(len(roots))
    g_suppressed = np.ones(len(roots), dtype=bool)
    for k, value in enumerate(values):
        g = pos[root(k)]
        g_values[g] = value
        g_suppressed[g] &= suppressed[k]  # published in any table = known
    g_constraints = [
        (tuple(pos[root(c)] for c in parts), pos[root(total)]) for parts, total in constraints
    ]
    lower, upper = _intervals(g_values, g_suppressed, g_constraints)
    first: dict[int, Cell] = {}
    for k in range(len(values) - 1, -1, -1):
        first[pos[root(k)]] = labels[k]
    rows = [first[int(g)] for g in np.flatnonzero(g_suppressed)]
    return pl.DataFrame(
        {
            "table": [name for name, _ in rows],
            "row": [key[0] for _, key in rows],
            "column": [key[1] if len(key) > 1 else "" for _, key in rows],
            "lower": lower,
            "upper": upper,
            "recomputable": (upper - lower) <= _tolerance(g_values),
        },
        schema={
            "table": pl.Utf8,
            "row": pl.Utf8,
            "column": pl.Utf8,
            "lower": pl.Float64,
            "upper": pl.Float64,
            "recomputable": pl.Boolean,
        },
    )


def _position(index: Mapping[Cell, int], cell: Cell) -> int:
    name, key = cell
    found = index.get((name, tuple(str(v) for v in key)))
    if found is None:
        raise _unknown_cell(name, key)
    return found


def _unknown_cell(name: str, key: Sequence[object]) -> SchemaError:
    return SchemaError(
        f"A 'same' group names cell {[str(v) for v in key]} of table {name!r}, which has no "
        "such cell. Hint: use the table names given and the labels of each table's frame "
        f"(margins are {TOTAL_LABEL!r})."
    )


def protect_jointly(
    build: Mapping[str, TableBuilder],
    same: Sequence[Sequence[Cell]] = (),
    *,
    max_rounds: int | None = None,
) -> dict[str, ProtectedTable]:
    """Protect tables that are published together, so that none of them, nor all of them
    together, lets a suppressed cell be recomputed.

    Each table is built by ``build[name](extra)``, a function that calls
    :func:`~kvklink.disclosure.protect_table` with ``suppress=`` its own forced cells plus
    ``extra``. A cell of a ``same`` group suppressed in one table is then suppressed in every
    table that shows it; when the tables are consistent they are audited jointly
    (:func:`audit_jointly`), and while a cell can be recomputed, one more published cell is
    suppressed — from the exposed cell's own row or column first, then from other tables' cells
    with one of its labels, then anywhere; the smallest non-zero count first, zeros last — and
    the tables are built again. Every round suppresses a new cell, so this ends.

    Parameters
    ----------
    build : mapping of str to callable
        Table name → function of the extra suppressions (a list of label tuples) returning
        the protected table.
    same : sequence of sequences of (table name, labels)
        Groups of cells that are the same number in different tables.
    max_rounds : int, optional
        Safety limit on rebuilds (default: the number of cells of all tables, plus ten).

    Returns
    -------
    dict of str to ProtectedTable
        Jointly safe: :func:`audit_jointly` finds nothing recomputable.

    Raises
    ------
    DisclosureError
        The limit was reached with a cell still recomputable.

    Examples
    --------
    >>> import polars as pl
    >>> from kvklink.disclosure import protect_table, protect_jointly, audit_jointly
    >>> outcomes = pl.DataFrame({"outcome": ["treated", "dropped", "other"],
    ...                          "unit_count": [25, 4, 30]})
    >>> years = pl.DataFrame({"year": ["2020", "2021"], "unit_count": [15, 10]})
    >>> same = [[("outcomes", ("treated",)), ("years", ("Total",))]]
    >>> tables = protect_jointly(
    ...     {"outcomes": lambda extra: protect_table(outcomes, rows="outcome", suppress=extra),
    ...      "years": lambda extra: protect_table(years, rows="year", suppress=extra)},
    ...     same,
    ... )
    >>> tables["years"].frame.select("year", "suppressed").rows()
    [('2020', False), ('2021', True), ('Total', True)]
    >>> audit_jointly(tables, same)["recomputable"].any()
    False
    """
    extra: dict[str, set[tuple[str, ...]]] = {name: set() for name in build}
    rounds = 0
    limit = max_rounds
    while True:
        tables = {name: fn(sorted(extra[name])) for name, fn in build.items()}
        if limit is None:
            limit = sum(t._cells.height for t in tables.values()) + 10
        rounds += 1
        if rounds > limit:
            break
        changed = False
        for group in same:
            hidden = [(n, k) for n, k in group if _is_suppressed(tables, n, k)]
            if hidden:
                for name, key in group:
                    key = tuple(str(v) for v in key)
                    if not _is_suppressed(tables, name, key) and key not in extra[name]:
                        extra[name].add(key)
                        changed = True
        if changed:
            continue
        exposed = audit_jointly(tables, same).filter(pl.col("recomputable"))
        if exposed.height == 0:
            return tables
        complement = _complement(tables, exposed.row(0, named=True))
        if complement is None:  # pragma: no cover - with every cell suppressed none is exposed
            break
        extra[complement[0]].add(complement[1])
    msg = (
        "Tables published together still let a suppressed cell be recomputed after "
        f"{limit} rounds of further suppression. Hint: publish fewer tables, or coarser "
        "categories."
    )
    raise DisclosureError(msg)


def _is_suppressed(tables: Mapping[str, ProtectedTable], name: str, key: tuple[str, ...]) -> bool:
    if name not in tables:
        msg = (
            f"A 'same' group names table {name!r}, which is not built. "
            "Hint: use a name of 'build'."
        )
        raise SchemaError(msg)
    table = tables[name]
    key = tuple(str(v) for v in key)
    for label, hidden in zip(
        _labels(table), table._cells.get_column("suppressed").to_list(), strict=True
    ):
        if label == key:
            return bool(hidden)
    raise _unknown_cell(name, key)


def _complement(
    tables: Mapping[str, ProtectedTable], exposed: dict[str, str]
) -> tuple[str, tuple[str, ...]] | None:
    """A published cell to suppress so that the ``exposed`` cell (a row of the audit) is not."""
    table, row, column = exposed["table"], exposed["row"], exposed["column"]
    mine = {row, column} - {"", TOTAL_LABEL}
    ranked: list[list[tuple[float, str, tuple[str, ...]]]] = [[], [], []]
    for name, protected in tables.items():
        published = (~protected._cells.get_column("suppressed")).to_list()
        for key, shown, value in zip(
            _labels(protected), published, protected._true_values, strict=True
        ):
            if not shown:
                continue
            if name == table and (len(key) == 1 or key[0] == row or key[1] == column):
                rank = 0
            elif mine & set(key):
                rank = 1
            else:
                rank = 2
            ranked[rank].append((float(value), name, key))
    for candidates in ranked:
        if candidates:
            _, name, key = min(candidates, key=lambda c: (c[0] == 0, c[0]))
            return name, key
    return None
