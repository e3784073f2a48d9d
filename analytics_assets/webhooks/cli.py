"""`analytics-webhooks`: the receiver of the API's job webhooks, for the instances of one code
location, recording into the Dagster instance of DAGSTER_HOME.

    analytics-webhooks --host 0.0.0.0 --port 3030 -m analytics_assets.definitions
"""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn
from dagster import DagsterInstance

from analytics_assets.settings import AnalyticsConfigError
from analytics_assets.webhooks.app import build_app
from analytics_assets.webhooks.store import EventStore
from analytics_assets.webhooks.targets import load_targets


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="analytics-webhooks", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    p.add_argument("--port", type=int, default=3030, help="default 3030")
    p.add_argument(
        "-m",
        "--module-name",
        default="analytics_assets.definitions",
        help="the code location whose instances it serves, as `dagster dev -m` takes it",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; exit 2, naming the variable, if a setting is missing."""
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("analytics_webhooks").addHandler(handler)
    logging.getLogger("analytics_webhooks").setLevel(logging.INFO)
    try:
        targets = load_targets(args.module_name)
    except AnalyticsConfigError as exc:
        print(f"analytics-webhooks: {exc}", file=sys.stderr)
        return 2
    instance = DagsterInstance.get()
    app = build_app(targets, EventStore(instance))
    routes = ", ".join(sorted(t.route for t in targets.values()))
    print(f"analytics-webhooks: POST {routes} on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
