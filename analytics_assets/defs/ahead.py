"""Result pages fetched ahead: a run's `job_results` requests start as soon as its jobs are
listed, not after the jobs load, the blocking check and the results step's start.

On a remote API those steps leave the plan idle for about a second per run (a tenth of a
partition of 80 result pages at 10 requests/s). The jobs step knows, once a workflow's jobs are
listed, which successful jobs have results still to fetch; when the same run loads
`job_results` in the same process (our jobs use the in-process executor), it starts fetching
their pages into a bounded buffer (`AHEAD_BUFFERED_PAGES`) while the rest of the run goes on.

Nothing fetched ahead skips the check: the results step takes only the pages of the jobs the
checked warehouse names (and fetches any it lacks), a failing check cancels the fetch, and a
fetch nobody claims stops itself after `UNCLAIMED_SECONDS`. Nor does a run fetch ahead when the
check would fail on what the warehouse holds before the load (a row of `successful_jobs`
outside the filter, a successful job missing from it). A load merges only rows that pass the
filter, into both tables, so it never adds such a row: with none before the load, the check
passes after it (unless another process writes the partition in between, when the check's
cancel applies); with one, the load may clear it or not, and the run does not bet requests on
it. What a fetch cancelled by the check costs is at most the buffer and the requests in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dagster import AssetExecutionContext

from analytics_assets import constants as c
from analytics_assets.api.client import AnalyticsApiClient
from analytics_assets.api.job_rows import is_successful
from analytics_assets.api.reads import ResultFetch
from analytics_assets.defs.names import Names
from analytics_assets.warehouse.queries import loaded_result_jobs, missing_jobs, violating_jobs
from analytics_assets.warehouse.reader import WarehouseReader

# Pages waiting for the results step: at 10 requests/s, three seconds of the plan; a few MB.
AHEAD_BUFFERED_PAGES = 32
# A fetch ahead that no results step claimed by then (its run failed, or was cut short) stops.
UNCLAIMED_SECONDS = 600.0
# Dagster's executors that run every step of a run in its one process (ours; and that of
# `execute_in_process`, which tests and scripts use).
IN_PROCESS_EXECUTORS = frozenset({"in_process", "execute_in_process_executor"})


@dataclass(frozen=True)
class AheadPlan:
    """What the jobs step reads before it lists: the jobs whose results are loaded, and the
    rows the check would fail on now (then nothing is fetched ahead)."""

    loaded: set[str]
    doubts: list[tuple[str, str]]  # (workflow uid, job uid)

    @classmethod
    def read(cls, warehouse: WarehouseReader, uids: list[str]) -> AheadPlan:
        doubts = violating_jobs(warehouse, uids) + missing_jobs(warehouse, uids)
        return cls(set() if doubts else loaded_result_jobs(warehouse, uids), doubts)


@dataclass
class Ahead:
    """One run's fetch ahead: its own client (the results step adopts it, with its request
    counts) and the pages, for the jobs listed successful whose results were not loaded."""

    client: AnalyticsApiClient
    fetch: ResultFetch
    loaded: frozenset[str]
    offered: int = 0

    def listed(self, workflow_uid: str, jobs: list[dict[str, Any]]) -> None:
        """A workflow's whole job listing: fetch its successful jobs' results not loaded."""
        del workflow_uid
        due = [job for job in jobs if is_successful(job) and str(job["uid"]) not in self.loaded]
        self.offered += len(due)
        self.fetch.add(due)

    def cancel(self) -> None:
        self.fetch.cancel()
        self.client.close()


class FetchesAhead:
    """The fetches ahead of one instance's runs in this process, by run id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, Ahead] = {}

    def start(self, run_id: str, client: AnalyticsApiClient, loaded: Iterable[str]) -> Ahead:
        fetch = ResultFetch(
            client, buffered=AHEAD_BUFFERED_PAGES, unclaimed_seconds=UNCLAIMED_SECONDS
        )
        ahead = Ahead(client, fetch, frozenset(loaded))
        with self._lock:
            previous = self._runs.pop(run_id, None)
            self._runs[run_id] = ahead
        if previous is not None:
            previous.cancel()
        return ahead

    def take(self, run_id: str) -> Ahead | None:
        """The run's fetch ahead, now the caller's to read or cancel; None if there is none."""
        with self._lock:
            return self._runs.pop(run_id, None)

    def cancel(self, run_id: str) -> bool:
        """Cancel the run's fetch ahead (its check failed); whether there was one."""
        ahead = self.take(run_id)
        if ahead is not None:
            ahead.cancel()
        return ahead is not None

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)


def results_follow_in_process(context: AssetExecutionContext, names: Names) -> bool:
    """Whether this run loads `job_results` after this step, in this process: then results
    fetched ahead reach it (another executor would start the step in a new process)."""
    job = context.job_def
    if job.executor_def.name not in IN_PROCESS_EXECUTORS:
        return False
    # A run of a whole job has no selection (None, or empty from `execute_in_process`).
    keys = context.run.asset_selection or job.asset_layer.selected_asset_keys
    return names.key(c.JOB_RESULTS) in keys
