"""Build one instance's definitions: every asset, check, job, sensor and resource, named from
one optional prefix. The shipped code location and each dg component instance call this."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import DefaultSensorStatus, Definitions
from dagster_dlt import DagsterDltResource

from analytics_assets.api.budget import Clock
from analytics_assets.defs.assets import build_assets
from analytics_assets.defs.checks import build_check
from analytics_assets.defs.jobs import build_jobs
from analytics_assets.defs.names import Names
from analytics_assets.defs.resources import AnalyticsApiResource, AnalyticsApiResourceBase
from analytics_assets.defs.sensors import build_sensor
from analytics_assets.defs.translator import Presentation
from analytics_assets.defs.wiring import Wiring
from analytics_assets.settings import resolve_schedule


def build_definitions(
    key_prefix: str | None = None,
    *,
    resource: AnalyticsApiResourceBase | None = None,
    sensor_interval_seconds: int | None = None,
    sensor_default_status: DefaultSensorStatus = DefaultSensorStatus.RUNNING,
    presentation: Presentation | None = None,
    clock: Clock | None = None,
    resources: Mapping[str, Any] | None = None,
) -> Definitions:
    """One instance of the product.

    `resource` holds its API settings (default: every field from the environment at run
    time); `sensor_interval_seconds` defaults to `ANALYTICS_SENSOR_INTERVAL_SECONDS`, read
    now (Dagster needs the interval when definitions load). `clock` is for tests.
    """
    names = Names(key_prefix)
    wiring = Wiring.build(names, presentation, clock)
    interval = sensor_interval_seconds or resolve_schedule().sensor_interval_seconds
    jobs = list(build_jobs(names))
    return Definitions(
        assets=build_assets(wiring),
        asset_checks=[build_check(wiring)],
        jobs=jobs,
        sensors=[build_sensor(wiring, jobs, interval, sensor_default_status)],
        resources={
            names.dlt_resource: DagsterDltResource(),
            names.api_resource: resource if resource is not None else AnalyticsApiResource(),
            **(resources or {}),
        },
    )
