"""Beta-binomial model for the odds ratio or the risk ratio (Kuss 2015).

Kuss O (2015). Statistical methods for meta-analyses including information from studies
without any events -- add nothing to nothing and succeed nevertheless. Stat Med
34:1097-1116. Bakbergenuly I, Kulinskaya E (2017). Beta-binomial model for
meta-analysis of odds ratios. Stat Med 36:1715-1734.

The events of each arm are beta-binomial with mean ``mu_arm`` and one intra-class
correlation ``rho`` for every arm of every trial (the "common-rho" model):
``x ~ BetaBin(n, alpha, beta)`` with ``alpha = mu (1 - rho) / rho`` and
``beta = (1 - mu) (1 - rho) / rho``; ``g(mu) = b0 + b1 [treatment arm]`` with the logit
link (b1 = log OR) or the log link (b1 = log RR; mu < 1 in both arms is a constraint).
Every trial enters the likelihood, double-zero trials included. The maximum is found
by Newton-Raphson on (b0, b1, logit rho) with analytic derivatives of the log-beta
terms through digamma functions, and the Wald interval uses the inverse of the observed
information (as Kuss's SAS NLMIXED and R implementations do).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metasynth.distributions import norm_quantile, norm_sf2

BB_MEASURES = ("OR", "RR")
# rho below plogis(-18) = 1.5e-8 is the boundary rho = 0 (no overdispersion), where the
# model is the binomial regression; the likelihood is flat in logit(rho) there and an
# optimiser stops anywhere along it (R's nlminb and Nelder-Mead stop at different points)
RHO_BOUNDARY_LOGIT = -18.0


@dataclass(frozen=True)
class BetaBinomialFit:
    measure: str
    status: str                # ok | rho_boundary | not_estimable | not_converged
    estimate: float | None     # log OR or log RR
    se: float | None
    ci_lower: float | None
    ci_upper: float | None
    z: float | None
    p: float | None
    rho: float | None          # intra-class correlation (overdispersion)
    b0: float | None
    loglik: float | None
    trials_used: int
    participants_used: int
    reason: str | None = None


def _arms(a, n1, c, n2):
    x = np.concatenate([np.asarray(a, float), np.asarray(c, float)])
    n = np.concatenate([np.asarray(n1, float), np.asarray(n2, float)])
    g = np.concatenate([np.ones(len(a)), np.zeros(len(c))])
    return x, n, g


def loglik(par, x, n, g, measure: str) -> float:
    """Beta-binomial log-likelihood at ``par = (b0, b1, logit rho)``."""
    from scipy.special import betaln, gammaln

    eta = par[0] + par[1] * g
    if measure == "OR":
        mu = 1.0 / (1.0 + np.exp(-eta))
    else:
        if np.any(eta >= 0.0):
            return -np.inf
        mu = np.exp(eta)
    rho = 1.0 / (1.0 + np.exp(-par[2]))
    s = (1.0 - rho) / rho
    al, be = mu * s, (1.0 - mu) * s
    lc = gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1)
    return float(np.sum(lc + betaln(x + al, n - x + be) - betaln(al, be)))


def _derivs(par, x, n, g, measure, w=None):
    """Gradient and Hessian of the log-likelihood in (b0, b1, logit rho), analytic.

    ``w``: optional weights of the observations (the sum is then weighted: with the
    beta-binomial probabilities of every possible count as weights, minus the Hessian
    is the expected information)."""
    from scipy.special import digamma, polygamma

    eta = par[0] + par[1] * g
    if measure == "OR":
        mu = 1.0 / (1.0 + np.exp(-eta))
        dmu = mu * (1 - mu)
        d2mu = dmu * (1 - 2 * mu)
    else:
        mu = np.exp(eta)
        dmu = mu
        d2mu = mu
    rho = 1.0 / (1.0 + np.exp(-par[2]))
    s = (1.0 - rho) / rho            # = exp(-logit rho)
    ds = -s                          # d s / d logit rho
    al, be = mu * s, (1 - mu) * s
    psi = digamma
    tri = lambda v: polygamma(1, v)  # noqa: E731
    # l = lnB(x+al, n-x+be) - lnB(al, be)
    A = psi(x + al) - psi(al)                     # dl/dal (without the psi(.+.) terms)
    B = psi(n - x + be) - psi(be)
    C = psi(s) - psi(n + s)                       # from the al + be = s terms
    l_al, l_be = A + C, B + C
    tA = tri(x + al) - tri(al)
    tB = tri(n - x + be) - tri(be)
    tC = tri(s) - tri(n + s)
    # chain rule: al = mu s, be = (1 - mu) s
    l_mu = s * (l_al - l_be)
    l_s = mu * l_al + (1 - mu) * l_be
    l_mumu = s * s * (tA + tB)                    # the tC terms cancel (al + be fixed in mu)
    l_ss = mu * mu * (tA + tC) + (1 - mu) ** 2 * (tB + tC) + 2 * mu * (1 - mu) * tC
    l_mus = (l_al - l_be) + s * (mu * (tA + tC) - (1 - mu) * (tB + tC)
                                 + (1 - 2 * mu) * tC - (mu * tC - (1 - mu) * tC))
    # simplify l_mus: d/ds [s (l_al - l_be)] = (l_al - l_be) + s (d l_al/ds - d l_be/ds)
    dlal_ds = mu * tA + tC
    dlbe_ds = (1 - mu) * tB + tC
    l_mus = (l_al - l_be) + s * (dlal_ds - dlbe_ds)
    # to (b0, b1, r = logit rho): mu = mu(eta), eta = b0 + b1 g, s = s(r)
    ge = l_mu * dmu
    gee = l_mumu * dmu ** 2 + l_mu * d2mu
    gr = l_s * ds
    grr = l_ss * ds ** 2 + l_s * (s)              # d2s/dr2 = s
    ger = l_mus * dmu * ds
    if w is not None:
        ge, gee, gr, grr, ger = (v * w for v in (ge, gee, gr, grr, ger))
    X = np.stack([np.ones_like(g), g], 1)
    grad = np.array([ge @ X[:, 0], ge @ X[:, 1], gr.sum()])
    H = np.empty((3, 3))
    H[:2, :2] = X.T @ (X * gee[:, None])
    H[:2, 2] = H[2, :2] = X.T @ ger
    H[2, 2] = grr.sum()
    return grad, H


def _binomial_limit(x, n, g, measure, level, k, N, start):
    """The rho = 0 boundary: binomial regression g(mu) = b0 + b1 x by Newton-Raphson."""
    from scipy.special import gammaln

    X = np.stack([np.ones_like(g), g], 1)
    b = np.asarray(start, float).copy()
    lc = gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1)

    def parts(b):
        eta = X @ b
        if measure == "OR":
            mu = 1 / (1 + np.exp(-eta))
            d1, d2 = x - n * mu, -n * mu * (1 - mu)
        else:
            mu = np.exp(np.minimum(eta, -1e-12))
            d1 = x - (n - x) * mu / (1 - mu)
            d2 = -(n - x) * mu / (1 - mu) ** 2
        ll = float(np.sum(lc + x * np.log(mu) + np.where(n > x, (n - x) * np.log1p(-mu), 0.0)))
        return ll, X.T @ d1, X.T @ (X * d2[:, None])

    ll, gr, H = parts(b)
    for _ in range(100):
        step = np.linalg.solve(-H, gr)
        t = 1.0
        while t > 1e-10:
            nb = b + t * step
            if measure == "RR" and np.any(X @ nb >= 0):
                t /= 2
                continue
            nll, ngr, nH = parts(nb)
            if nll >= ll - 1e-12:
                break
            t /= 2
        b, ll, gr, H = nb, nll, ngr, nH
        if np.max(np.abs(t * step)) < 1e-12:
            break
    V = np.linalg.inv(-H)
    est, se = float(b[1]), float(np.sqrt(V[1, 1]))
    crit = float(norm_quantile(1 - (1 - level) / 2))
    z = est / se
    return BetaBinomialFit(measure, "rho_boundary", est, se, est - crit * se, est + crit * se,
                           float(z), float(norm_sf2(np.array(z))), 0.0, float(b[0]), ll, k, N)


def fit_beta_binomial(a, n1, c, n2, measure: str = "OR", level: float = 0.95) -> BetaBinomialFit:
    """Maximum-likelihood common-rho beta-binomial fit (Kuss 2015) to k trials' 2x2 counts."""
    a, n1, c, n2 = (np.asarray(v, float) for v in (a, n1, c, n2))
    x, n, g = _arms(a, n1, c, n2)
    k, N = len(a), int((n1 + n2).sum())
    empty = dict(estimate=None, se=None, ci_lower=None, ci_upper=None, z=None, p=None,
                 rho=None, b0=None, loglik=None, trials_used=k, participants_used=N)
    if a.sum() == 0 or c.sum() == 0:
        return BetaBinomialFit(measure, "not_estimable", reason="no_events_in_an_arm", **empty)
    if a.sum() == n1.sum() or c.sum() == n2.sum():
        return BetaBinomialFit(measure, "not_estimable", reason="all_events_in_an_arm", **empty)
    p1 = (a.sum() + 0.5) / (n1.sum() + 1)
    p0 = (c.sum() + 0.5) / (n2.sum() + 1)
    if measure == "OR":
        par = np.array([np.log(p0 / (1 - p0)), np.log(p1 / (1 - p1)) - np.log(p0 / (1 - p0)), -3.0])
    else:
        par = np.array([np.log(p0), np.log(p1 / p0), -3.0])
    f = loglik(par, x, n, g, measure)
    converged = False
    for _ in range(200):
        grad, H = _derivs(par, x, n, g, measure)
        # the gradient scales with the counts: stop at 1e-9 per unit of log-likelihood
        if np.max(np.abs(grad)) < 1e-9 * max(1.0, abs(f)):
            converged = True
            break
        # Newton step where the Hessian is negative definite, else a damped one
        lam = 0.0
        for _ in range(60):
            M = -H + lam * np.eye(3)
            try:
                np.linalg.cholesky(M)
                step = np.linalg.solve(M, grad)
            except np.linalg.LinAlgError:
                lam = max(2 * lam, 1e-4 * (1 + np.abs(np.diag(H)).max()))
                continue
            t = 1.0
            while t > 1e-8:
                new = par + t * step
                fn = loglik(new, x, n, g, measure)
                if np.isfinite(fn) and fn >= f - 1e-12:
                    break
                t /= 2
            if t > 1e-8:
                if np.max(np.abs(new - par)) < 1e-12:
                    converged = True
                par, f = new, fn
                break
            lam = max(2 * lam, 1e-4 * (1 + np.abs(np.diag(H)).max()))
        else:
            break
        if par[2] < RHO_BOUNDARY_LOGIT:   # rho -> 0: the maximum is on the boundary
            break
    if par[2] < RHO_BOUNDARY_LOGIT:
        return _binomial_limit(x, n, g, measure, level, k, N, par[:2])
    grad, H = _derivs(par, x, n, g, measure)
    try:
        V = np.linalg.inv(-H)
    except np.linalg.LinAlgError:
        return BetaBinomialFit(measure, "not_estimable", reason="singular_hessian", **empty)
    if not np.isfinite(V[1, 1]) or V[1, 1] <= 0:
        return BetaBinomialFit(measure, "not_estimable", reason="singular_hessian", **empty)
    est, se = float(par[1]), float(np.sqrt(V[1, 1]))
    crit = float(norm_quantile(1 - (1 - level) / 2))
    z = est / se
    return BetaBinomialFit(measure, "ok" if converged else "not_converged", est, se,
                           est - crit * se, est + crit * se, float(z),
                           float(norm_sf2(np.array(z))), float(1 / (1 + np.exp(-par[2]))),
                           float(par[0]), float(f), k, N)
