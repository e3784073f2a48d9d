"""The simulator process and the commands a scenario runs against it, each a `Run`: its
seconds, exit code, output and the requests the simulator saw."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from analytics_dev.benchmark.common import (
    KEY,
    ROOT,
    materialize_cli,
    product_env,
    sim_control,
    stop_process,
)
from analytics_dev.benchmark.remote.scenarios import PAGE_SIZE, Data

RUN_LABEL = "bench-run"
TICK_LABEL = "bench-sensor-tick"
COMMAND_TIMEOUT = 600.0

CLI = materialize_cli()
WORKSPACE_CMD = [*CLI, "--select", "workspace,workflows"]
TICK_CMD = [sys.executable, "-m", "analytics_dev.benchmark.remote", "--sensor-tick"]
PLAIN_DLT = [sys.executable, "-m", "analytics_dev.benchmark.baseline"]


def partition_cmd(uid: str) -> list[str]:
    return [*CLI, "--select", "jobs,successful_jobs,job_results", "--partition", uid]


def ours_env(home: Path, url: str, folder: Path, **extra: str) -> dict[str, str]:
    """Ours against the simulator, its requests labelled as the CLI runs' (RUN_LABEL)."""
    env = product_env(home, url, folder / "o.duckdb", ANALYTICS_PROJECT_ID=RUN_LABEL)
    return env | extra


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
        sim_control(self.url, "config", {"rate_limit": rate})

    def stop(self) -> None:
        stop_process(self.proc)


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


def run_command(sim: Simulator, name: str, cmd: list[str], env: dict, logs: Path) -> Run:
    """Reset the simulator, run one command, collect what the simulator saw."""
    sim.reset()
    run = Launched(name, cmd, env, log_path(logs, name)).finish()
    run.records, run.max_in_flight = sim.records(), sim.stats().get("max_in_flight", 0)
    return run


def log_path(logs: Path, name: str) -> Path:
    safe = "".join(ch if ch.isalnum() else "_" for ch in name)
    return logs / f"{len(list(logs.iterdir())):02d}_{safe}.log"


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
