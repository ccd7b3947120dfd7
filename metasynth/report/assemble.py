"""Run every analysis the plan asks for and gather what the report shows.

Nothing here formats a page: the result is plain data (dicts and lists) for the
template, plus ``summary`` (every pooled result, in the JSON contract of ``pool``).
"""

from __future__ import annotations

from pathlib import Path

from metasynth import __version__
from metasynth.plan.check import check_plan
from metasynth.plan.file import PLAN_FILE, load_overrides, load_plan
from metasynth.records.load import load_studies
from metasynth.records.review import REVIEW_FILE
from metasynth.records.select import select_outcome, study_label
from metasynth.render.export import report_r_script
from metasynth.render.text.methods import name
from metasynth.render.text.pool import heterogeneity_line, overall_effect_line
from metasynth.render.text.report import (
    METHOD_REFERENCES,
    abbreviations,
    beyond_pooling_text,
    conversion_rows,
    draft_notice,
    followup_text,
    grade_sof_note,
    heterogeneity_ci_line,
    included_row,
    information_comparison,
    methods_text,
    not_contributing_rows,
    not_pooled_text,
    reference_entry,
    robustness_sentences,
    sof_footnotes,
    sof_header,
    sof_row,
    table_row,
)
from metasynth.render.text.warnings import warning_text
from metasynth.report.analyses import (
    Fits,
    base_spec,
    robustness,
    sensitivity_analyses,
    sensitivity_matrix,
    subgroup_analyses,
)
from metasynth.report.bayes_tsa import bayes_sections, prior_descriptions, tsa_section
from metasynth.report.frame import frame_section
from metasynth.report.grade import DOMAIN_NAMES, control_risk, propose
from metasynth.report.provenance import appendix, git_commit
from metasynth.report.sections import OutcomeSection, ReportData


def assemble(folder: str | Path, plan_path: str | Path | None = None) -> ReportData:
    from metasynth.records.select import rob_judgements
    from metasynth.render.plots.forest import forest_pages
    from metasynth.render.plots.kit import figure_svg

    folder = Path(folder)
    plan_path = Path(plan_path) if plan_path else folder / PLAN_FILE
    plan = load_plan(plan_path)
    studies = load_studies(folder)
    overrides = load_overrides(plan_path.parent / plan.grade.overrides) if plan.grade.overrides else {}
    options = base_spec(plan)
    labels = {s.study.id: study_label(s.study) for s in studies.studies}
    check_plan(plan, plan_path, studies.registry)

    def outcome_label(oid: str) -> str:
        return studies.registry.outcome(oid).label

    from metasynth.report.sparse import sparse_sections

    sections, summary_outcomes, contributes, pooled, sparse = [], {}, {}, {}, []
    fits = Fits()  # every pooled analysis fitted once, whichever sections show it
    for oid in plan.outcomes:
        definition = studies.registry.outcome(oid)
        table = select_outcome(studies, oid)
        sec = OutcomeSection(oid, definition.label, definition.better, 0, None)
        endpoint = definition.endpoint
        endpoint_label = studies.registry.endpoint(endpoint).label
        # the measure of the outcome's data type (the registry's): RR, or MD for continuous
        data_type = studies.registry.endpoint(endpoint).type
        opts = options.for_data(data_type)
        effects = fits.effects(table, opts)
        for row in table.rows:
            contributes.setdefault(row.id, []).append(oid)
        if not effects.included.any():
            sec.notes = list(table.notes) or ["No trial reports this outcome."]
            sections.append(sec)
            summary_outcomes[oid] = {"main": None}
            continue
        result = fits.pool(table, opts)
        if data_type == "continuous":
            sec.conversions = conversion_rows(result, plan.experimental, plan.control)
            sec.skewed = sorted({f"{c['study']} ({c['arm']})" for c in sec.conversions
                                 if "Bowley" in c["warnings"]})
            sec.appendix = appendix(studies, table, endpoint)
            sec.measure = result.measure
        if data_type == "continuous" and result.k == 1:
            # one trial is not a meta-analysis: the section says so and gives its estimate
            sec.k, sec.not_pooled = 1, not_pooled_text(result)
            sec.notes = list(result.notes)
            sections.append(sec)
            summary_outcomes[oid] = {"main": None, "not_pooled": sec.not_pooled,
                                     "trial": _portable(result.to_dict())}
            continue
        sec.result, sec.k = result, result.k
        pooled[oid] = result
        # RoB 2 is outcome-specific: the assessments made for this outcome's endpoint
        rob_full = rob_judgements(studies, endpoint)
        rob_overall = {sid: j["overall"] for sid, j in rob_full.items()}
        sec.rob_endpoint = endpoint_label
        # one figure per page, headers repeated: a long forest plot never overflows a page
        sec.forest_svg = "".join(figure_svg(f) for f in forest_pages(
            result, rob=rob_full, rob_endpoint=endpoint_label))
        sec.lines = [heterogeneity_line(result), overall_effect_line(
            result, "random" if result.k > 1 else "common")]
        if result.heterogeneity.tau2 is not None and result.k > 1:
            sec.lines.append(heterogeneity_ci_line(result))
        sec.warnings = [warning_text(w) for w in result.warnings]
        sec.notes = list(result.notes)
        sec.sensitivity_rows, sens_results = sensitivity_analyses(plan, studies, oid, opts,
                                                                   fits)
        sec.sensitivity_rows.insert(0, table_row(f"Main analysis ({opts.tau2}, "
                                            f"{name('ci', opts.ci)})", result))
        sec.subgroup_tables, sub_results = subgroup_analyses(plan, effects, opts, result)
        # the sparse-data table first: GRADE's imprecision cites it when its methods disagree
        sp = sparse_sections({oid: result})
        sparse += sp
        sec.certainty = propose(oid, result, rob_overall, plan.grade, overrides,
                                endpoint_label.lower(),
                                sparse_note=sp[0].grade_citation if sp else "")
        days = [row.attributes.get("timepoint_days") for row in table.rows
                if row.id in {s.id for s in result.studies}]
        n = result.counts
        counts_note = (f"{n.not_estimable} of {n.trials} trials had no events in either arm "
                       "(not estimable; their participants are counted)" if n.not_estimable
                       else "")
        sec.sof = sof_row(result, sec.certainty, control_risk(result),
                          followup_text([d for d in days if d]), counts_note)
        sec.appendix = appendix(studies, table, definition.endpoint)
        sec.matrix = sensitivity_matrix(studies, oid, opts, fits)
        if data_type == "continuous":
            sec.beyond = beyond_pooling_text(result, plan)
        sec.robustness = robustness_sentences(robustness(result))
        sections.append(sec)
        summary_outcomes[oid] = {
            "main": _portable(result.to_dict()),
            "sensitivity": {k: _portable(v.to_dict()) for k, v in sens_results.items()},
            "subgroups": {k: _portable_sub(v.to_dict()) for k, v in sub_results.items()},
            "grade": sec.certainty.to_dict(),
        }
        if data_type == "continuous":
            summary_outcomes[oid]["sof"] = sec.sof.get("effect_text", "")

    endpoints = []  # the endpoints of the plan's outcomes, in plan order
    for oid in plan.outcomes:
        e = studies.registry.outcome(oid).endpoint
        if e not in [x for x, _ in endpoints]:
            endpoints.append((e, studies.registry.endpoint(e).label))
    included = [included_row(item.study, labels[item.study.id], endpoints)
                for item in studies.studies]
    pooled_ids = [sid for sid in labels if sid in contributes]
    records = {item.study.id: item.study.record for item in studies.studies}
    unverified = [labels[sid] for sid in pooled_ids
                  if not (records[sid] and records[sid].verified)]
    sof_rows = [sec.sof for sec in sections if sec.result is not None]
    sof = {"header": sof_header(plan, sorted({c for item in studies.studies
                                              if item.study.id in contributes
                                              for c in item.study.design.countries})),
           "footnotes": sof_footnotes(sof_rows),
           "note": grade_sof_note(plan, [sec.certainty for sec in sections if sec.certainty],
                                  outcome_label),
           "draft": draft_notice(unverified, len(pooled_ids)) if unverified else ""}
    sof["abbreviations"] = abbreviations(" ".join(
        [r["relative"] + " " + r.get("difference", "") for r in sof_rows]
        + [t for _, t in sof["footnotes"]]
        + ["CI RCT GRADE", plan.experimental]))
    rob_figures = rob_sections(studies, plan, labels, contributes, endpoints)
    has_frame = (folder / REVIEW_FILE).is_file()  # its excluded studies get their own table
    not_contributing = not_contributing_rows(
        [labels[s.study.id] for s in studies.studies if s.study.id not in contributes],
        [] if has_frame else plan.excluded_studies)
    references = [reference_entry(item.study, labels[item.study.id]) for item in studies.studies]
    extracted = [s.study.record.extracted_on for s in studies.studies if s.study.record]
    participants = sum(sum(a.randomized or 0 for a in s.study.arms) for s in studies.studies)
    title = {"title": plan.title, "subtitle": plan.subtitle or "",
             "data_date": max(extracted) if extracted else "unknown",
             "version": __version__, "commit": git_commit(folder),
             "trials": len(studies), "participants": participants,
             "unclear_randomization": sum(s.study.design.randomization != "randomized"
                                          for s in studies.studies)}
    summary = {"report": plan.name, "metasynth_version": __version__,
               "trials": len(studies), "outcomes": summary_outcomes}
    bayes_secs, tsa_sec = [], None
    if plan.bayes is not None:
        bayes_secs, summary["bayes"] = bayes_sections(plan, studies, options, pooled)
    if plan.tsa is not None:
        tsa_sec, summary["tsa"] = tsa_section(plan, studies, options, pooled)
        tsa_out = next((sec for sec in sections if sec.id == plan.tsa.outcome), None)
        if tsa_sec is not None and tsa_out is not None and tsa_out.certainty.information:
            # one information-size calculation, stated alike in GRADE and the TSA
            words = information_comparison(tsa_out.certainty.information, tsa_sec.information,
                                           tsa_out.label)
            tsa_sec.information_note = tsa_out.information_note = words
    windows = [(d.label, *d.window_days, plan.timepoint_rationale.get(o))
               for o in plan.outcomes if (d := studies.registry.outcome(o)).endpoint == "death"]
    from metasynth.report.simulation import simulation_section

    simulation = simulation_section(plan_path.parent, plan, options, pooled)
    data = ReportData(plan, title, methods_text(plan, options, prior_descriptions(plan, options),
                                                windows, simulation.justification
                                                if simulation else "", outcome_label),
                      included, sections, "", "", not_contributing, references + [], summary,
                      bayes_secs, tsa_sec)
    data.rob_figures, data.sof, data.unverified = rob_figures, sof, unverified
    data.frame = frame_section(folder, plan, studies, sections, title, options) if has_frame else None
    data.sparse = sparse
    # the appendix: every mean and SD derived from a median, and the R script of the
    # main analyses (written beside the report by report.write)
    data.conversions = [{"outcome": sec.label, **c} for sec in sections for c in sec.conversions]
    data.median_to_mean = options.median_to_mean
    data.r_script_name = f"{plan.name}.R"
    data.r_script = report_r_script(pooled, plan.title)
    data.simulation = simulation
    return data


def rob_sections(studies, plan, labels: dict, contributes: dict, endpoints) -> list[dict]:
    """The risk-of-bias figures: one traffic-light and one summary plot per endpoint of the
    plan's outcomes that has assessments, over the trials that contribute data on it (a
    trial without an assessment for it drawn "not assessed"); endpoints without any
    assessment are named, not drawn."""
    from metasynth.records.select import rob_judgements
    from metasynth.render.plots.kit import figure_svg
    from metasynth.render.plots.rob import summary_plot, traffic_light_plot

    out = []
    for eid, label in endpoints:
        judgements = rob_judgements(studies, eid)
        ids = [item.study.id for item in studies.studies
               if any(o.endpoint == eid for o in item.study.outcomes)
               and item.study.id in contributes]
        ids += [sid for sid in judgements if sid not in ids]
        entry = {"endpoint": eid, "label": label, "trials": len(ids),
                 "assessed": sum(sid in judgements for sid in ids)}
        if judgements:
            entry["traffic"] = figure_svg(traffic_light_plot(judgements, labels,
                                                             endpoint=label, studies=ids))
            entry["summary"] = figure_svg(summary_plot(judgements, endpoint=label,
                                                       studies=ids))
        out.append(entry)
    return out


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
