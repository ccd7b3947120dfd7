"""The words of the review's frame: the PRISMA 2020 flow diagram's boxes, the title-page
facts, the eligibility, outcome and search tables, the characteristics of excluded studies,
the abstract and plain-language summary (from the fitted results, never typed), the PRISMA
2020 checklist, and the changes since the preceding version (PRISMA-LSR)."""

from __future__ import annotations

from metasynth.render.labels import heading_case, mid_sentence
from metasynth.render.numbers import interval

NOT_RECORDED = "not recorded"
SOURCE_KINDS = {"database": "Database", "register": "Trial register",
                "search-engine": "Search engine (stored public pages)",
                "citation-searching": "Citation searching", "website": "Website",
                "other": "Other"}


NBSP = "\u00a0"


def count(n: int | None) -> str:
    """'n = 20' or 'n = not recorded', with no-break spaces so a wrap never splits it."""
    return NBSP.join(("n", "=", *(NOT_RECORDED.split() if n is None else [str(n)])))


def _lower_first(text: str) -> str:
    """Lower-case the first letter unless the word is an acronym ("ARDS", "MSC")."""
    return text if text[1:2].isupper() else text[:1].lower() + text[1:]


def prisma_boxes(flow) -> dict:
    """The text of each box of the PRISMA 2020 flow diagram (Page et al. 2021): rows of
    (phase, main box lines, side box lines or None), the header and the notes."""
    reasons = [f"  {heading_case(r)} ({count(n)})" for r, n in flow.excluded_reasons]
    included = [f"Studies included in review ({count(flow.studies_included)})",
                f"Reports of included studies ({count(flow.reports_included)})"]
    awaiting = None
    if flow.awaiting:
        awaiting = [f"Studies awaiting classification ({count(flow.awaiting)})",
                    "  randomized, no results located"]
    rows = [
        ("Identification",
         ["Records identified from:"] + [f"  {name} ({count(n)})" for name, n in flow.sources],
         ["Records removed before screening:",
          f"  Duplicate records removed ({count(flow.duplicates_removed)})",
          f"  Records marked as ineligible by automation tools ({count(flow.removed_by_automation)})",
          f"  Records removed for other reasons ({count(flow.removed_other_reasons)})"]),
        ("Screening", [f"Records screened ({count(flow.records_screened)})"],
         [f"Records excluded ({count(flow.records_excluded)})"]),
        ("Screening", [f"Reports sought for retrieval ({count(flow.reports_sought)})"],
         [f"Reports not retrieved ({count(flow.reports_not_retrieved)})"]),
        ("Screening", [f"Reports assessed for eligibility ({count(flow.reports_assessed)})"],
         ["Reports excluded:"] + (reasons or ["  none recorded"])),
        ("Included", included, awaiting),
    ]
    notes = [f"'{NOT_RECORDED}': the review team did not count it; nothing is estimated.",
             "Counted from the data: reports excluded with each reason and studies awaiting "
             "classification (the screening log), studies included (the trial records) and their "
             "reports (each record's primary and registry sources)."]
    if flow.further_reports:
        n = flow.further_reports
        notes.append(f"The screening log also found {n} further report{'s' if n > 1 else ''} of "
                     "an included trial, not yet among that record's sources.")
    return {"header": "Identification of studies via the review's sources", "rows": rows,
            "notes": notes}


def title_facts(review) -> list[tuple[str, str]]:
    """Title-page rows: authors, human review, protocol, funding, conflicts (the version and
    its date are the template's: the date is the report's)."""
    authors = "; ".join(a.name + (f" ({a.affiliation})" if a.affiliation else "")
                        for a in review.authors)
    p = review.protocol
    protocol = (f"Registered in {p.registry} ({p.registration_id}). {p.statement}"
                if p.registered else p.statement)
    return [("Authors", authors), ("Human review", review.human_review),
            ("Protocol", protocol), ("Funding", review.funding),
            ("Conflicts of interest", review.conflicts_of_interest)]


def eligibility_rows(review) -> list[tuple[str, str]]:
    e = review.eligibility
    rows = [("Population", e.population), ("Intervention", e.intervention),
            ("Comparator", e.comparator), ("Outcomes", e.outcomes),
            ("Study design", e.study_design)]
    return rows + ([("Other limits", e.other)] if e.other else [])


def outcome_rows(review, labels: dict[str, str], windows: dict[str, tuple] | None = None
                 ) -> list[dict]:
    """The prespecified outcomes; a timepoint not given in words is the registry's window."""
    windows = windows or {}

    def when(o):
        if o.timepoint:
            return o.timepoint
        lo, hi = windows.get(o.id, (None, None))
        return f"day {lo} to day {hi}" if lo is not None else "as reported by the trial"
    return [{"outcome": labels.get(o.id, o.id), "role": o.role.capitalize(),
             "timepoint": when(o)} for o in review.outcomes]


def search_rows(review) -> list[dict]:
    return [{"source": s.name, "kind": SOURCE_KINDS[s.kind], "dates": s.dates,
             "strategy": s.strategy,
             "records": NOT_RECORDED if s.records is None else str(s.records)}
            for s in review.search.sources]


def _key(study: str, reference: str) -> tuple[str, str]:
    return (study.split()[0].strip("(',").lower(), reference)


def excluded_rows(log, plan_excluded) -> list[dict]:
    """Characteristics of excluded studies: the screening log's exclusions (and further
    reports of included trials), then any study excluded in analysis.yaml that the log lacks."""
    rows = [{"study": s.study, "reason": (heading_case(s.category) + ": " if s.category else "")
             + s.reason, "reference": s.reference}
            for s in log.screened if s.status == "excluded"]
    rows += [{"study": s.study, "reason": "Not a separate trial: a further report of a trial "
              "already included (details in the screening log).", "reference": s.reference}
             for s in log.screened if s.status == "same-trial"]
    seen = {_key(s.study, s.reference) for s in log.screened}
    rows += [{"study": e.study, "reason": e.reason, "reference": e.reference}
             for e in plan_excluded if _key(e.study, e.reference) not in seen]
    return rows


def awaiting_rows(log) -> list[dict]:
    return [{"study": s.study, "reason": s.reason, "reference": s.reference}
            for s in log.screened if s.status == "awaiting"]


def reviews_rows(log) -> list[dict]:
    """The reviews whose included-study lists were checked (what each added stays in the
    screening log: it is a working note, not a finding)."""
    return [{"review": r.review, "reference": r.reference,
             "trials": str(r.included_trials) if r.included_trials else "not determined"}
            for r in log.reviews_checked]


# --- abstract and plain-language summary: numbers from the fitted results -----------------

def _effect(sec) -> str:
    r = sec.result.random
    return f"{sec.result.measure} {interval(r.estimate, r.ci_lower, r.ci_upper)}"


def _trials(sec) -> str:
    c = sec.result.counts
    return f"{c.trials} trial{'s' if c.trials != 1 else ''}, {c.participants} participants"


def plain_statement(sec, experimental: str) -> str:
    """GRADE's informative statements (Santesso et al., J Clin Epidemiol 2020;119:126-135):
    the certainty sets the hedge (probably, may, very uncertain), the point estimate the
    direction; a CI that includes no effect is said in words, never hidden."""
    what = _lower_first(sec.label)
    level = sec.certainty.label.lower()
    if "very low" in level:
        return f"We are very uncertain whether {experimental} change {what}."
    hedge = {"high": "", "moderate": "probably ", "low": "may "}.get(level, "may ")
    r, null = sec.result.random, 0.0 if sec.result.measure == "RD" else 1.0
    if r.estimate == null:
        return f"{experimental} {hedge}make no difference to {what}."
    up = r.estimate > null
    verb = ("increase" if up else "reduce") + ("" if hedge else "s")
    crosses = r.ci_lower is not None and r.ci_lower <= null <= r.ci_upper
    tail = "; the 95% confidence interval includes no difference" if crosses else ""
    return f"{experimental} {hedge}{verb} {what}{tail}."


def abstract(review, plan, sections, title: dict, experimental: str,
             spec=None) -> list[tuple[str, str]]:
    """A structured abstract (PRISMA 2020 for Abstracts); every number from ``sections``
    (the fitted outcomes) and ``title`` (the counted trials and participants), the
    synthesis methods from ``spec`` (the resolved AnalysisSpec)."""
    pooled = [s for s in sections if s.result is not None]
    e = review.eligibility
    results = [f"{title['trials']} trials ({title['participants']} participants randomized) "
               "were included."]
    results += [f"{s.label}: {_effect(s)}; {_trials(s)}; {s.certainty.label.lower()}-certainty "
                "evidence." for s in pooled]
    not_pooled = [s.label for s in sections if s.result is None]
    if not_pooled:
        # each label as it reads mid-sentence: "PaO2/FiO2" keeps its capitals
        results.append("No trial reported " + "; ".join(map(mid_sentence, not_pooled)) + ".")
    primary = next((s for s in pooled if any(o.id == s.id and o.role == "primary"
                                             for o in review.outcomes)), pooled[0] if pooled else None)
    conclusion = (plain_statement(primary, experimental) if primary else
                  "No outcome could be pooled.")
    return [
        ("Objectives", f"To assess the effects of {e.intervention[0].lower()}{e.intervention[1:]}"),
        ("Eligibility", f"{e.study_design.split('.')[0]}. {e.population}"),
        ("Search", f"{review.search.approach.split('. ')[0]}; last searched "
                   f"{review.search.last_searched}."),
        ("Synthesis", _synthesis(spec)),
        ("Results", " ".join(results)),
        ("Conclusions", conclusion + (" This version is a draft awaiting human review."
                                      if review.status == "draft" else "")),
    ]


def _synthesis(spec) -> str:
    if spec is None:
        return "Random-effects meta-analysis; certainty of the evidence by GRADE."
    from metasynth.render.text.methods import name

    return (f"Random-effects meta-analysis of the {name('measure', spec.measure).lower()} "
            f"(tau² by {name('tau2', spec.tau2)}, {spec.ci_label} by {name('ci', spec.ci)}); "
            "risk of bias by RoB 2; certainty of the evidence by GRADE.")


def plain_language(sections, title: dict, experimental: str, population: str) -> list[str]:
    pooled = [s for s in sections if s.result is not None]
    out = [f"This review looked for randomized trials of {experimental} in "
           f"{_lower_first(population).rstrip('.')}. It found {title['trials']} trials with "
           f"{title['participants']} people."]
    out += [plain_statement(s, experimental)[:-1] + f" ({_trials(s)})." for s in pooled]
    out.append("The trials were found and read with AI assistance; people have not yet checked "
               "them, so these findings are a draft.")
    return out


# --- PRISMA 2020 checklist ----------------------------------------------------------------

# (item, section, topic, where in this report; None = not reported). Page et al. 2021, Table 1.
CHECKLIST = [
    ("1", "Title", "Identify the report as a systematic review", "Title page"),
    ("2", "Abstract", "Structured abstract (PRISMA 2020 for Abstracts)", "Abstract"),
    ("3", "Introduction", "Rationale", None),
    ("4", "Introduction", "Objectives", "Abstract (objectives); Review frame: eligibility"),
    ("5", "Methods", "Eligibility criteria", "Review frame: eligibility criteria"),
    ("6", "Methods", "Information sources", "Review frame: search"),
    ("7", "Methods", "Search strategy", "Review frame: search (strategies as recorded)"),
    ("8", "Methods", "Selection process", "Review frame: screening"),
    ("9", "Methods", "Data collection process",
     "Title page (AI-assisted extraction); Appendix (source of every number)"),
    ("10a", "Methods", "Data items: outcomes", "Review frame: outcomes and timepoints"),
    ("10b", "Methods", "Data items: other variables", "Included studies"),
    ("11", "Methods", "Study risk of bias assessment", "Methods; Risk of bias"),
    ("12", "Methods", "Effect measures", "Methods"),
    ("13a", "Methods", "Synthesis methods: eligibility for each synthesis", "Methods"),
    ("13b", "Methods", "Synthesis methods: preparing data", "Methods (counting, zero cells)"),
    ("13c", "Methods", "Synthesis methods: tabulating and displaying results", "Methods"),
    ("13d", "Methods", "Synthesis methods: the model and software", "Methods"),
    ("13e", "Methods", "Synthesis methods: causes of heterogeneity", "Methods (subgroup analyses)"),
    ("13f", "Methods", "Synthesis methods: sensitivity analyses", "Methods (sensitivity analyses)"),
    ("14", "Methods", "Reporting bias assessment", "Methods; each outcome's robustness"),
    ("15", "Methods", "Certainty assessment", "Methods (GRADE)"),
    ("16a", "Results", "Study selection: the flow", "PRISMA 2020 flow diagram"),
    ("16b", "Results", "Study selection: studies excluded", "Characteristics of excluded studies"),
    ("17", "Results", "Study characteristics", "Included studies"),
    ("18", "Results", "Risk of bias in studies", "Risk of bias"),
    ("19", "Results", "Results of individual studies", "Each outcome's forest plot"),
    ("20a", "Results", "Results of syntheses: characteristics and risk of bias",
     "Each outcome; Risk of bias"),
    ("20b", "Results", "Results of syntheses: statistical syntheses",
     "Summary of findings; each outcome"),
    ("20c", "Results", "Results of syntheses: heterogeneity", "Each outcome's subgroup analyses"),
    ("20d", "Results", "Results of syntheses: sensitivity analyses",
     "Each outcome's sensitivity analyses and matrix"),
    ("21", "Results", "Reporting biases", "Each outcome's robustness (small-study test)"),
    ("22", "Results", "Certainty of evidence", "Summary of findings; each outcome's GRADE table"),
    ("23a", "Discussion", "Interpretation in the context of other evidence", None),
    ("23b", "Discussion", "Limitations of the evidence", None),
    ("23c", "Discussion", "Limitations of the review processes",
     "Review frame: search limits and screening (in part)"),
    ("23d", "Discussion", "Implications for practice, policy and research", None),
    ("24a", "Other information", "Registration", "Title page (protocol)"),
    ("24b", "Other information", "Protocol access", "Title page (protocol)"),
    ("24c", "Other information", "Amendments to the protocol", "Review frame: protocol; "
     "Changes since the preceding version"),
    ("25", "Other information", "Support (funding)", "Title page (funding)"),
    ("26", "Other information", "Competing interests", "Title page (conflicts of interest)"),
    ("27", "Other information", "Availability of data, code and other materials",
     "Appendix; the records and code are public (git commit on the title page)"),
]


# where each place named in CHECKLIST is in the page: the anchor (heading or section id)
# of its leading words, longest first ("Review frame: search" before "Review frame");
# "outcome" is the first outcome's section
CHECKLIST_ANCHORS = {
    "Title page": "title-page", "Abstract": "abstract", "Summary of findings": "summary-of-findings",
    "Methods": "methods", "Review frame: eligibility": "eligibility-criteria",
    "Review frame: outcomes": "outcomes-and-timepoints", "Review frame: search": "search",
    "Review frame: screening": "screening", "Review frame: protocol": "review-frame",
    "Review frame": "review-frame", "PRISMA 2020 flow diagram": "prisma-flow-diagram",
    "Characteristics of excluded studies": "excluded-studies",
    "Included studies": "included-studies", "Risk of bias": "risk-of-bias",
    "Each outcome": "outcome", "Changes since the preceding version":
    "changes-since-the-preceding-version", "Appendix": "appendix",
}


def checklist_places(where: str, first_outcome: str | None) -> list[tuple[str, str | None]]:
    """The places of one checklist answer ("Methods; Risk of bias"), each with the id it
    links to (None where the page has no such place)."""
    out = []
    for part in where.split("; "):
        key = next((k for k in sorted(CHECKLIST_ANCHORS, key=len, reverse=True)
                    if part.startswith(k)), None)
        anchor = CHECKLIST_ANCHORS.get(key) if key else None
        if anchor == "outcome":
            anchor = first_outcome
        out.append((part, anchor))
    return out


def checklist_rows(first_outcome: str | None = None) -> list[dict]:
    """The PRISMA 2020 checklist; ``places``: where each item is answered, with the
    anchor each links to (``first_outcome``: the id of the first outcome's section)."""
    return [{"item": i, "section": s, "topic": t, "where": w or "Not reported",
             "places": checklist_places(w, first_outcome) if w else []}
            for i, s, t, w in CHECKLIST]


# --- living review: changes since the preceding version -----------------------------------

def changes_text(tag: str | None, diff, labels: dict[str, str],
                 certainty: tuple[dict, dict] = ({}, {})) -> dict:
    """PRISMA-LSR's "changes since the preceding version", from ``metasynth diff`` against
    the preceding release tag (``diff``: an ``EvidenceDiff``; None with no tag);
    ``certainty``: GRADE levels per outcome (the release's report, this version)."""
    if tag is None:
        return {"lead": "This is the first version of the review: there is no preceding "
                        "release (no git tag review-v*).", "items": [], "rows": []}
    items = [f"Trials added: {', '.join(diff.added) or 'none'}.",
             f"Trials removed: {', '.join(diff.removed) or 'none'}."]
    if diff.changed:
        items.append("Records changed: " + "; ".join(
            f"{rid} ({', '.join(keys)})" for rid, keys in diff.changed) + ".")
    else:
        items.append("Records changed: none.")
    rows = []
    for o in diff.outcomes:
        if o.outcome not in labels:
            continue
        before, after = _summary(o.before, diff.measure), _summary(o.after, diff.measure)
        null = 0.0 if diff.measure == "RD" else 1.0
        was, now = _conclusion(o.before, null), _conclusion(o.after, null)
        rows.append({"outcome": labels[o.outcome], "before": before, "after": after,
                     "changed": "yes" if o.changed else "no",
                     "conclusion": f"moved: {was} → {now}" if was != now else "unchanged",
                     "certainty": _certainty(certainty[0].get(o.outcome),
                                             certainty[1].get(o.outcome))})
    return {"lead": f"Compared with the preceding version (git tag {tag}), by metasynth diff "
                    "with this report's analysis model.", "items": items, "rows": rows}


def _certainty(before: str | None, after: str | None) -> str:
    if after is None:
        return "not rated"
    if before is None:
        return f"{after} (not in the preceding release's report)"
    return f"{after} (unchanged)" if before == after else f"{before} → {after}"


def _summary(s, measure: str) -> str:
    if s is None or s.k == 0:
        return "not pooled"
    return f"{measure} {interval(s.estimate, s.ci_lower, s.ci_upper)} (k = {s.k})"


def _conclusion(s, null: float) -> str:
    """Which side of no effect the CI lies: a conclusion that moves is one that crosses."""
    if s is None or s.k == 0 or s.ci_lower is None:
        return "not pooled"
    if s.ci_upper < null:
        return f"CI below {null:g}"
    if s.ci_lower > null:
        return f"CI above {null:g}"
    return f"CI includes {null:g}"
