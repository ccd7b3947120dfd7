"""GRADE certainty proposals from the data, with the rule that fired for each domain.

Randomized trials start at HIGH and are rated down (Guyatt et al. 2011, J Clin Epidemiol
64:383-394; GRADE Handbook 5). The rules below are transparent defaults that reviewers
override in ``studies/grade.yaml``; the report shows proposal and override side by side.

- Risk of bias: share of the random-effects weight from trials at high overall RoB 2
  risk: > 50% -> down 2; > 25%, or high plus some concerns > 50% -> down 1.
- Inconsistency: I² > 75% -> down 2; I² > 50%, or the prediction interval crosses no
  effect while the CI does not -> down 1.
- Imprecision: the CI crosses both the benefit and harm thresholds -> down 2; it crosses
  no effect or one threshold, or the participants are fewer than the optimal information
  size (OIS; Guyatt et al. 2011, J Clin Epidemiol 64:1283-1293) -> down 1.
- Publication bias: not assessable with fewer than 10 trials (Cochrane Handbook 13.3.5.4):
  not rated down, said so; with 10 or more, reviewers judge (funnel plot, tests).
- Indirectness: no data-driven rule; 0 unless reviewers say otherwise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from metasynth.distributions import norm_quantile
from metasynth.models.results import PoolResult

LEVELS = {4: ("HIGH", "⊕⊕⊕⊕"), 3: ("MODERATE", "⊕⊕⊕⊝"), 2: ("LOW", "⊕⊕⊝⊝"),
          1: ("VERY LOW", "⊕⊝⊝⊝")}
DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
DOMAIN_NAMES = {"risk_of_bias": "Risk of bias", "inconsistency": "Inconsistency",
                "indirectness": "Indirectness", "imprecision": "Imprecision",
                "publication_bias": "Publication bias"}


@dataclass(frozen=True)
class DomainJudgement:
    domain: str
    proposed: int
    rule: str
    final: int
    override_reason: str | None = None


@dataclass(frozen=True)
class Certainty:
    outcome: str
    domains: tuple[DomainJudgement, ...]
    level: int  # 1..4

    @property
    def label(self) -> str:
        return LEVELS[self.level][0]

    @property
    def symbols(self) -> str:
        return LEVELS[self.level][1]

    def reasons(self) -> str:
        parts = [f"{DOMAIN_NAMES[d.domain].lower()} (−{d.final})" for d in self.domains if d.final]
        return "Rated down for " + ", ".join(parts) if parts else "Not rated down"

    def to_dict(self) -> dict:
        return {"outcome": self.outcome, "level": self.label, "symbols": self.symbols,
                "domains": [asdict(d) for d in self.domains]}


def optimal_information_size(control_risk: float, rrr: float, alpha: float, power: float) -> int:
    """Total participants for a two-arm trial to detect ``rrr`` (Pogue & Yusuf 1997)."""
    p0 = control_risk
    p1 = p0 * (1 - rrr)
    z = norm_quantile(1 - alpha / 2) + norm_quantile(power)
    per_arm = z**2 * (p0 * (1 - p0) + p1 * (1 - p1)) / (p0 - p1) ** 2
    return 2 * math.ceil(per_arm - 1e-9)


def control_risk(result: PoolResult) -> float | None:
    """The control-arm risk of the trials in the analysis (events / participants), by the one
    counting rule (``PoolResult.counts``): every trial with data, estimable or not, as
    GRADEpro takes it from RevMan's "Total events" row."""
    n = result.counts
    return n.events_control / n.total_control if n.total_control else None


def _risk_of_bias(result: PoolResult, rob: dict) -> tuple[int, str]:
    weights = {s.id: (s.weight_random if result.k > 1 else s.weight_common) or 0.0
               for s in result.included}
    total = sum(weights.values()) or 1.0
    high = sum(w for sid, w in weights.items() if rob.get(sid) == "high") / total
    some = sum(w for sid, w in weights.items() if rob.get(sid) == "some-concerns") / total
    missing = [sid for sid in weights if sid not in rob]
    text = (f"{100 * high:.0f}% of the weight from trials at high risk of bias, "
            f"{100 * some:.0f}% with some concerns")
    if missing:
        text += f"; not assessed: {', '.join(missing)}"
    if high > 0.5:
        return 2, text + " (rule: high > 50% -> −2)"
    if high > 0.25 or high + some > 0.5:
        return 1, text + " (rule: high > 25%, or high + some concerns > 50% -> −1)"
    return 0, text + " (rule: no threshold reached)"


def _inconsistency(result: PoolResult) -> tuple[int, str]:
    h, r = result.heterogeneity, result.random
    if result.k < 2 or h.I2 is None:
        return 0, "one trial: inconsistency cannot be assessed"
    text = f"I² = {h.I2:.0f}%"
    null = 1.0 if result.measure != "RD" else 0.0
    pi_crosses = (r.pi_lower is not None and r.pi_lower < null < r.pi_upper)
    ci_crosses = r.ci_lower is not None and r.ci_lower < null < r.ci_upper
    if r.pi_lower is not None:
        text += f", prediction interval {r.pi_lower:.2f} to {r.pi_upper:.2f}"
    if h.I2 > 75:
        return 2, text + " (rule: I² > 75% -> −2)"
    if h.I2 > 50 or (pi_crosses and not ci_crosses):
        return 1, text + " (rule: I² > 50%, or PI crosses no effect while CI does not -> −1)"
    return 0, text + " (rule: no threshold reached)"


def _imprecision(result: PoolResult, grade) -> tuple[int, str]:
    r = result.random
    if r.ci_lower is None:
        return 2, "no confidence interval"
    if result.measure == "RD":
        lo_t, hi_t, null = -0.05, 0.05, 0.0  # 5 percentage points
    else:
        lo_t, hi_t, null = grade.benefit_threshold, grade.harm_threshold, 1.0
    crosses_null = r.ci_lower < null < r.ci_upper
    crosses_both = r.ci_lower < lo_t and r.ci_upper > hi_t
    crosses_one = r.ci_lower < lo_t < r.ci_upper or r.ci_lower < hi_t < r.ci_upper
    n = result.counts.participants
    p0 = control_risk(result)
    text = f"{result.spec.ci_label} {r.ci_lower:.2f} to {r.ci_upper:.2f}; {n} participants"
    ois = None
    if p0 and 0 < p0 < 1:
        ois = optimal_information_size(p0, grade.relative_risk_reduction, grade.alpha, grade.power)
        text += (f"; OIS {ois} (control risk {100 * p0:.1f}%, RRR "
                 f"{100 * grade.relative_risk_reduction:.0f}%, α {grade.alpha}, power {grade.power})")
    if crosses_both:
        return 2, text + f" (rule: CI crosses both {lo_t} and {hi_t} -> −2)"
    if crosses_null or crosses_one or (ois is not None and n < ois):
        why = "CI crosses no effect" if crosses_null else (
            "CI crosses a threshold" if crosses_one else "participants below the OIS")
        return 1, text + f" (rule: {why} -> −1)"
    return 0, text + " (rule: no threshold reached)"


def _publication_bias(result: PoolResult) -> tuple[int, str]:
    if result.k < 10:
        return 0, (f"{result.k} trials: small-study effects cannot be assessed below 10 "
                   "(Cochrane Handbook 13.3.5.4); not rated down, undetected")
    return 0, "10 or more trials: judge from the funnel plot and tests (not automated)"


def propose(outcome: str, result: PoolResult, rob: dict, grade, overrides: dict) -> Certainty:
    """The proposal for every domain, then the reviewers' overrides, then the level."""
    rules = {
        "risk_of_bias": _risk_of_bias(result, rob),
        "inconsistency": _inconsistency(result),
        "indirectness": (0, "no data-driven rule (reviewers judge)"),
        "imprecision": _imprecision(result, grade),
        "publication_bias": _publication_bias(result),
    }
    judged = []
    for domain in DOMAINS:
        proposed, rule = rules[domain]
        override = overrides.get(outcome, {}).get(domain)
        final = override.downgrade if override else proposed
        judged.append(DomainJudgement(domain, proposed, rule, final,
                                      override.reason if override else None))
    level = max(1, 4 - sum(d.final for d in judged))
    return Certainty(outcome, tuple(judged), level)
