"""A paced scenario: ours with the plan's rate configured (workspace, empty and data partition,
a sensor tick beside the data run), then plain dlt under the same limit."""

from __future__ import annotations

import time
from pathlib import Path

from analytics_dev.benchmark.common import KEY, clean_env, dagster_home
from analytics_dev.benchmark.remote.counting import (
    counts,
    error_tail,
    labelled,
    phases,
    run_row,
    tick_result,
    timeline,
)
from analytics_dev.benchmark.remote.runs import (
    PLAIN_DLT,
    RUN_LABEL,
    TICK_CMD,
    TICK_LABEL,
    WORKSPACE_CMD,
    Launched,
    Run,
    Simulator,
    log_path,
    ours_env,
    partition_cmd,
    product_metadata,
    run_command,
)
from analytics_dev.benchmark.remote.scenarios import Paced


def run_paced(s: Paced, work: Path, repeat: int, tick_at: str, skip_plain: bool = False) -> dict:
    work.mkdir(parents=True)
    logs = work / "logs"
    logs.mkdir()
    sim = Simulator(s.data, s.latency_ms, s.rate)
    try:
        home = dagster_home(work / "dagster_home")
        env = ours_env(home, sim.url, work / "ours", ANALYTICS_API_RATE_LIMIT=f"{s.rate:g}")
        data_uid, empty_uid = sim.uids[0], sim.uids[-1]
        ws = run_command(sim, "ours: workspace,workflows", WORKSPACE_CMD, env, logs)
        empty_cmd = partition_cmd(empty_uid)
        empties = [
            run_command(sim, "ours: empty partition (fixed cost)", empty_cmd, env, logs)
            for _ in range(repeat)
        ]
        empty = sorted(empties, key=lambda r: r.seconds)[len(empties) // 2]

        # The data run and one sensor tick in another process, on one key and one budget.
        sim.reset()
        data_run = Launched(
            "ours: data partition", partition_cmd(data_uid), env, log_path(logs, "data")
        )
        if tick_at == "first-request":
            while data_run.running and sim.stats().get("requests", 0) < 1:
                time.sleep(0.02)
        tick_env = {**env, "ANALYTICS_PROJECT_ID": TICK_LABEL}
        tick_proc = Launched("sensor tick (other process)", TICK_CMD, tick_env, logs / "tick.log")
        data, tick = data_run.finish(), tick_proc.finish()
        window = sim.records()
        in_flight = sim.stats().get("max_in_flight", 0)
        data.records, tick.records = labelled(window, RUN_LABEL), labelled(window, TICK_LABEL)
        data.max_in_flight = tick.max_in_flight = in_flight

        plain = None if skip_plain else _run_plain(sim, work, logs)
    finally:
        sim.stop()
    metadata = product_metadata(home)
    return paced_report(s, ws, empties, empty, data, tick, window, plain, metadata, tick_at)


def _run_plain(sim: Simulator, work: Path, logs: Path) -> Run:
    folder = work / "plain"
    folder.mkdir()
    plain_cmd = [*PLAIN_DLT, sim.url, str(folder / "warehouse.duckdb"), str(folder)]
    plain_env = {**clean_env(), "BENCH_API_KEY": KEY}
    # run_command resets the simulator first: plain dlt starts with full buckets, as ours did.
    return run_command(sim, "plain dlt rest_api_source", plain_cmd, plain_env, logs)


def paced_report(
    s: Paced,
    ws: Run,
    empties: list[Run],
    empty: Run,
    data: Run,
    tick: Run,
    window: list[dict],
    plain: Run | None,
    metadata: dict,
    tick_at: str,
) -> dict:
    result_pages = counts(data.records)["result_pages"]
    physical = result_pages / s.rate
    data_path = data.seconds - empty.seconds
    measured = data.ok and empty.ok and physical > 0
    tick_info = tick_result(tick)
    return {
        "scenario": s.name,
        "kind": "paced",
        "latency_ms": s.latency_ms,
        "plan_rate": s.rate,
        "ours_env": {"ANALYTICS_API_RATE_LIMIT": f"{s.rate:g}"},
        "data": s.data.report(),
        "runs": [run_row(r) for r in (ws, *empties, data, tick, plain) if r is not None],
        "empty_partition_seconds_each": [round(r.seconds, 3) for r in empties],
        "empty_partition_seconds": round(empty.seconds, 3),
        "data_partition_seconds": round(data.seconds, 3),
        "data_result_pages": result_pages,
        "physical_limit_seconds": round(physical, 3),
        "data_path_seconds": round(data_path, 3),
        "ratio_data_path_over_physical": round(data_path / physical, 3) if measured else None,
        "data_run_and_tick": counts(window),
        "tick": {
            "started_at": tick_at,
            "process_seconds": round(tick.seconds, 3),
            "evaluation_seconds": tick_info.get("evaluation_seconds"),
            "run_requests": tick_info.get("run_requests"),
            "success": tick.ok and bool(tick_info),
            **counts(tick.records),
            "paths": sorted(r["path"] for r in tick.records),
            "seconds_after_data_run_started": (
                round(min(r["started"] for r in tick.records) - data.started, 3)
                if tick.records
                else None
            ),
        },
        "phases": {"empty_partition": phases(empty), "data_partition": phases(data, s.rate)},
        "timelines": {"data_partition": timeline(data), "sensor_tick": timeline(tick)},
        "product_metadata": metadata,
        "plain_dlt": None if plain is None else _plain_report(plain, s.data.pages / s.rate),
    }


def _plain_report(plain: Run, physical: float) -> dict:
    """Plain dlt's data path runs from its first jobs request to its exit."""
    jobs = [r["started"] for r in plain.records if r["path"].endswith("/jobs")]
    data_path = plain.finished - min(jobs) if jobs else plain.seconds
    return {
        "seconds": round(plain.seconds, 3),
        "returncode": plain.returncode,
        "success": plain.ok,
        **counts(plain.records),
        "data_path_seconds": round(data_path, 3),
        "physical_limit_seconds": round(physical, 3),
        "ratio_data_path_over_physical": round(data_path / physical, 3),
        "error_tail": "" if plain.ok else error_tail(plain.output),
        "phases": phases(plain),
    }
