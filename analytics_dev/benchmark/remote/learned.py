"""The learned scenario: nothing configured; each plan and fetch concurrency loads one
partition from a fresh warehouse folder, so the limit is learned from 429s alone."""

from __future__ import annotations

from pathlib import Path

from analytics_dev.benchmark.common import dagster_home
from analytics_dev.benchmark.remote.counting import error_tail, phases, run_row, since_first
from analytics_dev.benchmark.remote.counting import timeline as request_timeline
from analytics_dev.benchmark.remote.runs import (
    Simulator,
    ours_env,
    partition_cmd,
    product_metadata,
    register_partitions,
    run_command,
)
from analytics_dev.benchmark.remote.scenarios import Learned


def run_learned(s: Learned, work: Path) -> dict:
    work.mkdir(parents=True)
    logs = work / "logs"
    logs.mkdir()
    sim = Simulator(s.data, s.latency_ms, None)
    runs: list[dict] = []
    try:
        home = dagster_home(work / "dagster_home")
        # As the workspace asset does, without a request: the key's first is the measured run's.
        register_partitions(home, sim.uids)
        for plan in s.plans:
            for concurrency in s.concurrencies:
                folder = work / f"plan{plan:g}_c{concurrency}"
                env = ours_env(
                    home, sim.url, folder, ANALYTICS_API_FETCH_CONCURRENCY=str(concurrency)
                )
                fresh = not folder.exists()  # no budget file: nothing learned beforehand
                sim.set_rate_limit(plan)
                name = f"plan {plan:g} req/s, concurrency {concurrency}"
                run = run_command(sim, name, partition_cmd(sim.uids[0]), env, logs)
                timeline = request_timeline(run)
                runs.append(
                    {
                        **run_row(run),
                        "plan_rate": plan,
                        "fetch_concurrency": concurrency,
                        "fresh_warehouse_folder": fresh,
                        "physical_limit_seconds": round(s.data.pages / plan, 3),
                        "error_tail": "" if run.ok else error_tail(run.output),
                        "product_metadata": product_metadata(home) if run.ok else {},
                        "phases": phases(run, plan),
                        "rate_limited_at": [
                            t for t, status, _ in since_first(timeline) if status == 429
                        ],
                        "timeline": timeline,
                    }
                )
    finally:
        sim.stop()
    return {
        "scenario": s.name,
        "kind": "learned",
        "latency_ms": s.latency_ms,
        "ours_env": {"ANALYTICS_API_RATE_LIMIT": None},
        "data": s.data.report(),
        "partitions_registered": len(sim.uids),
        "runs": runs,
        "all_succeeded": all(r["success"] for r in runs),
        "max_share_429": max((r["share_429"] for r in runs), default=0.0),
        "seconds": round(sum(r["seconds"] for r in runs), 3),
    }
