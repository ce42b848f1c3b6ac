"""Fellegi–Sunter EM: recovers planted m/u, handles nulls, is order-free, refuses bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvklink.errors import LinkageError
from kvklink.linkage._fellegi_sunter import (
    FellegiSunterModel,
    fit_fellegi_sunter,
    level_frequencies,
)


def _simulate(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    match = rng.random(n) < 0.15
    # field 0: 4 levels, field 1: 3 levels, field 2: 3 levels with 20% nulls
    m = [np.array([0, 0.05, 0.15, 0.8]), np.array([0, 0.1, 0.9]), np.array([0, 0.2, 0.8])]
    u = [np.array([0, 0.85, 0.1, 0.05]), np.array([0, 0.8, 0.2]), np.array([0, 0.7, 0.3])]
    lv = np.zeros((n, 3), dtype=np.int8)
    for j in range(3):
        pm = rng.choice(len(m[j]), size=n, p=m[j])
        pu = rng.choice(len(u[j]), size=n, p=u[j])
        lv[:, j] = np.where(match, pm, pu)
    lv[rng.random(n) < 0.2, 2] = 0
    return lv, match


def test_em_recovers_planted_parameters() -> None:
    lv, match = _simulate(40_000, 1)
    model = fit_fellegi_sunter(lv, (4, 3, 3))
    assert model.converged_
    assert model.lambda_ == pytest.approx(match.mean(), abs=0.02)
    assert model.m_[0][3] == pytest.approx(0.8, abs=0.04)
    assert model.u_[0][1] == pytest.approx(0.85, abs=0.03)
    assert model.m_[1][2] == pytest.approx(0.9, abs=0.04)
    for m, u in zip(model.m_, model.u_, strict=True):
        assert m[0] == 0
        assert u[0] == 0
        assert m[1:].sum() == pytest.approx(1)
        assert u[1:].sum() == pytest.approx(1)
    w = model.match_weights(lv)
    accuracy = ((w > 0) == match).mean()
    assert accuracy > 0.95


def test_null_level_contributes_nothing() -> None:
    lv, _ = _simulate(5_000, 2)
    model = fit_fellegi_sunter(lv, (4, 3, 3))
    fw = model.field_weights(lv)
    assert np.all(fw[lv[:, 2] == 0, 2] == 0.0)
    assert np.isfinite(fw).all()


def test_probability_is_monotone_in_weight() -> None:
    w = np.array([-80.0, -3.0, 0.0, 3.0, 80.0])
    p = FellegiSunterModel.probability(w)
    assert p[2] == 0.5
    assert np.all(np.diff(p) >= 0)
    assert p[0] > 0.0
    assert p[-1] <= 1.0


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_fit_does_not_depend_on_row_order(seed: int) -> None:
    lv, _ = _simulate(2_000, 3)
    perm = np.random.default_rng(seed).permutation(len(lv))
    a = fit_fellegi_sunter(lv, (4, 3, 3))
    b = fit_fellegi_sunter(lv[perm], (4, 3, 3))
    assert a.lambda_ == b.lambda_
    for x, y in zip(a.m_ + a.u_, b.m_ + b.u_, strict=True):
        np.testing.assert_array_equal(x, y)


def test_level_frequencies_smooths_empty_levels() -> None:
    f = level_frequencies(np.array([[1], [1]]), (3,))[0]
    assert f[0] == 0
    assert f[2] > 0
    assert f[1:].sum() == pytest.approx(1)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(LinkageError, match="No candidate pairs"):
        fit_fellegi_sunter(np.zeros((0, 2), dtype=np.int8), (3, 3))
    with pytest.raises(LinkageError, match="fields were declared"):
        fit_fellegi_sunter(np.ones((4, 2), dtype=np.int8), (3,))


def test_pair_weights_equal_repeating_the_pairs() -> None:
    """A pair with weight 3 counts like three copies of it (sampled pairs standing for more)."""
    rng = np.random.default_rng(3)
    match = rng.random(3000) < 0.2
    agree = rng.random((3000, 3)) < np.where(match[:, None], 0.9, 0.1)
    levels = np.where(agree, 2, 1).astype(np.int8)
    levels[rng.random(levels.shape) < 0.05] = 0
    weights = rng.integers(1, 4, 3000).astype(np.float64)
    weighted = fit_fellegi_sunter(levels, (3, 3, 3), weights=weights)
    repeated = fit_fellegi_sunter(np.repeat(levels, weights.astype(int), axis=0), (3, 3, 3))
    assert weighted.n_iter_ == repeated.n_iter_
    assert abs(weighted.lambda_ - repeated.lambda_) < 1e-9
    for a, b in zip(weighted.m_ + weighted.u_, repeated.m_ + repeated.u_, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-9)
    freq_w = level_frequencies(levels, (3, 3, 3), weights=weights)
    freq_r = level_frequencies(np.repeat(levels, weights.astype(int), axis=0), (3, 3, 3))
    for a, b in zip(freq_w, freq_r, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)
