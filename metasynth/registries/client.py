"""One HTTP client for every registry: timeouts, retries, rate limits, an on-disk cache.

- One ``requests.Session``; connect and read timeouts on every request.
- Retries with exponential back-off on 429, 500, 502, 503, 504 and on connection errors,
  honouring ``Retry-After`` (urllib3's ``Retry``).
- A minimum interval per host: NCBI 3 requests/s (10 with ``NCBI_API_KEY``), Crossref 5/s
  (10/s in the polite pool, with ``METASYNTH_EMAIL``), ClinicalTrials.gov about 50/min.
- Contact details only from the environment (``METASYNTH_EMAIL``, ``NCBI_API_KEY``); no
  key is ever shipped. Base URLs can be overridden (``METASYNTH_CTGOV_URL``,
  ``METASYNTH_CROSSREF_URL``, ``METASYNTH_EUTILS_URL``) for mirrors and tests, as can
  the retries and back-off (``METASYNTH_HTTP_RETRIES``, ``METASYNTH_HTTP_BACKOFF``) and the
  cache folder (``METASYNTH_CACHE``, default ``~/.cache/metasynth``).
- Cache: every 200 or 404 response is kept on disk with its URL, status and retrieval
  date (the raw body is the provenance); a second run makes no request, and
  ``offline=True`` uses only the cache.
- Bounded: a total deadline per request (``METASYNTH_HTTP_DEADLINE``, default 20 s: a
  server that trickles a byte every few seconds is cut off) and per command
  (``METASYNTH_HTTP_BUDGET``, default 60 s), ``Retry-After`` capped at
  ``MAX_RETRY_AFTER`` seconds, bodies capped at ``MAX_BODY`` bytes after decompression
  (a gzip bomb stops there), and a circuit breaker per source: once a source could not
  be reached, the rest of the command skips it at once instead of waiting again.
- The cache keeps only answers that parsed (JSON or XML as asked; an HTML page, an empty
  or truncated body is never stored); a 404 is kept for ``NOT_FOUND_TTL`` seconds.
- Every failure is a ``RegistryError``: one line that names the source; ``Unreachable``
  when the source could not be reached at all.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from metasynth import __version__
from metasynth.errors import MetasynthError

DEFAULT_URLS = {
    "ctgov": "https://clinicaltrials.gov/api/v2",
    "crossref": "https://api.crossref.org",
    "eutils": "https://eutils.ncbi.nlm.nih.gov/entrez/eutils",
}
ENV_URLS = {"ctgov": "METASYNTH_CTGOV_URL", "crossref": "METASYNTH_CROSSREF_URL",
            "eutils": "METASYNTH_EUTILS_URL"}
SOURCE_NAMES = {"ctgov": "ClinicalTrials.gov", "crossref": "Crossref", "eutils": "PubMed"}
# query parameters that identify the user, not the resource: left out of cache keys
PRIVATE_PARAMS = {"api_key", "email", "mailto", "tool"}
MAX_BODY = 10_000_000  # bytes after decompression; a ClinicalTrials.gov record is ~100 kB
MAX_RETRY_AFTER = 10.0  # seconds: a server asking for an hour gets retried sooner or not
NOT_FOUND_TTL = 86_400.0  # a 404 is trusted for a day, then asked again
GRACE = 1.0  # seconds a worker given up at its deadline has to notice and end
BREAKER_FAILURES = 2  # failed requests (HTTP 429/5xx) before a source is skipped


class RegistryError(MetasynthError):
    """A registry could not answer (network, HTTP status, malformed body, offline miss)."""

    def __init__(self, source: str, message: str):
        self.source = source
        super().__init__(f"{SOURCE_NAMES.get(source, source)}: {message}")


class NotFound(RegistryError):
    """The registry says the identifier does not exist (HTTP 404)."""


class Unreachable(RegistryError):
    """The registry could not be reached (network down, timed out, circuit open)."""


def registry_reader(source: str):
    """Decorate a reader (``fetch_work``, ``fetch_study``, ...): an answer of the wrong
    shape (a list where an object was expected, a missing key) is a ``RegistryError``
    naming the source, not a ``KeyError`` deep in the parser."""
    def wrap(fn):
        @functools.wraps(fn)
        def reader(client, *args, **kwargs):
            # answers fetched inside a reader are cached only once the reader has parsed
            # them: a JSON object of the wrong shape is not kept either
            client._reading += 1
            ok = False
            try:
                result = fn(client, *args, **kwargs)
                ok = True
                return result
            except RegistryError:
                raise
            except (KeyError, IndexError, TypeError, AttributeError, ValueError) as err:
                raise RegistryError(source, f"answer of an unexpected shape "
                                    f"({type(err).__name__}: {_short(err)})") from None
            finally:
                client._reading -= 1
                if client._reading == 0:
                    pending, client._pending = client._pending, []
                    for fetched in pending if ok else ():
                        client._store(fetched)
        return reader
    return wrap


def _retry_class(cancel_event=lambda: None):
    """urllib3's ``Retry`` with ``Retry-After`` capped and its waits cut short when the
    request is given up (``cancel_event()``: the event of the request under way in this
    thread, or ``None``)."""
    from urllib3.util.retry import Retry

    class CappedRetry(Retry):
        """urllib3's Retry with ``Retry-After`` capped (``Retry-After: 3600`` was obeyed)."""

        def get_retry_after(self, response):
            after = super().get_retry_after(response)
            return None if after is None else min(after, MAX_RETRY_AFTER)

        def sleep(self, response=None) -> None:
            wait = None
            if self.respect_retry_after_header and response:
                wait = self.get_retry_after(response)
            if not wait:
                wait = self.get_backoff_time()
            if wait <= 0:
                return
            event = cancel_event()
            if event is None:
                time.sleep(wait)
            elif event.wait(wait):  # given up: no further attempt
                raise _Cancelled

    return CappedRetry


class _Cancelled(Exception):
    """Raised in a request's worker thread once the request was given up."""


class _Request:
    """One request under way: its worker sets it as its thread's current request, so
    the connections it uses can be shut down when it is given up at the deadline."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.sockets: list = []
        self.lock = threading.Lock()

    def use(self, sock) -> None:
        """Note a socket the request reads from (``None``: only check for cancellation)."""
        with self.lock:
            if self.cancel.is_set():
                raise _Cancelled
            if sock is not None:
                self.sockets.append(sock)

    def give_up(self) -> None:
        """Wake the worker: a read blocked on a trickling server returns at once."""
        import socket

        with self.lock:
            self.cancel.set()
            sockets = list(self.sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _tracking_adapter(retry, current):
    """An ``HTTPAdapter`` whose connections register with the request under way in their
    thread (``current()``), so that a request given up can be cut off."""
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    def tracked(base):
        class Tracked(base):
            # the socket itself is noted: a response read to the end of the connection
            # holds it after the connection object has let go of it (HTTP/1.0)
            def request(self, *args, **kwargs):  # a kept-alive connection reused
                req = current()
                if req is not None:
                    req.use(self.sock)
                return super().request(*args, **kwargs)

            def connect(self):
                req = current()
                if req is not None:
                    req.use(None)
                super().connect()
                if req is not None:
                    req.use(self.sock)
        return Tracked

    class Pool(HTTPConnectionPool):
        ConnectionCls = tracked(HTTPConnection)

    class SPool(HTTPSConnectionPool):
        ConnectionCls = tracked(HTTPSConnection)

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": SPool}

    return Adapter(max_retries=retry)


def _body_problem(body: str, content_type: str, kind: str) -> str | None:
    """Why a 200 answer cannot be used (and must not be cached), or ``None``."""
    if not body.strip():
        return "empty answer"
    snippet = " ".join(body.split())[:60]
    if kind == "json":
        try:
            data = json.loads(body)
        except ValueError:
            what = "an HTML page" if "html" in content_type.lower() else "truncated or an error page?"
            return f"response is not JSON ({what}): {snippet!r}"
        if not isinstance(data, dict):
            return f"response is not a JSON object: {snippet!r}"
    elif kind == "xml":
        import xml.etree.ElementTree as ET

        try:
            ET.fromstring(body)
        except ET.ParseError:
            return f"response is not XML (truncated or an error page?): {snippet!r}"
    return None


@dataclass(frozen=True)
class Fetched:
    source: str
    url: str  # without private parameters
    status: int
    body: str
    retrieved: str  # ISO date
    from_cache: bool

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            snippet = " ".join(self.body.split())[:60]
            raise RegistryError(self.source, f"response is not JSON (truncated or an error "
                                f"page?): {snippet!r}") from None


@dataclass
class ClientConfig:
    email: str | None = None
    ncbi_api_key: str | None = None
    cache_dir: Path | None = None
    offline: bool = False
    timeout: tuple[float, float] = (5.0, 15.0)
    retries: int = 4
    backoff: float = 0.5
    deadline: float = 20.0  # seconds for one request, retries included
    budget: float = 60.0  # seconds for all the requests of one command
    urls: dict = field(default_factory=lambda: dict(DEFAULT_URLS))

    @classmethod
    def from_env(cls, offline: bool = False, cache_dir: str | Path | None = None) -> ClientConfig:
        from metasynth.environment import env_number

        urls = {k: os.environ.get(ENV_URLS[k], v).rstrip("/") for k, v in DEFAULT_URLS.items()}
        timeout = env_number("METASYNTH_HTTP_TIMEOUT", 15.0)
        cache = cache_dir or os.environ.get("METASYNTH_CACHE") or (
            Path.home() / ".cache" / "metasynth")
        return cls(email=os.environ.get("METASYNTH_EMAIL") or None,
                   ncbi_api_key=os.environ.get("NCBI_API_KEY") or None,
                   cache_dir=Path(cache), offline=offline, urls=urls,
                   retries=env_number("METASYNTH_HTTP_RETRIES", 4),
                   backoff=env_number("METASYNTH_HTTP_BACKOFF", 0.5),
                   timeout=(min(5.0, timeout), timeout),
                   deadline=env_number("METASYNTH_HTTP_DEADLINE", 20.0),
                   budget=env_number("METASYNTH_HTTP_BUDGET", 60.0))

    def min_interval(self, source: str) -> float:
        if source == "eutils":
            return 1 / 10 if self.ncbi_api_key else 1 / 3
        if source == "crossref":
            return 1 / 10 if self.email else 1 / 5
        return 60 / 50


class RegistryClient:
    def __init__(self, config: ClientConfig | None = None, session=None, sleep=time.sleep,
                 clock=time.monotonic):
        self.config = config or ClientConfig.from_env()
        self._session = session
        self._sleep, self._clock = sleep, clock
        self._last: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._down: dict[str, str] = {}  # source -> why the breaker opened
        self._spent = 0.0  # seconds of requests so far (the command's budget)
        self._reading = 0  # depth of registry_reader calls under way
        self._pending: list[Fetched] = []  # fetched inside a reader, cached if it parses
        self._local = threading.local()  # a worker thread's request under way
        self._workers: list[threading.Thread] = []

    def _current_request(self) -> _Request | None:
        return getattr(self._local, "request", None)

    def _current_cancel(self) -> threading.Event | None:
        req = self._current_request()
        return None if req is None else req.cancel

    def close(self) -> None:
        """Close the pooled connections and wait (briefly) for any worker given up at
        its deadline: no thread or socket of the client outlives the command."""
        for worker in self._workers:
            worker.join(GRACE)
        self._workers = [w for w in self._workers if w.is_alive()]
        if self._session is not None:
            self._session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- session -------------------------------------------------------------------
    @property
    def session(self):
        if self._session is None:
            import requests

            # one retry of a refused or unresolvable connection (no network: retrying
            # only waits); the full count for timeouts and 429/5xx answers
            retry = _retry_class(self._current_cancel)(
                total=self.config.retries, connect=min(1, self.config.retries),
                read=self.config.retries, status=self.config.retries,
                backoff_factor=self.config.backoff, status_forcelist={429, 500, 502, 503, 504},
                allowed_methods={"GET"}, respect_retry_after_header=True,
                raise_on_status=False)
            s = requests.Session()
            s.mount("https://", _tracking_adapter(retry, self._current_request))
            s.mount("http://", _tracking_adapter(retry, self._current_request))
            agent = f"metasynth/{__version__}"
            if self.config.email:
                agent += f" (mailto:{self.config.email})"
            s.headers["User-Agent"] = agent
            self._session = s
        return self._session

    # -- cache -----------------------------------------------------------------------
    def _cache_path(self, url: str) -> Path | None:
        if self.config.cache_dir is None:
            return None
        key = hashlib.sha256(url.encode()).hexdigest()
        return Path(self.config.cache_dir) / key[:2] / f"{key}.json"

    def _from_cache(self, source: str, url: str) -> Fetched | None:
        path = self._cache_path(url)
        if path is None or not path.exists():
            return None
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            fetched = Fetched(source, d["url"], d["status"], d["body"], d["retrieved"], True)
        except (ValueError, KeyError, OSError):
            return None  # a damaged cache entry is fetched again
        stale = fetched.status == 404 and time.time() - float(d.get("stored", 0)) > NOT_FOUND_TTL
        return None if stale and not self.config.offline else fetched

    def _store(self, fetched: Fetched) -> None:
        path = self._cache_path(fetched.url)
        if path is None:
            return
        from metasynth.outputs import write_text

        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps({"url": fetched.url, "status": fetched.status,
                                     "retrieved": fetched.retrieved, "stored": time.time(),
                                     "body": fetched.body}))

    # -- requests --------------------------------------------------------------------
    def _wait_turn(self, source: str) -> None:
        interval = self.config.min_interval(source)
        last = self._last.get(source)
        if last is not None:
            wait = interval - (self._clock() - last)
            if wait > 0:
                self._sleep(wait)
        self._last[source] = self._clock()

    def get(self, source: str, path: str, params: dict | None = None,
            kind: str = "json") -> Fetched:
        """GET ``path`` under the source's base URL; 404 raises ``NotFound``. ``kind``
        ("json", "xml" or "text") is what a 200 answer must parse as to be used and cached."""
        params = dict(params or {})
        public = {k: v for k, v in params.items() if k not in PRIVATE_PARAMS}
        base = self.config.urls[source]
        url = f"{base}/{path.lstrip('/')}" + (f"?{urlencode(sorted(public.items()))}" if public else "")
        cached = self._from_cache(source, url)
        if cached is None and self.config.offline:
            raise RegistryError(source, f"not in the cache and --offline is set ({url})")
        if cached is None:
            if source == "eutils":
                params.update(tool="metasynth", **({"email": self.config.email}
                                                   if self.config.email else {}))
                if self.config.ncbi_api_key:
                    params["api_key"] = self.config.ncbi_api_key
            if source == "crossref" and self.config.email:
                params["mailto"] = self.config.email
            self._check_open(source)
            self._wait_turn(source)
            status, body, content_type = self._fetch(source, f"{base}/{path.lstrip('/')}",
                                                     params, urlsplit(url).netloc)
            cached = Fetched(source, url, status, body,
                             datetime.now(timezone.utc).date().isoformat(), False)
            if status in (429,) or status >= 500:
                self._failed(source, f"HTTP {status}")
            if status == 200:
                problem = _body_problem(body, content_type, kind)
                if problem:  # never cached: the next run asks again
                    raise RegistryError(source, problem)
            if status in (200, 404):
                self._failures.pop(source, None)
                if self._reading and status == 200:
                    self._pending.append(cached)
                else:
                    self._store(cached)
        if cached.status == 404:
            raise NotFound(source, f"not found ({url})")
        if cached.status != 200:
            snippet = " ".join(cached.body.split())[:80]
            raise RegistryError(source, f"HTTP {cached.status} ({url}): {snippet}")
        return cached


    def _check_open(self, source: str) -> None:
        if source in self._down:
            raise Unreachable(source, f"cannot be reached ({self._down[source]}); skipped")
        left = self.config.budget - self._spent
        if left <= 0:
            raise Unreachable(source, f"the time allowed for registry requests "
                              f"({self.config.budget:g} s, METASYNTH_HTTP_BUDGET) is used up")

    def _failed(self, source: str, why: str, at_once: bool = False) -> None:
        self._failures[source] = self._failures.get(source, 0) + 1
        if at_once or self._failures[source] >= BREAKER_FAILURES:
            self._down[source] = why

    def _fetch(self, source: str, url: str, params: dict, host: str) -> tuple[int, str, str]:
        """(status, text, content type) of one GET, within the request's deadline and the
        command's budget, the body read to at most ``MAX_BODY`` decompressed bytes.

        The request runs in a daemon thread that is given up at the deadline: a read
        timeout bounds each socket read only, so a server trickling one byte every few
        seconds would otherwise hold the command forever."""
        import requests

        deadline = min(self.config.deadline, self.config.budget - self._spent)
        box: dict = {}
        request = _Request()

        def work() -> None:
            self._local.request = request
            try:
                resp = self.session.get(url, params=params, timeout=self.config.timeout,
                                        stream=True)
                try:
                    length = resp.headers.get("Content-Length", "")
                    if length.isdigit() and int(length) > MAX_BODY:
                        raise _TooBig
                    chunks, size = [], 0
                    for chunk in resp.iter_content(8192):  # decompressed as it arrives
                        size += len(chunk)
                        if size > MAX_BODY:
                            raise _TooBig
                        chunks.append(chunk)
                    text = b"".join(chunks).decode(resp.encoding or "utf-8", errors="replace")
                    box["ok"] = (resp.status_code, text, resp.headers.get("Content-Type", ""))
                finally:
                    resp.close()
            except BaseException as err:  # handed to the caller's thread
                box["error"] = err
            finally:
                self._local.request = None

        start = time.monotonic()
        worker = threading.Thread(target=work, daemon=True, name=f"metasynth-{source}")
        worker.start()
        worker.join(max(deadline, 0.0))
        if worker.is_alive():
            # given up: shut its sockets down so that a blocked read returns now (a
            # thread left reading a trickle would hold the socket open after the
            # command), and stop its retries; a connect under way ends at its timeout
            request.give_up()
            worker.join(GRACE)
            if worker.is_alive():
                self._workers.append(worker)  # joined again by close()
        self._spent += time.monotonic() - start
        if request.cancel.is_set():
            self._failed(source, f"no complete answer within {deadline:g} s", at_once=True)
            raise Unreachable(source, f"timed out: no complete answer within {deadline:g} s "
                              f"({host})")
        err = box.get("error")
        if err is None:
            return box["ok"]
        if isinstance(err, _TooBig):
            raise RegistryError(source, f"answer is over {MAX_BODY:,} bytes; refusing it")
        if isinstance(err, requests.exceptions.TooManyRedirects):
            raise RegistryError(source, f"too many redirects ({host})")
        if isinstance(err, requests.exceptions.Timeout):
            self._failed(source, "timed out", at_once=True)
            raise Unreachable(source, f"timed out after {self.config.retries} retries "
                              f"({host})")
        if isinstance(err, requests.exceptions.RetryError):
            self._failed(source, "gave up after retries", at_once=True)
            raise Unreachable(source, f"gave up after {self.config.retries} retries: "
                              f"{_short(err)}")
        if isinstance(err, requests.exceptions.ConnectionError):
            self._failed(source, "connection failed", at_once=True)
            raise Unreachable(source, f"connection failed ({host}): {_reason(err)}")
        if isinstance(err, (requests.exceptions.RequestException, OSError)):
            self._failed(source, "request failed", at_once=True)
            raise Unreachable(source, f"request failed: {_short(err)}")
        raise err


class _TooBig(Exception):
    pass


def _reason(err: BaseException) -> str:
    """The root cause of a connection error in a few words ("Connection refused", "name
    not resolved"), not urllib3's nested repr cut off mid-word."""
    import re

    seen = set()
    while id(err) not in seen:
        seen.add(id(err))
        inner = getattr(err, "reason", None)
        if not isinstance(inner, BaseException) and err.args and isinstance(err.args[0], BaseException):
            inner = err.args[0]
        if not isinstance(inner, BaseException):
            break
        err = inner
    text = str(err)
    if "resolve" in text.lower() or "Name or service not known" in text:
        return "the name does not resolve (no network?)"
    m = re.search(r"\[Errno -?\d+\] ([^)'\"]+)", text)
    if m:
        return m.group(1).strip()
    return _short(err).split("): ")[-1]


def _short(err: Exception) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:160]
