"""The batch path and the single path are one implementation: identical numbers."""

import numpy as np
import pytest

from metasynth.models.engine.heterogeneity import heterogeneity
from metasynth.models.engine.random_effects import fit_random
from metasynth.models.engine.tau2 import TAU2_METHODS, estimate_tau2
from metasynth.models.engine.weighted import as_batch


def _data(k=12, seed=1, tau2=0.1):
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 0.3, k)
    y = rng.normal(-0.3, np.sqrt(v + tau2))
    return y, v


@pytest.mark.parametrize("method", TAU2_METHODS)
@pytest.mark.parametrize("ci", ["wald", "hksj", "hksj-adhoc"])
def test_leave_one_out_batch_equals_single_fits(method, ci):
    y, v = _data()
    k = len(y)
    mask = ~np.eye(k, dtype=bool)  # row i leaves study i out
    batch = fit_random(np.tile(y, (k, 1)), np.tile(v, (k, 1)), mask, method, ci)
    for i in range(k):
        keep = np.arange(k) != i
        single = fit_random(*as_batch(y[keep], v[keep]), method, ci)
        assert batch.tau2.tau2[i] == pytest.approx(single.tau2.tau2[0], rel=1e-12, abs=1e-14)
        assert batch.theta[i] == pytest.approx(single.theta[0], rel=1e-12)
        assert batch.ci_lower[i] == pytest.approx(single.ci_lower[0], rel=1e-12)
        assert batch.p[i] == pytest.approx(single.p[0], rel=1e-10)


def test_masked_cells_are_ignored_even_if_nan():
    y, v = _data(6)
    y2 = np.append(y, np.nan)
    v2 = np.append(v, np.nan)
    a = estimate_tau2(*as_batch(y, v), "REML").tau2[0]
    b = estimate_tau2(*as_batch(y2, v2), "REML").tau2[0]
    assert a == b


def test_mixed_k_in_one_batch():
    y, v = _data(5)
    mask = np.array([[True] * 5, [True, False, False, False, False], [True, True, False, False, False]])
    res = fit_random(np.tile(y, (3, 1)), np.tile(v, (3, 1)), mask, "REML", "hksj")
    assert res.k.tolist() == [5, 1, 2]
    assert res.theta[1] == pytest.approx(y[0])  # k = 1: the study itself
    assert np.isnan(res.pi_lower[2])  # no prediction interval at k = 2
    het = heterogeneity(np.tile(y, (3, 1)), np.tile(v, (3, 1)), mask, res.tau2.tau2)
    assert np.isnan(het.i2[1]) and np.isfinite(het.i2[2])


def test_fallback_when_fisher_scoring_stalls():
    """With maxiter=1 Fisher scoring cannot converge; bisection of the REML equation
    must land on the same root."""
    from metasynth.models.engine.tau2 import fisher_scoring

    y, v = _data(10, seed=3, tau2=0.5)
    good = fisher_scoring(*as_batch(y, v), "REML")
    forced = fisher_scoring(*as_batch(y, v), "REML", maxiter=1)
    assert forced.fallback[0] and not good.fallback[0]
    assert forced.tau2[0] == pytest.approx(good.tau2[0], rel=1e-9)
