"""Pick, for one outcome of the registry, each trial's 2x2 table (records -> StudyTable).

Multi-arm trials: the experimental arms are combined into one (events and totals
added) so that the shared control group is counted once (Cochrane Handbook 23.3.4);
the notes say so.
"""

from __future__ import annotations

from metasynth.errors import DataError
from metasynth.records.load import StudySet
from metasynth.records.schema import Outcome, Study
from metasynth.records.table import ReportedEffect, StudyRow, StudyTable


def study_label(study: Study) -> str:
    return f"{study.citation.first_author} {study.citation.year}"


def study_attributes(study: Study, endpoint: str = "death") -> dict:
    """Study-level fields for subgroups and sensitivity analyses (``--by``); the risk of
    bias is the assessment made for ``endpoint`` (RoB 2 is outcome-specific)."""
    rob = study.rob_for(endpoint)
    sources = {s.id: s.kind for s in study.sources}
    return {
        "tissue_source": study.intervention.tissue_source,
        "product_type": study.intervention.product_type,
        "ventilation_at_baseline": study.population.ventilation_at_baseline,
        "control": study.design.control,
        "blinding": study.design.blinding,
        "randomization": study.design.randomization,
        "rob_overall": rob.overall.judgement if rob else "not assessed",
        "placebo_controlled": study.design.control in ("placebo", "sham"),
        "source_kinds": sources,
        "dose_per_kg": study.intervention.dose_per_kg,
        "year": study.citation.year,
    }


def rob_judgements(studies: StudySet, endpoint: str) -> dict:
    """{study id: {D1..D5, overall: judgement}} of the RoB 2 assessments made for
    ``endpoint``, for ``forest_plot(rob=)`` and the RoB figures. A trial without an
    assessment for this endpoint is absent (not assessed), never given another's."""
    out = {}
    for item in studies.studies:
        rob = item.study.rob_for(endpoint)
        if rob is not None:
            out[item.study.id] = {d: getattr(rob, d).judgement
                                  for d in ("D1", "D2", "D3", "D4", "D5", "overall")}
    return out


def _row(study: Study, entry: Outcome, alternative: bool = False) -> StudyRow:
    roles = {a.id: a.role for a in study.arms}
    names = {a.id: a.label for a in study.arms}
    label = study_label(study)
    notes = []
    attrs = study_attributes(study, entry.endpoint)
    provenance = entry.provenance
    est = entry.reported_estimate
    # the trial's own estimate: generic inverse variance for a measure its data cannot give
    # (a hazard ratio beside 2x2 counts); counts or means take precedence where they can
    reported = None if est is None else ReportedEffect(est.measure, est.value, est.ci_lower,
                                                       est.ci_upper, est.p)
    counts = entry.counts
    if alternative and entry.alternatives:
        counts, provenance = entry.alternatives[0].counts, entry.alternatives[0].provenance
        notes.append(f"{label}: alternative value used ({entry.alternatives[0].reason})")
    attrs["extraction"] = study.extraction_status(provenance)
    kinds = {attrs["source_kinds"].get(p.source) for p in provenance}
    # a record without statuses falls back on its sources' kinds
    attrs["secondary_only"] = (attrs["extraction"] == "secondary" if attrs["extraction"]
                               else kinds <= {"secondary", "registry"})
    attrs["timepoint_days"] = entry.timepoint_days
    if counts:
        exp = [(a, c) for a, c in counts.items() if roles.get(a) == "experimental"]
        ctl = [(a, c) for a, c in counts.items() if roles.get(a) == "control"]
        if len(exp) > 1:
            notes.append(f"{label}: experimental arms {', '.join(names[a] for a, _ in exp)} combined "
                         "against the shared control (Cochrane Handbook 23.3.4)")
        if len(ctl) > 1:
            notes.append(f"{label}: control arms {', '.join(names[a] for a, _ in ctl)} combined")
        return StudyRow(
            id=study.id, label=label,
            treatment_events=sum(c.events for _, c in exp),
            treatment_total=sum(c.total for _, c in exp),
            control_events=sum(c.events for _, c in ctl),
            control_total=sum(c.total for _, c in ctl), reported=reported,
            year=study.citation.year, notes=tuple(notes), attributes=attrs)
    means = {}
    if entry.values:
        exp = [(a, v) for a, v in entry.values.items() if roles.get(a) == "experimental"]
        ctl = [(a, v) for a, v in entry.values.items() if roles.get(a) == "control"]
        if len(exp) == 1 and len(ctl) == 1:
            (_, e), (_, c) = exp[0], ctl[0]
            # the summaries as published; a median is converted at analysis time, by the
            # plan's median_to_mean (effects.conversions.convert_table)
            means = dict(treatment_summary=e, control_summary=c, treatment_total=e.n,
                         control_total=c.n)
            if None not in (e.mean, e.sd, c.mean, c.sd):
                means.update(treatment_mean=e.mean, treatment_sd=e.sd, control_mean=c.mean,
                             control_sd=c.sd)
        elif len(exp) > 1 or len(ctl) > 1:
            notes.append(f"{label}: several experimental or control arms with means and SDs; "
                         "combine them first (Cochrane Handbook Table 6.5.a)")
        else:
            notes.append(f"{label}: values for one arm only")
    return StudyRow(id=study.id, label=label, reported=reported, year=study.citation.year,
                    notes=tuple(notes), attributes=attrs, **means)


def select_outcome(studies: StudySet, outcome_id: str, alternative: bool = False) -> StudyTable:
    """The StudyTable of ``outcome_id``: one row per trial reporting it in its window.

    ``alternative``: where a record lists alternative values (conflicting sources), use
    the first of them instead of the value the record uses.
    """
    registry = studies.registry
    definition = registry.outcome(outcome_id) if registry else None
    if definition is None:
        known = ", ".join(o.id for o in registry.outcomes) if registry else ""
        raise DataError(f"unknown outcome '{outcome_id}' (known: {known})", studies.folder)
    rows, missing, notes = [], [], []
    for item in studies.studies:
        study = item.study
        entries = {o.timepoint_days: o for o in study.outcomes if o.endpoint == definition.endpoint}
        day = definition.pick(sorted(entries))
        if day is None:
            missing.append(study_label(study))
            continue
        row = _row(study, entries[day], alternative)
        rows.append(row)
        notes.extend(row.notes)
    rows.sort(key=lambda r: (r.year or 0, r.label))
    if missing:
        lo, hi = definition.window_days
        endpoint = registry.endpoint(definition.endpoint)
        what = endpoint.label[0].lower() + endpoint.label[1:] if endpoint else definition.label
        notes.append(f"Not reporting {what} between day {lo} and {hi}: "
                     + ", ".join(missing))
    endpoint = registry.endpoint(definition.endpoint)
    kinds = {kind for r in rows for kind, has in (
        ("binary", r.has_counts), ("continuous", r.has_means or r.has_summaries),
        ("generic", r.reported is not None and not (r.has_counts or r.has_means or r.has_summaries))) if has}
    # a reported estimate enters any measure: the data type is that of the other rows
    own = kinds - {"generic"}
    # no rows: the registry's type of the endpoint
    data_type = own.pop() if len(own) == 1 else "generic" if kinds == {"generic"} else \
        "mixed" if own else (endpoint.type if endpoint else "binary")
    return StudyTable(rows=tuple(rows), outcome=definition.id, outcome_label=definition.label,
                      better=definition.better, source=studies.folder, notes=tuple(notes),
                      data_type=data_type, units=endpoint.units if endpoint else None)
