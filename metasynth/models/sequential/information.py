"""The one information-size calculation: GRADE's optimal information size (imprecision)
and the trial sequential analysis's required information size use this function, so a
difference between them is a difference in assumptions, which both sections state.

Participants for one fixed-size two-arm trial (1:1) to detect a relative risk reduction
RRR from control risk pC with a two-sided test at level alpha and the given power
(Pogue & Yusuf 1997, Control Clin Trials 18:580-593; Wetterslev et al. 2008, J Clin
Epidemiol 61:64-75; Guyatt et al. 2011, J Clin Epidemiol 64:1283-1293):

    N = 4 (z_{1-alpha/2} + z_{power})^2 p(1 - p) / delta^2,  p = (pC + pI) / 2,
    delta = pC - pI,  pI = pC (1 - RRR);

diversity-adjusted N / (1 - D^2) (Wetterslev et al. 2009, BMC Med Res Methodol 9:86).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from metasynth.distributions import norm_quantile


def required_participants(control_risk: float, intervention_risk: float, alpha: float,
                          power: float) -> float:
    """Participants for one two-arm trial (1:1), not rounded."""
    p = (control_risk + intervention_risk) / 2
    delta = control_risk - intervention_risk
    z = norm_quantile(1 - alpha / 2) + norm_quantile(power)
    return 4 * z * z * p * (1 - p) / (delta * delta)


def mean_difference_participants(mid: float, sd: float, alpha: float, power: float) -> float:
    """Participants for one two-arm trial (1:1) to detect a difference in means ``mid``
    with SD ``sd`` (two-sided, level alpha): 4 (z_{1-alpha/2} + z_{power})^2 sd^2 / mid^2,
    the continuous optimal information size of GRADE 6 (Guyatt et al. 2011, J Clin
    Epidemiol 64:1283-1293). Not rounded."""
    if not (mid > 0 and sd > 0):
        raise ValueError("the minimally important difference and the SD must be positive")
    z = norm_quantile(1 - alpha / 2) + norm_quantile(power)
    return 4 * z * z * sd * sd / (mid * mid)


@dataclass(frozen=True)
class InformationSize:
    """An information size and the assumptions it rests on."""

    control_risk: float
    relative_risk_reduction: float
    alpha: float
    power: float
    control_risk_source: str  # "observed" (control arms of the analysis) | "stated" (plan)
    diversity: float = 0.0  # D² (0: not adjusted)
    required: float = 0.0  # participants, unadjusted
    adjusted: float = 0.0  # participants, diversity-adjusted

    @property
    def participants(self) -> int:
        """The diversity-adjusted size, rounded up to whole participants."""
        return math.ceil(self.adjusted - 1e-9)

    def to_dict(self) -> dict:
        return {**asdict(self), "participants": self.participants}


def information_size(control_risk: float, relative_risk_reduction: float, alpha: float,
                     power: float, diversity: float = 0.0,
                     control_risk_source: str = "stated") -> InformationSize:
    if not 0 < control_risk < 1:
        raise ValueError("control risk must be between 0 and 1")
    if not 0 < relative_risk_reduction < 1:
        raise ValueError("relative risk reduction must be between 0 and 1")
    n = required_participants(control_risk, control_risk * (1 - relative_risk_reduction),
                              alpha, power)
    return InformationSize(control_risk, relative_risk_reduction, alpha, power,
                           control_risk_source, diversity, n, n / (1 - diversity))


def absolute_effect(control_risk: float, ratio: float, measure: str) -> float:
    """Risk with the intervention (0..1) from the control risk and a RR (capped at 1, as
    GRADEpro caps it) or an OR."""
    if measure == "RR":
        return min(1.0, control_risk * ratio)
    odds = control_risk / (1 - control_risk) * ratio
    return odds / (1 + odds)
