"""Resolving settings at run time: explicit value, then environment variable, then the
setting's declared fallback; each shaped and checked as its declaration says. Names no field."""

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


def resolve_fields(cls: type, explicit: dict[str, Any]) -> dict[str, Any]:
    """The values of `cls`'s declared settings that are set, each found, parsed and shaped
    as its declaration says; a required one unset fails with its declared hint."""
    unknown = set(explicit) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for f, declared in declared_fields(cls):
        raw = explicit.get(f.name)
        raw = _env(declared.env) if raw is None or raw == "" else raw
        if raw is None and declared.fallback is not None:
            raw = declared.fallback()
        value = None if raw is None else _parse(cls, f, declared, raw)
        if value is not None and declared.normalize is not None:
            value = declared.normalize(value)
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if value is None and required:
            raise AnalyticsConfigError(f"{declared.env} is not set: {declared.required_hint}")
        if value is not None:
            values[f.name] = value
    return values


def resolve_settings(**explicit: Any) -> ApiSettings:
    """Explicit values (None = unset), then the environment, then each setting's fallback
    (the key: dlt's `api_key` secret, the spec's own way of passing it)."""
    return ApiSettings(**resolve_fields(ApiSettings, explicit))


def resolve_schedule(**explicit: Any) -> ScheduleSettings:
    """The definition-time settings, from explicit values, then the environment."""
    return ScheduleSettings(**resolve_fields(ScheduleSettings, explicit))
