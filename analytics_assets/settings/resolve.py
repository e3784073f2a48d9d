"""Resolving settings at run time: explicit value, then environment variable, then (the key
only) dlt's `api_key` secret, the spec's own way of passing it."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from analytics_assets.settings.declared import ApiSettings, ScheduleSettings
from analytics_assets.settings.fields import (
    AnalyticsConfigError,
    Declared,
    declared_fields,
    value_type,
)


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def _dlt_secret_api_key() -> str | None:
    """The spec reads `dlt.secrets["api_key"]`; honour it when the env var is unset."""
    import dlt  # local import: dlt's config providers read files, not wanted at import time

    try:
        value: object = dlt.secrets.get("api_key")
    except Exception:  # a malformed secrets.toml must not hide the clearer error below
        return None
    return str(value) if value else None


def _parse(cls: type, f: dataclasses.Field, declared: Declared, raw: Any) -> Any:
    kind = value_type(cls, f.name)
    if isinstance(raw, str):
        raw = raw.strip()  # e.g. the newline of a secret mounted from a file
        if raw == "":
            return None
    try:
        if kind is Path:
            return Path(raw).expanduser().resolve()
        if kind is int and isinstance(raw, float) and not raw.is_integer():
            raise ValueError
        return kind(raw)
    except (TypeError, ValueError):
        shown = "the value is not shown" if declared.secret else repr(raw)
        raise AnalyticsConfigError(
            f"{declared.env}={shown} is not a valid {kind.__name__}"
        ) from None


def _resolve(cls: type, explicit: dict[str, Any]) -> dict[str, Any]:
    unknown = set(explicit) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for f, declared in declared_fields(cls):
        raw = explicit.get(f.name)
        raw = _env(declared.env) if raw is None or raw == "" else raw
        if raw is None and f.name == "api_key":
            raw = _dlt_secret_api_key()
        value = None if raw is None else _parse(cls, f, declared, raw)
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if value is None and required:
            raise AnalyticsConfigError(f"{declared.env} is not set: {REQUIRED_HINT[f.name]}")
        if value is not None:
            values[f.name] = value
    return values


REQUIRED_HINT = {
    "base_url": "set it to the API root without /v3, e.g. https://api.captaindata.co",
    "api_key": "set it to your API key (or put api_key in .dlt/secrets.toml)",
}


def resolve_settings(**explicit: Any) -> ApiSettings:
    """Explicit values (None = unset), then the environment, then (the key only) dlt's secret."""
    values = _resolve(ApiSettings, explicit)
    values["base_url"] = str(values["base_url"]).rstrip("/")
    return ApiSettings(**values)


def resolve_schedule(**explicit: Any) -> ScheduleSettings:
    """The definition-time settings, from explicit values, then the environment."""
    return ScheduleSettings(**_resolve(ScheduleSettings, explicit))
