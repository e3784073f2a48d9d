"""The two measurements: (b) one single-run backfill, (a) `dagster dev` with the sensor."""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from dagster import DagsterInstance

from analytics_assets import constants as c
from analytics_dev.benchmark.common import BIN, free_port
from analytics_dev.benchmark.sensor_daemon.config import (
    MODULE,
    PER_WORKFLOW,
    BenchTimeout,
    Config,
    Side,
)
from analytics_dev.benchmark.sensor_daemon.instance import (
    load_progress,
    max_concurrent,
    runs_report,
    side_env,
    ticks_report,
)
from analytics_dev.benchmark.sensor_daemon.processes import (
    default_signals,
    run_cli,
    session_members,
    stop_session,
)
from analytics_dev.benchmark.sensor_daemon.simulator import sim_counts

POLL_SECONDS = 2.0
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # dagster dev colours its log whatever NO_COLOR says


def measure_backfill(cfg: Config, url: str, work: Path, deadline: float, side: Side) -> None:
    home, warehouse = work / "dagster_home", work / "warehouse" / "backfill.duckdb"
    env = side_env(url, home, warehouse, cfg)
    cli = [str(BIN / "dagster"), "asset", "materialize", "-m", MODULE]
    t0_epoch = time.time()
    workspace = run_cli(
        [*cli, "--select", f"{c.WORKSPACE},{c.WORKFLOWS}"], env, work, work / "ws.log", deadline
    )
    side.details["workspace_seconds"] = round(workspace, 1)
    side.details["workspace_requests"] = sim_counts(url)["requests"]
    with DagsterInstance.from_config(str(home)) as instance:
        uids = list(instance.get_dynamic_partitions(c.PARTITIONS_NAME))
    side.details["partitions_registered"] = len(uids)
    target = ["--partition-range", f"{uids[0]}...{uids[-1]}"]
    backfill = run_cli(
        [*cli, "--select", PER_WORKFLOW, *target], env, work, work / "range.log", deadline
    )
    side.details["range_seconds"] = round(backfill, 1)
    side.seconds = workspace + backfill
    with DagsterInstance.from_config(str(home)) as instance:
        progress = load_progress(instance, cfg.workflows)
        side.details["runs"] = runs_report(instance, t0_epoch)
    side.details["progress"] = progress
    side.details["runs_launched"] = len(side.details["runs"])
    side.ok = progress["done"]
    if not side.ok:
        side.error = f"not every partition loaded: {progress}"


def _serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as r:
            return r.status == 200
    except (OSError, urllib.error.URLError):
        return False


def measure_daemon(cfg: Config, url: str, work: Path, deadline: float, side: Side) -> None:
    home, warehouse = work / "dagster_home", work / "warehouse" / "daemon.duckdb"
    env = side_env(url, home, warehouse, cfg)
    port = free_port()
    log_path = work / "dagster_dev.log"
    cmd = [str(BIN / "dagster"), "dev", "-m", MODULE, "-h", "127.0.0.1", "-p", str(port)]
    milestones: dict[str, float] = {}
    t0_epoch, t0 = time.time(), time.perf_counter()
    try:
        with log_path.open("w") as log:
            # Own session: SIGINT reaches all it starts; the cwd has no .env to override env.
            proc = subprocess.Popen(
                cmd,
                cwd=work,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=default_signals,
            )
            side.details["pid"] = proc.pid
            try:
                _await_loaded(cfg, proc, port, home, log_path, deadline, t0, side, milestones)
            finally:
                if not side.ok:
                    side.details["gave_up_after_seconds"] = round(time.perf_counter() - t0, 1)
                side.details["stop"] = stop_session(proc)
    finally:  # what happened, whether it ended in time or not
        try:
            _record_daemon(home, log_path, t0_epoch, side, milestones)
        except Exception as exc:  # never hides why the measurement itself failed
            side.details["record_error"] = f"{type(exc).__name__}: {exc}"


def _await_loaded(
    cfg: Config,
    proc: subprocess.Popen,
    port: int,
    home: Path,
    log_path: Path,
    deadline: float,
    t0: float,
    side: Side,
    milestones: dict[str, float],
) -> None:
    """Poll until every partition is loaded and no run is in flight (side.ok), or raise."""
    most_processes = 0
    with contextlib.ExitStack() as stack:
        instance = None
        while True:
            now = time.perf_counter() - t0
            if time.monotonic() > deadline:
                raise BenchTimeout(f"not done at the deadline: {side.details.get('progress')}")
            if proc.poll() is not None:
                tail = ANSI.sub("", log_path.read_text(errors="replace"))[-3000:]
                raise RuntimeError(f"dagster dev exited {proc.returncode}:\n{tail}")
            most_processes = max(most_processes, len(session_members(proc.pid)))
            side.details["most_processes_in_session"] = most_processes
            if instance is None and _serving(port):
                milestones.setdefault("serving", now)
                # The webserver made the instance's storage: reading it is safe now.
                instance = stack.enter_context(DagsterInstance.from_config(str(home)))
            if instance is not None:
                progress = side.details["progress"] = load_progress(instance, cfg.workflows)
                if progress["loaded"]:
                    milestones.setdefault("first_partition_loaded", now)
                if progress["done"]:
                    side.seconds = time.perf_counter() - t0
                    milestones["all_loaded_seen"] = side.seconds
                    side.ok = True
                    return
            time.sleep(POLL_SECONDS)


def _record_daemon(
    home: Path, log_path: Path, t0_epoch: float, side: Side, milestones: dict[str, float]
) -> None:
    """Runs, ticks and the sensor's log lines, read after dagster dev stopped."""
    if (home / "history").exists():  # the instance's storage exists: dagster dev got that far
        with DagsterInstance.from_config(str(home)) as instance:
            runs = runs_report(instance, t0_epoch)
            side.details["ticks"] = ticks_report(instance, t0_epoch)
    else:
        runs = []
    side.details["runs"] = runs
    side.details["runs_launched"] = len(runs)
    side.details["max_concurrent_runs_observed"] = max_concurrent(runs)
    # The sensor's own line per tick, as dagster dev prints it.
    text = ANSI.sub("", log_path.read_text(errors="replace")) if log_path.exists() else ""
    side.details["sensor_log"] = [
        line[line.index("tick ") :].strip()
        for line in text.splitlines()
        if "tick " in line and ": checked " in line
    ]
    ticks = side.details.get("ticks", {}).get("each", [])
    if ticks:
        milestones["first_tick"] = ticks[0]["at"]
    created = [r["created_at"] for r in runs if r["created_at"] is not None]
    if created:
        milestones["first_run_created"] = min(created)
    ended = [r["ended_at"] for r in runs if r["ended_at"] is not None]
    if ended:
        milestones["last_run_ended"] = max(ended)
    side.details["milestones_seconds"] = {
        k: round(v, 1) for k, v in sorted(milestones.items(), key=lambda kv: kv[1])
    }
