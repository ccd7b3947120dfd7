"""Run every analysis the plan asks for and gather what the report shows.

Nothing here formats a page: the result is plain data (dicts and lists) for the
template, plus ``summary`` (every pooled result, in the JSON contract of ``pool``).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

from metasynth import __version__
from metasynth.effects.binary import back_transform, effect_sizes
from metasynth.errors import DataError
from metasynth.models.pool import pool_effects
from metasynth.models.results import PoolResult
from metasynth.models.subgroups import pool_subgroups
from metasynth.plan.file import PLAN_FILE, AnalysisPlan, load_overrides, load_plan, plan_layer
from metasynth.plan.resolve import resolve
from metasynth.plan.spec import AnalysisSpec
from metasynth.records.load import StudySet, load_studies
from metasynth.records.select import select_outcome, study_label
from metasynth.records.table import StudyTable
from metasynth.render.labels import field_label, value_label
from metasynth.render.numbers import interval, num, p_value, percent
from metasynth.render.text.methods import model_paragraph, name
from metasynth.render.text.pool import heterogeneity_line, overall_effect_line
from metasynth.render.text.robustness import subgroup_difference_line
from metasynth.report.grade import DOMAIN_NAMES, control_risk, propose

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


@dataclass
class OutcomeSection:
    id: str
    label: str
    better: str
    k: int
    result: PoolResult | None
    forest_svg: str = ""
    subgroup_tables: list = field(default_factory=list)
    sensitivity_rows: list = field(default_factory=list)
    certainty: object = None
    sof: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    lines: list = field(default_factory=list)
    appendix: list = field(default_factory=list)
    matrix: dict = field(default_factory=dict)
    robustness: list = field(default_factory=list)


@dataclass
class BayesSection:
    id: str
    label: str
    k: int
    sentences: list
    rows: list  # one per prior: label, median [CrI], probabilities, tau
    thresholds: list
    posterior_svg: str = ""
    shrinkage_svg: str = ""
    few_trials: bool = False
    trials: str = ""  # the outcome's counts in words (one rule for every section)


@dataclass
class TSASection:
    id: str
    label: str
    sentences: list
    assumptions: str
    table: list
    adjusted: str
    plot_svg: str = ""


@dataclass
class ReportData:
    plan: AnalysisPlan
    title: dict
    methods: list
    included: list
    outcomes: list
    rob_traffic_svg: str
    rob_summary_svg: str
    not_contributing: list
    references: list
    summary: dict
    bayes: list = field(default_factory=list)
    tsa: TSASection | None = None


def base_spec(plan: AnalysisPlan) -> AnalysisSpec:
    """The plan's analysis, resolved once (``plan.resolve``); every section derives its
    analyses from it with ``spec.with_(...)``."""
    return resolve(plan_layer(plan))


def _git_commit(folder: Path) -> str:
    """The last commit that changed the records (stable when only reports/ changes)."""
    try:
        head = subprocess.run(["git", "log", "-1", "--format=%h", "--abbrev=12", "--", "."],
                              cwd=folder, capture_output=True, text=True, timeout=20)
        if head.returncode != 0 or not head.stdout.strip():
            return "not under version control"
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=folder,
                               capture_output=True, text=True, timeout=20).stdout.strip()
        return head.stdout.strip() + (" (with uncommitted changes to the records)" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "not under version control"


def _filtered(table: StudyTable, include, exclude) -> StudyTable:
    def value(row, key):
        v = row.attributes.get(key)
        return str(v).lower() if isinstance(v, bool) else str(v)

    rows = []
    for row in table.rows:
        if include and not all(value(row, k) in [str(x) for x in vals] for k, vals in include.items()):
            continue
        if exclude and any(value(row, k) in [str(x) for x in vals] for k, vals in exclude.items()):
            continue
        rows.append(row)
    return replace(table, rows=tuple(rows))


def _row(label: str, result: PoolResult | None, model: str = "random", why: str = "") -> dict:
    if result is None:
        return {"label": label, "k": 0, "effect": why or "no trials", "tau2": "", "I2": "", "p": ""}
    r = result.random if model == "random" else result.common
    h = result.heterogeneity
    return {"label": label, "k": result.k, "effect": interval(r.estimate, r.ci_lower, r.ci_upper),
            "tau2": num(h.tau2, 3) if model == "random" and h.tau2 is not None else "",
            "I2": percent(h.I2) if h.I2 is not None else "", "p": p_value(r.p)}


def _sensitivity(plan, studies, outcome, options) -> tuple[list, dict]:
    rows, results = [], {}
    for s in plan.sensitivity:
        opts = options.with_(**s.options.model_dump(exclude_none=True)) if s.options else options
        table = _filtered(select_outcome(studies, outcome, s.alternative), s.include, s.exclude)
        try:
            result = pool_effects(effect_sizes(table, opts.measure, opts.zero_cells), opts)
        except DataError as err:
            rows.append(_row(s.label, None, why=err.message.split(" (")[0]))
            continue
        rows.append(_row(s.label, result, s.model))
        results[s.id] = result
    return rows, results


def _subgroups(plan, effects, options) -> tuple[list, dict]:
    from metasynth.api import subgroup_labels

    tables, results = [], {}
    for by in plan.subgroups:
        labels = subgroup_labels(effects.table, by)
        res = pool_subgroups(effects, labels, by, options)
        head = field_label(by)
        rows = [_row(f"{head}: {value_label(g)}", r) for g, r in res.groups]
        rows += [_row(f"{head}: {value_label(g)}", None, why=why) for g, why in res.not_pooled]
        tables.append({"by": head, "rows": rows, "test": subgroup_difference_line(res.test)})
        results[by] = res
    return tables, results


MATRIX_MODELS = [{"common_method": "MH"}, {"common_method": "IV"}] + [
    {"tau2": t, "ci": c} for t in ("DL", "REML", "PM") for c in ("wald", "hksj", "hksj-adhoc")]


def _matrix_label(changes: dict) -> str:
    if "common_method" in changes:
        return f"Common effect, {name('common_method', changes['common_method'])}"
    return f"{changes['tau2']}, {name('ci', changes['ci'])}"


def _matrix(studies, outcome, options) -> dict:
    """The sensitivity matrix: every model (rows) on every data set (columns)."""
    columns = [("All trials", dict(alternative=False, exclude=None)),
               ("Without high risk of bias", dict(alternative=False,
                                                  exclude={"rob_overall": ["high"]})),
               ("Alternative values", dict(alternative=True, exclude=None))]
    rows = []
    for spec in MATRIX_MODELS:
        label = _matrix_label(spec)
        cells = []
        for _, data in columns:
            table = _filtered(select_outcome(studies, outcome, data["alternative"]), None,
                              data["exclude"])
            opts = options.with_(**spec)
            try:
                res = pool_effects(effect_sizes(table, opts.measure, opts.zero_cells), opts)
            except (DataError, ValueError) as err:
                cells.append(f"not estimable ({getattr(err, 'message', str(err)).split(' (')[0]})")
                continue
            r = res.common if "common_method" in spec else res.random
            cells.append(f"{interval(r.estimate, r.ci_lower, r.ci_upper)} (k={res.k})")
        rows.append({"label": label, "cells": cells})
    return {"columns": [c for c, _ in columns], "rows": rows}


def _robustness(effects, result: PoolResult, options) -> list[str]:
    """Leave-one-out range, influential trials, permutation test, small-study tests, in words."""
    from metasynth.models.robustness.influence import influence
    from metasynth.models.robustness.permutation import permutation_test
    from metasynth.models.robustness.refits import leave_one_out
    from metasynth.models.robustness.small_study import TooFewStudies, egger

    out = []
    if result.k >= 3:
        loo = leave_one_out(effects, options)
        ests = [(r.estimate, r.label) for r in loo.rows if r.estimate is not None]
        lo, hi = min(ests), max(ests)
        out.append(f"Leaving out one trial at a time, the pooled {result.measure} ranges from "
                   f"{lo[0]:.2f} (without {lo[1]}) to {hi[0]:.2f} (without {hi[1]}).")
        flagged = [r.label for r in influence(effects, options).rows if r.influential]
        out.append("Influential trials by metafor's criteria (Viechtbauer & Cheung 2010): "
                   + (", ".join(flagged) if flagged else "none") + ".")
        perm = permutation_test(effects, options)
        out.append(f"Permutation test of the pooled effect: p = {perm.p:.3f} ({perm.note}).")
    else:
        out.append("With fewer than 3 trials, leave-one-out, influence and permutation "
                   "analyses are not informative and are not shown.")
    try:
        e = egger(effects, options)
        out.append(f"Egger's regression test: p = {e.p:.3f} ({e.k} trials).")
    except TooFewStudies as err:
        out.append(f"Small-study effects were not tested: {str(err).split('; use --force')[0]}.")
    return out


def _sof(plan, result: PoolResult, certainty) -> dict:
    r = result.random
    p0 = control_risk(result)
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


def _appendix(studies: StudySet, table: StudyTable, outcome_endpoint: str) -> list:
    out = []
    for row in table.rows:
        study = studies.get(row.id)
        if study is None:
            continue
        day = row.attributes.get("timepoint_days")
        entry = next((o for o in study.outcomes
                      if o.endpoint == outcome_endpoint and o.timepoint_days == day), None)
        if entry is None:
            continue
        sources = {s.id: s for s in study.sources}
        counts = (f"{row.treatment_events}/{row.treatment_total} vs "
                  f"{row.control_events}/{row.control_total}" if row.has_counts else "reported estimate")
        for p in entry.provenance:
            src = sources.get(p.source)
            out.append({"study": row.label, "day": day, "counts": counts,
                        "source": f"{src.citation} ({src.kind})" if src else p.source,
                        "link": (f"https://doi.org/{src.doi}" if src and src.doi else
                                 (src.url if src else "")),
                        "location": p.location, "quote": p.quote, "derived": p.derived or ""})
    return out


def _warnings_in_words(result: PoolResult) -> list[str]:
    return list(result.warnings)


def methods_text(plan: AnalysisPlan, spec: AnalysisSpec) -> list[str]:
    """The methods section, from the resolved spec and the option table's words."""
    sens = "; ".join(s.label.lower() for s in plan.sensitivity) or "none"
    subs = ", ".join(field_label(s).lower() for s in plan.subgroups) or "none"
    return [
        model_paragraph(spec),
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
        *_beyond_methods(plan, spec),
        f"Software: metasynth {__version__}; every estimator is checked against R metafor 3.8.1 "
        "(Viechtbauer 2010) by the test suite.",
    ]


def _bayes_sections(plan: AnalysisPlan, studies: StudySet, spec: AnalysisSpec,
                    pooled: dict) -> tuple[list, dict]:
    """The Bayesian meta-analysis of each outcome the plan names, under its prior and the
    sensitivity priors (posterior plots and shrinkage forest for the main prior), each
    from the outcome's pooled result (its spec and counts)."""
    from metasynth import api
    from metasynth.render.plots.bayes_tsa import posterior_plot, shrinkage_forest
    from metasynth.render.plots.kit import figure_svg
    from metasynth.render.text.bayes_tsa import bayes_sentences, trials_line

    sections, summary = [], {}
    cfg = plan.bayes
    f = back_transform(spec.measure)
    for oid in cfg.outcomes:
        result = pooled.get(oid) or _pool_or_none(studies, oid, spec)
        if result is None:
            continue
        priors = [None, *(api.tau_prior(spec, p.tau_prior, p.tau_scale, p.turner_comparison)
                          for p in cfg.sensitivity_priors)]
        rows, results = [], []
        for i, prior in enumerate(priors):
            r = api.bayes(result, prior=prior, shrinkage=i == 0 and not sections)
            results.append(r)
            rows.append({"prior": r.tau_prior + ("" if i else " (main)"),
                         "effect": f"{f(r.mu.median):.2f} [{f(r.mu.central_lower):.2f}, "
                                   f"{f(r.mu.central_upper):.2f}]",
                         "prediction": f"{f(r.theta_new.central_lower):.2f} to "
                                       f"{f(r.theta_new.central_upper):.2f}",
                         "probabilities": [f"{p:.0%}" for p in r.probabilities.values()],
                         "tau": f"{r.tau.median:.2f} [{r.tau.central_lower:.2f}, "
                                f"{r.tau.central_upper:.2f}]"})
        main = results[0]
        label = result.outcome_label
        sec = BayesSection(oid, label, main.k, bayes_sentences(main, label.lower()), rows,
                           list(main.probabilities), few_trials=main.k < 5,
                           trials=trials_line(main.counts))
        if not sections:  # figures for the first (primary) outcome
            sec.posterior_svg = figure_svg(posterior_plot(main))
            sec.shrinkage_svg = figure_svg(shrinkage_forest(main))
        sections.append(sec)
        summary[oid] = [_bayes_summary(r) for r in results]
    return sections, summary


def _pool_or_none(studies: StudySet, outcome: str, spec: AnalysisSpec) -> PoolResult | None:
    from metasynth import api

    try:
        return api.pool(studies, spec=spec.with_(outcome=outcome))
    except DataError:
        return None


def _bayes_summary(r) -> dict:
    d = r.to_dict()
    d.pop("mu_density")
    d.pop("tau_density")
    return d


def _tsa_section(plan: AnalysisPlan, studies: StudySet, spec: AnalysisSpec, pooled: dict):
    import math

    from metasynth import api
    from metasynth.render.plots.bayes_tsa import tsa_plot
    from metasynth.render.plots.kit import figure_svg
    from metasynth.render.text.bayes_tsa import tsa_sentences

    cfg = plan.tsa
    if studies.registry.outcome(cfg.outcome) is None:
        raise DataError(f"the tsa section names an unknown outcome {cfg.outcome!r}")
    result = pooled.get(cfg.outcome) or _pool_or_none(studies, cfg.outcome, spec)
    if result is None:
        return None, None
    r = api.tsa(result, measure="RR")
    p = r.plan
    assumptions = (f"Anticipated effect: {result.outcome_label.lower()} from "
                   f"{p.control_risk:.0%} with control to {p.intervention_risk:.0%} with "
                   f"{spec.experimental} (relative risk reduction {p.relative_risk_reduction:.1%}); "
                   f"two-sided alpha {p.alpha:.0%}, power {1 - p.beta:.0%}; diversity D² "
                   f"{r.d2:.0%} ({'stated' if p.d2 is not None else 'observed'}). Required "
                   f"information size {math.ceil(r.ris)} participants, diversity-adjusted "
                   f"{math.ceil(r.daris)}." + (f" Rationale: {cfg.rationale}" if cfg.rationale else ""))
    table_rows = [{"label": lab, "n": n, "info": f"{t:.0%}", "z": f"{z:.2f}",
                   "boundary": f"±{b:.2f}" if b < 8 else "beyond ±8",
                   "futility": f"±{a:.2f}" if p.futility and a > 0.005 else "–"}
                  for lab, n, t, z, b, a in zip(r.labels, r.participants, r.information_fraction,
                                                r.z, r.efficacy,
                                                r.futility or (0.0,) * len(r.labels))]
    adjusted = (f"Pooled RR (DerSimonian-Laird) {r.rr:.2f}, 95% CI {r.rr_ci[0]:.2f} to "
                f"{r.rr_ci[1]:.2f}; TSA-adjusted 95% CI {r.rr_tsa_ci[0]:.2f} to "
                f"{r.rr_tsa_ci[1]:.2f}.")
    sec = TSASection(cfg.outcome, result.outcome_label, tsa_sentences(r), assumptions,
                     table_rows, adjusted)
    sec.plot_svg = figure_svg(tsa_plot(r))
    return sec, r.to_dict()


def _beyond_methods(plan: AnalysisPlan, spec: AnalysisSpec) -> list[str]:
    from metasynth import api

    out = []
    if plan.bayes is not None:
        b = plan.bayes
        prior = api.tau_prior(spec).describe()
        others = "; ".join(api.tau_prior(spec, s.tau_prior, s.tau_scale, s.turner_comparison)
                           .describe() for s in b.sensitivity_priors) or "none"
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


def assemble(folder: str | Path, plan_path: str | Path | None = None) -> ReportData:
    from metasynth.records.select import rob_judgements
    from metasynth.render.plots.forest import forest_plot
    from metasynth.render.plots.kit import figure_svg
    from metasynth.render.plots.rob import summary_plot, traffic_light_plot

    folder = Path(folder)
    plan_path = Path(plan_path) if plan_path else folder / PLAN_FILE
    plan = load_plan(plan_path)
    studies = load_studies(folder)
    overrides = load_overrides(plan_path.parent / plan.grade.overrides) if plan.grade.overrides else {}
    options = base_spec(plan)
    rob_full = rob_judgements(studies)
    rob_overall = {sid: j["overall"] for sid, j in rob_full.items()}
    labels = {s.study.id: study_label(s.study) for s in studies.studies}
    unknown = [o for o in plan.outcomes if studies.registry.outcome(o) is None]
    if unknown:
        raise DataError(f"analysis plan names unknown outcome(s) {', '.join(unknown)}", str(plan_path))

    sections, summary_outcomes, contributes, pooled = [], {}, {}, {}
    for oid in plan.outcomes:
        definition = studies.registry.outcome(oid)
        table = select_outcome(studies, oid)
        sec = OutcomeSection(oid, definition.label, definition.better, 0, None)
        effects = effect_sizes(table, options.measure, options.zero_cells)
        for row in table.rows:
            contributes.setdefault(row.id, []).append(oid)
        if not effects.included.any():
            sec.notes = list(table.notes) or ["No trial reports this outcome."]
            sections.append(sec)
            summary_outcomes[oid] = {"main": None}
            continue
        result = pool_effects(effects, options)
        sec.result, sec.k = result, result.k
        pooled[oid] = result
        fig = forest_plot(result, rob=rob_full)
        sec.forest_svg = figure_svg(fig)
        sec.lines = [heterogeneity_line(result), overall_effect_line(
            result, "random" if result.k > 1 else "common")]
        sec.warnings = _warnings_in_words(result)
        sec.notes = list(result.notes)
        sec.sensitivity_rows, sens_results = _sensitivity(plan, studies, oid, options)
        sec.sensitivity_rows.insert(0, _row(f"Main analysis ({options.tau2}, "
                                            f"{name('ci', options.ci)})", result))
        sec.subgroup_tables, sub_results = _subgroups(plan, effects, options)
        sec.certainty = propose(oid, result, rob_overall, plan.grade, overrides)
        sec.sof = _sof(plan, result, sec.certainty)
        sec.appendix = _appendix(studies, table, definition.endpoint)
        sec.matrix = _matrix(studies, oid, options)
        sec.robustness = _robustness(effects, result, options)
        sections.append(sec)
        summary_outcomes[oid] = {
            "main": _portable(result.to_dict()),
            "sensitivity": {k: _portable(v.to_dict()) for k, v in sens_results.items()},
            "subgroups": {k: _portable_sub(v.to_dict()) for k, v in sub_results.items()},
            "grade": sec.certainty.to_dict(),
        }

    included = []
    for item in studies.studies:
        s = item.study
        deaths = sorted(o.timepoint_days for o in s.outcomes if o.endpoint == "death")
        n = sum(a.randomized or 0 for a in s.arms)
        iv = s.intervention
        infusions = f"; {iv.infusions} infusion(s)" if iv.infusions else ""
        included.append({
            "label": labels[s.id], "design": f"{s.design.randomization}; {s.design.blinding}; "
                                              f"{', '.join(s.design.countries)}",
            "population": f"{s.population.condition}; ventilation: {s.population.ventilation_at_baseline}",
            "intervention": f"{iv.product} ({iv.product_type}, {iv.tissue_source}); "
                            f"{iv.dose}{infusions}",
            "control": s.intervention.comparator,
            "followup": ", ".join(f"day {d}" for d in deaths) or "no mortality data",
            "n": str(n) if n else "not reported", "rob": rob_overall.get(s.id, "not assessed")})
    not_contributing = [{"label": labels[s.study.id],
                         "reason": "reports none of the plan's outcomes with usable counts "
                                   "(see the record's notes)"}
                        for s in studies.studies if s.study.id not in contributes]
    not_contributing += [{"label": e.study, "reason": f"{e.reason} ({e.reference})"}
                         for e in plan.excluded_studies]
    references = []
    for item in studies.studies:
        c = item.study.citation
        vol = f";{c.volume}" if c.volume else ""
        vol += f"({c.issue})" if c.issue else ""
        vol += f":{c.pages}" if c.pages else ""
        references.append({"label": labels[item.study.id],
                           "text": f"{c.first_author} et al. {c.title}. {c.journal} {c.year}{vol}.",
                           "doi": c.doi})
    extracted = [s.study.record.extracted_on for s in studies.studies if s.study.record]
    participants = sum(sum(a.randomized or 0 for a in s.study.arms) for s in studies.studies)
    title = {"title": plan.title, "subtitle": plan.subtitle or "",
             "data_date": max(extracted) if extracted else "unknown",
             "version": __version__, "commit": _git_commit(folder),
             "trials": len(studies), "participants": participants,
             "unclear_randomization": sum(s.study.design.randomization != "randomized"
                                          for s in studies.studies)}
    rob_traffic = figure_svg(traffic_light_plot(rob_full, labels)) if rob_full else ""
    rob_summary = figure_svg(summary_plot(rob_full)) if rob_full else ""
    summary = {"report": plan.name, "metasynth_version": __version__,
               "trials": len(studies), "outcomes": summary_outcomes}
    bayes_sections, tsa_sec = [], None
    if plan.bayes is not None:
        bayes_sections, summary["bayes"] = _bayes_sections(plan, studies, options, pooled)
    if plan.tsa is not None:
        tsa_sec, summary["tsa"] = _tsa_section(plan, studies, options, pooled)
    return ReportData(plan, title, methods_text(plan, options), included, sections, rob_traffic,
                      rob_summary, not_contributing, references + [], summary, bayes_sections,
                      tsa_sec)


def _portable(d: dict) -> dict:
    d = dict(d)
    d["source"] = "studies"  # the folder's name, not where it was read from
    return d


def _portable_sub(d: dict) -> dict:
    d = dict(d)
    d["overall"] = _portable(d["overall"])
    d["subgroups"] = [_portable(s) for s in d["subgroups"]]
    return d


__all__ = ["DOMAIN_NAMES", "METHOD_REFERENCES", "ReportData", "assemble"]
