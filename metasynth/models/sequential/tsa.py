"""Trial sequential analysis (TSA) of a binary outcome.

Wetterslev, Thorlund, Brok & Gluud (2008, J Clin Epidemiol 61:64-75) and the Copenhagen
Trial Unit's TSA manual (Thorlund et al. 2017): the cumulative meta-analysis, trial by trial
in order of publication, is monitored like an interim analysis of one large trial.

- Cumulative Z-curve: DerSimonian-Laird random-effects pooled log RR (Wald), the TSA
  program's default, signed so that Z > 0 favours the experimental arm (RR < 1). The trials
  are those of the main analysis: unlike the TSA program, which adds a continuity
  correction to trials without events in either arm, metasynth leaves them out of the RR
  (Cochrane Handbook 10.4.4) and so also out of the accrued information.
- Required information size (participants), for a two-sided test at level alpha with power
  1 - beta to detect a relative risk reduction RRR from control risk pC:
  RIS = 4 (z_{1-alpha/2} + z_{1-beta})^2 p(1 - p) / delta^2, p = (pC + pI) / 2,
  delta = pC - pI, pI = pC (1 - RRR); diversity-adjusted DARIS = RIS / (1 - D^2),
  D^2 = (v_R - v_F) / v_R from the pooled variances of the random- and common-effect
  models (Wetterslev, Thorlund, Brok & Gluud 2009, BMC Med Res Methodol 9:86).
- Boundaries at the information fractions t_k = N_k / DARIS (see ``sequential``):
  Lan-DeMets O'Brien-Fleming alpha spending for benefit and harm, and a non-binding
  O'Brien-Fleming beta-spending futility wedge closing at t = 1. As in the TSA program,
  the first look at or beyond the information size spends what is left of alpha (t = 1),
  and later looks keep that final boundary.
- TSA-adjusted CI: the pooled log RR plus or minus the current efficacy boundary times its
  standard error (the TSA program's "TSA-adjusted CI"; once the information size is
  reached it equals the final boundary, close to the conventional 1.96).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from metasynth.distributions import norm_quantile
from metasynth.models.engine.random_effects import fit_random
from metasynth.models.engine.weighted import weighted_fit
from metasynth.models.results import Printable, frame
from metasynth.models.sequential.boundaries import design
from metasynth.models.sequential.information import InformationSize, required_participants


@dataclass(frozen=True)
class TSAPlan:
    """Assumptions stated in the analysis plan."""

    control_risk: float = 0.40
    relative_risk_reduction: float = 0.425
    alpha: float = 0.05
    beta: float = 0.10
    d2: float | None = None  # None: the observed diversity D^2 of the final meta-analysis
    spending: str = "obf"
    futility: bool = True

    def __post_init__(self):
        if not 0 < self.control_risk < 1:
            raise ValueError("control risk must be between 0 and 1")
        if not 0 < self.relative_risk_reduction < 1:
            raise ValueError("relative risk reduction must be between 0 and 1")
        if not (0 < self.alpha < 1 and 0 < self.beta < 1):
            raise ValueError("alpha and beta must be between 0 and 1")
        if self.d2 is not None and not 0 <= self.d2 < 1:
            raise ValueError("D² must be in [0, 1)")

    @property
    def intervention_risk(self) -> float:
        return self.control_risk * (1 - self.relative_risk_reduction)

    def to_dict(self) -> dict:
        return asdict(self)


def required_information_size(control_risk: float, intervention_risk: float,
                              alpha: float = 0.05, beta: float = 0.10) -> float:
    """Participants needed by one fixed-size two-arm trial (1:1), not rounded: the one
    calculation that GRADE's optimal information size also uses (``information``)."""
    return required_participants(control_risk, intervention_risk, alpha, 1 - beta)


def required_information_size_md(difference: float, sd: float, alpha: float = 0.05,
                                 beta: float = 0.10) -> float:
    """Participants for a mean difference (1:1): 4 (z_{1-alpha/2} + z_{1-beta})^2 sd^2 / d^2."""
    z = norm_quantile(1 - alpha / 2) + norm_quantile(1 - beta)
    return 4 * z * z * sd * sd / (difference * difference)


@dataclass(frozen=True)
class TSAResult(Printable):
    labels: tuple[str, ...]
    years: tuple[int | None, ...]
    participants: tuple[int, ...]  # cumulative
    z: tuple[float, ...]  # cumulative Z, > 0 favours the experimental arm
    information_fraction: tuple[float, ...]
    efficacy: tuple[float, ...]  # |Z| boundary at each look
    futility: tuple[float, ...]  # inner wedge at each look (0: none yet); empty if off
    plan: TSAPlan
    ris: float
    d2: float
    daris: float
    inflation: float  # sequential inflation factor implied by the futility wedge
    rr: float
    rr_ci: tuple[float, float]
    rr_tsa_ci: tuple[float, float]
    crossed: str  # benefit | harm | futility | none
    crossed_at: str | None  # label of the trial whose look crossed first
    boundary_curve: tuple[tuple[float, float, float], ...]  # (t, efficacy, futility) to plot
    spec: Any = None  # the AnalysisSpec of the pooled analysis (set by api.tsa)
    counts: Any = None  # its Counts (one counting rule for every section)

    @property
    def information(self) -> InformationSize:
        """The required information size with its assumptions (the same calculation as
        GRADE's optimal information size)."""
        p = self.plan
        return InformationSize(p.control_risk, p.relative_risk_reduction, p.alpha, 1 - p.beta,
                               "stated", self.d2, self.ris, self.daris)

    @property
    def fraction_reached(self) -> float:
        return self.information_fraction[-1]

    def to_frame(self):
        """One row per look (trial added): cumulative participants, Z, boundaries."""
        futility = self.futility or (None,) * len(self.labels)
        return frame([{"trial": lab, "year": yr, "participants": n, "information_fraction": t,
                       "z": z, "efficacy_boundary": b, "futility_boundary": f}
                      for lab, yr, n, t, z, b, f in zip(
                          self.labels, self.years, self.participants, self.information_fraction,
                          self.z, self.efficacy, futility)], "trial")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["fraction_reached"] = self.fraction_reached
        return out


def _looks(fractions: np.ndarray) -> np.ndarray:
    """Looks for the boundary computation: fractions below 1, then t = 1 (the first look at
    or beyond the information size, or the planned final look if none has reached it)."""
    below = [float(t) for t in fractions if t < 1]
    return np.asarray(below + [1.0])


def trial_sequential_analysis(yi, vi, participants, labels, years=None,
                              plan: TSAPlan | None = None) -> TSAResult:
    """TSA of trials given in publication order (log RR ``yi``, variances ``vi``, and the
    number of participants of each trial)."""
    plan = plan or TSAPlan()
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    k = len(y)
    if k == 0:
        raise ValueError("no trials to analyse")
    masks = np.tri(k, dtype=bool)  # row j: trials 1..j
    fit = fit_random(np.broadcast_to(y, (k, k)), np.broadcast_to(v, (k, k)), masks,
                     tau2_method="DL", ci_method="wald")
    z = -fit.theta / fit.se_wald
    common = weighted_fit(y[None, :], v[None, :], masks[-1:], 0.0)
    var_f = 1.0 / float(common.sw[0])
    var_r = float(fit.se_wald[-1]) ** 2
    d2_obs = max(0.0, (var_r - var_f) / var_r) if var_r > 0 else 0.0
    d2 = plan.d2 if plan.d2 is not None else d2_obs
    ris = required_information_size(plan.control_risk, plan.intervention_risk, plan.alpha,
                                    plan.beta)
    daris = ris / (1 - d2)
    n_cum = np.cumsum(np.asarray(participants, dtype=int))
    frac = n_cum / daris
    looks = _looks(frac)
    des = design(looks, plan.alpha, plan.beta, plan.spending, futility=plan.futility)
    eff_at_look = np.asarray(des.efficacy)
    fut_at_look = np.asarray(des.futility) if plan.futility else np.zeros(len(looks))
    # map each trial to its look (trials at or beyond t = 1 share the final look)
    idx = np.minimum(np.searchsorted(looks, np.minimum(frac, 1.0)), len(looks) - 1)
    eff = eff_at_look[idx]
    fut = fut_at_look[idx]
    crossed, crossed_at = "none", None
    for j in range(k):
        if z[j] >= eff[j]:
            crossed, crossed_at = "benefit", labels[j]
        elif z[j] <= -eff[j]:
            crossed, crossed_at = "harm", labels[j]
        elif plan.futility and abs(z[j]) < fut[j] and fut[j] > 0:
            crossed, crossed_at = "futility", labels[j]
        if crossed != "none":
            break
    theta, se = float(fit.theta[-1]), float(fit.se_wald[-1])
    zc = norm_quantile(1 - plan.alpha / 2)
    b_now = float(eff[-1])
    curve = tuple((float(t), float(e), float(f)) for t, e, f in zip(looks, eff_at_look, fut_at_look))
    return TSAResult(
        labels=tuple(labels), years=tuple(years) if years is not None else (None,) * k,
        participants=tuple(int(n) for n in n_cum), z=tuple(float(x) for x in z),
        information_fraction=tuple(float(t) for t in frac),
        efficacy=tuple(float(b) for b in eff),
        futility=tuple(float(a) for a in fut) if plan.futility else (),
        plan=plan, ris=ris, d2=d2, daris=daris, inflation=des.inflation,
        rr=math.exp(theta), rr_ci=(math.exp(theta - zc * se), math.exp(theta + zc * se)),
        rr_tsa_ci=(math.exp(theta - b_now * se), math.exp(theta + b_now * se)),
        crossed=crossed, crossed_at=crossed_at, boundary_curve=curve)
