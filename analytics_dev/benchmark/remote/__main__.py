"""`python -m analytics_dev.benchmark.remote`: the CLI (see the package docstring)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from analytics_dev.benchmark import remote
from analytics_dev.benchmark.common import run_main, tree_state, write_report
from analytics_dev.benchmark.remote.learned import run_learned
from analytics_dev.benchmark.remote.paced import run_paced
from analytics_dev.benchmark.remote.report import print_learned, print_paced, print_summary, targets
from analytics_dev.benchmark.remote.scenarios import Paced, scenarios
from analytics_dev.benchmark.remote.tick import sensor_tick


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analytics_dev.benchmark.remote",
        description=(remote.__doc__ or "").splitlines()[0],
    )
    parser.add_argument("--sensor-tick", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--scenarios",
        default="paced-200ms-10rps,paced-50ms-2rps,learned",
        help="comma list (default: all three)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 20 ms (for the test)")
    parser.add_argument(
        "--scale",
        type=int,
        default=1,
        help="the paced scenarios' result pages times this (the fixed cost then weighs less)",
    )
    parser.add_argument(
        "--skip-plain", action="store_true", help="paced scenarios: leave plain dlt out"
    )
    parser.add_argument("--out", default="bench_results")
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="runs of the empty partition; the median counts (default 3, --quick 1)",
    )
    parser.add_argument(
        "--tick-at",
        choices=("first-request", "launch"),
        default="first-request",
        help="start the sensor tick when the data run's first request is answered (default) "
        "or as soon as the data run is launched",
    )
    args = parser.parse_args(argv)
    if args.sensor_tick:
        return sensor_tick()
    known = scenarios(args.quick, max(1, args.scale))
    chosen = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        parser.error(f"unknown scenario(s) {unknown}; choose from {', '.join(known)}")
    repeat = max(1, args.repeat if args.repeat is not None else (1 if args.quick else 3))
    started = time.perf_counter()
    tree = tree_state()
    load_before = os.getloadavg()
    print(
        f"measuring the working tree at {tree['commit'] or 'unknown commit'}"
        + (
            f", with uncommitted changes to {', '.join(tree['modified'])}"
            if tree["modified"]
            else ""
        )
    )
    reports: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="analytics-bench-remote-") as tmp:
        for name in chosen:
            s = known[name]
            work = Path(tmp) / name
            if isinstance(s, Paced):
                report = run_paced(s, work, repeat, args.tick_at, args.skip_plain)
                print_paced(report)
            else:
                report = run_learned(s, work)
                print_learned(report)
            sys.stdout.flush()
            reports.append(report)
    seconds = time.perf_counter() - started
    summary = targets(reports)
    print_summary(summary, seconds, args.quick)
    print(
        f"load average (1 min) at the start {load_before[0]:.2f}, at the end "
        f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    document = {
        "quick": args.quick,
        "bench_seconds": round(seconds, 1),
        "tree": tree,
        "load_average_1m": {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2)},
        "scenarios": reports,
        "summary": summary,
    }
    write_report(args.out, "bench_remote", document)
    return 0


if __name__ == "__main__":
    run_main(main)
