"""Builders for the API's records (workspace, workflow, job) from a seeded ``random.Random``.

They only build dicts; ``SimulatedData`` decides how many and keeps the indexes.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Mapping

STATUSES = ("finished", "running", "pending", "shutdown", "stopped", "warning")
STATUS_WEIGHTS = (55, 8, 8, 9, 10, 10)
_ERRORS = {
    "shutdown": "Technical error: the automation crashed, our team has been notified.",
    "warning": "Your LinkedIn cookie is invalid or expired. Please reconnect your account.",
    "stopped": "Stopped by user.",
    "paused": "Integration error: the CRM integration is disconnected. Reconnect it to resume.",
}
_WORKFLOW_NAMES = (
    "Extract LinkedIn Profiles from Search",
    "Enrich Leads with Emails",
    "Scrape Sales Navigator",
    "Extract Post Likers",
    "Find Company Employees",
    "Auto-Connect Campaign",
)
_STEP_NAMES = ("Extract Search Results", "Enrich Profiles", "Find Emails", "Send Invitation")
# A fixed "now" keeps timestamps deterministic; jobs fall in the two months before it.
ANCHOR = dt.datetime(2024, 11, 1, tzinfo=dt.UTC)


def result_count(job: Mapping) -> int:
    """The job's total_row_count as a number; drifted text like "12" counts, junk is 0."""
    value = job.get("total_row_count")
    if isinstance(value, str):
        return int(value) if value.strip().isdigit() else 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return int(value)


def is_successful(job: Mapping) -> bool:
    """The spec's successful_jobs filter; a null total counts as "not > 0"."""
    return job.get("status") == "finished" and result_count(job) > 0


def new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(ts: dt.datetime | None) -> str | None:
    return None if ts is None else ts.isoformat(timespec="seconds")


def make_workspace(rng: random.Random) -> dict:
    used = rng.randint(0, 9000)
    return {
        "name": "Acme Growth Team",
        "email": "ops@acme.example",
        "plan_name": "Growth",
        "tasks_max": 10000,
        "tasks_used": used,
        "tasks_left": 10000 - used,
        "current_month_start": "2024-11-01T00:00:00+00:00",
        "current_month_end": "2024-11-30T23:59:59+00:00",
    }


# Workspace rows a quota forecast meets over a month, at day `day` of a 30-day period.
QUOTA_SCENARIOS = ("early_high_burn", "late_low_burn", "exhausted", "null_fields", "future_period")


def quota_workspace(scenario: str, now: dt.datetime, tasks_max: int = 10000) -> dict:
    """A workspace row as the API would send it at `now` in one of QUOTA_SCENARIOS:
    early_high_burn (day 5, 40% used), late_low_burn (day 25, 30% used), exhausted (day 20,
    nothing left), null_fields (no period, no quota) or future_period (starts in 3 days)."""
    day = {"early_high_burn": 5, "late_low_burn": 25, "exhausted": 20, "future_period": -3}
    share = {"early_high_burn": 0.4, "late_low_burn": 0.3, "exhausted": 1.0, "future_period": 0}
    row = {"name": "Acme Growth Team", "email": "ops@acme.example", "plan_name": "Growth"}
    if scenario == "null_fields":
        nulls = ("tasks_max", "tasks_used", "tasks_left", "current_month_start")
        return {**row, **dict.fromkeys(nulls), "current_month_end": None}
    start = now - dt.timedelta(days=day[scenario])
    used = round(tasks_max * share[scenario])
    return {
        **row,
        "tasks_max": tasks_max,
        "tasks_used": used,
        "tasks_left": tasks_max - used,
        "current_month_start": _iso(start),
        "current_month_end": _iso(start + dt.timedelta(days=30)),
    }


def make_workflow(rng: random.Random, index: int) -> dict:
    created = ANCHOR - dt.timedelta(days=rng.randint(60, 400), microseconds=rng.getrandbits(36))
    return {
        "uid": new_uuid(rng),
        "name": f"{_WORKFLOW_NAMES[index % len(_WORKFLOW_NAMES)]} #{index + 1}",
        # Upstream sends microseconds and no timezone here, unlike job timestamps.
        "created_at": created.replace(tzinfo=None).isoformat(timespec="microseconds"),
        "project_id": rng.randint(1, 3),
        "template_uid": new_uuid(rng),
        "steps": [
            {"uid": new_uuid(rng), "step_uid": new_uuid(rng), "name": name}
            for name in _STEP_NAMES[: rng.randint(1, 3)]
        ],
    }


def random_total(rng: random.Random, status: str, rows_per_job: tuple[int, int]) -> int | None:
    """A plausible total_row_count for a job in ``status``."""
    if status in ("pending", "running"):
        return None  # not known until the job ends
    if status == "shutdown" or (status == "finished" and rng.random() < 0.15):
        return 0
    if status in ("stopped", "warning") and rng.random() < 0.4:
        return 0
    return rng.randint(*rows_per_job)  # stopped/warning jobs may have partial rows


def make_job(
    rng: random.Random,
    wf: dict,
    status: str,
    total: int | None,
    siblings: list[dict],
    accounts: list[str],
    scheduled: dt.datetime | None = None,
) -> dict:
    """A job of workflow ``wf``; ``siblings`` are its earlier jobs (one may be the main job)."""
    scheduled = scheduled or ANCHOR - dt.timedelta(seconds=rng.randrange(60 * 86400))
    started = None
    if status != "pending":
        started = scheduled + dt.timedelta(seconds=rng.randint(1, 300))
    finished = None
    if started is not None and status != "running":
        finished = started + dt.timedelta(seconds=rng.randint(30, 7200))
    main = siblings[0] if siblings and rng.random() < 0.3 else None
    return {
        "uid": new_uuid(rng),
        "name": f"{wf['name']} - run {len(siblings) + 1}",
        "workflow_uid": wf["uid"],
        "workflow_name": wf["name"],
        "status": status,
        "scheduled_time": _iso(scheduled),
        "start_time": _iso(started),
        "finish_time": _iso(finished),
        "error_message": _ERRORS.get(status),
        "accounts": rng.sample(accounts, rng.randint(1, 2)),
        "configuration": {"max_results": rng.choice((100, 250, 1000)), "language": "en"},
        "step_uid": rng.choice(wf["steps"])["step_uid"] if wf.get("steps") else None,
        "main_job_uid": main and main["uid"],
        "main_job_name": main and main["name"],
        "number_inputs": rng.randint(1, 50),
        "row_count": total if status == "finished" or not total else rng.randint(0, total),
        "total_row_count": total,
    }
