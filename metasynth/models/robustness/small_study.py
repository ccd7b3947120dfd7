"""Small-study effects: regression tests, the rank correlation test and trim-and-fill.

Each refuses to run with fewer than 10 studies unless ``force=True``: with fewer, the
tests have too little power to tell chance from asymmetry (Cochrane Handbook 13.3.5.4;
Sterne et al. 2011, BMJ 343:d4002).

- Egger et al. (1997): metafor's ``regtest`` with the standard error as moderator, either
  in the random-effects model (``model="rma"``, metafor's default) or in a weighted
  regression with a multiplicative dispersion term (``model="lm"``, Egger's original).
- Harbord et al. (2006, odds ratios): Egger's weighted regression on Peto's score
  statistics, i.e. on the Peto log odds ratios with their standard errors.
- Peters-type test (Peters et al. 2006): the weighted regression on 1/N (metafor
  ``regtest(model="lm", predictor="ninv")``).
- Begg & Mazumdar (1994): Kendall's tau_b between the standardized effects and their
  variances; exact p-value without ties, otherwise the normal approximation with the
  tie-corrected variance of Kendall (1945) (metafor ``ranktest``).
- Trim-and-fill (Duval & Tweedie 2000), estimators L0 and R0, as metafor's ``trimfill``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from metasynth.distributions import norm_sf2
from metasynth.effects.binary import EffectSizes
from metasynth.models.engine.common_effect import peto_effects
from metasynth.models.engine.mixed_effects import fit_mixed
from metasynth.models.engine.random_effects import fit_random
from metasynth.models.engine.weighted import as_batch
from metasynth.plan.spec import AnalysisSpec

MIN_STUDIES = 10


class TooFewStudies(ValueError):
    """Raised below 10 studies unless forced; the message says why in words."""


def _check_k(k: int, test: str, force: bool) -> None:
    if k < MIN_STUDIES and not force:
        raise TooFewStudies(
            f"{test} needs at least {MIN_STUDIES} studies (here {k}): with fewer it cannot "
            "tell small-study effects from chance (Cochrane Handbook 13.3.5.4); use --force "
            "to run it anyway")


@dataclass(frozen=True)
class TestResult:
    test: str
    k: int
    statistic: float
    p: float
    df: float | None = None
    detail: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _included(effects: EffectSizes):
    inc = effects.included
    return effects.yi[inc], effects.vi[inc], inc


def egger(effects: EffectSizes, options: AnalysisSpec | None = None, model: str = "rma",
          predictor: str = "sei", force: bool = False) -> TestResult:
    """Regression test for funnel-plot asymmetry (metafor ``regtest``)."""
    options = options or AnalysisSpec(measure=effects.measure)
    y, v, inc = _included(effects)
    _check_k(len(y), "Egger's regression test", force)
    if predictor == "sei":
        x = np.sqrt(v)
    elif predictor == "ninv":
        _a, n1, _c, n2 = (arr[inc] for arr in effects.counts())
        x = 1.0 / (n1 + n2)
    else:
        raise ValueError(f"unknown predictor {predictor!r}")
    X = np.column_stack([np.ones_like(y), x])
    if model == "rma":
        test = "knha" if options.ci.startswith("hksj") else "z"
        fit = fit_mixed(y, v, X, method=options.tau2, test=test)
    else:  # weighted least squares with a dispersion term = fixed effect + Knapp-Hartung
        fit = fit_mixed(y, v, X, method="FE", test="knha")
    df = None if np.isnan(fit.df[0]) else float(fit.df[0])
    name = {"sei": "Egger", "ninv": "Peters-type"}[predictor]
    return TestResult(f"{name} ({model})", len(y), float(fit.stat[0, 1]), float(fit.pval[0, 1]),
                      df, f"predictor {predictor}; coefficient {fit.beta[0, 1]:.4f}")


def harbord(effects: EffectSizes, force: bool = False) -> TestResult:
    """Harbord's score test for odds ratios: Egger's regression on Peto statistics."""
    a, n1, c, n2 = effects.counts()
    yi, vi = peto_effects(a, n1, c, n2)
    ok = np.isfinite(yi) & np.isfinite(vi)
    _check_k(int(ok.sum()), "Harbord's test", force)
    X = np.column_stack([np.ones(ok.sum()), np.sqrt(vi[ok])])
    fit = fit_mixed(yi[ok], vi[ok], X, method="FE", test="knha")
    return TestResult("Harbord", int(ok.sum()), float(fit.stat[0, 1]), float(fit.pval[0, 1]),
                      float(fit.df[0]))


def _kendall_exact_cdf(n: int) -> np.ndarray:
    """Number of permutations of n with j inversions (Mahonian numbers), j = 0..n(n-1)/2."""
    counts = np.array([1.0])
    for m in range(2, n + 1):
        new = np.zeros(len(counts) + m - 1)
        for shift in range(m):
            new[shift:shift + len(counts)] += counts
        counts = new
    return counts


def begg(effects: EffectSizes, force: bool = False) -> TestResult:
    """Begg & Mazumdar's rank correlation test (metafor ``ranktest``)."""
    y, v, _ = _included(effects)
    k = len(y)
    _check_k(k, "Begg's rank correlation test", force)
    tau, p, detail = rank_correlation(y, v)
    return TestResult("Begg", k, tau, p, None, detail)


def rank_correlation(y: np.ndarray, v: np.ndarray) -> tuple[float, float, str]:
    """Kendall's tau_b between the standardized effects and the variances, and its p-value.

    As metafor's ``ranktest``, which calls ``cor.test(method = "kendall", exact = TRUE)``:
    the effects are standardized around the fixed-effect mean, (y - mu) / sqrt(v - 1/sum w)
    (Begg & Mazumdar 1994); tau_b = S / sqrt((n0 - n1)(n0 - n2)) with S = concordant -
    discordant pairs and n1, n2 the pairs tied in either variable (Kendall 1945). Without
    ties the p-value is exact at any k; with ties it is the normal approximation to S with
    Kendall's (1945) tie-corrected variance.
    """
    y, v = np.asarray(y, dtype=float), np.asarray(v, dtype=float)
    w = 1 / v
    mu = (w * y).sum() / w.sum()
    ystar = (y - mu) / np.sqrt(v - 1 / w.sum())
    k = len(y)
    iu = np.triu_indices(k, 1)
    s = int((np.sign(ystar[iu[0]] - ystar[iu[1]]) * np.sign(v[iu[0]] - v[iu[1]])).sum())
    n0 = k * (k - 1) / 2
    n1, n2 = (_tied_pairs(x) for x in (ystar, v))
    tau = s / math.sqrt((n0 - n1) * (n0 - n2))
    if n1 == 0 and n2 == 0:
        concordant = (s + k * (k - 1) // 2) // 2  # without ties, concordant + discordant = n0
        counts = _kendall_exact_cdf(k)
        total = counts.sum()
        lower = counts[: concordant + 1].sum() / total
        upper = counts[concordant:].sum() / total
        return float(tau), float(min(1.0, 2 * min(lower, upper))), "exact p-value"
    tx, ty = _tie_groups_as_r(ystar), _tie_groups_as_r(v)
    # R recovers S from tau_b with its own tie counts (equal to the exact ones unless two
    # groups agree to 15 digits)
    s = tau * math.sqrt((n0 - (tx * (tx - 1)).sum() / 2) * (n0 - (ty * (ty - 1)).sum() / 2))
    var = ((k * (k - 1) * (2 * k + 5) - _tie_sum(tx, 5) - _tie_sum(ty, 5)) / 18
           + (tx * (tx - 1)).sum() * (ty * (ty - 1)).sum() / (2 * k * (k - 1))
           + (tx * (tx - 1) * (tx - 2)).sum() * (ty * (ty - 1) * (ty - 2)).sum()
           / (9 * k * (k - 1) * (k - 2)))
    p = float(norm_sf2(s / math.sqrt(var)))
    return float(tau), p, "normal approximation with the tie-corrected variance (ties)"


def _tied_pairs(x: np.ndarray) -> float:
    """Pairs with exactly equal values (what tau_b's denominator removes)."""
    _, counts = np.unique(x, return_counts=True)
    return float((counts * (counts - 1)).sum() / 2)


def _tie_groups_as_r(x: np.ndarray) -> np.ndarray:
    """Sizes of the tie groups as R's ``cor.test`` counts them for the variance.

    R takes the exact duplicates, ``x[duplicated(x)]``, and counts them with ``table()``,
    which groups doubles by their 15-significant-digit text: two groups of ties whose
    values agree to 15 digits (say variances of the same table with the arms swapped,
    which differ in the last bit) are counted as one. Matching ``ranktest`` exactly
    means doing the same.
    """
    seen: set[float] = set()
    dup: dict[str, int] = {}
    for value in x.tolist():
        if value in seen:
            key = f"{value:.15g}"
            dup[key] = dup.get(key, 0) + 1
        seen.add(value)
    return np.array([n + 1 for n in dup.values()], dtype=float)


def _tie_sum(t: np.ndarray, c: float) -> float:
    return float((t * (t - 1) * (2 * t + c)).sum())


@dataclass(frozen=True)
class TrimFill:
    estimator: str
    side: str
    k0: int
    theta: float
    se: float
    tau2: float
    filled_yi: tuple[float, ...]
    filled_vi: tuple[float, ...]

    def to_dict(self) -> dict:
        return asdict(self)


def trim_and_fill(effects: EffectSizes, options: AnalysisSpec | None = None,
                  estimator: str = "L0", force: bool = False, maxiter: int = 100) -> TrimFill:
    """Duval & Tweedie's trim-and-fill, as metafor's ``trimfill`` (side from Egger's sign)."""
    options = options or AnalysisSpec(measure=effects.measure)
    y0, v0, _ = _included(effects)
    k = len(y0)
    _check_k(k, "Trim-and-fill", force)
    method = options.tau2
    test = "z" if options.ci == "wald" else "knha"
    side_fit = fit_mixed(y0, v0, np.column_stack([np.ones(k), np.sqrt(v0)]), method=method)
    side = "right" if side_fit.beta[0, 1] < 0 else "left"
    y = -y0 if side == "right" else y0.copy()
    order = np.argsort(y, kind="stable")
    y, v = y[order], v0[order]
    k0, k0_prev, it = 0, -1, 0
    while k0 != k0_prev:
        k0_prev = k0
        it += 1
        if it > maxiter:
            raise ValueError("trim-and-fill did not converge")
        fit = fit_random(*as_batch(y[: k - k0], v[: k - k0]), method, "wald")
        beta = float(fit.theta[0])
        centred = y - beta
        ranks = np.empty(k)
        ranks[np.argsort(np.abs(centred), kind="stable")] = np.arange(1, k + 1)
        signed = np.sign(centred) * ranks
        if estimator == "R0":
            neg = -signed[signed < 0]
            est = (k - (neg.max() if len(neg) else 0)) - 1
        elif estimator == "L0":
            sr = signed[signed > 0].sum()
            est = (4 * sr - k * (k + 1)) / (2 * k - 1)
        else:
            raise ValueError(f"unknown estimator {estimator!r} (L0 or R0)")
        k0 = max(0, round(est))
    if k0 > 0:
        centred = -(centred - beta) if side == "right" else centred - beta
        y_fill = np.concatenate([y0, -centred[k - k0:]])
        v_fill = np.concatenate([v0, v[k - k0:]])
    else:
        y_fill, v_fill = y0, v0
    final = fit_random(*as_batch(y_fill, v_fill), method, "hksj" if test == "knha" else "wald")
    return TrimFill(estimator, side, k0, float(final.theta[0]), float(final.se[0]),
                    float(final.tau2.tau2[0]), tuple(float(x) for x in y_fill[k:]),
                    tuple(float(x) for x in v_fill[k:]))
