"""What a side's Dagster instance and warehouse hold: its environment, progress, runs, ticks and
row counts."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

# Not exported by `dagster`: how the instance files a sensor's state and ticks.
from analytics_assets import constants as c
from analytics_dev.benchmark.common import dagster_home, product_env
from analytics_dev.benchmark.sensor_daemon.config import SENSOR, TABLES, Config

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
PARTITION = "dagster/partition"


def side_env(url: str, home: Path, warehouse: Path, cfg: Config) -> dict[str, str]:
    """A new DAGSTER_HOME (the shipped instance) and ours' environment on the plan's rate."""
    return product_env(
        dagster_home(home),
        url,
        warehouse,
        strip=("ANALYTICS_", "DAGSTER_"),
        ANALYTICS_API_RATE_LIMIT=f"{cfg.rate:g}",
        ANALYTICS_SENSOR_INTERVAL_SECONDS=str(cfg.interval),
        NO_COLOR="1",
    )


def table_counts(warehouse: Path) -> dict[str, int]:
    """Rows per table, read-only, after every writer stopped."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {
            t: _one(con.execute(f"SELECT count(*) FROM {c.DATASET_NAME}.{t}").fetchone())
            for t in TABLES
        }


def _one(row: tuple | None) -> int:
    assert row is not None  # count(*) always answers one row
    return int(row[0])


IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def load_progress(instance: DagsterInstance, workflows: int) -> dict[str, Any]:
    """Registered and materialized partitions, and runs in flight, as the instance has them."""
    registered = list(instance.get_dynamic_partitions(c.PARTITIONS_NAME))
    loaded = instance.get_materialized_partitions(AssetKey(c.JOB_RESULTS))
    in_flight = instance.get_runs_count(RunsFilter(statuses=IN_FLIGHT))
    done = len(registered) == workflows and loaded >= set(registered) and in_flight == 0
    return {
        "registered": len(registered),
        "loaded": len(loaded & set(registered)),
        "runs": instance.get_runs_count(),
        "in_flight": in_flight,
        "done": done,
    }


def runs_report(instance: DagsterInstance, t0_epoch: float) -> list[dict[str, Any]]:
    """Every run, oldest first: job, status, partitions, and when it was created, started
    and ended (seconds from the clock's start)."""
    order = list(instance.get_dynamic_partitions(c.PARTITIONS_NAME))
    position = {u: i for i, u in enumerate(order)}

    def at(stamp: float | None) -> float | None:
        return None if stamp is None else round(stamp - t0_epoch, 1)

    rows = []
    for record in sorted(instance.get_run_records(), key=lambda r: r.create_timestamp):
        run, tags = record.dagster_run, record.dagster_run.tags
        first, last = tags.get(RANGE_START), tags.get(RANGE_END)
        if first is None and PARTITION in tags:
            first = last = tags[PARTITION]
        positions = None
        if first in position and last in position:
            positions = [position[first], position[last]]
        rows.append(
            {
                "run_id": run.run_id[:8],
                "job": run.job_name,
                "status": run.status.value,
                "first": first,
                "last": last,
                "partition_positions": positions,
                "partitions": None if positions is None else positions[1] - positions[0] + 1,
                "created_at": at(record.create_timestamp.timestamp()),
                "started_at": at(record.start_time),
                "ended_at": at(record.end_time),
            }
        )
    return rows


def ticks_report(instance: DagsterInstance, t0_epoch: float) -> dict[str, Any]:
    """The sensor's ticks: count, statuses, when each started and how long it took."""
    states = [
        s
        for s in instance.all_instigator_state()
        if s.instigator_name == SENSOR and s.instigator_type.name == "SENSOR"
    ]
    if not states:
        return {"ticks": 0, "note": "no instigator state stored for the sensor"}
    ticks = instance.get_ticks(states[0].instigator_origin_id, states[0].selector_id)
    ticks = sorted(ticks, key=lambda t: t.timestamp)
    return {
        "ticks": len(ticks),
        "statuses": dict(Counter(t.status.value for t in ticks)),
        "each": [
            {
                "at": round(t.timestamp - t0_epoch, 1),
                "seconds": None
                if t.end_timestamp is None
                else round(t.end_timestamp - t.timestamp, 1),
                "status": t.status.value,
                "runs": len(t.run_ids),
            }
            for t in ticks
        ],
    }


def max_concurrent(runs: list[dict[str, Any]]) -> int:
    events = []
    for r in runs:
        if r["started_at"] is not None:
            events.append((r["started_at"], 1))
            events.append((r["ended_at"] if r["ended_at"] is not None else math.inf, -1))
    best = now = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        now += step
        best = max(best, now)
    return best
