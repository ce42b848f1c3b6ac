"""Quality of a recovery against a truth table: precision, recall, F1, blocking recall.

Definitions (one prediction per query, the best candidate's target value):

* *matchable* queries have a true target value that occurs in the reference frame;
* for a status band B, the *links* are the queries with status in B; a link is a true positive
  when its target value equals the truth;
* ``precision = TP / links``, ``recall = TP / matchable`` (so recall on the ``accepted`` band
  counts every matchable query, including those left in review or rejected), F1 their
  harmonic mean;
* *blocking recall* is the share of matchable queries whose true target value is among their
  scored candidate pairs (after blocking and single-pass pruning); the *reduction ratio* is
  ``1 - scored pairs / (queries × reference rows)``.

Examples
--------
>>> import polars as pl
>>> from kvklink.linkage._quality import band_metrics
>>> pred = pl.DataFrame({"status": ["accepted", "accepted", "review", "rejected"],
...                      "best_candidate": ["a", "b", "c", "d"],
...                      "truth": ["a", "x", "c", None]})
>>> m = band_metrics(pred, ["accepted"], n_matchable=3)
>>> m["links"], m["true_positives"], m["precision"], round(m["recall"], 3), m["f1"]
(2, 1, 0.5, 0.333, 0.4)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from kvklink.errors import SchemaError
from kvklink.frames import require_columns, to_polars
from kvklink.linkage._recover import RecoveryResult

__all__ = ["QualityReport", "band_metrics", "recovery_quality", "threshold_curve"]


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def band_metrics(
    pred: pl.DataFrame, statuses: Sequence[str], *, n_matchable: int
) -> dict[str, Any]:
    """Precision/recall/F1 of the links whose ``status`` is in ``statuses``.

    ``pred`` has columns ``status``, ``best_candidate`` and ``truth``.
    """
    links = pred.filter(pl.col("status").is_in(list(statuses)) & pl.col("best_candidate")
                        .is_not_null())
    tp = int((links["best_candidate"] == links["truth"]).fill_null(False).sum())
    n = links.height
    precision = tp / n if n else 1.0
    recall = tp / n_matchable if n_matchable else 0.0
    return {"band": "+".join(statuses), "links": n, "true_positives": tp,
            "precision": precision, "recall": recall, "f1": _f1(precision, recall)}


@dataclass(frozen=True, eq=False)
class QualityReport:
    """Quality of a recovery against a truth table (see the module docstring).

    Attributes
    ----------
    bands
        One row per band (``accepted``, ``review``, ``accepted+review``, ``rejected``):
        ``links``, ``true_positives``, ``precision``, ``recall``, ``f1``.
    n_queries, n_matchable
        Queries scored, and queries whose true value is in the reference frame.
    review_share_of_remaining
        Of the matchable queries *not* correctly accepted, the share that is in the review
        band with its true value among the candidates shown to the reviewer (best or
        runner-up).
    blocking_recall, reduction_ratio
        See the module docstring.
    """

    bands: pl.DataFrame
    n_queries: int
    n_matchable: int
    review_share_of_remaining: float
    blocking_recall: float
    reduction_ratio: float

    def band(self, name: str) -> dict[str, Any]:
        """The metrics row of one band as a dict."""
        rows = self.bands.filter(pl.col("band") == name).to_dicts()
        if not rows:
            msg = f"Unknown band {name!r}. Hint: one of {self.bands['band'].to_list()}."
            raise KeyError(msg)
        return rows[0]

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (for JSON)."""
        return {
            "n_queries": self.n_queries,
            "n_matchable": self.n_matchable,
            "review_share_of_remaining": self.review_share_of_remaining,
            "blocking_recall": self.blocking_recall,
            "reduction_ratio": self.reduction_ratio,
            "bands": self.bands.to_dicts(),
        }

    def __repr__(self) -> str:
        a = self.band("accepted")
        return (
            f"QualityReport(queries={self.n_queries}, matchable={self.n_matchable}, "
            f"accepted precision={a['precision']:.4f} recall={a['recall']:.4f} "
            f"f1={a['f1']:.4f}, blocking_recall={self.blocking_recall:.4f})"
        )


def _predictions(
    result: RecoveryResult, truth: Any, on: str | None, truth_column: str
) -> tuple[pl.DataFrame, int]:
    frame = to_polars(result.frame, argument="result.frame")[0]
    t, _ = to_polars(truth, argument="truth")
    on = on or result.spec.query_id or "query_row"
    require_columns(t, [on, truth_column], argument="truth")
    require_columns(frame, [on], argument="result.frame")
    if t[on].n_unique() != t.height:
        msg = (
            f"The 'truth' frame has duplicate values in column {on!r} ({t.height} rows). "
            "Hint: one truth row per query."
        )
        raise SchemaError(msg)
    targets = result.reference[result.spec.target].cast(pl.Utf8).unique().drop_nulls()
    pred = frame.join(
        t.select(pl.col(on).cast(frame[on].dtype), pl.col(truth_column).cast(pl.Utf8)
                 .alias("truth")),
        on=on, how="left",
    ).with_columns(pl.col("truth").is_in(targets.implode()).fill_null(False).alias("matchable"))
    n_matchable = int(pred["matchable"].sum())
    return pred, n_matchable


def recovery_quality(
    result: RecoveryResult,
    truth: Any,
    *,
    on: str | None = None,
    truth_column: str = "true_kvk_nummer",
) -> QualityReport:
    """Precision, recall and F1 per status band, blocking recall and reduction ratio.

    Parameters
    ----------
    result
        A :class:`RecoveryResult`.
    truth
        One row per query: the id column ``on`` and the true target in ``truth_column``
        (null when the query has no true match).
    on
        Join column; defaults to the spec's ``query_id`` or ``query_row``.
    truth_column
        Column of ``truth`` holding the true target value.
    """
    pred, n_matchable = _predictions(result, truth, on, truth_column)
    rows = [
        band_metrics(pred, ["accepted"], n_matchable=n_matchable),
        band_metrics(pred, ["review"], n_matchable=n_matchable),
        band_metrics(pred, ["accepted", "review"], n_matchable=n_matchable),
        band_metrics(pred, ["rejected"], n_matchable=n_matchable),
    ]
    bands = pl.DataFrame(rows)
    acc_tp = rows[0]["true_positives"]
    remaining = n_matchable - acc_tp
    shown = pl.col("best_candidate") == pl.col("truth")
    if "runner_up" in pred.columns:
        shown = shown | (pl.col("runner_up") == pl.col("truth"))
    in_review = pred.filter((pl.col("status") == "review") & shown.fill_null(False)).height
    review_share = in_review / remaining if remaining else 1.0
    truth_pairs = pred.filter(pl.col("matchable")).select("query_row", "truth")
    target = result.spec.target
    found = truth_pairs.join(
        result.candidates.select("query_row", pl.col(target).alias("truth")).unique(),
        on=["query_row", "truth"], how="semi",
    ).height
    blocking_recall = found / truth_pairs.height if truth_pairs.height else 1.0
    space = float(pred.height) * float(result.reference.height)
    reduction = 1.0 - result.candidates.height / space if space else 1.0
    return QualityReport(
        bands=bands,
        n_queries=pred.height,
        n_matchable=n_matchable,
        review_share_of_remaining=float(review_share),
        blocking_recall=float(blocking_recall),
        reduction_ratio=float(reduction),
    )


def threshold_curve(
    result: RecoveryResult,
    truth: Any,
    *,
    thresholds: Sequence[float] | None = None,
    on: str | None = None,
    truth_column: str = "true_kvk_nummer",
    apply_margin: bool = True,
) -> pl.DataFrame:
    """Precision, recall and F1 of the best candidates across acceptance thresholds.

    A query counts as linked at threshold ``t`` when its best candidate's probability is at
    least ``t`` (and, with ``apply_margin``, its margin passes the result's ``min_margin``).
    Returns columns ``threshold``, ``links``, ``true_positives``, ``precision``, ``recall``,
    ``f1`` — use it to choose ``thresholds=(accept, review)`` on a labelled sample.
    """
    pred, n_matchable = _predictions(result, truth, on, truth_column)
    grid = (
        np.asarray(sorted(set(thresholds)), dtype=np.float64)
        if thresholds is not None
        else np.concatenate([np.linspace(0.05, 0.95, 19), [0.98, 0.99, 0.995, 0.999]])
    )
    prob = pred["match_probability"].fill_null(-1.0).to_numpy()
    margin = pred["match_margin"].to_numpy()
    margin_ok = (
        np.isnan(margin) | (margin >= result.min_margin) if apply_margin
        else np.ones(pred.height, dtype=bool)
    )
    correct = (pred["best_candidate"] == pred["truth"]).fill_null(False).to_numpy()
    rows = []
    for t in grid:
        linked = (prob >= t) & margin_ok
        n = int(linked.sum())
        tp = int((linked & correct).sum())
        p = tp / n if n else 1.0
        r = tp / n_matchable if n_matchable else 0.0
        rows.append((float(t), n, tp, p, r, _f1(p, r)))
    return pl.DataFrame(
        rows,
        schema={"threshold": pl.Float64, "links": pl.Int64, "true_positives": pl.Int64,
                "precision": pl.Float64, "recall": pl.Float64, "f1": pl.Float64},
        orient="row",
    )
