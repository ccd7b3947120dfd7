"""NCBI E-utilities: DOI -> PMID (esearch), summary (esummary), trial links and
retractions (efetch XML: DataBankList, CommentsCorrections)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from metasynth.registries.client import RegistryClient, RegistryError, registry_reader


@dataclass(frozen=True)
class PubmedRecord:
    pmid: str
    url: str
    retrieved: str
    title: str | None
    journal: str | None
    pubdate: str | None
    doi: str | None
    pubtypes: tuple[str, ...]
    trial_numbers: tuple[str, ...] = ()
    concerns: tuple[str, ...] = ()


@registry_reader("eutils")
def pmid_for_doi(client: RegistryClient, doi: str) -> str | None:
    fetched = client.get("eutils", "esearch.fcgi",
                         {"db": "pubmed", "term": f"{doi}[doi]", "retmode": "json"})
    data = fetched.json()
    ids = (data.get("esearchresult") or {}).get("idlist") if isinstance(data, dict) else None
    if not isinstance(ids, list):
        raise RegistryError("eutils", f"esearch for {doi}: no idlist in the response")
    ids = [str(i) for i in ids if str(i).isdigit()]
    return ids[0] if len(ids) == 1 else None


@registry_reader("eutils")
def fetch_record(client: RegistryClient, pmid: str) -> PubmedRecord:
    if not str(pmid).isdigit():
        raise RegistryError("eutils", f"{pmid!r} is not a PMID")
    fetched = client.get("eutils", "esummary.fcgi", {"db": "pubmed", "id": pmid, "retmode": "json"})
    data = fetched.json()
    item = ((data.get("result") or {}).get(str(pmid))) if isinstance(data, dict) else None
    if not isinstance(item, dict) or item.get("error"):
        raise RegistryError("eutils", f"PMID {pmid}: not found in esummary")
    doi = next((a.get("value") for a in item.get("articleids") or []
                if isinstance(a, dict) and a.get("idtype") == "doi"), None)
    pubtypes = tuple(str(p) for p in item.get("pubtype") or [])
    trials, concerns = (), ()
    try:
        xml = client.get("eutils", "efetch.fcgi", {"db": "pubmed", "id": pmid, "retmode": "xml"},
                         kind="xml")
        trials, concerns = _parse_efetch(xml.body)
    except RegistryError:
        pass  # efetch is an extra: the summary stands without it
    if "Retracted Publication" in pubtypes:
        concerns = (*concerns, "publication type 'Retracted Publication'")
    return PubmedRecord(pmid=str(pmid), url=fetched.url, retrieved=fetched.retrieved,
                        title=item.get("title"), journal=item.get("source"),
                        pubdate=item.get("pubdate"), doi=doi, pubtypes=pubtypes,
                        trial_numbers=trials, concerns=concerns)


def _parse_efetch(body: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as err:
        raise RegistryError("eutils", f"efetch XML unreadable: {err}") from None
    trials = tuple(a.text.strip().upper() for a in root.iter("AccessionNumber") if a.text)
    concerns = tuple(f"{c.get('RefType')}" for c in root.iter("CommentsCorrections")
                     if c.get("RefType") in ("RetractionIn", "ExpressionOfConcernIn"))
    return trials, concerns
