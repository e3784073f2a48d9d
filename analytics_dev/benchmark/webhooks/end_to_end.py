"""End to end under `dagster dev` (webserver and daemon, the shipped SQLite instance) with the
receiver: jobs finish at a spread; half the workflows have a webhook (delivered as the job
ends), the other half none (polling only). Per job: seconds from its end (= the delivery) to
its partition's `job_results` materialization by a run that started after the end, i.e. its
rows committed and queryable."""

from __future__ import annotations

import random
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from analytics_dev.benchmark.common import BIN, KEY, ROOT, dagster_home, product_env
from analytics_dev.benchmark.sensor_daemon.processes import stop_session
from analytics_dev.benchmark.webhooks.receiver import SECRET, receiver
from analytics_dev.simulator import ApiSimulator, SimulatedData
from analytics_dev.simulator.webhooks import JobActivity, WebhookDelivery

WORKFLOWS = 20
SETTLE_SECONDS = 900


def _loaded_at(instance: DagsterInstance, uid: str, ended: float) -> float | None:
    """When the first run that started after `ended` committed the partition's results."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(
            asset_key=AssetKey("job_results"), asset_partitions=[uid], after_timestamp=ended
        ),
        limit=20,
        ascending=True,
    ).records
    for record in records:
        run = instance.get_run_record_by_id(record.run_id)
        if run and run.start_time and run.start_time >= ended:
            return record.timestamp
    return None


def _wait_initial_loads(instance: DagsterInstance, uids: list[str]) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        if all(_loaded_at(instance, uid, 0.0) for uid in uids):
            return
        time.sleep(2)
    raise RuntimeError("the first loads did not finish")


def _play(data: SimulatedData, pushed: set[str], jobs: int, spread: float, hook: str) -> list[dict]:
    """Start `jobs` jobs over `spread` seconds, each ending 5-20 s later; their end times."""
    rng = random.Random(5)
    delivery = WebhookDelivery(f"{hook}/webhooks", f"Authorization: Bearer {SECRET}")
    push, quiet = JobActivity(data, delivery), JobActivity(data, None)
    uids = [w["uid"] for w in data.workflows]
    plan = []
    for i in range(jobs):
        uid = uids[i % len(uids)]
        start = i * spread / jobs
        plan.append((start, "start", uid, i))
        plan.append((start + rng.uniform(5, 20), "end", uid, i))
    plan.sort()
    began, running, ended = time.monotonic(), {}, []
    for at, action, uid, i in plan:
        time.sleep(max(0.0, began + at - time.monotonic()))
        activity = push if uid in pushed else quiet
        if action == "start":
            running[i] = activity.start(uid)
        else:
            activity.finish(running[i]["uid"], rows=rng.randint(5, 40))
            ended.append(
                {
                    "job": running[i]["uid"],
                    "workflow": uid,
                    "pushed": uid in pushed,
                    "ended": time.time(),
                }
            )
    assert {s for *_, s in delivery.sent} == {200}, delivery.sent
    return ended


def _wait_loaded(instance: DagsterInstance, ended: list[dict], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = [e for e in ended if "latency_s" not in e]
        for e in waiting:
            at = _loaded_at(instance, e["workflow"], e["ended"])
            if at is not None:
                e["latency_s"] = round(at - e["ended"], 2)
        if not waiting:
            return
        time.sleep(1)


def _figures(ended: list[dict], pushed: bool) -> dict[str, Any]:
    times = sorted(e["latency_s"] for e in ended if e["pushed"] is pushed and "latency_s" in e)
    lost = sum(1 for e in ended if e["pushed"] is pushed and "latency_s" not in e)
    if not times:
        return {"jobs": 0, "not_loaded": lost}
    return {
        "jobs": len(times),
        "not_loaded": lost,
        "p50_s": round(statistics.median(times), 1),
        "p95_s": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
        "max_s": round(times[-1], 1),
    }


def run(
    workdir: Path,
    jobs: int,
    spread: float,
    intervals: tuple[int, int | None],
    ports: tuple[int, int],
) -> dict:
    """Both paths side by side in one `dagster dev` session; `intervals`: the refresh
    sensor's and the webhook sensor's (None: its default)."""
    poll_interval, pushed_interval = intervals
    home = dagster_home(workdir / "home")
    DagsterInstance.from_config(str(home)).dispose()  # one process creates the storage
    data = SimulatedData(
        seed=11, workflows=WORKFLOWS, jobs_per_workflow=(1, 3), rows_per_job=(5, 40)
    )
    uids = [w["uid"] for w in data.workflows]
    pushed = set(uids[: len(uids) // 2])  # contiguous: no pushed range spans a polled one
    with ApiSimulator(data, api_key=KEY) as sim:
        env = product_env(
            home,
            str(sim.base_url),
            workdir / "warehouse.duckdb",
            ANALYTICS_WEBHOOK_SECRET=SECRET,
            ANALYTICS_SENSOR_INTERVAL_SECONDS=str(poll_interval),
        )
        if pushed_interval:
            env["ANALYTICS_WEBHOOK_SENSOR_INTERVAL_SECONDS"] = str(pushed_interval)
        log = workdir / "dagster_dev.log"
        with log.open("w") as out:
            dev = subprocess.Popen(
                [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(ports[0])],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            with DagsterInstance.from_config(str(home)) as instance:
                _wait_initial_loads(instance, uids)
                with receiver(home, workdir / "receiver.log", port=ports[1]) as hook:
                    sim.reset_requests()
                    ended = _play(data, pushed, jobs, spread, hook)
                    played = {r.path for r in sim.requests}
                    _wait_loaded(instance, ended, timeout=poll_interval * 3 + 120)
                requests = sim.requests
        finally:
            stopped = stop_session(dev)
    lists = sum(1 for r in requests if r.path.endswith("/jobs"))
    return {
        "jobs": jobs,
        "spread_s": spread,
        "workflows": WORKFLOWS,
        "poll_interval_s": poll_interval,
        "webhook_interval_s": pushed_interval or "default (10)",
        "pushed": _figures(ended, True),
        "polling_only": _figures(ended, False),
        "api_requests_during_measurement": len(requests),
        "jobs_list_requests": lists,
        "paths_during_play": len(played),
        "dagster_dev_stop": stopped,
    }
