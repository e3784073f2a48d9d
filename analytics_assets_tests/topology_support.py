"""The production topology on one machine, without containers: what test_topology.py drives.

The production install is what the image holds (the Dockerfile's files, `uv sync --frozen
--no-dev --no-editable --extra k8s` into a fresh venv). From it run a code server on a port,
a webserver and a daemon that reach it through a `grpc_server` workspace, all on the
Postgres-backed instance of deploy/dagster.yaml with its intervals shortened.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil
import requests
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".uv" / "bin" / "uv"
# What the Dockerfile copies into the image (.dockerignore admits nothing else).
IMAGE_FILES = ("pyproject.toml", "uv.lock", "README.md", "analytics_assets")
LOCATION = "analytics_assets"
POOL = "analytics_warehouse"
INSTALL_TIMEOUT = 600  # a cold uv cache downloads every wheel once
START_TIMEOUT = 90
STEP_ENDS = (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE)
# Variables of the caller's shell that would change what the processes under test do.
CALLER_PREFIXES = ("ANALYTICS_", "DESTINATION__", "DAGSTER_", "VIRTUAL_ENV", "PYTHON")

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], T], timeout: float, what: str, logs: list[Path]) -> T:
    """Poll `condition` until it returns something truthy; fail naming `what`, with log tails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}" for p in logs)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tails}")


def production_install(dest: Path) -> Path:
    """The image's environment in `dest/venv`, from a copy of the image's files only."""
    src = dest / "src"
    src.mkdir(parents=True)
    for name in IMAGE_FILES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(CALLER_PREFIXES)}
    env.update(UV_PROJECT_ENVIRONMENT=str(dest / "venv"), UV_PYTHON_DOWNLOADS="never")
    cmd = [str(UV), "sync", "--frozen", "--no-dev", "--no-editable", "--extra", "k8s"]
    # Bytecode at install time, as the image's UV_COMPILE_BYTECODE: else every process
    # started below compiles the ~2,500 modules dagster imports.
    cmd += ["--compile-bytecode", "--python", "python3"]
    done = subprocess.run(
        cmd, cwd=src, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
    )
    assert done.returncode == 0, f"uv sync failed:\n{done.stderr[-3000:]}"
    return dest / "venv"


def write_instance(home: Path) -> dict[str, Any]:
    """deploy/dagster.yaml as shipped, but for intervals short enough for a test."""
    config = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    config["run_monitoring"].update(poll_interval_seconds=1, free_slots_after_run_end_seconds=1)
    config["run_coordinator"]["config"] = {"dequeue_interval_seconds": 1}
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return config


def write_workspace(path: Path, grpc_port: int) -> dict[str, Any]:
    """deploy/workspace.yaml, pointed at the test's code server port."""
    workspace = yaml.safe_load((ROOT / "deploy" / "workspace.yaml").read_text())
    (entry,) = workspace["load_from"]
    entry["grpc_server"].update(host="127.0.0.1", port=grpc_port)
    path.write_text(yaml.safe_dump(workspace))
    return workspace


@dataclass
class Topology:
    """The processes of one deployment, started from the production venv."""

    venv: Path
    root: Path
    env: dict[str, str]
    grpc_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def logs(self) -> list[Path]:
        return sorted(self.root.glob("*.log"))

    def _bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def start(self, name: str, cmd: list[str], extra_env: dict[str, str] | None = None) -> None:
        # Its own session: stopping it stops the run workers it spawned too.
        with (self.root / f"{name}.log").open("a") as log:
            self.processes[name] = subprocess.Popen(
                cmd,
                cwd=self.root,
                env={**self.env, **(extra_env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_code_server(self, extra_env: dict[str, str] | None = None) -> None:
        """The image's default command, on the test's port."""
        cmd = [self._bin("dagster"), "code-server", "start", "-h", "127.0.0.1"]
        cmd += ["-p", str(self.grpc_port), "-m", "analytics_assets.definitions"]
        self.start("code_server", [*cmd, "--location-name", LOCATION], extra_env)
        wait_for(lambda: self.health_check().returncode == 0, START_TIMEOUT, "the code server", [])

    def health_check(self) -> subprocess.CompletedProcess:
        """The image's HEALTHCHECK and the chart's readiness probe."""
        cmd = [self._bin("dagster"), "api", "grpc-health-check"]
        cmd += ["-h", "127.0.0.1", "-p", str(self.grpc_port)]
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)

    def start_webserver_and_daemon(self, workspace: Path) -> None:
        web = [self._bin("dagster-webserver"), "-w", str(workspace), "-h", "127.0.0.1"]
        self.start("webserver", [*web, "-p", str(self.web_port)])
        self.start("daemon", [self._bin("dagster-daemon"), "run", "-w", str(workspace)])
        wait_for(self._webserver_up, START_TIMEOUT, "the webserver", self.logs)

    def _webserver_up(self) -> bool:
        try:
            return requests.get(f"{self.url}/server_info", timeout=2).ok
        except requests.RequestException:
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def stop(self, name: str) -> None:
        proc = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of its session is left
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)


# ------------------------------------------------------------------ reading the instance
def wait_for_status(
    instance: DagsterInstance, run_id: str, statuses: set[DagsterRunStatus], timeout: float, logs
) -> DagsterRunStatus:
    def reached() -> DagsterRunStatus | None:
        run = instance.get_run_by_id(run_id)
        return run.status if run is not None and run.status in statuses else None

    what = f"run {run_id} to reach {sorted(s.value for s in statuses)}"
    status = wait_for(reached, timeout, what, logs)
    assert status is not None  # wait_for returns only a truthy value
    return status


def step_spans(instance: DagsterInstance, run_id: str) -> list[tuple[float, float]]:
    """(start, end) of each step of a run that ended, from its STEP_START and end events."""
    started: dict[str, float] = {}
    spans = []
    for entry in instance.all_logs(run_id, of_type={DagsterEventType.STEP_START, *STEP_ENDS}):
        event = entry.dagster_event
        assert event is not None and event.step_key is not None
        if event.event_type == DagsterEventType.STEP_START:
            started[event.step_key] = entry.timestamp
        else:
            spans.append((started.pop(event.step_key), entry.timestamp))
    return spans


def overlaps(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> bool:
    return any(s1 < e2 and s2 < e1 for s1, e1 in a for s2, e2 in b)


def first_step_start(instance: DagsterInstance, run_id: str) -> float | None:
    starts = instance.all_logs(run_id, of_type=DagsterEventType.STEP_START)
    return min((e.timestamp for e in starts), default=None)


def run_worker_pid(instance: DagsterInstance, run_id: str) -> int | None:
    """The run worker's pid, from its engine event "Executing steps in process (pid: N)" (the
    jobs' in-process executor runs every step in the run worker)."""
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        found = re.search(r"Executing steps in process \(pid: (\d+)\)", entry.message or "")
        if found:
            return int(found.group(1))
    return None


def sigkill_tree(pid: int) -> list[int]:
    """SIGKILL a run worker and any process it started, at once, as a lost pod goes."""
    root = psutil.Process(pid)
    victims = [root, *root.children(recursive=True)]
    for proc in victims:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    return [p.pid for p in victims]


def claimed_slots(instance: DagsterInstance) -> int:
    return len(instance.event_log_storage.get_concurrency_info(POOL).claimed_slots)


def max_in_window(times: list[float], window: float) -> int:
    """The most of `times` that fall within any `window` seconds."""
    times, most, first = sorted(times), 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most
