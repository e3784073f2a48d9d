"""Progress of long loads in the Dagster run log: at most one line every few seconds.

A backfill of hundreds of workflows, or one workflow with a million result rows, otherwise
shows nothing between "started" and "finished" for minutes.
"""

from __future__ import annotations

import time
from typing import Any

PROGRESS_INTERVAL_SECONDS = 10.0


class Progress:
    """Counts workflows listed and result pages loaded; logs now and then, and at the end."""

    def __init__(
        self,
        log: Any,
        workflows_total: int = 0,
        jobs_total: int = 0,
        interval: float = PROGRESS_INTERVAL_SECONDS,
    ) -> None:
        self._log = log
        self.workflows_total = workflows_total
        self.jobs_total = jobs_total
        self._interval = interval
        self._started = self._last = time.monotonic()
        self.workflows = 0
        self.jobs_listed = 0
        self.jobs_fetched: set[str] = set()
        self.rows = 0
        self.pages = 0

    def workflow_listed(self, jobs: int) -> None:
        self.workflows += 1
        self.jobs_listed += jobs
        self._maybe_log()

    def page_loaded(self, job_uid: str, rows: int) -> None:
        self.jobs_fetched.add(job_uid)
        self.rows += rows
        self.pages += 1
        self._maybe_log()

    def line(self) -> str:
        parts = []
        if self.workflows:
            total = f"/{self.workflows_total}" if self.workflows_total else ""
            parts.append(f"workflows listed {self.workflows}{total} ({self.jobs_listed} jobs)")
        if self.jobs_fetched or self.jobs_total:
            total = f"/{self.jobs_total}" if self.jobs_total else ""
            parts.append(f"jobs fetched {len(self.jobs_fetched)}{total}, {self.rows} result rows")
        elapsed = time.monotonic() - self._started
        return "progress: " + ("; ".join(parts) or "nothing yet") + f" after {elapsed:.1f} s"

    def finish(self) -> None:
        self._log.info(self.line())

    def _maybe_log(self) -> None:
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._log.info(self.line())
