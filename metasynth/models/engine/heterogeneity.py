"""Heterogeneity statistics: Cochran's Q, I^2, H^2 and Q-profile intervals.

I^2 and H^2 are computed from tau^2 and the typical within-study variance
(Higgins & Thompson 2002), as metafor does for every estimator and RevMan Web does
since May 2024. With the DerSimonian-Laird tau^2 this equals the classic
I^2 = (Q - df) / Q of RevMan 5. The confidence interval for tau^2 is the Q-profile
interval of Viechtbauer (2007, Stat Med 26:37-52); the bounds for I^2 and H^2 are
its bounds mapped through the same formulas (metafor's ``confint``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metasynth.distributions import chi2_quantile, chi2_sf
from metasynth.models.engine.weighted import (
    solve_decreasing,
    study_count,
    typical_variance,
    weighted_fit,
)


@dataclass(frozen=True)
class HeterogeneityBatch:
    q: np.ndarray
    q_df: np.ndarray
    q_p: np.ndarray
    i2: np.ndarray  # percent
    h2: np.ndarray
    tau2: np.ndarray
    tau2_ci_lower: np.ndarray
    tau2_ci_upper: np.ndarray
    i2_ci_lower: np.ndarray
    i2_ci_upper: np.ndarray
    h2_ci_lower: np.ndarray
    h2_ci_upper: np.ndarray


def cochran_q(y, v, mask) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cochran's Q with inverse-variance weights, its df (k - 1) and p-value."""
    q = weighted_fit(y, v, mask).q
    df = study_count(mask) - 1
    with np.errstate(invalid="ignore"):
        p = np.where(df >= 1, chi2_sf(q, np.maximum(df, 1)), np.nan)
    return q, df, p


def i2_from_tau2(tau2, s2):
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * tau2 / (tau2 + s2)


def h2_from_tau2(tau2, s2):
    with np.errstate(invalid="ignore", divide="ignore"):
        return (tau2 + s2) / s2


def q_profile_ci(y, v, mask, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Q-profile confidence interval for tau^2 (Viechtbauer 2007).

    Bounds solve Q_gen(tau^2) = chi^2_{k-1} quantiles (upper quantile for the
    lower bound); a bound is 0 where Q_gen(0) is already below its quantile.
    """
    k = study_count(mask)
    df = np.maximum(k - 1, 1)
    alpha = 1.0 - level
    crit_hi = chi2_quantile(1.0 - alpha / 2, df)
    crit_lo = chi2_quantile(alpha / 2, df)
    q0 = weighted_fit(y, v, mask).q
    ok = k >= 2

    def q(t):
        return weighted_fit(y, v, mask, t).q

    lower_active = ok & (q0 > crit_hi)
    upper_active = ok & (q0 > crit_lo)
    lower = solve_decreasing(q, crit_hi, lower_active)
    upper = solve_decreasing(q, crit_lo, upper_active)
    lower = np.where(lower_active, lower, np.where(ok, 0.0, np.nan))
    upper = np.where(upper_active, upper, np.where(ok, 0.0, np.nan))
    return lower, upper


_CI_MEMO: dict = {}
_CI_MEMO_SIZE = 512
_CI_MEMO_MAX_VALUES = 4096


def _q_profile_ci_once(y, v, mask, level):
    """``q_profile_ci``, remembered for small batches: the interval depends on the data
    and the level only, and a report refits the same data under many models (the
    sensitivity matrix: 11 models per data set), each of which would solve it again."""
    y, v, mask = np.asarray(y, float), np.asarray(v, float), np.asarray(mask, bool)
    if y.size > _CI_MEMO_MAX_VALUES:
        return q_profile_ci(y, v, mask, level)
    key = (y.shape, y.tobytes(), v.tobytes(), mask.tobytes(), float(level))
    hit = _CI_MEMO.get(key)
    if hit is None:
        if len(_CI_MEMO) >= _CI_MEMO_SIZE:
            _CI_MEMO.pop(next(iter(_CI_MEMO)))
        hit = _CI_MEMO[key] = q_profile_ci(y, v, mask, level)
    return hit[0].copy(), hit[1].copy()


def heterogeneity(y, v, mask, tau2, level: float = 0.95, with_ci: bool = True) -> HeterogeneityBatch:
    q, df, p = cochran_q(y, v, mask)
    s2 = typical_variance(v, mask)
    ok = df >= 1
    nan = np.full(q.shape, np.nan)
    if with_ci:
        lo, hi = _q_profile_ci_once(y, v, mask, level)
    else:
        lo, hi = nan, nan
    return HeterogeneityBatch(
        q=np.where(ok, q, nan),
        q_df=df,
        q_p=p,
        i2=np.where(ok, i2_from_tau2(tau2, s2), nan),
        h2=np.where(ok, h2_from_tau2(tau2, s2), nan),
        tau2=tau2,
        tau2_ci_lower=lo,
        tau2_ci_upper=hi,
        i2_ci_lower=np.where(ok, i2_from_tau2(lo, s2), nan),
        i2_ci_upper=np.where(ok, i2_from_tau2(hi, s2), nan),
        h2_ci_lower=np.where(ok, h2_from_tau2(lo, s2), nan),
        h2_ci_upper=np.where(ok, h2_from_tau2(hi, s2), nan),
    )
