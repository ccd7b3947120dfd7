"""Weighted sums over batches of meta-analyses.

Every model function in ``metasynth.models`` works on arrays of shape ``(batch, k)``:
``y`` (effects on the analysis scale), ``v`` (their sampling variances) and ``mask``
(True where a study takes part). A single meta-analysis is a batch of one, so the
leave-one-out, cumulative, subset and permutation analyses of later issues are one
call on a stacked batch rather than a Python loop, and share one implementation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def as_batch(y, v, mask=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return float ``(batch, k)`` arrays ``y``, ``v`` and a boolean ``mask``.

    Masked-out cells get ``y = 0`` and ``v = 1`` so that no NaN or inf leaks into
    sums; their weight is always zero.
    """
    y = np.atleast_2d(np.asarray(y, dtype=float))
    v = np.atleast_2d(np.asarray(v, dtype=float))
    if y.shape != v.shape:
        raise ValueError(f"y and v differ in shape: {y.shape} vs {v.shape}")
    if mask is None:
        mask = np.isfinite(y) & np.isfinite(v)
    else:
        mask = np.atleast_2d(np.asarray(mask, dtype=bool)) & np.isfinite(y) & np.isfinite(v)
    y = np.where(mask, y, 0.0)
    v = np.where(mask, v, 1.0)
    return y, v, mask


@dataclass(frozen=True)
class WeightedFit:
    """Inverse-variance weighted mean for weights ``w = mask / (v + tau2)``."""

    w: np.ndarray  # (batch, k)
    sw: np.ndarray  # (batch,)
    mu: np.ndarray  # (batch,)
    resid: np.ndarray  # (batch, k), y - mu, zero where masked

    @property
    def q(self) -> np.ndarray:
        """Generalised Q: sum w (y - mu)^2."""
        return np.sum(self.w * self.resid**2, axis=-1)


def weighted_fit(y: np.ndarray, v: np.ndarray, mask: np.ndarray, tau2=0.0) -> WeightedFit:
    tau2 = np.asarray(tau2, dtype=float)
    if tau2.ndim == 1:
        tau2 = tau2[:, None]
    w = np.where(mask, 1.0 / (v + tau2), 0.0)
    sw = w.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = (w * y).sum(axis=-1) / sw
    resid = np.where(mask, y - mu[:, None], 0.0)
    return WeightedFit(w=w, sw=sw, mu=mu, resid=resid)


def study_count(mask: np.ndarray) -> np.ndarray:
    return mask.sum(axis=-1)


def typical_variance(v: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The 'typical' within-study variance of Higgins & Thompson (2002).

    s^2 = (k - 1) sum w / ((sum w)^2 - sum w^2), w = 1/v; I^2 and H^2 are computed
    from tau^2 with it, as metafor and RevMan Web do.
    """
    w = np.where(mask, 1.0 / v, 0.0)
    sw = w.sum(axis=-1)
    k = study_count(mask)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (k - 1) * sw / (sw**2 - (w**2).sum(axis=-1))


def solve_decreasing(f, target: np.ndarray, active: np.ndarray, hi0: float = 100.0,
                     iterations: int = 200) -> np.ndarray:
    """Root of a decreasing function ``f(t) = target`` on t >= 0, for a whole batch.

    Bisection after an expanding bracket: slower than Newton, but it cannot fail,
    and every element converges to machine precision. ``f`` maps a ``(batch,)``
    array of t to a ``(batch,)`` array. Elements not ``active`` return NaN. The
    caller handles f(0) < target (the root is then the boundary 0).
    """
    n = target.shape[0]
    lo = np.zeros(n)
    hi = np.full(n, hi0)
    for _ in range(200):
        grow = active & (f(hi) > target)
        if not grow.any():
            break
        lo = np.where(grow, hi, lo)
        hi = np.where(grow, hi * 4.0, hi)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        above = f(mid) > target
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
        if np.all((hi - lo) <= 4e-16 * np.maximum(hi, 1e-300)):
            break
    return np.where(active, 0.5 * (lo + hi), np.nan)
