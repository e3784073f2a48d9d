"""Refresh data as the API changes: new workflows, and workflows whose jobs changed."""

import hashlib
import json
import os
from typing import Any

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from analytics_assets import constants as c
from analytics_assets.jobs import workflow_partition_job, workspace_job
from analytics_assets.partitions import partitions_of_run, workflow_uids
from analytics_assets.resources import AnalyticsApiResource
from analytics_assets.source import fetch_jobs, fetch_workflows

DEFAULT_INTERVAL_SECONDS = 300
IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]
# A job change the warehouse must see: new job, or a new status/finish time/row count.
JOB_FIELDS = ("uid", "status", "finish_time", "total_row_count")


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def jobs_fingerprint(jobs: list[dict[str, Any]]) -> str:
    return _digest(sorted([[job.get(f) for f in JOB_FIELDS] for job in jobs], key=str))


def _partitions_in_flight(context: SensorEvaluationContext) -> set[str]:
    # Any job counts, not only ours: a CLI `dagster asset materialize` or a UI launch runs as
    # the implicit asset job, and it writes the same partition. A single-run backfill names
    # its partitions as a range of the registered uids.
    runs = context.instance.get_runs(filters=RunsFilter(statuses=IN_FLIGHT))
    if not runs:
        return set()
    registered = context.instance.get_dynamic_partitions(c.PARTITIONS_NAME)
    return {uid for run in runs for uid in partitions_of_run(run.tags, registered)}


def sensor_interval_seconds() -> int:
    """`ANALYTICS_SENSOR_INTERVAL_SECONDS`, read when definitions load (Dagster needs the
    interval then); a bad value stops the code location naming the variable."""
    raw = os.environ.get(c.ENV_SENSOR_INTERVAL, "").strip()
    if not raw:
        return DEFAULT_INTERVAL_SECONDS
    try:
        seconds = int(raw)
    except ValueError:
        seconds = 0
    if seconds <= 0:
        raise ValueError(f"{c.ENV_SENSOR_INTERVAL}={raw!r} must be a positive number of seconds")
    return seconds


def build_workflow_refresh_sensor(
    minimum_interval_seconds: int | None = None,
) -> SensorDefinition:
    """The sensor, with its polling interval (each tick costs 1 + one request per workflow);
    by default `ANALYTICS_SENSOR_INTERVAL_SECONDS`, else 300 s."""

    @sensor(
        name="workflow_refresh_sensor",
        minimum_interval_seconds=minimum_interval_seconds or sensor_interval_seconds(),
        default_status=DefaultSensorStatus.RUNNING,
        jobs=[workspace_job, workflow_partition_job],
        description=(
            "Polls the API; adds partitions for new workflows and requests runs for new "
            "workflows and for workflows whose jobs changed. At most one run in flight per "
            "partition; run keys make a repeated tick a no-op."
        ),
    )
    def workflow_refresh_sensor(
        context: SensorEvaluationContext, analytics_api: AnalyticsApiResource
    ) -> SensorResult:
        client = analytics_api.client(context.log)
        state = json.loads(context.cursor) if context.cursor else {}
        seen: dict[str, str] = state.get("jobs", {})
        sequence: dict[str, int] = state.get("seq", {})
        uids = list(dict.fromkeys(w["uid"] for w in fetch_workflows(client)))
        known = set(context.instance.get_dynamic_partitions(c.PARTITIONS_NAME))
        new = [uid for uid in uids if uid not in known]
        requests: list[RunRequest] = []
        list_digest = _digest(sorted(uids))
        if list_digest != state.get("workflows"):
            requests.append(
                RunRequest(run_key=f"workflows:{list_digest}", job_name=workspace_job.name)
            )
        busy = _partitions_in_flight(context)
        for uid in uids:
            if uid in busy:
                continue  # its change is picked up on a later tick, after the run ends
            fingerprint = jobs_fingerprint(fetch_jobs(client, uid, context.log))
            if seen.get(uid) == fingerprint:
                continue
            sequence[uid] = sequence.get(uid, 0) + 1
            seen[uid] = fingerprint
            requests.append(
                RunRequest(
                    run_key=f"{uid}:{sequence[uid]}:{fingerprint}",
                    job_name=workflow_partition_job.name,
                    partition_key=uid,
                )
            )
        cursor = {"workflows": list_digest, "jobs": seen, "seq": sequence}
        return SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[workflow_uids.build_add_request(new)] if new else [],
            cursor=json.dumps(cursor, sort_keys=True),
        )

    return workflow_refresh_sensor


workflow_refresh_sensor = build_workflow_refresh_sensor()
