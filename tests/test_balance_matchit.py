"""Balance statistics agree with MatchIt 4.7.2 on lalonde for every reference spec.

Uses the reference's own weights, subclasses and match matrices (so it is independent of
kvklink's matcher) and the reference design: age, educ, race dummies (all three levels),
married, nodegree, re74, re75, plus the spec-a propensity score as ``distance`` where the spec
has one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kvklink.cohort._balance import BALANCE_STATISTICS, BalanceTable, balance_table

REF = Path("/work/shared/reference/matchit")
SPECS = ["a", "b", "c", "d", "e", "f_cem", "f_exact"]
NAMES = [
    "age",
    "educ",
    "raceblack",
    "racehispan",
    "racewhite",
    "married",
    "nodegree",
    "re74",
    "re75",
]

pytestmark = pytest.mark.skipif(not REF.exists(), reason="MatchIt reference files not present")


def _design() -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    df = pd.read_csv(REF / "lalonde.csv")
    ps = pd.read_csv(REF / "lalonde_ps_spec_a.csv")
    assert (ps["id"] == df["id"]).all()
    race = df["race"]
    X = np.column_stack(
        [
            df["age"],
            df["educ"],
            race == "black",
            race == "hispan",
            race == "white",
            df["married"],
            df["nodegree"],
            df["re74"],
            df["re75"],
        ]
    ).astype(float)
    return df, X, df["treat"].to_numpy(), ps["distance_ps"].to_numpy()


def load_spec(spec: str) -> dict[str, Any]:
    """Reference JSON plus weights/subclass/match matrix mapped onto lalonde rows."""
    df, X, treat, distance = _design()
    ref = json.loads((REF / f"lalonde_{spec}.json").read_text())
    mu = pd.DataFrame(ref["matched_units"])
    weights = (
        df["id"].map(dict(zip(mu["id"], mu["weight"], strict=True))).fillna(0.0).to_numpy(float)
    )
    subclass = None
    if mu["subclass"].notna().any():
        sub_map = dict(zip(mu["id"], mu["subclass"], strict=True))
        subclass = df["id"].map(sub_map).fillna(-1).astype(int).to_numpy()
    mm = None
    if "match_matrix" in ref:
        row = {u: i for i, u in enumerate(df["id"])}
        treated_rows = np.flatnonzero(treat == 1)
        k = max(len(m["controls"]) for m in ref["match_matrix"])
        mm = np.full((treated_rows.shape[0], k), -1, dtype=np.int64)
        for m in ref["match_matrix"]:
            i = int(np.searchsorted(treated_rows, row[m["treated"]]))
            for j, c in enumerate(m["controls"]):
                if c is not None:
                    mm[i, j] = row[c]
    has_distance = ref["balance"]["before"][0]["variable"] == "distance"
    return {
        "ref": ref,
        "df": df,
        "X": X,
        "treat": treat,
        "weights": weights,
        "subclass": subclass,
        "match_matrix": mm,
        "distance": distance if has_distance else None,
    }


def _table(spec: str) -> tuple[BalanceTable, dict[str, Any]]:
    d = load_spec(spec)
    bt = balance_table(
        d["X"],
        NAMES,
        d["treat"],
        d["weights"],
        distance=d["distance"],
        subclass=d["subclass"],
        match_matrix=d["match_matrix"],
    )
    return bt, d["ref"]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("sample", ["before", "after"])
def test_every_statistic_matches_matchit(spec: str, sample: str) -> None:
    bt, ref = _table(spec)
    rows = ref["balance"][sample]
    assert list(bt.names) == [r["variable"] for r in rows]
    stats = bt.before if sample == "before" else bt.after
    assert stats is not None
    checked = 0
    for i, r in enumerate(rows):
        for name in BALANCE_STATISTICS:
            expected = r.get(name)
            got = float(stats[name][i])
            if expected is None:
                assert math.isnan(got), (spec, sample, r["variable"], name, got)
                continue
            assert got == pytest.approx(expected, abs=1e-3), (spec, sample, r["variable"], name)
            # In fact the agreement is to rounding error.
            assert abs(got - expected) < 1e-9 * max(1.0, abs(expected))
            checked += 1
    assert checked >= 5 * len(rows)


@pytest.mark.parametrize("spec", SPECS)
def test_sample_sizes_and_ess_match_matchit(spec: str) -> None:
    bt, ref = _table(spec)
    table = {r["row"]: (r["control"], r["treated"]) for r in ref["counts"]["summary_nn"]}
    frame = bt.counts_frame()
    ours = {row: (c, t) for row, c, t in frame.iter_rows()}
    assert set(ours) == set(table)
    for row, (c, t) in table.items():
        assert ours[row][0] == pytest.approx(c, abs=1e-9), row
        assert ours[row][1] == pytest.approx(t, abs=1e-9), row
    counts = ref["counts"]
    assert bt.counts["matched"] == (counts["n_control_matched"], counts["n_treated_matched"])


def test_smd_denominator_is_full_sample_treated_sd() -> None:
    bt, ref = _table("a")
    check = ref["formula_check"]
    i = bt.names.index("age")
    assert bt.before["std_mean_diff"][i] == pytest.approx(check["age_smd_before_manual"], rel=1e-12)
    assert bt.after is not None
    assert bt.after["std_mean_diff"][i] == pytest.approx(check["age_smd_after_manual"], rel=1e-12)
    assert bt.before["var_ratio"][i] == pytest.approx(
        check["age_var_ratio_before_manual"], rel=1e-12
    )


def test_subclass_pair_distance_equals_match_matrix_for_pairs() -> None:
    d = load_spec("a")
    via_sub = balance_table(d["X"], NAMES, d["treat"], d["weights"], subclass=d["subclass"])
    via_mm = balance_table(d["X"], NAMES, d["treat"], d["weights"], match_matrix=d["match_matrix"])
    assert via_sub.after is not None
    assert via_mm.after is not None
    np.testing.assert_allclose(
        via_sub.after["std_pair_dist"], via_mm.after["std_pair_dist"], rtol=1e-12
    )


def test_flags_and_imbalanced_names() -> None:
    bt, _ = _table("a")
    f_before = bt.flags("before")
    assert f_before["smd"][bt.names.index("distance")]
    f_after = bt.flags("after")
    # age has |SMD| 0.07 but a variance ratio of 0.46 after matching in spec a
    i = bt.names.index("age")
    assert not f_after["smd"][i]
    assert f_after["var_ratio"][i]
    assert "age" in bt.imbalanced
    assert bt.max_abs_smd == pytest.approx(np.nanmax(np.abs(bt.after["std_mean_diff"])))  # type: ignore[index]
