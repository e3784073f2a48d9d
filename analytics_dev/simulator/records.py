"""Plain value types shared by the simulator's server and its control endpoints."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field

FAULT_KINDS = (
    "status",
    "html",
    "truncated",
    "no_list",
    "bad_paging",
    "missing_paging",
    "slow",
    "drop",
)


@dataclass(frozen=True)
class RequestRecord:
    """One request as the simulator saw it. The API key is deliberately never recorded."""

    method: str
    path: str  # decoded: each raw segment unquoted, then re-joined with "/"
    query: dict
    status: int  # 0 when a "drop" fault closed the connection without a response
    started: float  # time.monotonic() when the request line was read
    project_id_header: str | None


@dataclass
class FaultRule:
    """Misbehaviour for /v3 requests whose decoded path matches ``path_regex`` (re.search).

    Each match consumes one of ``times`` (-1: forever). ``delay`` seconds are slept first,
    whatever the kind; ``slow`` then serves normally.
    """

    path_regex: str
    times: int = 1
    status: int | None = None
    retry_after: float | None = None
    body: bytes | None = None
    delay: float = 0.0
    kind: str = "status"
    pattern: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.times == 0 or self.times < -1:
            raise ValueError("times must be positive or -1 (forever)")
        self.pattern = re.compile(self.path_regex)

    @classmethod
    def from_json(cls, payload: dict) -> FaultRule:
        """Build a rule from the control endpoint's JSON, where ``body`` is base64."""
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = set(payload) - names
        if unknown:
            raise ValueError(f"unknown FaultRule fields: {sorted(unknown)}")
        kwargs = dict(payload)
        if kwargs.get("body") is not None:
            kwargs["body"] = base64.b64decode(kwargs["body"])
        return cls(**kwargs)


_REASONS = {
    400: ("BAD_REQUEST", "The request is malformed."),
    401: ("UNAUTHORIZED", "Missing or invalid API key."),
    403: ("FORBIDDEN", "Access denied to this project."),
    404: ("NOT_FOUND", "The requested resource does not exist."),
    405: ("METHOD_NOT_ALLOWED", "Only GET is supported."),
    429: ("TOO_MANY_REQUESTS", "Rate limit exceeded, retry later."),
    500: ("INTERNAL_ERROR", "An unexpected error occurred."),
    502: ("BAD_GATEWAY", "Upstream service failure."),
    503: ("SERVICE_UNAVAILABLE", "Service temporarily unavailable."),
    504: ("GATEWAY_TIMEOUT", "Upstream service timed out."),
}


def error_body(
    status: int, scope: str = "server", message: str | None = None, seed: str = ""
) -> bytes:
    """The newer API's error shape, used for every error status the simulator sends."""
    label, default_message = _REASONS.get(status, ("ERROR", "Request failed."))
    ref = hashlib.md5(f"{status}:{seed}".encode()).hexdigest()[:16]  # stable, opaque
    return json.dumps(
        {
            "error_label": label,
            "error_scope": scope,
            "error_ref": ref,
            "message": message or default_message,
            "status_code": status,
            "params": {},
        }
    ).encode()
