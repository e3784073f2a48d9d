"""`make bench-sensor`: workflow_refresh_sensor's ticks at scale, on a rate-limited remote plan.

    python -m analytics_dev.benchmark.sensor [--workflows 1000] [--rate 5] [--latency-ms 50]

The simulator serves W workflows (one in 20 with a running job, the rest finished, failed or
stopped) at the given latency and per-key rate; the product's sensor is evaluated tick after
tick as the daemon evaluates it (its cursor carried, its partitions added) with
`ANALYTICS_API_RATE_LIMIT` set to the plan. Between ticks the loads it requested are taken as
done: each requested partition gets the `jobs` materialization a run records (the fingerprint
of its jobs), without running dlt, so the ticks are measured with no run in flight. After the
baseline tick, a new job lands in an active and in a quiet workflow (the one checked last, the
worst case for the rotation); ticks go on until both are requested.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

from dagster import AssetMaterialization, DagsterInstance, SensorResult, build_sensor_context

from analytics_assets.api.job_rows import jobs_fingerprint, normalize_job
from analytics_assets.definitions import defs as shipped
from analytics_assets.defs.metadata import FINGERPRINT_METADATA
from analytics_assets.defs.partitions import partitions_of_run
from analytics_assets.defs.resources import AnalyticsApiResource
from analytics_assets.defs.sensor_state import SensorState
from analytics_dev.benchmark.common import write_report
from analytics_dev.simulator import ApiSimulator, SimulatedData

KEY = "bench-key-not-secret"
MAX_TICKS = 25


def simulated(workflows: int, seed: int = 11) -> SimulatedData:
    """W workflows of 1-3 small jobs; every 20th has a running job, no other is active."""
    data = SimulatedData(
        seed=seed, workflows=workflows, jobs_per_workflow=(1, 3), rows_per_job=(0, 20)
    )
    for index, workflow in enumerate(data.workflows):
        for position, job in enumerate(data.jobs[workflow["uid"]]):
            if index % 20 == 0 and position == 0:
                data.update_job(job["uid"], status="running", total_row_count=None)
            elif job["status"] in ("running", "pending"):
                data.update_job(job["uid"], status="stopped")
    return data


def _loaded(instance: DagsterInstance, data: SimulatedData, partitions: set[str]) -> None:
    """What the requested runs would record: the fingerprint of each partition's jobs."""
    for uid in sorted(partitions):
        jobs = [normalize_job(dict(job), uid) for job in data.jobs[uid]]
        instance.report_runless_asset_event(
            AssetMaterialization(
                asset_key="jobs",
                partition=uid,
                metadata={FINGERPRINT_METADATA: jobs_fingerprint(jobs)},
            )
        )


def _requested(instance: DagsterInstance, result: SensorResult) -> set[str]:
    registered = list(instance.get_dynamic_partitions("workflow_uids"))
    covered: set[str] = set()
    for request in result.run_requests or []:
        if request.job_name != "workflow_partition_job":
            continue
        tags = (
            {"dagster/partition": request.partition_key} if request.partition_key else request.tags
        )
        covered.update(partitions_of_run(tags, registered))
    return covered


def run(workflows: int, rate: float, latency_ms: float, work: Path) -> dict:
    data = simulated(workflows)
    active = [w["uid"] for i, w in enumerate(data.workflows) if i % 20 == 0]
    sim = ApiSimulator(data, api_key=KEY, page_size=100, latency_seconds=latency_ms / 1000)
    sim.rate_limit = rate
    url = sim.start()
    resource = AnalyticsApiResource(
        base_url=url, api_key=KEY, duckdb_path=str(work / "w.duckdb"), rate_limit=rate
    )
    ticks: list[dict] = []
    picked_up: dict[str, int | None] = {"active": None, "quiet": None}
    changed: dict[str, str] = {}
    (work / "dagster_home").mkdir()
    try:
        with DagsterInstance.local_temp(str(work / "dagster_home")) as instance:
            cursor = None
            for number in range(1, MAX_TICKS + 1):
                if number == 3:  # after the baseline tick: a new job in each kind of workflow
                    state = SensorState.decode(cursor)
                    quiet = max(
                        (u for u in state.entries if u not in active),
                        key=lambda u: state.entries[u].checked,
                    )
                    changed = {"active": active[1], "quiet": quiet}
                    for uid in changed.values():
                        data.add_job(uid, status="finished", total_row_count=3)
                sim.reset_stats()
                context = build_sensor_context(
                    instance=instance, cursor=cursor, resources={"analytics_api": resource}
                )
                started = time.perf_counter()
                result = shipped.resolve_sensor_def("workflow_refresh_sensor")(context)
                seconds = time.perf_counter() - started
                assert isinstance(result, SensorResult)
                for add in result.dynamic_partitions_requests or []:
                    instance.add_dynamic_partitions(
                        add.partitions_def_name, list(add.partition_keys)
                    )
                stats = sim.stats()
                requested = _requested(instance, result)
                cursor = result.cursor
                state = SensorState.decode(cursor)
                ticks.append(
                    {
                        "tick": number,
                        "seconds": round(seconds, 2),
                        "requests": stats["requests"],
                        "rate_limited": stats["rate_limited"],
                        "run_requests": len(result.run_requests or []),
                        "partitions_requested": len(requested),
                        "longest_unchecked_ticks": state.longest_unchecked(),
                    }
                )
                print(json.dumps(ticks[-1]), flush=True)
                for kind, uid in changed.items():
                    if picked_up[kind] is None and uid in requested:
                        picked_up[kind] = number - 2  # ticks after the change landed
                _loaded(instance, data, requested)
                if changed and all(v is not None for v in picked_up.values()):
                    break
    finally:
        sim.stop()
    first = ticks[0]
    checks = math.floor(rate * 40 * 0.75) - 1
    return {
        "workflows": workflows,
        "rate": rate,
        "latency_ms": latency_ms,
        "active_workflows": len(active),
        "ticks": ticks,
        "max_tick_seconds": max(t["seconds"] for t in ticks),
        "tick1_run_requests": first["run_requests"],
        "tick1_partitions_requested": first["partitions_requested"],
        "ticks_to_pick_up_active_change": picked_up["active"],
        "ticks_to_pick_up_quiet_change": picked_up["quiet"],
        "checks_per_tick_allowed": checks,
        "quiet_bound_ticks": math.ceil((workflows - len(active)) / max(1, checks - len(active))),
        "requests": sum(t["requests"] for t in ticks),
        "rate_limited": sum(t["rate_limited"] for t in ticks),
    }


def _print(report: dict) -> None:
    print(
        f"\n{report['workflows']} workflows ({report['active_workflows']} active), "
        f"{report['latency_ms']} ms latency, a {report['rate']:g} req/s plan"
    )
    print(f"{'tick':>4}{'s':>8}{'req':>6}{'429':>5}{'runs':>6}{'parts':>7}{'oldest':>8}")
    for t in report["ticks"]:
        print(
            f"{t['tick']:>4}{t['seconds']:>8}{t['requests']:>6}{t['rate_limited']:>5}"
            f"{t['run_requests']:>6}{t['partitions_requested']:>7}"
            f"{t['longest_unchecked_ticks']:>8}"
        )
    print(f"every tick < 45 s: {report['max_tick_seconds']} s max")
    print(
        f"tick 1: {report['tick1_partitions_requested']} partitions in "
        f"{report['tick1_run_requests']} run requests (target <= 11)"
    )
    print(
        f"a new job is requested {report['ticks_to_pick_up_active_change']} tick(s) after it "
        f"lands in an active workflow (target <= 2), {report['ticks_to_pick_up_quiet_change']} "
        f"in a quiet one (target <= 11; bound ceil(quiet / rotation checks) = "
        f"{report['quiet_bound_ticks']})"
    )
    print(f"429s: {report['rate_limited']} of {report['requests']} requests")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--out", default="bench_results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="analytics-bench-sensor-") as tmp:
        report = run(args.workflows, args.rate, args.latency_ms, Path(tmp))
    _print(report)
    write_report(args.out, f"bench_sensor_{args.workflows}", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
