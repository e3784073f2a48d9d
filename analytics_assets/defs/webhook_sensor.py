"""`workflow_webhook_sensor`: turns the webhook events the receiver recorded into loads, at no
API cost, and tells the polling sensor what the events already cover.

The receiver (`analytics_assets.webhooks`) stores each delivery as an observation of the
instance's `jobs` asset on the workflow's partition. Each tick reads the observations after
its cursor (an event log storage id), drops redeliveries of an event (same job uid and kind),
and requests loads of the workflows whose jobs ended (succeeded or failed), batched into
contiguous ranges as the refresh sensor does; a started job has no rows yet, it makes its
workflow active for the polling sensor. A workflow with a run in flight waits in the cursor
until that run ends: the run may have listed its jobs before the job finished.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetRecordsFilter,
    DagsterInstance,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from analytics_assets import constants as c
from analytics_assets.defs.names import Names
from analytics_assets.defs.partitions import partitions_in_flight, range_tags
from analytics_assets.defs.sensor_state import UNKNOWN, SensorState, load_ranges
from analytics_assets.defs.wiring import Wiring
from analytics_assets.webhooks.events import FAILED, STARTED, WebhookEvent, event_of

CURSOR_PREFIX = "w1:"
# Events read per tick; a larger backlog is read on the next ticks (they come 10 s apart).
MAX_EVENTS_PER_TICK = 10_000
# Redeliveries are recognised among this many latest distinct events.
SEEN_KEYS = 20_000
# The polling sensor leaves a workflow to this sensor while its event is this recent and not
# yet loaded; past it, polling takes over again (e.g. this sensor was stopped).
HANDOVER_SECONDS = 120.0


@dataclass
class WebhookCursor:
    after: int = 0  # storage id of the last observation read
    pending: dict[str, int] = field(default_factory=dict)  # uid -> its latest event's id
    seen: dict[str, None] = field(default_factory=dict)  # digests of (job uid, kind), in order

    def encode(self) -> str:
        body = {"after": self.after, "pending": self.pending, "seen": list(self.seen)}
        raw = json.dumps(body, separators=(",", ":")).encode()
        return CURSOR_PREFIX + base64.b64encode(zlib.compress(raw, 9)).decode()

    @classmethod
    def decode(cls, cursor: str | None) -> WebhookCursor:
        if not cursor:
            return cls()
        body = json.loads(zlib.decompress(base64.b64decode(cursor[len(CURSOR_PREFIX) :])))
        return cls(body["after"], body["pending"], dict.fromkeys(body["seen"]))

    def first_delivery(self, event: WebhookEvent) -> bool:
        """True the first time (job uid, kind) is seen, False for a redelivery."""
        digest = hashlib.sha256("\0".join(event.key).encode()).hexdigest()[:12]
        if digest in self.seen:
            return False
        self.seen[digest] = None
        while len(self.seen) > SEEN_KEYS:
            self.seen.pop(next(iter(self.seen)))
        return True


def recorded_events(
    instance: DagsterInstance, records_filter: AssetRecordsFilter
) -> list[tuple[int, float, WebhookEvent]]:
    """(storage id, timestamp, event) of the webhook observations matching, oldest first."""
    records = instance.fetch_observations(
        records_filter, limit=MAX_EVENTS_PER_TICK, ascending=True
    ).records
    found = []
    for record in records:
        observation = record.asset_observation
        event = observation and event_of(observation.metadata, observation.partition)
        if event:
            found.append((record.storage_id, record.timestamp, event))
    return found


def _read_new_events(
    context: SensorEvaluationContext, names: Names, state: WebhookCursor
) -> tuple[int, int]:
    """Move the new events' workflows into `state.pending`; (events read, redeliveries)."""
    jobs_filter = AssetRecordsFilter(asset_key=names.key(c.JOBS), after_storage_id=state.after)
    events = recorded_events(context.instance, jobs_filter)
    duplicates = 0
    for storage_id, _, event in events:
        state.after = max(state.after, storage_id)
        if not state.first_delivery(event):
            duplicates += 1
            continue
        if event.kind == FAILED:
            context.log.warning(
                f"job {event.job_uid} of workflow {event.workflow_uid} failed: "
                f"{event.error or event.message or 'no error given'}"
            )
        if event.kind != STARTED:  # a started job has no rows yet: polling watches it
            state.pending[event.workflow_uid] = storage_id
    return len(events), duplicates


def _requests(
    names: Names, ranges: list[tuple[str, str]], order: list[str], ready: dict[str, int]
) -> list[RunRequest]:
    """One run per range; its key names the events it loads, so a repeated tick is a no-op
    and a later event for the same workflows gets a new run."""
    requests = []
    for first, last in ranges:
        span = order[order.index(first) : order.index(last) + 1]
        ids = [[u, ready[u]] for u in span if u in ready]
        key = hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:16]
        requests.append(
            RunRequest(
                run_key=f"webhook:{first}:{last}:{key}",
                job_name=names.partition_job,
                partition_key=first if first == last else None,
                tags={} if first == last else range_tags(first, last),
            )
        )
    return requests


def evaluate(context: SensorEvaluationContext, wiring: Wiring) -> SensorResult:
    """One tick: read the new events, request loads of the workflows not busy, keep the rest."""
    names = wiring.names
    settings = getattr(context.resources, names.api_resource).settings()
    state = WebhookCursor.decode(context.cursor)
    read, duplicates = _read_new_events(context, names, state)
    registered = list(context.instance.get_dynamic_partitions(names.partitions))
    known = set(registered)
    state.pending = {u: i for u, i in state.pending.items() if u in known}
    busy = partitions_in_flight(context.instance, registered)
    ready = {u: i for u, i in state.pending.items() if u not in busy}
    cap = settings.sensor_max_partitions_per_run
    ranges = load_ranges(set(ready), registered, cap, busy)
    requests = _requests(names, ranges, registered, ready)
    state.pending = {u: i for u, i in state.pending.items() if u in busy}
    context.log.info(
        f"read {read} webhook event(s) ({duplicates} redelivered); {len(ready)} workflow(s) "
        f"in {len(requests)} run request(s); {len(state.pending)} wait for a run in flight"
    )
    return SensorResult(run_requests=requests, cursor=state.encode())


def build_webhook_sensor(
    wiring: Wiring,
    jobs: list[Any],
    interval_seconds: int,
    default_status: DefaultSensorStatus = DefaultSensorStatus.RUNNING,
) -> SensorDefinition:
    """The instance's `workflow_webhook_sensor`."""

    def pushed(context: SensorEvaluationContext, **_resources: Any) -> SensorResult:
        return evaluate(context, wiring)

    return sensor(
        name=wiring.names.webhook_sensor,
        minimum_interval_seconds=interval_seconds,
        default_status=default_status,
        jobs=jobs,
        required_resource_keys={wiring.names.api_resource},
        description=(
            "Turns the job webhooks recorded by analytics-webhooks into loads of their "
            "workflows, batched into runs of contiguous partitions, without any API request. "
            "A redelivered event loads nothing; a workflow with a run in flight is loaded "
            "after that run ends."
        ),
    )(pushed)


def note_webhook_events(
    context: SensorEvaluationContext, names: Names, state: SensorState, interval: float
) -> set[str]:
    """The polling sensor's hook: a workflow whose job started since its last tick is marked
    active; one whose job ended takes its fingerprint from the load of that event, and while
    that load has not happened it is returned, left to this sensor (treated as in flight)."""
    now = time.time()
    since = context.last_tick_completion_time or now - interval
    jobs_key = names.key(c.JOBS)
    recent = AssetRecordsFilter(asset_key=jobs_key, after_timestamp=since - interval)
    latest: dict[str, tuple[int, float]] = {}
    for storage_id, timestamp, event in recorded_events(context.instance, recent):
        entry = state.entries.get(event.workflow_uid)
        if entry is None:
            continue
        if event.kind == STARTED:  # checked every tick until its jobs are no longer active
            entry.active = True
            continue
        entry.fingerprint = UNKNOWN  # its load records the fingerprint the sensor then takes
        latest[event.workflow_uid] = (storage_id, timestamp)
    if not latest:
        return set()
    loaded = context.instance.fetch_materializations(
        AssetRecordsFilter(
            asset_key=jobs_key,
            asset_partitions=sorted(latest),
            after_storage_id=min(i for i, _ in latest.values()),
        ),
        limit=MAX_EVENTS_PER_TICK,
    ).records
    last_load: dict[str, int] = {}
    for record in loaded:
        uid = str(record.partition_key)
        last_load[uid] = max(last_load.get(uid, 0), record.storage_id)
    return {
        uid
        for uid, (event_id, timestamp) in latest.items()
        if last_load.get(uid, 0) < event_id and now - timestamp < HANDOVER_SECONDS
    }
