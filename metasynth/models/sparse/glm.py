"""Binomial-logit fits behind the heterogeneity tests of the GLMMs.

metafor's ``rma.glmm`` tests heterogeneity with two fits made by R's ``glm()``: the
model with one common log odds ratio ("FE") and the saturated model with one log odds
ratio per trial ("QE"). The likelihood-ratio statistic is ``-2 (ll_FE - ll_QE)``; the
Wald statistic tests the per-trial log odds ratios of the saturated fit for equality.

With a zero cell the saturated maximum lies at infinity, and ``glm()`` returns the
point where its iteratively reweighted least squares stopped (relative deviance
change below 1e-8, at most 25 iterations). The Wald statistic depends on that point,
so :func:`glm_saturated` repeats R's ``glm.fit`` iterations exactly: start
``mu = (n y + 0.5) / (n + 1)``, R's clamped logit inverse (``binomial()$linkinv``
returns ``DBL_EPSILON`` odds below eta = -30) and its stopping rule. A saturated
model's least-squares step fits each observation exactly, so the iterations run per
observation (vectorised), which is what ``glm.fit`` computes for this design.
"""

from __future__ import annotations

import numpy as np

EPS = np.finfo(float).eps
THRESH = 30.0
GLM_EPSILON = 1e-8
GLM_MAXIT = 25


def linkinv(eta):
    """R's ``binomial()$linkinv`` (C ``logit_linkinv``): odds clamped at eta = +-30."""
    t = np.where(eta < -THRESH, EPS, np.where(eta > THRESH, 1.0 / EPS, np.exp(np.clip(eta, -THRESH, THRESH))))
    return t / (1.0 + t)


def mu_eta(eta):
    """R's ``binomial()$mu.eta``: DBL_EPSILON beyond |eta| = 30."""
    e = np.exp(np.clip(eta, -THRESH, THRESH))
    return np.where(np.abs(eta) > THRESH, EPS, e / (1.0 + e) ** 2)


def dev_resids(y, mu, wt):
    """Binomial deviance residuals (R's ``binomial()$dev.resids``), 0 log 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)
        t2 = np.where(y < 1, (1 - y) * np.log(np.where(y < 1, 1 - y, 1.0) / (1 - mu)), 0.0)
    return 2.0 * wt * (t1 + t2)


def binom_loglik(x, n, mu):
    """Binomial log-likelihood with the binomial coefficient (R's ``logLik.glm``)."""
    from scipy.special import gammaln, xlogy

    return (gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1)
            + xlogy(x, mu) + xlogy(n - x, 1 - mu))


def glm_saturated(x, n):
    """``glm.fit`` on a saturated binomial-logit design: fitted eta and its variance.

    ``x`` events of ``n`` per observation (``n > 0``), all observations of the one model
    (the stopping rule uses their total deviance). Returns ``(eta, var_eta)``:
    ``var_eta = 1 / (n mu (1 - mu))`` at the start of the final iteration (R's ``vcov``).
    """
    x, n = np.asarray(x, float), np.asarray(n, float)
    y = x / n
    mu = (n * y + 0.5) / (n + 1.0)
    eta = np.log(mu / (1 - mu))
    devold = dev_resids(y, mu, n).sum()
    for _ in range(GLM_MAXIT):
        me = mu_eta(eta)
        # the working weights of this iteration: R's vcov() uses those of the last
        # weighted fit, i.e. the weights at the start of the final iteration
        w = n * me ** 2 / (mu * (1 - mu))
        # a saturated design's weighted least-squares fit reproduces z exactly
        eta = eta + (y - mu) / me
        mu = linkinv(eta)
        dev = dev_resids(y, mu, n).sum()
        if abs(dev - devold) / (abs(dev) + 0.1) < GLM_EPSILON:
            break
        devold = dev
    return eta, 1.0 / w


def wald_equal(eta_diff, var):
    """Wald statistic that all entries of ``eta_diff`` (independent, variances ``var``) are equal."""
    w = 1.0 / var
    mean = (w * eta_diff).sum() / w.sum()
    return float((w * (eta_diff - mean) ** 2).sum())


def logistic_fit(X, x, n, offset=None, tol=1e-12, maxit=100):
    """Maximum-likelihood binomial-logit regression by Newton-Raphson (a converged ``glm``).

    Returns ``(beta, loglik, cov)``. Coefficients whose maximum lies at infinity (e.g.
    a double-zero trial's intercept) drift until the log-likelihood stops changing, as
    in ``glm``; their contribution to the log-likelihood is then below 1e-10.
    """
    X = np.asarray(X, float)
    x, n = np.asarray(x, float), np.asarray(n, float)
    off = np.zeros(len(x)) if offset is None else np.asarray(offset, float)
    y = np.where(n > 0, x / np.where(n > 0, n, 1.0), 0.0)
    mu = (n * y + 0.5) / (n + 1.0)
    eta = np.log(mu / (1 - mu))
    # start from the least-squares fit of the starting eta, as glm's first step does
    beta = np.linalg.lstsq(X, eta - off, rcond=None)[0]
    ll_old = -np.inf
    for _ in range(maxit):
        eta = off + X @ beta
        mu = 1.0 / (1.0 + np.exp(-eta))
        w = n * mu * (1 - mu)
        g = X.T @ (x - n * mu)
        H = X.T @ (X * w[:, None])
        step = np.linalg.lstsq(H, g, rcond=None)[0]
        beta = beta + step
        eta = off + X @ beta
        mu = 1.0 / (1.0 + np.exp(-eta))
        ll = float(binom_loglik(x, n, mu).sum())
        if abs(ll - ll_old) < tol * (abs(ll) + 0.1):
            break
        ll_old = ll
    w = n * mu * (1 - mu)
    H = X.T @ (X * w[:, None])
    cov = np.linalg.pinv(H)
    return beta, ll, cov
