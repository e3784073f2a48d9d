"""`make demo` and `make dev`: the main job against the bundled simulator, or the UI.

    python -m analytics_dev.demo            # full load of every asset and partition
    python -m analytics_dev.demo --serve    # dagster dev against the simulator

When ANALYTICS_API_BASE_URL is set, both talk to that API instead of starting the simulator.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from analytics_assets import constants as c
from analytics_assets.settings import env_name, resolve_settings
from analytics_dev import dev_webhooks
from analytics_dev.simulator.process import spawn

DEMO_KEY = "demo-key-not-secret"
# The run log stays in the Dagster instance (see `make dev`); the terminal gets the summary.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _configure(workflows: int, serve: bool = False) -> subprocess.Popen | None:
    if os.environ.get(env_name("base_url")):
        print(f"using the API at {os.environ[env_name('base_url')]}")
        return None
    pushed = dev_webhooks.simulator_args() if serve else []  # `make dev`: jobs push webhooks
    proc, url = spawn("--workflows", str(workflows), "--api-key", DEMO_KEY, *pushed)
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


def serve() -> int:
    """`dagster dev` from the repo root (webserver on 127.0.0.1:3000 and the daemon)."""
    root = Path(__file__).resolve().parent.parent
    cmd = [str(Path(sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1", "-p", "3000"]
    receiver = dev_webhooks.start_receiver()
    ui = subprocess.Popen(cmd, cwd=root)
    try:
        return ui.wait()
    finally:
        dev_webhooks.stop(receiver)
        if ui.poll() is None:  # we were stopped: stop dagster dev (it stops its children)
            ui.terminate()
            ui.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="open the Dagster UI instead")
    parser.add_argument("--workflows", type=int, default=8, help="simulated workflows")
    args = parser.parse_args()
    # Turn SIGTERM into an exit so the `finally` below stops the simulator process too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    simulator = _configure(args.workflows, serve=args.serve)
    try:
        return serve() if args.serve else run_full_load()
    finally:
        if simulator is not None:
            simulator.terminate()
            simulator.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
