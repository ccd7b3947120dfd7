"""`metasynth new ID --nct ... --doi ... --pmid ...`: a record scaffolded from registries.

Citation from Crossref, PMID from PubMed, design, arms, countries and (where results are
posted) participants per arm, all-cause deaths and serious adverse events from
ClinicalTrials.gov. Every scaffolded value says where it came from and when; numbers
carry registry provenance; whatever no source gives is left as a commented blank, so
``metasynth validate`` lists what a person must still read from the paper. Everything
is fetched before anything is written: a failure writes no file.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from metasynth.registries import crossref, ctgov, pubmed
from metasynth.registries.client import RegistryClient

CONTROL_TYPES = {"PLACEBO_COMPARATOR": "placebo", "SHAM_COMPARATOR": "sham",
                 "NO_INTERVENTION": "standard-care", "ACTIVE_COMPARATOR": "active"}
MASKING = {"NONE": "open-label", "SINGLE": "single", "DOUBLE": "double", "TRIPLE": "double",
           "QUADRUPLE": "double"}
ALLOCATION = {"RANDOMIZED": "randomized", "NON_RANDOMIZED": "quasi-randomized"}


def q(value) -> str:
    """A YAML scalar: numbers as they are, text double-quoted (JSON quoting is valid YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def _days(timeframe: str | None) -> int | None:
    m = re.fullmatch(r"\s*(\d+)\s*days?\s*", timeframe or "", flags=re.I)
    return int(m.group(1)) if m else None


def _arm_ids(arms) -> list[str]:
    ids, seen = [], {}
    for a in arms:
        base = "control" if a.type in CONTROL_TYPES else "experimental"
        seen[base] = seen.get(base, 0) + 1
        ids.append(base if seen[base] == 1 else f"{base}{seen[base]}")
    return ids


def scaffold_record(study_id: str, client: RegistryClient, nct: str | None = None,
                    doi: str | None = None, pmid: str | None = None) -> str:
    work = crossref.fetch_work(client, doi) if doi else None
    if doi and not pmid:
        pmid = pubmed.pmid_for_doi(client, doi)
    trial = ctgov.fetch_study(client, nct) if nct else None
    today = datetime.now(timezone.utc).date().isoformat()
    L: list[str] = [f"# Scaffolded by `metasynth new` on {today}. Values marked 'from ...' were",
                    "# read from public registries; check each against the trial's paper, fill",
                    "# every blank, then run `metasynth validate studies/`.", "",
                    f"id: {study_id}", "citation:"]

    def field(indent: int, key: str, value, note: str = "") -> None:
        pad = " " * indent
        if value is None or value == "":
            L.append(f"{pad}{key}:{' ' * max(1, 28 - len(key) - indent)}# TODO {note}".rstrip())
        else:
            L.append(f"{pad}{key}: {q(value)}" + (f"  # {note}" if note else ""))

    src = f"from Crossref, retrieved {work.retrieved}" if work else "from the paper"
    first = work.authors[0][1] if work and work.authors else None
    field(2, "title", work.title if work else None, src)
    field(2, "first_author", first, src)
    field(2, "year", work.year if work else None, src)
    field(2, "journal", work.journal if work else None, src + " (use the NLM abbreviation)")
    for key in ("volume", "issue", "pages"):
        field(2, key, getattr(work, key if key != "pages" else "pages") if work else None, src)
    field(2, "doi", doi, "")
    field(2, "pmid", pmid, "from PubMed esearch" if pmid else "from PubMed")
    L.append(f"registration: [{q(trial.nct_id)}]" if trial else "registration: []")
    L += ["", "sources:"]
    if doi:
        citation = (f"{first} et al. {work.journal} {work.year}" if work and first
                    else f"doi:{doi}")
        L += ["  - id: main", "    kind: primary", f"    citation: {q(citation)}",
              f"    doi: {q(doi)}"]
    if trial:
        L += ["  - id: registry", "    kind: registry",
              f"    citation: {q(f'ClinicalTrials.gov {trial.nct_id}, retrieved {trial.retrieved}')}",
              f"    url: {q(f'https://clinicaltrials.gov/study/{trial.nct_id}')}"]
    if not doi and not trial:
        L += ["  - id: main", "    kind: primary", "    citation:   # TODO", "    doi:   # TODO"]
    reg = f"from ClinicalTrials.gov {trial.nct_id}, retrieved {trial.retrieved}" if trial else ""
    control = next((CONTROL_TYPES[a.type] for a in (trial.arms if trial else ())
                    if a.type in CONTROL_TYPES), None)
    L += ["", "design:"]
    field(2, "randomization", ALLOCATION.get(trial.allocation) if trial else None,
          reg or "randomized | quasi-randomized | unclear")
    field(2, "blinding", MASKING.get(trial.masking) if trial else None,
          reg or "double | single | open-label | unclear")
    field(2, "control", control, reg or "placebo | sham | standard-care | active")
    L.append(f"  countries: [{', '.join(q(c) for c in trial.countries)}]"
             + (f"  # {reg}" if trial and trial.countries else "") if trial else "  countries: []")
    if trial and trial.enrollment is not None:
        L.append(f"  notes: {q(f'Registry enrollment: {trial.enrollment} ({trial.enrollment_type})')}")
    L += ["", "population:"]
    for key, note in (("condition", "as the trial defines it"), ("ards_severity", ""),
                      ("ventilation_at_baseline", "invasive | non-invasive-or-oxygen | mixed | unclear")):
        field(2, key, None, note)
    L += ["", "intervention:"]
    for key, note in (("product", "name as published"),
                      ("product_type", "cells | secretome | extracellular-vesicles"),
                      ("tissue_source", "bone-marrow | umbilical-cord | wharton-jelly | ..."),
                      ("dose", "as published"), ("infusions", "number of administrations"),
                      ("comparator", "what the control arm received")):
        field(2, key, None, note)

    L += ["", "arms:"]
    arms = list(trial.arms) if trial else []
    ids = _arm_ids(arms) if arms else ["msc", "control"]
    groups = {re.sub(r"[^a-z0-9]+", " ", g.title.lower()).strip(): g for g in trial.groups} if trial else {}
    arm_groups = []
    for i, arm_id in enumerate(ids):
        arm = arms[i] if arms else None
        g = groups.get(re.sub(r"[^a-z0-9]+", " ", arm.title.lower()).strip()) if arm else None
        arm_groups.append((arm_id, g))
        role = ("control" if arm.type in CONTROL_TYPES else "experimental") if arm else (
            "experimental" if i == 0 else "control")
        L += [f"  - id: {arm_id}", f"    role: {role}"]
        field(4, "label", arm.title if arm else None, reg)
        if g is not None and g.started is not None:
            L += [f"    randomized: {g.started}", "    provenance:",
                  "      - source: registry", "        status: secondary",
                  f"        location: {q('Results: participant flow, STARTED')}",
                  f"        quote: {q(f'{g.title}: STARTED {g.started}')}"]
        else:
            field(4, "randomized", None, "from the paper's CONSORT flow")
            L += ["    provenance:", "      - source: main",
                  "        status:   # TODO primary | derived", "        location:   # TODO",
                  "        quote:   # TODO"]

    outcomes = []
    day = _days(trial.adverse_event_timeframe) if trial else None
    for endpoint, ev, risk, what in (("death", "deaths", "deaths_at_risk", "all-cause mortality"),
                                     ("sae", "serious", "serious_at_risk", "serious adverse events")):
        pairs = [(a, g) for a, g in arm_groups if g is not None and getattr(g, ev) is not None
                 and getattr(g, risk)]
        if trial and len(pairs) == len(arm_groups) and pairs:
            block = [f"  - endpoint: {endpoint}"]
            block.append(f"    timepoint_days: {day}" if day else
                         f"    timepoint_days:   # TODO registry time frame: "
                         f"{trial.adverse_event_timeframe or 'not given'}")
            block.append("    counts:")
            block += [f"      {a}: {{events: {getattr(g, ev)}, total: {getattr(g, risk)}}}"
                      for a, g in pairs]
            quote = "; ".join(f"{g.title}: {getattr(g, ev)} affected / {getattr(g, risk)} at risk"
                              for _, g in pairs)
            # registry posted results are a summary, not the trial's publication
            block += ["    provenance:", "      - source: registry", "        status: secondary",
                      f"        location: {q(f'Results: adverse events, {what}')}",
                      f"        quote: {q(quote)}"]
            outcomes += block
    L += ["", "outcomes:" if outcomes else "outcomes: []   # TODO from the paper (see template)"]
    L += outcomes
    used = [name for name, on in (("Crossref", work), ("PubMed", pmid),
                                  ("ClinicalTrials.gov", trial)) if on]
    note = f"Scaffolded from {', '.join(used)}; verify every value against the paper."
    L += ["", "record:", "  extracted_by:   # TODO your name", f"  extracted_on: {q(today)}",
          f"  notes: {q(note)}"]
    return "\n".join(_one_line(x) for x in L) + "\n"


def _one_line(line: str) -> str:
    """Each entry of the scaffold is one line: registry text pasted into a comment (a
    time frame, a country) may not break out of it with a newline and write YAML keys."""
    from metasynth.safetext import CONTROL

    return CONTROL.sub(" ", line).replace("\n", " ").replace("\r", " ")
