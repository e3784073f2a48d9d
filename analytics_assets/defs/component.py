"""`analytics_assets.AnalyticsApiComponent`: the product as a dg component, for teams that add
it to their own Dagster project, one instance per API workspace.

    dg scaffold defs analytics_assets.AnalyticsApiComponent sales

Its attributes are every setting of `AnalyticsApiResource` under the same names (generated
from the one declaration in `analytics_assets/settings`), plus `key_prefix` and what users
tune about the sensor and the assets. A value written exactly as `"{{ env.NAME }}"` is bound
as `EnvVar("NAME")`: read at run time, shown by name (never by value) in the UI.
"""

from __future__ import annotations

import dataclasses
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import dagster as dg
from dagster import DefaultSensorStatus, EnvVar
from dagster.components import scaffold_component
from pydantic import Field, create_model

from analytics_assets.defs.factory import build_definitions
from analytics_assets.defs.resources import AnalyticsApiResource, describe
from analytics_assets.defs.translator import DEFAULT_OWNERS, Presentation
from analytics_assets.settings import ApiSettings, ScheduleSettings, declared_fields, value_type

ENV_TEMPLATE = re.compile(r"""^\{\{\s*(?:env\.(\w+)|env\(\s*['"](\w+)['"]\s*\))\s*\}\}$""")


def _bound(kind: type, at_run_time: bool) -> Any:
    """Resolve an attribute: a lone env template of a run-time setting becomes an EnvVar,
    anything else a value. A variable unset when definitions load leaves the attribute unset
    (the setting then falls back to its ANALYTICS_* variable and default)."""

    def resolve(context: dg.ResolutionContext, raw: Any) -> Any:
        lone = ENV_TEMPLATE.match(raw.strip()) if isinstance(raw, str) else None
        name = (lone.group(1) or lone.group(2)) if lone else None
        if name is not None and not os.environ.get(name):
            return None
        if name is not None and at_run_time and kind is str:
            return EnvVar(name)
        if name is not None and at_run_time and kind is int:
            return EnvVar.int(name)
        value = context.resolve_value(raw)
        return None if value in (None, "") else value

    return resolve


def _setting_attributes() -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for cls in (ApiSettings, ScheduleSettings):
        for f, declared in declared_fields(cls):
            kind = value_type(cls, f.name)
            kind = str if kind is Path else kind
            shown = str | None if kind is str else str | kind | None
            resolver = dg.Resolver(
                _bound(kind, at_run_time=cls is ApiSettings),
                model_field_type=shown,
                description=describe(f, declared),
                inject_before_resolve=False,
            )
            attributes[f.name] = (Annotated[Any, resolver], None)
    return attributes


class AnalyticsApiComponentBase(dg.Component, dg.Resolvable, dg.Model):
    """Loads one Captain Data API v3 workspace into a warehouse through dlt.

    Attributes:
        key_prefix: prefix of every asset key (`P/<resource>`) and `P_` of every other name
            (partitions, jobs, sensor, check, dlt pipelines, dataset); unset: the shipped names.
        sensor_default_status: `running` (default) or `stopped`.
        freshness_window_seconds: stale after this long unmaterialized; 0: no policy.
        group, owners, tags: how the assets appear in the UI.
        base_url, api_key, ... every setting of `AnalyticsApiResource`, same names; unset:
            its `ANALYTICS_*` variable at run time, then its default.

    Returns (`build_defs`): the instance's assets, check, jobs, sensor and resources.

    Example (`defs/sales/defs.yaml`, as `dg scaffold defs analytics_assets.AnalyticsApiComponent
    sales` writes it):

        type: analytics_assets.AnalyticsApiComponent
        attributes:
          key_prefix: sales
          base_url: "{{ env.SALES_ANALYTICS_API_BASE_URL }}"
          api_key: "{{ env.SALES_ANALYTICS_API_KEY }}"
    """

    key_prefix: str | None = Field(
        default=None,
        description="Prefix of every asset key (P/<resource>) and P_ of every other name: "
        "partitions, jobs, sensor, check, dlt pipelines, dataset. Unset: the shipped names.",
    )
    sensor_default_status: Literal["running", "stopped"] = Field(
        default="running",
        description="Whether the refresh and webhook sensors start running.",
    )
    freshness_window_seconds: int | None = Field(
        default=None,
        description="An asset not materialized for this long is stale (0: no policy). "
        "Default: 288 sensor intervals (a day at 300 s).",
    )
    group: str | None = Field(default=None, description="Asset group (default: P_analytics).")
    owners: list[str] | None = Field(
        default=None, description=f"Asset owners (default: {', '.join(DEFAULT_OWNERS)})."
    )
    tags: dict[str, str] | None = Field(default=None, description="Tags on every asset.")

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        api_fields = [f.name for f in dataclasses.fields(ApiSettings)]
        values = {name: getattr(self, name) for name in api_fields}
        resource = AnalyticsApiResource(**{k: v for k, v in values.items() if v is not None})
        interval = getattr(self, "sensor_interval_seconds", None)
        pushed = getattr(self, "webhook_sensor_interval_seconds", None)
        window = self.freshness_window_seconds
        return build_definitions(
            self.key_prefix,
            resource=resource,
            sensor_interval_seconds=int(interval) if interval else None,
            webhook_sensor_interval_seconds=int(pushed) if pushed else None,
            sensor_default_status=DefaultSensorStatus(self.sensor_default_status.upper()),
            presentation=Presentation(
                group=self.group,
                owners=tuple(self.owners) if self.owners is not None else DEFAULT_OWNERS,
                tags=dict(self.tags or {}),
                freshness=None if window is None else timedelta(seconds=window),
            ),
        )


class AnalyticsApiScaffolder(dg.Scaffolder):
    """`dg scaffold defs`: a defs.yaml whose prefix is the instance's name and whose API
    settings read `<NAME>_ANALYTICS_API_BASE_URL` and `<NAME>_ANALYTICS_API_KEY`."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        name = re.sub(r"\W+", "_", request.target_path.name).strip("_") or "analytics"
        env = name.upper()
        scaffold_component(
            request,
            {
                "key_prefix": name,
                "base_url": f"{{{{ env.{env}_ANALYTICS_API_BASE_URL }}}}",
                "api_key": f"{{{{ env.{env}_ANALYTICS_API_KEY }}}}",
            },
        )


AnalyticsApiComponent = dg.scaffold_with(AnalyticsApiScaffolder)(
    create_model(
        "AnalyticsApiComponent",
        __base__=AnalyticsApiComponentBase,
        __module__="analytics_assets",
        __doc__=AnalyticsApiComponentBase.__doc__,
        **_setting_attributes(),
    )
)
