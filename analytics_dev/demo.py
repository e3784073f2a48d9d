"""`make demo` and `make dev`: the main job against the bundled simulator, or the UI.

    python -m analytics_dev.demo                        # full load of every asset and partition
    python -m analytics_dev.demo --serve [--port 3000]  # the UI (analytics_dev/dev.py)

When ANALYTICS_API_BASE_URL is set, both talk to that API instead of starting the simulator;
`--serve` also follows the project's `.env`, as `dg dev` does.
"""

import argparse
import os
import signal
import subprocess
import sys
import time

from analytics_assets import constants as c
from analytics_assets.settings import env_name, resolve_settings
from analytics_dev.dev import DEMO_KEY
from analytics_dev.simulator.process import spawn

# The run log stays in the Dagster instance (see `make dev`); the terminal gets the summary.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _configure(workflows: int) -> subprocess.Popen | None:
    if os.environ.get(env_name("base_url")):
        print(f"using the API at {os.environ[env_name('base_url')]}")
        return None
    proc, url = spawn("--workflows", str(workflows), "--api-key", DEMO_KEY)
    os.environ[env_name("base_url")] = url
    os.environ[env_name("api_key")] = DEMO_KEY
    print(f"simulator serving the API at {url}")
    return proc


def run_full_load() -> int:
    """Materialize the workspace assets, then every workflow partition with its check."""
    from dagster import DagsterInstance

    from analytics_assets.definitions import defs
    from analytics_assets.defs.partitions import range_tags
    from analytics_dev.summary import print_summary

    started = time.monotonic()
    instance = DagsterInstance.get()
    result = defs.resolve_job_def("workspace_job").execute_in_process(
        instance=instance, raise_on_error=False, run_config=QUIET
    )
    ok = result.success
    print(f"workspace_job: {'success' if ok else 'FAILED'}")
    # Every partition in one run (the single-run backfill policy), as a UI backfill does.
    uids = instance.get_dynamic_partitions(c.PARTITIONS_NAME)
    checks: dict[str, bool] = {}
    if uids:
        run = defs.resolve_job_def("workflow_partition_job").execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config=QUIET,
            tags=range_tags(uids[0], uids[-1]),
        )
        verdict = "success" if run.success else "FAILED"
        print(f"workflow_partition_job[{len(uids)} partitions]: {verdict}")
        ok = ok and run.success
        # One evaluation covers every partition of the run.
        for evaluation in run.get_asset_check_evaluations():
            checks.update(dict.fromkeys(uids, evaluation.passed))
    print_summary(resolve_settings(), checks, time.monotonic() - started)
    return 0 if ok and all(checks.values()) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="open the Dagster UI instead")
    parser.add_argument("--port", type=int, default=3000, help="the UI's port (with --serve)")
    parser.add_argument("--workflows", type=int, default=8, help="simulated workflows")
    args = parser.parse_args()
    if args.serve:
        from analytics_dev.dev import serve

        return serve(args.port, args.workflows)
    # Turn SIGTERM into an exit so the `finally` below stops the simulator process too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    simulator = _configure(args.workflows)
    try:
        return run_full_load()
    finally:
        if simulator is not None:
            simulator.terminate()
            simulator.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
