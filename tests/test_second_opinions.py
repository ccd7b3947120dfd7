"""PyMARE and statsmodels as second opinions, and the cases where they go wrong.

These libraries are not used by the engine (see metasynth/models/engine/tau2.py for why);
the tests pin where they agree with us and document where they do not. Both come with the
`test` extra (`pip install -e ".[test]"`); without them these tests are skipped.
"""

import warnings
from pathlib import Path

import numpy as np
import pytest

from metasynth.effects.binary import effect_sizes
from metasynth.models.engine.random_effects import fit_random
from metasynth.models.engine.tau2 import estimate_tau2
from metasynth.models.engine.weighted import as_batch
from metasynth.records.table import read_table

DATA = Path(__file__).parent / "fixtures" / "data"


def _yv(name="bcg", measure="RR"):
    eff = effect_sizes(read_table(DATA / f"{name}.csv"), measure)
    return eff.yi[eff.included], eff.vi[eff.included]


@pytest.mark.parametrize("method", ["DL", "REML", "ML"])
def test_pymare_agrees_on_bcg(method):
    pymare = pytest.importorskip("pymare")
    from pymare.estimators import DerSimonianLaird, VarianceBasedLikelihoodEstimator

    y, v = _yv()
    est = DerSimonianLaird() if method == "DL" else VarianceBasedLikelihoodEstimator(method=method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit_dataset(pymare.Dataset(y=y, v=v))
        summary = est.summary()
    ours = fit_random(*as_batch(y, v), tau2_method=method, ci_method="wald")
    # PyMARE's likelihood estimators use a general-purpose optimiser: agree to ~1e-4.
    assert np.isclose(float(summary.tau2.ravel()[0]), ours.tau2.tau2[0], rtol=1e-3, atol=1e-5)
    assert np.isclose(float(summary.fe_params.ravel()[0]), ours.theta[0], rtol=1e-3, atol=1e-5)


def test_statsmodels_agrees_on_dl_and_pm_for_heterogeneous_data():
    combine_effects = pytest.importorskip("statsmodels.stats.meta_analysis").combine_effects

    y, v = _yv()
    for method, ours_method in (("dl", "DL"), ("pm", "PM")):
        res = combine_effects(y, v, method_re=method)
        ours = estimate_tau2(*as_batch(y, v), ours_method).tau2[0]
        assert np.isclose(res.tau2, ours, rtol=1e-4)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_statsmodels_dl_is_not_truncated_at_zero():
    """The reason our DerSimonian-Laird is our own: on homogeneous data statsmodels'
    tau² goes negative (metafor and we return 0)."""
    combine_effects = pytest.importorskip("statsmodels.stats.meta_analysis").combine_effects

    y, v = _yv("homogeneous")
    res = combine_effects(y, v, method_re="dl")
    assert res.tau2 < 0
    assert estimate_tau2(*as_batch(y, v), "DL").tau2[0] == 0.0


def test_pymare_meta_regression_agrees_with_ours():
    """PyMARE fits meta-regression with a general optimiser (one model per call); ours is
    Fisher scoring in batches (thousands of permutations per call). They agree to ~1e-4."""
    import json

    pymare = pytest.importorskip("pymare")
    from pymare.estimators import VarianceBasedLikelihoodEstimator

    from metasynth.models.engine.mixed_effects import fit_mixed

    ref = json.loads((DATA.parent / "metafor-analyses" / "bcg_robustness.json").read_text())
    y, v = _yv("bcg_groups")
    ablat = np.array(ref["analyses"]["ablat"], dtype=float)
    est = VarianceBasedLikelihoodEstimator(method="REML")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit_dataset(pymare.Dataset(y=y, v=v, X=ablat[:, None]))
        summary = est.summary()
    ours = fit_mixed(y, v, np.column_stack([np.ones_like(y), ablat]), method="REML")
    assert np.isclose(float(summary.tau2.ravel()[0]), ours.tau2[0], rtol=1e-3, atol=1e-5)
    assert np.allclose(summary.fe_params.ravel(), ours.beta[0], rtol=1e-3, atol=1e-5)
