"""Webhooks as the real API sends them: a POST per job start, success and failure, with the
body of the vendor's docs and one custom header the user typed in; no retry, no signature.

    delivery = WebhookDelivery("http://127.0.0.1:3030/webhooks", "Authorization: Bearer t")
    activity = JobActivity(data, delivery)
    job = activity.start(workflow_uid)        # a running job; delivers "started"
    activity.finish(job["uid"], rows=5)       # finished with 5 rows; delivers "succeeded"
"""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from analytics_dev.simulator.data import SimulatedData

STARTED_MESSAGE = "Job started."
SUCCEEDED_MESSAGE = "Job successfully finished."
FAILED_MESSAGE = "Job failed."
FAILED_ERROR = "Error while completing action: the LinkedIn session expired"
MESSAGES = {"started": STARTED_MESSAGE, "succeeded": SUCCEEDED_MESSAGE, "failed": FAILED_MESSAGE}


def webhook_body(job: dict, kind: str, project_uid: str = "sim-project") -> dict:
    """The API's body for `kind` (started / succeeded / failed) of `job`."""
    return {
        "uid": f"hook-{job['workflow_uid'][:8]}",  # the webhook's, the same for every event
        "job_uid": job["uid"],
        "workflow_uid": job["workflow_uid"],
        "workflow_name": job.get("workflow_name"),
        "job_name": job.get("name"),
        "project_uid": project_uid,
        "recipe_ref": "linkedin-extract-search",
        "message": MESSAGES[kind],
        "error": FAILED_ERROR if kind == "failed" else None,
    }


def parse_header(text: str) -> tuple[str, str]:
    """`Name: value`, as the vendor's modal takes it."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ValueError("a webhook header is written 'Name: value'")
    return name.strip(), value.strip()


@dataclass
class WebhookDelivery:
    """Sends each event once (like the API: no retry); `drop_share` of them never leave."""

    url: str
    header: str | None = None
    drop_share: float = 0.0
    seed: int = 7
    timeout: float = 10.0
    sent: list[tuple[str, str, int]] = field(default_factory=list)  # (job uid, kind, status)
    dropped: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._headers = {"Content-Type": "application/json"}
        if self.header:
            name, value = parse_header(self.header)
            self._headers[name] = value

    def deliver(self, job: dict, kind: str) -> int | None:
        """POST the event; its HTTP status (0: no answer), or None when dropped."""
        with self._lock:
            drop = self._rng.random() < self.drop_share
        if drop:
            with self._lock:
                self.dropped.append((job["uid"], kind))
            return None
        body = json.dumps(webhook_body(job, kind)).encode()
        request = urllib.request.Request(self.url, body, self._headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = 0  # refused or timed out: the API does not retry either
        with self._lock:
            self.sent.append((job["uid"], kind, status))
        return status


class JobActivity:
    """Jobs that start and end as in the app, each change announced by a webhook."""

    def __init__(self, data: SimulatedData, delivery: WebhookDelivery | None = None) -> None:
        self.data, self.delivery = data, delivery

    def _deliver(self, job: dict, kind: str) -> None:
        if self.delivery is not None:
            self.delivery.deliver(job, kind)

    def start(self, workflow_uid: str) -> dict:
        """A new running job in the workflow; delivers `started`."""
        now = dt.datetime.now(dt.UTC).isoformat()
        job = self.data.add_job(
            workflow_uid,
            status="running",
            total_row_count=None,
            start_time=now,
        )
        self._deliver(job, "started")
        return job

    def finish(self, job_uid: str, rows: int = 5, failed: bool = False) -> dict:
        """The job ends: finished with `rows` rows, or failed; delivers the matching event."""
        now = dt.datetime.now(dt.UTC).isoformat()
        if failed:
            job = self.data.update_job(
                job_uid, status="shutdown", finish_time=now, error_message=FAILED_ERROR
            )
        else:
            job = self.data.update_job(
                job_uid, status="finished", finish_time=now, total_row_count=rows, row_count=rows
            )
        self._deliver(job, "failed" if failed else "succeeded")
        return job


class ActivityLoop:
    """Starts a job in a random workflow every `every` seconds; each ends `job_seconds` later
    (uniform between the two), failed with probability `fail_share`. A thread, until stop()."""

    def __init__(
        self,
        activity: JobActivity,
        every: float,
        job_seconds: tuple[float, float] = (5.0, 30.0),
        fail_share: float = 0.1,
        seed: int = 7,
    ) -> None:
        self.activity, self.every, self.job_seconds = activity, every, job_seconds
        self.fail_share = fail_share
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-activity", daemon=True)
        self._timers: list[threading.Timer] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        for timer in self._timers:
            timer.cancel()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            workflows = self.activity.data.workflows
            job = self.activity.start(self._rng.choice(workflows)["uid"])
            failed = self._rng.random() < self.fail_share
            rows = self._rng.randint(1, 50)
            timer = threading.Timer(
                self._rng.uniform(*self.job_seconds),
                self.activity.finish,
                args=(job["uid"],),
                kwargs={"rows": rows, "failed": failed},
            )
            timer.daemon = True
            self._timers = [t for t in self._timers if t.is_alive()] + [timer]
            timer.start()
