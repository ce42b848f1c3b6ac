"""Text and HTML rendering of balance tables and effect estimates (MatchIt-style printouts).

Rendering only: every number comes from the result objects, nothing is recomputed here. Output
contains statistics and counts only — never unit identifiers or record values.

Examples
--------
>>> import numpy as np
>>> from kvklink.cohort._balance import balance_table
>>> from kvklink.cohort._summary import format_balance
>>> X = np.array([[1.0], [2], [3], [4], [5], [6]]); t = np.array([1, 1, 1, 0, 0, 0])
>>> print(format_balance(balance_table(X, ["x"], t, None)).splitlines()[0])
Balance summary (estimand ATT; SMD denominator: SD of the treated group, full sample)
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from kvklink.cohort._balance import BALANCE_STATISTICS, balance_table

if TYPE_CHECKING:
    from kvklink.cohort._balance import BalanceTable
    from kvklink.cohort._effects import EffectEstimate

__all__ = [
    "balance_html",
    "effect_html",
    "format_balance",
    "format_effect",
    "summarise_match",
]

_HEADERS = {
    "mean_treated": "Means Treated",
    "mean_control": "Means Control",
    "std_mean_diff": "Std. Mean Diff.",
    "var_ratio": "Var. Ratio",
    "ecdf_mean": "eCDF Mean",
    "ecdf_max": "eCDF Max",
    "std_pair_dist": "Std. Pair Dist.",
}

_DENOM = {
    "ATT": "SD of the treated group, full sample",
    "ATC": "SD of the control group, full sample",
    "ATE": "pooled SD, full sample",
}


def _fmt(value: float, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "."
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return f"{value:.{digits}f}"


def _columns(bt: BalanceTable, sample: str) -> list[str]:
    cols = list(BALANCE_STATISTICS)
    stats = bt.after if sample == "after" else bt.before
    if sample == "before" or stats is None or np.all(np.isnan(stats["std_pair_dist"])):
        cols.remove("std_pair_dist")
    return cols


def _text_block(bt: BalanceTable, sample: str, digits: int) -> list[str]:
    stats = bt.after if sample == "after" else bt.before
    assert stats is not None
    cols = _columns(bt, sample)
    flags = bt.flags("after" if sample == "after" else "before")
    rows = [[_fmt(float(stats[c][i]), digits) for c in cols] for i in range(len(bt.names))]
    marks = [
        ("*" if flags["smd"][i] else "") + ("v" if flags["var_ratio"][i] else "")
        for i in range(len(bt.names))
    ]
    name_w = max(len(n) for n in (*bt.names, ""))
    widths = [max(len(_HEADERS[c]), *(len(r[j]) for r in rows)) for j, c in enumerate(cols)]
    out = [
        " " * name_w
        + "  "
        + "  ".join(_HEADERS[c].rjust(w) for c, w in zip(cols, widths, strict=True))
    ]
    for name, row, mark in zip(bt.names, rows, marks, strict=True):
        cells = "  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True))
        out.append(f"{name.ljust(name_w)}  {cells}  {mark}".rstrip())
    return out


def _count_rows(bt: BalanceTable) -> list[tuple[str, str, str]]:
    from kvklink.cohort._balance import _COUNT_LABELS

    c = bt.counts
    rows: list[tuple[str, str, str]] = []
    for key, label in _COUNT_LABELS.items():
        if key not in c:
            continue
        if key == "all_ess" and np.allclose(c["all_ess"], c["all"]):
            continue
        if key == "matched_ess" and np.allclose(c["matched_ess"], c["matched"]):
            continue
        ctrl, trt = c[key]
        if key.endswith("ess"):
            rows.append((label, f"{ctrl:.2f}", f"{trt:.2f}"))
        else:
            rows.append((label, f"{int(ctrl)}", f"{int(trt)}"))
    return rows


def format_balance(bt: BalanceTable, digits: int = 3) -> str:
    """MatchIt-style text: balance for all data, for matched data, and sample sizes.

    Flags: ``*`` marks |SMD| above the threshold, ``v`` a variance ratio outside the bounds.
    """
    lines = [
        f"Balance summary (estimand {bt.estimand}; SMD denominator: {_DENOM[bt.estimand]})",
        "",
    ]
    lines.append("Summary of balance for all data:")
    lines.extend(_text_block(bt, "before", digits))
    if bt.after is not None:
        lines += ["", "Summary of balance for matched data:"]
        lines.extend(_text_block(bt, "after", digits))
    lo, hi = bt.var_ratio_bounds
    lines += [
        "",
        f"Flags: * |SMD| > {bt.smd_threshold:g}; v variance ratio outside {lo:g}-{hi:g}.",
        "",
        "Sample sizes:",
    ]
    rows = _count_rows(bt)
    lw = max(len(r[0]) for r in rows)
    cw = max(len("Control"), *(len(r[1]) for r in rows))
    tw = max(len("Treated"), *(len(r[2]) for r in rows))
    lines.append(" " * lw + "  " + "Control".rjust(cw) + "  " + "Treated".rjust(tw))
    for label, ctrl, trt in rows:
        lines.append(f"{label.ljust(lw)}  {ctrl.rjust(cw)}  {trt.rjust(tw)}")
    return "\n".join(lines)


def _html_table(bt: BalanceTable, sample: str, digits: int) -> str:
    stats = bt.after if sample == "after" else bt.before
    assert stats is not None
    cols = _columns(bt, sample)
    flags = bt.flags("after" if sample == "after" else "before")
    head = "".join(f"<th>{html.escape(_HEADERS[c])}</th>" for c in cols)
    body = []
    for i, name in enumerate(bt.names):
        cells = []
        for c in cols:
            val = _fmt(float(stats[c][i]), digits)
            bad = (c == "std_mean_diff" and flags["smd"][i]) or (
                c == "var_ratio" and flags["var_ratio"][i]
            )
            style = ' style="color:#b00020;font-weight:bold"' if bad else ""
            cells.append(f"<td{style}>{val}</td>")
        body.append(f"<tr><th>{html.escape(name)}</th>{''.join(cells)}</tr>")
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def balance_html(bt: BalanceTable, digits: int = 3) -> str:
    """HTML rendering for notebooks (flagged cells in bold red)."""
    parts = [
        "<div class='kvklink-balance'>",
        f"<p><b>Balance</b> (estimand {bt.estimand}; SMD denominator: "
        f"{html.escape(_DENOM[bt.estimand])})</p>",
        "<p>All data</p>",
        _html_table(bt, "before", digits),
    ]
    if bt.after is not None:
        parts += ["<p>Matched data</p>", _html_table(bt, "after", digits)]
    rows = "".join(
        f"<tr><th>{html.escape(label)}</th><td>{c}</td><td>{t}</td></tr>"
        for label, c, t in _count_rows(bt)
    )
    parts += [
        "<p>Sample sizes</p>",
        f"<table><thead><tr><th></th><th>Control</th><th>Treated</th></tr></thead><tbody>{rows}</tbody></table>",
        "</div>",
    ]
    return "".join(parts)


def format_effect(est: EffectEstimate) -> str:
    """A few lines describing an effect estimate and how its SE was computed."""
    pct = f"{100 * est.level:g}%"
    cl = "" if est.n_clusters is None else f" ({est.n_clusters} clusters)"
    return "\n".join(
        [
            f"{est.estimand}: {est.estimate:.6g}  (SE {est.se:.6g}, {est.se_kind}{cl})",
            f"{pct} CI ({est.ci_method}): [{est.ci_low:.6g}, {est.ci_high:.6g}]   p = "
            f"{est.p_value:.4g}",
            f"Weighted means: treated {est.mean_treated:.6g}, control {est.mean_control:.6g}",
            f"Units: {est.n_treated} treated (ESS {est.ess_treated:.1f}), "
            f"{est.n_control} control (ESS {est.ess_control:.1f})",
            f"Other SEs: OLS {est.se_ols:.6g}, HC1 {est.se_hc1:.6g}, HC3 {est.se_hc3:.6g}",
        ]
    )


def effect_html(est: EffectEstimate) -> str:
    """HTML rendering of an effect estimate for notebooks."""
    lines = "".join(f"<div>{html.escape(line)}</div>" for line in format_effect(est).splitlines())
    return f"<div class='kvklink-effect'>{lines}</div>"


def summarise_match(result: Any, **kwargs: Any) -> BalanceTable:
    """MatchIt-style ``summary()`` of a matching result: balance before/after and sample sizes.

    Reads only the public attributes of the result (``covariate_matrix_``,
    ``covariate_names_``, ``binary_``, ``treated_``, ``weights_`` and, when present,
    ``distance_``, ``subclass_``, ``match_matrix_``, ``discarded_``), so any object exposing them
    works. Keyword arguments go to :func:`~kvklink.cohort._balance.balance_table`. The returned
    table prints as the summary and renders as HTML in notebooks.
    """
    kwargs.setdefault("binary", getattr(result, "binary_", None))
    kwargs.setdefault("distance", getattr(result, "distance_", None))
    sub = getattr(result, "subclass_", None)
    if sub is not None and np.any(np.asarray(sub) >= 0):
        kwargs.setdefault("subclass", sub)
    mm = getattr(result, "match_matrix_", None)
    if mm is not None and np.asarray(mm).size and np.any(np.asarray(mm) >= 0):
        kwargs.setdefault("match_matrix", mm)
    kwargs.setdefault("discarded", getattr(result, "discarded_", None))
    return balance_table(
        result.covariate_matrix_,
        list(result.covariate_names_),
        np.asarray(result.treated_).astype(np.int64),
        result.weights_,
        **kwargs,
    )
