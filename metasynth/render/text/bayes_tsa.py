"""Text for the Bayesian meta-analysis and the trial sequential analysis: the CLI's tables
and the plain-language sentences the report uses."""

from __future__ import annotations

import math

from metasynth.effects.binary import back_transform
from metasynth.effects.measures import is_ratio
from metasynth.models.bayes.normal_normal import BayesResult
from metasynth.models.results import text_renderer
from metasynth.models.sequential.tsa import TSAResult


def trials_line(counts) -> str:
    """'549 participants in 7 trials (1 trial without events in either arm is not
    estimable: 449 participants in 6 trials enter the estimate)' — the one count."""
    text = (f"{counts.participants} participants in {counts.trials} "
            f"trial{'s' if counts.trials != 1 else ''}")
    if counts.not_estimable:
        text += (f" ({counts.not_estimable} not estimable: {counts.participants_estimable} "
                 f"participants in {counts.trials_estimable} trials enter the estimate)")
    return text


@text_renderer(BayesResult)
def bayes_table(result, outcome: str = "") -> str:
    measure = result.spec.measure
    f = back_transform(measure)
    ratio = is_ratio(measure)
    lines = ["Bayesian random-effects meta-analysis (normal-normal hierarchical model, "
             "numerical integration; Röver 2020)",
             f"Outcome: {outcome or result.spec.outcome}; {trials_line(result.counts)}; "
             f"analysis scale: {'log ' if ratio else ''}{measure}",
             f"Prior for tau: {result.tau_prior}",
             f"Prior for the pooled {'log ' if ratio else ''}{measure}: {result.mu_prior}", "",
             f"{'':<26}{'median':>8}  {'95% CrI (central)':<20}{'95% CrI (shortest)':<20}"]

    def row(name, s, g):
        return (f"{name:<26}{g(s.median):>8.3f}  [{g(s.central_lower):.3f}, "
                f"{g(s.central_upper):.3f}]".ljust(56)
                + f"[{g(s.lower):.3f}, {g(s.upper):.3f}]")

    lines.append(row(f"{measure} (pooled)", result.mu, f))
    lines.append(row(f"{measure} (new trial)", result.theta_new, f))
    lines.append(row("tau", result.tau, lambda v: v))
    lines.append("")
    for name, p in result.probabilities.items():
        lines.append(f"{name:<14} = {p:6.1%}")
    lines += ["", "Shrunken trial estimates (posterior median, 95% central CrI) beside the "
              "trial's own estimate:"]
    w = max(len(lab) for lab in result.labels) + 2
    for lab, y, se, s in zip(result.labels, result.y, result.se, result.shrinkage):
        lines.append(f"  {lab:<{w}}{f(s.median):>7.3f} [{f(s.central_lower):.3f}, "
                     f"{f(s.central_upper):.3f}]   own {f(y):.3f} [{f(y - 1.959964 * se):.3f}, "
                     f"{f(y + 1.959964 * se):.3f}]")
    if result.k < 5:
        lines += ["", f"! only {result.k} trials: the posterior of tau, and so the width of "
                  "every interval, leans on the prior; compare the prior sensitivity analyses."]
    return "\n".join(lines) + "\n"


def bayes_sentences(result, outcome: str) -> list[str]:
    """Plain-language statements of the posterior probabilities of benefit."""
    measure, experimental = result.spec.measure, result.spec.experimental
    f = back_transform(measure)
    out = [f"Given the trials and the prior, the pooled {measure} is most probably about "
           f"{f(result.mu.median):.2f}, with 95% probability between "
           f"{f(result.mu.central_lower):.2f} and {f(result.mu.central_upper):.2f}."]
    for name, p in result.probabilities.items():
        t = float(name.split("<")[1].rstrip(") "))
        if is_ratio(measure) and t < 1:
            out.append(f"The probability that treatment with {experimental} reduces {outcome} by at least "
                       f"{1 - t:.0%} ({measure} below {t:g}) is {p:.0%}.")
        elif is_ratio(measure) and t == 1:
            out.append(f"The probability that treatment with {experimental} reduces {outcome} at all "
                       f"({measure} below 1) is {p:.0%}.")
        else:
            out.append(f"{name} = {p:.0%}.")
    out.append(f"A new trial would most probably find a {measure} between "
               f"{f(result.theta_new.central_lower):.2f} and "
               f"{f(result.theta_new.central_upper):.2f} (95% prediction).")
    return out


@text_renderer(TSAResult)
def tsa_table(result, outcome: str = "") -> str:
    r, p = result, result.plan
    lines = ["Trial sequential analysis (Wetterslev et al. 2008; Lan-DeMets O'Brien-Fleming "
             "boundaries)",
             f"Outcome: {outcome or result.spec.outcome}; {trials_line(result.counts)}",
             "Z-curve: cumulative DerSimonian-Laird random-effects test, Z > 0 favours the "
             "experimental arm",
             f"Anticipated: control risk {p.control_risk:.1%}, relative risk reduction "
             f"{p.relative_risk_reduction:.1%} (experimental risk {p.intervention_risk:.1%}); "
             f"alpha {p.alpha:.0%} two-sided, power {1 - p.beta:.0%}",
             f"Required information size {r.ris:.1f} participants; diversity D² = {r.d2:.1%} "
             f"({'stated' if p.d2 is not None else 'observed'}); diversity-adjusted "
             f"{r.daris:.1f} (rounded up: {math.ceil(r.daris)})",
             "",
             f"{'trial':<18}{'year':>5}{'N (cum.)':>10}{'info':>8}{'Z':>8}{'boundary':>10}"
             + (f"{'futility':>10}" if p.futility else "")]
    for j, lab in enumerate(r.labels):
        fut = (f"{r.futility[j]:>10.3f}" if r.futility[j] > 0.005 else f"{'-':>10}") \
            if p.futility else ""
        yr = r.years[j] if r.years[j] is not None else "-"
        lines.append(f"{lab[:17]:<18}{yr!s:>5}{r.participants[j]:>10d}"
                     f"{r.information_fraction[j]:>8.1%}{r.z[j]:>8.3f}"
                     f"{min(r.efficacy[j], 99):>10.3f}{fut}")
    lines += ["", *tsa_sentences(r), "",
              f"Pooled RR {r.rr:.3f}, 95% CI {r.rr_ci[0]:.3f} to {r.rr_ci[1]:.3f}; "
              f"TSA-adjusted CI {r.rr_tsa_ci[0]:.3f} to {r.rr_tsa_ci[1]:.3f}",
              f"(Sequential inflation factor of the design: {r.inflation:.3f}.)"]
    return "\n".join(lines) + "\n"


def tsa_sentences(result) -> list[str]:
    r, p, n = result, result.plan, result.counts
    rrr = f"{p.relative_risk_reduction:.1%}"
    out = [f"The outcome has {trials_line(n)}. The accrued information is "
           f"{r.participants[-1]} participants, {r.fraction_reached:.0%} of the "
           f"{math.ceil(r.daris)} required to detect or reject a {rrr} relative risk reduction"
           + (" (trials without events in either arm carry no information)."
              if n.not_estimable else ".")]
    if r.crossed == "benefit":
        out.append(f"The Z-curve crossed the monitoring boundary for benefit at {r.crossed_at}: "
                   "firm evidence of benefit, with the type I error controlled for repeated "
                   "testing.")
    elif r.crossed == "harm":
        out.append(f"The Z-curve crossed the monitoring boundary for harm at {r.crossed_at}.")
    elif r.crossed == "futility":
        out.append(f"The Z-curve entered the futility area at {r.crossed_at} without crossing "
                   f"a boundary for benefit or harm: a {rrr} relative risk reduction can be "
                   "rejected; smaller effects cannot.")
    else:
        out.append("The Z-curve has crossed no boundary (benefit, harm or futility): the "
                   "evidence is not yet conclusive and further trials are needed.")
    if r.crossed not in ("benefit", "harm"):
        naive = [lab for lab, z in zip(r.labels, r.z) if abs(z) >= 1.959964]
        if naive:
            out.append("The Z-curve crossed the conventional |Z| = 1.96 line (a naive P < 0.05) "
                       f"at {_join(naive)} but not the monitoring boundary: under repeated "
                       "testing that result was not conclusive.")
    return out


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def prior_row(r, main: bool) -> dict:
    """One row of the report's prior-sensitivity table."""
    f = back_transform(r.spec.measure)
    return {"prior": r.tau_prior + (" (main)" if main else ""),
            "effect": f"{f(r.mu.median):.2f} [{f(r.mu.central_lower):.2f}, "
                      f"{f(r.mu.central_upper):.2f}]",
            "prediction": f"{f(r.theta_new.central_lower):.2f} to "
                          f"{f(r.theta_new.central_upper):.2f}",
            "probabilities": [f"{p:.0%}" for p in r.probabilities.values()],
            "tau": f"{r.tau.median:.2f} [{r.tau.central_lower:.2f}, {r.tau.central_upper:.2f}]"}


def tsa_assumptions(r, outcome_label: str, rationale: str | None = None) -> str:
    """The TSA's anticipated effect, error rates and information sizes in one paragraph."""
    p = r.plan
    return (f"Anticipated effect: {outcome_label.lower()} from {p.control_risk:.0%} with control "
            f"to {p.intervention_risk:.0%} with {r.spec.experimental} (relative risk reduction "
            f"{p.relative_risk_reduction:.1%}); two-sided alpha {p.alpha:.0%}, power "
            f"{1 - p.beta:.0%}; diversity D² {r.d2:.0%} "
            f"({'stated' if p.d2 is not None else 'observed'}). Required information size "
            f"{math.ceil(r.ris)} participants, diversity-adjusted {math.ceil(r.daris)}."
            + (f" Rationale: {rationale}" if rationale else ""))


def tsa_rows(r) -> list[dict]:
    """The report's TSA table: a row per look."""
    futility = r.futility or (0.0,) * len(r.labels)
    return [{"label": lab, "n": n, "info": f"{t:.0%}", "z": f"{z:.2f}",
             "boundary": f"±{b:.2f}" if b < 8 else "beyond ±8",
             "futility": f"±{a:.2f}" if r.plan.futility and a > 0.005 else "–"}
            for lab, n, t, z, b, a in zip(r.labels, r.participants, r.information_fraction,
                                          r.z, r.efficacy, futility)]


def tsa_adjusted(r) -> str:
    return (f"Pooled RR (DerSimonian-Laird) {r.rr:.2f}, 95% CI {r.rr_ci[0]:.2f} to "
            f"{r.rr_ci[1]:.2f}; TSA-adjusted 95% CI {r.rr_tsa_ci[0]:.2f} to "
            f"{r.rr_tsa_ci[1]:.2f}.")
