"""Writing events to the Dagster instance: one writer thread, in arrival order.

Each request waits until its event is in the instance's storage (or found there already), so
a 2xx always means recorded. One thread keeps SQLite's single writer from lock contention
between request threads, and answers in arrival order, so waits stay even under a burst.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass, field

from dagster import AssetObservation, AssetRecordsFilter, DagsterInstance

from analytics_assets.webhooks.events import WebhookEvent, event_of
from analytics_assets.webhooks.sqlite_keepalive import SqliteKeepAlive
from analytics_assets.webhooks.targets import Target

RECORDED, DUPLICATE = "recorded", "duplicate"
# Events written per turn of the writer: their duplicate checks share a query per workflow.
MAX_BATCH = 64
# A redelivery is looked for among about this many latest observations per workflow (the
# sensor deduplicates too, so an older one costs at most a second load).
DEDUPE_DEPTH = 100
MAX_RECORDS = 10_000  # what one query of the event log may return
# Keys of events this process recorded, remembered so a burst's retries need no query.
RECENT_KEYS = 50_000
# Partitions known to exist are not asked again for this long.
REGISTERED_TTL = 300.0

log = logging.getLogger("analytics_webhooks")


@dataclass
class _Item:
    target: Target
    event: WebhookEvent
    done: Future = field(default_factory=Future)


def _key(item: _Item) -> tuple[str, str, str]:
    """The event's identity within the instance: (partitions name, job uid, kind)."""
    return (item.target.names.partitions, *item.event.key)


class EventStore:
    """Records events as runless observations of each instance's `jobs` asset."""

    def __init__(self, instance: DagsterInstance) -> None:
        self.instance = instance
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._registered: dict[tuple[str, str], float] = {}
        # A cache of what this process wrote (storage stays the truth: a restart asks it).
        self._recent: dict[tuple[str, str, str], None] = {}
        self._keepalive = SqliteKeepAlive(instance)
        self._thread = threading.Thread(target=self._run, name="webhook-writer", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, target: Target, event: WebhookEvent) -> Future:
        """Queue the event; the future holds RECORDED or DUPLICATE once it is in storage."""
        item = _Item(target, event)
        self._queue.put(item)
        return item.done

    async def record(self, target: Target, event: WebhookEvent) -> str:
        """RECORDED or DUPLICATE once the event is in storage; raises if it could not be."""
        return await asyncio.wrap_future(self.submit(target, event))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                item = self._queue.get()
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
            self._write(batch)
            self._keepalive.refresh()
        self._keepalive.close()

    def _write(self, batch: list[_Item]) -> None:
        try:
            seen = self._recorded_keys(batch)
            self._register(batch)
        except Exception as exc:  # storage unreachable: every waiting request gets a 503
            log.error("could not read the instance: %s", type(exc).__name__)
            for item in batch:
                item.done.set_exception(exc)
            return
        for item in batch:
            try:
                item.done.set_result(self._write_one(item, seen))
            except Exception as exc:
                log.error("could not record an event: %s", type(exc).__name__)
                item.done.set_exception(exc)

    def _write_one(self, item: _Item, seen: set[tuple[str, str, str]]) -> str:
        target, event = item.target, item.event
        key = _key(item)
        if key in seen:
            return DUPLICATE
        self.instance.report_runless_asset_event(
            AssetObservation(
                asset_key=target.jobs_key,
                partition=event.workflow_uid,
                metadata=event.metadata(),
                description=f"webhook: job {event.job_uid} {event.kind}",
            )
        )
        seen.add(key)
        self._recent[key] = None
        while len(self._recent) > RECENT_KEYS:
            self._recent.pop(next(iter(self._recent)))
        return RECORDED

    def _recorded_keys(self, batch: list[_Item]) -> set[tuple[str, str, str]]:
        """(partitions, job uid, kind) of the batch's events already in storage: those this
        process wrote lately, else one query per instance over the batch's workflows."""
        seen: set[tuple[str, str, str]] = set()
        unknown: dict[Target, set[str]] = defaultdict(set)
        for item in batch:
            key = _key(item)
            if key in self._recent:
                seen.add(key)
            else:
                unknown[item.target].add(item.event.workflow_uid)
        for target, uids in unknown.items():
            records = self.instance.fetch_observations(
                AssetRecordsFilter(asset_key=target.jobs_key, asset_partitions=sorted(uids)),
                limit=min(MAX_RECORDS, DEDUPE_DEPTH * len(uids)),
            ).records
            for record in records:
                observation = record.asset_observation
                recorded = observation and event_of(observation.metadata, observation.partition)
                if recorded:
                    seen.add((target.names.partitions, *recorded.key))
        return seen

    def _register(self, batch: list[_Item]) -> None:
        """Add the partitions of new workflows, so each observation has somewhere to show."""
        wanted: dict[str, set[str]] = defaultdict(set)
        for item in batch:
            wanted[item.target.names.partitions].add(item.event.workflow_uid)
        now = time.monotonic()
        for name, uids in wanted.items():
            ages = {u: now - self._registered.get((name, u), -REGISTERED_TTL) for u in uids}
            stale = {u for u, age in ages.items() if age >= REGISTERED_TTL}
            if not stale:
                continue
            known = set(self.instance.get_dynamic_partitions(name))
            missing = sorted(stale - known)
            if missing:
                self.instance.add_dynamic_partitions(name, missing)
            self._registered.update({(name, u): now for u in stale})
