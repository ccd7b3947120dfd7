"""The report's words: table rows, the Summary of Findings row, the methods paragraphs,
the robustness sentences, the included-studies and reference entries. ``report/`` fits and
gathers; everything a reader reads is written here."""

from __future__ import annotations

import re

from metasynth import __version__
from metasynth.effects.measures import CONTINUOUS, is_ratio
from metasynth.models.results import PoolResult
from metasynth.models.sequential.information import absolute_effect
from metasynth.render.labels import (
    field_label,
    field_value,
    heading_case,
    mid_sentence,
    value_label,
)
from metasynth.render.numbers import (
    ci_text,
    interval,
    num,
    p_value,
    percent,
    power_of_ten,
    stat,
    superscripts,
)
from metasynth.render.text.methods import model_paragraph, name
from metasynth.render.text.robustness import subgroup_difference_line
from metasynth.render.text.sof import continuous_effect_text, control_mean_text, difference_text

METHOD_REFERENCES = [
    "DerSimonian R, Laird N. Meta-analysis in clinical trials. Control Clin Trials 1986;7:177-188.",
    "Viechtbauer W. Bias and efficiency of meta-analytic variance estimators in the random-effects "
    "model. J Educ Behav Stat 2005;30:261-293.",
    "Paule RC, Mandel J. Consensus values and weighting factors. J Res Natl Bur Stand 1982;87:377-385.",
    "Hartung J, Knapp G. A refined method for the meta-analysis of controlled clinical trials with "
    "binary outcome. Stat Med 2001;20:3875-3889.",
    "Röver C, Knapp G, Friede T. Hartung-Knapp-Sidik-Jonkman approach and its modification for "
    "random-effects meta-analysis with few studies. BMC Med Res Methodol 2015;15:99.",
    "Higgins JPT, Thompson SG, Spiegelhalter DJ. A re-evaluation of random-effects meta-analysis. "
    "J R Stat Soc A 2009;172:137-159.",
    "Higgins JPT, Thompson SG. Quantifying heterogeneity in a meta-analysis. Stat Med "
    "2002;21:1539-1558.",
    "Viechtbauer W. Confidence intervals for the amount of heterogeneity in meta-analysis. Stat Med "
    "2007;26:37-52.",
    "Greenland S, Robins JM. Estimation of a common effect parameter from sparse follow-up data. "
    "Biometrics 1985;41:55-68.",
    "Sterne JAC, Savović J, Page MJ, et al. RoB 2: a revised tool for assessing risk of bias in "
    "randomised trials. BMJ 2019;366:l4898.",
    "Guyatt GH, Oxman AD, Kunz R, et al. GRADE guidelines 6. Rating the quality of evidence: "
    "imprecision. J Clin Epidemiol 2011;64:1283-1293.",
    "Guyatt GH, Oxman AD, Kunz R, et al. GRADE guidelines 7. Rating the quality of evidence: "
    "inconsistency. J Clin Epidemiol 2011;64:1294-1302.",
    "Zeng L, Brignardello-Petersen R, Hultcrantz M, et al. GRADE Guidance 34: update on rating "
    "imprecision using a minimally contextualized approach. J Clin Epidemiol 2022;150:216-224.",
    "Zeng L, Brignardello-Petersen R, Hultcrantz M, et al. GRADE Guidance 35: update on rating "
    "imprecision for assessing contextualized certainty of evidence and making decisions. "
    "J Clin Epidemiol 2022;150:225-242.",
    "McGuinness LA, Higgins JPT. Risk-of-bias VISualization (robvis): an R package and Shiny web "
    "app for visualizing risk-of-bias assessments. Res Synth Methods 2021;12:55-61.",
    "Peters JL, Sutton AJ, Jones DR, Abrams KR, Rushton L. Contour-enhanced meta-analysis funnel "
    "plots help distinguish publication bias from other causes of asymmetry. J Clin Epidemiol "
    "2008;61:991-996.",
    "Higgins JPT, Thomas J, Chandler J, et al. (eds). Cochrane Handbook for Systematic Reviews of "
    "Interventions, version 6.4. Cochrane, 2023.",
    "Viechtbauer W. Conducting meta-analyses in R with the metafor package. J Stat Softw "
    "2010;36(3):1-48.",
    "Röver C. Bayesian random-effects meta-analysis using the bayesmeta R package. J Stat Softw "
    "2020;93(6):1-51.",
    "Turner RM, Jackson D, Wei Y, Thompson SG, Higgins JPT. Predictive distributions for "
    "between-study heterogeneity and simple methods for their application in Bayesian "
    "meta-analysis. Stat Med 2015;34:984-998.",
    "Wetterslev J, Thorlund K, Brok J, Gluud C. Trial sequential analysis may establish when firm "
    "evidence is reached in cumulative meta-analysis. J Clin Epidemiol 2008;61:64-75.",
    "Wetterslev J, Thorlund K, Brok J, Gluud C. Estimating required information size by "
    "quantifying diversity in random-effects model meta-analyses. BMC Med Res Methodol 2009;9:86.",
    "Lan KKG, DeMets DL. Discrete sequential boundaries for clinical trials. Biometrika "
    "1983;70:659-663.",
    "Jennison C, Turnbull BW. Group Sequential Methods with Applications to Clinical Trials. "
    "Chapman & Hall/CRC, 2000.",
]


def table_row(label: str, result: PoolResult | None, model: str = "random", why: str = "") -> dict:
    if result is None:
        return {"label": label, "k": 0, "effect": why or "no trials", "tau2": "", "I2": "", "p": ""}
    r = result.random if model == "random" else result.common
    h = result.heterogeneity
    ratio = is_ratio(result.measure)
    return {"label": label, "k": result.k,
            "effect": interval(r.estimate, r.ci_lower, r.ci_upper, is_ratio=ratio),
            "tau2": stat("tau2", h.tau2) if model == "random" and h.tau2 is not None else "",
            "I2": percent(h.I2) if h.I2 is not None else "", "p": p_value(r.p)}


def sof_row(result: PoolResult, certainty, p0: float | None, followup: str = "",
            counts_note: str = "") -> dict:
    """The Summary of Findings row (GRADEpro's columns) of one outcome; ``p0`` is the
    control-arm risk (``report.grade.control_risk``). ``footnotes``: (cell, text) pairs that
    ``sof_footnotes`` letters: every downgrade, and a capped absolute effect."""
    r = result.random if result.k > 1 else result.common
    n, trials = result.counts.participants, result.counts.trials
    ratio = is_ratio(result.measure)
    continuous = result.measure in CONTINUOUS
    relative = ("—" if continuous and result.measure != "ROM" else
                f"{result.measure} {ci_text(r.estimate, r.ci_lower, r.ci_upper, is_ratio=ratio)}")
    row = {"relative": relative,
           "participants": f"{n} ({trials} RCT{'s' if trials != 1 else ''})",
           "certainty": f"{certainty.symbols} {certainty.label}", "reasons": certainty.reasons(),
           "followup": followup, "footnotes": [], "marks": {}}
    row["footnotes"] += [("certainty", d.footnote) for d in certainty.domains if d.final]
    row["footnotes"] += [("certainty", f"Reviewers' judgement on {d.domain.replace('_', ' ')}: "
                          f"no downgrade ({d.override_reason})")
                         for d in certainty.domains
                         if d.override_reason and not d.final and d.proposed]
    comments = [c for c in (certainty.comment, counts_note) if c]
    row["comment"] = " ".join(c if c.endswith(".") else c + "." for c in comments)
    if p0 is not None and result.measure in ("RR", "OR") and r.estimate is not None:
        raw = [1000 * p0 * x for x in (r.estimate, r.ci_lower, r.ci_upper)]
        c = 1000 * p0
        e = [1000 * absolute_effect(p0, x, result.measure) for x in (r.estimate, r.ci_lower,
                                                                    r.ci_upper)]
        diff = [x - c for x in e]

        def words(d):
            return f"{abs(d):.0f} {'fewer' if d < 0 else 'more'}"
        row.update(control=f"{c:.0f} per 1000",
                   experimental=f"{e[0]:.0f} per 1000 ({e[1]:.0f} to {e[2]:.0f})",
                   difference=f"{words(diff[0])} per 1000 ({words(diff[1])} to {words(diff[2])})")
        if result.measure == "RR" and max(raw) > 1000:
            row["footnotes"].append(("experimental", (
                f"The control risk ({c:.0f} per 1000) times the {result.measure}'s upper limit "
                f"({num(r.ci_upper)}) exceeds 1000 per 1000 ({raw[2]:.0f}); the risk is capped "
                "at 1000 per 1000, so the upper limit of the absolute effect is a bound, not an "
                "estimate.")))
    elif continuous:
        # GRADEpro's continuous row: the comparator's mean, then the difference in words
        row.update(control=control_mean_text(result), experimental="",
                   difference=difference_text(result), effect_text=continuous_effect_text(result))
        if any(s.conversions for s in result.included):
            row["footnotes"].append(("difference", (
                "Means and SDs derived from medians and IQRs (methods and inputs in the "
                "appendix); trials report medians mostly for skewed data, where a mean and SD "
                "derived from them are approximate.")))
    else:
        row.update(control="", experimental="", difference="")
    return row


def heterogeneity_ci_line(result: PoolResult) -> str:
    """'Tau² = 0.007 (95% CI 0.000 to 1.234); I² = 12% (95% CI 0% to 89%); Q-profile
    intervals.' (the one precision of each statistic)."""
    h = result.heterogeneity
    return (f"Tau² = {stat('tau2', h.tau2)} (95% CI {stat('tau2', h.tau2_ci_lower)} to "
            f"{stat('tau2', h.tau2_ci_upper)}); I² = {percent(h.I2)} (95% CI "
            f"{percent(h.I2_ci_lower)} to {percent(h.I2_ci_upper)}); Q-profile intervals.")


def sof_footnotes(rows: list[dict]) -> list[tuple[str, str]]:
    """Letter the footnotes of the Summary of Findings rows as GRADEpro does (a, b, c ...,
    in table order; one letter for one text); sets each row's ``marks``: {cell: "a,b"}."""
    letters: dict[str, str] = {}
    for row in rows:
        marks: dict[str, list[str]] = {}
        for cell, text in row.get("footnotes", []):
            if text not in letters:
                letters[text] = _letter(len(letters))
            marks.setdefault(cell, []).append(letters[text])
        row["marks"] = {cell: ",".join(v) for cell, v in marks.items()}
    return [(letter, text) for text, letter in letters.items()]


def _letter(i: int) -> str:
    return chr(ord("a") + i) if i < 26 else _letter(i // 26 - 1) + chr(ord("a") + i % 26)


def followup_text(days: list[int]) -> str:
    """'28 days', '28 to 30 days' (the timepoints the trials of an outcome report)."""
    if not days:
        return ""
    lo, hi = min(days), max(days)
    return f"{lo} days" if lo == hi else f"{lo} to {hi} days"


def sof_header(plan, countries: list[str]) -> list[tuple[str, str]]:
    """GRADEpro's PICO header: patient or population, setting, intervention, comparison."""
    g = plan.grade
    population = g.population or ("Adults with COVID-19 acute respiratory distress syndrome "
                                  "or severe respiratory failure")
    setting = g.setting or ("Hospitals (randomized trials in " + ", ".join(countries) + ")"
                            if countries else "Hospitals")
    return [("Patient or population", population), ("Setting", setting),
            ("Intervention", plan.experimental), ("Comparison", plan.control)]


ABBREVIATIONS = {"CI": "confidence interval", "RR": "risk ratio", "OR": "odds ratio",
                 "RD": "risk difference", "MD": "mean difference",
                 "SMD": "standardized mean difference", "SD": "standard deviation",
                 "IQR": "interquartile range", "RCT": "randomized controlled trial",
                 "OIS": "optimal information size", "MSC": "mesenchymal stromal cells",
                 "RoB 2": "Cochrane risk-of-bias tool for randomized trials, version 2",
                 "GRADE": "Grading of Recommendations Assessment, Development and Evaluation",
                 "HKSJ": "Hartung-Knapp-Sidik-Jonkman", "REML": "restricted maximum likelihood"}


def abbreviations(used: str) -> str:
    """'CI: confidence interval; RR: risk ratio; ...' for the abbreviations in ``used``."""
    return "; ".join(f"{k}: {v}" for k, v in ABBREVIATIONS.items()
                     if re.search(rf"(?<![A-Za-z]){re.escape(k)}(?![A-Za-z])", used)) + "."


def continuous_imprecision(plan, label=str) -> str:
    """How imprecision is rated for continuous outcomes, one sentence for the methods and
    the Summary of Findings' note; ``label``: outcome id -> its words."""
    g = plan.grade
    if not g.mids:
        return ("Continuous outcomes: the CI of the mean difference against no difference "
                "(the minimally contextualised approach of GRADE 34), as the plan sets no "
                "minimally important difference; no optimal information size.")
    set_ = "; ".join(f"{label(o)}: {m.mid:g} ({m.source})" for o, m in g.mids.items())
    return ("Continuous outcomes: the CI of the mean difference against the minimally "
            f"important difference the plan sets ({set_}), in both directions, then the "
            "optimal information size for it (GRADE 6; the SD the plan gives, else the pooled "
            "SD of the control arms); any other continuous outcome against no difference.")


def grade_sof_note(plan, certainties: list, label=str) -> str:
    """How GRADE was proposed, for the note under the Summary of Findings; ``label``:
    outcome id -> its words."""
    g = plan.grade
    custom = "; ".join(f"{label(o)}: {t.benefit_per_1000:g} and {t.harm_per_1000:g}"
                       for o, t in g.thresholds.items())
    return (f"Imprecision is rated on the absolute effect: thresholds of an important benefit "
            f"{g.benefit_per_1000:g} and harm {g.harm_per_1000:g} per 1000 (GRADE 34/35)"
            + (f" ({custom})" if custom else "")
            + f", then the optimal information size for a "
            f"{100 * g.relative_risk_reduction:.0f}% relative risk reduction (α {g.alpha:g}, power "
            f"{g.power:.0%}). {continuous_imprecision(plan, label)} Inconsistency by GRADE "
            "guidance 7 (point estimates, overlap of CIs, Q and I²).")


def information_comparison(grade_ois, tsa_info, outcome_label: str) -> str:
    """GRADE's optimal information size beside the TSA's required information size: one
    calculation, and why the numbers differ."""
    g, t = grade_ois, tsa_info
    same = (abs(g.control_risk - t.control_risk) < 1e-9
            and abs(g.relative_risk_reduction - t.relative_risk_reduction) < 1e-9
            and abs(g.power - t.power) < 1e-9 and g.alpha == t.alpha and t.diversity < 0.005)
    text = (f"Information size for {outcome_label.lower()}, one calculation for both sections: "
            f"GRADE's optimal information size is {g.participants} participants (control risk "
            f"{100 * g.control_risk:.1f}%, {g.control_risk_source} in the control arms; relative "
            f"risk reduction {100 * g.relative_risk_reduction:.1f}%; α {g.alpha:g}; power "
            f"{g.power:.0%}); the trial sequential analysis requires {t.participants} "
            f"(control risk {100 * t.control_risk:.1f}%, stated in the plan; relative risk "
            f"reduction {100 * t.relative_risk_reduction:.1f}%; α {t.alpha:g}; power "
            f"{t.power:.0%}; diversity D² {100 * t.diversity:.1f}%).")
    if same:
        return text + " The assumptions are the same."
    why = []
    if abs(g.relative_risk_reduction - t.relative_risk_reduction) > 1e-9:
        why.append("GRADE asks whether the evidence could detect a modest effect "
                   f"(RRR {100 * g.relative_risk_reduction:.0f}%, the plan's grade section), "
                   "the TSA whether it has reached the effect the founding trial was designed "
                   f"to detect (RRR {100 * t.relative_risk_reduction:.1f}%): a larger "
                   "anticipated effect needs fewer participants")
    if abs(g.control_risk - t.control_risk) > 1e-9:
        why.append("GRADE takes the control risk observed in the trials, the TSA the one "
                   "anticipated at design")
    if abs(g.power - t.power) > 1e-9:
        why.append(f"the TSA plans for {t.power:.0%} power, GRADE's convention is "
                   f"{g.power:.0%}")
    if t.diversity >= 0.005:  # shown as a whole percentage: below 0.5% it reads 0%
        why.append("the TSA inflates its size for the heterogeneity between trials (D²)")
    return text + " They differ because " + "; ".join(why) + "."


def methods_text(plan, spec, priors: tuple[str, list[str]] | None = None,
                 windows: list | None = None, justification: str = "",
                 label=str) -> list[str]:
    """The methods section, from the resolved spec and the option table's words;
    ``priors``: the main tau prior described and the sensitivity priors described;
    ``windows``: (label, first day, last day, rationale) of each mortality outcome;
    ``justification``: the sentence on why the model was chosen (the plan's
    ``justification: simulation``, in the words of ``render.text.simulate``);
    ``label``: outcome id -> its words."""
    sens = "; ".join(mid_sentence(s.label) for s in plan.sensitivity) or "none"
    subs = ", ".join(field_label(s).lower() for s in plan.subgroups) or "none"
    timepoints = [f"{label}: day {lo} to {hi}." + (f" {why}" if why else "")
                  for label, lo, hi, why in (windows or [])]
    return [
        model_paragraph(spec) + (f" {justification}" if justification else ""),
        *([f"Timepoints (prespecified windows, Cochrane Handbook 6.2). {' '.join(timepoints)}"]
          if timepoints else []),
        "Heterogeneity: Cochran's Q, I² computed from tau² (Higgins & Thompson 2002), tau², and "
        "Q-profile confidence intervals for tau² and I² (Viechtbauer 2007). With fewer than five "
        "trials the report says in words how little tau² and I² can be estimated.",
        "Counting: every trial with data for an outcome is in its analysis (as RevMan): a trial "
        "without events in either arm is shown as not estimable and footnoted; its participants "
        "are counted in the Summary of Findings, GRADE, the Bayesian analysis and the trial "
        "sequential analysis alike, and each section says how many trials enter the estimate.",
        f"Subgroup analyses ({subs}): each subgroup pooled with its own tau²; test for subgroup "
        "differences by Cochran's Q between subgroup estimates (RevMan); study weights are shares "
        f"of the whole analysis. Sensitivity analyses: {sens}.",
        "Risk of bias: RoB 2 (Sterne et al. 2019), five domains and overall, assessed per "
        "outcome: each forest plot, risk-of-bias figure and GRADE rating uses the assessments "
        "made for its own outcome, and a trial without one is shown as not assessed. Figures "
        "use robvis's symbols and colours (McGuinness & Higgins 2021). "
        "Certainty of evidence: GRADE, proposed from the data by the rules shown with each "
        "outcome: inconsistency by GRADE guidance 7 (point estimates, overlap of confidence "
        "intervals, Q test, I² and its CI); imprecision by GRADE guidance 34 and 35 on the "
        f"absolute effect, with thresholds of an important benefit of "
        f"{plan.grade.benefit_per_1000:g} and harm of {plan.grade.harm_per_1000:g} per 1000, "
        "then the optimal information size for a "
        f"{100 * plan.grade.relative_risk_reduction:.0f}% relative risk reduction (α "
        f"{plan.grade.alpha:g}, power {plan.grade.power:.0%}). "
        f"{continuous_imprecision(plan, label)} Then the reviewers' judgements in "
        "studies/grade.yaml, each shown with its reason.",
        *beyond_methods(plan, spec, priors),
        f"Software: metasynth {__version__}; every estimator is checked against R metafor 3.8.1 "
        "(Viechtbauer 2010) by the test suite.",
    ]


def beyond_methods(plan, spec, priors: tuple[str, list[str]] | None) -> list[str]:
    out = []
    if plan.bayes is not None and priors is not None:
        prior = priors[0]
        others = "; ".join(priors[1]) or "none"
        mu = ("a flat prior" if spec.mu_prior_sd is None
              else f"a normal(0, {spec.mu_prior_sd:g}²) prior")
        out.append("Bayesian random-effects meta-analysis: the normal-normal hierarchical model "
                   "on the log risk ratio, computed by numerical integration (Röver 2020), with "
                   f"{mu} on the pooled effect and a {prior} (sensitivity priors: {others}, "
                   "Turner et al. 2015). Posterior medians with 95% central credible intervals, "
                   "the prediction for a new trial, and posterior probabilities of benefit.")
    if plan.tsa is not None:
        out.append("Trial sequential analysis (Wetterslev et al. 2008): the cumulative "
                   "DerSimonian-Laird Z-curve in order of publication, monitored with Lan-DeMets "
                   "O'Brien-Fleming alpha-spending boundaries for benefit and harm and "
                   "beta-spending futility boundaries (Lan & DeMets 1983; Jennison & Turnbull "
                   "2000), against the diversity-adjusted required information size (Wetterslev "
                   "et al. 2009).")
    return out


def robustness_sentences(rob) -> list[str]:
    """Leave-one-out range, influential trials, permutation test, small-study test, in words."""
    out = []
    if rob.leave_one_out is not None:
        ests = [(r.estimate, r.label) for r in rob.leave_one_out.rows if r.estimate is not None]
        lo, hi = min(ests), max(ests)
        out.append(f"Leaving out one trial at a time, the pooled {rob.measure} ranges from "
                   f"{lo[0]:.2f} (without {lo[1]}) to {hi[0]:.2f} (without {hi[1]}).")
        out.append("Influential trials by metafor's criteria (Viechtbauer & Cheung 2010): "
                   + (", ".join(rob.influential) if rob.influential else "none") + ".")
        out.append(f"Permutation test of the pooled effect: p = {rob.permutation.p:.3f} "
                   f"({rob.permutation.note}).")
    else:
        out.append("With fewer than 3 trials, leave-one-out, influence and permutation "
                   "analyses are not informative and are not shown.")
    if rob.egger is not None:
        out.append(f"Egger's regression test: p = {rob.egger.p:.3f} ({rob.egger.k} trials).")
    else:
        out.append(f"Small-study effects were not tested: {rob.egger_not_run}.")
    return out


def matrix_label(changes: dict) -> str:
    if "common_method" in changes:
        return f"Common effect, {name('common_method', changes['common_method'])}"
    return f"{changes['tau2']}, {name('ci', changes['ci'])}"


def subgroup_table(res) -> dict:
    """A subgroup analysis as a table of the report: a row per subgroup and RevMan's test."""
    head = field_label(res.by)
    rows = [table_row(field_value(res.by, g, True), r) for g, r in res.groups]
    rows += [table_row(field_value(res.by, g, True), None, why=why) for g, why in res.not_pooled]
    return {"by": head, "rows": rows, "test": subgroup_difference_line(res.test)}


def matrix_cell(result, model: str, error: str | None = None) -> str:
    if result is None:
        return f"not estimable ({error})"
    r = result.common if model == "common" else result.random
    return (f"{interval(r.estimate, r.ci_lower, r.ci_upper, is_ratio=is_ratio(result.measure))} "
            f"(k={result.k})")


EXTRACTION_NOTE = re.compile(r"not read|not seen|session|not retriev", re.I)


def dose_text(iv) -> str:
    """The dose in a reader's words: cells per kg as a power of ten when the trial states it
    per kg, else the published dose without the extraction notes in its parentheses."""
    if iv.dose_per_kg:
        return f"{power_of_ten(iv.dose_per_kg)} cells/kg per infusion"
    text = iv.dose
    if EXTRACTION_NOTE.search(text.split(" (")[0]):
        return "dose not recorded"
    return superscripts(text.split(" (")[0].strip())


def rob_cell(study, endpoints: list[tuple[str, str]]) -> str:
    """'All-cause death: some concerns; other outcomes: not assessed' (each endpoint of the
    plan's outcomes with its own assessment; RoB 2 is outcome-specific)."""
    parts = [f"{label}: {value_label(rob.overall.judgement)}" for eid, label in endpoints
             if (rob := study.rob_for(eid)) is not None]
    if not parts:
        return "not assessed"
    if len(parts) < len(endpoints):
        parts.append("other outcomes: not assessed")
    return "; ".join(parts)


def extraction_cell(study, endpoints: list[tuple[str, str]]) -> str:
    """Which numbers were read in the trial's own publication, which only in a secondary
    source and which were derived: 'Read in the trial's own publication: arm sizes;
    all-cause death (day 28). Read only in a secondary source: ...' (statuses from the
    records' provenance, ``Study.extraction_status``)."""
    names = dict(endpoints)
    groups: dict[str, list[str]] = {}
    arms = study.extraction_status([p for a in study.arms for p in a.provenance])
    if any(a.randomized is not None or a.analysed is not None for a in study.arms):
        groups.setdefault(str(arms), []).append("arm sizes")
    by_endpoint: dict[tuple[str, str], list[int]] = {}
    for o in study.outcomes:
        key = (str(study.extraction_status(o.provenance)), o.endpoint)
        by_endpoint.setdefault(key, []).append(o.timepoint_days)
    for (status, endpoint), days in by_endpoint.items():
        name = names.get(endpoint) or value_label(endpoint)
        if name[1:2].islower():  # 'All-cause death' -> 'all-cause death'; 'ARDS ...' stays
            name = name[0].lower() + name[1:]
        groups.setdefault(status, []).append(
            f"{name} (day {', '.join(str(d) for d in sorted(days))})")
    order = ["primary", "derived", "secondary", "None"]
    return " ".join(f"{field_value('extraction', s).capitalize()}: {'; '.join(groups[s])}."
                    for s in order if s in groups) or "no numbers extracted"


def evidence_status(study) -> str:
    """'AI-assisted extraction (metasynth helpers), 2026-11-26; not yet verified' (the
    record's own words)."""
    info = study.record
    if info is None:
        return "extraction not documented; not verified"
    text = f"{info.extracted_by}, {info.extracted_on}"
    if info.verified:
        return f"Verified by {info.verified_by}, {info.verified_on} ({text})"
    return f"Not yet verified against the full text ({text})"


_JOURNAL_YEAR = re.compile(r"\b([A-Z][\w()]*(?: [A-Z(][\w()]*)*) (\d{4})\b")


def short_citation(source) -> str:
    """A source as a reader can find it in the appendix: its journal and year ("Crit Care
    2023", "Glob Health Res Policy 2022") where the citation has them, else the citation."""
    m = _JOURNAL_YEAR.search(source.citation)
    return f"{m.group(1)} {m.group(2)}" if m else source.citation


def source_words(text: str, study) -> str:
    """A record's description with its source ids ("per secondary source review_cc")
    written as the sources' short citations: the ids are the record's own keys. Only
    ids written as code (with "_" or "-") are replaced: "main" is also a word."""
    for source in study.sources:
        if source.id in text and ("_" in source.id or "-" in source.id):
            text = re.sub(rf"(?<![\w-]){re.escape(source.id)}(?![\w-])",
                          short_citation(source), text)
    return text


def included_row(study, label: str, endpoints: list[tuple[str, str]]) -> dict:
    """One row of the Included studies table (a reader's words; the extraction notes stay
    in the records and the appendix)."""
    deaths = sorted(o.timepoint_days for o in study.outcomes if o.endpoint == "death")
    n = sum(a.randomized or 0 for a in study.arms)
    iv, d, pop = study.intervention, study.design, study.population
    infusions = f"; {iv.infusions} infusion{'s' if iv.infusions != 1 else ''}" if iv.infusions else ""
    return {"label": label,
            "design": "; ".join([field_value("randomization", d.randomization),
                                 field_value("blinding", d.blinding),
                                 ", ".join(d.countries)]),
            "population": source_words(
                f"{superscripts(pop.condition)}; "
                f"{field_value('ventilation_at_baseline', pop.ventilation_at_baseline)}", study),
            "intervention": source_words(
                f"{iv.product}; {field_value('product_type', iv.product_type)}; "
                f"{field_value('tissue_source', iv.tissue_source)}; "
                f"{dose_text(iv)}{infusions}", study),
            "control": source_words(iv.comparator, study),
            "followup": ", ".join(f"day {d}" for d in deaths) or "no mortality data",
            "n": str(n) if n else "not reported", "rob": rob_cell(study, endpoints),
            "extraction": extraction_cell(study, endpoints),
            "status": evidence_status(study),
            "verified": bool(study.record and study.record.verified)}


def draft_notice(unverified: list[str], pooled: int) -> str:
    """The DRAFT mark's words: which pooled records are unverified."""
    return (f"DRAFT: {len(unverified)} of the {pooled} trial records pooled in this report "
            "are AI-assisted extractions not yet verified against the full text: "
            + ", ".join(unverified) + ". Do not use this report for decisions until every "
            "pooled record is verified.")


def not_contributing_rows(labels: list[str], excluded) -> list[dict]:
    """Trials with a record but no usable outcome, then the screened-out trials."""
    rows = [{"label": lab, "reason": "reports none of the plan's outcomes with usable counts "
                                     "(see the record's notes)"} for lab in labels]
    return rows + [{"label": e.study, "reason": f"{e.reason} ({e.reference})"} for e in excluded]


def reference_entry(study, label: str) -> dict:
    c = study.citation
    vol = f";{c.volume}" if c.volume else ""
    vol += f"({c.issue})" if c.issue else ""
    vol += f":{c.pages}" if c.pages else ""
    return {"label": label, "text": f"{c.first_author} et al. {c.title}. {c.journal} {c.year}{vol}.",
            "doi": c.doi}


CONVERSION_NAMES = {"luo": "Luo et al. 2018", "wan": "Wan et al. 2014", "shi": "Shi et al. 2020",
                    "qe": "quantile estimation (McGrath et al. 2020)"}


def conversion_rows(result: PoolResult, experimental: str, control: str) -> list[dict]:
    """One row per arm whose mean and SD were derived from a median (the report's list of
    conversions): study, arm, the published inputs, the method of the mean and of the SD,
    the result, and the warnings (the skewness check, a Wan table size used for another n)."""
    rows = []
    for s in result.studies:
        for c in s.conversions or ():
            i = c["inputs"]
            spread = []
            if "q1" in i:
                spread.append(f"IQR {i['q1']:g} to {i['q3']:g}")
            if "min" in i:
                spread.append(f"range {i['min']:g} to {i['max']:g}")
            inputs = f"median {i['median']:g}, {', '.join(spread)}, n = {c['n']}"
            method = "; ".join(f"{'SD' if k == 'sd' else k} by {CONVERSION_NAMES.get(v, v)}"
                               for k, v in c["method"].items())
            rows.append({"study": s.label,
                         "arm": experimental if c["arm"] == "treatment" else control,
                         "inputs": inputs, "method": method,
                         "result": f"mean {num(c['mean'])}, SD {num(c['sd'])}",
                         "warnings": " ".join(w if w.endswith(".") else w + "."
                                              for w in c["warnings"])})
    return rows


def not_pooled_text(result: PoolResult) -> str:
    """Why a continuous outcome with one trial is not pooled, with that trial's estimate."""
    s = result.included[0]
    unit = result.effects.table.units if result.effects is not None else None
    u = f" {unit}" if unit and result.measure == "MD" else ""
    own = ci_text(s.estimate, s.ci_lower, s.ci_upper, is_ratio=is_ratio(result.measure))
    return (f"Not pooled: only one trial ({s.label}, {result.counts.participants} "
            f"participants) reports this outcome, and a meta-analysis needs at least two. "
            f"Its own estimate: {result.measure} {own}{u}"
            f"{' from means and SDs derived from medians' if s.conversions else ''}.")


def beyond_pooling_text(result: PoolResult, plan) -> str:
    """Why the Bayesian and sequential analyses are not shown for a continuous outcome."""
    asked = list(plan.bayes.outcomes) if plan.bayes is not None else []
    parts = [] if result.outcome in asked else [
        "The Bayesian meta-analysis is not run for this outcome: the plan asks it "
        + (f"for {', '.join(asked)} only" if asked else "for no outcome")
        + ", and its priors for tau are set for the log risk-ratio scale, not for a mean "
        "difference in the outcome's units"]
    parts.append("trial sequential analysis is not run: it is implemented for risk ratios "
                 "(its information size counts events), and defining it for a mean "
                 "difference needs a minimally important difference and an SD the plan does "
                 "not give")
    return heading_case("; ".join(parts)) + "."
