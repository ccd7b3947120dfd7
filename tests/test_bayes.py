"""Bayesian random-effects meta-analysis against bayesmeta's printed worked examples
(Röver 2020, J Stat Softw 93(6), and the package vignette: Rubin's eight schools) and
against an independent brute-force grid.

The brute-force grid costs ~2.5 s a comparison: the default run keeps one (five log risk
ratios, half-normal prior); the eight-schools grids (4001 x 4001) are `exhaustive`."""

import math

import numpy as np
import pytest

from metasynth.models.bayes.normal_normal import (
    TURNER_ALL_CAUSE_MORTALITY,
    bayes_meta,
    half_cauchy,
    half_normal,
    turner_mortality,
    uniform_tau,
)

# numpy >= 2 has trapezoid; trapz before (pyproject allows numpy >= 1.24)
trapezoid = getattr(np, "trapezoid", None) or np.trapz

SCHOOLS_Y = [28.39, 7.94, -2.75, 6.82, -0.64, 0.63, 18.01, 12.16]
SCHOOLS_SE = np.array([14.9, 10.2, 16.3, 11.0, 9.4, 11.4, 10.4, 17.6])


@pytest.fixture(scope="module")
def schools_cauchy():
    # bayesmeta(y, sigma, mu.prior.mean=0, mu.prior.sd=50, tau.prior=function(t)
    #           dhalfcauchy(t, scale=25))
    return bayes_meta(SCHOOLS_Y, SCHOOLS_SE**2, half_cauchy(25), (0.0, 50.0))


@pytest.fixture(scope="module")
def schools_uniform():
    # bayesmeta(y, sigma, tau.prior="uniform") with the (default) flat prior on mu
    return bayes_meta(SCHOOLS_Y, SCHOOLS_SE**2, uniform_tau(), None)


def test_tau_posterior_matches_bayesmeta_to_the_printed_digits(schools_cauchy, schools_uniform):
    # tau's marginal posterior is a 1-d integral in both programs: all printed digits agree
    t = schools_cauchy.tau
    assert (t.mode, round(t.median, 6), round(t.mean, 6), round(t.sd, 6)) == \
        (0.0, 4.758539, 5.884511, 4.869904)
    assert (round(t.lower, 6), round(t.upper, 6)) == (0.0, 15.165894)
    t = schools_uniform.tau
    assert (round(t.median, 6), round(t.mean, 6), round(t.sd, 6)) == (5.227732, 6.585992, 5.685974)
    assert (t.lower, round(t.upper, 6)) == (0.0, 17.265797)


def test_mu_and_prediction_match_bayesmeta_within_its_mixture_approximation(
        schools_cauchy, schools_uniform):
    # bayesmeta evaluates the marginals of mu and theta_new as a finite normal mixture chosen
    # by the DIRECT algorithm (its own accuracy bound: relative divergence 1e-4 per
    # component), so its printed mu differs from the exact integral in the 4th decimal;
    # ours is exact to quadrature tolerance (see the brute-force test below).
    m = schools_cauchy.mu
    for got, printed in zip((m.median, m.mean, m.sd), (7.962961, 7.985729, 4.995762)):
        assert got == pytest.approx(printed, abs=1e-3)
    th = schools_cauchy.theta_new
    for got, printed in zip((th.mode, th.median, th.mean, th.sd),
                            (7.865547, 7.926819, 7.985729, 9.126767)):
        assert got == pytest.approx(printed, abs=5e-3)
    # the shortest 95% interval of the predictive: tail quantiles are where the mixture
    # approximation is coarsest (printed -10.623526, 26.827377)
    assert th.lower == pytest.approx(-10.623526, abs=0.03)
    assert th.upper == pytest.approx(26.827377, abs=0.03)
    m = schools_uniform.mu
    for got, printed in zip((m.mode, m.median, m.mean, m.sd),
                            (8.007138, 8.055861, 8.092138, 5.246683)):
        assert got == pytest.approx(printed, abs=3e-3)
    assert (m.lower, m.upper) == (pytest.approx(-2.176157, abs=5e-3),
                                  pytest.approx(18.406330, abs=5e-3))


def _brute_force(y, v, log_prior_tau, tau_max, mu_lim, n=3001):
    """Posterior on a (tau, mu) grid with the trapezoid rule: no shared code with bayes.py."""
    tau = np.linspace(0.0, tau_max, n)
    mu = np.linspace(-mu_lim, mu_lim, n)
    T, M = np.meshgrid(tau, mu, indexing="ij")
    logp = log_prior_tau(T)
    for yi, vi in zip(y, v):
        s2 = vi + T**2
        logp = logp - 0.5 * np.log(2 * np.pi * s2) - 0.5 * (yi - M) ** 2 / s2
    p = np.exp(logp - logp.max())
    z = trapezoid(trapezoid(p, mu, axis=1), tau)
    pmu = trapezoid(p, tau, axis=0) / z
    ptau = trapezoid(p, mu, axis=1) / z

    def median(x, d):
        c = np.concatenate([[0], np.cumsum((d[1:] + d[:-1]) / 2 * np.diff(x))])
        return float(np.interp(0.5, c, x)), c

    mu_med, cmu = median(mu, pmu)
    tau_med, _ = median(tau, ptau)
    return {"mu_mean": float(trapezoid(mu * pmu, mu)), "mu_median": mu_med,
            "tau_median": tau_med, "tau_mean": float(trapezoid(tau * ptau, tau)),
            "p_below_0": float(np.interp(0.0, mu, cmu)),
            "p_below_log09": float(np.interp(math.log(0.9), mu, cmu))}


@pytest.mark.exhaustive  # a 2.7 CPU-s brute-force grid
def test_integration_agrees_with_an_independent_brute_force_grid():
    # a small meta-analysis of log risk ratios with the default half-normal(0.5) prior
    y = np.array([-0.65, -0.45, -0.10, 0.05, -1.2])
    v = np.array([0.09, 0.20, 0.04, 0.15, 0.60])
    r = bayes_meta(y, v, half_normal(0.5), None, thresholds={"0": 0.0, "0.9": math.log(0.9)})
    g = _brute_force(y, v, lambda t: -0.5 * (t / 0.5) ** 2, 4.0, 4.0)
    assert r.mu.mean == pytest.approx(g["mu_mean"], abs=2e-5)
    assert r.mu.median == pytest.approx(g["mu_median"], abs=2e-5)
    assert r.tau.median == pytest.approx(g["tau_median"], abs=2e-5)
    assert r.tau.mean == pytest.approx(g["tau_mean"], abs=2e-5)
    assert r.probabilities["0"] == pytest.approx(g["p_below_0"], abs=2e-5)
    assert r.probabilities["0.9"] == pytest.approx(g["p_below_log09"], abs=2e-5)


@pytest.mark.exhaustive
@pytest.mark.parametrize("prior, log_prior", [
    (uniform_tau(), lambda t: np.zeros_like(t)),
    (half_cauchy(25), lambda t: -np.log1p((t / 25) ** 2)),
], ids=["uniform", "half-cauchy-25"])
def test_eight_schools_agree_with_the_grid(prior, log_prior):
    # mu's posterior agrees with the grid to ~1e-6, where bayesmeta's printed mu differs by
    # ~5e-4: the difference above is bayesmeta's mixture approximation, not ours
    g = _brute_force(SCHOOLS_Y, SCHOOLS_SE**2, log_prior, 400.0, 120.0, n=4001)
    r = bayes_meta(SCHOOLS_Y, SCHOOLS_SE**2, prior, None)
    assert r.mu.median == pytest.approx(g["mu_median"], abs=2e-5)
    assert r.mu.mean == pytest.approx(g["mu_mean"], abs=2e-5)
    # tau's heavy tail beyond the grid's end (400) costs the grid ~2e-4 on the median
    assert r.tau.median == pytest.approx(g["tau_median"], abs=5e-4)


def test_shrinkage_pulls_every_trial_towards_the_pooled_effect(schools_cauchy):
    mu = schools_cauchy.mu.mean
    for y, s in zip(SCHOOLS_Y, schools_cauchy.shrinkage):
        assert abs(s.mean - mu) < abs(y - mu) + 1e-12
        assert min(y, mu) - 1e-9 <= s.mean <= max(y, mu) + 1e-9


def test_turner_prior_is_the_published_log_normal_for_tau_squared():
    p = turner_mortality()
    mu2, sd2 = TURNER_ALL_CAUSE_MORTALITY["pharmacological vs. placebo / control"]
    assert (mu2, sd2) == (-3.95, 1.34)
    # tau² ~ LN(m, s²) <=> tau ~ LN(m/2, (s/2)²): the median of tau is exp(m/2)
    tau = np.array([math.exp(mu2 / 2)])
    dens = float(np.exp(p.logpdf(tau))[0])
    assert dens == pytest.approx(1 / (tau[0] * (sd2 / 2) * math.sqrt(2 * math.pi)), rel=1e-12)


def test_improper_posterior_is_refused():
    with pytest.raises(ValueError, match="improper"):
        bayes_meta([0.1, 0.2], [0.1, 0.1], uniform_tau(), None)


def test_a_single_trial_with_a_proper_tau_prior_works():
    r = bayes_meta([-0.3], [0.05], half_normal(0.5), None)
    assert r.k == 1 and r.theta_new.sd > r.mu.sd > 0


def test_shortest_intervals_by_newton_agree_with_minimising_the_width():
    # the equal-density ends found by Newton (cdf and pdf given) against the width
    # quantile(p + 0.95) - quantile(p) minimised over p (quantile only), on mu and on
    # tau with an interior mode; and at the support's end (the density highest at 0)
    from metasynth.models.bayes.normal_normal import Posterior, _shortest

    post = Posterior(SCHOOLS_Y, SCHOOLS_SE**2, half_cauchy(25), (0.0, 50.0))
    cdf, pdf, mean, sd = post._mixture(post.mu_loc_var)

    def q(p):  # the mixture's quantile, by bisection (independent of summary_of's)
        lo, hi = mean - 20 * sd, mean + 20 * sd
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
        return (lo + hi) / 2

    start = (q(0.025), q(0.975))
    newton = _shortest(q, cdf, pdf, start)
    assert newton == pytest.approx(_shortest(q), abs=1e-6 * sd)
    assert cdf(newton[1]) - cdf(newton[0]) == pytest.approx(0.95, abs=1e-12)
    assert pdf(newton[0]) == pytest.approx(pdf(newton[1]), rel=1e-9)
    # tau with an interior mode: Newton's ends against the width minimised
    het = Posterior(np.log([0.3, 1.5, 0.6, 2.0]), np.array([0.05, 0.04, 0.06, 0.05]),
                    half_normal(0.5))
    t = het.tau_summary()
    assert 0 < t.lower < t.mode < t.upper
    assert (t.lower, t.upper) == pytest.approx(_shortest(het.tau_quantile), rel=1e-7)
    # a posterior of tau whose density falls from about 0: the interval starts at 0
    flat = Posterior(np.log([0.5, 0.8, 1.1]), np.array([0.1, 0.05, 0.2]), half_normal(0.5))
    lo, hi = _shortest(flat.tau_quantile, flat._tau_cdf, flat._tau_density,
                       (flat.tau_quantile(0.025), flat.tau_quantile(0.975)), floor=0.0)
    assert lo == 0.0 and hi == pytest.approx(flat.tau_quantile(0.95), rel=1e-12)
