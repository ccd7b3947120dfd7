"""GRADE certainty proposals from the data, with the rule that fired for each domain.

Randomized trials start at HIGH and are rated down (Guyatt et al. 2011, J Clin Epidemiol
64:383-394; GRADE Handbook 5). The rules below are transparent defaults that reviewers
override in ``studies/grade.yaml``; the report shows proposal and override side by side.

- Risk of bias: the RoB 2 assessments made for the outcome's endpoint (RoB 2 is
  outcome-specific; a trial without one counts as not assessed, never with another
  outcome's). Share of the random-effects weight at high overall risk: > 50% -> down 2;
  > 25%, or high plus some concerns plus not assessed > 50% -> down 1.
- Inconsistency (GRADE guidance 7, Guyatt et al. 2011, J Clin Epidemiol 64:1294-1302): four
  criteria, (1) point estimates vary widely (one trial's estimate an important benefit,
  another's an important harm), (2) confidence intervals with no overlap, (3) Cochran's Q
  P < 0.10, (4) I² > 50%. Two or more -> down 1; three or more with I² > 75% -> down 2.
  The prediction interval and the CI of I² are reported, not used as a rule alone.
- Imprecision (GRADE guidance 34 and 35, Zeng et al. 2022, J Clin Epidemiol 150:216-224 and
  225-242): the CI of the absolute effect (per 1000, from the control risk) against the
  plan's thresholds of an important benefit and harm: crossing both -> down 2, one -> down 1;
  crossing neither, participants below the optimal information size (OIS) -> down 1. The
  OIS is the one information-size calculation the trial sequential analysis also uses.
  Continuous outcomes pooled as MD with a minimally important difference in the plan
  (``grade.mids``): the CI against the MID both ways, as above, then the OIS for that MID
  (GRADE 6). Otherwise (no MID; SMD, ratio of means): the CI against the null (the
  minimally contextualised approach), crossing it -> down 1, and no OIS.
- Publication bias: not assessable with fewer than 10 trials (Cochrane Handbook 13.3.5.4):
  not rated down, said so; with 10 or more, reviewers judge (funnel plot, tests).
- Indirectness: no data-driven rule; 0 unless reviewers say otherwise.

When the sparse-data methods (zero cells handled by every method of ``metasynth sparse``)
disagree on the outcome, the imprecision judgement cites their table: it does not change
the rating (the disagreement is not one of GRADE's imprecision criteria), it tells the
reviewer that the CI depends on how the zero cells are handled.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from metasynth.effects.measures import CONTINUOUS, is_ratio, null_value
from metasynth.models.results import PoolResult
from metasynth.models.sequential.information import (
    InformationSize,
    absolute_effect,
    information_size,
    mean_difference_participants,
)
from metasynth.render.numbers import num, p_value, percent, range_text

LEVELS = {4: ("HIGH", "⊕⊕⊕⊕"), 3: ("MODERATE", "⊕⊕⊕⊝"), 2: ("LOW", "⊕⊕⊝⊝"),
          1: ("VERY LOW", "⊕⊝⊝⊝")}
DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
DOMAIN_NAMES = {"risk_of_bias": "Risk of bias", "inconsistency": "Inconsistency",
                "indirectness": "Indirectness", "imprecision": "Imprecision",
                "publication_bias": "Publication bias"}
SERIOUS = {1: "serious", 2: "very serious"}


@dataclass(frozen=True)
class DomainJudgement:
    domain: str
    proposed: int
    rule: str  # the rule trace (the numbers and the threshold that fired)
    final: int
    override_reason: str | None = None
    explanation: str = ""  # the proposal in a reader's words (the SoF footnote)

    @property
    def footnote(self) -> str:
        """Why the final rating is what it is, for the Summary of Findings."""
        what = f"Rated down {'one level' if self.final == 1 else 'two levels'} for " \
               f"{SERIOUS[self.final]} {DOMAIN_NAMES[self.domain].lower()}"
        if self.override_reason:
            return f"{what} (reviewers' judgement): {self.override_reason}"
        return f"{what}: {self.explanation}"


@dataclass(frozen=True)
class Certainty:
    outcome: str
    domains: tuple[DomainJudgement, ...]
    level: int  # 1..4
    information: InformationSize | None = None  # GRADE's optimal information size
    comment: str | None = None  # the reviewers' comment (studies/grade.yaml)
    overrides: tuple[str, ...] = field(default=())  # domains the reviewers overrode

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
                "domains": [asdict(d) for d in self.domains],
                "optimal_information_size": (self.information.to_dict()
                                             if self.information else None)}


def optimal_information_size(control_risk: float, rrr: float, alpha: float, power: float) -> int:
    """Total participants to detect ``rrr`` from ``control_risk`` (the one calculation of
    ``models.sequential.information``, which the TSA also uses)."""
    return information_size(control_risk, rrr, alpha, power).participants


def control_risk(result: PoolResult) -> float | None:
    """The control-arm risk of the trials in the analysis (events / participants), by the one
    counting rule (``PoolResult.counts``): every trial with data, estimable or not, as
    GRADEpro takes it from RevMan's "Total events" row."""
    n = result.counts
    return n.events_control / n.total_control if n.total_control else None


def _weights(result: PoolResult) -> dict:
    return {s.id: (s.weight_random if result.k > 1 else s.weight_common) or 0.0
            for s in result.included}


def _risk_of_bias(result: PoolResult, rob: dict, endpoint: str) -> tuple[int, str, str]:
    weights = _weights(result)
    total = sum(weights.values()) or 1.0
    high = sum(w for sid, w in weights.items() if rob.get(sid) == "high") / total
    some = sum(w for sid, w in weights.items() if rob.get(sid) == "some-concerns") / total
    missing = [sid for sid in weights if sid not in rob]
    unassessed = sum(weights[sid] for sid in missing) / total
    text = (f"RoB 2 for {endpoint}: {100 * high:.0f}% of the weight from trials at high risk "
            f"of bias, {100 * some:.0f}% with some concerns, {100 * unassessed:.0f}% not "
            "assessed for this outcome")
    if high > 0.5:
        return 2, text + " (rule: high > 50% -> −2)", (
            f"trials at high risk of bias carry {100 * high:.0f}% of the weight.")
    if high > 0.25 or high + some + unassessed > 0.5:
        why = (f"trials at high risk of bias or with some concerns carry "
               f"{100 * (high + some):.0f}% of the weight" if unassessed < 0.5 else
               f"{100 * unassessed:.0f}% of the weight comes from trials whose risk of bias "
               "was not assessed for this outcome")
        if 0 < unassessed < 0.5:
            why += f", and {100 * unassessed:.0f}% was not assessed for this outcome"
        return 1, text + " (rule: high > 25%, or high + some concerns + not assessed > 50% " \
                         "-> −1)", why + "."
    return 0, text + " (rule: no threshold reached)", ""


def _inconsistency(result: PoolResult, grade) -> tuple[int, str, str]:
    """GRADE guidance 7: point estimates, CI overlap, the Q test and I² (with its CI)."""
    h, r = result.heterogeneity, result.random
    if result.k < 2 or h.I2 is None:
        return 0, "one trial: inconsistency cannot be assessed", ""
    lower_better = result.better != "higher"
    benefit = (lambda x: x < grade.benefit_threshold) if lower_better else (
        lambda x: x > 1 / grade.benefit_threshold)
    harm = (lambda x: x > grade.harm_threshold) if lower_better else (
        lambda x: x < 1 / grade.harm_threshold)
    ests = [s.estimate for s in result.included if s.estimate is not None]
    ratio = is_ratio(result.measure)
    # the plan's thresholds of an important benefit or harm are risk ratios
    wide = result.measure in ("RR", "OR") and any(map(benefit, ests)) and any(map(harm, ests))
    cis = [(s.ci_lower, s.ci_upper) for s in result.included if s.ci_lower is not None]
    no_overlap = any(a[1] < b[0] for a in cis for b in cis)
    q_low = h.Q_p is not None and h.Q_p < 0.10
    i2_high = h.I2 > 50
    met = [name for name, hit in (("point estimates vary widely (important benefit and "
                                   "important harm)", wide),
                                  ("confidence intervals without overlap", no_overlap),
                                  ("Q test P < 0.10", q_low), ("I² > 50%", i2_high)) if hit]
    i2 = percent(h.I2)
    i2ci = (f" (95% CI {percent(h.I2_ci_lower)} to {percent(h.I2_ci_upper)})"
            if h.I2_ci_lower is not None else "")
    text = f"I² = {i2}{i2ci}; Q {p_value(h.Q_p)}"
    if r.pi_lower is not None:
        text += f"; prediction interval {range_text(r.pi_lower, r.pi_upper, is_ratio=ratio)}"
    text += f"; criteria met: {', '.join(met) if met else 'none'}"
    if len(met) >= 3 and h.I2 > 75:
        return 2, text + " (rule: three or more criteria with I² > 75% -> −2)", (
            f"{'; '.join(met)} (I² = {i2}).")
    if len(met) >= 2:
        return 1, text + " (rule: two or more criteria -> −1)", f"{'; '.join(met)} (I² = {i2})."
    wide_ci = (h.I2_ci_upper or 0) > 50
    note = ("; the CI of I² does not exclude substantial heterogeneity, which few trials "
            "cannot estimate" if wide_ci else "")
    return 0, text + f" (rule: fewer than two criteria{note})", ""


def _imprecision(result: PoolResult, grade, outcome: str) -> tuple[int, str, str, object]:
    """GRADE 34/35: the absolute effect's CI against the thresholds, then the OIS."""
    r = result.random if result.k > 1 else result.common
    if r.ci_lower is None:
        return 2, "no confidence interval", "the effect has no confidence interval.", None
    if result.measure in CONTINUOUS:
        return (*_imprecision_continuous(result, r, grade, outcome), None)
    n = result.counts.participants
    p0 = control_risk(result)
    ois = None
    if p0 and 0 < p0 < 1 and result.measure in ("RR", "OR"):
        ois = information_size(p0, grade.relative_risk_reduction, grade.alpha, grade.power,
                               control_risk_source="observed")
        b, h = grade.absolute_thresholds(outcome)
        lo, hi = (1000 * (absolute_effect(p0, x, result.measure) - p0)
                  for x in (r.ci_lower, r.ci_upper))
        lower_better = result.better != "higher"
        t_benefit, t_harm = (-b, h) if lower_better else (b, -h)
        crosses = [name for name, t in (("important benefit", t_benefit),
                                        ("important harm", t_harm)) if lo < t < hi]
        scale = "per 1000"
        text = (f"absolute effect {num(lo, 0)} to {num(hi, 0)} {scale} ({result.spec.ci_label}); "
                f"thresholds {b:g} fewer/more {scale} (benefit {num(t_benefit, 0)}, harm "
                f"{num(t_harm, 0)}); {n} participants; OIS {ois.participants} (control risk "
                f"{100 * p0:.1f}% observed, RRR {100 * grade.relative_risk_reduction:.0f}%, "
                f"α {grade.alpha:g}, power {grade.power:.0%})")
        span = f"the 95% CI runs from {_per1000(lo)} to {_per1000(hi)} per 1000"
    else:
        lo, hi = r.ci_lower, r.ci_upper
        if result.measure == "RD":
            t_benefit, t_harm = -0.05, 0.05
        else:
            t_benefit, t_harm = grade.benefit_threshold, grade.harm_threshold
        crosses = [name for name, t in (("important benefit", t_benefit),
                                        ("important harm", t_harm)) if lo < t < hi]
        text = (f"{result.spec.ci_label} {range_text(lo, hi)} (no control risk: relative "
                f"thresholds {t_benefit:g} and {t_harm:g}); {n} participants")
        span = f"the 95% CI runs from {range_text(lo, hi)}"
    if len(crosses) == 2:
        return 2, text + " (rule: CI crosses both thresholds -> −2)", (
            f"{span}, including both an important benefit and an important harm."), ois
    if crosses:
        return 1, text + f" (rule: CI crosses the threshold of {crosses[0]} -> −1)", (
            f"{span}, crossing the threshold of {crosses[0]}."), ois
    if ois is not None and n < ois.participants:
        return 1, text + " (rule: CI crosses no threshold, participants below the OIS -> −1)", (
            f"{n} participants, fewer than the optimal information size of "
            f"{ois.participants}."), ois
    return 0, text + " (rule: no threshold crossed, OIS met)", "", ois


def _control_sd(result: PoolResult) -> float | None:
    """The pooled SD of the trials' control arms, sqrt(sum (n - 1) SD^2 / sum (n - 1))."""
    rows = [row for row in (result.effects.table.rows if result.effects is not None else ())
            if row.control_sd is not None and (row.control_total or 0) > 1]
    df = sum(row.control_total - 1 for row in rows)
    if not df:
        return None
    return math.sqrt(sum((row.control_total - 1) * row.control_sd ** 2 for row in rows) / df)


def _imprecision_continuous(result: PoolResult, r, grade, outcome: str) -> tuple[int, str, str]:
    """A continuous outcome (GRADE 34/35, Zeng et al. 2022). With a minimally important
    difference in the plan (``grade.mids``, outcomes pooled as MD): the CI of the MD
    against the MID in the direction of benefit and of harm, crossing both -> down 2, one
    -> down 1; crossing neither, participants below the optimal information size for
    that MID (GRADE 6, Guyatt et al. 2011: the SD the plan gives, else the pooled SD of
    the control arms) -> down 1. Without one: the CI against the null, the minimally
    contextualised approach, crossing it -> down 1, and no OIS (it needs a MID)."""
    m = result.measure
    null = null_value(m)
    lo, hi = r.ci_lower, r.ci_upper
    n = result.counts.participants
    unit = result.effects.table.units if result.effects is not None and m == "MD" else None
    u = f" {unit}" if unit else ""
    span = f"the 95% CI of the {m} runs from {num(lo)} to {num(hi)}{u}"
    mid = grade.mids.get(outcome)
    sd = None
    if mid is not None and m == "MD":
        sd = mid.sd if mid.sd is not None else _control_sd(result)
    if sd is None:
        if mid is None:
            why = "the plan sets no minimally important difference for this outcome"
        elif m != "MD":
            why = (f"the plan's minimally important difference is in the outcome's units, "
                   f"and this outcome is pooled as {m}")
        else:
            why = "the plan gives no SD and the trials report none for their control arms"
        text = (f"{m} {result.spec.ci_label} {num(lo)} to {num(hi)}{u}; threshold: the null "
                f"({m} {null:g}; minimally contextualised approach, GRADE 34: {why}); {n} "
                "participants; no optimal information size (it needs a minimally important "
                "difference and an SD)")
        if lo < null < hi:
            return 1, text + " (rule: CI includes the null -> −1)", (
                f"{span}, including no difference.")
        return 0, text + " (rule: CI excludes the null)", ""
    lower_better = result.better != "higher"
    t_benefit, t_harm = (-mid.mid, mid.mid) if lower_better else (mid.mid, -mid.mid)
    crosses = [name for name, t in (("important benefit", t_benefit),
                                    ("important harm", t_harm)) if lo < t < hi]
    ois = math.ceil(mean_difference_participants(mid.mid, sd, grade.alpha, grade.power) - 1e-9)
    sd_words = ("the plan's" if mid.sd is not None else "pooled from the control arms")
    text = (f"MD {result.spec.ci_label} {num(lo)} to {num(hi)}{u}; thresholds: a minimally "
            f"important difference of {mid.mid:g}{u} ({mid.source}; benefit {num(t_benefit)}, "
            f"harm {num(t_harm)}); {n} participants; OIS {ois} (MID {mid.mid:g}{u}, SD "
            f"{num(sd)} {sd_words}, α {grade.alpha:g}, power {grade.power:.0%})")
    if len(crosses) == 2:
        return 2, text + " (rule: CI crosses both thresholds -> −2)", (
            f"{span}, including both an important benefit and an important harm.")
    if crosses:
        return 1, text + f" (rule: CI crosses the threshold of {crosses[0]} -> −1)", (
            f"{span}, crossing the threshold of {crosses[0]} ({mid.mid:g}{u}).")
    if n < ois:
        return 1, text + " (rule: CI crosses no threshold, participants below the OIS -> −1)", (
            f"{n} participants, fewer than the optimal information size of {ois}.")
    return 0, text + " (rule: no threshold crossed, OIS met)", ""


def _per1000(x: float) -> str:
    return f"{abs(x):.0f} {'fewer' if x < 0 else 'more'}"


def _publication_bias(result: PoolResult) -> tuple[int, str, str]:
    if result.k < 10:
        return 0, (f"{result.k} trials: small-study effects cannot be assessed below 10 "
                   "(Cochrane Handbook 13.3.5.4); not rated down, undetected"), ""
    return 0, "10 or more trials: judge from the funnel plot and tests (not automated)", ""


def propose(outcome: str, result: PoolResult, rob: dict, grade, overrides: dict,
            endpoint: str = "death", sparse_note: str = "") -> Certainty:
    """The proposal for every domain, then the reviewers' overrides, then the level.
    ``rob``: {study id: overall judgement} of the assessments made for ``endpoint``.
    ``sparse_note``: the sparse-data table's disagreement (``render.text.sparse.
    grade_citation``), cited in the imprecision judgement."""
    down, rule, words, ois = _imprecision(result, grade, outcome)
    if sparse_note:
        rule += f"; {sparse_note}"
        if down:
            words = f"{words} Also, {sparse_note}."
    rules = {
        "risk_of_bias": _risk_of_bias(result, rob, endpoint),
        "inconsistency": _inconsistency(result, grade),
        "indirectness": (0, "no data-driven rule (reviewers judge)", ""),
        "imprecision": (down, rule, words),
        "publication_bias": _publication_bias(result),
    }
    mine = overrides.get(outcome, {})
    judged = []
    for domain in DOMAINS:
        proposed, rule, words = rules[domain]
        override = mine.get(domain)
        final = override.downgrade if override else proposed
        judged.append(DomainJudgement(domain, proposed, rule, final,
                                      override.reason if override else None, words))
    level = max(1, 4 - sum(d.final for d in judged))
    return Certainty(outcome, tuple(judged), level, ois, mine.get("comment"),
                     tuple(d for d in DOMAINS if d in mine))
