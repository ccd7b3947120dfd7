"""The Bayesian and trial sequential analysis sections, from the pooled result of each
outcome (its spec and counts)."""

from __future__ import annotations

from metasynth.effects.binary import back_transform
from metasynth.errors import DataError
from metasynth.models.results import PoolResult
from metasynth.plan.file import AnalysisPlan
from metasynth.plan.spec import AnalysisSpec
from metasynth.records.load import StudySet
from metasynth.report.sections import (
    BayesSection,
    TSASection,
)


def bayes_sections(plan: AnalysisPlan, studies: StudySet, spec: AnalysisSpec,
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
        result = pooled.get(oid) or pool_or_none(studies, oid, spec)
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
        summary[oid] = [bayes_summary(r) for r in results]
    return sections, summary

def pool_or_none(studies: StudySet, outcome: str, spec: AnalysisSpec) -> PoolResult | None:
    from metasynth import api

    try:
        return api.pool(studies, spec=spec.with_(outcome=outcome))
    except DataError:
        return None

def bayes_summary(r) -> dict:
    d = r.to_dict()
    d.pop("mu_density")
    d.pop("tau_density")
    return d

def tsa_section(plan: AnalysisPlan, studies: StudySet, spec: AnalysisSpec, pooled: dict):
    import math

    from metasynth import api
    from metasynth.render.plots.bayes_tsa import tsa_plot
    from metasynth.render.plots.kit import figure_svg
    from metasynth.render.text.bayes_tsa import tsa_sentences

    cfg = plan.tsa
    if studies.registry.outcome(cfg.outcome) is None:
        raise DataError(f"the tsa section names an unknown outcome {cfg.outcome!r}")
    result = pooled.get(cfg.outcome) or pool_or_none(studies, cfg.outcome, spec)
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
