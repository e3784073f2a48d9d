"""The API's two response shapes: the real API's bare arrays and the spec's `{"data": ...}`."""

from __future__ import annotations

from typing import Any

from analytics_assets.api.errors import AnalyticsApiError


def unwrap_list(body: Any, endpoint: str) -> list[dict[str, Any]]:
    """Accept the real API's bare array and the spec's `{"data": [...]}`; nothing else."""
    items = body.get("data") if isinstance(body, dict) and "data" in body else body
    if not isinstance(items, list):
        raise AnalyticsApiError(
            f"GET {endpoint} returned neither a JSON array nor an object with a 'data' array "
            f"(got {type(body).__name__} with keys {_keys(body)})",
            endpoint=endpoint,
        )
    for item in items:
        if not isinstance(item, dict):
            raise AnalyticsApiError(
                f"GET {endpoint} returned a list element that is not an object "
                f"({type(item).__name__})",
                endpoint=endpoint,
            )
    return items


def unwrap_workspace(body: Any, endpoint: str) -> dict[str, Any]:
    """Accept a bare object, `{"data": {...}}` or a one-element list; it must have a name."""
    if isinstance(body, dict) and "data" in body and "name" not in body:
        body = body["data"]
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if not isinstance(body, dict) or not body.get("name"):
        raise AnalyticsApiError(
            f"GET {endpoint} did not return a workspace object with a 'name' "
            f"(got {type(body).__name__} with keys {_keys(body)})",
            endpoint=endpoint,
        )
    return body


def _keys(body: Any) -> list[str]:
    return sorted(body)[:8] if isinstance(body, dict) else []
