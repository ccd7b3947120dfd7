"""Generic inverse variance and O - E and variance: effects as trials publish them.

A reported estimate enters on the analysis scale (log for RR, OR, ROM and HR) with its
SE taken, as the Cochrane Handbook (5.1, sections 7.7.7.2-7.7.7.3; version 6, sections
6.3.1-6.3.2) and metafor 4's ``conv.wald`` compute it:

- from a CI at level L: SE = (upper - lower) / (2 z), z = Φ⁻¹(1 - (1 - L)/2)
  (3.92 = 2 x 1.96 for a 95% CI), the limits on the log scale for ratios;
- from a two-sided p-value: SE = |estimate| / z, z = Φ⁻¹(1 - p/2) ("the Z value that
  corresponds to a P value of 0.008 is Z = 2.652", Handbook 5.1 section 7.7.7.2).

Where both are given the CI is used (it does not depend on how the p-value was rounded).
An SE given as such (RevMan's generic inverse-variance data, on the analysis scale) is
used as it is when there is no CI.
metafor 3.8.1 has no ``conv.wald`` (it arrived in 4.0): these are pinned to the formula
and the Handbook's printed numbers.

O - E and V (log-rank observed minus expected events and its variance; RevMan's "O-E and
Variance" data type) give log HR = (O - E) / V with variance 1 / V (Peto's method:
Yusuf et al. 1985, Prog Cardiovasc Dis 27:335; Deeks & Higgins, Statistical algorithms
in Review Manager 5, 2010), so the inverse-variance pooled log HR is Σ(O - E) / ΣV.
"""

from __future__ import annotations

import math

from metasynth.distributions import norm_quantile
from metasynth.effects.measures import DATA_TYPE, is_ratio
from metasynth.records.table import ReportedEffect, StudyRow


def se_from_ci(lower: float, upper: float, level: float = 0.95) -> float:
    """The SE of an estimate from its symmetric CI (limits on the analysis scale)."""
    return (upper - lower) / (2 * norm_quantile(1 - (1 - level) / 2))


def se_from_p(estimate: float, p: float) -> float:
    """The SE of an estimate (analysis scale) from its two-sided Wald p-value."""
    return abs(estimate) / norm_quantile(1 - p / 2)


def reported_effect(r: ReportedEffect | None, measure: str):
    """(yi, vi, "ci" | "p") of a reported estimate for ``measure``, or (None, reason)."""
    if r is None:
        data = {"binary": "counts", "continuous": "means and SDs",
                "time-to-event": "O - E and V"}[DATA_TYPE[measure]]
        return None, f"no {data} and no reported estimate"
    if r.measure is not None and r.measure != measure:
        return None, f"reports only a {r.measure}; cannot be pooled as {measure}"
    ratio = is_ratio(measure)
    values = [x for x in (r.value, r.ci_lower, r.ci_upper) if x is not None]
    if ratio and min(values) <= 0:
        return None, "reported ratio or CI not positive"
    f = math.log if ratio else float
    yi = f(r.value)
    if r.ci_lower is not None and r.ci_upper is not None:
        se = se_from_ci(f(r.ci_lower), f(r.ci_upper), r.level)
        if se <= 0:
            return None, "reported CI has no width"
        return (yi, se**2, "ci"), None
    if r.se is not None:  # given on the analysis scale (RevMan's generic inverse variance)
        if not r.se > 0:
            return None, "reported SE must be positive"
        return (yi, r.se**2, "se"), None
    if r.p is not None:
        if yi == 0 or r.p >= 1:
            return None, "an estimate of no effect with its p-value gives no standard error"
        return (yi, se_from_p(yi, r.p) ** 2, "p"), None
    return None, "a reported estimate needs its CI or its p-value"


def oe_effect(row: StudyRow):
    """(log HR, variance) from O - E and V (Peto), or (None, reason)."""
    if row.variance is None or row.variance <= 0:
        return None, "the log-rank variance V must be positive"
    return (row.o_minus_e / row.variance, 1 / row.variance), None
