"""`make bench-backfill`: many small workflow partitions in one backfill vs the same rows in one.

    python -m analytics_dev.benchmark.backfill [--workflows 300] [--rows-per-workflow 100]

Two simulators serve the same rows in jobs of the same size: one spread over `--workflows`
workflows, one in a single workflow. Each gets `dagster asset materialize` for the workspace
assets, then the per-workflow assets: every partition as one `--partition-range` run, against
the single partition. The ratio of the two, and the overhead per extra partition, is the cost
of partitioning by workflow.

Each instance then runs the Dagster floor (`dagster_floor.py`) on the same partitions: no-op
assets of the same shape. What it takes is Dagster's own share, the part no loader can save.
"""

import argparse
import contextlib
import tempfile
from pathlib import Path
from typing import Any

from analytics_dev.benchmark.__main__ import _row, _start_simulator, _workflow_uids
from analytics_dev.benchmark.common import (
    ROOT,
    SHIPPED_INSTANCE,
    dagster_home,
    materialize_cli,
    product_env,
    run_main,
    stop_process,
    write_report,
)
from analytics_dev.benchmark.measure import Measurement, measure

CLI = materialize_cli()
PER_WORKFLOW = ["--select", "jobs,successful_jobs,job_results"]
FLOOR = [*materialize_cli("analytics_dev.benchmark.dagster_floor"), "--select", "*"]


def _load(
    label: str, workflows: int, rows: int, rows_per_job: int, work: Path, instance_env: dict
) -> tuple[Measurement, Measurement]:
    """Ours on the per-workflow assets, then the Dagster floor on the same partitions."""
    sim, url = _start_simulator(rows, workflows, rows_per_job)
    try:
        config = "deploy/dagster.yaml" if instance_env else SHIPPED_INSTANCE
        home = dagster_home(work / label / "dagster_home", config)
        env = product_env(home, url, work / label / "w.duckdb") | instance_env
        measure(
            f"{label}: workspace,workflows",
            [*CLI, "--select", "workspace,workflows"],
            env,
            str(ROOT),
            url,
        )
        data_uids = _workflow_uids(url)[:-1]  # the last workflow is the empty one
        target = (
            ["--partition", data_uids[0]]
            if len(data_uids) == 1
            else ["--partition-range", f"{data_uids[0]}...{data_uids[-1]}"]
        )
        name = f"{len(data_uids)} partition(s)"
        ours = measure(f"{label}: {name}", [*CLI, *PER_WORKFLOW, *target], env, str(ROOT), url)
        floor = measure(f"Dagster floor: {name}", [*FLOOR, *target], env, str(ROOT), url)
        return ours, floor
    finally:
        stop_process(sim)


def _postgres_env(server: Any, database: str) -> dict[str, str]:
    """What deploy/dagster.yaml reads, for a Dagster database on the throwaway server."""
    from analytics_dev.postgres import PASSWORD, USER

    return {
        "DAGSTER_PG_HOST": server.host,
        "DAGSTER_PG_PORT": str(server.port),
        "DAGSTER_PG_DB": database,
        "DAGSTER_PG_USERNAME": USER,
        "DAGSTER_PG_PASSWORD": PASSWORD,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=300)
    parser.add_argument("--rows-per-workflow", type=int, default=100)
    parser.add_argument("--out", default="bench_results")
    parser.add_argument(
        "--instance",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="Dagster instance storage: the shipped SQLite one, or deploy/dagster.yaml on a "
        "throwaway local PostgreSQL server (needs its binaries, as the tests do)",
    )
    args = parser.parse_args()
    rows = args.workflows * args.rows_per_workflow
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="analytics-bench-")))
        server = None
        if args.instance == "postgres":
            from analytics_dev.postgres import running_server

            server = stack.enter_context(running_server())

        def instance_env() -> dict[str, str]:  # each load gets a Dagster database of its own
            return _postgres_env(server, stack.enter_context(server.database())) if server else {}

        size = args.rows_per_workflow
        many, floor_many = _load("backfill", args.workflows, rows, size, work, instance_env())
        one, floor_one = _load("one partition", 1, rows, size, work, instance_env())
    extra = max(args.workflows - 1, 1)
    report = {
        "instance": args.instance,
        "workflows": args.workflows,
        "rows": rows,
        "runs": [_row(m, rows) for m in (many, one, floor_many, floor_one)],
        "ratio_backfill_over_one_partition": round(many.seconds / one.seconds, 2),
        "overhead_ms_per_extra_partition": round((many.seconds - one.seconds) / extra * 1000, 1),
        # Dagster's own share: the floor's cost of the extra partitions, and what is left to us.
        "dagster_floor_ms_per_extra_partition": round(
            (floor_many.seconds - floor_one.seconds) / extra * 1000, 1
        ),
        "ours_ms_per_extra_partition_above_floor": round(
            ((many.seconds - one.seconds) - (floor_many.seconds - floor_one.seconds))
            / extra
            * 1000,
            1,
        ),
        "ratio_dagster_floor_backfill_over_one_partition": round(
            floor_many.seconds / one.seconds, 2
        ),
    }
    print(f"\n{rows} rows in jobs of {args.rows_per_workflow} rows")
    print(f"{'run':<36}{'s':>8}{'peak MB':>9}{'req':>7}{'res req':>8}")
    for r in report["runs"]:
        print(
            f"{r['name']:<36}{r['seconds']:>8}{r['peak_rss_mb']:>9}{r['requests']:>7}"
            f"{r['results_requests']:>8}"
        )
    print(
        f"backfill / one partition: {report['ratio_backfill_over_one_partition']} (target < 3); "
        f"{report['overhead_ms_per_extra_partition']} ms per extra partition"
    )
    print(
        f"Dagster floor backfill / our one partition: "
        f"{report['ratio_dagster_floor_backfill_over_one_partition']}; Dagster's own "
        f"{report['dagster_floor_ms_per_extra_partition']} ms per extra partition, ours "
        f"{report['ours_ms_per_extra_partition_above_floor']} ms above it"
    )
    write_report(args.out, f"bench_backfill_{args.workflows}_{args.instance}", report)
    return 0


if __name__ == "__main__":
    run_main(main)
