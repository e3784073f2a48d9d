"""`make bench-webhooks`: the push path, measured.

1. The receiver alone: EVENTS events from SENDERS concurrent senders on loopback, on the SQLite
   instance of `make dev` and on a Postgres instance (deploy/dagster.yaml): events/s, answer
   p50/p99, and every event stored exactly once.
2. End to end under `dagster dev` with the receiver: JOBS jobs ending over SPREAD seconds, half
   of the workflows with a webhook, half polling only; delivery -> rows committed, p50/p95.

    python -m analytics_dev.benchmark.webhooks [--only receiver|e2e] [--jobs 60] [--spread 180]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from pathlib import Path
from typing import Any

from analytics_dev.benchmark.common import dagster_home, run_main, tree_state, write_report
from analytics_dev.benchmark.webhooks import end_to_end
from analytics_dev.benchmark.webhooks.receiver import measure
from analytics_dev.postgres import PASSWORD, USER, running_server


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--only", choices=("receiver", "e2e"), default=None)
    p.add_argument("--events", type=int, default=1000)
    p.add_argument("--senders", type=int, default=20)
    p.add_argument("--jobs", type=int, default=60)
    p.add_argument("--spread", type=float, default=180.0, help="seconds over which jobs end")
    p.add_argument("--poll-interval", type=int, default=60, help="the refresh sensor's, seconds")
    p.add_argument(
        "--webhook-interval", type=int, default=None, help="the webhook sensor's (default 10)"
    )
    p.add_argument("--ports", type=int, nargs=2, default=(3210, 3211), metavar=("UI", "RECEIVER"))
    p.add_argument("--out", default="data/bench")
    return p


def _receiver_alone(work: Path, events: int, senders: int) -> dict[str, Any]:
    sqlite = measure(dagster_home(work / "sqlite"), work / "sqlite.log", events, senders, "sq")
    print(f"receiver, SQLite: {sqlite}")
    postgres: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(running_server())
        except Exception as exc:  # no server here: report it, keep the SQLite figures
            return {"sqlite": sqlite, "postgres": {"skipped": str(exc)}}
        database = stack.enter_context(server.database())
        env = {
            "DAGSTER_PG_HOST": server.host,
            "DAGSTER_PG_PORT": str(server.port),
            "DAGSTER_PG_DB": database,
            "DAGSTER_PG_USERNAME": USER,
            "DAGSTER_PG_PASSWORD": PASSWORD,
        }
        home = dagster_home(work / "postgres", "deploy/dagster.yaml")
        postgres = measure(home, work / "postgres.log", events, senders, "pg", **env)
        postgres["note"] = "the throwaway test cluster runs with fsync=off"
    print(f"receiver, Postgres: {postgres}")
    return {"sqlite": sqlite, "postgres": postgres}


def main() -> int:
    args = _parser().parse_args()
    report: dict[str, Any] = {"tree": tree_state()}
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        work = Path(tmp)
        if args.only in (None, "receiver"):
            report["receiver"] = _receiver_alone(work / "receiver", args.events, args.senders)
        if args.only in (None, "e2e"):
            (work / "e2e").mkdir()
            e2e = end_to_end.run(
                work / "e2e",
                args.jobs,
                args.spread,
                (args.poll_interval, args.webhook_interval),
                tuple(args.ports),
            )
            print(f"end to end: {e2e}")
            report["end_to_end"] = e2e
    write_report(args.out, "webhooks", report)
    return 0


if __name__ == "__main__":
    run_main(main)
