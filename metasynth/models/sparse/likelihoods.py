"""Marginal likelihoods of the binomial-normal GLMMs, computed as metafor 3.8 does.

metafor's ``rma.glmm(measure = "OR")`` fits

- ``UM.FS`` with ``lme4::glmer(cbind(x, n - x) ~ -1 + group1 + study + (group - 1 | study),
  nAGQ = 7)``: fixed study intercepts, a random treatment effect with the arms coded
  +1/2 and -1/2 (so tau^2 is the variance of the true log odds ratios), adaptive
  Gauss-Hermite quadrature with 7 nodes;
- ``UM.RS`` with ``glmer(... ~ -1 + group1 + const + (group || study))``: random study
  intercepts and random treatment effects, uncorrelated; metafor sets ``nAGQ = 1``
  (Laplace) because glmer allows more nodes only for one scalar random term;
- ``CM.AL`` with ``glmer(cbind(a, c) ~ 1 + (1 | study), offset = log(n1 / n2), nAGQ = 7)``:
  the binomial approximation to the conditional likelihood (events in the treatment arm
  given the total events);
- ``CM.EL`` by its own ``nlminb`` on the exact conditional (non-central hypergeometric)
  likelihood, the random effect integrated by ``integrate()``.

The glmer deviances here follow lme4's C++ (``glmerLaplace`` and ``glmerAGQ`` in
``external.cpp``): at the conditional mode ``u0`` of the spherical random effects,
``dev = sum(devc0) + log det(L)^2 - 2 sum log(mult)``, where
``devc0 = u0^2 + sum of the binomial deviance residuals``, ``L`` is the Cholesky factor
of ``Lambda' Z' W Z Lambda + I`` and
``mult = sum_q w_q exp(z_q^2 / 2) exp(-(devc(u0 + z_q / L) - devc0) / 2)`` over the
Gauss-Hermite rule for the standard normal (for one node, ``mult = 1``: Laplace). All
functions are vectorised over trials. CM.EL's integral is evaluated by adaptive
Gauss-Hermite quadrature with 40 nodes around the integrand's mode, which is exact to
about 1e-12 for these smooth log-concave integrands, more accurate than ``integrate()``
at its default ``rel.tol`` of 1.2e-4.

References: Stijnen, Hamza & Oezdemir (2010), Stat Med 29:3046; Jackson, Law, Stijnen,
Viechtbauer & White (2018), Stat Med 37:1059; Bates, Maechler, Bolker & Walker (2015),
J Stat Softw 67(1) (lme4); Pinheiro & Bates (1995), J Comput Graph Stat 4:12 (adaptive
Gauss-Hermite quadrature).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

MODE_TOL = 1e-10  # on u (standard-normal scale): the deviance error is O(step^2)


@lru_cache(maxsize=8)
def gh_standard_normal(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite nodes and weights for the standard normal (lme4's ``GHrule``)."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return z, w / np.sqrt(2.0 * np.pi)


def _expit(eta):
    return 1.0 / (1.0 + np.exp(-np.clip(eta, -700.0, 700.0)))


def _devres(x, n, eta):
    """Binomial deviance residuals 2 [x log(x / (n mu)) + (n - x) log((n - x) / (n (1 - mu)))]
    (R's ``binomial()$dev.resids`` times the weight), 0 log 0 = 0."""
    from scipy.special import xlogy

    mu = np.clip(_expit(eta), 1e-300, 1.0 - 1e-16)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2.0 * (xlogy(x, x / (n * mu)) + xlogy(n - x, (n - x) / (n * (1.0 - mu))))


def _halved_step(pdev, u, step, cur):
    """A Newton step per trial, halved (up to 30 times) for the trials whose penalised
    deviance it would raise, as PIRLS does. ``step`` has the shape of ``u``: (k,) or
    (k, q). Returns (the step taken, the deviance after it)."""
    shape = cur.shape + (1,) * (step.ndim - cur.ndim)
    new = pdev(u - step)
    # a step below 1e-6 is always taken: the penalised deviance is strictly convex in u,
    # so Newton is in its quadratic region there, and the decrease (~1e-14) is below the
    # rounding of the binomial terms (~1e-12 with n ~ 10^4), which would refuse it, halve
    # it 30 times and leave the mode 3e-9 off (bcg, UM.RS: the deviance 8e-9 off)
    small = np.abs(step).reshape(cur.shape + (-1,)).max(-1) < 1e-6
    bad = (new > cur + 1e-13 * np.abs(cur)) & ~small
    t = np.ones(cur.shape)
    for _ in range(30):
        if not bad.any():
            break
        t = np.where(bad, t / 2, t)
        new = np.where(bad, pdev(u - t.reshape(shape) * step), new)
        bad = (new > cur + 1e-13 * np.abs(cur)) & ~small
    return t.reshape(shape) * step, new


def scalar_re_deviance(x, n, eta_f, zc, theta, nagq: int, u0=None):
    """lme4's AGQ deviance for one scalar random effect per trial.

    ``x``, ``n``, ``eta_f`` (fixed part of the linear predictor) and ``zc`` (the random
    effect's coefficient per observation) have shape ``(k, r)``: r observations per
    trial. ``theta`` is the random effect's SD. For B parameter points at once,
    ``eta_f`` is ``(B, k, r)`` and ``theta`` ``(B,)``. Returns ``(deviance per trial, u0)``.
    """
    theta = np.asarray(theta, float)
    shape = np.broadcast_shapes(np.shape(eta_f), np.shape(x))[:-1]
    u = np.zeros(shape) if u0 is None else np.array(u0, float)
    tz = theta[..., None, None] * zc if theta.ndim else theta * zc

    def pdev(u):
        return u ** 2 + _devres(x, n, eta_f + tz * u[..., None]).sum(-1)

    # Newton with step halving per trial (PIRLS does the same): the penalised deviance
    # is convex in u, but a full step from a far start can overshoot
    cur = pdev(u)
    for _ in range(100):
        mu = _expit(eta_f + tz * u[..., None])
        g = -(tz * (x - n * mu)).sum(-1) + u
        h = (tz ** 2 * n * mu * (1 - mu)).sum(-1) + 1.0
        step = g / h
        delta, new = _halved_step(pdev, u, step, cur)
        u = u - delta
        cur = new
        # converged when the full Newton step is small, not the step taken: a halved
        # step is small too, and stopping there left the deviance 1e-9 to 1e-8 off
        # (bcg, UM.RS), which the outer Hessian by central differences (h = 1e-5)
        # turned into noise of 10 to 100 and the fit into "not converged"
        if np.max(np.abs(step)) < MODE_TOL:
            break
    mu = _expit(eta_f + tz * u[..., None])
    L2 = (tz ** 2 * n * mu * (1 - mu)).sum(-1) + 1.0
    devc0 = u ** 2 + _devres(x, n, eta_f + tz * u[..., None]).sum(-1)
    # (at theta = 0 the quadrature below is exact and gives the Laplace value too)
    if nagq <= 1 or (theta.ndim == 0 and theta == 0.0):
        return devc0 + np.log(L2), u
    sd = 1.0 / np.sqrt(L2)
    zq, wq = gh_standard_normal(nagq)
    uq = u[..., None] + zq * sd[..., None]                          # (..., k, Q)
    eta_q = eta_f[..., None] + tz[..., None] * uq[..., None, :]     # (..., k, r, Q)
    devc = uq ** 2 + _devres(x[..., None], n[..., None], eta_q).sum(-2)
    with np.errstate(over="ignore"):  # far from the maximum; the caller rejects inf
        mult = (wq * np.exp(zq ** 2 / 2.0) * np.exp(-0.5 * (devc - devc0[..., None]))).sum(-1)
    return devc0 + np.log(L2) - 2.0 * np.log(mult), u


def um_rs_deviance(x, n, eta_f, grp, sigma, tau, u0=None):
    """lme4's Laplace deviance for UM.RS: per trial a random intercept (SD ``sigma``) and
    a random treatment effect (SD ``tau``, coefficient ``grp`` = +-1/2), uncorrelated.

    Shapes ``(k, 2)`` (treatment, control), or ``(B, k, 2)`` for B parameter points at
    once (``eta_f`` stacked, ``sigma`` and ``tau`` of shape (B,)). Returns
    ``(deviance per trial, u0)``.
    """
    shape = np.broadcast_shapes(np.shape(eta_f), np.shape(x))
    u = np.zeros(shape) if u0 is None else np.array(u0, float)
    c1 = np.asarray(sigma, float)[..., None, None] * np.ones_like(grp)
    c2 = np.asarray(tau, float)[..., None, None] * grp

    def lin(u):
        return eta_f + c1 * u[..., :1] + c2 * u[..., 1:2]

    def pdev(u):
        return (u ** 2).sum(-1) + _devres(x, n, lin(u)).sum(-1)

    cur = pdev(u)
    for _ in range(100):
        mu = _expit(lin(u))
        r = x - n * mu
        w = n * mu * (1 - mu)
        g0 = -(c1 * r).sum(-1) + u[..., 0]
        g1 = -(c2 * r).sum(-1) + u[..., 1]
        h11 = (c1 ** 2 * w).sum(-1) + 1.0
        h22 = (c2 ** 2 * w).sum(-1) + 1.0
        h12 = (c1 * c2 * w).sum(-1)
        det = h11 * h22 - h12 ** 2
        step = np.stack([(h22 * g0 - h12 * g1) / det, (h11 * g1 - h12 * g0) / det], -1)
        delta, new = _halved_step(pdev, u, step, cur)
        u = u - delta
        cur = new
        if np.max(np.abs(step)) < MODE_TOL:  # the full step: see scalar_re_deviance
            break
    mu = _expit(lin(u))
    w = n * mu * (1 - mu)
    h11 = (c1 ** 2 * w).sum(-1) + 1.0
    h22 = (c2 ** 2 * w).sum(-1) + 1.0
    h12 = (c1 * c2 * w).sum(-1)
    ldl2 = np.log(h11 * h22 - h12 ** 2)
    dev = (u ** 2).sum(-1) + _devres(x, n, lin(u)).sum(-1) + ldl2
    return dev, u


# ---------------------------------------------------------------- CM.EL ----------

def nchg_tables(a, n1, c, n2):
    """Per trial the support of the treatment-arm events given the total, padded.

    Returns ``(support, logc, a)``: ``support`` (k, S) with NaN padding, ``logc`` the log
    of ``choose(n1, x) choose(n2, m - x)`` (-inf padding).
    """
    from scipy.special import gammaln

    a, n1, c, n2 = (np.asarray(v, float) for v in (a, n1, c, n2))
    m = a + c
    lo = np.maximum(0.0, m - n2)
    hi = np.minimum(n1, m)
    S = int(np.max(hi - lo)) + 1
    x = lo[:, None] + np.arange(S)[None, :]
    ok = x <= hi[:, None]
    xs = np.where(ok, x, lo[:, None])

    def lchoose(nn, kk):
        return gammaln(nn + 1) - gammaln(kk + 1) - gammaln(nn - kk + 1)

    logc = np.where(ok, lchoose(n1[:, None], xs) + lchoose(n2[:, None], m[:, None] - xs), -np.inf)
    return np.where(ok, x, 0.0), logc, a


def nchg_logpmf(support, logc, a, t, *, logp: bool = True, moments: bool = True):
    """log P(X = a | total; log OR = t) of Fisher's non-central hypergeometric, with the
    conditional mean and variance of X. ``t`` has shape (k, Q). ``logp=False`` or
    ``moments=False`` skips (returns None for) the part a caller does not use: the mode
    search needs only the moments and the quadrature only the log probabilities, and the
    (k, Q, support) arrays are most of a CM.EL fit's time."""
    e = logc[:, None, :] + support[:, None, :] * t[:, :, None]        # (k, Q, S)
    mx = e.max(-1, keepdims=True)
    p = np.exp(e - mx)
    s = p.sum(-1)
    lp = mean = var = None
    if moments:
        mean = (p * support[:, None, :]).sum(-1) / s
        var = np.maximum((p * support[:, None, :] ** 2).sum(-1) / s - mean ** 2, 0.0)
    if logp:
        lse = mx[..., 0] + np.log(s)
        lc_a = np.take_along_axis(logc, np.argmin(np.abs(support - a[:, None]), 1)[:, None], 1)
        lp = lc_a + a[:, None] * t - lse
    return lp, mean, var


def _nchg_logp_by_width(support, logc, a, t):
    """``nchg_logpmf(...)[0]`` with trials grouped by the width of their support (powers
    of two), each group's arrays cut to its widest: one large trial no longer pads every
    other trial's (Q, S) quadrature array to its own support. The cut columns are -inf
    padding, whose terms are exactly 0."""
    width = np.isfinite(logc).sum(1)
    bucket = np.ceil(np.log2(np.maximum(width, 1))).astype(int)
    if np.all(bucket == bucket[0]):
        w = int(width.max())
        return nchg_logpmf(support[:, :w], logc[:, :w], a, t, moments=False)[0]
    out = np.empty(t.shape)
    for b in np.unique(bucket):
        rows = np.flatnonzero(bucket == b)
        w = int(width[rows].max())
        out[rows] = nchg_logpmf(support[rows, :w], logc[rows, :w], a[rows], t[rows],
                                moments=False)[0]
    return out


@lru_cache(maxsize=8)
def _hermgauss(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite nodes and weights, computed once per size (read-only): a GLMM fit
    asks for the same rule at every likelihood evaluation."""
    xq, wq = np.polynomial.hermite.hermgauss(nodes)
    xq.flags.writeable = wq.flags.writeable = False
    return xq, wq


def cm_el_loglik(tables, mu, tau, nodes: int = 40):
    """Exact conditional log-likelihood of CM.EL per trial:
    log integral P(a | m; e^t) N(t; mu, tau^2) dt (tau = 0: the integrand's point mass).

    ``mu`` is a scalar or per-trial array (the fixed part). Adaptive Gauss-Hermite
    quadrature around the integrand's mode.
    """
    support, logc, a = tables
    k = len(a)
    mu = np.broadcast_to(np.asarray(mu, float), (k,))
    if tau <= 0.0:
        lp, _, _ = nchg_logpmf(support, logc, a, mu[:, None], moments=False)
        return lp[:, 0]
    return _cm_el_points(support, logc, a, mu, np.full(k, float(tau)), 1, nodes)


def cm_el_loglik_stack(tables, mu, tau, nodes: int = 40):
    """``cm_el_loglik`` at B parameter points at once (``mu``, ``tau`` of shape (B,)),
    shape (B, k): the points of a finite-difference Hessian in one vectorised pass, each
    point's mode search stopping where ``cm_el_loglik``'s would, so every point's value
    is the one ``cm_el_loglik`` gives."""
    support, logc, a = tables
    k = len(a)
    mu, tau = np.asarray(mu, float), np.asarray(tau, float)
    out = np.empty((len(tau), k))
    zero = tau <= 0.0
    if zero.any():
        out[zero] = np.stack([cm_el_loglik(tables, m, 0.0) for m in mu[zero]])
    rows = np.flatnonzero(~zero)
    if len(rows):
        # every (point, trial) pair is one row of the trial's support: (R * k, S)
        R = len(rows)
        out[rows] = _cm_el_points(np.tile(support, (R, 1)), np.tile(logc, (R, 1)),
                                  np.tile(a, R), np.repeat(mu[rows], k),
                                  np.repeat(tau[rows], k), R, nodes).reshape(R, k)
    return out


def _cm_el_points(support, logc, a, mu, tau, R: int, nodes: int):
    """The integrals of ``cm_el_loglik`` for R points of k trials each, flattened to
    R * k rows (``mu``, ``tau`` per row, tau > 0). Newton finds each integrand's mode;
    a point's search stops when all its trials' steps are small."""
    k = len(a) // R
    prec = 1.0 / tau ** 2
    t = mu.copy()
    active = np.ones(R, bool)
    for _ in range(100):
        _, mean, var = nchg_logpmf(support, logc, a, t[:, None], logp=False)
        g = (a - mean[:, 0]) - (t - mu) * prec
        h = var[:, 0] + prec
        step = g / h
        # the log integrand is concave; damp long steps from flat single-zero tails
        step = np.clip(step, -5.0 * tau - 1.0, 5.0 * tau + 1.0)
        t = np.where(np.repeat(active, k), t + step, t)
        active &= ~(np.max(np.abs(step).reshape(R, k), 1) < MODE_TOL)
        if not active.any():
            break
    _, _, var = nchg_logpmf(support, logc, a, t[:, None], logp=False)
    sd = 1.0 / np.sqrt(var[:, 0] + prec)
    xq, wq = _hermgauss(nodes)
    tq = t[:, None] + np.sqrt(2.0) * sd[:, None] * xq[None, :]
    lp = _nchg_logp_by_width(support, logc, a, tq)
    lphi = (-0.5 * np.log(2 * np.pi) - np.log(tau)[:, None]
            - 0.5 * ((tq - mu[:, None]) / tau[:, None]) ** 2)
    terms = lp + lphi + xq[None, :] ** 2 + np.log(wq)[None, :]
    mx = terms.max(1, keepdims=True)
    return mx[:, 0] + np.log(np.exp(terms - mx).sum(1)) + np.log(np.sqrt(2.0) * sd)
