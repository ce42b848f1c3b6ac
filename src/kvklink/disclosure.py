"""Statistical disclosure control for aggregate outputs that leave a secure environment.

Every table kvklink publishes (linkage reports, cohort descriptions, effect tables by group)
passes through :func:`protect_table`: primary suppression by a minimum number of units, the
(n, k) dominance rule and the p%-rule (magnitude tables), then secondary suppression so that no
suppressed cell can be recomputed from the published cells and margins — verified by linear
programming. Suppressed cells are null in the frame, flagged, and shown as a marker (``✱``) in
rendered tables; the parameters are recorded in the result. Tables published together that
share cells are protected with :func:`protect_jointly` and audited with :func:`audit_jointly`,
so that they do not expose a cell together either.

The defaults (10 units, n=2/k=85%, p=80) are conservative stand-ins: **the current CBS output
rules take precedence** — set :class:`DisclosurePolicy` to match them.

Examples
--------
>>> import polars as pl
>>> from kvklink.disclosure import protect_table
>>> cells = pl.DataFrame({"size": ["0-1", "2-9", "10-49"], "unit_count": [120, 35, 3]})
>>> protect_table(cells, rows="size")
ProtectedTable(kind='count', cells=4, primary=1, secondary=1, min_units=10)
"""

from kvklink._disclosure import (
    SUPPRESSION_REASONS,
    TOTAL_LABEL,
    DisclosurePolicy,
    ProtectedTable,
    protect_table,
)
from kvklink._joint_disclosure import Cell, TableBuilder, audit_jointly, protect_jointly

__all__ = [
    "SUPPRESSION_REASONS",
    "TOTAL_LABEL",
    "Cell",
    "DisclosurePolicy",
    "ProtectedTable",
    "TableBuilder",
    "audit_jointly",
    "protect_jointly",
    "protect_table",
]
