"""Fit every method to a batch of simulated replicates and tally what each got right.

The fits are those of the analysis, on ``(batch, k)`` arrays with a mask, by the kernels
of ``models.engine``: the zero-cell rule and the exclusion of double-zero trials of
``effects.binary`` (as ``effects.binary.effect_sizes`` applies them), Mantel-Haenszel
(with the continuity correction when the spec puts it inside MH, as ``models.pool``
does) and inverse-variance common effects, and every tau² estimator (DerSimonian-Laird
from the Q around the MH estimate under RevMan 5's rule, as ``models.pool``) with the Wald,
HKSJ and HKSJ ad hoc intervals and the spec's prediction interval.

A batch is reduced at once to sums (``Tally``): counts of covered, rejected, failed and
fallen-back fits, sums of errors and their powers, a histogram of CI widths and sums of
the prediction intervals' coverage. Sums add across batches, so any split of the
replicates into batches reduces to the same figures; added in the same order they are
the same to the bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from metasynth.effects.binary import ZeroCellRule, escalc
from metasynth.models.engine.common_effect import inverse_variance, mantel_haenszel
from metasynth.models.engine.random_effects import CI_METHODS, random_intervals
from metasynth.models.engine.tau2 import TAU2_METHODS, dersimonian_laird, estimate_tau2
from metasynth.models.engine.weighted import as_batch, study_count, weighted_fit
from metasynth.models.simulate.scenarios import Counts

#: The random-effects CI methods in the order of the output.
RE_CIS = ("wald", "hksj", "hksj-adhoc")
assert set(RE_CIS) == set(CI_METHODS)

#: (id, tau² estimator, CI method) of every method fitted; the common effects first.
METHODS: tuple[tuple[str, str | None, str | None], ...] = (
    ("MH", None, None), ("IV", None, None),
    *((f"{t}-{ci}", t, ci) for t in TAU2_METHODS for ci in RE_CIS))

#: CI widths (log scale) are binned on a log grid from WIDTH_LO to WIDTH_HI; the median
#: is read from the histogram (bins 0.35% apart), which adds across batches exactly.
WIDTH_LO, WIDTH_HI, WIDTH_BINS = 1e-3, 1e3, 4000
_LOG_LO, _LOG_STEP = np.log(WIDTH_LO), (np.log(WIDTH_HI) - np.log(WIDTH_LO)) / WIDTH_BINS


@dataclass(frozen=True)
class FitSettings:
    """What the fits take from the spec (small and picklable, for workers)."""

    level: float = 0.95
    pi: str = "hts"
    rule: ZeroCellRule = field(default_factory=ZeroCellRule)
    mh_correction: bool = False
    #: RevMan 5's rule (``het_q = "common"`` with a Mantel-Haenszel common effect): Q and
    #: the DerSimonian-Laird tau² around the MH estimate, as ``models.pool`` takes them.
    dl_around_mh: bool = False


@dataclass(frozen=True)
class Fits:
    """Per method and replicate, (n_methods, m): estimates, intervals, fallbacks."""

    theta: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    pi_lower: np.ndarray  # NaN for the common effects and k < 3
    pi_upper: np.ndarray
    fallback: np.ndarray  # bool: tau² Fisher scoring did not converge (solved otherwise)
    k: np.ndarray  # (m,) trials that entered


def _effects(counts: Counts, rule: ZeroCellRule):
    """yi, vi, mask and the corrected cells, as ``effects.binary.effect_sizes`` does it per
    replicate (``if0all`` decides per replicate, not across the batch)."""
    a, n1, c, n2 = counts.a, counts.n1, counts.c, counts.n2
    if rule.to == "if0all":
        zero = ((a == 0) | (a == n1) | (c == 0) | (c == n2)).any(axis=-1, keepdims=True)
        y1, v1, c1, dz = escalc("RR", a, n1, c, n2, ZeroCellRule(rule.add, "all", rule.drop00))
        y0, v0, c0, _ = escalc("RR", a, n1, c, n2, ZeroCellRule(rule.add, "none", rule.drop00))
        yi, vi, corrected = (np.where(zero, x1, x0) for x1, x0 in ((y1, y0), (v1, v0), (c1, c0)))
    else:
        yi, vi, corrected, dz = escalc("RR", a, n1, c, n2, rule)
    mask = np.isfinite(yi) & np.isfinite(vi)
    if rule.drops_double_zero("RR"):
        mask &= ~dz
    y, v, mask = as_batch(yi, vi, mask)
    return y, v, mask, corrected & mask


def fit_all(counts: Counts, settings: FitSettings) -> Fits:
    y, v, mask, corrected = _effects(counts, settings.rule)
    m = y.shape[0]
    n = len(METHODS)
    out = {name: np.full((n, m), np.nan) for name in ("theta", "lower", "upper", "pi_lower",
                                                      "pi_upper")}
    fallback = np.zeros((n, m), dtype=bool)
    a, n1, c, n2 = counts.a, counts.n1, counts.c, counts.n2
    if settings.mh_correction:
        add = np.where(corrected, settings.rule.add, 0.0)
        a, c, n1, n2 = a + add, c + add, n1 + 2 * add, n2 + 2 * add
    with np.errstate(invalid="ignore", divide="ignore"):
        common = (mantel_haenszel(a, n1, c, n2, mask, "RR", settings.level),
                  inverse_variance(y, v, mask, settings.level))
    for i, fit in enumerate(common):
        out["theta"][i], out["lower"][i], out["upper"][i] = fit.theta, fit.ci_lower, fit.ci_upper
    i = len(common)
    k = study_count(mask)
    q_mh = None
    if settings.dl_around_mh:
        with np.errstate(invalid="ignore"):
            q_mh = np.where(mask, (y - common[0].theta[:, None]) ** 2 / v, 0.0).sum(axis=-1)
    for tau2_method in TAU2_METHODS:
        with np.errstate(invalid="ignore", divide="ignore"):
            est = (dersimonian_laird(y, v, mask, q=q_mh) if tau2_method == "DL" and q_mh is not None
                   else estimate_tau2(y, v, mask, tau2_method))
            fit = weighted_fit(y, v, mask, est.tau2)  # one fit for the three intervals
        for ci in RE_CIS:
            with np.errstate(invalid="ignore", divide="ignore"):
                iv = random_intervals(fit, k, est.tau2, ci, settings.pi, settings.level)
            out["theta"][i], out["lower"][i], out["upper"][i] = iv.theta, iv.ci_lower, iv.ci_upper
            out["pi_lower"][i], out["pi_upper"][i] = iv.pi_lower, iv.pi_upper
            fallback[i] = est.fallback
            i += 1
    return Fits(**out, fallback=fallback, k=k)


@dataclass(frozen=True)
class Tally:
    """Sums over replicates, per method ``(n_methods,)`` (``width_hist``: per bin too)."""

    replicates: np.ndarray  # int
    ok: np.ndarray  # int: estimate and CI finite
    fallback: np.ndarray  # int
    covered: np.ndarray  # int: the CI holds the true pooled log RR
    rejected: np.ndarray  # int: the CI excludes log RR = 0
    err1: np.ndarray  # sum of (estimate - truth)
    err2: np.ndarray
    err4: np.ndarray
    pi_n: np.ndarray  # int: replicates with a prediction interval
    pi_cover1: np.ndarray  # sum of P(new trial's true effect in the PI)
    pi_cover2: np.ndarray
    width_hist: np.ndarray  # int (n_methods, WIDTH_BINS + 2): under, bins, over
    capped: int  # trials whose experimental risk was capped at 1

    def __add__(self, other: Tally) -> Tally:
        return Tally(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                        for f in fields(self)})


def tally(fits: Fits, mu: float, tau: float, capped: int) -> Tally:
    """The sums of one scenario's replicates. The coverage of a new trial's true effect
    theta_new ~ N(mu, tau²) by a prediction interval [L, U] is taken as its probability
    Phi((U - mu)/tau) - Phi((L - mu)/tau) given the interval (exact, and with less Monte
    Carlo error than drawing theta_new); at tau = 0, whether [L, U] holds mu."""
    from scipy.special import ndtr

    theta, lo, hi = fits.theta, fits.lower, fits.upper
    n_methods, m = theta.shape
    ok = np.isfinite(theta) & np.isfinite(lo) & np.isfinite(hi)
    e = np.where(ok, theta - mu, 0.0)
    e2 = e * e
    lo_ok, hi_ok = np.where(ok, lo, np.inf), np.where(ok, hi, -np.inf)
    covered = (lo_ok <= mu) & (mu <= hi_ok)
    rejected = ok & ((hi_ok < 0.0) | (lo_ok > 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        logw = np.log(np.where(ok, hi - lo, np.nan))
    b = np.floor((logw - _LOG_LO) / _LOG_STEP)
    b = np.where(np.isnan(logw), -2, np.clip(b, -1, WIDTH_BINS)).astype(np.int64) + 1
    nb = WIDTH_BINS + 2
    flat = (b + nb * np.arange(n_methods)[:, None])[b >= 0]
    hist = np.bincount(flat, minlength=n_methods * nb).reshape(n_methods, nb)
    pi_ok = ok & np.isfinite(fits.pi_lower) & np.isfinite(fits.pi_upper)
    pl, pu = np.where(pi_ok, fits.pi_lower, 0.0), np.where(pi_ok, fits.pi_upper, 0.0)
    if tau > 0:
        pc = ndtr((pu - mu) / tau) - ndtr((pl - mu) / tau)
    else:
        pc = ((pl <= mu) & (mu <= pu)).astype(float)
    pc = np.where(pi_ok, pc, 0.0)
    return Tally(
        replicates=np.full(n_methods, m, dtype=np.int64), ok=ok.sum(1),
        fallback=(fits.fallback & ok).sum(1), covered=covered.sum(1), rejected=rejected.sum(1),
        err1=e.sum(1), err2=e2.sum(1), err4=(e2 * e2).sum(1), pi_n=pi_ok.sum(1),
        pi_cover1=pc.sum(1), pi_cover2=(pc * pc).sum(1), width_hist=hist, capped=capped)
