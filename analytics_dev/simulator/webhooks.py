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
