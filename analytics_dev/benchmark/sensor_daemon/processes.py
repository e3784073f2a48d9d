"""The processes a side starts: a bounded `dagster` command; a session stopped as Ctrl-C does."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil

from analytics_dev.benchmark.sensor_daemon.config import BenchTimeout

STOP_SECONDS = 60.0


def default_signals() -> None:
    # A background shell may start us with SIGINT ignored; dagster dev stops on SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def session_members(sid: int) -> list[psutil.Process]:
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
    while (left := session_members(proc.pid)) and time.monotonic() < deadline:
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
        "left_running": [p.pid for p in session_members(proc.pid)],
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
