"""Mixed-effects meta-regression, for batches: y = X beta + u + e, u ~ N(0, tau²).

The general form of ``random_effects`` (which is this model with X = 1, kept apart because
intercept-only fits need no matrix algebra and run ~5x faster). Estimators of tau²: REML
(Fisher scoring from the Hedges start, as metafor), ML, DL, HE, PM; tests ``z`` or
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
    fallback: np.ndarray


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


def _tau2(y, v, X, mask, method):
    B, _k = y.shape
    p = X.shape[-1]
    kk = mask.sum(-1)
    ok = kk > p
    if method == "FE":
        return np.zeros(B), np.zeros(B, dtype=bool)
    if method in ("HE", "REML", "ML"):
        ones = mask.astype(float)
        _, _, py, P = _proj(X, ones, y)
        rss = (py**2).sum(-1)
        trPV = np.einsum("bkk,bk->b", P, np.where(mask, v, 0.0))
        he = np.where(ok, (rss - trPV) / np.maximum(kk - p, 1), 0.0)
        if method == "HE":
            return np.maximum(he, 0.0), np.zeros(B, dtype=bool)
        return _fisher(y, v, X, mask, method, np.maximum(he, 0.0), ok)
    if method == "DL":
        w = _weights(v, mask, 0.0)
        _, _, py, P = _proj(X, w, y)
        rss = (py * np.where(mask, y, 0.0)).sum(-1)
        trP = np.einsum("bkk->b", P)
        return np.where(ok, np.maximum((rss - (kk - p)) / trP, 0.0), 0.0), np.zeros(B, bool)
    if method == "PM":
        def q(t):
            w = _weights(v, mask, t)
            _, _, py, _ = _proj(X, w, y)
            return (py * np.where(mask, y, 0.0)).sum(-1)

        target = (kk - p).astype(float)
        active = ok & (q(np.zeros(B)) > target)
        root = solve_decreasing(q, target, active)
        return np.where(active, root, 0.0), np.zeros(B, dtype=bool)
    raise ValueError(f"tau² estimator {method!r} is not available for meta-regression "
                     f"(choose from {', '.join(MIXED_TAU2)})")


def _fisher(y, v, X, mask, method, tau2, active):
    running = active.copy()
    for _ in range(MAXITER):
        if not running.any():
            break
        w = _weights(v, mask, tau2)
        _, _, py, P = _proj(X, w, y)
        ypppy = (py**2).sum(-1)  # P y = W (y - X beta), so Y'PPY = |P y|^2
        if method == "REML":
            num = ypppy - np.einsum("bkk->b", P)
            info = np.einsum("bkj,bjk->b", P, P)
        else:
            num = ypppy - w.sum(-1)
            info = (w**2).sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            adj = np.where(running, num / info, 0.0)
        adj = np.where(np.isfinite(adj), adj, 0.0)
        for _ in range(1100):
            neg = tau2 + adj < 0
            if not neg.any():
                break
            adj = np.where(neg, adj / 2.0, adj)
        new = np.where(running, tau2 + adj, tau2)
        done = np.abs(new - tau2) <= np.maximum(THRESHOLD * new, THRESHOLD_ABS)
        tau2 = new
        running &= ~done
    return np.maximum(tau2, 0.0), running


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
    tau2, fallback = _tau2(y, v, X, mask, method.upper())
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
                      QE_p=QE_p, QM=QM, QM_p=QM_p, k=kk, p=p, df=df, s2w=s2w, fallback=fallback)
