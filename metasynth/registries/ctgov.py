"""ClinicalTrials.gov API v2: ``GET /studies/{nctId}``, parsed strictly and totally.

Every field is optional; numbers arrive as strings in the results modules ("NA" occurs)
and as integers in the adverse-events module; a missing value is not 0. Group ids
differ between modules (FG, BG, OG, EG), so arms are matched by title. Anything
missing or malformed becomes a note in ``problems``, never an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from metasynth.registries.client import Fetched, RegistryClient, RegistryError, registry_reader

NCT_RE = re.compile(r"^NCT\d{8}$")


@dataclass(frozen=True)
class Arm:
    title: str
    type: str | None  # EXPERIMENTAL, PLACEBO_COMPARATOR, ...
    description: str | None = None


@dataclass(frozen=True)
class ResultGroup:
    title: str
    started: int | None = None
    deaths: int | None = None
    deaths_at_risk: int | None = None
    serious: int | None = None
    serious_at_risk: int | None = None


@dataclass(frozen=True)
class CtgovStudy:
    nct_id: str
    url: str
    retrieved: str
    title: str | None = None
    allocation: str | None = None
    masking: str | None = None
    enrollment: int | None = None
    enrollment_type: str | None = None
    arms: tuple[Arm, ...] = ()
    countries: tuple[str, ...] = ()
    result_pmids: tuple[str, ...] = ()
    has_results: bool = False
    groups: tuple[ResultGroup, ...] = ()
    adverse_event_timeframe: str | None = None
    problems: tuple[str, ...] = field(default=())


def _get(d, *keys):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _int(value, what: str, problems: list) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        problems.append(f"{what}: not a number ({value!r})")
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    problems.append(f"{what}: not a count ({text!r})")
    return None


def _norm(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", title.lower()).strip()


def parse_study(data, fetched: Fetched, nct_id: str) -> CtgovStudy:
    problems: list[str] = []
    if not isinstance(data, dict):
        raise RegistryError("ctgov", f"{nct_id}: expected a JSON object")
    proto = data.get("protocolSection") or {}
    design = _get(proto, "designModule") or {}
    arms = []
    for g in _get(proto, "armsInterventionsModule", "armGroups") or []:
        if isinstance(g, dict) and g.get("label"):
            arms.append(Arm(str(g["label"]), g.get("type"), g.get("description")))
    countries = []
    for loc in _get(proto, "contactsLocationsModule", "locations") or []:
        c = loc.get("country") if isinstance(loc, dict) else None
        if c and c not in countries:
            countries.append(c)
    pmids = tuple(str(r["pmid"]) for r in _get(proto, "referencesModule", "references") or []
                  if isinstance(r, dict) and r.get("pmid") and r.get("type") == "RESULT")
    enrollment = _get(design, "enrollmentInfo") or {}

    groups: dict[str, dict] = {}
    results = data.get("resultsSection") or {}
    flow = results.get("participantFlowModule") or {}
    titles = {g.get("id"): g.get("title") for g in flow.get("groups") or [] if isinstance(g, dict)}
    periods = flow.get("periods") or []
    if periods:
        for m in periods[0].get("milestones") or []:
            if isinstance(m, dict) and m.get("type") == "STARTED":
                for a in m.get("achievements") or []:
                    title = titles.get(a.get("groupId"))
                    if title:
                        groups.setdefault(_norm(title), {"title": title})["started"] = _int(
                            a.get("numSubjects"), f"participant flow STARTED, {title}", problems)
    ae = results.get("adverseEventsModule") or {}
    for g in ae.get("eventGroups") or []:
        if not isinstance(g, dict) or not g.get("title"):
            continue
        entry = groups.setdefault(_norm(g["title"]), {"title": g["title"]})
        for key, field_name in (("deaths", "deathsNumAffected"), ("deaths_at_risk", "deathsNumAtRisk"),
                                ("serious", "seriousNumAffected"),
                                ("serious_at_risk", "seriousNumAtRisk")):
            entry[key] = _int(g.get(field_name), f"adverse events {field_name}, {g['title']}",
                              problems)
    if data.get("hasResults") and not groups:
        problems.append("hasResults is true but no participant flow or adverse-event groups")
    return CtgovStudy(
        nct_id=nct_id, url=fetched.url, retrieved=fetched.retrieved,
        title=_get(proto, "identificationModule", "officialTitle")
        or _get(proto, "identificationModule", "briefTitle"),
        allocation=_get(design, "designInfo", "allocation"),
        masking=_get(design, "designInfo", "maskingInfo", "masking"),
        enrollment=_int(enrollment.get("count"), "enrollment count", problems),
        enrollment_type=enrollment.get("type"), arms=tuple(arms), countries=tuple(countries),
        result_pmids=pmids, has_results=bool(data.get("hasResults")),
        groups=tuple(ResultGroup(**g) for g in groups.values()),
        adverse_event_timeframe=ae.get("timeFrame"), problems=tuple(problems))


@registry_reader("ctgov")
def fetch_study(client: RegistryClient, nct_id: str) -> CtgovStudy:
    nct_id = nct_id.strip().upper()
    if not NCT_RE.match(nct_id):
        raise RegistryError("ctgov", f"{nct_id!r} is not an NCT number (NCT and 8 digits)")
    fetched = client.get("ctgov", f"studies/{nct_id}")
    return parse_study(fetched.json(), fetched, nct_id)
