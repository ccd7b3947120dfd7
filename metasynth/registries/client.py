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
- Every failure is a ``RegistryError``: one line that names the source.
"""

from __future__ import annotations

import hashlib
import json
import os
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


class RegistryError(MetasynthError):
    """A registry could not answer (network, HTTP status, malformed body, offline miss)."""

    def __init__(self, source: str, message: str):
        self.source = source
        super().__init__(f"{SOURCE_NAMES.get(source, source)}: {message}")


class NotFound(RegistryError):
    """The registry says the identifier does not exist (HTTP 404)."""


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
    timeout: tuple[float, float] = (5.0, 30.0)
    retries: int = 4
    backoff: float = 0.5
    urls: dict = field(default_factory=lambda: dict(DEFAULT_URLS))

    @classmethod
    def from_env(cls, offline: bool = False, cache_dir: str | Path | None = None) -> ClientConfig:
        from metasynth.environment import env_number

        urls = {k: os.environ.get(ENV_URLS[k], v).rstrip("/") for k, v in DEFAULT_URLS.items()}
        cache = cache_dir or os.environ.get("METASYNTH_CACHE") or (
            Path.home() / ".cache" / "metasynth")
        return cls(email=os.environ.get("METASYNTH_EMAIL") or None,
                   ncbi_api_key=os.environ.get("NCBI_API_KEY") or None,
                   cache_dir=Path(cache), offline=offline, urls=urls,
                   retries=env_number("METASYNTH_HTTP_RETRIES", 4),
                   backoff=env_number("METASYNTH_HTTP_BACKOFF", 0.5))

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

    # -- session -------------------------------------------------------------------
    @property
    def session(self):
        if self._session is None:
            import requests
            from requests.adapters import HTTPAdapter
            from urllib3.util.retry import Retry

            retry = Retry(total=self.config.retries, connect=self.config.retries,
                          read=self.config.retries, status=self.config.retries,
                          backoff_factor=self.config.backoff,
                          status_forcelist={429, 500, 502, 503, 504},
                          allowed_methods={"GET"}, respect_retry_after_header=True,
                          raise_on_status=False)
            s = requests.Session()
            s.mount("https://", HTTPAdapter(max_retries=retry))
            s.mount("http://", HTTPAdapter(max_retries=retry))
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
            return Fetched(source, d["url"], d["status"], d["body"], d["retrieved"], True)
        except (ValueError, KeyError, OSError):
            return None  # a damaged cache entry is fetched again

    def _store(self, fetched: Fetched) -> None:
        path = self._cache_path(fetched.url)
        if path is None:
            return
        from metasynth.outputs import write_text

        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps({"url": fetched.url, "status": fetched.status,
                                     "retrieved": fetched.retrieved, "body": fetched.body}))

    # -- requests --------------------------------------------------------------------
    def _wait_turn(self, source: str) -> None:
        interval = self.config.min_interval(source)
        last = self._last.get(source)
        if last is not None:
            wait = interval - (self._clock() - last)
            if wait > 0:
                self._sleep(wait)
        self._last[source] = self._clock()

    def get(self, source: str, path: str, params: dict | None = None) -> Fetched:
        """GET ``path`` under the source's base URL; 404 raises ``NotFound``."""
        import requests

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
            self._wait_turn(source)
            try:
                resp = self.session.get(f"{base}/{path.lstrip('/')}", params=params,
                                        timeout=self.config.timeout)
            except requests.exceptions.Timeout:
                raise RegistryError(source, f"timed out after {self.config.retries} retries "
                                    f"({urlsplit(url).netloc})") from None
            except requests.exceptions.RetryError as err:
                raise RegistryError(source, f"gave up after {self.config.retries} retries: "
                                    f"{_short(err)}") from None
            except requests.exceptions.ConnectionError as err:
                raise RegistryError(source, f"connection failed: {_short(err)}") from None
            except requests.exceptions.RequestException as err:
                raise RegistryError(source, f"request failed: {_short(err)}") from None
            try:
                body = resp.text
            except Exception as err:  # a body cut off mid-stream
                raise RegistryError(source, f"incomplete response: {_short(err)}") from None
            cached = Fetched(source, url, resp.status_code, body,
                             datetime.now(timezone.utc).date().isoformat(), False)
            if resp.status_code in (200, 404):
                self._store(cached)
        if cached.status == 404:
            raise NotFound(source, f"not found ({url})")
        if cached.status != 200:
            snippet = " ".join(cached.body.split())[:80]
            raise RegistryError(source, f"HTTP {cached.status} ({url}): {snippet}")
        return cached


def _short(err: Exception) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:160]
