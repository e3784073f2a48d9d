"""Refresh data as the API changes: new workflows, and workflows whose jobs changed.

Every tick fits a time budget whatever the number of workflows, the latency or the plan: a
new workflow costs no request (its load lists its jobs), a workflow the instance already
loaded starts from what its last load recorded, active and recently changed workflows are
checked every tick, the rest in rotation; what is due goes into few runs of contiguous
partitions. A tick is its steps, in order: `discover`, `workspace_refresh`,
`resolve_pending`, `check_in_rotation`, `load_requests`. See `sensor_state.py` for the
bookkeeping.
"""

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetRecordsFilter,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from analytics_assets import constants as c
from analytics_assets.api.budget import BudgetDeadline
from analytics_assets.api.client import AnalyticsApiClient
from analytics_assets.api.job_rows import jobs_fingerprint
from analytics_assets.api.reads import fetch_jobs, fetch_workflows
from analytics_assets.defs.metadata import FINGERPRINT_METADATA
from analytics_assets.defs.partitions import (
    partitions_in_flight,
    range_tags,
    unregistered,
)
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
# A run's workflow names, beside Dagster's partition tags (which can only show uids).
WORKFLOW_NAME_TAG = "analytics/workflow_name"
TAG_MAX = 255


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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


@dataclass
class Listing:
    """What a tick found: the API's workflows, the instance's partitions and its runs."""

    uids: list[str]  # the API's workflows, in its order
    registered: list[str]  # the partitions the instance has
    new: list[str]  # listed workflows without a partition yet
    busy: set[str]  # partitions a run (of any job) has in flight
    names: dict[str, str] = field(default_factory=dict)  # workflow uid -> its name

    def named(self, uids: set[str], most: int = 5) -> str:
        """A few of these workflows by name, for a log line (partition keys are bare uids)."""
        listed = [uid for uid in self.order if uid in uids]
        shown = ", ".join(repr(self.names.get(uid, uid)) for uid in listed[:most])
        return shown + (f" and {len(listed) - most} more" if len(listed) > most else "")

    @property
    def order(self) -> list[str]:
        """The partition order once the new partitions are added."""
        return self.registered + self.new

    def unloaded(self) -> set[str]:
        """New workflows to load now: their load lists their jobs, no request here."""
        return {uid for uid in self.new if uid not in self.busy}


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

    def summary(self, state: SensorState, listing: Listing, due: set[str], runs: int) -> str:
        """The tick's line in the log, and an idle tick's skip reason."""
        spent = self.client.clock.monotonic() - self.started
        stop = "; stopped at the tick budget" if self.out_of_budget else ""
        return (
            f"tick {state.tick}: checked {self.checked} of {len(listing.uids)} workflow(s) "
            f"({self.hot} active or recently changed), skipped {self.skipped} with a run in "
            f"flight; due {len(due)} ({len(listing.new)} new) in {runs} run request(s); "
            f"longest-unchecked workflow last checked {state.longest_unchecked()} tick(s) ago; "
            f"{spent:.1f} s{stop}"
        )


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
    state = SensorState.decode(context.cursor)
    state.tick += 1
    listing = discover(context, tick, state, wiring.names.partitions)
    if listing.busy:
        tick.share_with_runs(interval)
    listing.busy |= note_webhook_events(context, wiring.names, state, interval)  # pushed
    period = tick.client.settings.sensor_workspace_refresh_seconds
    refresh = workspace_refresh(wiring, state, listing, interval, period)
    due = listing.unloaded()
    due |= resolve_pending(context, wiring, state, listing, exclude=due)
    due |= check_in_rotation(tick, state, listing)
    requests = ([refresh] if refresh else []) + load_requests(
        state, listing, due, max_per_run, wiring.names.partition_job
    )
    summary = tick.summary(state, listing, due, len(requests))
    if due:
        summary += f"; due: {listing.named(due)}"
    context.log.info(summary)
    new = listing.new
    return SensorResult(
        run_requests=requests,
        # An idle tick's reason in the UI is its own summary, not Dagster's generic one.
        skip_reason=None if requests else summary,
        dynamic_partitions_requests=[wiring.partitions_def.build_add_request(new)] if new else [],
        cursor=state.encode(),
    )


def discover(
    context: SensorEvaluationContext, tick: Tick, state: SensorState, partitions_name: str
) -> Listing:
    """List the workflows and the instance's partitions and runs in flight.

    The cursor forgets workflows the API no longer lists and takes in the others with an
    unknown fingerprint: a new one's load records it, and one the instance already has a
    partition for (loaded by other runs, or not) is resolved from its materializations.
    """
    workflows = fetch_workflows(tick.client)
    uids = list(dict.fromkeys(w["uid"] for w in workflows))
    registered = list(context.instance.get_dynamic_partitions(partitions_name))
    busy = partitions_in_flight(context.instance, registered)
    listed = set(uids)
    state.entries = {u: e for u, e in state.entries.items() if u in listed}
    for uid in uids:
        state.entries.setdefault(uid, Entry(UNKNOWN))
    names = {w["uid"]: str(w["name"]) for w in workflows if w.get("name")}
    return Listing(uids, registered, unregistered(registered, uids), busy, names)


def workspace_refresh(
    wiring: Wiring, state: SensorState, listing: Listing, interval: float, period: float
) -> RunRequest | None:
    """The workspace assets, when the workflow list changed or at least every `period`
    seconds and every half freshness window (so quota_forecast stays current and a quiet
    workspace's assets fresh: their plan and quota change anyway), never per tick."""
    list_digest = _digest(sorted(listing.uids))
    ticks = state.tick - state.workspace_tick
    stale = wiring.refresh_ticks(interval) <= ticks or ticks * interval >= period
    changed = list_digest != state.workflows_digest
    state.workflows_digest = list_digest
    if not changed and not stale:
        return None
    state.workspace_tick = state.tick
    key = f"workflows:{list_digest}" + (f":{state.tick}" if stale else "")
    return RunRequest(run_key=key, job_name=wiring.names.workspace_job)


def resolve_pending(
    context: SensorEvaluationContext,
    wiring: Wiring,
    state: SensorState,
    listing: Listing,
    exclude: set[str],
) -> set[str]:
    """Take the fingerprints of workflows whose fingerprint is unknown from their latest
    `jobs` materialization; returns those never loaded (a load failed, was never launched,
    or never happened), which are due."""
    pending = [
        uid
        for uid, entry in state.entries.items()
        if entry.fingerprint == UNKNOWN and uid not in listing.busy and uid not in exclude
    ][:MAX_RESOLVED_PER_TICK]
    recorded = _recorded_fingerprints(context, wiring, pending)
    for uid, fingerprint in recorded.items():
        state.entries[uid].fingerprint = fingerprint
    return {uid for uid in pending if uid not in recorded}


def check_in_rotation(tick: Tick, state: SensorState, listing: Listing) -> set[str]:
    """Check the workflows in the state's order until the tick's budget is spent; returns
    those whose jobs changed. A workflow with a run in flight waits for a later tick."""
    due: set[str] = set()
    for uid in state.check_order(listing.uids):
        if uid in listing.busy:
            tick.skipped += 1
            continue
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
    return due


def load_requests(
    state: SensorState, listing: Listing, due: set[str], max_per_run: int, job_name: str
) -> list[RunRequest]:
    """The due partitions in few runs of contiguous partitions; a run key names the
    partitions and the fingerprints they are loaded for, so a repeated tick is a no-op."""
    order = listing.order
    requests = []
    for first, last in load_ranges(due, order, max_per_run, listing.busy):
        span = order[order.index(first) : order.index(last) + 1]
        key = _digest([[u, state.entries[u].fingerprint] for u in span if u in due])
        tags = {} if first == last else range_tags(first, last)
        requests.append(
            RunRequest(
                run_key=f"load:{first}:{last}:{key}",
                job_name=job_name,
                partition_key=first if first == last else None,
                tags={**tags, **_name_tags(listing, span)},
            )
        )
    return requests


def _name_tags(listing: Listing, span: list[str]) -> dict[str, str]:
    """The workflows' names on the run, where the partition tag shows only uids."""
    first, last = (listing.names.get(span[0]), listing.names.get(span[-1]))
    if len(span) == 1:
        return {WORKFLOW_NAME_TAG: first} if first else {}
    if not first or not last:
        return {}
    return {WORKFLOW_NAME_TAG: f"{first} ... {last} ({len(span)} workflows)"[:TAG_MAX]}


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
