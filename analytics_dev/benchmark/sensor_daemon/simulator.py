"""A fresh simulator process per side, and what it counted."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator

from analytics_dev.benchmark.common import KEY, sim_control, stop_process
from analytics_dev.benchmark.sensor_daemon.config import SEED, Config


@contextlib.contextmanager
def simulator(cfg: Config, mutations: list[dict], generated_rows: int) -> Iterator[tuple[str, int]]:
    """A fresh simulator process with the mutations applied and its counters at zero: its
    URL and pid."""
    cmd = [sys.executable, "-m", "analytics_dev.simulator", "--port", "0"]
    cmd += ["--seed", str(SEED), "--workflows", str(cfg.workflows), "--jobs-per-workflow"]
    cmd += [str(n) for n in cfg.jobs_per_workflow]
    cmd += ["--rows-per-job", str(cfg.rows_per_job), "--page-size", str(cfg.page_size)]
    cmd += [
        "--api-key",
        KEY,
        "--latency-ms",
        f"{cfg.latency_ms:g}",
        "--rate-limit",
        f"{cfg.rate:g}",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().partition("=")[2]
        rows = int(proc.stdout.readline().strip().partition("=")[2] or -1)
        if not url:
            raise RuntimeError(f"the simulator did not start (exit {proc.poll()})")
        if rows != generated_rows:  # not the dataset built here: the mutations would not fit
            raise RuntimeError(f"the simulator serves {rows} rows, not {generated_rows}")
        for mutation in mutations:
            sim_control(url, "mutate", mutation)
        sim_control(url, "reset")
        yield url, proc.pid
    finally:
        stop_process(proc)


def sim_counts(url: str) -> dict[str, int]:
    """Requests by kind, 429s and the most in flight at once, since the last reset."""
    stats = sim_control(url, "stats")
    records = sim_control(url, "requests")["requests"]
    kinds: Counter[str] = Counter()
    for r in records:
        path = r["path"]
        if path.endswith("/results"):
            kinds["results"] += 1
        elif path.endswith("/jobs"):
            kinds["jobs"] += 1
        elif path.rstrip("/").endswith("/workflows"):
            kinds["workflows"] += 1
        else:
            kinds["other"] += 1
    return {
        "requests": len(records),
        "429s": sum(1 for r in records if r["status"] == 429),
        "rate_limited_stat": int(stats.get("rate_limited", 0)),
        "max_in_flight": int(stats.get("max_in_flight", 0)),
        **{f"{k}_requests": kinds[k] for k in ("workflows", "jobs", "results", "other")},
    }
