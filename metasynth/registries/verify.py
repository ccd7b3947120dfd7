"""`metasynth verify`: each record checked against Crossref, PubMed and ClinicalTrials.gov.

Errors (exit 1): the DOI does not resolve; the title or year does not match; DOI and
PMID belong to different articles; a retraction or expression of concern. Warnings:
the registration is not linked to the article; numbers randomized or deaths differ from
the registry (sources can legitimately differ: record the registry's value as an
alternative); a check that could not run (a registry unreachable, or --offline without
a cached response).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from metasynth.records.load import StudySet
from metasynth.records.schema import Study
from metasynth.registries import crossref, ctgov, pubmed
from metasynth.registries.client import NotFound, RegistryClient, RegistryError, Unreachable


@dataclass(frozen=True)
class Check:
    study: str
    check: str
    status: str  # ok | warning | error | skipped
    detail: str
    # False: the check could not run (a registry unreachable or an offline cache miss),
    # which makes `verify` fail unless --allow-skipped; a check that does not apply
    # (a non-NCT registration) is skipped but counts as run
    ran: bool = field(default=True, compare=False)
    unreachable: str = field(default="", compare=False)  # the registry that could not be reached

    def to_dict(self) -> dict:
        d = asdict(self)
        del d["ran"], d["unreachable"]
        return d


def _words(text: str | None) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", (text or "").lower()))


def titles_match(a: str | None, b: str | None) -> bool:
    wa, wb = _words(a), _words(b)
    if not wa or not wb:
        return False
    return len(wa & wb) / len(wa | wb) >= 0.8


def verify_study(study: Study, client: RegistryClient) -> list[Check]:
    out: list[Check] = []

    def add(check, status, detail):
        out.append(Check(study.id, check, status, detail))

    def could_not(check, err: RegistryError):
        out.append(Check(study.id, check, "skipped", str(err), ran=False,
                         unreachable=err.source if isinstance(err, Unreachable) else ""))

    c = study.citation
    work = None
    try:
        work = crossref.fetch_work(client, c.doi)
        if not titles_match(work.title, c.title):
            add("DOI title", "error", f"Crossref title {work.title!r} differs from the record's")
        elif work.year is not None and work.year != c.year:
            status = "warning" if abs(work.year - c.year) == 1 else "error"
            add("DOI year", status, f"Crossref says {work.year}, the record {c.year} "
                "(online-first and issue years can differ by one)")
        else:
            add("DOI", "ok", f"resolves; title and year match ({work.url})")
        for concern in work.concerns:
            add("retraction", "error", f"Crossref lists {concern}")
    except NotFound:
        add("DOI", "error", f"Crossref does not know DOI {c.doi}")
    except RegistryError as err:
        could_not("DOI", err)

    record = None
    try:
        found = pubmed.pmid_for_doi(client, c.doi)
        if c.pmid and found and found != c.pmid:
            add("DOI-PMID", "error", f"PubMed gives PMID {found} for the DOI; the record has {c.pmid}")
        elif c.pmid or found:
            record = pubmed.fetch_record(client, c.pmid or found)
            if record.doi and record.doi.lower() != c.doi.lower():
                add("DOI-PMID", "error", f"PMID {record.pmid} belongs to DOI {record.doi}")
            elif not c.pmid:
                add("DOI-PMID", "warning", f"PubMed has this article as PMID {found}: add it")
            else:
                add("DOI-PMID", "ok", f"PMID {record.pmid} is the same article")
            for concern in record.concerns:
                add("retraction", "error", f"PubMed lists {concern}")
        else:
            add("DOI-PMID", "warning", "PubMed finds no article for the DOI")
    except RegistryError as err:
        could_not("DOI-PMID", err)

    for reg in study.registration:
        if not reg.upper().startswith("NCT"):
            add("registration", "skipped", f"{reg}: only ClinicalTrials.gov ids are checked")
            continue
        try:
            trial = ctgov.fetch_study(client, reg)
        except NotFound:
            add("registration", "error", f"ClinicalTrials.gov does not know {reg}")
            continue
        except RegistryError as err:
            could_not("registration", err)
            continue
        linked = [name for name, ok in (
            ("Crossref", work is not None and reg.upper() in work.trial_numbers),
            ("PubMed", record is not None and reg.upper() in record.trial_numbers),
            ("ClinicalTrials.gov references", bool(c.pmid) and c.pmid in trial.result_pmids)) if ok]
        add("registration link", "ok" if linked else "warning",
            f"{reg} linked by {', '.join(linked)}" if linked
            else f"{reg} is not linked to the article by Crossref, PubMed or the registry")
        _compare_numbers(study, trial, add)
        for problem in trial.problems:
            add("registry data", "warning", f"{reg}: {problem}")
    return out


def _compare_numbers(study: Study, trial, add) -> None:
    started = sorted(g.started for g in trial.groups if g.started is not None)
    ours = sorted(a.randomized for a in study.arms if a.randomized is not None)
    if started and ours:
        if started == ours:
            add("randomized", "ok", f"per arm {ours} as in the registry")
        else:
            add("randomized", "warning", f"record {ours}, registry participant flow {started}")
    deaths = sorted(g.deaths for g in trial.groups if g.deaths is not None)
    if deaths:
        roles = {a.id: a.role for a in study.arms}
        candidates = {}
        for o in study.outcomes:
            if o.endpoint == "death" and o.counts:
                candidates[o.timepoint_days] = sorted(
                    c.events for a, c in o.counts.items() if roles.get(a))
        match = [d for d, ev in candidates.items() if ev == deaths]
        if match:
            add("deaths", "ok", f"registry all-cause deaths {deaths} = record at day {match[0]}")
        elif candidates:
            add("deaths", "warning", f"registry all-cause deaths {deaths} "
                f"({trial.adverse_event_timeframe or 'time frame not given'}) match no recorded "
                f"timepoint {candidates}")
        else:
            add("deaths", "warning", f"registry reports all-cause deaths {deaths}; the record has none")


def verify_studies(studies: StudySet, client: RegistryClient) -> list[Check]:
    checks: list[Check] = []
    for item in studies.studies:
        checks.extend(verify_study(item.study, client))
    return checks
