"""Registries, with every HTTP response served by `responses` (no test touches the
network): scaffolding, verification, the cache, rate limits, and one test per fault."""

import json
import shutil
import time
from pathlib import Path

import pytest
import requests
import responses

from metasynth.cli import main
from metasynth.registries.client import ClientConfig, RegistryClient, RegistryError
from tests.conftest import STUDIES

FIX = Path(__file__).parent / "fixtures" / "registries"
CTGOV = "https://ctgov.test/api/v2"
CROSSREF = "https://crossref.test"
EUTILS = "https://eutils.test/entrez/eutils"
DOI = "10.5555/metasynth.test.1"


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("METASYNTH_CTGOV_URL", CTGOV)
    monkeypatch.setenv("METASYNTH_CROSSREF_URL", CROSSREF)
    monkeypatch.setenv("METASYNTH_EUTILS_URL", EUTILS)
    monkeypatch.setenv("METASYNTH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("METASYNTH_HTTP_RETRIES", "2")
    monkeypatch.setenv("METASYNTH_HTTP_BACKOFF", "0")
    monkeypatch.delenv("METASYNTH_EMAIL", raising=False)
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    monkeypatch.setattr("metasynth.registries.client.ClientConfig.min_interval",
                        lambda self, source: 0.0)


def serve_all(rsps, crossref_file="crossref_work.json"):
    rsps.add(responses.GET, f"{CTGOV}/studies/NCT09999991",
             json=json.loads((FIX / "ctgov_NCT09999991.json").read_text()))
    rsps.add(responses.GET, f"{CROSSREF}/works/{DOI}",
             json=json.loads((FIX / crossref_file).read_text()))
    rsps.add(responses.GET, f"{EUTILS}/esearch.fcgi", json=json.loads((FIX / "esearch.json").read_text()))
    rsps.add(responses.GET, f"{EUTILS}/esummary.fcgi", json=json.loads((FIX / "esummary.json").read_text()))
    rsps.add(responses.GET, f"{EUTILS}/efetch.fcgi", body=(FIX / "efetch.xml").read_text(),
             content_type="text/xml")


@pytest.fixture
def folder(tmp_path):
    f = tmp_path / "studies"
    f.mkdir()
    shutil.copy(STUDIES / "outcomes.yaml", f)
    return f


def fill_blanks(text: str) -> str:
    """What a contributor adds from the paper to a scaffolded record."""
    repl = {
        "  condition:": '  condition: "COVID-19 ARDS"', "  ards_severity:": '  ards_severity: "moderate"',
        "  ventilation_at_baseline:": "  ventilation_at_baseline: invasive",
        "  product:": '  product: "synthetic MSC"', "  product_type:": "  product_type: cells",
        "  tissue_source:": "  tissue_source: umbilical-cord", "  dose:": '  dose: "1e6/kg"',
        "  infusions:": "  infusions: 2", "  comparator:": '  comparator: "vehicle"',
        "  extracted_by:": '  extracted_by: "tester"'}
    out = []
    for line in text.splitlines():
        key = line.split("#")[0].rstrip()
        out.append(repl.get(key, line))
    return "\n".join(out) + "\n"


@responses.activate
def test_new_scaffolds_from_registries_and_validates_once_filled(folder, capsys):
    serve_all(responses)
    rc = main(["new", "testwell2024", "--dir", str(folder), "--nct", "NCT09999991", "--doi", DOI])
    assert rc == 0, capsys.readouterr().err
    text = (folder / "testwell2024.yaml").read_text()
    assert 'first_author: "Testwell"' in text and 'pmid: "99999991"' in text
    assert "randomized: 30" in text and "randomized: 29" in text
    assert "experimental: {events: 6, total: 30}" in text and "control: {events: 9, total: 29}" in text
    assert "timepoint_days: 28" in text and "source: registry" in text and "retrieved" in text
    # blanks make validation fail with lines, until a person fills them from the paper
    assert main(["validate", str(folder)]) == 1
    assert "testwell2024.yaml:" in capsys.readouterr().err
    (folder / "testwell2024.yaml").write_text(fill_blanks(text))
    assert main(["validate", str(folder)]) == 0, capsys.readouterr().err


def _record(folder: Path, **changes) -> None:
    text = (Path(__file__).parent / "good_record.yaml").read_text()
    text = (text.replace("id: good2021", "id: testwell2024").replace("first_author: Good",
            "first_author: Testwell").replace("year: 2021", "year: 2024")
            .replace('title: "A valid minimal record"',
                     'title: "A synthetic randomized trial of stromal cells used only to test metasynth"')
            .replace("10.1000/test.2021.1", DOI).replace("NCT99999991", "NCT09999991")
            .replace('  doi: "10.5555/metasynth.test.1"\nregistration',
                     '  doi: "10.5555/metasynth.test.1"\n  pmid: "99999991"\nregistration'))
    for old, new in changes.items():
        text = text.replace(old, new)
    (folder / "testwell2024.yaml").write_text(text)


@responses.activate
def test_verify_reports_each_check(folder, capsys):
    serve_all(responses)
    _record(folder)
    rc = main(["verify", str(folder)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "DOI-PMID" in out and "PMID 99999991 is the same article" in out
    assert "linked by Crossref, PubMed, ClinicalTrials.gov references" in out
    # the record says 50/50 randomized and 10 vs 15 deaths: registry 30/29 and 6 vs 9
    assert "randomized" in out and "record [50, 50], registry participant flow [29, 30]" in out
    assert "registry all-cause deaths [6, 9]" in out


@responses.activate
def test_verify_flags_a_retraction_as_error(folder, capsys):
    serve_all(responses, "crossref_retracted.json")
    _record(folder)
    assert main(["verify", str(folder)]) == 1
    assert "retraction" in capsys.readouterr().out


@responses.activate
def test_verify_wrong_pmid_and_title_are_errors(folder, capsys):
    serve_all(responses)
    _record(folder, **{'pmid: "99999991"': 'pmid: "12345678"',
                       "used only to test metasynth": "of something else entirely"})
    assert main(["verify", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "PubMed gives PMID 99999991 for the DOI; the record has 12345678" in out
    assert "Crossref title" in out


@responses.activate
def test_second_run_uses_the_cache_and_offline_needs_no_network(folder, capsys):
    serve_all(responses)
    _record(folder)
    main(["verify", str(folder)])
    first = len(responses.calls)
    assert first >= 4
    main(["verify", str(folder)])
    assert len(responses.calls) == first  # nothing requested again
    responses.reset()  # no responses registered: any request would fail
    assert main(["verify", str(folder), "--offline"]) == 0  # every check ran from the cache
    assert capsys.readouterr().out.strip().splitlines()[-1].endswith(", 0 skipped")


def test_offline_miss_is_reported_not_raised(folder, capsys):
    _record(folder)
    assert main(["verify", str(folder), "--offline"]) == 1  # checks that could not run fail
    capsys.readouterr()
    assert main(["verify", str(folder), "--offline", "--allow-skipped"]) == 0
    out = capsys.readouterr().out
    assert "not in the cache and --offline is set" in out and "skipped" in out


def test_verify_offline_runs_on_the_shipped_corpus(capsys):
    assert main(["verify", str(STUDIES), "--offline", "--allow-skipped"]) == 0
    out = capsys.readouterr().out
    assert "bowdish2023" in out and out.strip().splitlines()[-1].endswith("skipped")


# --- faults: each a one-line error naming the source, no hang, no file ---------------

FAULTS = {
    "timeout": dict(body=requests.exceptions.ConnectTimeout("connect timed out")),
    "reset": dict(body=requests.exceptions.ConnectionError("Connection reset by peer")),
    "429": dict(status=429, headers={"Retry-After": "0"}, body="slow down"),
    "500": dict(status=500, body="<html>Internal Server Error</html>"),
    "truncated": dict(status=200, body='{"protocolSection": {"identificationModule": {"nct'),
    "not-json": dict(status=200, body="<html>maintenance</html>", content_type="text/html"),
    "404": dict(status=404, body="Study not found", content_type="text/plain"),
}
MESSAGES = {"timeout": "timed out", "reset": "connection failed", "429": "HTTP 429",
            "500": "HTTP 500", "truncated": "not JSON", "not-json": "not JSON", "404": "not found"}


@pytest.mark.parametrize("fault", sorted(FAULTS))
@responses.activate
def test_fault_gives_one_line_error_and_no_file(fault, folder, capsys):
    for _ in range(4):  # enough for every retry
        responses.add(responses.GET, f"{CTGOV}/studies/NCT09999991", **FAULTS[fault])
    start = time.monotonic()
    rc = main(["new", "testwell2024", "--dir", str(folder), "--nct", "NCT09999991"])
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert err.startswith("ClinicalTrials.gov: ") and MESSAGES[fault] in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (folder / "testwell2024.yaml").exists()
    assert not list(folder.glob(".*tmp"))
    assert time.monotonic() - start < 10


@responses.activate
def test_retry_after_429_then_success(folder, capsys):
    responses.add(responses.GET, f"{CTGOV}/studies/NCT09999991", status=429,
                  headers={"Retry-After": "0"})
    responses.add(responses.GET, f"{CTGOV}/studies/NCT09999991",
                  json=json.loads((FIX / "ctgov_NCT09999991.json").read_text()))
    assert main(["new", "testwell2024", "--dir", str(folder), "--nct", "NCT09999991"]) == 0
    assert len(responses.calls) == 2


def test_malformed_fields_are_findings_not_crashes():
    from metasynth.registries.client import Fetched
    from metasynth.registries.ctgov import parse_study

    data = json.loads((FIX / "ctgov_NCT09999991.json").read_text())
    flow = data["resultsSection"]["participantFlowModule"]["periods"][0]["milestones"][0]
    flow["achievements"][0]["numSubjects"] = "NA"
    del data["resultsSection"]["adverseEventsModule"]["eventGroups"][1]["deathsNumAffected"]
    data["protocolSection"]["designModule"] = "garbage"
    study = parse_study(data, Fetched("ctgov", "u", 200, "", "2026-11-26", False), "NCT09999991")
    assert any("not a count ('NA')" in p for p in study.problems)
    groups = {g.title: g for g in study.groups}
    assert groups["Stromal Cells"].started is None and groups["Placebo"].deaths is None
    assert study.allocation is None


def test_rate_limit_spaces_requests_per_host(monkeypatch):
    monkeypatch.undo()
    sleeps = []
    now = [100.0]
    client = RegistryClient(ClientConfig(cache_dir=None), sleep=sleeps.append, clock=lambda: now[0])
    client._wait_turn("eutils")
    client._wait_turn("eutils")  # no time passed: must wait 1/3 s (3 requests/s without a key)
    client._wait_turn("crossref")  # another host: no wait
    assert sleeps == [pytest.approx(1 / 3)]
    keyed = RegistryClient(ClientConfig(ncbi_api_key="k", cache_dir=None), sleep=sleeps.append,
                           clock=lambda: now[0])
    keyed._wait_turn("eutils")
    keyed._wait_turn("eutils")
    assert sleeps[-1] == pytest.approx(1 / 10)


@responses.activate
def test_keys_never_reach_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NCBI_API_KEY", "secret-key")
    monkeypatch.setenv("METASYNTH_EMAIL", "me@example.org")
    responses.add(responses.GET, f"{EUTILS}/esearch.fcgi",
                  json=json.loads((FIX / "esearch.json").read_text()))
    from metasynth.registries.pubmed import pmid_for_doi

    client = RegistryClient(ClientConfig.from_env())
    assert pmid_for_doi(client, DOI) == "99999991"
    assert "api_key=secret-key" in responses.calls[0].request.url  # sent to NCBI...
    cached = list((tmp_path / "cache").rglob("*.json"))
    assert cached and all("secret-key" not in p.read_text() for p in cached)  # ...never stored


def test_bad_nct_is_rejected_before_any_request():
    from metasynth.registries.ctgov import fetch_study

    with pytest.raises(RegistryError, match="not an NCT number"):
        fetch_study(RegistryClient(ClientConfig(cache_dir=None)), "NCT123")
