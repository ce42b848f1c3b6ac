"""match(): parameter validation, bad input, frame kinds, row-order invariance."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kvklink
from kvklink.cohort import Matcher, PropensityWarning
from kvklink.errors import MatchingError, SchemaError


def _frame(n_t: int = 40, n_c: int = 120, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_t + n_c
    treat = np.r_[np.ones(n_t, int), np.zeros(n_c, int)]
    return pl.DataFrame(
        {
            "id": [f"u{i}" for i in range(n)],
            "treat": treat,
            "x": rng.normal(size=n) + 0.5 * treat,
            "z": rng.integers(0, 4, n).astype(float),
            "g": rng.choice(["a", "b", "c"], n),
            "h": rng.choice(["p", "q"], n),
            "y": rng.normal(size=n),
        }
    )


COVS = ["x", "z", "g"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"caliper": -1}, "The 'caliper' parameter of match must be a float > 0. Got -1 instead."),
        ({"caliper": "wide"}, "The 'caliper' parameter of match must be a float > 0."),
        ({"ratio": 0}, "The 'ratio' parameter of match must be an int >= 1. Got 0 instead."),
        ({"ratio": 1.5}, "The 'ratio' parameter of match must be an int >= 1."),
        ({"method": "optimal"}, "The 'method' parameter of match must be one of"),
        ({"order": "biggest"}, "The 'order' parameter of match must be one of"),
        ({"replace": "yes"}, "The 'replace' parameter of match must be a bool."),
        ({"random_state": -3}, "The 'random_state' parameter of match must be"),
        ({"exact": ["g"], "method": "cem"}, "The 'exact' parameter of match"),
        ({"cutpoints": {"x": 3}}, "The 'cutpoints' parameter of match"),
        ({"distance": "mahalanobis", "order": "largest"}, "The 'order' parameter of match"),
        ({"distance": "mahalanobis", "caliper": 0.2}, "The 'caliper' parameter of match"),
    ],
)
def test_bad_parameters(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(MatchingError) as err:
        kvklink.match(_frame(), treatment="treat", covariates=COVS, **kwargs)
    assert message in str(err.value)


def test_matcher_stores_settings_and_validates_at_fit() -> None:
    m = Matcher(treatment="treat", covariates=COVS, caliper=-1)
    assert m.caliper == -1  # stored as given, not validated yet
    assert "caliper=-1" in repr(m)
    with pytest.raises(MatchingError, match="parameter of Matcher must be a float > 0"):
        m.fit(_frame())
    res = Matcher(treatment="treat", covariates=COVS).fit(_frame())
    assert res.counts_["n_treated_matched"] == 40


def test_missing_covariate_values_named_with_count() -> None:
    f = _frame().with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(None).otherwise(pl.col("x")).alias("x")
    )
    with pytest.raises(SchemaError, match=r"'x' \(3 rows\)"):
        kvklink.match(f, treatment="treat", covariates=COVS)
    f2 = _frame().with_columns(
        pl.when(pl.col("z") == 0).then(float("nan")).otherwise("z").alias("z")
    )
    with pytest.raises(SchemaError, match="'z'"):
        kvklink.match(f2, treatment="treat", covariates=COVS)


def test_message_has_no_record_values() -> None:
    f = _frame().with_columns(pl.lit(None, dtype=pl.String).alias("g"))
    with pytest.raises(SchemaError) as err:
        kvklink.match(f, treatment="treat", covariates=COVS)
    assert "u0" not in str(err.value)


def test_constant_covariate_warns_and_is_dropped_from_glm() -> None:
    f = _frame().with_columns(pl.lit(3.0).alias("k"))
    with pytest.warns(PropensityWarning, match="constant covariate.*'k'"):
        m = kvklink.match(f, treatment="treat", covariates=[*COVS, "k"])
    base = kvklink.match(f, treatment="treat", covariates=COVS)
    assert m.propensity_ is not None
    assert np.isnan(m.propensity_.coef[-1])
    np.testing.assert_allclose(m.distance_, base.distance_, atol=1e-10)  # type: ignore[arg-type]
    assert "k" in m.covariate_names_


def test_no_treated_and_no_controls() -> None:
    f = _frame()
    with pytest.raises(MatchingError, match="no treated units"):
        kvklink.match(f.with_columns(pl.lit(0).alias("treat")), treatment="treat", covariates=COVS)
    with pytest.raises(MatchingError, match="no control units"):
        kvklink.match(f.with_columns(pl.lit(1).alias("treat")), treatment="treat", covariates=COVS)


def test_bad_treatment_coding() -> None:
    f = _frame().with_columns((pl.col("treat") * 2).alias("treat"))
    with pytest.raises(SchemaError, match="other than 0 and 1"):
        kvklink.match(f, treatment="treat", covariates=COVS)
    with pytest.raises(SchemaError, match="lacks required column"):
        kvklink.match(_frame(), treatment="treated", covariates=COVS)


def test_perfect_separation_is_an_error() -> None:
    f = _frame().with_columns((pl.col("treat") * 10.0 + pl.col("x") * 0.01).alias("sep"))
    with pytest.raises(MatchingError, match="perfect separation"):
        kvklink.match(f, treatment="treat", covariates=["sep", "x"])


def test_quasi_separation_warns() -> None:
    # level "c" of g only occurs among controls: its units get fitted probabilities ~0
    f = _frame().with_columns(
        pl.when((pl.col("treat") == 1) & (pl.col("g") == "c"))
        .then(pl.lit("a"))
        .otherwise("g")
        .alias("g")
    )
    with pytest.warns(PropensityWarning, match=r"quasi-separation.*'g' \(1 level\)"):
        m = kvklink.match(f, treatment="treat", covariates=COVS)
    assert m.counts_["n_treated_matched"] == 40


def test_stratum_without_controls_is_counted() -> None:
    f = _frame().with_columns(
        pl.when(pl.col("treat") == 1).then(pl.lit("only_t")).otherwise("h").alias("h2")
    )
    f = f.with_columns(
        pl.when((pl.col("treat") == 1) & (pl.int_range(pl.len()) >= 30))
        .then(pl.lit("p"))
        .otherwise("h2")
        .alias("h2")
    )
    m = kvklink.match(f, treatment="treat", covariates=COVS, exact=["h2"])
    assert m.counts_["n_treated_no_control_in_stratum"] == 30
    assert m.counts_["n_treated_matched"] == 10
    assert m.counts_["n_treated_unmatched"] == 30
    assert "no control in their exact stratum" in repr(m)


def test_pandas_in_pandas_out() -> None:
    f = _frame().to_pandas()
    m = kvklink.match(f, treatment="treat", covariates=COVS, ratio=2, replace=True)
    md = m.matched_data()
    assert isinstance(md, pd.DataFrame)
    assert md["subclass"].isna().all()  # no subclasses with replacement, as in MatchIt
    assert (md["weights"] > 0).all()


def test_exact_and_cem_and_user_distance() -> None:
    f = _frame()
    ex = kvklink.match(f, treatment="treat", covariates=["z", "g"], method="exact")
    sub = ex.subclass_
    zz = f.get_column("z").to_numpy()
    gg = f.get_column("g").to_numpy()
    for s in np.unique(sub[sub > 0]):
        assert np.unique(zz[sub == s]).size == 1
        assert np.unique(gg[sub == s]).size == 1
    cem = kvklink.match(
        f, treatment="treat", covariates=["x", "g"], method="cem", cutpoints={"x": [0.0]}
    )
    xs = f.get_column("x").to_numpy() >= 0
    for s in np.unique(cem.subclass_[cem.subclass_ > 0]):
        assert np.unique(xs[cem.subclass_ == s]).size == 1
    ud = kvklink.match(f, treatment="treat", covariates=COVS, distance="x")
    np.testing.assert_array_equal(ud.distance_, f.get_column("x").to_numpy())  # type: ignore[arg-type]
    with pytest.raises(MatchingError, match="'cutpoints' name"):
        kvklink.match(f, treatment="treat", covariates=["x"], method="cem", cutpoints={"q": 2})


def test_random_order_is_seeded() -> None:
    f = _frame()
    a = kvklink.match(f, treatment="treat", covariates=COVS, order="random", random_state=7)
    b = kvklink.match(f, treatment="treat", covariates=COVS, order="random", random_state=7)
    assert a.match_matrix_.tolist() == b.match_matrix_.tolist()
    assert a.settings["order"] == "random"


def _matched_pairs(m: kvklink.MatchResult, ids: list[str]) -> set[tuple[str, tuple[str, ...]]]:
    t_rows = np.flatnonzero(m.treated_)
    return {
        (ids[t_rows[k]], tuple(ids[j] for j in m.match_matrix_[k] if j >= 0))
        for k in range(t_rows.size)
    }


# Small random frames sometimes have a level of ``g`` in one group only; the quasi-separation
# warning is then correct and beside the point of this property.
@pytest.mark.filterwarnings("ignore::kvklink.cohort.PropensityWarning")
@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 10_000),
    st.sampled_from(
        [
            {},
            {"caliper": 0.2},
            {"ratio": 2},
            {"ratio": 2, "replace": True},
            {"exact": ["h"]},
            {"distance": "logit", "order": "smallest"},
            {"distance": "mahalanobis"},
            {"distance": "mahalanobis", "order": "random", "random_state": 3},
            {"order": "random", "random_state": 5},
            {"distance": "z"},  # heavy ties in a user score
        ]
    ),
)
def test_invariant_to_row_order(seed: int, kwargs: dict[str, Any]) -> None:
    f = _frame(n_t=15, n_c=40, seed=seed)
    if kwargs.get("distance") == "mahalanobis":
        kwargs = {
            **kwargs,
            "order": kwargs.get("order", "random"),
            "random_state": kwargs.get("random_state", 1),
        }
    perm = np.random.default_rng(seed).permutation(f.height)
    g = f[perm]
    a = kvklink.match(f, treatment="treat", covariates=COVS, **kwargs)
    b = kvklink.match(g, treatment="treat", covariates=COVS, **kwargs)
    assert _matched_pairs(a, f.get_column("id").to_list()) == _matched_pairs(
        b, g.get_column("id").to_list()
    )
    np.testing.assert_allclose(a.weights_[perm], b.weights_)


def test_repr_and_html() -> None:
    m = kvklink.match(_frame(), treatment="treat", covariates=COVS, exact="h")
    text = repr(m)
    assert text.startswith("MatchResult(method='nearest'")
    assert "treated: 40 total" in text
    assert m._repr_html_().startswith("<pre>")
