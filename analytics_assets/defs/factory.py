"""Build one instance's definitions: every asset, check, job, sensor and resource, named from
one optional prefix. The shipped code location and each dg component instance call this."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

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
from analytics_assets.defs.webhook_sensor import build_webhook_sensor
from analytics_assets.defs.wiring import Wiring
from analytics_assets.settings import resolve_schedule

# The default freshness window, in sensor intervals: a day at the default 300 s. The sensor
# refreshes the workflow list at least every half window, so a quiet workspace stays fresh.
FRESHNESS_INTERVALS = 288


def build_definitions(
    key_prefix: str | None = None,
    *,
    resource: AnalyticsApiResourceBase | None = None,
    sensor_interval_seconds: int | None = None,
    webhook_sensor_interval_seconds: int | None = None,
    sensor_default_status: DefaultSensorStatus = DefaultSensorStatus.RUNNING,
    presentation: Presentation | None = None,
    clock: Clock | None = None,
) -> Definitions:
    """One instance of the product.

    `resource` holds its API settings (default: every field from the environment at run
    time); `sensor_interval_seconds` defaults to `ANALYTICS_SENSOR_INTERVAL_SECONDS`, read
    now (Dagster needs the interval when definitions load); `webhook_sensor_interval_seconds`
    likewise `ANALYTICS_WEBHOOK_SENSOR_INTERVAL_SECONDS`. A `presentation` without a freshness
    window gets one of FRESHNESS_INTERVALS sensor intervals (a zero window: none).
    `clock` is for tests.
    """
    names = Names(key_prefix)
    schedule = resolve_schedule()
    interval = sensor_interval_seconds or schedule.sensor_interval_seconds
    pushed = webhook_sensor_interval_seconds or schedule.webhook_sensor_interval_seconds
    presentation = presentation or Presentation()
    if presentation.freshness is None:
        window = timedelta(seconds=interval * FRESHNESS_INTERVALS)
        presentation = dataclasses.replace(presentation, freshness=window)
    wiring = Wiring.build(names, presentation, clock)
    jobs = list(build_jobs(names))
    return Definitions(
        assets=build_assets(wiring),
        asset_checks=[build_check(wiring)],
        jobs=jobs,
        sensors=[
            build_sensor(wiring, jobs, interval, sensor_default_status),
            build_webhook_sensor(wiring, jobs, pushed, sensor_default_status),
        ],
        resources={
            names.dlt_resource: DagsterDltResource(),
            names.api_resource: resource if resource is not None else AnalyticsApiResource(),
        },
    )
