"""The review's frame in the report: the title-page facts, the abstract and plain-language
summary (from the fitted outcome sections), eligibility, outcomes, search and screening,
the PRISMA 2020 flow diagram, the characteristics of excluded studies, the PRISMA 2020
checklist, and PRISMA-LSR's "changes since the preceding version" (``metasynth diff``
against the preceding ``review-v*`` tag)."""

from __future__ import annotations

from pathlib import Path

from metasynth.errors import MetasynthError
from metasynth.records.review import check_frame, flow_counts, load_frame
from metasynth.render.text import frame as words
from metasynth.report.sections import FrameSection

FRAME_FILES = ["analysis.yaml", "review.yaml", "screening.yaml", "outcomes.yaml", "grade.yaml"]
RELEASED_SUMMARY = "reports/summary.json"  # the committed report's results, at each release


def released_certainty(folder: Path, tag: str) -> dict[str, str]:
    """{outcome: GRADE level} of the report committed at ``tag`` (empty if it has none)."""
    import json

    from metasynth.records.git_revision import file_at_ref

    raw = file_at_ref(folder, tag, RELEASED_SUMMARY)
    try:
        outcomes = json.loads(raw)["outcomes"] if raw else {}
        return {o: v["grade"]["level"] for o, v in outcomes.items() if v.get("grade")}
    except (ValueError, KeyError, TypeError):
        return {}


def changes(folder: Path, version: str, options, labels: dict[str, str],
            certainty: dict[str, str] | None = None) -> dict:
    """The changes since the preceding release, in words; "first version" without one.
    ``certainty``: this version's GRADE level per outcome, compared with the release's."""
    from metasynth.diff import diff_evidence
    from metasynth.records.git_revision import changed_files, previous_release

    try:
        tag = previous_release(folder, version)
        if tag is None:
            return words.changes_text(None, None, labels)
        out = words.changes_text(tag, diff_evidence(folder, tag, options), labels,
                                 (released_certainty(folder, tag), certainty or {}))
        out["files"] = changed_files(folder, tag, FRAME_FILES)
    except MetasynthError as err:  # not a git repository, or git missing
        return {"lead": f"The preceding version could not be determined ({err}).",
                "items": [], "rows": []}
    out["items"].append("Plan, frame and registry files changed: "
                        + (", ".join(out["files"]) or "none") + ".")
    return out


def frame_section(folder: str | Path, plan, studies, sections, title: dict,
                  options) -> FrameSection | None:
    """The frame of ``folder/review.yaml``, or None when the folder has none."""
    from metasynth.render.plots.kit import figure_svg
    from metasynth.render.plots.prisma import prisma_plot

    folder = Path(folder)
    frame = load_frame(folder)
    if frame is None:
        return None
    review = frame.review
    check_frame(frame, plan.title, {o.id for o in studies.registry.outcomes}, plan.outcomes)
    labels = {o.id: o.label for o in studies.registry.outcomes}
    flow = flow_counts(frame, studies)
    return FrameSection(
        version=review.version, status=review.status, status_note=review.status_note,
        facts=words.title_facts(review),
        abstract=words.abstract(review, plan, sections, title, plan.experimental, options),
        plain_language=words.plain_language(sections, title, plan.experimental,
                                            review.eligibility.population),
        eligibility=words.eligibility_rows(review),
        outcomes=words.outcome_rows(review, labels, {o.id: tuple(o.window_days)
                                                     for o in studies.registry.outcomes}),
        search=review.search, search_rows=words.search_rows(review),
        screening_how=review.screening.how, reviews=words.reviews_rows(frame.log),
        prisma_svg=figure_svg(prisma_plot(flow)),
        excluded=words.excluded_rows(frame.log, plan.excluded_studies),
        awaiting=words.awaiting_rows(frame.log),
        checklist=words.checklist_rows(next((f"outcome-{s.id}" for s in sections
                                             if s.result is not None), None)),
        changes=changes(folder, review.version, options,
                        {o: labels[o] for o in plan.outcomes if o in labels},
                        {s.id: s.certainty.label for s in sections if s.certainty is not None}),
        update_triggers=review.update_triggers or "")
