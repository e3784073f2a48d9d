"""The plan's rate limit: one token bucket per API key, and the headers each verdict sends."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

Bucket = tuple[float, float]  # (tokens, clock reading when they were counted)
# The vendor's quota endpoint; a simulator may give it a stricter limit of its own.
WORKSPACE_PATH = "/v3/workspace"


class RateVerdict(NamedTuple):
    """One request's pass through the plan's rate limit, with the headers to send."""

    allowed: bool
    limit: float  # requests per second
    headers: tuple[tuple[str, str], ...]


def _ceil(x: float) -> int:
    return math.ceil(round(x, 6))  # float noise (1.0000000000002) must not add a whole unit


def _ms_up(seconds: float) -> str:
    # Rounded up, so a client that waits exactly this long finds the token there.
    return f"{_ceil(seconds * 1000) / 1000:.3f}"


def take_token(bucket: Bucket | None, rate: float, now: float) -> tuple[RateVerdict, Bucket]:
    """Take one token from `bucket` (None: a key not seen yet, full) at `rate` per second:
    the verdict, and the bucket as it is left."""
    capacity = max(1.0, rate)  # a one-second burst, and at least one request
    tokens, stamp = bucket if bucket is not None else (capacity, now)
    tokens = min(capacity, tokens + (now - stamp) * rate)
    limit = ("X-RateLimit-Limit", f"{rate:g}")
    if tokens >= 1.0:
        tokens -= 1.0
        remaining = ("X-RateLimit-Remaining", str(math.floor(tokens)))
        reset = ("X-RateLimit-Reset", _ms_up((capacity - tokens) / rate))
        return RateVerdict(True, rate, (limit, remaining, reset)), (tokens, now)
    wait = (1.0 - tokens) / rate
    headers = (
        ("Retry-After", str(max(1, _ceil(wait)))),
        limit,
        ("X-RateLimit-Remaining", "0"),
        ("X-RateLimit-Reset", _ms_up(wait)),
    )
    return RateVerdict(False, rate, headers), (tokens, now)


def checked_rate(value: float | None, name: str) -> float | None:
    """A limit in requests per second: None (unlimited) or a finite number > 0."""
    ok = value is None or (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )
    if not ok:
        raise ValueError(f"{name} must be None or a finite number > 0 (requests/s)")
    return None if value is None else float(value)


def bucket_for(
    key: str | None, path: str, plan: float | None, workspace: float | None
) -> tuple[float | None, str | None]:
    """The rate and bucket a request takes from: the key's plan, or for /v3/workspace with its
    own limit, a bucket of the key's for that endpoint alone."""
    if path == WORKSPACE_PATH and workspace is not None:
        return workspace, f"{key}\0workspace"
    return plan, key


class RateLimit:
    """A limit attribute of the simulator: validated when set, and every bucket is refilled
    (a new plan starts every key with a full bucket). Held as `_<name>`."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, sim: Any, owner: type | None = None) -> float | None:
        return getattr(sim, f"_{self.name}")

    def __set__(self, sim: Any, value: float | None) -> None:
        rate = checked_rate(value, self.name)
        with sim._lock:
            setattr(sim, f"_{self.name}", rate)
            sim._buckets.clear()
