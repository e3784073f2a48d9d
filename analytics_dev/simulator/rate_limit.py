"""The plan's rate limit: one token bucket per API key, and the headers each verdict sends."""

from __future__ import annotations

import math
from typing import NamedTuple

Bucket = tuple[float, float]  # (tokens, clock reading when they were counted)


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
