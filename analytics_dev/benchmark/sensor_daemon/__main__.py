"""`python -m analytics_dev.benchmark.sensor_daemon`: the CLI (see the package docstring)."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

from analytics_dev.benchmark import sensor_daemon
from analytics_dev.benchmark.common import git, run_main, write_report
from analytics_dev.benchmark.sensor_daemon.bench import run
from analytics_dev.benchmark.sensor_daemon.config import Config
from analytics_dev.benchmark.sensor_daemon.report import format_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analytics_dev.benchmark.sensor_daemon",
        description=(sensor_daemon.__doc__ or "").splitlines()[0],
    )
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=5.0, help="plan limit, requests/s")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--interval", type=int, default=30, help="sensor interval, seconds")
    parser.add_argument("--timeout", type=float, default=1800.0, help="whole bench, seconds")
    parser.add_argument("--out", default="bench_results")
    parser.add_argument(
        "--name", default="bench_sensor_daemon", help="the JSON file's name, without .json"
    )
    parser.add_argument(
        "--work", help="keep the simulators' logs, instances and warehouses in this new folder"
    )
    args = parser.parse_args(argv)
    cfg = Config(
        workflows=args.workflows,
        rate=args.rate,
        latency_ms=args.latency_ms,
        interval=args.interval,
        timeout=args.timeout,
    )
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if args.work:
            work = Path(args.work)
            work.mkdir(parents=True)
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="analytics-bench-sd-"))
            work = Path(tmp)
        report = run(cfg, work)
    report["bench_seconds"] = round(time.perf_counter() - started, 1)
    report["commit"] = git("rev-parse", "HEAD") or None
    print(format_report(report))
    write_report(args.out, args.name, report, default=str)
    return 0 if report["sides"]["daemon"]["ok"] and report["sides"]["backfill"]["ok"] else 1


if __name__ == "__main__":
    run_main(main)
