"""The review's frame as plain data (``studies/review.yaml``) and its screening log
(``studies/screening.yaml``): who wrote the review, its protocol, funding and conflicts,
the eligibility criteria, the prespecified outcomes and timepoints, the search and the
screening. Strict like the trial records: a misspelt key or a wrong type is a one-line
error with file and line.

The PRISMA 2020 flow counts (Page et al., BMJ 2021;372:n71) come from here: the counts the
review team recorded in ``review.yaml`` (``null`` = not recorded, never guessed) and the
counts that follow from the data (reports excluded with each reason, studies awaiting
classification, studies included and their reports). ``flow_counts`` says which is which.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator

from metasynth.errors import DataError
from metasynth.records.messages import schema_errors
from metasynth.records.schema import Count, NonEmpty, Strict
from metasynth.records.yaml_source import load_yaml

REVIEW_FILE = "review.yaml"
SCREENING_FILE = "screening.yaml"


class Author(Strict):
    name: NonEmpty
    affiliation: str | None = None
    role: str | None = Field(None, description="e.g. 'extraction, analysis code'")


class Protocol(Strict):
    registered: bool = Field(description="whether the protocol is in a public register")
    registry: str | None = Field(None, description="PROSPERO, OSF, ... (when registered)")
    registration_id: str | None = None
    statement: NonEmpty = Field(description="what stands in for the protocol, in words")
    amendments: NonEmpty = Field(description="how changes to the protocol are recorded")

    @model_validator(mode="after")
    def _registration(self):
        if self.registered and not (self.registry and self.registration_id):
            raise ValueError("a registered protocol needs its registry and registration_id")
        return self


class Eligibility(Strict):
    population: NonEmpty
    intervention: NonEmpty
    comparator: NonEmpty
    outcomes: NonEmpty
    study_design: NonEmpty
    other: str | None = Field(None, description="language, publication status, dates")


class PlannedOutcome(Strict):
    id: NonEmpty = Field(description="an outcome of studies/outcomes.yaml")
    timepoint: NonEmpty | None = Field(
        None, description="the prespecified timepoint, in words; leave it out to use the "
        "outcome's window in outcomes.yaml (one definition)")
    role: Literal["primary", "secondary"]


class SearchSource(Strict):
    name: NonEmpty
    kind: Literal["database", "register", "search-engine", "citation-searching", "website",
                  "other"]
    dates: NonEmpty = Field(description="when it was searched, or the coverage dates")
    strategy: NonEmpty = Field(description="the full strategy as run, verbatim")
    records: Count | None = Field(None, description="records identified; null = not recorded")


class Search(Strict):
    approach: NonEmpty = Field(description="how the search was done, plainly")
    last_searched: NonEmpty
    sources: Annotated[list[SearchSource], Field(min_length=1)]
    limits: str | None = None


class FlowCounts(Strict):
    """Counts of the PRISMA 2020 flow that only the review team can know; null = not
    recorded (shown as "not recorded", never estimated)."""

    duplicates_removed: Count | None = None
    removed_by_automation: Count | None = None
    removed_other_reasons: Count | None = None
    records_screened: Count | None = None
    records_excluded: Count | None = None
    reports_sought: Count | None = None
    reports_not_retrieved: Count | None = None
    reports_assessed: Count | None = None


class Screening(Strict):
    log: NonEmpty = Field(SCREENING_FILE, description="the screening log beside this file")
    how: NonEmpty = Field(description="who screened and how (single or double, AI-assisted)")
    counts: FlowCounts = Field(default_factory=FlowCounts)


class Review(Strict):
    version: Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)*$")] = Field(
        description="the review's version (PRISMA-LSR); the release tag is review-v<version>")
    status: Literal["draft", "final"]
    status_note: NonEmpty
    title: NonEmpty = Field(description="must equal the title of analysis.yaml")
    authors: Annotated[list[Author], Field(min_length=1)]
    human_review: NonEmpty = Field(description="state of the review team's checking")
    contact: str | None = None
    protocol: Protocol
    funding: NonEmpty
    conflicts_of_interest: NonEmpty
    eligibility: Eligibility
    outcomes: Annotated[list[PlannedOutcome], Field(min_length=1)]
    search: Search
    screening: Screening
    update_triggers: str | None = Field(None, description="when a new version is made (LSR)")


class ReviewChecked(Strict):
    review: NonEmpty
    reference: NonEmpty
    included_trials: Count = Field(description="0 = not determined")
    what_it_added: NonEmpty


class Screened(Strict):
    study: NonEmpty
    reference: NonEmpty
    status: Literal["excluded", "awaiting", "same-trial"]
    category: str | None = Field(None, description="the exclusion reason's group, for the "
                                 "flow diagram (e.g. 'not MSCs')")
    reason: NonEmpty
    found_in: list[NonEmpty] = Field(default_factory=list)


class ScreeningLog(Strict):
    reviews_checked: list[ReviewChecked] = Field(default_factory=list)
    screened: list[Screened] = Field(default_factory=list)


@dataclass(frozen=True)
class Frame:
    review: Review
    log: ScreeningLog
    path: str
    lines: dict = field(default_factory=dict, repr=False)

    def line_of(self, *loc) -> int:
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return 1


def _load(path: Path, model):
    doc = load_yaml(path)
    try:
        return model.model_validate(doc.data if doc.data is not None else {}), doc
    except ValidationError as err:
        # a misspelt key is also a missing one: name the misspelling, on its own line
        errors = schema_errors(err, doc)
        raise next((e for e in errors if e.message.startswith("unknown field")), errors[0]) from None


def load_frame(folder: str | Path) -> Frame | None:
    """``review.yaml`` and its screening log, validated; None when the folder has none."""
    folder = Path(folder)
    path = folder / REVIEW_FILE
    if not path.is_file():
        return None
    review, doc = _load(path, Review)
    log_path = folder / review.screening.log
    if not log_path.is_file():
        raise DataError(f"screening log '{review.screening.log}' not found beside the review",
                        str(path), doc.line_of(("screening", "log")))
    log, log_doc = _load(log_path, ScreeningLog)
    for i, s in enumerate(log.screened):
        if s.status == "excluded" and not s.category:
            raise DataError(f"screened[{i}] ({s.study}): an excluded study needs a category "
                            "(the reason's group in the flow diagram)", str(log_path),
                            log_doc.line_of(("screened", i)))
    return Frame(review, log, str(path), doc.lines)


def check_frame(frame: Frame, title: str, outcome_ids: set[str],
                planned: list[str] | tuple[str, ...] = ()) -> None:
    """The frame agrees with the analysis plan: one title, known outcome ids, and a
    prespecified timepoint for every outcome the plan analyses (``planned``)."""
    if frame.review.title != title:
        raise DataError("title differs from the title in analysis.yaml (one title, one truth)",
                        frame.path, frame.line_of("title"))
    for i, o in enumerate(frame.review.outcomes):
        if o.id not in outcome_ids:
            raise DataError(f"outcomes[{i}]: unknown outcome '{o.id}' (see outcomes.yaml)",
                            frame.path, frame.line_of("outcomes", i, "id"))
    framed = {o.id for o in frame.review.outcomes}
    missing = [o for o in planned if o not in framed]
    if missing:
        raise DataError(f"outcomes: analysis.yaml analyses {', '.join(missing)}, which has no "
                        "prespecified timepoint here", frame.path, frame.line_of("outcomes"))


@dataclass(frozen=True)
class Flow:
    """The PRISMA 2020 flow. ``None`` = not recorded. ``derived`` names the counts that
    were counted from the data rather than recorded by the review team."""

    sources: tuple[tuple[str, int | None], ...]
    duplicates_removed: int | None
    removed_by_automation: int | None
    removed_other_reasons: int | None
    records_screened: int | None
    records_excluded: int | None
    reports_sought: int | None
    reports_not_retrieved: int | None
    reports_assessed: int | None
    excluded_reasons: tuple[tuple[str, int], ...]
    awaiting: int
    further_reports: int  # reports of an included trial found in screening, not yet in its record
    studies_included: int
    reports_included: int
    derived: tuple[str, ...]


def flow_counts(frame: Frame, studies) -> Flow:
    """The flow diagram's counts: the recorded ones from review.yaml, the rest counted from
    the screening log and the trial records (``studies``: a ``StudySet``)."""
    c = frame.review.screening.counts
    screened = frame.log.screened
    reasons = Counter(s.category for s in screened if s.status == "excluded")
    reports = sum(1 for s in studies.studies for src in s.study.sources
                  if src.kind in ("primary", "registry"))
    return Flow(
        sources=tuple((s.name, s.records) for s in frame.review.search.sources),
        duplicates_removed=c.duplicates_removed, removed_by_automation=c.removed_by_automation,
        removed_other_reasons=c.removed_other_reasons, records_screened=c.records_screened,
        records_excluded=c.records_excluded, reports_sought=c.reports_sought,
        reports_not_retrieved=c.reports_not_retrieved, reports_assessed=c.reports_assessed,
        excluded_reasons=tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        awaiting=sum(s.status == "awaiting" for s in screened),
        further_reports=sum(s.status == "same-trial" for s in screened),
        studies_included=len(studies), reports_included=reports,
        derived=("excluded_reasons", "awaiting", "studies_included", "reports_included"))


def frame_findings(folder: str | Path) -> list:
    """``load_frame``'s error as a validation finding (for ``metasynth validate``); none
    when the frame is valid or absent."""
    from metasynth.records.checks import Finding

    try:
        load_frame(folder)
    except DataError as err:
        return [Finding("error", err.path or str(folder), err.line, err.message)]
    return []
