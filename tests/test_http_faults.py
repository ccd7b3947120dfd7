"""Network faults against a fake registry server on 127.0.0.1 (no real network): a
trickling server, a huge Retry-After, truncated, HTML and empty 200s, a gzip bomb, a
redirect loop, wrong-shape JSON for each registry, and every registry down. Each ends in
a one-line error naming the source, within its deadline, and nothing bad is cached."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from metasynth.registries.client import ClientConfig, RegistryClient, RegistryError
from tests.conftest import STUDIES

FIX = Path(__file__).parent / "fixtures" / "registries"
BOMB = gzip.compress(b"0" * 12_000_000, compresslevel=9)  # 12 MB inflated, ~12 kB sent


class Handler(BaseHTTPRequestHandler):
    hits: dict = {}  # noqa: RUF012  (shared by the handler threads on purpose)
    trickling = 0  # trickle answers still being sent (their client has not hung up)

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, body: bytes, ctype="application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        mode = self.path.strip("/").split("/")[0]
        Handler.hits[mode] = Handler.hits.get(mode, 0) + 1
        if mode == "trickle":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            Handler.trickling += 1
            try:
                for _ in range(40):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
            finally:
                Handler.trickling -= 1
        elif mode == "retryafter":
            self._send(503, b"busy", "text/plain", {"Retry-After": "3600"})
        elif mode == "truncated":
            self._send(200, b'{"protocolSection": {"identif')
        elif mode == "html":
            self._send(200, b"<html><body>Down for maintenance</body></html>", "text/html")
        elif mode == "empty":
            self._send(200, b"")
        elif mode == "bomb":
            self._send(200, BOMB, headers={"Content-Encoding": "gzip"})
        elif mode == "loop":
            self._send(302, b"", headers={"Location": self.path})
        elif mode == "shape":
            source = self.path.strip("/").split("/")[1]
            body = {"ctgov": {"protocolSection": [], "resultsSection": "x"},
                    "crossref": {"message": {"title": 5, "author": "x", "issued": []}},
                    "eutils": {"esearchresult": {"idlist": "abc"}}}[source]
            self._send(200, json.dumps(body).encode())
        elif mode == "good":
            source = self.path.strip("/").split("/")[1]
            name = {"ctgov": "ctgov_NCT09999991.json", "crossref": "crossref_work.json"}[source]
            self._send(200, (FIX / name).read_bytes())
        else:
            self._send(404, b"not found", "text/plain")


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("METASYNTH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("METASYNTH_HTTP_RETRIES", "1")
    monkeypatch.setenv("METASYNTH_HTTP_BACKOFF", "0")
    monkeypatch.setenv("METASYNTH_HTTP_DEADLINE", "1.5")
    monkeypatch.setenv("METASYNTH_HTTP_TIMEOUT", "1")
    monkeypatch.setattr("metasynth.registries.client.ClientConfig.min_interval",
                        lambda self, source: 0.0)

    def point(base: str) -> None:
        for name, source in (("CTGOV", "ctgov"), ("CROSSREF", "crossref"), ("EUTILS", "eutils")):
            monkeypatch.setenv(f"METASYNTH_{name}_URL", f"{base}/{source}")

    return point


@pytest.mark.parametrize("mode, words", [
    ("trickle", "timed out: no complete answer within 1.5 s"),
    ("truncated", "not JSON (truncated"), ("html", "not JSON (an HTML page)"),
    ("empty", "empty answer"), ("bomb", "over 10,000,000 bytes"),
    ("loop", "too many redirects"), ("shape", "unexpected shape"),
])
def test_fault_is_one_line_within_the_deadline_and_not_cached(cli, server, env, tmp_path,
                                                              studies_dir, mode, words):
    env(f"{server}/{mode}")
    start = time.monotonic()
    r = cli("new", "testwell2024", "--dir", studies_dir, "--nct", "NCT09999991")
    assert time.monotonic() - start < 5
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("ClinicalTrials.gov: ") and words in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (studies_dir / "testwell2024.yaml").exists()
    assert not list((tmp_path / "cache").rglob("*.json"))  # a bad answer is never cached


def test_wrong_shape_of_every_registry_is_one_line(cli, server, env, studies_dir):
    env(f"{server}/shape")
    r = cli("new", "testwell2024", "--dir", studies_dir, "--doi", "10.5555/metasynth.test.1")
    assert r.returncode == 1 and "internal error" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = cli("verify", STUDIES)  # Crossref, PubMed and ClinicalTrials.gov all answer oddly
    assert r.returncode == 1 and "internal error" not in r.stderr + r.stdout
    assert "unexpected shape" in r.stdout or "no idlist" in r.stdout


def test_retry_after_is_capped(server, env, monkeypatch):
    import metasynth.registries.client as client_module
    from metasynth.registries.client import _retry_class

    class Resp:
        headers = {"Retry-After": "3600"}  # noqa: RUF012

        def getheader(self, name, default=None):
            return self.headers.get(name, default)

    retry = _retry_class()(total=1)
    assert retry.get_retry_after(Resp()) == client_module.MAX_RETRY_AFTER == 10.0
    monkeypatch.setattr(client_module, "MAX_RETRY_AFTER", 0.2)
    env(f"{server}/retryafter")
    client = RegistryClient(ClientConfig.from_env())
    start = time.monotonic()
    with pytest.raises(RegistryError, match="HTTP 503"):
        client.get("ctgov", "studies/NCT09999991")
    assert time.monotonic() - start < 1.4  # not an hour


def test_circuit_breaker_skips_a_failing_source(server, env):
    env(f"{server}/retryafter")
    client = RegistryClient(ClientConfig.from_env())
    import metasynth.registries.client as client_module

    client_module_cap, client_module.MAX_RETRY_AFTER = client_module.MAX_RETRY_AFTER, 0.0
    try:
        for _ in range(2):
            with pytest.raises(RegistryError, match="HTTP 503"):
                client.get("ctgov", "studies/NCT0000000" + str(_))
        before = Handler.hits.get("retryafter", 0)
        with pytest.raises(RegistryError, match="cannot be reached"):
            client.get("ctgov", "studies/NCT00000009")
        assert Handler.hits.get("retryafter", 0) == before  # no request made
    finally:
        client_module.MAX_RETRY_AFTER = client_module_cap


def test_good_answer_is_cached_and_a_404_expires(server, env, tmp_path, monkeypatch):
    env(f"{server}/good")
    client = RegistryClient(ClientConfig.from_env())
    client.get("ctgov", "studies/NCT09999991")
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 1
    env(f"{server}/missing")
    client = RegistryClient(ClientConfig.from_env())
    from metasynth.registries.client import NotFound

    with pytest.raises(NotFound):
        client.get("ctgov", "studies/NCT01234567")
    hits = Handler.hits.get("missing", 0)
    with pytest.raises(NotFound):
        client.get("ctgov", "studies/NCT01234567")  # cached
    assert Handler.hits["missing"] == hits
    monkeypatch.setattr("metasynth.registries.client.NOT_FOUND_TTL", -1.0)
    with pytest.raises(NotFound):
        client.get("ctgov", "studies/NCT01234567")  # expired: asked again
    assert Handler.hits["missing"] == hits + 1


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_verify_with_every_registry_down_is_quick_one_line_per_source_and_fails(cli, env):
    env(f"http://127.0.0.1:{_closed_port()}")
    start = time.monotonic()
    r = cli("verify", STUDIES)
    took = time.monotonic() - start
    assert took < 15, took
    assert r.returncode == 1
    lines = r.stdout.strip().splitlines()
    per_source = [x for x in lines if "check(s) skipped" in x]
    assert sorted(x.split(":")[0] for x in per_source) == ["ClinicalTrials.gov", "Crossref",
                                                           "PubMed"]
    assert all("connection failed" in x for x in per_source)
    assert "could not run: verify fails unless --allow-skipped" in r.stdout
    assert cli("verify", STUDIES, "--allow-skipped").returncode == 0


def test_new_offline_suggests_the_blank_record(cli, env, studies_dir):
    env(f"http://127.0.0.1:{_closed_port()}")
    r = cli("new", "testwell2024", "--dir", studies_dir, "--nct", "NCT09999991")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "cannot be reached: run 'metasynth new testwell2024'" in r.stderr


def test_no_thread_or_socket_outlives_a_request_given_up(cli, server, env, studies_dir,
                                                          monkeypatch):
    """A request given up at its deadline took its thread and its socket with it: the
    worker used to read on until the trickle ended, after the command had returned."""
    monkeypatch.setenv("METASYNTH_HTTP_DEADLINE", "0.4")
    env(f"{server}/trickle")
    before = {t.ident for t in threading.enumerate()}
    r = cli("new", "testwell2024", "--dir", studies_dir, "--nct", "NCT09999991")
    assert r.returncode == 1 and "timed out" in r.stderr
    left = [t.name for t in threading.enumerate()
            if t.ident not in before and t.name.startswith("metasynth-")]
    assert left == []
    # the server's writes fail as soon as the client's socket is shut: its trickle of
    # 4 s (40 x 0.1 s) ends within a few writes
    for _ in range(30):
        if Handler.trickling == 0:
            break
        time.sleep(0.05)
    assert Handler.trickling == 0
