"""``ApiSimulator``: a local, deterministic Captain Data API v3 over real HTTP.

It owns the server thread, the request log, fault rules, a page cache and serving statistics.
The request handling lives in ``handler.py``, the rate limit in ``rate_limit.py``, response
bodies in ``render.py``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from analytics_dev.simulator.data import SimulatedData
from analytics_dev.simulator.handler import SimServer
from analytics_dev.simulator.rate_limit import RateLimit, RateVerdict, bucket_for, take_token
from analytics_dev.simulator.records import FaultRule, RequestRecord
from analytics_dev.simulator.render import (
    ENVELOPES,
    NEXT_STYLES,
    Mode,
    canonical_path,
    render,
)


def _fresh_stats() -> dict:
    return {
        "requests": 0,
        "bytes": 0,
        "seconds_serving": 0.0,
        "max_in_flight": 0,
        "rate_limited": 0,
    }


class ApiSimulator:
    """Serve ``data`` as the Captain Data API v3 on 127.0.0.1 (see the package docstring)."""

    # Requests per second per API key (None: unlimited); /v3/workspace's own, stricter one.
    rate_limit = RateLimit()
    workspace_rate_limit = RateLimit()

    def __init__(
        self,
        data: SimulatedData | None = None,
        *,
        envelope: str = "bare",
        next_style: str = "token",
        page_size: int = 100,
        api_key: str | None = "sim-secret-key",
        project_id: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        cache_max_bytes: int = 1 << 30,
        latency_seconds: float = 0.0,
        rate_limit: float | None = None,
        workspace_rate_limit: float | None = None,
    ) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the simulator binds to loopback (127.0.0.1) only")
        self.data = data if data is not None else SimulatedData()
        self.envelope, self.next_style, self.page_size = envelope, next_style, page_size
        self.api_key, self.project_id = api_key, project_id
        self.host, self.port = "127.0.0.1", port
        self.cache_max_bytes = cache_max_bytes
        # Network round trip of a remote API, added to every API request (not /_sim/ ones).
        self.latency_seconds = latency_seconds
        self._in_flight = 0
        self.base_url: str | None = None
        self._lock = threading.Lock()
        self._buckets: dict[str | None, tuple[float, float]] = {}  # key -> (tokens, clock)
        self._clock: Callable[[], float] = time.monotonic  # tests may substitute a frozen clock
        self.rate_limit = rate_limit  # requests per second per API key; None: unlimited
        # The vendor's quota endpoint has its own, far stricter limit: a bucket of its own.
        self.workspace_rate_limit = workspace_rate_limit
        self._records: list[RequestRecord] = []
        self._faults: list[list] = []  # [rule, remaining uses]
        self._cache: OrderedDict[tuple, bytes] = OrderedDict()
        self._cache_bytes = 0
        self._stats = _fresh_stats()
        self._server: SimServer | None = None
        self._thread: threading.Thread | None = None

    # Modes may change on a live instance; validate so a typo fails loudly, not as a 500.
    @property
    def envelope(self) -> str:
        return self._envelope

    @envelope.setter
    def envelope(self, value: str) -> None:
        if value not in ENVELOPES:
            raise ValueError(f"envelope must be one of {ENVELOPES}")
        self._envelope = value

    @property
    def next_style(self) -> str:
        return self._next_style

    @next_style.setter
    def next_style(self, value: str) -> None:
        if value not in NEXT_STYLES:
            raise ValueError(f"next_style must be one of {NEXT_STYLES}")
        self._next_style = value

    @property
    def page_size(self) -> int:
        return self._page_size

    @page_size.setter
    def page_size(self, value: int) -> None:
        if not isinstance(value, int) or value < 1:
            raise ValueError("page_size must be a positive integer")
        self._page_size = value

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> str:
        """Serve in a daemon thread; return the base URL (``http://127.0.0.1:PORT``)."""
        if self._server is not None:
            assert self.base_url is not None  # set together with _server
            return self.base_url
        self._server = SimServer((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.clear_cache()
        self.data.subscribe(self._invalidate)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"api-simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving and close open keep-alive connections."""
        server, self._server = self._server, None
        if server is None:
            return
        self.data.unsubscribe(self._invalidate)
        server.shutdown()
        for conn in list(server.connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)  # wakes handler threads blocked on a read
            except OSError:
                pass
        server.server_close()
        if self._thread is not None:  # set together with _server
            self._thread.join(timeout=5)

    def __enter__(self) -> ApiSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- request log
    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the requests served so far (control endpoints excluded)."""
        with self._lock:
            return list(self._records)

    def request_count(self, prefix: str | None = None) -> int:
        """How many /v3 requests were served, optionally only those whose path starts so."""
        with self._lock:
            return sum(
                1
                for r in self._records
                if r.path.startswith("/v3") and r.path.startswith(prefix or "")
            )

    def reset_requests(self) -> None:
        with self._lock:
            self._records.clear()

    def stats(self) -> dict:
        """Requests, body bytes and time spent serving, so benchmarks can rate the server."""
        with self._lock:
            return dict(self._stats)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = _fresh_stats()

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def _enter(self) -> None:
        """An API request starts: count it in flight (the max shows client concurrency)."""
        with self._lock:
            self._in_flight += 1
            self._stats["max_in_flight"] = max(self._stats["max_in_flight"], self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _count_served(self, sent: int, seconds: float) -> None:
        with self._lock:
            self._stats["requests"] += 1
            self._stats["bytes"] += sent
            self._stats["seconds_serving"] += seconds

    # ----------------------------------------------------------------- rate limit
    def reset_rate_limit(self) -> None:
        """Refill every key's bucket, as if no request had been made yet."""
        with self._lock:
            self._buckets.clear()

    def _take_token(self, key: str | None, path: str = "") -> RateVerdict | None:
        """Take one token from ``key``'s bucket (None: no limit is set, nothing to take);
        /v3/workspace takes from its own bucket when `workspace_rate_limit` is set."""
        with self._lock:
            rate, bucket = bucket_for(key, path, self.rate_limit, self.workspace_rate_limit)
            if rate is None:
                return None
            verdict, self._buckets[bucket] = take_token(
                self._buckets.get(bucket), rate, self._clock()
            )
            if not verdict.allowed:
                self._stats["rate_limited"] += 1
            return verdict

    # ----------------------------------------------------------------- faults
    def add_fault(self, rule: FaultRule) -> None:
        with self._lock:
            self._faults.append([rule, rule.times])

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> FaultRule | None:
        """The first rule matching ``path``, consuming one of its uses."""
        with self._lock:
            for entry in self._faults:
                rule, remaining = entry
                if rule.pattern.search(path):
                    if remaining != -1:
                        entry[1] -= 1
                        if entry[1] == 0:
                            self._faults.remove(entry)
                    return rule
        return None

    # ----------------------------------------------------------------- page cache
    def _page(self, target: tuple[str, str | None], page: int) -> bytes | None:
        """The body for a GET, rendered once per (path, page, mode) and then served from memory."""
        mode = Mode(self.envelope, self.next_style, self.page_size, self.base_url or "")
        key = (canonical_path(*target), page, mode)  # "/v3/workflows/" == "/v3/workflows"
        with self._lock:
            body = self._cache.get(key)
            if body is not None:
                self._cache.move_to_end(key)
                return body
            version = self.data.version
        body = render(self.data, target[0], target[1], page, mode)
        with self._lock:
            # Skip caching if the data changed while rendering: the page may already be stale.
            if body is not None and version == self.data.version and key not in self._cache:
                self._cache[key] = body
                self._cache_bytes += len(body)
                while self._cache_bytes > self.cache_max_bytes and self._cache:
                    self._cache_bytes -= len(self._cache.popitem(last=False)[1])
        return body

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()
            self._cache_bytes = 0

    def _invalidate(self, paths: list[str]) -> None:
        """Data listener: drop cached pages of the changed paths ("/v3" drops everything)."""
        with self._lock:
            if "/v3" in paths:
                self._cache.clear()
                self._cache_bytes = 0
                return
            changed = set(paths)
            for key in [k for k in self._cache if k[0] in changed]:
                self._cache_bytes -= len(self._cache.pop(key))
