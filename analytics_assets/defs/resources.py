"""The one configurable resource that holds the API and warehouse settings.

Its fields are generated from the declaration in `settings/declared.py`: one field per
setting, each optional; a field left unset is read at run time from its environment variable
(never at import time). Pass `EnvVar(...)` to bind one explicitly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource
from pydantic import Field, create_model

from analytics_assets.settings import (
    ApiSettings,
    declared_fields,
    default_of,
    resolve_settings,
    value_type,
)


class AnalyticsApiResourceBase(ConfigurableResource):
    """What the assets, the check and the sensor ask of the resource (the fields are below)."""

    def settings(self) -> ApiSettings:
        """Resolve and validate; raises AnalyticsConfigError naming the variable to fix."""
        return resolve_settings(**{name: getattr(self, name) for name in setting_names()})


def setting_names() -> list[str]:
    return [f.name for f in dataclasses.fields(ApiSettings)]


def describe(f: dataclasses.Field, declared: Any) -> str:
    """The field's description, as the UI and `dg` show it."""
    default = declared.default_text or default_of(f)
    shown = "" if default is None else f"; default {default}"
    secret = "; secret" if declared.secret else ""
    return f"{declared.description}{shown}{secret}; env {declared.env}"


def resource_fields() -> dict[str, Any]:
    """One optional field per declared setting (paths as strings)."""
    fields: dict[str, Any] = {}
    for f, declared in declared_fields(ApiSettings):
        kind = value_type(ApiSettings, f.name)
        kind = str if kind is Path else kind
        fields[f.name] = (kind | None, Field(default=None, description=describe(f, declared)))
    return fields


if TYPE_CHECKING:  # the type checker's view of the generated class

    class AnalyticsApiResource(AnalyticsApiResourceBase):
        def __init__(self, **fields: Any) -> None: ...
        def __getattr__(self, name: str) -> Any: ...

else:
    AnalyticsApiResource = create_model(
        "AnalyticsApiResource",
        __base__=AnalyticsApiResourceBase,
        __module__=__name__,
        __doc__=(
            "Settings for the analytics API and the warehouse, used by assets, the check and the "
            "sensor. Every field left unset is read at run time from its environment variable; "
            "the key falls back to `api_key` in `.dlt/secrets.toml`, the spec's own convention."
        ),
        **resource_fields(),
    )
