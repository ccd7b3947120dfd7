"""Bayesian random-effects meta-analysis by numerical integration (no MCMC).

The normal-normal hierarchical model y_i ~ N(theta_i, v_i), theta_i ~ N(mu, tau²), with
independent priors p(mu) (flat or normal) and p(tau), as in bayesmeta (Röver 2020, J Stat
Softw 93(6)). Given tau, mu is normal (conjugate), so everything reduces to integrals
over the one-dimensional marginal posterior of tau:

    p(tau | y)  proportional to  p(tau) prod (v_i + tau²)^(-1/2) S(tau)^(-1/2) exp(-Q(tau)/2)

with w_i = 1/(v_i + tau²), S = sum w (plus 1/s0² for a normal prior on mu, as a pseudo
study at the prior mean), Q the weighted sum of squares around mu_hat(tau) = sum w y / S.
Then mu | tau, y ~ N(mu_hat, 1/S); a new trial's effect theta_new | tau, y ~
N(mu_hat, 1/S + tau²); study i's effect (shrinkage) | tau, y ~ N(mu_hat + B (y_i - mu_hat),
tau² v_i/(v_i + tau²) + (v_i/(v_i + tau²))² / S), B = tau²/(v_i + tau²).

The normalizing constant and tau's moments use adaptive Gauss-Kronrod quadrature (QUADPACK
via scipy, relative tolerance 1e-10); tau's quantiles and the mixtures use composite
Gauss-Legendre rules in u = tau / (c + tau): "exact to the integration tolerance".
bayesmeta approximates the marginal of mu by a discrete mixture (DIRECT algorithm,
bounded divergence), so its printed mu can differ from the exact integral in the 4th
significant digit (5e-4 in its eight-schools example); ``tests/test_bayes.py`` checks ours
against bayesmeta's printed examples and against an independent brute-force grid.

Priors for tau (``TauPrior``): half-normal (default scale 0.5 on the log scale, Röver et
al. 2021), half-Cauchy, uniform (improper; use with care), and the log-normal empirical
priors of Turner et al. (2015, Stat Med 34:984-998) for all-cause mortality.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from metasynth.models.results import Printable, frame

LEVEL = 0.95


@lru_cache(maxsize=4)
def _leggauss(n: int):
    """Gauss-Legendre nodes and weights, computed once per n (numpy recomputes them on
    every call, and the posterior's quantiles integrate thousands of panels)."""
    x, w = np.polynomial.legendre.leggauss(n)
    x.flags.writeable = w.flags.writeable = False
    return x, w


@dataclass(frozen=True)
class TauPrior:
    kind: str  # half-normal | half-cauchy | uniform | log-normal
    scale: float = 0.5
    meanlog: float = 0.0  # log-normal only (for tau)
    sdlog: float = 1.0
    label: str = ""

    def logpdf(self, tau: np.ndarray) -> np.ndarray:
        tau = np.asarray(tau, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "half-normal":
                out = (math.log(2) - 0.5 * math.log(2 * math.pi) - math.log(self.scale)
                       - 0.5 * (tau / self.scale) ** 2)
            elif self.kind == "half-cauchy":
                out = math.log(2 / (math.pi * self.scale)) - np.log1p((tau / self.scale) ** 2)
            elif self.kind == "uniform":
                out = np.zeros_like(tau)
            elif self.kind == "log-normal":
                out = np.where(tau > 0, -np.log(tau * self.sdlog * math.sqrt(2 * math.pi))
                               - (np.log(tau) - self.meanlog) ** 2 / (2 * self.sdlog**2), -np.inf)
            else:
                raise ValueError(f"unknown tau prior {self.kind!r}")
        return np.where(tau >= 0, out, -np.inf)

    def describe(self) -> str:
        if self.label:
            return self.label
        if self.kind == "log-normal":
            return f"log-normal(meanlog={self.meanlog:.3f}, sdlog={self.sdlog:.3f}) for tau"
        if self.kind == "uniform":
            return "uniform (improper) on tau"
        published = {"half-cauchy": "half-Cauchy"}.get(self.kind, self.kind)  # the option table's name
        return f"{published} prior (scale {self.scale:g}) on tau"


def half_normal(scale: float = 0.5) -> TauPrior:
    return TauPrior("half-normal", scale=scale)


def half_cauchy(scale: float = 0.5) -> TauPrior:
    return TauPrior("half-cauchy", scale=scale)


def uniform_tau() -> TauPrior:
    return TauPrior("uniform")


# Turner et al. (2015), Table IV, all-cause mortality: log-normal priors for tau², by the
# type of comparison (as tabulated in bayesmeta's TurnerEtAlPrior). For tau the log-normal
# parameters are halved.
TURNER_ALL_CAUSE_MORTALITY = {
    "pharmacological vs. placebo / control": (-3.95, 1.34),
    "pharmacological vs. pharmacological": (-4.18, 1.41),
    "non-pharmacological vs. placebo / control": (-4.17, 1.55),
    "non-pharmacological vs. pharmacological": (-2.92, 1.02),
    "non-pharmacological vs. non-pharmacological": (-3.50, 1.26),
}


def turner_mortality(comparison: str = "pharmacological vs. placebo / control") -> TauPrior:
    mu, sigma = TURNER_ALL_CAUSE_MORTALITY[comparison]
    return TauPrior("log-normal", meanlog=mu / 2, sdlog=sigma / 2,
                    label=f"Turner et al. (2015), all-cause mortality, {comparison}: "
                          f"tau² ~ log-normal({mu}, {sigma}²)")


@dataclass(frozen=True)
class Summary:
    mode: float
    median: float
    mean: float
    sd: float
    lower: float  # 95% interval (shortest, or central: see interval)
    upper: float
    central_lower: float
    central_upper: float


@dataclass(frozen=True)
class BayesResult(Printable):
    k: int
    labels: tuple[str, ...]
    tau_prior: str
    mu_prior: str
    tau: Summary
    mu: Summary
    theta_new: Summary
    shrinkage: tuple[Summary, ...]
    probabilities: dict = field(default_factory=dict)  # e.g. {"P(mu < 0)": 0.93}
    interval: str = "shortest"
    y: tuple[float, ...] = ()  # the data (analysis scale) and standard errors
    se: tuple[float, ...] = ()
    mu_density: tuple[tuple[float, float], ...] = ()  # (x, density) on the analysis scale
    tau_density: tuple[tuple[float, float], ...] = ()
    spec: Any = None  # the AnalysisSpec of the pooled analysis (set by api.bayes)
    counts: Any = None  # its Counts (one counting rule for every section)

    def to_frame(self):
        """One row per parameter (analysis scale): the pooled effect, a new trial's effect,
        tau and each trial's shrunken effect."""
        named = [("pooled", self.mu), ("new trial", self.theta_new), ("tau", self.tau),
                 *zip(self.labels, self.shrinkage)]
        return frame([{"parameter": n, **asdict(s)} for n, s in named], "parameter")

    def to_dict(self) -> dict:
        return asdict(self)


class Posterior:
    """The marginal posterior of tau and the mixtures over it (mu, theta_new, theta_i)."""

    def __init__(self, y, v, tau_prior: TauPrior, mu_prior: tuple[float, float] | None = None):
        self.y = np.asarray(y, dtype=float)
        self.v = np.asarray(v, dtype=float)
        self.tau_prior, self.mu_prior = tau_prior, mu_prior
        if len(self.y) < 1:
            raise ValueError("no studies")
        if mu_prior is None and tau_prior.kind == "uniform" and len(self.y) < 3:
            raise ValueError("flat priors on mu and tau give an improper posterior with fewer "
                             "than 3 studies: choose a proper prior for tau")
        self._log_norm = 0.0
        peak = self._peak()
        self._log_norm = self._log_unnorm(np.array([peak]))[0]
        self._z = self._integrate(lambda t: self._density_unnorm(t))
        self._tau_mean: float | None = None
        self._table = None  # tau's cumulative posterior at panel edges (_cdf_table)
        self._node_cache = None  # quadrature nodes for the mixtures (_nodes)

    # --- tau -------------------------------------------------------------------------
    def _parts(self, tau):
        tau = np.atleast_1d(np.asarray(tau, dtype=float))
        w = 1.0 / (self.v[None, :] + tau[:, None] ** 2)
        s = w.sum(1)
        wy = (w * self.y).sum(1)
        if self.mu_prior is not None:
            m0, s0 = self.mu_prior
            s = s + 1 / s0**2
            wy = wy + m0 / s0**2
        mu_hat = wy / s
        q = (w * (self.y - mu_hat[:, None]) ** 2).sum(1)
        if self.mu_prior is not None:
            q = q + (m0 - mu_hat) ** 2 / s0**2
        return w, s, mu_hat, q

    def _log_unnorm(self, tau):
        tau = np.atleast_1d(np.asarray(tau, dtype=float))
        w, s, _, q = self._parts(tau)
        return (self.tau_prior.logpdf(tau) + 0.5 * np.log(w).sum(1) - 0.5 * np.log(s)
                - 0.5 * q - self._log_norm)

    def _density_unnorm(self, tau):
        return float(np.exp(self._log_unnorm(np.array([tau]))[0]))

    def _peak(self) -> float:
        """A point of high posterior density, to scale the integrals."""
        grid = np.concatenate([[0.0], np.geomspace(1e-6, 1e3, 400) * max(np.sqrt(self.v).max(),
                                                                          1e-8)])
        return float(grid[np.argmax(self._log_unnorm(grid))])

    def _integrate(self, f, a: float = 0.0, b: float = math.inf) -> float:
        from scipy import integrate

        return integrate.quad(f, a, b, epsabs=0.0, epsrel=1e-10, limit=500)[0]

    def _nodes(self):
        """Quadrature nodes and normalized weights over tau for the mixtures: composite
        Gauss-Legendre (20 points on each of 100 panels) in u, tau = c u / (1 - u), with c
        the posterior median of tau. Checked against a brute-force grid in the tests."""
        if self._node_cache is None:
            c = max(self.tau_quantile(0.5), 1e-3 * max(float(np.sqrt(self.v).max()), 1e-9))
            x, w = _leggauss(20)
            edges = np.linspace(0.0, 1.0, 101)
            a, b = edges[:-1, None], edges[1:, None]
            u = ((b - a) / 2 * x + (a + b) / 2).ravel()
            wu = ((b - a) / 2 * w).ravel()
            tau = c * u / (1 - u)
            jac = c / (1 - u) ** 2
            dens = np.exp(self._log_unnorm(tau))
            weights = wu * jac * dens
            weights = weights / weights.sum()
            _, s, mu_hat, _ = self._parts(tau)
            self._node_cache = (tau, weights, mu_hat, 1.0 / s)
        return self._node_cache

    def _cdf_table(self):
        """Cumulative posterior of tau at panel edges (400 panels in u = tau / (c + tau),
        20-point Gauss-Legendre on each), from which every quantile of tau is found."""
        if self._table is None:
            c = max(self.tau_mean(), 1e-3 * max(float(np.sqrt(self.v).max()), 1e-9))
            edges = np.linspace(0.0, 1.0, 401)
            parts = self._gl(edges[:-1], edges[1:], c)
            cum = np.concatenate([[0.0], np.cumsum(parts)])
            self._table = (c, edges, cum, cum[-1])
        return self._table

    def _gl(self, a, b, c):
        """Integral of the unnormalized density over [a, b] in u (vectorized over panels)."""
        x, w = _leggauss(20)
        a, b = np.atleast_1d(a)[:, None], np.atleast_1d(b)[:, None]
        u = (b - a) / 2 * x + (a + b) / 2
        tau = c * u / (1 - u)
        f = np.exp(self._log_unnorm(tau.ravel())).reshape(u.shape) * c / (1 - u) ** 2
        return ((b - a) / 2 * w * f).sum(1)

    def tau_quantile(self, p: float) -> float:
        from scipy.optimize import brentq

        c, edges, cum, total = self._cdf_table()
        target = p * total
        j = int(np.clip(np.searchsorted(cum, target) - 1, 0, len(edges) - 2))

        def cdf_u(u: float) -> float:
            return cum[j] + float(self._gl(edges[j], u, c)[0]) - target

        u = brentq(cdf_u, edges[j], min(edges[j + 1], 1 - 1e-15), xtol=1e-15, rtol=1e-13)
        return c * u / (1 - u)

    def _tau_cdf(self, tau: float) -> float:
        """P(tau' <= tau) from the table ``tau_quantile`` inverts."""
        c, edges, cum, total = self._cdf_table()
        u = tau / (c + tau)
        j = int(np.clip(np.searchsorted(edges, u) - 1, 0, len(edges) - 2))
        return (cum[j] + float(self._gl(edges[j], u, c)[0])) / total

    def _tau_density(self, tau: float) -> float:
        """The density of tau normalised as ``_tau_cdf`` (by the table's total)."""
        total = self._cdf_table()[3]
        return float(np.exp(self._log_unnorm(np.array([tau]))[0])) / total

    def tau_pdf(self, tau):
        tau = np.atleast_1d(np.asarray(tau, dtype=float))
        return np.exp(self._log_unnorm(tau)) / self._z

    def _expect_tau(self, g) -> float:
        return self._integrate(lambda t: g(t) * self._density_unnorm(t)) / self._z

    def tau_mean(self) -> float:
        if self._tau_mean is None:
            self._tau_mean = self._expect_tau(lambda t: t)
        return self._tau_mean

    def tau_summary(self) -> Summary:
        from scipy.optimize import minimize_scalar

        mean = self.tau_mean()
        sd = math.sqrt(max(self._expect_tau(lambda t: t * t) - mean**2, 0.0))
        med = self.tau_quantile(0.5)
        # mode: 0 when the density falls from the origin, else the interior maximum
        d0 = self._log_unnorm(np.array([0.0, 1e-7 * max(sd, 1e-9)]))
        if d0[0] >= d0[1]:
            mode = 0.0
        else:
            res = minimize_scalar(lambda t: -self._log_unnorm(np.array([t]))[0],
                                  bounds=(0.0, mean + 10 * sd), method="bounded",
                                  options={"xatol": 1e-12 * max(mean, 1)})
            mode = float(res.x)
        q = self.tau_quantile
        c_lo, c_hi = q((1 - LEVEL) / 2), q((1 + LEVEL) / 2)
        if mode == 0.0:
            lo, hi = 0.0, q(LEVEL)
        else:
            lo, hi = _shortest(q, self._tau_cdf, self._tau_density, (c_lo, c_hi), floor=0.0)
        return Summary(mode, med, mean, sd, lo, hi, c_lo, c_hi)

    # --- mixtures over tau (mu, theta_new, shrinkage) ----------------------------------
    def _mixture(self, loc_var):
        """CDF, density, mean and sd of the normal mixture N(loc(tau), var(tau)) over the
        posterior of tau (``loc_var`` maps the tau nodes to arrays of means and variances)."""
        tau, weights, _, _ = self._nodes()
        m, s2 = loc_var(tau)
        s = np.sqrt(s2)

        def cdf(x: float) -> float:
            from scipy import special

            return float((weights * special.ndtr((x - m) / s)).sum())

        def pdf(x: float) -> float:
            return float((weights * np.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))).sum())

        mean = float((weights * m).sum())
        var = float((weights * (s2 + m * m)).sum()) - mean * mean
        return cdf, pdf, mean, math.sqrt(max(var, 0.0))

    def summary_of(self, loc_var) -> tuple[Summary, object, object]:
        """Summary, CDF and density of the mixture ``loc_var`` (e.g. ``mu_loc_var``)."""
        from scipy.optimize import brentq, minimize_scalar

        cdf, pdf, mean, sd = self._mixture(loc_var)

        def quantile(p: float) -> float:
            lo, hi = mean - 10 * sd, mean + 10 * sd
            while cdf(lo) > p:
                lo -= 10 * sd
            while cdf(hi) < p:
                hi += 10 * sd
            return brentq(lambda x: cdf(x) - p, lo, hi, xtol=1e-13 * max(sd, 1e-9), rtol=1e-13)

        med = quantile(0.5)
        res = minimize_scalar(lambda x: -pdf(x), bounds=(med - 3 * sd, med + 3 * sd),
                              method="bounded", options={"xatol": 1e-10 * max(sd, 1e-9)})
        c_lo, c_hi = quantile((1 - LEVEL) / 2), quantile((1 + LEVEL) / 2)
        lo, hi = _shortest(quantile, cdf, pdf, (c_lo, c_hi))
        return Summary(float(res.x), med, mean, sd, lo, hi, c_lo, c_hi), cdf, pdf

    def mu_loc_var(self, tau):
        _, s, mu_hat, _ = self._parts(tau)
        return mu_hat, 1.0 / s

    def theta_new_loc_var(self, tau):
        m, var = self.mu_loc_var(tau)
        return m, var + np.asarray(tau) ** 2

    def shrinkage_loc_var(self, i: int):
        def loc_var(tau):
            m, var = self.mu_loc_var(tau)
            t2 = np.asarray(tau) ** 2
            b = t2 / (self.v[i] + t2)
            return m + b * (self.y[i] - m), np.maximum(t2 * self.v[i] / (self.v[i] + t2)
                                                       + (1 - b) ** 2 * var, 1e-300)
        return loc_var


def _shortest(quantile, cdf=None, pdf=None, start=None, floor: float = -math.inf,
              level: float = LEVEL) -> tuple[float, float]:
    """Shortest interval with probability ``level`` of a unimodal distribution: where the
    density is equal at both ends and the probability between them is ``level``. Found
    by Newton's method on those two equations from ``start`` (the central interval)
    when ``cdf`` and ``pdf`` are given; else, or if Newton fails, by minimising the
    width ``quantile(p + level) - quantile(p)`` over p (about 20 times the work: each
    width costs two quantiles, each quantile a root search on the CDF). ``floor``: the
    support's lower end (0 for tau)."""
    from scipy.optimize import minimize_scalar

    if cdf is not None:
        if math.isfinite(floor):
            # density at the support's end above that at the level's quantile: the
            # interval starts there (no two ends of equal density)
            hi = quantile(level)
            if pdf(floor) >= pdf(hi):
                return floor, hi
        found = _equal_density(cdf, pdf, *start, level, floor)
        if found is not None:
            return found
    res = minimize_scalar(lambda p: quantile(p + level) - quantile(p),
                          bounds=(1e-12, 1 - level - 1e-12), method="bounded",
                          options={"xatol": 1e-10})
    return quantile(res.x), quantile(res.x + level)


def _equal_density(cdf, pdf, lo: float, hi: float, level: float, floor: float = -math.inf):
    """Newton's method for cdf(hi) - cdf(lo) = level and pdf(hi) = pdf(lo) from (lo, hi),
    the density's slopes by central differences; a step that would leave
    ``floor <= lo < hi`` is halved. None when it does not converge."""
    if not (math.isfinite(lo) and math.isfinite(hi) and floor <= lo < hi):
        return None
    for _ in range(50):
        f1 = cdf(hi) - cdf(lo) - level
        p_lo, p_hi = pdf(lo), pdf(hi)
        f2 = p_hi - p_lo
        d = 1e-6 * (hi - lo)
        s_lo = (pdf(lo + d) - pdf(max(lo - d, floor))) / (lo + d - max(lo - d, floor))
        s_hi = (pdf(hi + d) - pdf(hi - d)) / (2 * d)
        # J = [[-p_lo, p_hi], [-s_lo, s_hi]]; J (dlo, dhi) = -(f1, f2)
        det = -p_lo * s_hi + p_hi * s_lo
        if not math.isfinite(det) or det == 0.0:
            return None
        dlo = (-f1 * s_hi + p_hi * f2) / det
        dhi = (p_lo * f2 - s_lo * f1) / det
        for _ in range(30):
            if math.isfinite(lo + dlo) and math.isfinite(hi + dhi) and floor <= lo + dlo < hi + dhi:
                break
            dlo, dhi = dlo / 2, dhi / 2
        else:
            return None
        lo, hi = lo + dlo, hi + dhi
        if max(abs(dlo), abs(dhi)) < 1e-13 * (hi - lo):
            return float(lo), float(hi)
    return None


def bayes_meta(y, v, tau_prior: TauPrior | None = None, mu_prior: tuple[float, float] | None = None,
               labels=None, thresholds=(0.0,), shrinkage: bool = True) -> BayesResult:
    """Posterior summaries of tau, mu, a new trial's effect and each trial's effect, and the
    probabilities P(mu < t) for every threshold t (analysis scale; ``thresholds`` may be a
    mapping from a label, e.g. "P(RR < 0.9)", to t)."""
    tau_prior = tau_prior or half_normal(0.5)
    post = Posterior(y, v, tau_prior, mu_prior)
    tau = post.tau_summary()
    mu, mu_cdf, mu_pdf = post.summary_of(post.mu_loc_var)
    xs = np.linspace(mu.median - 4.5 * mu.sd, mu.median + 4.5 * mu.sd, 241)
    mu_density = tuple((float(x), mu_pdf(float(x))) for x in xs)
    ts = np.linspace(0.0, max(tau.central_upper * 1.6, 1e-6), 241)
    tau_density = tuple((float(t), float(d)) for t, d in zip(ts, post.tau_pdf(ts)))
    theta = post.summary_of(post.theta_new_loc_var)[0]
    shrunk = tuple(post.summary_of(post.shrinkage_loc_var(i))[0] for i in range(len(post.y))) \
        if shrinkage else ()
    if not isinstance(thresholds, dict):
        thresholds = {f"P(mu < {t:g})": t for t in thresholds}
    probs = {name: mu_cdf(t) for name, t in thresholds.items()}
    labels = tuple(labels) if labels is not None else tuple(str(i + 1) for i in range(len(post.y)))
    mu_label = "flat (improper)" if mu_prior is None else f"normal(mean={mu_prior[0]:g}, sd={mu_prior[1]:g})"
    return BayesResult(len(post.y), labels, tau_prior.describe(), mu_label, tau, mu, theta, shrunk,
                       probs, y=tuple(float(x) for x in post.y),
                       se=tuple(float(math.sqrt(x)) for x in post.v), mu_density=mu_density,
                       tau_density=tau_density)
