"""Mixed-effects meta-regression, for batches: y = X beta + u + e, u ~ N(0, tau²).

The general form of ``random_effects`` (which is this model with X = 1, kept apart because
intercept-only fits need no matrix algebra and run ~5x faster). Estimators of tau²: REML
and ML (Fisher scoring from the Hedges start, as metafor, then the global maximum of the
likelihood: see ``maxima``), DL, HE, PM; tests ``z`` or
``knha`` (Knapp & Hartung 2003: the variance scaled by Y'PY/(k - p), t and F with k - p
df). The omnibus test of the moderators (QM) excludes the intercept, as metafor's
``btt`` default. Residual heterogeneity QE uses the fixed-effect weights. Used for
meta-regression (Thompson & Higgins 2002), the mixed-effects subgroup test, Egger's
regression test and permutation tests, where X differs between the rows of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metasynth.distributions import chi2_sf, f_sf, norm_quantile, norm_sf2, t_quantile, t_sf2
from metasynth.models.engine.maxima import global_maximum, score_free_bound
from metasynth.models.engine.tau2 import MAXITER, THRESHOLD, THRESHOLD_ABS
from metasynth.models.engine.weighted import solve_decreasing

MIXED_TAU2 = ("REML", "ML", "DL", "HE", "PM", "FE")


@dataclass(frozen=True)
class MixedBatch:
    beta: np.ndarray  # (B, p)
    vb: np.ndarray  # (B, p, p)
    se: np.ndarray  # (B, p)
    stat: np.ndarray  # (B, p)
    pval: np.ndarray  # (B, p)
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    tau2: np.ndarray  # (B,)
    QE: np.ndarray
    QE_p: np.ndarray
    QM: np.ndarray  # chi² (z) or F (knha) statistic of the moderators
    QM_p: np.ndarray
    k: np.ndarray
    p: int
    df: np.ndarray  # k - p for knha, NaN for z
    s2w: np.ndarray
    fallback: np.ndarray  # Fisher scoring did not converge within MAXITER steps
    multiple_maxima: np.ndarray  # the (restricted) likelihood has several local maxima
    other_maximum: np.ndarray  # tau² of the best other local maximum; NaN when none


def _proj(X, w, y):
    """P y, tr P, tr PP and the parts of the weighted least-squares fit."""
    XtW = np.einsum("bkp,bk->bpk", X, w)
    A = np.linalg.inv(XtW @ X)  # (B, p, p)
    beta = np.einsum("bpq,bq->bp", A, np.einsum("bpk,bk->bp", XtW, y))
    resid = y - np.einsum("bkp,bp->bk", X, beta)
    py = w * resid
    # P = W - W X A X' W: diag and squared norm without forming it for large k
    WX = X * w[..., None]  # (B, k, p)
    H = np.einsum("bkp,bpq,bjq->bkj", WX, A, WX)  # W X A X' W
    P = np.einsum("bk,kj->bkj", w, np.eye(w.shape[-1])) - H
    return beta, A, py, P


def _weights(v, mask, tau2):
    return np.where(mask, 1.0 / (v + np.asarray(tau2)[..., None]), 0.0)


def _plain(tau2):
    """A closed-form or root-found tau²: no iterations to fail, one maximum."""
    n = tau2.shape[0]
    return tau2, np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), np.full(n, np.nan)


def _tau2(y, v, X, mask, method):
    """tau², then per row: scoring unconverged, several maxima, the other maximum."""
    B, _k = y.shape
    p = X.shape[-1]
    kk = mask.sum(-1)
    ok = kk > p
    if method == "FE":
        return _plain(np.zeros(B))
    if method in ("HE", "REML", "ML"):
        ones = mask.astype(float)
        _, _, py, P = _proj(X, ones, y)
        rss = (py**2).sum(-1)
        trPV = np.einsum("bkk,bk->b", P, np.where(mask, v, 0.0))
        he = np.where(ok, (rss - trPV) / np.maximum(kk - p, 1), 0.0)
        if method == "HE":
            return _plain(np.maximum(he, 0.0))
        return _fisher(y, v, X, mask, method, np.maximum(he, 0.0), ok, rss)
    if method == "DL":
        w = _weights(v, mask, 0.0)
        _, _, py, P = _proj(X, w, y)
        rss = (py * np.where(mask, y, 0.0)).sum(-1)
        trP = np.einsum("bkk->b", P)
        return _plain(np.where(ok, np.maximum((rss - (kk - p)) / trP, 0.0), 0.0))
    if method == "PM":
        def q(t):
            w = _weights(v, mask, t)
            _, _, py, _ = _proj(X, w, y)
            return (py * np.where(mask, y, 0.0)).sum(-1)

        target = (kk - p).astype(float)
        active = ok & (q(np.zeros(B)) > target)
        root = solve_decreasing(q, target, active)
        return _plain(np.where(active, root, 0.0))
    raise ValueError(f"tau² estimator {method!r} is not available for meta-regression "
                     f"(choose from {', '.join(MIXED_TAU2)})")


def _fisher(y, v, X, mask, method, tau2, active, rss):
    """Fisher scoring as metafor's ``rma.uni``, then the global maximum of the likelihood.

    Only the rows still iterating are computed. metafor compares its answer with tau² = 0
    (``ll0check``: a stationary point below the likelihood at 0 is reset to 0);
    ``maxima.global_maximum`` compares every local maximum, so it also finds an interior
    maximum above a boundary one. Returns tau², the unconverged rows, the rows whose
    likelihood has several local maxima and the best other maximum.
    """
    tau2 = tau2.copy()
    running = active.copy()
    for _ in range(MAXITER):
        idx = np.flatnonzero(running)
        if idx.size == 0:
            break
        t = tau2[idx]
        w = _weights(v[idx], mask[idx], t)
        _, _, py, P = _proj(X[idx], w, y[idx])
        ypppy = (py**2).sum(-1)  # P y = W (y - X beta), so Y'PPY = |P y|^2
        if method == "REML":
            num = ypppy - np.einsum("bkk->b", P)
            info = np.einsum("bkj,bjk->b", P, P)
        else:
            num = ypppy - w.sum(-1)
            info = (w**2).sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            adj = num / info
        adj = np.where(np.isfinite(adj), adj, 0.0)
        for _ in range(1100):
            neg = t + adj < 0
            if not neg.any():
                break
            adj = np.where(neg, adj / 2.0, adj)
        new = t + adj
        done = np.abs(new - t) <= np.maximum(THRESHOLD * new, THRESHOLD_ABS)
        tau2[idx] = new
        running[idx[done]] = False
    rows = np.flatnonzero(active)
    B = y.shape[0]
    several, other = np.zeros(B, dtype=bool), np.full(B, np.nan)
    if rows.size:
        ys, vs, Xs, ms = y[rows], v[rows], X[rows], mask[rows]

        def score(r, t):
            return _score_loglik(ys[r], vs[r], Xs[r], ms[r], t, method)[0]

        def loglik(r, t):
            return _score_loglik(ys[r], vs[r], Xs[r], ms[r], t, method)[1]

        vmax = np.where(ms, vs, 0.0).max(-1)
        vmin = np.where(ms, vs, np.inf).min(-1)
        upper = score_free_bound(rss[rows], vmax, ms.sum(-1) - X.shape[-1])
        best = global_maximum(score, loglik, np.arange(rows.size), vmin / 100.0, upper,
                              np.maximum(tau2[rows], 0.0), ~running[rows])
        tau2[rows], several[rows], other[rows] = best.tau2, best.several, best.other
    return np.maximum(tau2, 0.0), running, several, other


def _score_loglik(y, v, X, mask, tau2, method):
    """The REML or ML score (Y'PPY - tr P, or Y'PPY - tr W) and log-likelihood without
    its constant, computed without forming the k x k matrix P."""
    w = _weights(v, mask, tau2)
    XtW = np.einsum("bkp,bk->bpk", X, w)
    M = XtW @ X
    A = np.linalg.inv(M)
    beta = np.einsum("bpq,bq->bp", A, np.einsum("bpk,bk->bp", XtW, y))
    r = np.where(mask, y - np.einsum("bkp,bp->bk", X, beta), 0.0)
    logv = np.where(mask, np.log(v + np.asarray(tau2)[:, None]), 0.0).sum(-1)
    wr2 = (w * r**2).sum(-1)
    w2r2 = (w**2 * r**2).sum(-1)
    if method == "REML":
        XtW2X = np.einsum("bpk,bk,bkq->bpq", XtW, w, X)
        tr_p = w.sum(-1) - np.einsum("bpq,bqp->b", A, XtW2X)
        return w2r2 - tr_p, -0.5 * (logv + np.linalg.slogdet(M)[1] + wr2)
    return w2r2 - w.sum(-1), -0.5 * (logv + wr2)


def fit_mixed(y, v, X, mask=None, method: str = "REML", test: str = "z",
              level: float = 0.95) -> MixedBatch:
    """Fit the mixed-effects model to every row of the batch (X: (B, k, p) or (k, p))."""
    y = np.atleast_2d(np.asarray(y, dtype=float))
    v = np.atleast_2d(np.asarray(v, dtype=float))
    B, k = y.shape
    X = np.asarray(X, dtype=float)
    if X.ndim == 2:
        X = np.broadcast_to(X, (B, *X.shape))
    mask = np.ones((B, k), dtype=bool) if mask is None else np.atleast_2d(mask).astype(bool)
    mask = mask & np.isfinite(y) & np.isfinite(v)
    y = np.where(mask, y, 0.0)
    v = np.where(mask, v, 1.0)
    X = np.where(mask[..., None], X, 0.0)
    p = X.shape[-1]
    tau2, fallback, several, other = _tau2(y, v, X, mask, method.upper())
    w = _weights(v, mask, tau2)
    beta, A, py, _ = _proj(X, w, y)
    kk = mask.sum(-1)
    dfree = np.maximum(kk - p, 1)
    s2w = np.ones(B)
    if test == "knha":
        s2w = (py * np.where(mask, y, 0.0)).sum(-1) / dfree
    vb = A * s2w[:, None, None]
    se = np.sqrt(np.einsum("bpp->bp", vb))
    stat = beta / se
    if test == "knha":
        df = dfree.astype(float)
        pval = t_sf2(stat, df[:, None])
        crit = t_quantile(1 - (1 - level) / 2, df)[:, None]
    else:
        df = np.full(B, np.nan)
        pval = norm_sf2(stat)
        crit = norm_quantile(1 - (1 - level) / 2)
    # residual heterogeneity with fixed-effect weights
    w0 = _weights(v, mask, 0.0)
    _, _, py0, _ = _proj(X, w0, y)
    QE = (py0 * np.where(mask, y, 0.0)).sum(-1)
    QE_p = chi2_sf(QE, dfree)
    # omnibus test of the moderators (all coefficients but the intercept)
    m = p - 1
    if m >= 1:
        b2 = beta[:, 1:]
        V2 = np.linalg.inv(vb[:, 1:, 1:])
        QM = np.einsum("bp,bpq,bq->b", b2, V2, b2)
        if test == "knha":
            QM = QM / m
            QM_p = f_sf(QM, m, dfree)
        else:
            QM_p = chi2_sf(QM, m)
    else:
        QM = QM_p = np.full(B, np.nan)
    return MixedBatch(beta=beta, vb=vb, se=se, stat=stat, pval=pval,
                      ci_lower=beta - crit * se, ci_upper=beta + crit * se, tau2=tau2, QE=QE,
                      QE_p=QE_p, QM=QM, QM_p=QM_p, k=kk, p=p, df=df, s2w=s2w, fallback=fallback,
                      multiple_maxima=several, other_maximum=other)
