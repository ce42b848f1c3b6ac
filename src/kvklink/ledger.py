"""Row accounting: every input row has exactly one outcome, and the counts add up.

A :class:`RowLedger` holds how many input rows ended in each outcome of a stage. It holds
counts only, never record values, so it can travel with a pseudonymised output.

Outcomes (:data:`LEDGER_OUTCOMES`, in report order):

* intake: ``pseudonymised``; the unusable-identifier reasons ``vestigingsnummer``,
  ``rsin_or_bsn``, ``btw_id``, ``malformed``, ``missing``; the consent outcomes
  ``no_consent``, ``purpose_not_covered``, ``consent_after_as_of``, ``consent_withdrawn``;
* linkage (later stages refine ``pseudonymised`` with :meth:`RowLedger.refine`):
  ``linked``, ``not_in_register``, ``not_valid_at_date``, ``ambiguous``.

Examples
--------
>>> ledger = RowLedger({"pseudonymised": 7, "malformed": 2, "no_consent": 1}, total_input=10)
>>> ledger.reconciles()
True
>>> ledger
RowLedger(stage='pseudonymise', total_input=10, pseudonymised=7, malformed=2, no_consent=1)
>>> ledger.refine("pseudonymised", {"linked": 6, "not_in_register": 1}, stage="link").counts
{'linked': 6, 'not_in_register': 1, 'malformed': 2, 'no_consent': 1}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import polars as pl

from kvklink.errors import InputError
from kvklink.frames import like_input

__all__ = ["LEDGER_OUTCOMES", "RowLedger"]

LEDGER_OUTCOMES: tuple[str, ...] = (
    "pseudonymised",
    "linked",
    "not_in_register",
    "not_valid_at_date",
    "ambiguous",
    "vestigingsnummer",
    "rsin_or_bsn",
    "btw_id",
    "malformed",
    "missing",
    "no_consent",
    "purpose_not_covered",
    "consent_after_as_of",
    "consent_withdrawn",
)

_FORMAT = "kvklink-row-ledger/1"
ContextValue = str | int | float | bool | None


def _order(counts: Mapping[str, int]) -> dict[str, int]:
    known = [o for o in LEDGER_OUTCOMES if o in counts]
    other = sorted(o for o in counts if o not in LEDGER_OUTCOMES)
    return {o: counts[o] for o in (*known, *other)}


def _check_counts(counts: Mapping[str, int], *, argument: str) -> dict[str, int]:
    if not isinstance(counts, Mapping):
        msg = f"The {argument!r} argument of RowLedger must be a mapping of outcome -> count."
        raise InputError(msg)
    out: dict[str, int] = {}
    for outcome, n in counts.items():
        if not isinstance(outcome, str) or not outcome:
            msg = f"RowLedger {argument} keys must be non-empty outcome names (str)."
            raise InputError(msg)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            msg = (
                f"RowLedger {argument} for outcome {outcome!r} must be an int >= 0. "
                "Hint: counts come from value_counts() of the outcome column."
            )
            raise InputError(msg)
        out[outcome] = int(n)
    return _order(out)


class RowLedger:
    """Counts of input rows per outcome for one stage; immutable.

    Parameters
    ----------
    counts
        Outcome name -> number of input rows with that outcome.
    total_input
        Number of input rows. :meth:`reconciles` checks the counts add up to it.
    stage
        The stage that produced the ledger (``"pseudonymise"``, ``"link"``, …).
    flags
        Extra counts that do *not* partition the rows (e.g. ``padded_numeric``: rows whose
        7-digit numeric KVK number was padded). Not part of :meth:`reconciles`.
    context
        Non-identifying facts about the run (``key_id``, ``purpose``, ``as_of`` …).
    """

    __slots__ = ("_context", "_counts", "_flags", "_stage", "_total_input")

    def __init__(
        self,
        counts: Mapping[str, int],
        *,
        total_input: int,
        stage: str = "pseudonymise",
        flags: Mapping[str, int] | None = None,
        context: Mapping[str, ContextValue] | None = None,
    ) -> None:
        if isinstance(total_input, bool) or not isinstance(total_input, int) or total_input < 0:
            msg = "The 'total_input' argument of RowLedger must be an int >= 0."
            raise InputError(msg)
        self._counts = _check_counts(counts, argument="counts")
        self._flags = _check_counts(flags or {}, argument="flags")
        self._total_input = total_input
        self._stage = str(stage)
        self._context: dict[str, ContextValue] = dict(context or {})

    @classmethod
    def from_outcomes(
        cls,
        outcomes: pl.Series,
        *,
        stage: str = "pseudonymise",
        include: tuple[str, ...] = (),
        flags: Mapping[str, int] | None = None,
        context: Mapping[str, ContextValue] | None = None,
    ) -> RowLedger:
        """Build a ledger from a per-row outcome series (one string per input row).

        Outcomes named in ``include`` are listed with a zero count when absent.
        """
        if outcomes.null_count():
            msg = (
                f"{outcomes.null_count()} row(s) have no outcome. Hint: every input row needs "
                "exactly one outcome."
            )
            raise InputError(msg)
        vc = outcomes.value_counts()
        counts = {o: 0 for o in include}
        names = vc[:, 0].cast(pl.String).to_list()
        counts.update(dict(zip(names, vc[:, 1].to_list(), strict=True)))
        return cls(counts, total_input=outcomes.len(), stage=stage, flags=flags, context=context)

    # -- accessors -----------------------------------------------------------------------------
    @property
    def counts(self) -> dict[str, int]:
        """Outcome -> number of rows (a copy, in report order)."""
        return dict(self._counts)

    @property
    def flags(self) -> dict[str, int]:
        """Extra counts that do not partition the rows (a copy)."""
        return dict(self._flags)

    @property
    def total_input(self) -> int:
        """Number of input rows."""
        return self._total_input

    @property
    def stage(self) -> str:
        """The stage that produced this ledger."""
        return self._stage

    @property
    def context(self) -> dict[str, ContextValue]:
        """Non-identifying facts about the run (a copy)."""
        return dict(self._context)

    def __getitem__(self, outcome: str) -> int:
        """Rows with ``outcome`` (0 when the outcome did not occur)."""
        return self._counts.get(outcome, 0)

    def reconciles(self) -> bool:
        """Whether the counts add up to :attr:`total_input`."""
        return sum(self._counts.values()) == self._total_input

    # -- derived ledgers -----------------------------------------------------------------------
    def refine(
        self, outcome: str, into: Mapping[str, int], *, stage: str | None = None
    ) -> RowLedger:
        """Return a ledger with ``outcome`` split into the outcomes of ``into``.

        ``into`` must add up to the count of ``outcome``, so the new ledger reconciles whenever
        this one does. Used by later stages (linkage splits ``pseudonymised``).

        Raises
        ------
        InputError
            The split does not add up, or clashes with an existing outcome.
        """
        parts = _check_counts(into, argument="into")
        have = self._counts.get(outcome, 0)
        if sum(parts.values()) != have:
            msg = (
                f"Refining {outcome!r} ({have} rows) into {sum(parts.values())} rows does not "
                "add up. Hint: every row of the refined outcome needs exactly one new outcome."
            )
            raise InputError(msg)
        counts = {k: v for k, v in self._counts.items() if k != outcome}
        clash = sorted(set(parts) & set(counts))
        if clash:
            msg = f"Refined outcomes {clash} already exist in the ledger. Hint: use new names."
            raise InputError(msg)
        counts.update(parts)
        return RowLedger(
            counts,
            total_input=self._total_input,
            stage=stage or self._stage,
            flags=self._flags,
            context=self._context,
        )

    # -- export --------------------------------------------------------------------------------
    def to_frame(self, *, kind: Literal["polars", "pandas"] = "polars") -> Any:
        """Return a frame with columns ``outcome``, ``rows`` and ``share`` (of input rows)."""
        total = self._total_input
        frame = pl.DataFrame(
            {
                "outcome": list(self._counts),
                "rows": list(self._counts.values()),
                "share": [n / total if total else 0.0 for n in self._counts.values()],
            },
            schema={"outcome": pl.String, "rows": pl.Int64, "share": pl.Float64},
        )
        return like_input(frame, kind)

    def to_dict(self) -> dict[str, Any]:
        """Return the ledger as plain JSON-ready data."""
        return {
            "format": _FORMAT,
            "stage": self._stage,
            "total_input": self._total_input,
            "reconciles": self.reconciles(),
            "counts": dict(self._counts),
            "flags": dict(self._flags),
            "context": dict(self._context),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """Return the ledger as JSON (see :meth:`from_json`)."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> RowLedger:
        """Read a ledger written by :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            msg = "The ledger text is not valid JSON. Hint: pass what RowLedger.to_json wrote."
            raise InputError(msg) from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            msg = f"The ledger JSON is not in format {_FORMAT!r}. Hint: use RowLedger.to_json."
            raise InputError(msg)
        return cls(
            data["counts"],
            total_input=data["total_input"],
            stage=data.get("stage", "pseudonymise"),
            flags=data.get("flags"),
            context=data.get("context"),
        )

    # -- dunder --------------------------------------------------------------------------------
    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v}" for k, v in self._counts.items())
        sep = ", " if parts else ""
        return f"RowLedger(stage={self._stage!r}, total_input={self._total_input}{sep}{parts})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RowLedger):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.to_json(indent=None))
