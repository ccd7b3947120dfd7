"""Trial sequential analysis: boundaries against RTSA's printed worked example, crossing
probabilities against an independent Monte Carlo simulation, and the corpus run."""

import math

import numpy as np
import pytest

from metasynth import api
from metasynth.models.sequential.boundaries import (
    crossing_probabilities,
    design,
    efficacy_boundaries,
    spent,
)
from metasynth.models.sequential.tsa import (
    TSAPlan,
    required_information_size,
    required_information_size_md,
    trial_sequential_analysis,
)


def test_obrien_fleming_boundaries_match_rtsa_vignette():
    # RTSA futility vignette: boundaries(timing = c(0.5, 0.75, 1), alpha = 0.05, side = 2,
    # es_alpha = "esOF") prints 2.963, 2.359, 2.014 (ldbounds and gsDesign agree)
    b = efficacy_boundaries([0.5, 0.75, 1.0], 0.05)
    assert [round(x, 3) for x in b] == [2.963, 2.359, 2.014]


def test_one_look_is_the_fixed_design():
    assert efficacy_boundaries([1.0])[0] == pytest.approx(1.959964, abs=1e-6)


def test_alpha_is_spent_exactly_under_the_null():
    times = [0.2, 0.45, 0.7, 1.0]
    b = efficacy_boundaries(times)
    cp = crossing_probabilities(times, b)
    assert cp["upper"] + cp["lower"] == pytest.approx(0.05, abs=1e-7)
    assert cp["upper"] == pytest.approx(cp["lower"], abs=1e-12)
    assert spent(0.45, 0.05) == pytest.approx(2 * (2 - 2 * _phi(2.241403 / math.sqrt(0.45))),
                                              abs=1e-6)


def _phi(x):
    return 0.5 * math.erfc(-x / math.sqrt(2))


def _simulate(times, eff, fut, drift, n=400_000, seed=7):
    """Monte Carlo of the cumulative Z (Brownian motion with drift): shares no code with
    the recursive integration."""
    rng = np.random.default_rng(seed)
    t = np.asarray(times)
    inc = rng.standard_normal((n, len(t))) * np.sqrt(np.diff(t, prepend=0.0)) \
        + drift * np.diff(t, prepend=0.0)
    z = np.cumsum(inc, axis=1) / np.sqrt(t)
    alive = np.ones(n, bool)
    up = low = fu = 0
    for k in range(len(t)):
        hit_up = alive & (z[:, k] >= eff[k])
        hit_low = alive & (z[:, k] <= -eff[k])
        hit_fut = alive & ~hit_up & ~hit_low & (np.abs(z[:, k]) < (fut[k] if len(fut) else 0))
        up, low, fu = up + hit_up.sum(), low + hit_low.sum(), fu + hit_fut.sum()
        alive &= ~(hit_up | hit_low | hit_fut)
    return up / n, low / n, fu / n


def test_design_with_futility_agrees_with_monte_carlo():
    d = design([0.3, 0.6, 1.0], alpha=0.05, beta=0.10)
    assert d.futility[-1] == d.efficacy[-1]  # the wedge closes at the information size
    exact = crossing_probabilities(d.times, d.efficacy, d.futility, d.drift)
    assert exact["upper"] == pytest.approx(0.90, abs=1e-6)  # power 1 - beta
    assert exact["futility"] == pytest.approx(0.10, abs=1e-6)  # beta spent
    up, _, fu = _simulate(d.times, d.efficacy, d.futility, d.drift)
    se = math.sqrt(0.9 * 0.1 / 400_000)
    assert abs(up - exact["upper"]) < 4 * se and abs(fu - exact["futility"]) < 4 * se
    up0, low0, _ = _simulate(d.times, d.efficacy, (), 0.0, seed=11)
    h0 = crossing_probabilities(d.times, d.efficacy)
    assert abs(up0 + low0 - (h0["upper"] + h0["lower"])) < 4 * math.sqrt(0.05 * 0.95 / 400_000)
    assert d.inflation > 1  # sequential monitoring costs information


def test_required_information_size_formula():
    # 40% -> 23% mortality, alpha 5% two-sided, power 90%
    ris = required_information_size(0.40, 0.23, 0.05, 0.10)
    z = 1.959963985 + 1.281551566
    assert ris == pytest.approx(4 * z * z * 0.315 * 0.685 / 0.17**2, rel=1e-9)
    assert math.ceil(ris) == 314


def test_information_size_for_a_mean_difference_matches_rtsa():
    # RTSA manual: ris(outcome = "MD", mc = 0.5, sd_mc = 1, alpha = 0.05, beta = 0.1) prints
    # 84.06 participants per arm (rounded up to 85, 170 in all)
    per_arm = required_information_size_md(0.5, 1.0) / 2
    assert round(per_arm, 2) == 84.06 and 2 * math.ceil(per_arm) == 170


def test_diversity_adjustment_and_conclusions_on_synthetic_trials():
    # three equal trials with a large consistent benefit cross the benefit boundary
    y = np.log([0.5, 0.55, 0.5])
    v = np.array([0.02, 0.02, 0.02])
    r = trial_sequential_analysis(y, v, [300, 300, 300], ["A", "B", "C"], None,
                                  TSAPlan(0.4, 0.3, d2=0.25))
    assert r.daris == pytest.approx(r.ris / 0.75)
    assert r.crossed == "benefit"
    # and the sign convention: harm is crossing the lower boundary
    r2 = trial_sequential_analysis(-y, v, [300, 300, 300], ["A", "B", "C"], None,
                                   TSAPlan(0.4, 0.3))
    assert r2.crossed == "harm" and r2.z[-1] < 0
    assert r2.rr_tsa_ci[0] <= r2.rr_ci[0] <= r2.rr <= r2.rr_ci[1] <= r2.rr_tsa_ci[1]


def test_corpus_tsa_z_curve_is_the_cumulative_dersimonian_laird_test():
    r = api.tsa("studies")
    pooled = api.pool("studies", tau2="DL", ci="wald")
    assert r.z[-1] == pytest.approx(-pooled.random.stat, rel=1e-9)
    assert r.rr == pytest.approx(pooled.random.estimate, rel=1e-12)
    assert r.rr_ci == pytest.approx((pooled.random.ci_lower, pooled.random.ci_upper), rel=1e-12)
    assert r.participants[-1] == sum(s.treatment_total + s.control_total
                                     for s in pooled.studies if s.included)
    assert list(r.information_fraction) == sorted(r.information_fraction)
    assert r.crossed in {"benefit", "harm", "futility", "none"}


@pytest.mark.exhaustive
def test_boundary_grid_is_fine_enough(monkeypatch):
    """The Simpson grid of the boundaries (``_STEP`` 0.02 on the Z scale) against the 0.01
    grid used before (its own error about 5e-8 against a 0.005 grid): efficacy and
    futility boundaries within 1e-6 on the Z scale and the inflation factor within 1e-6
    relative, for 5 and 40 looks."""
    import numpy as np

    import metasynth.models.sequential.boundaries as B

    for times in (np.array([0.1, 0.25, 0.5, 0.8, 1.0]), np.linspace(0.05, 1.0, 40)):
        used = B.design(times)
        monkeypatch.setattr(B, "_STEP", B._STEP / 2)
        fine = B.design(times)
        monkeypatch.undo()
        assert np.max(np.abs(np.subtract(used.efficacy, fine.efficacy))) < 1e-6
        assert np.max(np.abs(np.subtract(used.futility, fine.futility))) < 1e-6
        assert used.inflation == pytest.approx(fine.inflation, rel=1e-6)
