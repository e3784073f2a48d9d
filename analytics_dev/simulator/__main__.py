"""Run the simulator as a process: prints ``SIMULATOR_URL=...`` first, serves until SIGTERM/SIGINT.

python -m analytics_dev.simulator --port 8787 --seed 7 --envelope bare --next token
python -m analytics_dev.simulator --port 0 --latency-ms 40 --rate-limit 10
python -m analytics_dev.simulator --webhook-url http://127.0.0.1:3030/webhooks \
    --webhook-header "Authorization: Bearer <token>" --activity-seconds 5

With --webhook-url, jobs start and end on their own (--activity-seconds) and each start,
success and failure is POSTed there like the real API's webhooks (--webhook-drop loses some).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import threading

from analytics_dev.simulator.data import SimulatedData
from analytics_dev.simulator.render import ENVELOPES, NEXT_STYLES
from analytics_dev.simulator.scale import scaled_data
from analytics_dev.simulator.server import ApiSimulator
from analytics_dev.simulator.webhooks import ActivityLoop, JobActivity, WebhookDelivery


def _positive_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, not {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m analytics_dev.simulator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workflows", type=int, default=6)
    p.add_argument("--jobs-per-workflow", type=int, nargs=2, metavar=("MIN", "MAX"), default=(0, 8))
    p.add_argument(
        "--rows-per-job",
        type=int,
        metavar="N",
        help="every job with rows gets exactly N (default: random 0-250)",
    )
    p.add_argument(
        "--scale-rows",
        type=int,
        metavar="N",
        help="benchmark data: exactly N result rows over --workflows workflows in jobs of "
        "--rows-per-job rows (default 1000), plus one empty workflow",
    )
    p.add_argument("--envelope", choices=ENVELOPES, default="bare")
    p.add_argument("--next", dest="next_style", choices=NEXT_STYLES, default="token")
    p.add_argument("--page-size", type=int, default=100)
    # The environment variable keeps a key out of the process list when that matters.
    p.add_argument("--api-key", default=os.environ.get("SIMULATOR_API_KEY", "sim-secret-key"))
    p.add_argument("--project-id", default=None, help="require this x-project-id header")
    p.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="added to every API request, like a remote API's round trip (default 0)",
    )
    p.add_argument(
        "--rate-limit",
        type=_positive_float,
        default=None,
        metavar="R",
        help="plan limit: R requests/s per API key, a token bucket with a one-second burst; "
        "over it the API answers 429 with Retry-After (default: no limit)",
    )
    p.add_argument(
        "--workspace-rate-limit",
        type=_positive_float,
        default=None,
        metavar="R",
        help="a separate, stricter limit on /v3/workspace (its own bucket per key), as the "
        "vendor's quota endpoint has (default: the plan limit)",
    )
    _webhook_options(p)
    return p


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text!r}")
    return value


def _webhook_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--webhook-url", help="POST job webhooks here (default: none)")
    p.add_argument(
        "--webhook-header",
        default=os.environ.get("SIMULATOR_WEBHOOK_HEADER"),
        help="the custom header each delivery carries, 'Name: value' (default: "
        "$SIMULATOR_WEBHOOK_HEADER, which keeps a token out of the process list)",
    )
    p.add_argument("--webhook-drop", type=_share, default=0.0, help="share of deliveries lost")
    p.add_argument(
        "--activity-seconds",
        type=_positive_float,
        default=5.0,
        help="with --webhook-url: a new job starts every this many seconds (default 5)",
    )
    p.add_argument(
        "--job-seconds",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        default=(5.0, 30.0),
        help="how long a job runs before it ends (default 5 30)",
    )
    p.add_argument("--fail-share", type=_share, default=0.1, help="share of jobs that fail")


def _activity(args: argparse.Namespace, data: SimulatedData) -> ActivityLoop | None:
    if not args.webhook_url:
        return None
    delivery = WebhookDelivery(
        args.webhook_url, args.webhook_header, args.webhook_drop, seed=args.seed
    )
    loop = ActivityLoop(
        JobActivity(data, delivery),
        args.activity_seconds,
        tuple(args.job_seconds),
        args.fail_share,
        seed=args.seed,
    )
    loop.start()
    return loop


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT, then exit 0."""
    args = _parser().parse_args(argv)
    rows = (args.rows_per_job, args.rows_per_job) if args.rows_per_job is not None else (0, 250)
    if args.scale_rows is not None:
        data = scaled_data(args.scale_rows, args.workflows, args.rows_per_job or 1000, args.seed)
    else:
        data = SimulatedData(
            seed=args.seed,
            workflows=args.workflows,
            jobs_per_workflow=tuple(args.jobs_per_workflow),
            rows_per_job=rows,
        )
    sim = ApiSimulator(
        data,
        envelope=args.envelope,
        next_style=args.next_style,
        page_size=args.page_size,
        api_key=args.api_key,
        project_id=args.project_id,
        port=args.port,
        latency_seconds=args.latency_ms / 1000,
        rate_limit=args.rate_limit,
        workspace_rate_limit=args.workspace_rate_limit,
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    url = sim.start()
    # Flushed at once: a parent process blocks on this line to learn the port.
    print(f"SIMULATOR_URL={url}", flush=True)
    print(f"SIMULATOR_RESULT_ROWS={data.total_result_rows()}", flush=True)
    activity = _activity(args, data)
    while not stop.wait(0.2):  # a timed wait lets the signal handler run promptly
        pass
    if activity is not None:
        activity.stop()
    sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
