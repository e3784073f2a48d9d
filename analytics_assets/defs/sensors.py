"""Refresh data as the API changes: new workflows, and workflows whose jobs changed.

Every tick fits a time budget whatever the number of workflows, the latency or the plan: a
new workflow costs no request (its load lists its jobs), active and recently changed
workflows are checked every tick, the rest in rotation; what is due goes into few runs of
contiguous partitions. See `sensor_state.py` for the bookkeeping.
"""

import hashlib
import json
import math
from typing import Any

from dagster import (
    AssetRecordsFilter,
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
from analytics_assets.api.budget import BudgetDeadline
from analytics_assets.api.client import AnalyticsApiClient
from analytics_assets.api.jobs import jobs_fingerprint
from analytics_assets.api.reads import fetch_jobs, fetch_workflows
from analytics_assets.defs.metadata import FINGERPRINT_METADATA
from analytics_assets.defs.partitions import partitions_of_run, range_tags, unregistered
from analytics_assets.defs.sensor_state import (
    ACTIVE_STATUSES,
    BASELINE,
    UNKNOWN,
    Entry,
    SensorState,
    load_ranges,
)
from analytics_assets.defs.webhook_sensor import note_webhook_events
from analytics_assets.defs.wiring import Wiring

# With a known rate, a tick spends at most this share of what the plan allows in its
# budget; while runs of ours are in flight, at most this other share of what the plan allows
# between two ticks (a tick every 30 s would otherwise keep 75% of the plan all the time).
SENSOR_RATE_SHARE = 0.75
SENSOR_SHARE_WITH_RUNS = 0.25
# Resolving from materializations the fingerprints of workflows whose loads it requested.
MAX_RESOLVED_PER_TICK = 500
IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _partitions_in_flight(context: SensorEvaluationContext, registered: list[str]) -> set[str]:
    # Any job counts, not only ours: a CLI `dagster asset materialize` or a UI launch runs as
    # the implicit asset job, and it writes the same partition. A single-run backfill names
    # its partitions as a range of the registered uids.
    runs = context.instance.get_runs(filters=RunsFilter(statuses=IN_FLIGHT))
    return {uid for run in runs for uid in partitions_of_run(run.tags, registered)}


def _recorded_fingerprints(
    context: SensorEvaluationContext, wiring: Wiring, uids: list[str]
) -> dict[str, str]:
    """What the latest `jobs` materialization of each partition recorded (BASELINE if it
    recorded none); partitions never materialized are left out."""
    found: dict[str, str] = {}

    def latest(partitions: list[str], limit: int) -> None:
        records = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=wiring.names.key(c.JOBS), asset_partitions=partitions),
            limit=limit,
        ).records
        for record in records:  # newest first
            materialization = record.asset_materialization
            if materialization is None or materialization.partition in found:
                continue
            value = materialization.metadata.get(FINGERPRINT_METADATA)
            found[str(materialization.partition)] = str(value.value) if value else BASELINE

    if uids:
        latest(uids, len(uids) * 4)  # one query for the usual case, a load or two each
    for uid in [u for u in uids if u not in found]:
        latest([uid], 1)  # one with many loads, or none: asked on its own
    return found


class Tick:
    """One evaluation: what it checked, what it skipped, what is due."""

    def __init__(
        self, context: SensorEvaluationContext, client: AnalyticsApiClient, budget: float
    ) -> None:
        self.context, self.client = context, client
        self.started = client.clock.monotonic()
        self.deadline = self.started + budget
        client.deadline = self.deadline
        rate = client.budget.rate()
        # Requests this tick may make besides the workflow list, when the rate is known.
        self.capacity = (
            math.inf if rate is None else max(1, int(rate * budget * SENSOR_RATE_SHARE) - 1)
        )
        self.checked = self.skipped = self.hot = 0
        self.out_of_budget = False

    def share_with_runs(self, interval: float) -> None:
        """Runs of ours are in flight: leave them at least 75% of the plan over time."""
        rate = self.client.budget.rate()
        if rate is not None:
            share = max(1, int(rate * interval * SENSOR_SHARE_WITH_RUNS) - 1)
            self.capacity = min(self.capacity, share)

    def has_time(self) -> bool:
        per_request = (self.client.latency or 0.0) + 1.0 / (self.client.budget.rate() or math.inf)
        now = self.client.clock.monotonic()
        return now + per_request < self.deadline and self.checked < self.capacity

    def check(self, state: SensorState, uid: str) -> bool:
        """Fetch one workflow's jobs; True if they changed since the last check."""
        jobs = fetch_jobs(self.client, uid, self.context.log)
        self.checked += 1
        entry = state.entries[uid]
        fingerprint = jobs_fingerprint(jobs)
        entry.checked = state.tick
        entry.active = any(job.get("status") in ACTIVE_STATUSES for job in jobs)
        changed = entry.fingerprint not in (fingerprint, BASELINE)
        entry.fingerprint = fingerprint
        if changed:
            entry.changed = state.tick
        return changed


def evaluate(context: SensorEvaluationContext, wiring: Wiring, interval: float) -> SensorResult:
    """One tick of the instance's refresh sensor, within its tick budget."""
    settings = getattr(context.resources, wiring.names.api_resource).settings()
    client = wiring.client(settings, context.log)
    try:
        tick = Tick(context, client, settings.sensor_tick_budget_seconds)
        return _evaluate(context, wiring, tick, settings.sensor_max_partitions_per_run, interval)
    finally:
        client.close()


def _evaluate(
    context: SensorEvaluationContext, wiring: Wiring, tick: Tick, max_per_run: int, interval: float
) -> SensorResult:
    names = wiring.names
    state = SensorState.decode(context.cursor)
    state.tick += 1
    uids = list(dict.fromkeys(w["uid"] for w in fetch_workflows(tick.client)))
    registered = list(context.instance.get_dynamic_partitions(names.partitions))
    new = unregistered(registered, uids)
    order = registered + new
    busy = _partitions_in_flight(context, registered)
    if busy:
        tick.share_with_runs(interval)
    busy |= note_webhook_events(context, names, state, interval)  # what webhooks already cover
    requests: list[RunRequest] = []
    list_digest = _digest(sorted(uids))
    # Requested when the list changed, and at least every half freshness window, so that a
    # quiet workspace's assets stay fresh (their plan and quota change anyway).
    stale = wiring.refresh_ticks(interval) <= state.tick - state.workspace_tick
    if list_digest != state.workflows_digest or stale:
        key = f"workflows:{list_digest}" + (f":{state.tick}" if stale else "")
        requests.append(RunRequest(run_key=key, job_name=names.workspace_job))
        state.workspace_tick = state.tick
    state.workflows_digest = list_digest
    listed = set(uids)
    state.entries = {u: e for u, e in state.entries.items() if u in listed}

    due: set[str] = set()
    for uid in uids:
        if uid not in state.entries:  # discovered: its load lists its jobs, no request here
            state.entries[uid] = Entry(UNKNOWN)
            if uid not in busy:
                due.add(uid)
    pending = [u for u, e in state.entries.items() if e.fingerprint == UNKNOWN]
    settled = [u for u in pending if u not in busy and u not in due][:MAX_RESOLVED_PER_TICK]
    recorded = _recorded_fingerprints(context, wiring, settled)
    for uid in settled:
        if uid in recorded:
            state.entries[uid].fingerprint = recorded[uid]
        else:
            due.add(uid)  # its load did not happen (failed, or never launched): ask again

    for uid in state.check_order(uids):
        if uid in busy:
            tick.skipped += 1
            continue  # its change is picked up on a later tick, after the run ends
        if not tick.has_time():
            tick.out_of_budget = True
            break
        try:
            if tick.check(state, uid):
                due.add(uid)
        except BudgetDeadline:
            tick.out_of_budget = True
            break
        tick.hot += state.is_hot(uid)

    for first, last in load_ranges(due, order, max_per_run, busy):
        span = order[order.index(first) : order.index(last) + 1]
        key = _digest([[u, state.entries[u].fingerprint] for u in span if u in due])
        requests.append(
            RunRequest(
                run_key=f"load:{first}:{last}:{key}",
                job_name=names.partition_job,
                partition_key=first if first == last else None,
                tags={} if first == last else range_tags(first, last),
            )
        )
    _log(context, tick, state, uids, due, new, len(requests))
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[wiring.partitions_def.build_add_request(new)] if new else [],
        cursor=state.encode(),
    )


def _log(context, tick: Tick, state, uids, due, new, runs) -> None:  # noqa: ANN001
    spent = tick.client.clock.monotonic() - tick.started
    stop = "; stopped at the tick budget" if tick.out_of_budget else ""
    context.log.info(
        f"tick {state.tick}: checked {tick.checked} of {len(uids)} workflow(s) ({tick.hot} "
        f"active or recently changed), skipped {tick.skipped} with a run in flight; due "
        f"{len(due)} ({len(new)} new) in {runs} run request(s); longest-unchecked workflow "
        f"last checked {state.longest_unchecked()} tick(s) ago; {spent:.1f} s{stop}"
    )


def build_sensor(
    wiring: Wiring,
    jobs: list[Any],
    interval_seconds: int,
    default_status: DefaultSensorStatus = DefaultSensorStatus.RUNNING,
) -> SensorDefinition:
    """The instance's `workflow_refresh_sensor`; its tick budget and batch size are settings
    of the resource, read at each tick."""

    # Dagster passes the required resources as keyword arguments too; they are read from the
    # context by key (the key carries the instance's prefix).
    def refresh(context: SensorEvaluationContext, **_resources: Any) -> SensorResult:
        return evaluate(context, wiring, interval_seconds)

    return sensor(
        name=wiring.names.sensor,
        minimum_interval_seconds=interval_seconds,
        default_status=default_status,
        jobs=jobs,
        required_resource_keys={wiring.names.api_resource},
        description=(
            "Polls the API within a tick budget; adds partitions for new workflows and requests "
            "loads of new workflows and of workflows whose jobs changed, batched into runs of "
            "contiguous partitions. Active workflows are checked every tick, the rest in "
            "rotation. At most one run in flight per partition; run keys make a repeated tick "
            "a no-op."
        ),
    )(refresh)
