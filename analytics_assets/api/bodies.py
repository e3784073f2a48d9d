"""Reading answer bodies: JSON parsed fast and exactly, error details without secrets."""

from __future__ import annotations

import json
from typing import Any

import orjson
from urllib3.exceptions import NameResolutionError, NewConnectionError

from analytics_assets.api.errors import AnalyticsApiError
from analytics_assets.api.redact import redacted


def loads_json(body: bytes, endpoint: str, status: int, content_type: str | None) -> Any:
    if not may_hold_a_huge_integer(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass  # the standard parser words the error (or reads what orjson refuses)
    try:
        return json.loads(body)
    except ValueError:
        raise AnalyticsApiError(
            f"GET {endpoint} returned HTTP {status} with a body that is not valid JSON "
            f"({content_type or 'unknown content type'}, {len(body)} bytes)",
            status=status,
            endpoint=endpoint,
        ) from None


def is_unreachable(exc: Exception) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (NewConnectionError, NameResolutionError)):
            return True
        for arg in getattr(seen, "args", ()):
            if isinstance(arg, BaseException) and is_unreachable(arg):  # type: ignore[arg-type]
                return True
        seen = seen.__cause__ or seen.__context__
    return False


# orjson parses result pages about twice as fast as the json module (or simplejson, which
# requests uses), but reads an integer above 2**64 - 1 or below -2**63 as a float. Such an
# integer is 20+ digits, or "-" and 19+, right after ":", "," or "[". Mapped to classes
# (digits "0", those three ":", whitespace dropped), a body that may hold one shows ":" and
# 20 zeros or ":-" and 19 (also when the digits are inside a string: the standard parser then
# reads the body, slower but exact). The check is one pass over the bytes.
_CLASSES = bytes(
    48 if 48 <= b <= 57 else 58 if b in b":,[" else 45 if b == 45 else 120 for b in range(256)
)
_WHITESPACE = b" \t\r\n"
_HUGE = (b":" + b"0" * 20, b":-" + b"0" * 19)


def may_hold_a_huge_integer(body: bytes) -> bool:
    shape = body.translate(_CLASSES, _WHITESPACE)
    return any(pattern in shape for pattern in _HUGE)


def error_detail(body: bytes, secrets: tuple[str, ...]) -> str:
    try:
        error = json.loads(body)
    except ValueError:
        return ""
    message = error.get("message") if isinstance(error, dict) else None
    if not message:
        return ""
    return f" ({redacted(str(message), secrets)[:200]})"
