"""The simulated data both sides load, and the mutations that leave about one workflow in 20 with a
running or pending job."""

from __future__ import annotations

import random
from typing import Any

from analytics_dev.benchmark.sensor_daemon.config import SEED, Config
from analytics_dev.simulator.data import SimulatedData
from analytics_dev.simulator.factories import random_total

ACTIVE = ("running", "pending")
# What a job that was running or pending becomes: the generator's own mix of ended statuses.
ENDED, ENDED_WEIGHTS = ("finished", "shutdown", "stopped", "warning"), (55, 9, 10, 10)
ENDED_ERRORS = {
    "shutdown": "Technical error.",
    "stopped": "Stopped by user.",
    "warning": "Warning.",
}


def simulated_data(cfg: Config) -> SimulatedData:
    """The same dataset the simulator process builds from the same arguments."""
    rows = (cfg.rows_per_job, cfg.rows_per_job)
    return SimulatedData(SEED, cfg.workflows, cfg.jobs_per_workflow, rows)


def active_plan(data: SimulatedData, cfg: Config) -> tuple[list[dict], dict[str, Any]]:
    """`update_job` mutations that leave about `active_share` of the workflows with a running
    or pending job (evenly spread, at least one); applied to `data` too, so that it stays
    what the simulator serves."""
    active = [
        w["uid"] for w in data.workflows if any(j["status"] in ACTIVE for j in data.jobs[w["uid"]])
    ]
    generated_rows = data.total_result_rows()
    want = max(1, round(len(data.workflows) * cfg.active_share)) if active else 0
    keep = {active[k * len(active) // want] for k in range(want)} if want < len(active) else set()
    keep = keep or set(active)
    rng = random.Random(SEED)
    rows = (cfg.rows_per_job, cfg.rows_per_job)
    mutations = []
    for uid in active:
        if uid in keep:
            continue
        for job in data.jobs[uid]:
            if job["status"] not in ACTIVE:
                continue
            status = rng.choices(ENDED, ENDED_WEIGHTS)[0]
            total = random_total(rng, status, rows)
            started = job["start_time"] or job["scheduled_time"]
            finished = _iso_plus(started, 600)
            fields = {
                "status": status,
                "total_row_count": total,
                "row_count": total if status == "finished" or not total else total // 2,
                "start_time": started,
                "finish_time": finished,
                "error_message": ENDED_ERRORS.get(status),
            }
            data.update_job(job["uid"], **fields)
            mutations.append({"op": "update_job", "job_uid": job["uid"], **fields})
    jobs = data.all_jobs()
    share = {
        "workflows": len(data.workflows),
        "with_active_job_generated": len(active),
        "with_active_job": len(keep),
        "jobs": len(jobs),
        "jobs_running_or_pending": sum(j["status"] in ACTIVE for j in jobs),
        "successful_jobs": sum(1 for w in data.workflows for _ in data.successful_jobs(w["uid"])),
        "result_rows_generated": generated_rows,
        "result_rows_served": data.total_result_rows(),
        "jobs_changed": len(mutations),
    }
    return mutations, share


def _iso_plus(stamp: str, seconds: int) -> str:
    from datetime import datetime, timedelta

    return (datetime.fromisoformat(stamp) + timedelta(seconds=seconds)).isoformat()
