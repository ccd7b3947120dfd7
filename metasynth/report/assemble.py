"""Run every analysis the plan asks for and gather what the report shows.

Nothing here formats a page: the result is plain data (dicts and lists) for the
template, plus ``summary`` (every pooled result, in the JSON contract of ``pool``).
"""

from __future__ import annotations

from pathlib import Path

from metasynth import __version__
from metasynth.effects.binary import effect_sizes
from metasynth.errors import DataError
from metasynth.models.pool import pool_effects
from metasynth.plan.file import PLAN_FILE, load_overrides, load_plan
from metasynth.records.load import load_studies
from metasynth.records.select import select_outcome, study_label
from metasynth.render.text.methods import name
from metasynth.render.text.pool import heterogeneity_line, overall_effect_line
from metasynth.render.text.report import (
    METHOD_REFERENCES,
    included_row,
    methods_text,
    not_contributing_rows,
    reference_entry,
    robustness_sentences,
    sof_row,
    table_row,
)
from metasynth.report.analyses import (
    base_spec,
    robustness,
    sensitivity_analyses,
    sensitivity_matrix,
    subgroup_analyses,
)
from metasynth.report.bayes_tsa import bayes_sections, prior_descriptions, tsa_section
from metasynth.report.grade import DOMAIN_NAMES, control_risk, propose
from metasynth.report.provenance import appendix, git_commit
from metasynth.report.sections import OutcomeSection, ReportData


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
        sec.warnings = list(result.warnings)
        sec.notes = list(result.notes)
        sec.sensitivity_rows, sens_results = sensitivity_analyses(plan, studies, oid, options)
        sec.sensitivity_rows.insert(0, table_row(f"Main analysis ({options.tau2}, "
                                            f"{name('ci', options.ci)})", result))
        sec.subgroup_tables, sub_results = subgroup_analyses(plan, effects, options)
        sec.certainty = propose(oid, result, rob_overall, plan.grade, overrides)
        sec.sof = sof_row(result, sec.certainty, control_risk(result))
        sec.appendix = appendix(studies, table, definition.endpoint)
        sec.matrix = sensitivity_matrix(studies, oid, options)
        sec.robustness = robustness_sentences(robustness(result))
        sections.append(sec)
        summary_outcomes[oid] = {
            "main": _portable(result.to_dict()),
            "sensitivity": {k: _portable(v.to_dict()) for k, v in sens_results.items()},
            "subgroups": {k: _portable_sub(v.to_dict()) for k, v in sub_results.items()},
            "grade": sec.certainty.to_dict(),
        }

    included = [included_row(item.study, labels[item.study.id],
                             rob_overall.get(item.study.id, "not assessed"))
                for item in studies.studies]
    not_contributing = not_contributing_rows(
        [labels[s.study.id] for s in studies.studies if s.study.id not in contributes],
        plan.excluded_studies)
    references = [reference_entry(item.study, labels[item.study.id]) for item in studies.studies]
    extracted = [s.study.record.extracted_on for s in studies.studies if s.study.record]
    participants = sum(sum(a.randomized or 0 for a in s.study.arms) for s in studies.studies)
    title = {"title": plan.title, "subtitle": plan.subtitle or "",
             "data_date": max(extracted) if extracted else "unknown",
             "version": __version__, "commit": git_commit(folder),
             "trials": len(studies), "participants": participants,
             "unclear_randomization": sum(s.study.design.randomization != "randomized"
                                          for s in studies.studies)}
    rob_traffic = figure_svg(traffic_light_plot(rob_full, labels)) if rob_full else ""
    rob_summary = figure_svg(summary_plot(rob_full)) if rob_full else ""
    summary = {"report": plan.name, "metasynth_version": __version__,
               "trials": len(studies), "outcomes": summary_outcomes}
    bayes_secs, tsa_sec = [], None
    if plan.bayes is not None:
        bayes_secs, summary["bayes"] = bayes_sections(plan, studies, options, pooled)
    if plan.tsa is not None:
        tsa_sec, summary["tsa"] = tsa_section(plan, studies, options, pooled)
    from metasynth.report.sparse import sparse_sections

    return ReportData(plan, title, methods_text(plan, options, prior_descriptions(plan, options)),
                      included, sections, rob_traffic,
                      rob_summary, not_contributing, references + [], summary, bayes_secs,
                      tsa_sec, sparse_sections(pooled))


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
