"""Common-effect (fixed-effect) models: inverse variance, Mantel-Haenszel and Peto.

All work on ``(batch, k)`` arrays with a ``mask``. Mantel-Haenszel and Peto take the
2x2 counts (a = treatment events, n1 = treatment total, c = control events,
n2 = control total), not the per-study effects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metasynth.distributions import norm_quantile, norm_sf2
from metasynth.models.engine.weighted import weighted_fit

COMMON_METHODS = ("MH", "IV", "Peto")


@dataclass(frozen=True)
class CommonBatch:
    method: str
    theta: np.ndarray
    se: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    z: np.ndarray
    p: np.ndarray
    weights: np.ndarray  # (batch, k) percent


def _finish(method, theta, se, weights, level) -> CommonBatch:
    crit = norm_quantile(1.0 - (1.0 - level) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = theta / se
    return CommonBatch(method, theta, se, theta - crit * se, theta + crit * se, z,
                       norm_sf2(z), weights)


def _percent(w):
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * w / w.sum(axis=-1, keepdims=True)


def inverse_variance(y, v, mask, level: float = 0.95) -> CommonBatch:
    """Inverse-variance weighted mean: theta = sum(y/v) / sum(1/v), SE = 1/sqrt(sum 1/v)."""
    fit = weighted_fit(y, v, mask)
    with np.errstate(divide="ignore"):
        se = 1.0 / np.sqrt(fit.sw)
    return _finish("IV", fit.mu, se, _percent(fit.w), level)


def mantel_haenszel(a, n1, c, n2, mask, measure: str, level: float = 0.95) -> CommonBatch:
    """Mantel-Haenszel pooled RR, OR or RD from counts, as metafor's ``rma.mh``.

    The caller decides on any continuity correction (metafor adds none by default;
    RevMan 5 and R meta add 0.5 to studies with a zero cell). Returns NaN where the
    estimate does not exist (no events in one arm across all studies for RR/OR).
    """
    m = mask
    a, c = np.where(m, a, 0.0), np.where(m, c, 0.0)
    n1, n2 = np.where(m, n1, 1.0), np.where(m, n2, 1.0)
    b, d = n1 - a, n2 - c
    n = n1 + n2
    if measure == "RR":
        r_i = np.where(m, a * n2 / n, 0.0)
        s_i = np.where(m, c * n1 / n, 0.0)
        r, s = r_i.sum(-1), s_i.sum(-1)
        ok = (a.sum(-1) > 0) & (c.sum(-1) > 0)
        var_num = np.where(m, n1 / n * n2 / n * (a + c) - a / n * c, 0.0).sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            theta = np.where(ok, np.log(r / s), np.nan)
            se = np.where(ok, np.sqrt(var_num / (r * s)), np.nan)
        w = s_i
    elif measure == "OR":
        p_i, q_i = (a + d) / n, (b + c) / n
        r_i = np.where(m, a * d / n, 0.0)
        s_i = np.where(m, b * c / n, 0.0)
        r, s = r_i.sum(-1), s_i.sum(-1)
        ok = (r > 0) & (s > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            theta = np.where(ok, np.log(r / s), np.nan)
            var = 0.5 * ((p_i * r_i).sum(-1) / r**2
                         + (p_i * s_i + q_i * r_i).sum(-1) / (r * s)
                         + (q_i * s_i).sum(-1) / s**2)
            se = np.where(ok, np.sqrt(var), np.nan)
        w = s_i
    elif measure == "RD":
        w = np.where(m, n1 * n2 / n, 0.0)
        sw = w.sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            theta = np.where(m, a * n2 / n - c * n1 / n, 0.0).sum(-1) / sw
            t1 = np.where(m, c * (n1 / n) ** 2 - a * (n2 / n) ** 2
                          + (n1 / n) * (n2 / n) * (n2 - n1) / 2, 0.0).sum(-1)
            t2 = np.where(m, a * (n2 - c) / n + c * (n1 - a) / n, 0.0).sum(-1) / 2
            se = np.sqrt((theta * t1 + t2) / sw**2)
    else:
        raise ValueError(f"Mantel-Haenszel is defined for RR, OR and RD, not {measure!r}")
    return _finish("MH", theta, se, _percent(w), level)


def peto(a, n1, c, n2, mask, level: float = 0.95) -> CommonBatch:
    """Peto's one-step odds ratio: sum(O - E) / sum(V), SE = 1/sqrt(sum V).

    Studies with V = 0 (no events or all events in both arms) carry no weight.
    """
    m = mask
    a, c = np.where(m, a, 0.0), np.where(m, c, 0.0)
    n1, n2 = np.where(m, n1, 1.0), np.where(m, n2, 1.0)
    n = n1 + n2
    events = a + c
    e = events * n1 / n
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(m, n1 * n2 * events * (n - events) / (n**2 * (n - 1)), 0.0)
        sv = var.sum(-1)
        theta = np.where(m, a - e, 0.0).sum(-1) / sv
        se = 1.0 / np.sqrt(sv)
    return _finish("Peto", theta, se, _percent(var), level)


def peto_effects(a, n1, c, n2) -> tuple[np.ndarray, np.ndarray]:
    """Per-study Peto log odds ratio (O - E)/V and its variance 1/V (NaN where V = 0)."""
    a, n1, c, n2 = (np.asarray(x, dtype=float) for x in (a, n1, c, n2))
    n = n1 + n2
    events = a + c
    with np.errstate(invalid="ignore", divide="ignore"):
        var = n1 * n2 * events * (n - events) / (n**2 * (n - 1))
        yi = np.where(var > 0, (a - events * n1 / n) / var, np.nan)
        vi = np.where(var > 0, 1.0 / var, np.nan)
    return yi, vi
