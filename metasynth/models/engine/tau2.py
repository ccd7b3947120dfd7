"""Estimators of the between-study variance tau^2, for batches of meta-analyses.

Each estimator takes ``(batch, k)`` arrays ``y``, ``v`` and ``mask`` (see
``metasynth.models.engine.weighted``) and returns a ``Tau2Estimate`` of ``(batch,)`` arrays.
Estimates are truncated at zero, as in metafor (``tau2.min = 0``).

The intercept-only formulas below are those of metafor's ``rma.uni`` with ``p = 1``
(Viechtbauer 2010, J Stat Softw 36(3)). PyMARE has DL, HE, ML and REML but no
Paule-Mandel, Sidik-Jonkman or empirical Bayes, and fits one meta-analysis per call;
statsmodels' ``combine_effects`` has DL and PM but its DL is not truncated at zero
(homogeneous data give a negative tau^2 and NaN intervals). Hence these are written
here, vectorized, and pinned to metafor fixtures in ``tests/``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metasynth.models.engine.maxima import global_maximum, score_free_bound
from metasynth.models.engine.weighted import solve_decreasing, study_count, weighted_fit

#: Names accepted for the ``tau2`` option, in the order the help text lists them.
TAU2_METHODS = ("REML", "DL", "PM", "ML", "HE", "SJ", "EB")


#: Convergence of Fisher scoring: stop when the change in tau^2 is below
#: THRESHOLD * tau^2 or THRESHOLD_ABS, at most MAXITER steps. metafor stops at an
#: absolute change of 1e-5 after at most 100 steps; a relative criterion keeps the
#: precision on every scale (risk differences have tau^2 near 1e-4, log ratios near 0.1),
#: but near a flat likelihood scoring converges slowly and can need several hundred
#: steps to meet it, hence the larger cap. Rows still moving then (scoring that
#: oscillates) are solved by the global search of ``maxima.global_maximum``.
THRESHOLD = 1e-10
THRESHOLD_ABS = 1e-14
MAXITER = 1000


@dataclass(frozen=True)
class Tau2Estimate:
    tau2: np.ndarray  # (batch,)
    iterations: np.ndarray  # (batch,) Fisher-scoring iterations (0 for closed forms)
    fallback: np.ndarray  # (batch,) bool: Fisher scoring did not converge within MAXITER
    multiple_maxima: np.ndarray  # (batch,) bool: the (restricted) likelihood has several local maxima
    other_maximum: np.ndarray  # (batch,) tau^2 of the best other local maximum; NaN when none


def _closed(tau2: np.ndarray) -> Tau2Estimate:
    n = tau2.shape[0]
    return Tau2Estimate(tau2, np.zeros(n, dtype=int), np.zeros(n, dtype=bool),
                        np.zeros(n, dtype=bool), np.full(n, np.nan))


def dersimonian_laird(y, v, mask, q=None) -> Tau2Estimate:
    """DerSimonian & Laird (1986) method-of-moments estimator, truncated at 0.

    ``q`` replaces Cochran's Q around the inverse-variance estimate, as RevMan 5 takes it
    around the Mantel-Haenszel estimate (Deeks & Higgins 2010; R meta ``Q.Cochrane``);
    the weights stay the inverse-variance ones."""
    fe = weighted_fit(y, v, mask)
    k = study_count(mask)
    c = fe.sw - (fe.w**2).sum(axis=-1) / fe.sw
    q = fe.q if q is None else np.asarray(q, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau2 = (q - (k - 1)) / c
    return _closed(_truncate(tau2, k))


def hedges(y, v, mask) -> Tau2Estimate:
    """Hedges (1983) unweighted method-of-moments estimator ("HE" in metafor)."""
    k = study_count(mask)
    with np.errstate(invalid="ignore", divide="ignore"):
        ybar = (y * mask).sum(axis=-1) / k
        rss = (np.where(mask, y - ybar[:, None], 0.0) ** 2).sum(axis=-1)
        tau2 = rss / (k - 1) - (v * mask).sum(axis=-1) / k
    return _closed(_truncate(tau2, k))


def sidik_jonkman(y, v, mask) -> Tau2Estimate:
    """Sidik & Jonkman (2005) estimator, started from the unweighted variance."""
    k = study_count(mask)
    with np.errstate(invalid="ignore", divide="ignore"):
        ybar = (y * mask).sum(axis=-1) / k
        tau0 = (np.where(mask, y - ybar[:, None], 0.0) ** 2).sum(axis=-1) / k
        fit = weighted_fit(y, v, mask, tau0)
        tau2 = tau0 * fit.q / (k - 1)
    return _closed(_truncate(tau2, k))


def paule_mandel(y, v, mask) -> Tau2Estimate:
    """Paule & Mandel (1982): the tau^2 at which the generalised Q equals k - 1.

    The generalised Q decreases in tau^2, so the root is unique; when Q(0) < k - 1
    the estimate is 0. Solved by bracketed bisection to machine precision.
    """
    k = study_count(mask)
    target = (k - 1).astype(float)
    q0 = weighted_fit(y, v, mask).q
    active = (k >= 2) & (q0 > target)
    idx = np.flatnonzero(active)  # only the rows with a root are searched
    ys, vs = _by_study(y[idx], v[idx], mask[idx])

    def q(t):
        return _generalised_q(ys, vs, t)[0]

    out = np.zeros(k.shape[0])
    if idx.size:
        with np.errstate(invalid="ignore", divide="ignore"):
            out[idx] = solve_decreasing(q, target[idx], np.ones(idx.size, dtype=bool))
    return _closed(out)


def _by_study(y, v, mask):
    """The batch laid out by study, ``(k, batch)``, for the loops below: Fisher scoring and
    the likelihood scan sum over studies hundreds of times per fit, and numpy adds the
    rows of a ``(k, batch)`` array at full speed where it reduces the short last axis of
    ``(batch, k)`` one fit at a time (about 9x slower at k = 8). A study left out has
    v = inf, so its weight 1 / (v + tau²) is exactly 0 and no mask is applied."""
    return (np.ascontiguousarray(np.where(mask, y, 0.0).T),
            np.ascontiguousarray(np.where(mask, v, np.inf).T))


def _weights(y, v, tau2):
    """w, sum w and y - mu (by study, axis 0; ``tau2`` broadcasts over the trailing axes).
    In place where it can be: these arrays are the bulk of the work of every step. The
    callers ignore floating-point warnings once around their loops (a context per step
    costs a tenth of a step of a few rows)."""
    w = v + tau2
    np.reciprocal(w, out=w)
    sw = w.sum(axis=0)
    wy = w * y
    mu = wy.sum(axis=0) / sw
    np.subtract(y, mu, out=wy)
    return w, sw, wy  # a study left out has w = 0: its y - mu never counts


def _score_reml(y, v, tau2):
    """Fisher-scoring step for REML: (Y'PPY - tr P) / tr PP, as in metafor."""
    w, sw, py = _weights(y, v, tau2)
    py *= w
    py *= py
    ypppy = py.sum(axis=0)
    w2 = np.multiply(w, w, out=py)
    sw2 = w2.sum(axis=0)
    w2 *= w
    sw3 = w2.sum(axis=0)
    tr_p = sw - sw2 / sw
    tr_pp = sw2 - 2.0 * sw3 / sw + sw2**2 / sw**2
    return ypppy - tr_p, tr_pp


def _score_ml(y, v, tau2):
    w, sw, py = _weights(y, v, tau2)
    py *= w
    py *= py
    w *= w
    return py.sum(axis=0) - sw, w.sum(axis=0)


def _generalised_q(y, v, tau2):
    """sum w (y - mu)² and sum w (by study)."""
    w, sw, resid = _weights(y, v, tau2)
    resid *= resid
    resid *= w
    return resid.sum(axis=0), sw


def _score_eb(y, v, tau2):
    q, sw = _generalised_q(y, v, tau2)
    k = np.isfinite(v).sum(axis=0)
    return q * k / (k - 1) - k, sw


_SCORES = {"REML": _score_reml, "ML": _score_ml, "EB": _score_eb}


def _log_variance(v, tau2):
    return np.log(np.where(np.isinf(v), 1.0, v + tau2)).sum(axis=0)


def _loglik_reml(y, v, tau2):
    """Restricted log-likelihood, without its constant -(k - 1)/2 log(2 pi)."""
    q, sw = _generalised_q(y, v, tau2)
    return -0.5 * (_log_variance(v, tau2) + np.log(sw) + q)


def _loglik_ml(y, v, tau2):
    """Log-likelihood at the weighted mean, without its constant -k/2 log(2 pi)."""
    return -0.5 * (_log_variance(v, tau2) + _generalised_q(y, v, tau2)[0])


_LOGLIKS = {"REML": _loglik_reml, "ML": _loglik_ml}


def fisher_scoring(y, v, mask, method: str, threshold: float = THRESHOLD,
                   maxiter: int = MAXITER) -> Tau2Estimate:
    """ML, REML or EB by Fisher scoring, as metafor's ``rma.uni`` does it, then the global
    maximum of the likelihood.

    Start: the Hedges estimate truncated at 0. Step: ``adj = score / information``,
    halved while it would take tau^2 below 0; stop when the change is below
    ``threshold`` (rows that do not converge within ``maxiter`` steps are flagged in
    ``fallback``). The REML and ML likelihoods can have a maximum at tau^2 = 0 and
    another inside, and scoring finds one of them: ``maxima.global_maximum`` compares
    every local maximum and returns the highest (metafor compares its answer with 0
    only), flagging ``multiple_maxima``. EB's equation decreases in tau^2 (it is the
    generalised Q), so its root is unique and an unconverged row is solved by bisection.
    """
    score = _SCORES[method]
    k = study_count(mask)
    active = k >= 2
    tau2 = np.where(active, hedges(y, v, mask).tau2, 0.0)
    ys, vs = _by_study(y, v, mask)
    iterations = np.zeros(k.shape, dtype=int)
    n = k.shape[0]
    several, other = np.zeros(n, dtype=bool), np.full(n, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        running = _iterate(ys, vs, score, tau2, iterations, active.copy(), threshold, maxiter)
        fallback = running
        if method in _LOGLIKS:
            rows = np.flatnonzero(active)
            best = _global(ys[:, rows], vs[:, rows], method, tau2[rows], ~running[rows])
            tau2[rows], several[rows], other[rows] = best.tau2, best.several, best.other
        elif fallback.any():
            tau2 = np.where(fallback, _solve_score(ys, vs, score, fallback), tau2)
    return Tau2Estimate(np.maximum(tau2, 0.0), iterations, fallback, several, other)


def _iterate(y, v, score, tau2, iterations, running, threshold, maxiter):
    """Fisher scoring in place on ``tau2`` (``y``, ``v`` by study); returns the rows that
    did not converge."""
    idx = np.flatnonzero(running)
    ys, vs = y[:, idx], v[:, idx]
    for _ in range(maxiter):
        if idx.size == 0:
            break
        t = tau2[idx]
        num, info = score(ys, vs, t)
        adj = num / info
        adj = np.where(np.isfinite(adj), adj, 0.0)
        # Step halving keeps tau^2 >= 0 (metafor halves the step until it does): the
        # number of halvings is computed at once. A row that overshoots below zero while
        # the estimating equation already points down at zero is heading for the
        # boundary, where Fisher scoring only creeps: it is set to 0 there and then.
        over = t + adj < 0
        boundary = np.zeros_like(over)
        if over.any():
            ratio = np.where(over & (t > 0), -adj / np.where(t > 0, t, 1.0), 1.0)
            halvings = np.ceil(np.log2(np.maximum(ratio, 1.0)))
            adj = np.where(over, np.where(t > 0, adj / 2.0**halvings, 0.0), adj)
            at_zero, _ = score(ys[:, over], vs[:, over], np.zeros(int(over.sum())))
            boundary[over] = at_zero <= 0
            adj = np.where(boundary, -t, adj)
        new = t + adj
        iterations[idx] += 1
        done = boundary | (np.abs(new - t) <= np.maximum(threshold * new, THRESHOLD_ABS))
        tau2[idx] = new
        if done.any():  # only the rows still iterating are carried on
            running[idx[done]] = False
            keep = ~done
            idx, ys, vs = idx[keep], ys[:, keep], vs[:, keep]
    return running


def _global(ys, vs, method, start, converged):
    """``maxima.global_maximum`` for the intercept-only model on the fits ``ys``, ``vs``
    (by study)."""
    score, loglik = _SCORES[method], _LOGLIKS[method]
    inside = np.isfinite(vs)
    k = inside.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ybar = ys.sum(axis=0) / k
    rss = (np.where(inside, ys - ybar, 0.0) ** 2).sum(axis=0)
    vmax = np.where(inside, vs, 0.0).max(axis=0)
    vmin = vs.min(axis=0)
    upper = score_free_bound(rss, vmax, k - 1)

    def f(r, t):
        return score(ys[:, r], vs[:, r], t)[0]

    def on_grid(r, t):  # (rows, points) at once, broadcast rather than repeated
        return score(ys[:, r, None], vs[:, r, None], t)[0]

    def ll(r, t):
        return loglik(ys[:, r], vs[:, r], t)

    return global_maximum(f, ll, np.arange(ys.shape[1]), vmin / 100.0, upper, start,
                          converged, score_grid=on_grid)


def _solve_score(y, v, score, active):
    """Root of a decreasing estimating equation (EB's); 0 if score(0) <= 0.

    Computed on the ``active`` rows only (typically a few in a large batch)."""
    out = np.zeros(y.shape[1])
    idx = np.flatnonzero(active)
    if idx.size == 0:
        return out
    ys, vs = y[:, idx], v[:, idx]
    s0, _ = score(ys, vs, np.zeros(idx.size))
    positive = s0 > 0

    def f(t):
        s, _ = score(ys, vs, t)
        return s

    root = solve_decreasing(f, np.zeros(idx.size), positive)
    out[idx] = np.where(positive, root, 0.0)
    return out


def _truncate(tau2: np.ndarray, k: np.ndarray) -> np.ndarray:
    tau2 = np.where(k >= 2, tau2, 0.0)
    return np.maximum(np.nan_to_num(tau2, nan=0.0), 0.0)


def estimate_tau2(y, v, mask, method: str) -> Tau2Estimate:
    """Dispatch on the metafor name of the estimator (``TAU2_METHODS``)."""
    method = method.upper()
    if method == "DL":
        return dersimonian_laird(y, v, mask)
    if method == "HE":
        return hedges(y, v, mask)
    if method == "SJ":
        return sidik_jonkman(y, v, mask)
    if method == "PM":
        return paule_mandel(y, v, mask)
    if method in _SCORES:
        return fisher_scoring(y, v, mask, method)
    raise ValueError(f"unknown tau^2 estimator {method!r}; choose from {', '.join(TAU2_METHODS)}")
