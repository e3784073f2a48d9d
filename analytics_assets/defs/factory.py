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
    """One instance of the product: its assets, check, jobs, sensor and resources.

    Building it reads no setting but the sensor interval, opens nothing and changes nothing
    else in the process.

    Args:
        key_prefix: prefix of every asset key (`P/<resource>`) and `P_` of every other name
            (partitions, jobs, sensor, check, pipelines, dataset); None: the shipped names.
        resource: its API and warehouse settings; default `AnalyticsApiResource()`, every
            field from its `ANALYTICS_*` variable at run time.
        sensor_interval_seconds: seconds between sensor ticks; default
            `ANALYTICS_SENSOR_INTERVAL_SECONDS`, read now (Dagster needs it at load).
        webhook_sensor_interval_seconds: seconds between `workflow_webhook_sensor` ticks;
            default `ANALYTICS_WEBHOOK_SENSOR_INTERVAL_SECONDS`, read now.
        sensor_default_status: whether the sensors start running.
        presentation: group, owners, tags, freshness; a window of None gets
            FRESHNESS_INTERVALS sensor intervals, a zero window none.
        clock: for tests (waits recorded, not waited).

    Returns:
        The `Definitions`, to merge with a project's own.

    Example:
        defs = dg.Definitions.merge(
            build_definitions("sales", resource=AnalyticsApiResource(
                base_url="https://api.captaindata.co", api_key=dg.EnvVar("SALES_API_KEY"))),
            build_definitions("marketing"),
        )
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
