"""A small HTTP client for the API: the spec's retry rules, clear errors, no leaked key.

The dlt resources call this client, not dlt's `RESTClient`, for what that one lacks: one rate
budget shared by every process on the plan (a run's steps, other runs, the sensor), 429s
waited out for their Retry-After within that budget, and errors that name the endpoint and the
setting to fix. (dlt's cursor paginator could follow `have_next_page` through `has_more_path`.)
The key travels through dlt's `APIKeyAuth` in a header: never in a URL, a log line or an error.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from dlt.sources.helpers.rest_client.auth import APIKeyAuth
from requests.adapters import HTTPAdapter

from analytics_assets.api.admission import AdmissionOrder
from analytics_assets.api.bodies import error_detail, is_unreachable, loads_json
from analytics_assets.api.budget import Clock, RateBudget, SystemClock, retry_after_seconds
from analytics_assets.api.budget_stores import open_store
from analytics_assets.api.errors import AnalyticsApiError
from analytics_assets.api.stats import RequestStats
from analytics_assets.settings import ApiSettings, env_name

logger = logging.getLogger(__name__)

# The spec's retry rules: these statuses are retried (a 429 is waited out, not counted).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

BODY_CHUNK_BYTES = 1 << 20
_RETRYABLE_EXCEPTIONS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def _hint(status: int) -> str:
    if status in (401, 403):
        return (
            f"the API rejected the credentials: check {env_name('api_key')} (or api_key in "
            f".dlt/secrets.toml) and, for the real API, {env_name('project_id')}"
        )
    if status == 404:
        return "the workflow or job does not exist (deleted upstream?)"
    if status in RETRY_STATUSES:
        return "the API kept failing after all retries; try again later"
    return "the request was refused"


# Unthrottled, the client assumes it consumes pages at about this rate (shaping a page of
# rows takes a few ms), so that on loopback one request is in flight and remote more.
UNTHROTTLED_PAGES_PER_SECOND = 100.0
# Until a limit is known, allow one more request in flight per this many answers (slow start:
# a 1 request/s plan must see one 429, not a burst of them).
RAMP_ANSWERS = 4
LATENCY_WEIGHT = 0.2  # of each new round trip in the moving average
# The vendor limits its quota endpoint far below the main API (5/min on a trial plan): its
# 429s are learned by a budget of its own, never by the whole key's.
QUOTA_ENDPOINTS = ("/v3/workspace",)


class AnalyticsApiClient:
    """GET JSON from the API with the spec's retry policy and the key's rate budget.

    One instance per run or tick. `clock` and `budget` are injectable: tests pass a fake clock
    (the waits are asserted, not waited) and an in-memory budget.
    """

    def __init__(
        self,
        settings: ApiSettings,
        log: logging.Logger | Any | None = None,
        *,
        clock: Clock | None = None,
        budget: RateBudget | None = None,
    ) -> None:
        self.settings = settings
        self.log = log or logger
        self.clock = clock or SystemClock()
        self.stats = RequestStats()
        self.budget = budget or RateBudget(
            open_store(settings, self.clock), settings.rate_limit, self.clock
        )
        self._quota_budget: RateBudget | None = None  # opened on the first quota request
        # Which of this client's threads asks the budget next (result pages: the job with the
        # most rows still to fetch).
        self.admission = AdmissionOrder()
        self.latency: float | None = None  # moving average of round trips, seconds
        # Monotonic time past which no request may start (a sensor tick's budget).
        self.deadline: float | None = None
        self._told: tuple[float | None, str] | None = None
        self._connected = False
        self._origin = urlsplit(settings.base_url)
        self._session = requests.Session()
        # One kept-alive connection per concurrent fetch (requests keeps 10 per host).
        pool = max(10, settings.fetch_concurrency + 2)
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.auth = APIKeyAuth(
            name="x-api-key", api_key=settings.api_key, location="header"
        )
        self._session.headers["Accept"] = "application/json"
        if settings.project_id:
            self._session.headers["x-project-id"] = settings.project_id

    def close(self) -> None:
        self._session.close()
        self.budget.close()
        if self._quota_budget is not None:
            self._quota_budget.close()

    def fetch_workers(self) -> int:
        """Requests to keep in flight, at most `fetch_concurrency`: with a known rate, rate x
        round trip rounded up, plus one spare so a late answer never idles the plan (they
        only wait on the budget); unthrottled, about rate x round trip + 1 (one on loopback),
        growing with the answers until a limit is known."""
        upper = self.settings.fetch_concurrency
        rate = self.budget.rate()
        if rate is not None:
            return max(1, min(upper, 2 + math.ceil(rate * (self.latency or 0.0))))
        upper = min(upper, 1 + self.stats.answered // RAMP_ANSWERS)
        needed = UNTHROTTLED_PAGES_PER_SECOND * (self.latency or 0.0)
        return max(1, min(upper, 1 + math.floor(needed + 0.5)))

    def describe_limit(self) -> str:
        """The limit in force, for metadata and errors: configured, learned, or none."""
        state = self.budget.learned()
        rate = self.budget.rate()
        if rate is None:
            return "none (unthrottled until the API answers 429)"
        if state.rate is not None and rate == state.rate and rate != self.settings.rate_limit:
            return f"{rate:g} requests/s, learned from {state.source}"
        return f"{rate:g} requests/s, configured ({env_name('rate_limit')})"

    def url_for(self, path_or_url: str) -> str:
        """Absolute URL for an API path; refuses URLs on another host (the key would leak)."""
        url = urljoin(self.settings.base_url + "/", path_or_url.lstrip("/"))
        if path_or_url.startswith(("http://", "https://")):
            url = path_or_url
            target = urlsplit(url)
            if (target.scheme, target.netloc) != (self._origin.scheme, self._origin.netloc):
                raise AnalyticsApiError(
                    f"the API pointed paging at another host ({target.netloc}); refusing to "
                    "send the API key there",
                    endpoint=target.path,
                )
        return url

    def get_json(
        self,
        path_or_url: str,
        params: dict[str, Any] | None = None,
        *,
        fast: Callable[[bytes], Any | None] | None = None,
    ) -> Any:
        """GET and parse JSON within the key's rate budget (`fast`, when given, parses a
        successful body first; where it returns None the JSON parser does).

        A 429 is waited out (its Retry-After, shared with every consumer of the key) until
        `rate_limit_timeout`; 5xx and connection errors are retried `max_retries` times.
        """
        url = self.url_for(path_or_url)
        endpoint = urlsplit(url).path
        failures = 0
        limited_since: float | None = None
        budgets = self._budgets(endpoint)
        while True:
            with self.admission.turn():  # this client's most urgent waiting thread first
                for budget in budgets:
                    self.stats.count_budget_wait(budget.acquire(self.deadline))
            response, body, failure = self._send(url, params, endpoint)
            status = None if response is None else response.status_code
            if response is not None and status == 429:
                limited_since = self._rate_limited(response, endpoint, limited_since, budgets[-1])
                continue
            if response is not None:
                for budget in budgets:
                    budget.succeeded()
                if status not in RETRY_STATUSES:
                    return self._parse(response, body, endpoint, fast)
            what = failure or f"HTTP {status}"
            if failures == self.settings.max_retries:
                raise AnalyticsApiError(
                    f"GET {endpoint} failed after {self.settings.max_retries} retries: {what}: "
                    f"{_hint(status or 503)}",
                    status=status,
                    endpoint=endpoint,
                )
            delay = self._delay(failures, response)
            failures += 1
            self.log.warning(
                f"GET {endpoint}: {what}; retry {failures}/{self.settings.max_retries} "
                f"in {delay:.1f} s"
            )
            self.stats.count_retry(delay)
            self.clock.sleep(delay)

    def _budgets(self, endpoint: str) -> list[RateBudget]:
        """The key's budget, and for a quota endpoint its own budget after it (the one a 429
        there teaches)."""
        if not endpoint.endswith(QUOTA_ENDPOINTS):
            return [self.budget]
        if self._quota_budget is None:
            store = open_store(self.settings, self.clock, scope="quota")
            self._quota_budget = RateBudget(store, None, self.clock)
        return [self.budget, self._quota_budget]

    def _rate_limited(
        self, response: requests.Response, endpoint: str, since: float | None, budget: RateBudget
    ) -> float:
        """Learn from a 429 in `budget` and pause its consumers; fail only past the deadline.
        Returns when this request was first refused."""
        self.stats.count_rate_limited()
        now = self.clock.monotonic()
        since = now if since is None else since
        learned = budget.rate_limited(
            response.headers, self.settings.backoff_factor, self.settings.max_retry_delay
        )
        timeout = self.settings.rate_limit_timeout
        if now - since >= timeout:
            raise AnalyticsApiError(
                f"GET {endpoint} was answered HTTP 429 (rate limited) for {now - since:.0f} s, "
                f"past {env_name('rate_limit_timeout')}={timeout:g}; the limit in force: "
                f"{self.describe_limit()}. Other consumers of this API key may be using the "
                f"plan: lower {env_name('rate_limit')}, or raise {env_name('rate_limit_timeout')}",
                status=429,
                endpoint=endpoint,
            )
        told = (learned.rate, learned.source)
        if told != self._told:
            self._told = told
            which = "every request on this key" if budget is self.budget else f"GET {endpoint}"
            pacing = (
                f"{which} is now paced to {learned.rate:g} requests/s "
                f"(learned from {learned.source})"
                if learned.rate is not None
                else "the answer named no rate"
            )
            who = "the key" if budget is self.budget else endpoint
            self.log.warning(
                f"GET {endpoint}: HTTP 429, the plan's rate limit: {pacing}; every consumer of "
                f"{who} holds off {learned.retry_in:.1f} s. 429s are waited out, up to "
                f"{env_name('rate_limit_timeout')}={timeout:g} s for one request"
            )
        return since

    def _send(
        self, url: str, params: dict[str, Any] | None, endpoint: str
    ) -> tuple[requests.Response | None, bytes, str | None]:
        self.stats.count_request(self.clock.monotonic())
        started = time.monotonic()  # the network's own time, whatever clock is injected
        try:
            response = self._session.get(
                url, params=params, timeout=self.settings.request_timeout, stream=True
            )
            # requests reads bodies 10 KB at a time; 1 MB chunks halve a big page's read.
            body = b"".join(response.iter_content(BODY_CHUNK_BYTES))
        except _RETRYABLE_EXCEPTIONS as exc:
            if not self._connected and is_unreachable(exc):
                # Bad configuration, not a blip: fail in seconds rather than after retries.
                raise AnalyticsApiError(
                    f"cannot reach the API at {self.settings.base_url} (GET {endpoint}): "
                    f"check {env_name('base_url')}",
                    endpoint=endpoint,
                ) from None
            return None, b"", f"{type(exc).__name__}"
        self._connected = True
        self.stats.count_answer(self.clock.monotonic())
        took = time.monotonic() - started
        self.latency = (
            took
            if self.latency is None
            else (LATENCY_WEIGHT * took + (1 - LATENCY_WEIGHT) * self.latency)
        )
        return response, body, None

    def _delay(self, attempt: int, response: requests.Response | None) -> float:
        cap = self.settings.max_retry_delay
        retry_after = (
            None if response is None else retry_after_seconds(response.headers, self.clock.time())
        )
        if retry_after is not None:
            return min(retry_after, cap)
        return min(self.settings.backoff_factor * 2**attempt, cap)

    def _parse(
        self,
        response: requests.Response,
        body: bytes,
        endpoint: str,
        fast: Callable[[bytes], Any | None] | None = None,
    ) -> Any:
        status = response.status_code
        if status >= 400:
            detail = error_detail(body, self.settings.secrets)
            raise AnalyticsApiError(
                f"GET {endpoint} failed with HTTP {status}{detail}: {_hint(status)}",
                status=status,
                endpoint=endpoint,
            )
        parsed = None if fast is None else fast(body)
        if parsed is not None:
            return parsed
        return loads_json(body, endpoint, status, response.headers.get("content-type"))
