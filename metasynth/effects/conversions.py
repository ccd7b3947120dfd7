"""Conversions of what trials publish into the mean and SD a meta-analysis pools.

Trials of critical illness report skewed outcomes (ventilator-free days, length of stay)
as a median with its interquartile range (IQR) or range, and precision as a standard
error or a confidence interval. The Cochrane Handbook (version 6.5, section 6.5.2)
gives the conversions; each function here implements one, cites its paper, and returns
a frozen :class:`Conversion` that records the method and every input, so the report can
list what was converted and how.

Methods (a = minimum, q1, m = median, q3, b = maximum, n = sample size):

- mean from a median: Luo et al. 2018 (Stat Methods Med Res 27:1785-1805), the default,
  and Wan et al. 2014 (BMC Med Res Methodol 14:135) as the alternative;
- SD from the IQR or the range: Wan et al. 2014, with their Tables 1 and 2 for small n;
- SD from the five-number summary: Shi et al. 2020 (Res Synth Methods 11:641-654), the
  default, or Wan et al. 2014;
- SD from the SE or the CI of a group mean, and two arms combined into one: Cochrane
  Handbook 6.5.2.2 and Table 6.5.a;
- mean and SD by quantile estimation (QE): McGrath et al. 2020 (Stat Methods Med Res
  29:2520-2537), as estmeansd's ``qe.mean.sd``, the alternative for skewed data;
- a skewness check of a median and IQR in the spirit of Shi et al. 2023 (Stat Methods
  Med Res 32:1338-1360), which warns where a mean and SD derived from them would mislead.

R meta's ``metacont(method.mean = "Luo", method.sd = "Shi")`` uses the same estimators
and the same rounded tables of Wan et al. (``gs("Wan2014.Table1")``, ``"Wan2014.Table2"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

from metasynth.distributions import norm_quantile, t_quantile

MeanMethod = Literal["luo", "wan", "qe"]
SdMethod = Literal["shi", "wan"]

REFERENCES = {
    "luo": "Luo D, Wan X, Liu J, Tong T. Optimally estimating the sample mean from the "
           "sample size, median, mid-range, and/or mid-quartile range. Stat Methods Med Res "
           "2018;27:1785-1805",
    "wan": "Wan X, Wang W, Liu J, Tong T. Estimating the sample mean and standard deviation "
           "from the sample size, median, range and/or interquartile range. BMC Med Res "
           "Methodol 2014;14:135",
    "shi": "Shi J, Luo D, Weng H, et al. Optimally estimating the sample standard deviation "
           "from the five-number summary. Res Synth Methods 2020;11:641-654",
    "qe": "McGrath S, Zhao X, Steele R, et al. Estimating the sample mean and standard "
          "deviation from commonly reported quantiles in meta-analysis. Stat Methods Med Res "
          "2020;29:2520-2537",
    "shi2023": "Shi J, Luo D, Wan X, et al. Detecting the skewness of data from the "
               "five-number summary and its application in meta-analysis. Stat Methods Med "
               "Res 2023;32:1338-1360",
    "handbook": "Higgins JPT, Li T, Deeks JJ (eds). Chapter 6: Choosing effect measures and "
                "computing estimates of effect. Cochrane Handbook for Systematic Reviews of "
                "Interventions version 6.5, section 6.5.2",
}

# Wan et al. 2014, Table 1: xi(n), the expected range of n standard normal values, n <= 50
# (the paper recommends the table up to 50 and formula (7) beyond).
WAN_TABLE1 = (
    0.000, 1.128, 1.693, 2.059, 2.326, 2.534, 2.704, 2.847, 2.970, 3.078,
    3.173, 3.259, 3.336, 3.407, 3.472, 3.532, 3.588, 3.640, 3.689, 3.735,
    3.778, 3.819, 3.858, 3.895, 3.931, 3.964, 3.997, 4.027, 4.057, 4.086,
    4.113, 4.139, 4.165, 4.189, 4.213, 4.236, 4.259, 4.280, 4.301, 4.322,
    4.341, 4.361, 4.379, 4.398, 4.415, 4.433, 4.450, 4.466, 4.482, 4.498)
# Wan et al. 2014, Table 2: eta(n), the expected IQR of n = 4Q + 1 standard normal values,
# Q = 1..50 (n <= 201); formula (16) beyond. For n between two table sizes the next
# larger table size is used (Q = ceil((n - 1) / 4)), as R meta does.
WAN_TABLE2 = (
    0.990, 1.144, 1.206, 1.239, 1.260, 1.274, 1.284, 1.292, 1.298, 1.303,
    1.307, 1.311, 1.313, 1.316, 1.318, 1.320, 1.322, 1.323, 1.324, 1.326,
    1.327, 1.328, 1.329, 1.330, 1.330, 1.331, 1.332, 1.332, 1.333, 1.333,
    1.334, 1.334, 1.335, 1.335, 1.336, 1.336, 1.336, 1.337, 1.337, 1.337,
    1.338, 1.338, 1.338, 1.338, 1.339, 1.339, 1.339, 1.339, 1.339, 1.340)


class ConversionError(ValueError):
    """The published summary cannot be converted (missing or inconsistent values)."""


@dataclass(frozen=True)
class Conversion:
    """One converted summary: what came out, from what, by which published method.

    ``inputs`` holds the published numbers as given; ``method`` names the estimator of
    each output (for example ``{"mean": "luo", "sd": "wan"}``); ``references`` the papers;
    ``warnings`` what a reader should know (a skewness check that failed, a table value
    used for a sample size between two table sizes)."""

    kind: str
    inputs: dict[str, float]
    method: dict[str, str]
    n: int
    mean: float | None = None
    sd: float | None = None
    references: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    detail: dict[str, float | str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "inputs": dict(self.inputs), "method": dict(self.method),
                "n": self.n, "mean": self.mean, "sd": self.sd,
                "references": list(self.references), "warnings": list(self.warnings),
                "detail": dict(self.detail)}

    def describe(self) -> str:
        """One line for a methods appendix, e.g. "mean by Luo 2018; SD by Wan 2014 from
        median 17 [IQR 0 to 25], n = 21"."""
        names = {"luo": "Luo 2018", "wan": "Wan 2014", "shi": "Shi 2020",
                 "qe": "quantile estimation (McGrath 2020)",
                 "se": "SE x sqrt(n) (Handbook 6.5.2.2)", "t": "t quantile (Handbook 6.5.2.2)",
                 "normal": "normal quantile (Handbook 6.5.2.2)",
                 "pooled": "Handbook Table 6.5.a"}
        parts = [f"{'SD' if k == 'sd' else k} by {names.get(v, v)}" for k, v in self.method.items()]
        shown = ", ".join(f"{k} {v:g}" for k, v in self.inputs.items())
        return f"{'; '.join(parts)} from {shown}, n = {self.n}"


@dataclass(frozen=True)
class SkewnessCheck:
    """Whether a median with its IQR is compatible with normal data (Shi et al. 2023).

    ``statistic`` is Bowley's quartile skewness (q1 + q3 - 2 m) / (q3 - q1); ``critical``
    the value |statistic| exceeds with probability ``alpha`` for normal data of size n."""

    statistic: float
    critical: float
    alpha: float
    n: int
    skewed: bool
    inputs: dict[str, float]
    reference: str = REFERENCES["shi2023"]

    def to_dict(self) -> dict:
        return {"statistic": self.statistic, "critical": self.critical, "alpha": self.alpha,
                "n": self.n, "skewed": self.skewed, "inputs": dict(self.inputs),
                "reference": self.reference}

    @property
    def message(self) -> str:
        verdict = ("the data look skewed: a mean and SD derived from this median would "
                   "mislead" if self.skewed else "compatible with normal data")
        return (f"Bowley skewness {self.statistic:.3f} (|B| > {self.critical:.3f} at "
                f"alpha {self.alpha:g}, n = {self.n}): {verdict}")


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConversionError(f"sample size must be a whole number >= 1, got {n!r}")
    return n


def _ordered(**values: float) -> None:
    """The quantiles must not decrease in the order given (min <= q1 <= median <= ...)."""
    items = list(values.items())
    for (na, a), (nb, b) in pairwise(items):
        if a > b:
            raise ConversionError(f"{na} ({a:g}) is above {nb} ({b:g})")


def wan_xi(n: int) -> float:
    """xi(n), the expected range of n standard normal values (Wan et al. 2014): Table 1
    for n <= 50, formula (7) 2 Phi^-1((n - 0.375) / (n + 0.25)) beyond."""
    n = _check_n(n)
    if n <= 50:
        return WAN_TABLE1[n - 1]
    return 2.0 * norm_quantile((n - 0.375) / (n + 0.25))


def wan_eta(n: int) -> float:
    """eta(n), the expected IQR of n standard normal values (Wan et al. 2014): Table 2
    for n <= 201 (at Q = ceil((n - 1) / 4)), formula (16) 2 Phi^-1((0.75 n - 0.125) /
    (n + 0.25)) beyond."""
    n = _check_n(n)
    if n < 5:
        raise ConversionError(f"an IQR needs n >= 5 for Wan et al.'s Table 2, got {n}")
    if n <= 201:
        return WAN_TABLE2[math.ceil((n - 1) / 4) - 1]
    return 2.0 * norm_quantile((0.75 * n - 0.125) / (n + 0.25))


def mean_from_iqr(q1: float, median: float, q3: float, n: int,
                  method: MeanMethod = "luo") -> float:
    """Mean from the median and quartiles (scenario S2).

    Luo et al. 2018 (scenario S2): w = 0.7 + 0.39 / n, mean = w (q1 + q3) / 2 + (1 - w) m.
    Wan et al. 2014, eq. (14): (q1 + m + q3) / 3."""
    n = _check_n(n)
    _ordered(q1=q1, median=median, q3=q3)
    if method == "luo":
        w = 0.7 + 0.39 / n
        return w * (q1 + q3) / 2.0 + (1.0 - w) * median
    if method == "wan":
        return (q1 + median + q3) / 3.0
    raise ConversionError(f"unknown mean method {method!r} (luo or wan)")


def mean_from_range(minimum: float, median: float, maximum: float, n: int,
                    method: MeanMethod = "luo") -> float:
    """Mean from the median and range (scenario S1).

    Luo et al. 2018 (scenario S1): w = 4 / (4 + n^0.75), mean = w (a + b) / 2 + (1 - w) m.
    Wan et al. 2014, eq. (2) (Hozo's estimator with n): (a + 2m + b) / 4 + (a - 2m + b) / (4n)."""
    n = _check_n(n)
    _ordered(minimum=minimum, median=median, maximum=maximum)
    if method == "luo":
        w = 4.0 / (4.0 + n ** 0.75)
        return w * (minimum + maximum) / 2.0 + (1.0 - w) * median
    if method == "wan":
        return (minimum + 2 * median + maximum) / 4.0 + (minimum - 2 * median + maximum) / (4.0 * n)
    raise ConversionError(f"unknown mean method {method!r} (luo or wan)")


def mean_from_five(minimum: float, q1: float, median: float, q3: float, maximum: float,
                   n: int, method: MeanMethod = "luo") -> float:
    """Mean from the five-number summary (scenario S3).

    Luo et al. 2018 (scenario S3): w1 = 2.2 / (2.2 + n^0.75), w2 = 0.7 - 0.72 / n^0.55,
    mean = w1 (a + b) / 2 + w2 (q1 + q3) / 2 + (1 - w1 - w2) m.
    Wan et al. 2014, eq. (10): (a + 2 q1 + 2 m + 2 q3 + b) / 8."""
    n = _check_n(n)
    _ordered(minimum=minimum, q1=q1, median=median, q3=q3, maximum=maximum)
    if method == "luo":
        w1 = 2.2 / (2.2 + n ** 0.75)
        w2 = 0.7 - 0.72 / n ** 0.55
        return w1 * (minimum + maximum) / 2.0 + w2 * (q1 + q3) / 2.0 + (1.0 - w1 - w2) * median
    if method == "wan":
        return (minimum + 2 * q1 + 2 * median + 2 * q3 + maximum) / 8.0
    raise ConversionError(f"unknown mean method {method!r} (luo or wan)")


def sd_from_iqr(q1: float, q3: float, n: int) -> float:
    """SD from the IQR (Wan et al. 2014, eq. (16)): (q3 - q1) / eta(n)."""
    _ordered(q1=q1, q3=q3)
    return (q3 - q1) / wan_eta(n)


def sd_from_range(minimum: float, maximum: float, n: int) -> float:
    """SD from the range (Wan et al. 2014, eqs. (7) and (9)): (b - a) / xi(n)."""
    n = _check_n(n)
    if n < 2:
        raise ConversionError("a range needs n >= 2")
    _ordered(minimum=minimum, maximum=maximum)
    return (maximum - minimum) / wan_xi(n)


def sd_from_five(minimum: float, q1: float, q3: float, maximum: float, n: int,
                 method: SdMethod = "shi") -> float:
    """SD from the five-number summary (scenario S3).

    Shi et al. 2020, shortcut formula (their approximate optimal weight
    w = 1 / (1 + 0.07 n^0.6)): (b - a) / theta1(n) + (q3 - q1) / theta2(n) with
    theta1 = (2 + 0.14 n^0.6) Phi^-1((n - 0.375) / (n + 0.25)) and
    theta2 = (2 + 2 / (0.07 n^0.6)) Phi^-1((0.75 n - 0.125) / (n + 0.25)).
    Wan et al. 2014, eqs. (12) and (13): the average of the range and IQR estimators."""
    n = _check_n(n)
    _ordered(minimum=minimum, q1=q1, q3=q3, maximum=maximum)
    if method == "shi":
        theta1 = (2.0 + 0.14 * n ** 0.6) * norm_quantile((n - 0.375) / (n + 0.25))
        theta2 = (2.0 + 2.0 / (0.07 * n ** 0.6)) * norm_quantile((0.75 * n - 0.125) / (n + 0.25))
        return (maximum - minimum) / theta1 + (q3 - q1) / theta2
    if method == "wan":
        return 0.5 * ((maximum - minimum) / wan_xi(n) + (q3 - q1) / wan_eta(n))
    raise ConversionError(f"unknown SD method {method!r} (shi or wan)")


def median_to_mean_sd(n: int, median: float, q1: float | None = None, q3: float | None = None,
                      minimum: float | None = None, maximum: float | None = None,
                      mean_method: MeanMethod = "luo", sd_method: SdMethod = "shi",
                      alpha: float = 0.05) -> Conversion:
    """Mean and SD from a median with its IQR, its range, or both (Cochrane Handbook
    6.5.2.5): Luo et al. 2018 (or Wan et al. 2014) for the mean; Wan et al. 2014 for the
    SD from one spread, Shi et al. 2020 (or Wan) from both. With an IQR the skewness
    check of Shi et al. 2023 runs and its verdict is kept in ``warnings``."""
    n = _check_n(n)
    has_iqr = q1 is not None and q3 is not None
    has_range = minimum is not None and maximum is not None
    if (q1 is None) != (q3 is None) or (minimum is None) != (maximum is None):
        raise ConversionError("give both quartiles (q1, q3) and/or both extremes (min, max)")
    if mean_method == "qe":
        return qe_mean_sd(n, median, q1=q1, q3=q3, minimum=minimum, maximum=maximum)
    refs = [REFERENCES[mean_method]]
    warnings: list[str] = []
    if has_iqr and has_range:
        inputs = {"min": minimum, "q1": q1, "median": median, "q3": q3, "max": maximum}
        mean = mean_from_five(minimum, q1, median, q3, maximum, n, mean_method)
        sd = sd_from_five(minimum, q1, q3, maximum, n, sd_method)
        method = {"mean": mean_method, "sd": sd_method}
        kind = "five-number summary"
    elif has_iqr:
        inputs = {"q1": q1, "median": median, "q3": q3}
        mean = mean_from_iqr(q1, median, q3, n, mean_method)
        sd = sd_from_iqr(q1, q3, n)
        method = {"mean": mean_method, "sd": "wan"}
        kind = "median and IQR"
    elif has_range:
        inputs = {"min": minimum, "median": median, "max": maximum}
        mean = mean_from_range(minimum, median, maximum, n, mean_method)
        sd = sd_from_range(minimum, maximum, n)
        method = {"mean": mean_method, "sd": "wan"}
        kind = "median and range"
    else:
        raise ConversionError("a median alone cannot give a mean and SD: give its IQR or range")
    if REFERENCES[method["sd"]] not in refs:
        refs.append(REFERENCES[method["sd"]])
    detail: dict[str, float] = {}
    if has_iqr:
        if n <= 201 and (n - 1) % 4:
            warnings.append(f"Wan et al.'s Table 2 has no n = {n}: eta at n = "
                            f"{4 * math.ceil((n - 1) / 4) + 1} used")
        if q3 > q1:
            check = skewness_check(q1, median, q3, n, alpha)
            detail = {"bowley": check.statistic, "bowley_critical": check.critical}
            if check.skewed:
                warnings.append(check.message)
                refs.append(REFERENCES["shi2023"])
    return Conversion(kind=kind, inputs=inputs, method=method, n=n, mean=mean, sd=sd,
                      references=tuple(refs), warnings=tuple(warnings), detail=detail)


def sd_from_se(se: float, n: int) -> Conversion:
    """SD of a group from the SE of its mean: SD = SE sqrt(n) (Handbook 6.5.2.2)."""
    n = _check_n(n)
    if se < 0:
        raise ConversionError(f"a standard error cannot be negative, got {se:g}")
    return Conversion(kind="standard error", inputs={"se": se}, method={"sd": "se"}, n=n,
                      sd=se * math.sqrt(n), references=(REFERENCES["handbook"],))


def sd_from_ci(lower: float, upper: float, n: int, level: float = 0.95,
               distribution: Literal["auto", "t", "normal"] = "auto") -> Conversion:
    """SD of a group from the CI of its mean: SD = sqrt(n) (upper - lower) / (2 q), with q
    the normal quantile (3.92 = 2 x 1.96 for a 95% CI) or the t quantile with n - 1 df
    (4.128 = 2 x 2.0639 for n = 25), Handbook 6.5.2.2.

    The Handbook: small samples (say under 60 per group) should have used t, large ones
    (over 100) the normal; between, either. ``"auto"`` takes t up to n = 100 and the normal
    above, and records which it took."""
    n = _check_n(n)
    if not 0 < level < 1:
        raise ConversionError(f"confidence level must lie in (0, 1), got {level:g}")
    _ordered(lower=lower, upper=upper)
    if distribution == "auto":
        distribution = "t" if n <= 100 else "normal"
    p = 1.0 - (1.0 - level) / 2.0
    if distribution == "t":
        if n < 2:
            raise ConversionError("a t-based CI needs n >= 2")
        q = float(t_quantile(p, n - 1))
    elif distribution == "normal":
        q = norm_quantile(p)
    else:
        raise ConversionError(f"unknown distribution {distribution!r} (auto, t or normal)")
    warnings = (("60 <= n <= 100: the trial may have used either quantile (Handbook "
                 "6.5.2.2); t assumed",) if 60 <= n <= 100 and distribution == "t" else ())
    return Conversion(kind="confidence interval", inputs={"lower": lower, "upper": upper,
                                                         "level": level},
                      method={"sd": distribution}, n=n,
                      sd=math.sqrt(n) * (upper - lower) / (2.0 * q),
                      references=(REFERENCES["handbook"],), warnings=warnings,
                      detail={"quantile": q})


def combine_arms(n1: int, mean1: float, sd1: float, n2: int, mean2: float,
                 sd2: float) -> Conversion:
    """Two groups as one (Cochrane Handbook Table 6.5.a), for a multi-arm trial whose
    active arms are combined (Handbook 23.3.4): N = N1 + N2, M = (N1 M1 + N2 M2) / N,
    SD = sqrt(((N1 - 1) SD1^2 + (N2 - 1) SD2^2 + N1 N2 / N (M1 - M2)^2) / (N - 1)),
    which is the SD of the two samples pooled into one."""
    n1, n2 = _check_n(n1), _check_n(n2)
    if sd1 < 0 or sd2 < 0:
        raise ConversionError("standard deviations cannot be negative")
    n = n1 + n2
    mean = (n1 * mean1 + n2 * mean2) / n
    var = ((n1 - 1) * sd1 ** 2 + (n2 - 1) * sd2 ** 2
           + n1 * n2 / n * (mean1 ** 2 + mean2 ** 2 - 2 * mean1 * mean2)) / (n - 1)
    return Conversion(kind="combined arms",
                      inputs={"n1": n1, "mean1": mean1, "sd1": sd1,
                              "n2": n2, "mean2": mean2, "sd2": sd2},
                      method={"mean": "pooled", "sd": "pooled"}, n=n, mean=mean,
                      sd=math.sqrt(var), references=(REFERENCES["handbook"],))


def _qe_families(probs, quants):
    """The candidate families of McGrath et al.'s QE method: quantile function, starting
    values, bounds, and (mean, SD) from the parameters. Quantile functions are written
    with scipy.special (closed forms where they exist): scipy.stats' per-call overhead
    made each fit take seconds."""
    import numpy as np
    from scipy import special

    z = special.ndtri(probs)
    tail = -np.log1p(-probs)                     # Weibull: scale * tail^(1/shape)
    med = float(quants[len(quants) // 2])
    spread = float(quants[-1] - quants[0]) or 1.0
    pos = max(med, 1e-2)
    fams = {"normal": (lambda t: t[0] + t[1] * z,
                       [[med, spread / 2], [med, spread]], [(None, None), (1e-6, None)],
                       lambda t: (t[0], t[1]))}
    if min(quants) < 0:
        return fams  # as estmeansd: only the normal fits negative quantiles
    fams.update({
        "log-normal": (lambda t: np.exp(t[0] + t[1] * z),
                       [[math.log(pos), 0.5], [math.log(pos), 1.5]], [(None, None), (1e-6, None)],
                       lambda t: (math.exp(t[0] + t[1] ** 2 / 2),
                                  math.sqrt(math.expm1(t[1] ** 2) * math.exp(2 * t[0] + t[1] ** 2)))),
        "gamma": (lambda t: special.gammaincinv(t[0], probs) / t[1],
                  [[2.0, 2.0 / pos], [0.5, 0.5 / pos]], [(1e-6, None), (1e-6, None)],
                  lambda t: (t[0] / t[1], math.sqrt(t[0]) / t[1])),
        "weibull": (lambda t: t[1] * tail ** (1.0 / t[0]),
                    [[2.0, pos], [0.8, pos]], [(1e-6, None), (1e-6, None)],
                    lambda t: (t[1] * special.gamma(1 + 1 / t[0]),
                               t[1] * math.sqrt(special.gamma(1 + 2 / t[0])
                                                - special.gamma(1 + 1 / t[0]) ** 2))),
    })
    if max(quants) <= 1:
        fams["beta"] = (lambda t: special.betaincinv(t[0], t[1], probs),
                        [[2.0, 2.0], [0.5, 0.5]], [(1e-6, None), (1e-6, None)],
                        lambda t: (t[0] / (t[0] + t[1]),
                                   math.sqrt(t[0] * t[1] / ((t[0] + t[1]) ** 2 * (t[0] + t[1] + 1)))))
    return fams


def qe_mean_sd(n: int, median: float, q1: float | None = None, q3: float | None = None,
               minimum: float | None = None, maximum: float | None = None) -> Conversion:
    """Mean and SD by quantile estimation (McGrath et al. 2020), as estmeansd's
    ``qe.mean.sd``: fit the normal, log-normal, gamma and Weibull (and, for data in [0, 1],
    beta) distributions by least squares between their quantiles and the published ones
    (probabilities 1/n, 1/4, 1/2, 3/4, 1 - 1/n for min, q1, median, q3, max), keep the
    best-fitting family and return its mean and SD. Negative quantiles fit only the normal.
    Each family is fitted from two starting points (estmeansd: one)."""
    from scipy import optimize

    n = _check_n(n)
    if n < 3:
        raise ConversionError("quantile estimation needs n >= 3")
    if q1 is not None and minimum is not None:
        probs, quants = [1 / n, 0.25, 0.5, 0.75, 1 - 1 / n], [minimum, q1, median, q3, maximum]
        inputs = {"min": minimum, "q1": q1, "median": median, "q3": q3, "max": maximum}
        kind = "five-number summary"
    elif q1 is not None:
        probs, quants = [0.25, 0.5, 0.75], [q1, median, q3]
        inputs, kind = {"q1": q1, "median": median, "q3": q3}, "median and IQR"
    elif minimum is not None:
        probs, quants = [1 / n, 0.5, 1 - 1 / n], [minimum, median, maximum]
        inputs, kind = {"min": minimum, "median": median, "max": maximum}, "median and range"
    else:
        raise ConversionError("a median alone cannot give a mean and SD: give its IQR or range")
    _ordered(**dict(zip(inputs, quants)))
    import numpy as np

    p, q = np.asarray(probs), np.asarray(quants, dtype=float)
    scale = float(q[-1] - q[0]) or 1.0
    fits: dict[str, tuple[float, tuple[float, float]]] = {}
    for name, (ppf, starts, bounds, moments) in _qe_families(p, q).items():
        # Positive parameters are searched on the log scale, so an unconstrained
        # Nelder-Mead replaces estmeansd's box-constrained L-BFGS-B (scipy's L-BFGS-B spent
        # ~10 ms per step here, in its Fortran driver) and reaches the same minimum.
        positive = np.array([lo is not None for lo, _ in bounds])

        def params(u, positive=positive):
            return np.where(positive, np.exp(np.clip(u, -700, 700)), u)

        def loss(u, ppf=ppf, params=params):
            # in units of the spread, so that fatol is a relative tolerance
            with np.errstate(all="ignore"):  # the search probes extreme shapes
                value = float(np.sum(((ppf(params(u)) - q) / scale) ** 2))
            return value if math.isfinite(value) else 1e300

        best = min((optimize.minimize(loss, np.where(positive, np.log(start), start),
                                      method="Nelder-Mead",
                                      options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 4000})
                    for start in starts), key=lambda r: r.fun)
        fits[name] = (float(best.fun) * scale ** 2, moments(params(best.x)))
    chosen = min(fits, key=lambda k: fits[k][0])
    mean, sd = fits[chosen][1]
    return Conversion(kind=kind, inputs=inputs, method={"mean": "qe", "sd": "qe"}, n=n,
                      mean=float(mean), sd=float(sd), references=(REFERENCES["qe"],),
                      detail={"distribution": chosen,
                              **{f"loss_{k}": v[0] for k, v in fits.items()}})


# The large-sample SD of Bowley's coefficient for normal data is BOWLEY_SD / sqrt(n):
# from the joint asymptotic normality of sample quantiles (var p(1-p)/(n f^2), cov
# p(1-q)/(n f_p f_q)) at p = 1/4, 1/2, 3/4 of N(0, 1). Shi et al. 2023 build their test
# for a median and IQR on this statistic; their paper's own critical values (with a
# small-sample correction) were not reachable, so the large-sample value is used here.
def _bowley_sd() -> float:
    z = norm_quantile(0.75)
    f1 = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)   # density at both quartiles
    f2 = 1 / math.sqrt(2 * math.pi)                       # density at the median
    var_q = 0.25 * 0.75 / f1 ** 2
    cov_q1q3 = 0.25 * 0.25 / f1 ** 2
    var_m = 0.25 / f2 ** 2
    cov_qm = 0.25 * 0.5 / (f1 * f2)
    var_num = 2 * var_q + 2 * cov_q1q3 + 4 * var_m - 8 * cov_qm
    return math.sqrt(var_num) / (2 * z)


BOWLEY_SD = _bowley_sd()


def skewness_check(q1: float, median: float, q3: float, n: int,
                   alpha: float = 0.05) -> SkewnessCheck:
    """Is a median with its IQR compatible with normal data? (after Shi et al. 2023)

    Bowley's coefficient B = (q1 + q3 - 2 m) / (q3 - q1) is 0 for symmetric data; for
    normal data of size n it is approximately normal with SD ``BOWLEY_SD / sqrt(n)``
    (about 1.356 / sqrt(n)). The check flags |B| > z_(1 - alpha/2) x 1.356 / sqrt(n)
    (2.66 / sqrt(n) at alpha 0.05), a large-sample critical value derived here, not Shi et
    al.'s small-sample one; its simulated type I error under normal data is 0.039 at n = 21
    and 0.049 at n = 101 (tests/fixtures/make_conversion_fixtures.R). Power is low in small
    trials: a bounded score such as ventilator-free days (a floor at 0 for deaths) can pass
    the check and still be far from normal. A flagged arm's mean and SD from Luo/Wan would
    mislead: the Handbook (10.5.3) suggests analysing such data on another scale or leaving
    them out of a mean-difference analysis."""
    n = _check_n(n)
    _ordered(q1=q1, median=median, q3=q3)
    if q3 == q1:
        raise ConversionError("the IQR is 0: Bowley's coefficient is undefined")
    if not 0 < alpha < 1:
        raise ConversionError(f"alpha must lie in (0, 1), got {alpha:g}")
    stat = (q1 + q3 - 2 * median) / (q3 - q1)
    crit = norm_quantile(1 - alpha / 2) * BOWLEY_SD / math.sqrt(n)
    return SkewnessCheck(statistic=stat, critical=crit, alpha=alpha, n=n,
                         skewed=abs(stat) > crit,
                         inputs={"q1": q1, "median": median, "q3": q3})


def arm_mean_sd(summary, mean_method: MeanMethod = "luo",
                sd_method: SdMethod = "shi") -> tuple[float, float, Conversion | None]:
    """The mean and SD of one arm's ``ContinuousSummary`` (records/schema.py), with the
    conversion that produced them, or None where the trial reported a mean and SD.

    A reported mean and SD are used as they are. Otherwise the median with its IQR
    and/or range is converted by :func:`median_to_mean_sd`. Anything else (a mean without
    an SD, a median alone) raises ``ConversionError``, since no published method gives
    the missing number."""
    if summary.mean is not None and summary.sd is not None:
        return summary.mean, summary.sd, None
    if summary.median is None:
        raise ConversionError(f"arm with n = {summary.n} has a mean but no SD, and no median "
                              "to convert" if summary.mean is not None else
                              f"arm with n = {summary.n} has neither mean/SD nor median")
    conv = median_to_mean_sd(summary.n, summary.median, q1=summary.q1, q3=summary.q3,
                             minimum=getattr(summary, "min", None),
                             maximum=getattr(summary, "max", None),
                             mean_method=mean_method, sd_method=sd_method)
    return conv.mean, conv.sd, conv


# the plan's median_to_mean (plan.options.MEDIAN_TO_MEAN) -> (mean method, SD method)
MEDIAN_METHODS: dict[str, tuple[MeanMethod, SdMethod]] = {
    "luo-shi": ("luo", "shi"), "wan": ("wan", "wan"), "mcgrath": ("qe", "shi")}


def convert_row(row, method: str = "luo-shi"):
    """``row`` (a ``records.table.StudyRow``) with each arm's mean and SD taken from its
    published summary: a reported mean and SD as they are, a median with its IQR and/or
    range converted by ``method`` (``luo-shi``, ``wan``, ``mcgrath``), the conversions kept
    on the row. Returns (row, reason): reason is why the row has no means (``method``
    ``none`` with a median, or a summary no method can convert), else None.

    Recomputed from the summaries each time, so a row already converted by another method
    gets this method's numbers."""
    from dataclasses import replace

    if not row.has_summaries:
        return row, None
    cleared = dict(treatment_mean=None, treatment_sd=None, control_mean=None,
                   control_sd=None, conversions=())
    arms = (("treatment", row.treatment_summary), ("control", row.control_summary))
    if method == "none":
        if all(s.mean is not None and s.sd is not None for _, s in arms):
            return replace(row, treatment_mean=row.treatment_summary.mean,
                           treatment_sd=row.treatment_summary.sd,
                           control_mean=row.control_summary.mean,
                           control_sd=row.control_summary.sd, conversions=()), None
        return replace(row, **cleared), (
            "reported as a median with its IQR or range, not a mean and SD, and the plan "
            "converts no median (median_to_mean: none): not pooled")
    mean_method, sd_method = MEDIAN_METHODS[method]
    values, conversions = {}, []
    for arm, summary in arms:
        try:
            mean, sd, conv = arm_mean_sd(summary, mean_method, sd_method)
        except ConversionError as err:
            return replace(row, **cleared), f"the {arm} arm cannot be converted: {err}"
        values[f"{arm}_mean"], values[f"{arm}_sd"] = mean, sd
        if conv is not None:
            conversions.append((arm, conv))
    return replace(row, **values, conversions=tuple(conversions)), None


def convert_table(table, method: str = "luo-shi"):
    """``table`` (a ``records.table.StudyTable``) with every row through :func:`convert_row`;
    returns (table, {row index: why it has no means})."""
    from dataclasses import replace

    rows, reasons = [], {}
    for i, row in enumerate(table.rows):
        new, why = convert_row(row, method)
        rows.append(new)
        if why:
            reasons[i] = why
    return replace(table, rows=tuple(rows)), reasons
