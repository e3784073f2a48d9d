"""`make bench-remote`: ours and plain dlt against a remote-like API that enforces a plan's rate.

    python -m analytics_dev.benchmark.remote [--scenarios a,b] [--quick] [--out bench_results]

Each scenario gets its own simulator (`--latency-ms`, `--rate-limit`), DAGSTER_HOME and DuckDB
folder; every request stays on loopback.

- paced-200ms-10rps, paced-50ms-2rps: ours with `ANALYTICS_API_RATE_LIMIT` set to the plan.
  The workspace command, the empty partition (the fixed cost, the median of --repeat runs),
  then the data partition while one sensor tick runs in another process on the same key and
  budget. The tick starts once the data run's first request has been answered (`--tick-at
  first-request`; `launch` starts it with the run, when its requests end before the run's
  first). The data path (data run - empty run) is compared with the physical limit (result
  pages / plan rate). Then plain dlt (benchmark/baseline.py) under the same limit.
- learned: nothing configured; for each plan and ANALYTICS_API_FETCH_CONCURRENCY, a fresh
  warehouse folder (so nothing is learned beforehand) loads one partition; the partitions are
  registered once in the Dagster instance, as the workspace asset does, with no request.

Requests are told apart by the simulator's request log: the CLI runs send
`ANALYTICS_PROJECT_ID=bench-run`, the tick `bench-sensor-tick` (the simulator checks no project;
the budget and the simulator's bucket are per API key, so the label changes nothing else).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analytics_dev.benchmark.measure import sim_control

ROOT = Path(__file__).resolve().parents[2]
KEY = "bench-key-not-secret"
BIN = Path(sys.executable).parent
PAGE_SIZE = 1000
RUN_LABEL = "bench-run"
TICK_LABEL = "bench-sensor-tick"
TICK_PREFIX = "SENSOR_TICK="
COMMAND_TIMEOUT = 600.0

# Targets (see the module docstring).
MAX_RATIO_DATA_PATH_OVER_PHYSICAL = 1.2
MAX_SHARE_429_PACED = 0.02
MAX_SHARE_429_LEARNED = 0.10


# ----------------------------------------------------------------------------- scenarios
@dataclass(frozen=True)
class Data:
    """`--scale-rows rows --workflows workflows --rows-per-job rows_per_job` (+1 empty)."""

    rows: int
    rows_per_job: int
    workflows: int = 1

    def sizes(self) -> list[int]:
        full, rest = divmod(self.rows, self.rows_per_job)
        return [self.rows_per_job] * full + ([rest] if rest else [])

    @property
    def jobs(self) -> int:
        return len(self.sizes())

    @property
    def pages(self) -> int:
        """Result pages of the whole data: each job's rows in pages of PAGE_SIZE."""
        return sum(math.ceil(size / PAGE_SIZE) for size in self.sizes())


@dataclass(frozen=True)
class Paced:
    name: str
    latency_ms: float
    rate: float
    data: Data


@dataclass(frozen=True)
class Learned:
    name: str
    latency_ms: float
    plans: tuple[float, ...]
    concurrencies: tuple[int, ...]
    data: Data


Scenario = Paced | Learned


def scenarios(quick: bool, scale: int = 1) -> dict[str, Scenario]:
    """The default sizes (the paced ones times `scale`), or tiny ones for the test (`--quick`:
    a fast plan, 20 ms)."""
    if quick:
        tiny = Data(rows=6000, rows_per_job=2000)  # 3 jobs x 2 pages
        return {
            "paced-200ms-10rps": Paced("paced-200ms-10rps", 20, 20, tiny),
            "paced-50ms-2rps": Paced("paced-50ms-2rps", 20, 20, tiny),
            "learned": Learned("learned", 20, (5,), (4,), Data(8000, 1000)),  # 8 jobs x 1 page
        }
    return {
        # 20 jobs x 5 pages = 100 result pages: 10 s at the plan.
        "paced-200ms-10rps": Paced("paced-200ms-10rps", 200, 10, Data(100_000 * scale, 5000)),
        # 8 jobs x 5 pages = 40 result pages: 20 s at the plan.
        "paced-50ms-2rps": Paced("paced-50ms-2rps", 50, 2, Data(40_000 * scale, 5000)),
        # 20 jobs x 1 page: jobs are fetched side by side, so a high concurrency can burst.
        "learned": Learned("learned", 50, (1, 2), (1, 4, 16), Data(20_000, 1000)),
    }


# ----------------------------------------------------------------------------- simulator
class Simulator:
    """The bundled simulator as a subprocess, and its /_sim/ control endpoints."""

    def __init__(self, data: Data, latency_ms: float, rate_limit: float | None) -> None:
        cmd = [
            *(sys.executable, "-m", "analytics_dev.simulator", "--port", "0"),
            *("--scale-rows", str(data.rows), "--workflows", str(data.workflows)),
            *("--rows-per-job", str(data.rows_per_job), "--page-size", str(PAGE_SIZE)),
            *("--envelope", "data", "--api-key", KEY, "--latency-ms", f"{latency_ms:g}"),
        ]
        if rate_limit is not None:
            cmd += ["--rate-limit", f"{rate_limit:g}"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        line = self.proc.stdout.readline().strip() if self.proc.stdout else ""
        if not line.startswith("SIMULATOR_URL="):
            self.stop()
            raise RuntimeError(f"the simulator did not start: {line!r}")
        self.url = line.split("=", 1)[1]
        request = urllib.request.Request(f"{self.url}/v3/workflows", headers={"x-api-key": KEY})
        with urllib.request.urlopen(request, timeout=30) as response:
            self.uids = [w["uid"] for w in json.loads(response.read())["data"]]
        self.reset()

    def reset(self) -> None:
        """Requests log, stats and faults cleared; every key's bucket refilled."""
        sim_control(self.url, "reset")

    def records(self) -> list[dict]:
        return list(sim_control(self.url, "requests").get("requests", []))

    def stats(self) -> dict:
        return sim_control(self.url, "stats")

    def set_rate_limit(self, rate: float | None) -> None:
        body = json.dumps({"rate_limit": rate}).encode()
        request = urllib.request.Request(
            f"{self.url}/_sim/config",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ----------------------------------------------------------------------------- commands
@dataclass
class Run:
    """One command: wall seconds, exit code, and the API requests it made."""

    name: str
    seconds: float
    returncode: int
    started: float  # time.monotonic(), the clock of the simulator's request records
    finished: float
    output: str
    records: list[dict] = field(default_factory=list)
    max_in_flight: int = 0

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Launched:
    """A command running in the background; `finish()` waits and returns its Run."""

    def __init__(self, name: str, cmd: list[str], env: dict, log: Path) -> None:
        self.name = name
        self.log = log
        self.finished: float | None = None
        with log.open("w") as out:
            self.started = time.monotonic()
            self.proc = subprocess.Popen(
                cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        self._waiter = threading.Thread(target=self._wait, daemon=True)
        self._waiter.start()

    def _wait(self) -> None:
        try:
            self.proc.wait(timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # reported as a failure (returncode -9), not a hung bench
            self.proc.wait()
        self.finished = time.monotonic()

    @property
    def running(self) -> bool:
        return self.finished is None

    def finish(self) -> Run:
        self._waiter.join()
        assert self.finished is not None
        return Run(
            self.name,
            self.finished - self.started,
            self.proc.returncode,
            self.started,
            self.finished,
            self.log.read_text(errors="replace"),
        )


def _run(sim: Simulator, name: str, cmd: list[str], env: dict, logs: Path) -> Run:
    """Reset the simulator, run one command, collect what the simulator saw."""
    sim.reset()
    run = Launched(name, cmd, env, _log_path(logs, name)).finish()
    run.records, run.max_in_flight = sim.records(), sim.stats().get("max_in_flight", 0)
    return run


def _log_path(logs: Path, name: str) -> Path:
    safe = "".join(ch if ch.isalnum() else "_" for ch in name)
    return logs / f"{len(list(logs.iterdir())):02d}_{safe}.log"


def _ours_env(home: Path, url: str, folder: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    env.update(
        DAGSTER_HOME=str(home),
        ANALYTICS_API_BASE_URL=url,
        ANALYTICS_API_KEY=KEY,
        ANALYTICS_DUCKDB_PATH=str(folder / "o.duckdb"),
        ANALYTICS_PROJECT_ID=RUN_LABEL,
        **extra,
    )
    return env


def _dagster_home(work: Path) -> Path:
    home = work / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return home


CLI = [str(BIN / "dagster"), "asset", "materialize", "-m", "analytics_assets.definitions"]
WORKSPACE_CMD = [*CLI, "--select", "workspace,workflows"]
TICK_CMD = [sys.executable, "-m", "analytics_dev.benchmark.remote", "--sensor-tick"]


def _partition_cmd(uid: str) -> list[str]:
    return [*CLI, "--select", "jobs,successful_jobs,job_results", "--partition", uid]


# ----------------------------------------------------------------------------- counting
def counts(records: list[dict]) -> dict:
    """Requests, 429s, their share, and the result pages served (status 200)."""
    requests = len(records)
    limited = sum(1 for r in records if r["status"] == 429)
    return {
        "requests": requests,
        "rate_limited": limited,
        "share_429": round(limited / requests, 4) if requests else 0.0,
        "result_pages": sum(1 for r in records if _is_result(r) and r["status"] == 200),
    }


def _is_result(record: dict) -> bool:
    return record["path"].endswith("/results")


def _labelled(records: list[dict], label: str | None) -> list[dict]:
    return [r for r in records if r.get("project_id_header") == label]


def phases(run: Run, rate: float | None = None) -> dict:
    """Where a run's seconds go, from the request log's arrival times (same monotonic clock).

    With the plan's `rate`: how far the result pages fell behind one request per 1/rate, and
    how long the last job was fetched alone (its pages are sequential: one per round trip).
    """
    starts = sorted(r["started"] for r in run.records)
    results = sorted(r["started"] for r in run.records if _is_result(r))
    out: dict[str, Any] = {"process_seconds": round(run.seconds, 3)}
    if not starts:
        return out
    out["before_first_request"] = round(starts[0] - run.started, 3)
    out["after_last_request"] = round(run.finished - starts[-1], 3)
    if not results:
        return out
    gaps = [b - a for a, b in zip(results, results[1:], strict=False)]
    out.update(
        first_request_to_first_result=round(results[0] - starts[0], 3),
        result_span=round(results[-1] - results[0], 3),
        median_gap_between_results=round(statistics.median(gaps), 3) if gaps else None,
        after_last_result=round(run.finished - results[-1], 3),
    )
    if rate:
        interval = 1 / rate
        out["result_span_over_pace"] = round(sum(max(0.0, g - interval) for g in gaps), 3)
        last_of_job: dict[str, float] = {}
        for r in run.records:
            if _is_result(r):
                last_of_job[r["path"]] = max(last_of_job.get(r["path"], 0.0), r["started"])
        ends = sorted(last_of_job.values())
        if len(ends) >= 2:
            alone = [(a, b) for a, b in zip(results, results[1:], strict=False) if b > ends[-2]]
            out["last_job_alone_seconds"] = round(ends[-1] - ends[-2], 3)
            out["last_job_alone_pages"] = len(alone)
            out["last_job_alone_over_pace"] = round(
                sum(max(0.0, b - a - interval) for a, b in alone), 3
            )
    return out


def timeline(run: Run) -> list[list]:
    """[seconds after the process started, status, path] of every request, in order."""
    return [
        [round(r["started"] - run.started, 3), r["status"], r["path"]]
        for r in sorted(run.records, key=lambda r: r["started"])
    ]


def _run_row(run: Run, records: list[dict] | None = None) -> dict:
    return {
        "name": run.name,
        "seconds": round(run.seconds, 3),
        "returncode": run.returncode,
        "success": run.ok,
        "max_in_flight": run.max_in_flight,
        **counts(run.records if records is None else records),
    }


def _tick_result(run: Run) -> dict:
    lines = [ln for ln in run.output.splitlines() if ln.startswith(TICK_PREFIX)]
    return json.loads(lines[-1][len(TICK_PREFIX) :]) if lines else {}


def product_metadata(home: Path) -> dict:
    """The newest materialization metadata of `jobs` and `job_results` (api_* entries)."""
    from dagster import AssetKey, DagsterInstance

    out: dict[str, dict] = {}
    with DagsterInstance.from_config(str(home)) as instance:
        for asset in ("jobs", "job_results"):
            records = instance.fetch_materializations(AssetKey(asset), limit=1).records
            if not records or records[0].asset_materialization is None:
                continue
            metadata = records[0].asset_materialization.metadata
            out[asset] = {k: v.value for k, v in metadata.items() if k.startswith("api_")}
    return out


def register_partitions(home: Path, uids: list[str]) -> None:
    from dagster import DagsterInstance

    from analytics_assets.constants import PARTITIONS_NAME

    with DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(PARTITIONS_NAME, uids)


# ----------------------------------------------------------------------------- scenarios
def run_paced(s: Paced, work: Path, repeat: int, tick_at: str) -> dict:
    work.mkdir(parents=True)
    logs = work / "logs"
    logs.mkdir()
    sim = Simulator(s.data, s.latency_ms, s.rate)
    try:
        home = _dagster_home(work)
        env = _ours_env(home, sim.url, work / "ours", ANALYTICS_API_RATE_LIMIT=f"{s.rate:g}")
        data_uid, empty_uid = sim.uids[0], sim.uids[-1]
        ws = _run(sim, "ours: workspace,workflows", WORKSPACE_CMD, env, logs)
        empties = [
            _run(sim, "ours: empty partition (fixed cost)", _partition_cmd(empty_uid), env, logs)
            for _ in range(repeat)
        ]
        empty = sorted(empties, key=lambda r: r.seconds)[len(empties) // 2]

        # The data run and one sensor tick in another process, on one key and one budget.
        sim.reset()
        data_run = Launched(
            "ours: data partition", _partition_cmd(data_uid), env, _log_path(logs, "data")
        )
        if tick_at == "first-request":
            while data_run.running and sim.stats().get("requests", 0) < 1:
                time.sleep(0.02)
        tick_env = {**env, "ANALYTICS_PROJECT_ID": TICK_LABEL}
        tick_proc = Launched("sensor tick (other process)", TICK_CMD, tick_env, logs / "tick.log")
        data, tick = data_run.finish(), tick_proc.finish()
        window = sim.records()
        in_flight = sim.stats().get("max_in_flight", 0)
        data.records, tick.records = _labelled(window, RUN_LABEL), _labelled(window, TICK_LABEL)
        data.max_in_flight = tick.max_in_flight = in_flight

        folder = work / "plain"
        folder.mkdir()
        plain_cmd = [
            *(sys.executable, "-m", "analytics_dev.benchmark.baseline"),
            *(sim.url, str(folder / "warehouse.duckdb"), str(folder)),
        ]
        plain_env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
        # _run resets the simulator first: plain dlt starts with full buckets, as ours did.
        plain = _run(
            sim, "plain dlt rest_api_source", plain_cmd, {**plain_env, "BENCH_API_KEY": KEY}, logs
        )
    finally:
        sim.stop()
    metadata = product_metadata(home)
    return paced_report(s, ws, empties, empty, data, tick, window, plain, metadata, tick_at)


def paced_report(
    s: Paced,
    ws: Run,
    empties: list[Run],
    empty: Run,
    data: Run,
    tick: Run,
    window: list[dict],
    plain: Run,
    metadata: dict,
    tick_at: str,
) -> dict:
    result_pages = counts(data.records)["result_pages"]
    physical = result_pages / s.rate
    data_path = data.seconds - empty.seconds
    measured = data.ok and empty.ok and physical > 0
    together = counts(window)
    tick_info = _tick_result(tick)
    plain_jobs = [r["started"] for r in plain.records if r["path"].endswith("/jobs")]
    plain_data_path = plain.finished - min(plain_jobs) if plain_jobs else plain.seconds
    plain_physical = s.data.pages / s.rate
    return {
        "scenario": s.name,
        "kind": "paced",
        "latency_ms": s.latency_ms,
        "plan_rate": s.rate,
        "ours_env": {"ANALYTICS_API_RATE_LIMIT": f"{s.rate:g}"},
        "data": {
            "rows": s.data.rows,
            "jobs": s.data.jobs,
            "rows_per_job": s.data.rows_per_job,
            "page_size": PAGE_SIZE,
            "result_pages": s.data.pages,
        },
        "runs": [
            _run_row(ws),
            *(_run_row(r) for r in empties),
            _run_row(data),
            _run_row(tick),
            _run_row(plain),
        ],
        "empty_partition_seconds_each": [round(r.seconds, 3) for r in empties],
        "empty_partition_seconds": round(empty.seconds, 3),
        "data_partition_seconds": round(data.seconds, 3),
        "data_result_pages": result_pages,
        "physical_limit_seconds": round(physical, 3),
        "data_path_seconds": round(data_path, 3),
        "ratio_data_path_over_physical": round(data_path / physical, 3) if measured else None,
        "data_run_and_tick": together,
        "tick": {
            "started_at": tick_at,
            "process_seconds": round(tick.seconds, 3),
            "evaluation_seconds": tick_info.get("evaluation_seconds"),
            "run_requests": tick_info.get("run_requests"),
            "success": tick.ok and bool(tick_info),
            **counts(tick.records),
            "paths": sorted(r["path"] for r in tick.records),
            "seconds_after_data_run_started": (
                round(min(r["started"] for r in tick.records) - data.started, 3)
                if tick.records
                else None
            ),
        },
        "phases": {"empty_partition": phases(empty), "data_partition": phases(data, s.rate)},
        "timelines": {"data_partition": timeline(data), "sensor_tick": timeline(tick)},
        "product_metadata": metadata,
        "plain_dlt": {
            "seconds": round(plain.seconds, 3),
            "returncode": plain.returncode,
            "success": plain.ok,
            **counts(plain.records),
            "data_path_seconds": round(plain_data_path, 3),
            "physical_limit_seconds": round(plain_physical, 3),
            "ratio_data_path_over_physical": round(plain_data_path / plain_physical, 3),
            "error_tail": "" if plain.ok else _error_tail(plain.output),
            "phases": phases(plain),
        },
    }


def _since_first(rows: list[list]) -> list[list]:
    """A timeline re-based on its first request."""
    return [[round(t - rows[0][0], 3), *rest] for t, *rest in rows] if rows else []


def _error_tail(output: str) -> str:
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    return "\n".join(lines[-3:])[-600:]


def run_learned(s: Learned, work: Path) -> dict:
    work.mkdir(parents=True)
    logs = work / "logs"
    logs.mkdir()
    sim = Simulator(s.data, s.latency_ms, None)
    runs: list[dict] = []
    try:
        home = _dagster_home(work)
        # What the workspace asset does, without a request: the key's first request is then
        # the measured run's (and a CLI command less keeps the scenario short).
        register_partitions(home, sim.uids)
        for plan in s.plans:
            for concurrency in s.concurrencies:
                folder = work / f"plan{plan:g}_c{concurrency}"
                env = _ours_env(
                    home, sim.url, folder, ANALYTICS_API_FETCH_CONCURRENCY=str(concurrency)
                )
                fresh = not folder.exists()  # no budget file: nothing learned beforehand
                sim.set_rate_limit(plan)
                name = f"plan {plan:g} req/s, concurrency {concurrency}"
                run = _run(sim, name, _partition_cmd(sim.uids[0]), env, logs)
                runs.append(
                    {
                        **_run_row(run),
                        "plan_rate": plan,
                        "fetch_concurrency": concurrency,
                        "fresh_warehouse_folder": fresh,
                        "physical_limit_seconds": round(s.data.pages / plan, 3),
                        "error_tail": "" if run.ok else _error_tail(run.output),
                        "product_metadata": product_metadata(home) if run.ok else {},
                        "phases": phases(run, plan),
                        "rate_limited_at": [
                            t for t, status, _ in _since_first(timeline(run)) if status == 429
                        ],
                        "timeline": timeline(run),
                    }
                )
    finally:
        sim.stop()
    return {
        "scenario": s.name,
        "kind": "learned",
        "latency_ms": s.latency_ms,
        "ours_env": {"ANALYTICS_API_RATE_LIMIT": None},
        "data": {
            "rows": s.data.rows,
            "jobs": s.data.jobs,
            "rows_per_job": s.data.rows_per_job,
            "page_size": PAGE_SIZE,
            "result_pages": s.data.pages,
        },
        "partitions_registered": len(sim.uids),
        "runs": runs,
        "all_succeeded": all(r["success"] for r in runs),
        "max_share_429": max((r["share_429"] for r in runs), default=0.0),
        "seconds": round(sum(r["seconds"] for r in runs), 3),
    }


# ----------------------------------------------------------------------------- summary
def targets(reports: list[dict]) -> list[dict]:
    out = []
    for r in reports:
        if r["kind"] == "paced":
            ratio = r["ratio_data_path_over_physical"]
            share = r["data_run_and_tick"]["share_429"]
            out.append(
                _target(
                    r["scenario"],
                    f"data path / physical limit <= {MAX_RATIO_DATA_PATH_OVER_PHYSICAL:g}",
                    f"{ratio}",
                    ratio is not None and ratio <= MAX_RATIO_DATA_PATH_OVER_PHYSICAL,
                )
            )
            out.append(
                _target(
                    r["scenario"],
                    f"429s / requests, data run + tick <= {MAX_SHARE_429_PACED:.0%}",
                    f"{share:.1%}",
                    share <= MAX_SHARE_429_PACED,
                )
            )
        else:
            ok = sum(1 for run in r["runs"] if run["success"])
            out.append(
                _target(
                    r["scenario"],
                    "every run succeeds",
                    f"{ok}/{len(r['runs'])}",
                    r["all_succeeded"],
                )
            )
            out.append(
                _target(
                    r["scenario"],
                    f"429s / requests <= {MAX_SHARE_429_LEARNED:.0%} (each run; worst shown)",
                    f"{r['max_share_429']:.1%}",
                    r["max_share_429"] <= MAX_SHARE_429_LEARNED,
                )
            )
    return out


def _target(scenario: str, target: str, value: str, met: bool) -> dict:
    return {"scenario": scenario, "target": target, "value": value, "met": bool(met)}


def _print_runs(rows: list[dict]) -> None:
    print(f"{'run':<44}{'s':>8}{'exit':>6}{'req':>6}{'res':>6}{'429':>6}{'429%':>7}{'infl':>6}")
    for row in rows:
        print(
            f"{row['name']:<44}{row['seconds']:>8.2f}{row['returncode']:>6}{row['requests']:>6}"
            f"{row['result_pages']:>6}{row['rate_limited']:>6}{row['share_429']:>7.1%}"
            f"{row['max_in_flight']:>6}"
        )


def _data_line(r: dict) -> str:
    d = r["data"]
    per_job = math.ceil(d["rows_per_job"] / d["page_size"])
    return (
        f"{d['rows']} rows = {d['jobs']} jobs x {per_job} page(s) of {d['page_size']} rows "
        f"({d['result_pages']} result pages)"
    )


def print_paced(r: dict) -> None:
    print(
        f"\n== {r['scenario']}: latency {r['latency_ms']:g} ms, plan {r['plan_rate']:g} req/s, "
        f"ours with ANALYTICS_API_RATE_LIMIT={r['plan_rate']:g}; {_data_line(r)}"
    )
    _print_runs(r["runs"])
    print("(res: result pages answered 200; infl: most requests in flight at the simulator)")
    ratio, together, tick = r["ratio_data_path_over_physical"], r["data_run_and_tick"], r["tick"]
    ratio_ok = ratio is not None and ratio <= MAX_RATIO_DATA_PATH_OVER_PHYSICAL
    share_ok = together["share_429"] <= MAX_SHARE_429_PACED
    print(
        f"physical limit: {r['data_result_pages']} result pages / {r['plan_rate']:g} req/s = "
        f"{r['physical_limit_seconds']:.2f} s"
    )
    print(
        f"data path: data partition {r['data_partition_seconds']:.2f} s - empty partition "
        f"{r['empty_partition_seconds']:.2f} s (median of {r['empty_partition_seconds_each']}) = "
        f"{r['data_path_seconds']:.2f} s; / physical limit = {ratio} "
        f"(target <= {MAX_RATIO_DATA_PATH_OVER_PHYSICAL:g}: {_met(ratio_ok)})"
    )
    print(
        f"429s over the data run + concurrent tick: {together['rate_limited']} / "
        f"{together['requests']} = {together['share_429']:.1%} "
        f"(target <= {MAX_SHARE_429_PACED:.0%}: {_met(share_ok)})"
    )
    print(
        f"sensor tick (started at the data run's {tick['started_at']}): "
        f"{tick['process_seconds']:.2f} s in its process, evaluation "
        f"{_seconds(tick['evaluation_seconds'])}; {tick['requests']} requests "
        f"({tick['rate_limited']} 429s) {tick['paths']}; its first request "
        f"{_seconds(tick['seconds_after_data_run_started'])} after the data run started; "
        f"{tick['run_requests']} run request(s); success {tick['success']}"
    )
    e, d = r["phases"]["empty_partition"], r["phases"]["data_partition"]
    print(
        "where the data run's seconds go (request arrival times at the simulator): "
        f"before its first request {_seconds(d.get('before_first_request'))} (empty run "
        f"{_seconds(e.get('before_first_request'))}); jobs list -> first result page "
        f"{_seconds(d.get('first_request_to_first_result'))}; result pages "
        f"{_seconds(d.get('result_span'))} from first to last (at the plan: "
        f"{(r['data_result_pages'] - 1) / r['plan_rate']:.2f} s; median gap "
        f"{_seconds(d.get('median_gap_between_results'))}; gaps beyond 1/rate add up to "
        f"{_seconds(d.get('result_span_over_pace'))}, "
        f"{_seconds(d.get('last_job_alone_over_pace'))} of them while the last job was fetched "
        f"alone, {d.get('last_job_alone_pages')} page(s) in "
        f"{_seconds(d.get('last_job_alone_seconds'))}); last result page -> exit "
        f"{_seconds(d.get('after_last_result'))} (empty run, last request -> exit "
        f"{_seconds(e.get('after_last_request'))})"
    )
    meta = r["product_metadata"].get("job_results", {})
    if meta:
        print(
            f"ours' job_results metadata: api_requests {meta.get('api_requests')}, "
            f"api_rate_limited {meta.get('api_rate_limited')}, api_rate_wait_seconds "
            f"{meta.get('api_rate_wait_seconds')}, api_effective_rate "
            f"{meta.get('api_effective_rate')}, api_rate_limit {meta.get('api_rate_limit')!r}"
        )
    p = r["plain_dlt"]
    print(
        f"plain dlt: {p['seconds']:.2f} s, exit {p['returncode']} "
        f"({'success' if p['success'] else 'FAILED'}); {p['requests']} requests, "
        f"{p['result_pages']} result pages, {p['rate_limited']} 429s ({p['share_429']:.1%}); "
        f"data path (first jobs request -> exit) {p['data_path_seconds']:.2f} s / physical "
        f"limit {p['physical_limit_seconds']:.2f} s = {p['ratio_data_path_over_physical']}"
    )
    if p["error_tail"]:
        print(f"plain dlt's last lines:\n{p['error_tail']}")


def print_learned(r: dict) -> None:
    print(
        f"\n== {r['scenario']}: latency {r['latency_ms']:g} ms, nothing configured (the limit is "
        f"learned from 429s); each run a fresh warehouse folder; {_data_line(r)}"
    )
    print(
        f"{r['partitions_registered']} partitions registered in the Dagster instance directly "
        "(as the workspace asset does), so each run's first request is the key's first"
    )
    print(
        f"{'plan':>5}{'conc':>6}{'s':>8}{'ok':>6}{'req':>6}{'res':>6}{'429':>6}{'429%':>7}"
        f"{'infl':>6}{'at plan':>9}  limit the run ended with"
    )
    for row in r["runs"]:
        limit = row["product_metadata"].get("job_results", {}).get("api_rate_limit", "")
        print(
            f"{row['plan_rate']:>5g}{row['fetch_concurrency']:>6}{row['seconds']:>8.2f}"
            f"{'yes' if row['success'] else 'NO':>6}{row['requests']:>6}{row['result_pages']:>6}"
            f"{row['rate_limited']:>6}{row['share_429']:>7.1%}{row['max_in_flight']:>6}"
            f"{row['physical_limit_seconds']:>9.2f}  {limit}"
        )
        at = ", ".join(f"{t:g}" for t in row["rate_limited_at"])
        print(f"{'':>11}429s at {at or '-'} s after the run's first request")
        if row["error_tail"]:
            print(f"  failed:\n{row['error_tail']}")
    print(
        "(at plan: result pages / plan rate; req includes the jobs list; infl: most requests "
        "in flight at the simulator)"
    )
    print(
        f"all succeeded: {r['all_succeeded']}; worst 429 share {r['max_share_429']:.1%}; "
        f"scenario {r['seconds']:.1f} s of commands"
    )


def print_summary(rows: list[dict], seconds: float, quick: bool) -> None:
    print(f"\n== summary{' (--quick sizes)' if quick else ''}; bench {seconds:.1f} s")
    print(f"{'scenario':<20}{'target':<52}{'value':>8}  met")
    for row in rows:
        print(f"{row['scenario']:<20}{row['target']:<52}{row['value']:>8}  {_met(row['met'])}")


def _met(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


# ----------------------------------------------------------------------------- sensor tick
def sensor_tick() -> int:
    """One evaluation of `workflow_refresh_sensor` in this process, as the daemon would run it
    (its SensorResult is printed, not applied). Settings come from ANALYTICS_* as in runs."""
    started = time.monotonic()
    from dagster import DagsterInstance, SensorResult, build_sensor_context

    from analytics_assets.defs.resources import AnalyticsApiResource
    from analytics_assets.defs.sensors import workflow_refresh_sensor

    imported = time.monotonic()
    with DagsterInstance.get() as instance:
        context = build_sensor_context(
            instance=instance, resources={"analytics_api": AnalyticsApiResource()}
        )
        result = workflow_refresh_sensor(context)
    done = time.monotonic()
    assert isinstance(result, SensorResult)
    report = {
        "import_seconds": round(imported - started, 3),
        "evaluation_seconds": round(done - imported, 3),
        "run_requests": len(result.run_requests or []),
    }
    print(TICK_PREFIX + json.dumps(report), flush=True)
    return 0


# ----------------------------------------------------------------------------- main
def tree_state() -> dict:
    """The commit measured, and the tracked files that differ from it (edits in progress)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.rstrip() if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "modified": [ln[3:] for ln in changed if ln],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
                report = run_paced(s, work, repeat, args.tick_at)
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
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "bench_remote.json"
    document = {
        "quick": args.quick,
        "bench_seconds": round(seconds, 1),
        "tree": tree,
        "load_average_1m": {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2)},
        "scenarios": reports,
        "summary": summary,
    }
    path.write_text(json.dumps(document, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
