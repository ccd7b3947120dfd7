"""Crossref ``GET /works/{doi}``: citation, linked trial numbers, retractions."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from metasynth.registries.client import RegistryClient, RegistryError, registry_reader

CONCERNS = {"retraction", "withdrawal", "removal", "expression_of_concern",
            "expression-of-concern", "partial_retraction", "partial-retraction"}


@dataclass(frozen=True)
class CrossrefWork:
    doi: str
    url: str
    retrieved: str
    title: str | None
    authors: tuple[tuple[str, str], ...]  # (given, family)
    journal: str | None
    year: int | None
    volume: str | None
    issue: str | None
    pages: str | None
    trial_numbers: tuple[str, ...]
    concerns: tuple[str, ...]  # e.g. "retraction (10.1234/notice)"


def _first(value):
    return value[0] if isinstance(value, list) and value else None


def parse_work(message, url: str, retrieved: str, doi: str) -> CrossrefWork:
    if not isinstance(message, dict):
        raise RegistryError("crossref", f"{doi}: expected a JSON object in 'message'")
    authors = tuple((str(a.get("given", "")), str(a.get("family", "")))
                    for a in message.get("author") or [] if isinstance(a, dict))
    parts = _first((message.get("issued") or {}).get("date-parts"))
    year = parts[0] if isinstance(parts, list) and parts and isinstance(parts[0], int) else None
    trials = tuple(str(t.get("clinical-trial-number")).strip().upper()
                   for t in message.get("clinical-trial-number") or []
                   if isinstance(t, dict) and t.get("clinical-trial-number"))
    concerns = []
    for key in ("update-to", "updated-by"):
        for u in message.get(key) or []:
            if isinstance(u, dict) and str(u.get("type", "")).lower() in CONCERNS:
                concerns.append(f"{u.get('type')} ({u.get('DOI', 'no DOI')})")
    relation = message.get("relation") or {}
    for key in ("is-retracted-by", "has-retraction"):
        for r in relation.get(key) or []:
            if isinstance(r, dict):
                concerns.append(f"retraction ({r.get('id', 'no id')})")
    return CrossrefWork(doi=doi, url=url, retrieved=retrieved,
                        title=_first(message.get("title")), authors=authors,
                        journal=_first(message.get("container-title")), year=year,
                        volume=message.get("volume"), issue=message.get("issue"),
                        pages=message.get("page"), trial_numbers=trials,
                        concerns=tuple(concerns))


@registry_reader("crossref")
def fetch_work(client: RegistryClient, doi: str) -> CrossrefWork:
    doi = doi.strip()
    fetched = client.get("crossref", f"works/{quote(doi, safe='/')}")
    data = fetched.json()
    message = data.get("message") if isinstance(data, dict) else None
    return parse_work(message, fetched.url, fetched.retrieved, doi)
