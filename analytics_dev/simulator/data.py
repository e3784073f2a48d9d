"""The seeded dataset the simulator serves: workspace, workflows, jobs and job results."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Literal

from analytics_dev.simulator import rows as rowgen
from analytics_dev.simulator.factories import (
    ANCHOR,
    STATUS_WEIGHTS,
    STATUSES,
    is_successful,
    make_job,
    make_workflow,
    make_workspace,
    new_uuid,
    random_total,
    result_count,
)


class _Results(Mapping):
    """Read-only ``job_uid -> list of row dicts`` view; rows are generated on first access."""

    def __init__(self, data: SimulatedData) -> None:
        self._data = data

    def __getitem__(self, job_uid: str) -> list[dict]:
        return self._data.results_for(job_uid)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data._sizes))

    def __len__(self) -> int:
        return len(self._data._sizes)


class SimulatedData:
    """A deterministic fake Captain Data workspace; equal arguments give equal instances.

    Mutations (``add_*``, ``update_job``, ``remove_workflow``) bump ``version`` and tell
    subscribers (the server's page cache) which API paths changed.
    """

    def __init__(
        self,
        seed: int = 7,
        workflows: int = 6,
        jobs_per_workflow: tuple[int, int] = (0, 8),
        rows_per_job: tuple[int, int] = (0, 250),
        duplicate_rate: float = 0.05,
    ) -> None:
        self.seed, self.rows_per_job, self.duplicate_rate = seed, rows_per_job, duplicate_rate
        self.version = 0
        self.lock = threading.RLock()  # the server reads from its threads while tests mutate
        self._rng = random.Random(seed)
        self._listeners: list[Callable[[list[str]], None]] = []
        self._sizes: dict[str, int] = {}  # job_uid -> result row count, successful jobs only
        self._rows: dict[str, list[str]] = {}  # job_uid -> compact JSON rows, filled lazily
        self._variant: dict[str, int] = {}  # workflow_uid -> which key set its rows use
        self._job_index: dict[str, dict] = {}
        self._force_duplicate: str | None = None
        self._result_fields: dict[str, dict] = {}  # job_uid -> fields its rows gain or change
        self._accounts = [new_uuid(self._rng) for _ in range(3)]
        self.workspace = make_workspace(self._rng)
        self.workflows: list[dict] = []
        self.jobs: dict[str, list[dict]] = {}
        self.results: Mapping[str, list[dict]] = _Results(self)
        for i in range(workflows):
            wf = self._new_workflow(i)
            # The last workflow never ran: partitions and sensors must cope with zero jobs.
            n_jobs = (
                0
                if workflows >= 2 and i == workflows - 1
                else self._rng.randint(*jobs_per_workflow)
            )
            for _ in range(n_jobs):
                self._new_job(wf, self._rng.choices(STATUSES, STATUS_WEIGHTS)[0])
        if workflows >= 2:
            self._ensure_guarantees()

    # ----------------------------------------------------------------- building
    def _new_workflow(self, i: int, **fields) -> dict:
        wf = {**make_workflow(self._rng, i), **fields}
        self.workflows.append(wf)
        self.jobs[wf["uid"]] = []
        self._variant[wf["uid"]] = i % len(rowgen.VARIANTS)
        return wf

    def _new_job(
        self,
        wf: dict,
        status: str,
        total: int | None | Literal["random"] = "random",
        scheduled=None,
        **fields,
    ) -> dict:
        if total == "random":
            total = random_total(self._rng, status, self.rows_per_job)
        siblings = self.jobs[wf["uid"]]
        job = make_job(self._rng, wf, status, total, siblings, self._accounts, scheduled)
        job.update(fields)
        siblings.append(job)
        self._job_index[job["uid"]] = job
        self._sync_results(job)
        return job

    def _ensure_guarantees(self) -> None:
        """Append the job shapes tests rely on to the first workflow when chance missed them."""
        wf, jobs = self.workflows[0], self.all_jobs()
        lo, hi = self.rows_per_job
        # More than one page at page size 100, when rows_per_job allows it.
        want = (lambda j: j["total_row_count"] > 100) if hi > 100 else (lambda j: True)
        if not any(is_successful(j) and want(j) for j in jobs):
            self._new_job(
                wf, "finished", self._rng.randint(max(lo, 101), hi) if hi > 100 else max(hi, 1)
            )
        if not any(j["status"] == "finished" and j["total_row_count"] == 0 for j in jobs):
            self._new_job(wf, "finished", 0)
        if not any(j["total_row_count"] is None for j in jobs):
            self._new_job(wf, "pending", None)
        if not any(j["status"] != "finished" and (j["total_row_count"] or 0) > 0 for j in jobs):
            self._new_job(wf, "warning", self._rng.randint(max(lo, 1), max(hi, 1)))
        multi = [uid for uid, n in self._sizes.items() if n >= 2]
        self._force_duplicate = multi[0] if multi else None

    def _sync_results(self, job: dict) -> None:
        """Keep ``results`` holding exactly the successful jobs, sized by total_row_count."""
        uid = job["uid"]
        if is_successful(job):
            if self._sizes.get(uid) != result_count(job):
                self._sizes[uid] = result_count(job)
                self._rows.pop(uid, None)
        else:
            self._sizes.pop(uid, None)
            self._rows.pop(uid, None)

    def _compact_rows(self, job_uid: str) -> list[str]:
        with self.lock:
            rows = self._rows.get(job_uid)
            if rows is None:
                job = self._job_index[job_uid]
                _, rows = rowgen.generate_rows(
                    self.seed,
                    job_uid,
                    self._sizes[job_uid],
                    self._variant.get(job["workflow_uid"], 0),
                    self.duplicate_rate,
                    force_duplicate=job_uid == self._force_duplicate,
                )
                if job_uid in self._result_fields:
                    rows = rowgen.reshaped(rows, self._result_fields[job_uid])
                self._rows[job_uid] = rows
            return rows

    # ----------------------------------------------------------------- reading
    def results_for(self, job_uid: str) -> list[dict]:
        """All result rows of a successful job as fresh dicts (KeyError for any other uid)."""
        if job_uid not in self._sizes:
            raise KeyError(job_uid)
        return rowgen.as_dicts(self._compact_rows(job_uid))

    def result_rows_json(self, job_uid: str, start: int, stop: int) -> list[str]:
        """Rows ``start:stop`` of a job as compact JSON texts; empty for jobs without results."""
        if job_uid not in self._sizes:
            return []
        return self._compact_rows(job_uid)[start:stop]

    def result_count(self, job_uid: str) -> int:
        return self._sizes.get(job_uid, 0)

    def job(self, job_uid: str) -> dict | None:
        return self._job_index.get(job_uid)

    def workflow(self, workflow_uid: str) -> dict | None:
        return next((w for w in self.workflows if w["uid"] == workflow_uid), None)

    def all_jobs(self) -> list[dict]:
        return [job for jobs in self.jobs.values() for job in jobs]

    def successful_jobs(self, workflow_uid: str) -> list[dict]:
        return [job for job in self.jobs.get(workflow_uid, []) if is_successful(job)]

    def total_result_rows(self) -> int:
        return sum(self._sizes.values())

    def snapshot(self) -> dict:
        """Everything that defines the dataset, for equality checks (generates all rows)."""
        return {
            "workspace": self.workspace,
            "workflows": self.workflows,
            "jobs": self.jobs,
            "results": {uid: self._compact_rows(uid) for uid in self._sizes},
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SimulatedData):
            return NotImplemented
        return self.snapshot() == other.snapshot()

    # No __hash__: defining __eq__ alone already makes instances unhashable (mutable).

    # ----------------------------------------------------------------- mutations
    def subscribe(self, listener: Callable[[list[str]], None]) -> None:
        """Call ``listener(changed_paths)`` after every mutation (decoded /v3 paths)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[list[str]], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def touch(self, *paths: str) -> None:
        """Announce a change made by hand (no paths: everything may have changed)."""
        self.version += 1
        for listener in list(self._listeners):
            listener(list(paths) or ["/v3"])

    def add_workflow(self, **fields) -> dict:
        """Append a workflow with no jobs; ``fields`` override generated ones (e.g. ``uid``)."""
        with self.lock:
            wf = self._new_workflow(len(self.workflows), **fields)
            self.touch("/v3/workflows")
            return wf

    def remove_workflow(self, uid: str) -> None:
        """Delete a workflow with its jobs and results, like a workflow deleted upstream."""
        with self.lock:
            wf = self.workflow(uid)
            if wf is None:
                raise KeyError(uid)
            self.workflows.remove(wf)
            jobs = self.jobs.pop(uid, [])
            for job in jobs:
                self._job_index.pop(job["uid"], None)
                self._sizes.pop(job["uid"], None)
                self._rows.pop(job["uid"], None)
            self.touch(
                "/v3/workflows",
                f"/v3/workflows/{uid}/jobs",
                *(f"/v3/jobs/{j['uid']}/results" for j in jobs),
            )

    def set_workspace(self, **fields) -> dict:
        """Change the workspace row (quota, billing period), e.g. to factories.quota_workspace."""
        with self.lock:
            self.workspace.update(fields)
            self.touch("/v3/workspace")
            return self.workspace

    def add_job(
        self,
        workflow_uid: str,
        status: str = "finished",
        total_row_count: int | None = 5,
        result_fields: dict | None = None,
        **fields,
    ) -> dict:
        """Append a job scheduled after every generated one; successful jobs get results,
        every row updated with `result_fields` (a workflow whose steps were edited)."""
        with self.lock:
            wf = self.workflow(workflow_uid)
            if wf is None:
                raise KeyError(workflow_uid)
            scheduled = ANCHOR + dt.timedelta(minutes=self.version + 1)
            job = self._new_job(wf, status, total_row_count, scheduled, **fields)
            if result_fields:
                self._result_fields[job["uid"]] = dict(result_fields)
                self._rows.pop(job["uid"], None)
            self.touch(f"/v3/workflows/{workflow_uid}/jobs", f"/v3/jobs/{job['uid']}/results")
            return job

    def update_job(self, job_uid: str, **fields) -> dict:
        """Change a job's fields (e.g. a running job finishing); results follow the new total."""
        with self.lock:
            job = self._job_index.get(job_uid)
            if job is None:
                raise KeyError(job_uid)
            try:
                job.update(fields)
                self._sync_results(job)
            finally:  # served pages must follow the job even if its new fields are odd
                self.touch(
                    f"/v3/workflows/{job['workflow_uid']}/jobs", f"/v3/jobs/{job_uid}/results"
                )
            return job
