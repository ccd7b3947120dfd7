"""The report's words: table rows, the Summary of Findings row, the methods paragraphs,
the robustness sentences, the included-studies and reference entries. ``report/`` fits and
gathers; everything a reader reads is written here."""

from __future__ import annotations

from metasynth import __version__
from metasynth.models.results import PoolResult
from metasynth.render.labels import field_label, value_label
from metasynth.render.numbers import interval, num, p_value, percent
from metasynth.render.text.methods import model_paragraph, name
from metasynth.render.text.robustness import subgroup_difference_line

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
    return {"label": label, "k": result.k, "effect": interval(r.estimate, r.ci_lower, r.ci_upper),
            "tau2": num(h.tau2, 3) if model == "random" and h.tau2 is not None else "",
            "I2": percent(h.I2) if h.I2 is not None else "", "p": p_value(r.p)}


def sof_row(result: PoolResult, certainty, p0: float | None) -> dict:
    """The Summary of Findings row (GRADEpro's columns) of one outcome; ``p0`` is the
    control-arm risk (``report.grade.control_risk``)."""
    r = result.random
    n, trials = result.counts.participants, result.counts.trials
    row = {"relative": f"{result.measure} {interval(r.estimate, r.ci_lower, r.ci_upper)}",
           "participants": f"{n} ({trials} RCT{'s' if trials != 1 else ''})",
           "certainty": f"{certainty.symbols} {certainty.label}", "reasons": certainty.reasons()}
    if p0 is not None and result.measure in ("RR", "OR") and r.estimate is not None:
        def risk(rr):  # intervention risk from the control risk and RR (or OR)
            if result.measure == "RR":
                return min(1.0, p0 * rr)
            odds = p0 / (1 - p0) * rr
            return odds / (1 + odds)
        c, e = 1000 * p0, [1000 * risk(x) for x in (r.estimate, r.ci_lower, r.ci_upper)]
        diff = [x - c for x in e]

        def words(d):
            return f"{abs(d):.0f} {'fewer' if d < 0 else 'more'}"
        row.update(control=f"{c:.0f} per 1000",
                   experimental=f"{e[0]:.0f} per 1000 ({e[1]:.0f} to {e[2]:.0f})",
                   difference=f"{words(diff[0])} per 1000 ({words(diff[1])} to {words(diff[2])})")
    else:
        row.update(control="", experimental="", difference="")
    return row


def methods_text(plan, spec, priors: tuple[str, list[str]] | None = None,
                 windows: list | None = None) -> list[str]:
    """The methods section, from the resolved spec and the option table's words;
    ``priors``: the main tau prior described and the sensitivity priors described;
    ``windows``: (label, first day, last day, rationale) of each mortality outcome."""
    sens = "; ".join(s.label.lower() for s in plan.sensitivity) or "none"
    subs = ", ".join(field_label(s).lower() for s in plan.subgroups) or "none"
    timepoints = [f"{label}: day {lo} to {hi}." + (f" {why}" if why else "")
                  for label, lo, hi, why in (windows or [])]
    return [
        model_paragraph(spec),
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
        "Risk of bias: RoB 2 for all-cause mortality (Sterne et al. 2019), five domains and overall. "
        "Certainty of evidence: GRADE, proposed from the data by the rules shown with each outcome "
        f"(optimal information size for a {100 * plan.grade.relative_risk_reduction:.0f}% relative "
        f"risk reduction, α = {plan.grade.alpha}, power {plan.grade.power:.0%}; thresholds of "
        f"appreciable benefit and harm RR {plan.grade.benefit_threshold} and "
        f"{plan.grade.harm_threshold}), then the reviewers' judgements in studies/grade.yaml.",
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
    rows = [table_row(f"{head}: {value_label(g)}", r) for g, r in res.groups]
    rows += [table_row(f"{head}: {value_label(g)}", None, why=why) for g, why in res.not_pooled]
    return {"by": head, "rows": rows, "test": subgroup_difference_line(res.test)}


def matrix_cell(result, model: str, error: str | None = None) -> str:
    if result is None:
        return f"not estimable ({error})"
    r = result.common if model == "common" else result.random
    return f"{interval(r.estimate, r.ci_lower, r.ci_upper)} (k={result.k})"


def included_row(study, label: str, rob: str) -> dict:
    """One row of the Included studies table."""
    deaths = sorted(o.timepoint_days for o in study.outcomes if o.endpoint == "death")
    n = sum(a.randomized or 0 for a in study.arms)
    iv = study.intervention
    infusions = f"; {iv.infusions} infusion(s)" if iv.infusions else ""
    return {"label": label,
            "design": f"{study.design.randomization}; {study.design.blinding}; "
                      f"{', '.join(study.design.countries)}",
            "population": f"{study.population.condition}; ventilation: "
                          f"{study.population.ventilation_at_baseline}",
            "intervention": f"{iv.product} ({iv.product_type}, {iv.tissue_source}); "
                            f"{iv.dose}{infusions}",
            "control": iv.comparator,
            "followup": ", ".join(f"day {d}" for d in deaths) or "no mortality data",
            "n": str(n) if n else "not reported", "rob": rob}


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
