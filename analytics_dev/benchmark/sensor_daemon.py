"""The sensor as users run it: `dagster dev` from an empty instance to every partition loaded,
against one single-run backfill of the same partitions.

    python -m analytics_dev.benchmark.sensor_daemon [--workflows 1000] [--rate 5]
        [--latency-ms 50] [--interval 30] [--out bench_results]

Both sides get the same simulated data, each on a fresh simulator process (rate-limited plan
`--rate-limit RATE`, `ANALYTICS_API_RATE_LIMIT=RATE`), a fresh DAGSTER_HOME holding the
shipped `dagster_home/dagster.yaml` and a fresh DuckDB folder. About one workflow in 20 keeps
a running or pending job (the simulator's own mix has about one in four: the others' active
jobs are set to an ended status through `/_sim/mutate` before the clock starts).

(b) one single-run backfill, measured first since its time bounds the other's: `dagster asset
    materialize` for `workspace,workflows`, then for the per-workflow assets over
    `--partition-range first...last` of the registered partitions.
(a) daemon-driven: `dagster dev` (webserver and daemon) with the sensor running by default
    every `--interval` s; the clock runs from its start until every partition of
    `job_results` has a materialization and no run is queued or in flight (the instance is
    polled read-only from here every 2 s). Then it is stopped with SIGINT to its process
    group, as Ctrl-C does, and no process of its session may be left.

Target: (a) <= 2 x (b). Every wait is bounded by `--timeout` (whole bench, default 30 min);
past it the report says what was done so far.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import psutil
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

# Not exported by `dagster`: how the instance files a sensor's state and ticks.
from dagster._core.scheduler.instigation import InstigatorType

from analytics_assets import constants as c
from analytics_dev.simulator.data import SimulatedData
from analytics_dev.simulator.factories import random_total

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KEY = "bench-key-not-secret"
SEED = 7
MODULE = "analytics_assets.definitions"
SENSOR = "workflow_refresh_sensor"
TABLES = (c.WORKSPACE, c.WORKFLOWS, c.JOBS, c.SUCCESSFUL_JOBS, c.JOB_RESULTS)
PER_WORKFLOW = f"{c.JOBS},{c.SUCCESSFUL_JOBS},{c.JOB_RESULTS}"
ACTIVE = ("running", "pending")
# What a job that was running or pending becomes: the generator's own mix of ended statuses.
ENDED, ENDED_WEIGHTS = ("finished", "shutdown", "stopped", "warning"), (55, 9, 10, 10)
ENDED_ERRORS = {
    "shutdown": "Technical error.",
    "stopped": "Stopped by user.",
    "warning": "Warning.",
}
POLL_SECONDS = 2.0
STOP_SECONDS = 60.0
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
PARTITION = "dagster/partition"
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # dagster dev colours its log whatever NO_COLOR says


class BenchTimeout(Exception):
    """The bench's deadline passed; what was measured so far is in the report."""


@dataclass(frozen=True)
class Config:
    workflows: int = 1000
    rate: float = 5.0
    latency_ms: float = 50.0
    interval: int = 30
    jobs_per_workflow: tuple[int, int] = (1, 2)
    rows_per_job: int = 20
    page_size: int = 100
    active_share: float = 1 / 20
    timeout: float = 1800.0


@dataclass
class Side:
    """One measurement, filled in as it goes (a failure keeps what was done)."""

    name: str
    seconds: float | None = None
    ok: bool = False
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        seconds = None if self.seconds is None else round(self.seconds, 1)
        return {"name": self.name, "seconds": seconds, "ok": self.ok, "error": self.error} | (
            self.details
        )


# ------------------------------------------------------------------- the data
def simulated_data(cfg: Config) -> SimulatedData:
    """The same dataset the simulator process builds from the same arguments."""
    rows = (cfg.rows_per_job, cfg.rows_per_job)
    return SimulatedData(SEED, cfg.workflows, cfg.jobs_per_workflow, rows)


def active_plan(data: SimulatedData, cfg: Config) -> tuple[list[dict], dict[str, Any]]:
    """`update_job` mutations that leave about `active_share` of the workflows with a running
    or pending job (evenly spread, at least one); applied to `data` too, so that it stays
    what the simulator serves."""
    active = [
        w["uid"] for w in data.workflows if any(j["status"] in ACTIVE for j in data.jobs[w["uid"]])
    ]
    generated_rows = data.total_result_rows()
    want = max(1, round(len(data.workflows) * cfg.active_share)) if active else 0
    keep = {active[k * len(active) // want] for k in range(want)} if want < len(active) else set()
    keep = keep or set(active)
    rng = random.Random(SEED)
    rows = (cfg.rows_per_job, cfg.rows_per_job)
    mutations = []
    for uid in active:
        if uid in keep:
            continue
        for job in data.jobs[uid]:
            if job["status"] not in ACTIVE:
                continue
            status = rng.choices(ENDED, ENDED_WEIGHTS)[0]
            total = random_total(rng, status, rows)
            started = job["start_time"] or job["scheduled_time"]
            finished = _iso_plus(started, 600)
            fields = {
                "status": status,
                "total_row_count": total,
                "row_count": total if status == "finished" or not total else total // 2,
                "start_time": started,
                "finish_time": finished,
                "error_message": ENDED_ERRORS.get(status),
            }
            data.update_job(job["uid"], **fields)
            mutations.append({"op": "update_job", "job_uid": job["uid"], **fields})
    jobs = data.all_jobs()
    share = {
        "workflows": len(data.workflows),
        "with_active_job_generated": len(active),
        "with_active_job": len(keep),
        "jobs": len(jobs),
        "jobs_running_or_pending": sum(j["status"] in ACTIVE for j in jobs),
        "successful_jobs": sum(1 for w in data.workflows for _ in data.successful_jobs(w["uid"])),
        "result_rows_generated": generated_rows,
        "result_rows_served": data.total_result_rows(),
        "jobs_changed": len(mutations),
    }
    return mutations, share


def _iso_plus(stamp: str, seconds: int) -> str:
    from datetime import datetime, timedelta

    return (datetime.fromisoformat(stamp) + timedelta(seconds=seconds)).isoformat()


# ------------------------------------------------------------------- the simulator
def sim_call(url: str, action: str, payload: dict | None = None) -> dict:
    """A control endpoint: GET stats/requests, POST reset/mutate (never rate-limited)."""
    method = "GET" if action in ("stats", "requests") else "POST"
    body = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(f"{url}/_sim/{action}", data=body, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


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
            sim_call(url, "mutate", mutation)
        sim_call(url, "reset")
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def sim_counts(url: str) -> dict[str, int]:
    """Requests by kind, 429s and the most in flight at once, since the last reset."""
    stats = sim_call(url, "stats")
    records = sim_call(url, "requests")["requests"]
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


# ------------------------------------------------------------------- processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_signals() -> None:
    # A background shell may start us with SIGINT ignored; dagster dev stops on SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _session_members(sid: int) -> list[psutil.Process]:
    """Live processes of session `sid` (every process started in it, however deep)."""
    found = []
    for proc in psutil.process_iter(["status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if os.getsid(proc.pid) == sid:
                found.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return found


def stop_session(proc: subprocess.Popen, grace: float = STOP_SECONDS) -> dict[str, Any]:
    """SIGINT to the process group (Ctrl-C), then SIGKILL to whatever of its session is left;
    returns what it took and what had to be killed."""
    started = time.monotonic()
    killed: list[str] = []
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            killed.append(f"{proc.pid} (the leader)")
    deadline = time.monotonic() + 15
    while (left := _session_members(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.5)  # children of a clean stop may take a moment after their parent
    for member in left:
        with contextlib.suppress(psutil.Error):
            killed.append(f"{member.pid} {' '.join(member.cmdline())[:120]}")
            member.kill()
    time.sleep(0.2)
    return {
        "stop_seconds": round(time.monotonic() - started, 1),
        "exit_code": proc.returncode,
        "killed": killed,
        "left_running": [p.pid for p in _session_members(proc.pid)],
    }


def run_cli(cmd: list[str], env: dict[str, str], cwd: Path, log: Path, deadline: float) -> float:
    """One `dagster` command, bounded by the deadline; its seconds."""
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            stop_session(proc, grace=10)
            raise BenchTimeout(f"{' '.join(cmd[1:5])} still running at the deadline") from None
    seconds = time.perf_counter() - started
    if code != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(cmd[1:])} exited {code}:\n{tail}")
    return seconds


# ------------------------------------------------------------------- instance and warehouse
def side_env(url: str, home: Path, warehouse: Path, cfg: Config) -> dict[str, str]:
    home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANALYTICS_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home),
        ANALYTICS_API_BASE_URL=url,
        ANALYTICS_API_KEY=KEY,
        ANALYTICS_DUCKDB_PATH=str(warehouse),
        ANALYTICS_API_RATE_LIMIT=f"{cfg.rate:g}",
        ANALYTICS_SENSOR_INTERVAL_SECONDS=str(cfg.interval),
        NO_COLOR="1",
    )
    return env


def table_counts(warehouse: Path) -> dict[str, int]:
    """Rows per table, read-only, after every writer stopped."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {
            t: _one(con.execute(f"SELECT count(*) FROM {c.DATASET_NAME}.{t}").fetchone())
            for t in TABLES
        }


def _one(row: tuple | None) -> int:
    assert row is not None  # count(*) always answers one row
    return int(row[0])


IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def load_progress(instance: DagsterInstance, workflows: int) -> dict[str, Any]:
    """Registered and materialized partitions, and runs in flight, as the instance has them."""
    registered = list(instance.get_dynamic_partitions(c.PARTITIONS_NAME))
    loaded = instance.get_materialized_partitions(AssetKey(c.JOB_RESULTS))
    in_flight = instance.get_runs_count(RunsFilter(statuses=IN_FLIGHT))
    done = len(registered) == workflows and loaded >= set(registered) and in_flight == 0
    return {
        "registered": len(registered),
        "loaded": len(loaded & set(registered)),
        "runs": instance.get_runs_count(),
        "in_flight": in_flight,
        "done": done,
    }


def runs_report(instance: DagsterInstance, t0_epoch: float) -> list[dict[str, Any]]:
    """Every run, oldest first: job, status, partitions, and when it was created, started
    and ended (seconds from the clock's start)."""
    order = list(instance.get_dynamic_partitions(c.PARTITIONS_NAME))
    position = {u: i for i, u in enumerate(order)}

    def at(stamp: float | None) -> float | None:
        return None if stamp is None else round(stamp - t0_epoch, 1)

    rows = []
    for record in sorted(instance.get_run_records(), key=lambda r: r.create_timestamp):
        run, tags = record.dagster_run, record.dagster_run.tags
        first, last = tags.get(RANGE_START), tags.get(RANGE_END)
        if first is None and PARTITION in tags:
            first = last = tags[PARTITION]
        positions = None
        if first in position and last in position:
            positions = [position[first], position[last]]
        rows.append(
            {
                "run_id": run.run_id[:8],
                "job": run.job_name,
                "status": run.status.value,
                "first": first,
                "last": last,
                "partition_positions": positions,
                "partitions": None if positions is None else positions[1] - positions[0] + 1,
                "created_at": at(record.create_timestamp.timestamp()),
                "started_at": at(record.start_time),
                "ended_at": at(record.end_time),
            }
        )
    return rows


def ticks_report(instance: DagsterInstance, t0_epoch: float) -> dict[str, Any]:
    """The sensor's ticks: count, statuses, when each started and how long it took."""
    states = [
        s
        for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        if s.instigator_name == SENSOR
    ]
    if not states:
        return {"ticks": 0, "note": "no instigator state stored for the sensor"}
    ticks = instance.get_ticks(states[0].instigator_origin_id, states[0].selector_id)
    ticks = sorted(ticks, key=lambda t: t.timestamp)
    return {
        "ticks": len(ticks),
        "statuses": dict(Counter(t.status.value for t in ticks)),
        "each": [
            {
                "at": round(t.timestamp - t0_epoch, 1),
                "seconds": None
                if t.end_timestamp is None
                else round(t.end_timestamp - t.timestamp, 1),
                "status": t.status.value,
                "runs": len(t.run_ids),
            }
            for t in ticks
        ],
    }


def max_concurrent(runs: list[dict[str, Any]]) -> int:
    events = []
    for r in runs:
        if r["started_at"] is not None:
            events.append((r["started_at"], 1))
            events.append((r["ended_at"] if r["ended_at"] is not None else math.inf, -1))
    best = now = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        now += step
        best = max(best, now)
    return best


# ------------------------------------------------------------------- (b) one backfill
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


# ------------------------------------------------------------------- (a) the daemon
def _serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as r:
            return r.status == 200
    except (OSError, urllib.error.URLError):
        return False


def measure_daemon(cfg: Config, url: str, work: Path, deadline: float, side: Side) -> None:
    home, warehouse = work / "dagster_home", work / "warehouse" / "daemon.duckdb"
    env = side_env(url, home, warehouse, cfg)
    port = _free_port()
    log_path = work / "dagster_dev.log"
    cmd = [str(BIN / "dagster"), "dev", "-m", MODULE, "-h", "127.0.0.1", "-p", str(port)]
    milestones: dict[str, float] = {}
    t0_epoch, t0 = time.time(), time.perf_counter()
    try:
        with log_path.open("w") as log:
            # Its own session: the stop signal reaches every process it starts, and only
            # those. The cwd holds no .env (`dagster dev` would load one over this env).
            proc = subprocess.Popen(
                cmd,
                cwd=work,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_default_signals,
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
            most_processes = max(most_processes, len(_session_members(proc.pid)))
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


# ------------------------------------------------------------------- the bench
def product_version() -> str:
    """A digest of the product's source as it is on disk (the simulator included, this
    bench not): every `dagster` process imports it when it starts, so an edit mid-bench
    would mix versions."""
    digest = hashlib.sha1()
    package = ROOT / "analytics_assets"
    for path in sorted(package.rglob("*.py")):
        if "benchmark" not in path.relative_to(package).parts:
            digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def run(cfg: Config, work: Path) -> dict[str, Any]:
    deadline = time.monotonic() + cfg.timeout
    versions = [product_version()]
    data = simulated_data(cfg)
    mutations, share = active_plan(data, cfg)
    report: dict[str, Any] = {
        "config": cfg.__dict__ | {"jobs_per_workflow": list(cfg.jobs_per_workflow)}
    }
    report["data"] = share
    sides = {"backfill": Side("(b) one single-run backfill"), "daemon": Side("(a) dagster dev")}
    for key, measure in (("backfill", measure_backfill), ("daemon", measure_daemon)):
        side = sides[key]
        folder = work / key
        folder.mkdir()
        try:
            with simulator(cfg, mutations, share["result_rows_generated"]) as (url, pid):
                side.details["simulator_pid"] = pid
                try:
                    measure(cfg, url, folder, deadline, side)
                finally:
                    side.details["simulator"] = sim_counts(url)
        except Exception as exc:  # the report says what failed, and what was done before
            side.ok = False
            side.error = f"{type(exc).__name__}: {exc}"[-3000:]
        wh = folder / "warehouse" / f"{key}.duckdb"
        if wh.exists():
            try:
                side.details["row_counts"] = table_counts(wh)
            except duckdb.Error as exc:
                side.details["row_counts_error"] = str(exc)
        versions.append(product_version())
    report["product_versions"] = versions  # at the start, after (b), after (a)
    report["sides"] = {k: s.as_dict() for k, s in sides.items()}
    a, b = sides["daemon"], sides["backfill"]
    ratio = a.seconds / b.seconds if a.seconds and b.seconds else None
    report["ratio_daemon_over_backfill"] = None if ratio is None else round(ratio, 2)
    report["target_ratio"] = 2.0
    report["target_met"] = bool(a.ok and b.ok and ratio is not None and ratio <= 2.0)
    gave_up = a.details.get("gave_up_after_seconds")
    if gave_up and b.seconds:
        # Not done in the time it had: the ratio is at least this.
        report["ratio_daemon_over_backfill_at_least"] = round(gave_up / b.seconds, 2)
        report["note"] = (
            f"(a) gave up after {gave_up} s with {a.details.get('progress')}: (a)/(b) >= "
            f"{report['ratio_daemon_over_backfill_at_least']}"
        )
    counts = [s.details.get("row_counts") for s in (a, b)]
    report["row_counts_equal"] = counts[0] is not None and counts[0] == counts[1]
    return report


def format_report(report: dict[str, Any]) -> str:
    cfg, data, sides = report["config"], report["data"], report["sides"]
    lines = [
        f"W={cfg['workflows']} workflows, {data['jobs']} jobs ({data['successful_jobs']} "
        f"successful, {data['result_rows_served']} result rows); simulator latency "
        f"{cfg['latency_ms']:g} ms, plan {cfg['rate']:g} req/s, sensor interval "
        f"{cfg['interval']} s",
        f"workflows with a running/pending job: {data['with_active_job']} of "
        f"{data['workflows']} ({data['with_active_job'] / max(data['workflows'], 1):.1%}; the "
        f"generator made {data['with_active_job_generated']}, {data['jobs_changed']} jobs set "
        "to an ended status)",
        "",
        f"{'side':<30}{'s':>8}{'runs':>6}{'req':>7}{'429':>6}{'wf':>5}{'jobs':>6}{'res':>6}  ok",
    ]
    for side in (sides["daemon"], sides["backfill"]):
        sim = side.get("simulator", {})
        lines.append(
            f"{side['name']:<30}{side['seconds'] if side['seconds'] is not None else '-':>8}"
            f"{side.get('runs_launched', '-'):>6}{sim.get('requests', '-'):>7}"
            f"{sim.get('429s', '-'):>6}{sim.get('workflows_requests', '-'):>5}"
            f"{sim.get('jobs_requests', '-'):>6}{sim.get('results_requests', '-'):>6}"
            f"  {'yes' if side['ok'] else 'NO: ' + str(side['error'])[:300]}"
        )
    b, a = sides["backfill"], sides["daemon"]
    if "workspace_seconds" in b:
        lines.append(
            f"(b) = workspace,workflows {b['workspace_seconds']} s + --partition-range "
            f"{b.get('range_seconds', '-')} s"
        )
    if "milestones_seconds" in a:
        m = a["milestones_seconds"]
        lines.append(
            "(a) milestones (s from start): "
            + ", ".join(f"{k} {v}" for k, v in m.items())
            + f"; ticks {a.get('ticks', {}).get('ticks', '-')}, most runs at once "
            f"{a.get('max_concurrent_runs_observed', '-')}"
        )
    for r in a.get("runs", []):
        part = (
            f"partitions {r['partition_positions'][0]}..{r['partition_positions'][1]} "
            f"({r['partitions']})"
            if r["partition_positions"]
            else "no partition"
        )
        lines.append(
            f"    run {r['run_id']} {r['job']:<24} {r['status']:<8} {part:<26} created "
            f"{r['created_at']} started {r['started_at']} ended {r['ended_at']}"
        )
    if "stop" in a:
        s = a["stop"]
        lines.append(
            f"(a) stopped in {s['stop_seconds']} s (exit {s['exit_code']}); killed "
            f"{s['killed'] or 'nothing'}; left running {s['left_running'] or 'nothing'}"
        )
    ratio = report["ratio_daemon_over_backfill"]
    lines.append(
        f"row counts equal: {report['row_counts_equal']} "
        f"({a.get('row_counts')} vs {b.get('row_counts')})"
    )
    lines.append(
        f"(a)/(b) = {ratio if ratio is not None else '-'} (target <= 2): "
        f"{'met' if report['target_met'] else 'NOT met'}"
    )
    if report.get("note"):
        lines.append(report["note"])
    if len(set(report.get("product_versions", []))) > 1:
        lines.append(
            "WARNING: the product changed during the bench (start, after (b), after (a)): "
            f"{report['product_versions']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    report["commit"] = head.stdout.strip() or None
    print(format_report(report))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{args.name}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {path}; bench took {report['bench_seconds']} s")
    return 0 if report["sides"]["daemon"]["ok"] and report["sides"]["backfill"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
