"""The Bayesian and trial sequential analysis sections, from the pooled result of each
outcome (its spec and counts)."""

from __future__ import annotations

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
    from metasynth.render.text.bayes_tsa import bayes_sentences, prior_row, trials_line

    sections, summary = [], {}
    cfg = plan.bayes
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
            rows.append(prior_row(r, main=i == 0))
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

    from metasynth import api
    from metasynth.render.plots.bayes_tsa import tsa_plot
    from metasynth.render.plots.kit import figure_svg
    from metasynth.render.text.bayes_tsa import (
        tsa_adjusted,
        tsa_assumptions,
        tsa_rows,
        tsa_sentences,
    )

    cfg = plan.tsa
    if studies.registry.outcome(cfg.outcome) is None:
        raise DataError(f"the tsa section names an unknown outcome {cfg.outcome!r}")
    result = pooled.get(cfg.outcome) or pool_or_none(studies, cfg.outcome, spec)
    if result is None:
        return None, None
    r = api.tsa(result, measure="RR")
    assumptions = tsa_assumptions(r, result.outcome_label, cfg.rationale)
    table_rows = tsa_rows(r)
    adjusted = tsa_adjusted(r)
    sec = TSASection(cfg.outcome, result.outcome_label, tsa_sentences(r), assumptions,
                     table_rows, adjusted)
    sec.plot_svg = figure_svg(tsa_plot(r))
    sec.information = r.information
    return sec, r.to_dict()


def prior_descriptions(plan: AnalysisPlan, spec: AnalysisSpec) -> tuple[str, list[str]] | None:
    """The plan's main tau prior and its sensitivity priors, described (for the methods)."""
    from metasynth import api

    if plan.bayes is None:
        return None
    return (api.tau_prior(spec).describe(),
            [api.tau_prior(spec, p.tau_prior, p.tau_scale, p.turner_comparison).describe()
             for p in plan.bayes.sensitivity_priors])
