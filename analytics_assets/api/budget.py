"""One rate budget per API key, shared by every run, step, thread and sensor tick that uses it.

The budget paces requests to the plan's rate: the configured `ANALYTICS_API_RATE_LIMIT`, or
what the API taught us with a 429 (its `X-RateLimit-Limit`, else the rate we had reached).
What is learned, and a `Retry-After` pause, are written to the store, so every process on the
key honours them. pyrate-limiter's buckets hold the admissions (a file-locked SQLite file on
one host, Postgres across hosts); our loop around them only adds learning and an injectable
clock.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol

from pyrate_limiter import AbstractBucket, Rate, RateItem

from analytics_assets.api.budget_stores import BudgetState, BudgetStore

# A learned limit is forgotten after this long: plans get upgraded, and relearning costs a 429.
LEARNED_TTL_SECONDS = 3600.0
# Every process re-reads the shared state this often (a Retry-After pause, a learned rate).
STATE_REFRESH_SECONDS = 1.0
# Without a X-RateLimit-Limit header, the rate reached in the last second (a margin below
# it) is the estimate, once it rests on at least this many answers.
MIN_SUCCESSES_TO_ESTIMATE = 2
REACHED_MARGIN = 0.9
# A 429 while already pacing means the estimate is high: lower it by this factor, at most once
# per cooldown after the last change (requests of one burst must not each lower it).
DECREASE_FACTOR = 0.8
DECREASE_COOLDOWN_SECONDS = 2.0
MIN_RATE = 0.05
# Admitted items older than the window are deleted every this many admissions.
LEAK_EVERY = 200


class BudgetDeadline(Exception):
    """The next request would have to wait past the caller's deadline (a sensor tick's)."""


class Clock(Protocol):
    """Time as the budget and the client see it; tests pass a fake that records the waits."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


# Requests are spaced a little wider than 1/rate on average: network jitter brings some in
# early, and a plan of 1 request/s holds a single token, so one arriving early is refused.
PACING_MARGIN = 1.02


def pacing_rate(requests_per_second: float) -> Rate:
    """One request per interval: on average 1/rate widened by the margin, never under 1/rate.

    pyrate-limiter admits the next request once more than the interval has passed in whole
    milliseconds, which spaces requests by the interval plus about 1.4 ms on average (and
    never less than the interval): the interval is one millisecond shorter than the margin's.
    """
    plan = math.ceil(1000 / requests_per_second)
    widened = math.ceil(1000 * PACING_MARGIN / requests_per_second) - 1
    return Rate(1, max(1, plan, widened))


@dataclass(frozen=True)
class Learned:
    """What a 429 taught: a rate, where it came from and how long to hold off."""

    rate: float | None  # None: the 429 told no rate, only a pause
    source: str
    retry_in: float


class RateBudget:
    """Pace requests on one API key; learn the limit from 429s; share both through `store`."""

    def __init__(
        self,
        store: BudgetStore,
        configured: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.configured = configured
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._state = BudgetState()
        self._state_read_at: float | None = None
        self._bucket: AbstractBucket | None = None
        self._bucket_rate: float | None = None
        self._admitted = 0
        self._successes: deque[float] = deque()  # wall times of recent 2xx answers

    # ----------------------------------------------------------------- what applies now
    def learned(self) -> BudgetState:
        """The shared state, re-read at most every STATE_REFRESH_SECONDS."""
        now = self.clock.monotonic()
        if self._state_read_at is None or now - self._state_read_at >= STATE_REFRESH_SECONDS:
            self._state = self.store.read()
            self._state_read_at = now
        return self._state

    def rate(self) -> float | None:
        """Requests/s every request is paced to: the configured limit, or lower if learned."""
        state = self.learned()
        learned = state.rate
        if learned is not None and self.clock.time() - state.learned_at > LEARNED_TTL_SECONDS:
            learned = None
        if learned is None:
            return self.configured
        return learned if self.configured is None else min(self.configured, learned)

    # ----------------------------------------------------------------- admission
    def acquire(self, deadline: float | None = None) -> float:
        """Block until this key may send one request; return the seconds waited.

        With a `deadline` (monotonic), raise BudgetDeadline instead of waiting past it.
        """
        waited = 0.0
        while True:
            pause = self.learned().blocked_until - self.clock.time()
            if pause > 0:
                self._before_sleep(pause, deadline)
                self.clock.sleep(pause)
                waited += pause
                continue
            rate = self.rate()
            if rate is None:
                return waited
            with self._lock:
                bucket = self._bucket_at(rate)
                item = RateItem("request", int(bucket.now()))
                if bucket.put(item):
                    self._admitted += 1
                    if self._admitted % LEAK_EVERY == 0:
                        bucket.leak(int(bucket.now()))
                    return waited
                wait_ms = bucket.waiting(item)
            # A contended Postgres lock answers "no" with no wait: try again shortly.
            delay = max(float(wait_ms if isinstance(wait_ms, int) else 0) / 1000, 0.005)
            self._before_sleep(delay, deadline)
            self.clock.sleep(delay)
            waited += delay

    def _before_sleep(self, seconds: float, deadline: float | None) -> None:
        if deadline is not None and self.clock.monotonic() + seconds > deadline:
            raise BudgetDeadline(f"the key's rate budget has no request free for {seconds:.1f} s")

    def _bucket_at(self, rate: float) -> AbstractBucket:
        if self._bucket is None:
            self._bucket = self.store.bucket(pacing_rate(rate))
        elif rate != self._bucket_rate:
            self._bucket.rates = [pacing_rate(rate)]
        self._bucket_rate = rate
        return self._bucket

    def succeeded(self) -> None:
        """A request was answered (not 429): counted to estimate the rate we reached."""
        now = self.clock.time()
        with self._lock:
            self._successes.append(now)
            while self._successes and self._successes[0] < now - 1.0:
                self._successes.popleft()

    @property
    def successes_in_last_second(self) -> int:
        return len(self._successes)

    # ----------------------------------------------------------------- learning
    def rate_limited(
        self, headers: Mapping[str, str], default_pause: float, max_pause: float
    ) -> Learned:
        """A 429 arrived: learn the limit, pause every consumer of the key, and say how.

        The pause is the answer's Retry-After (or X-RateLimit-Reset), else one request's
        interval at the learned rate, else `default_pause`; at most `max_pause`.
        """
        now = self.clock.time()
        current = self.rate()
        rate, source = self._estimate(headers, current)
        if rate is not None and current is not None and rate >= current:
            if now - self.learned().learned_at < DECREASE_COOLDOWN_SECONDS:
                # Requests already in flight when the rate was learned: nothing new to learn.
                rate = None
            else:
                # Paced at (or below) that rate and still refused: aim lower.
                rate = max(MIN_RATE, current * DECREASE_FACTOR)
                source = f"{source}, lowered after a 429 at {current:g}/s"
        pause = _retry_in(headers, now)
        if pause is None:
            pause = 1.0 / rate if rate is not None else default_pause
        pause = min(pause, max_pause)
        state = self.store.learn(rate, source, now, now + pause)
        self._state, self._state_read_at = state, self.clock.monotonic()
        if rate is None and state.rate is not None:
            return Learned(self.rate(), state.source, pause)
        return Learned(rate, source, pause)

    def _estimate(
        self, headers: Mapping[str, str], current: float | None
    ) -> tuple[float | None, str]:
        advertised = _positive(headers.get("X-RateLimit-Limit"))
        if advertised is not None:
            return advertised, f"X-RateLimit-Limit: {advertised:g}"
        if current is not None:
            return current, "the rate in force"
        reached = self.successes_in_last_second
        if reached >= MIN_SUCCESSES_TO_ESTIMATE:
            return reached * REACHED_MARGIN, "the rate reached before the 429"
        return None, ""  # one refusal tells no rate: pause only

    def close(self) -> None:
        self.store.close()


def _number(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _positive(raw: str | None) -> float | None:
    value = _number(raw)
    return value if value is not None and value > 0 else None


def retry_after_seconds(headers: Mapping[str, str], now: float) -> float | None:
    """A `Retry-After` header (seconds or an HTTP date) as seconds from `now` (wall time)."""
    raw = headers.get("Retry-After")
    if not raw:
        return None
    seconds = _number(raw)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - now)
    except (TypeError, ValueError):
        return None


def _retry_in(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to hold off: Retry-After, else X-RateLimit-Reset."""
    retry_after = retry_after_seconds(headers, now)
    if retry_after is not None:
        return retry_after
    reset = _positive(headers.get("X-RateLimit-Reset"))
    if reset is None:
        return None
    # Some APIs send the reset as a Unix time, others as seconds from now.
    return max(0.0, reset - now) if reset > 1e9 else reset
