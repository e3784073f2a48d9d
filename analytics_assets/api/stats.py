"""What one client did, surfaced as materialization metadata."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class RequestStats:
    """What one client did: surfaced as materialization metadata.

    Counted under a lock: with several jobs fetched at once, threads share one client.
    """

    requests: int = 0
    retries: int = 0
    seconds_waiting: float = 0.0  # retry backoff of 5xx and connection errors
    rate_limited: int = 0  # 429 answers (waited out, not retries)
    seconds_budget: float = 0.0  # waiting for the key's rate budget, 429 pauses included
    answered: int = 0
    first_sent: float | None = None
    last_answered: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count_request(self, now: float) -> None:
        with self._lock:
            self.requests += 1
            if self.first_sent is None:
                self.first_sent = now

    def count_answer(self, now: float) -> None:
        with self._lock:
            self.answered += 1
            self.last_answered = now

    def count_retry(self, delay: float) -> None:
        with self._lock:
            self.retries += 1
            self.seconds_waiting += delay

    def count_rate_limited(self) -> None:
        with self._lock:
            self.rate_limited += 1

    def count_budget_wait(self, seconds: float) -> None:
        if seconds:
            with self._lock:
                self.seconds_budget += seconds

    @property
    def effective_rate(self) -> float:
        """Requests per second from the first request sent to the last answer."""
        if self.first_sent is None or self.last_answered is None:
            return 0.0
        span = self.last_answered - self.first_sent
        return self.requests / span if span > 0 else 0.0
