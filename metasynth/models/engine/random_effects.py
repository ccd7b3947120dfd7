"""Random-effects model: pooled mean, its confidence interval and the prediction interval.

Confidence-interval methods (``CI_METHODS``):

- ``wald``: normal quantiles with the model-based standard error
  1 / sqrt(sum w), w = 1 / (v + tau^2) (metafor ``test = "z"``; RevMan 5).
- ``hksj``: Hartung & Knapp (2001) and Sidik & Jonkman (2002): the variance is scaled
  by q = sum w (y - mu)^2 / (k - 1) and t quantiles with k - 1 df are used
  (metafor ``test = "knha"``; Cochrane's recommendation since 2022).
- ``hksj-adhoc``: as ``hksj`` but the scale q is floored at 1 so the interval is
  never narrower than Wald's (Röver, Knapp & Friede 2015; Jackson et al. 2017);
  metafor ``test = "adhoc"`` (in 3.8.1, pinned in tests/fixtures issue12.json).

Prediction intervals (``PI_METHODS``):

- ``hts`` (default): Higgins, Thompson & Spiegelhalter (2009), as in the Cochrane
  Handbook (10.10.4.3): mu +/- t_{k-2} sqrt(tau^2 + SE^2), undefined for k < 3. SE is
  the standard error of the chosen CI method (the HKSJ SE after ``hksj``), as metafor's
  ``predict()`` uses after ``test = "knha"``: with the model-based SE the interval could
  come out narrower than the HKSJ CI it must contain (tau^2 = 0, HKSJ scale > 1).
- ``metafor``: what metafor's ``predict()`` gives: z quantiles after a Wald fit,
  t_{k-1} with the HKSJ SE after an HKSJ fit. R meta's default (method "V") differs
  again (t_{k-1}); name the method when comparing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metasynth.distributions import norm_quantile, norm_sf2, t_quantile, t_sf2
from metasynth.models.engine.tau2 import Tau2Estimate, estimate_tau2
from metasynth.models.engine.weighted import WeightedFit, study_count, weighted_fit

CI_METHODS = ("hksj", "hksj-adhoc", "wald")
PI_METHODS = ("hts", "metafor")


@dataclass(frozen=True)
class RandomBatch:
    tau2: Tau2Estimate
    k: np.ndarray
    theta: np.ndarray
    se: np.ndarray  # the SE behind the CI (HKSJ-scaled for hksj methods)
    se_wald: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    stat: np.ndarray  # z or t
    df: np.ndarray  # NaN for z
    p: np.ndarray
    pi_lower: np.ndarray
    pi_upper: np.ndarray
    weights: np.ndarray  # (batch, k) percent


@dataclass(frozen=True)
class Intervals:
    """The pooled mean with its confidence and prediction intervals, ``(batch,)`` each."""

    theta: np.ndarray
    se: np.ndarray  # the SE behind the CI (HKSJ-scaled for hksj methods)
    se_wald: np.ndarray
    df: np.ndarray  # NaN for z
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    pi_lower: np.ndarray
    pi_upper: np.ndarray


def random_intervals(fit: WeightedFit, k: np.ndarray, tau2: np.ndarray,
                     ci_method: str = "hksj", pi_method: str = "hts",
                     level: float = 0.95) -> Intervals:
    """The intervals of ``fit`` (the weighted fit at ``tau2``): what ``fit_random`` returns
    without the test and the weights, for callers that take several CI methods from one
    fit (the simulation fits every method to every replicate)."""
    if ci_method not in CI_METHODS:
        raise ValueError(f"unknown CI method {ci_method!r}; choose from {', '.join(CI_METHODS)}")
    if pi_method not in PI_METHODS:
        raise ValueError(f"unknown PI method {pi_method!r}; choose from {', '.join(PI_METHODS)}")
    theta = fit.mu
    with np.errstate(invalid="ignore", divide="ignore"):
        se_wald = 1.0 / np.sqrt(fit.sw)
    alpha = 1.0 - level
    z = norm_quantile(1.0 - alpha / 2)
    if ci_method == "wald" or np.all(k < 2):
        se = se_wald
        df = np.full(k.shape, np.nan)
        crit = np.full(k.shape, z)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = fit.q / (k - 1)
        if ci_method == "hksj-adhoc":
            scale = np.maximum(scale, 1.0)
        se = np.where(k >= 2, se_wald * np.sqrt(scale), se_wald)
        df = np.where(k >= 2, k - 1, np.nan).astype(float)
        crit = np.where(k >= 2, t_quantile(1.0 - alpha / 2, np.where(k >= 2, k - 1, 1)), z)
    if pi_method == "hts":
        pi_df = (k - 2).astype(float)
        pi_crit = t_quantile(1.0 - alpha / 2, pi_df)  # NaN for k < 3
    else:
        pi_crit = np.where(np.isnan(df), z, crit)
    pi_half = pi_crit * np.sqrt(tau2 + se**2)
    return Intervals(theta=theta, se=se, se_wald=se_wald, df=df, ci_lower=theta - crit * se,
                     ci_upper=theta + crit * se, pi_lower=theta - pi_half,
                     pi_upper=theta + pi_half)


def fit_random(y, v, mask, tau2_method: str = "REML", ci_method: str = "hksj",
               pi_method: str = "hts", level: float = 0.95,
               tau2: Tau2Estimate | None = None) -> RandomBatch:
    """Fit the random-effects model to every meta-analysis in the batch."""
    if ci_method not in CI_METHODS:
        raise ValueError(f"unknown CI method {ci_method!r}; choose from {', '.join(CI_METHODS)}")
    if pi_method not in PI_METHODS:
        raise ValueError(f"unknown PI method {pi_method!r}; choose from {', '.join(PI_METHODS)}")
    est = tau2 if tau2 is not None else estimate_tau2(y, v, mask, tau2_method)
    k = study_count(mask)
    fit = weighted_fit(y, v, mask, est.tau2)
    iv = random_intervals(fit, k, est.tau2, ci_method, pi_method, level)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = iv.theta / iv.se
    p = np.where(np.isnan(iv.df), norm_sf2(stat), t_sf2(stat, np.nan_to_num(iv.df, nan=1.0)))
    with np.errstate(invalid="ignore", divide="ignore"):
        weights = 100.0 * fit.w / fit.sw[:, None]
    return RandomBatch(
        tau2=est, k=k, theta=iv.theta, se=iv.se, se_wald=iv.se_wald, ci_lower=iv.ci_lower,
        ci_upper=iv.ci_upper, stat=stat, df=iv.df, p=p, pi_lower=iv.pi_lower,
        pi_upper=iv.pi_upper, weights=weights,
    )
