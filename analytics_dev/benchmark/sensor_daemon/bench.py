"""Both sides on the same data, and the report comparing them."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import duckdb

from analytics_dev.benchmark.common import ROOT
from analytics_dev.benchmark.sensor_daemon.config import Config, Side
from analytics_dev.benchmark.sensor_daemon.data import active_plan, simulated_data
from analytics_dev.benchmark.sensor_daemon.instance import table_counts
from analytics_dev.benchmark.sensor_daemon.sides import measure_backfill, measure_daemon
from analytics_dev.benchmark.sensor_daemon.simulator import sim_counts, simulator


def product_version() -> str:
    """A digest of the product's and the simulator's source as they are on disk: every
    `dagster` process imports the product when it starts, so an edit mid-bench would mix
    versions."""
    digest = hashlib.sha1()
    for package in (ROOT / "analytics_assets", ROOT / "analytics_dev" / "simulator"):
        for path in sorted(package.rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def run(cfg: Config, work: Path) -> dict[str, Any]:
    deadline = time.monotonic() + cfg.timeout
    versions = [product_version()]
    data = simulated_data(cfg)
    mutations, share = active_plan(data, cfg)
    report: dict[str, Any] = {
        "config": cfg.__dict__ | {"jobs_per_workflow": list(cfg.jobs_per_workflow)}
    }
    report["data"] = share
    sides = {"backfill": Side("(b) one single-run backfill"), "daemon": Side("(a) dagster dev")}
    for key, measure in (("backfill", measure_backfill), ("daemon", measure_daemon)):
        side = sides[key]
        folder = work / key
        folder.mkdir()
        try:
            with simulator(cfg, mutations, share["result_rows_generated"]) as (url, pid):
                side.details["simulator_pid"] = pid
                try:
                    measure(cfg, url, folder, deadline, side)
                finally:
                    side.details["simulator"] = sim_counts(url)
        except Exception as exc:  # the report says what failed, and what was done before
            side.ok = False
            side.error = f"{type(exc).__name__}: {exc}"[-3000:]
        wh = folder / "warehouse" / f"{key}.duckdb"
        if wh.exists():
            try:
                side.details["row_counts"] = table_counts(wh)
            except duckdb.Error as exc:
                side.details["row_counts_error"] = str(exc)
        versions.append(product_version())
    report["product_versions"] = versions  # at the start, after (b), after (a)
    report["sides"] = {k: s.as_dict() for k, s in sides.items()}
    a, b = sides["daemon"], sides["backfill"]
    ratio = a.seconds / b.seconds if a.seconds and b.seconds else None
    report["ratio_daemon_over_backfill"] = None if ratio is None else round(ratio, 2)
    report["target_ratio"] = 2.0
    report["target_met"] = bool(a.ok and b.ok and ratio is not None and ratio <= 2.0)
    gave_up = a.details.get("gave_up_after_seconds")
    if gave_up and b.seconds:
        # Not done in the time it had: the ratio is at least this.
        report["ratio_daemon_over_backfill_at_least"] = round(gave_up / b.seconds, 2)
        report["note"] = (
            f"(a) gave up after {gave_up} s with {a.details.get('progress')}: (a)/(b) >= "
            f"{report['ratio_daemon_over_backfill_at_least']}"
        )
    counts = [s.details.get("row_counts") for s in (a, b)]
    report["row_counts_equal"] = counts[0] is not None and counts[0] == counts[1]
    return report
