"""Run one command and record wall time, peak RSS of its whole process tree, and requests."""

import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from analytics_dev.benchmark.common import sim_control

POLL_SECONDS = 0.02


@dataclass
class Measurement:
    name: str
    seconds: float
    peak_rss_mb: float
    requests: int
    result_requests: int
    output: str


def tree_memory(proc: psutil.Process) -> int:
    """Bytes the process tree holds: the root's RSS plus what each child holds privately (USS).

    Summing RSS would count a forked child's pages twice: until it execs, the child shares all
    of its parent's pages. Dagster forks four helpers (`tail`, `watch_orphans.py`) to capture a
    run's logs, and with RSS summed an empty partition's run read about +100 MB now and then.
    """
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_full_info().uss
        except psutil.Error:  # a child that just exited
            pass
    return total


def measure(name: str, cmd: list[str], env: dict, cwd: str | Path, base_url: str) -> Measurement:
    sim_control(base_url, "reset")
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    watched = psutil.Process(proc.pid)
    peak = 0
    chunks: list[str] = []
    stdout = proc.stdout
    assert stdout is not None  # stdout=PIPE
    reader = threading.Thread(target=lambda: chunks.append(stdout.read()), daemon=True)
    reader.start()
    while proc.poll() is None:
        try:
            peak = max(peak, tree_memory(watched))
        except psutil.Error:
            break
        time.sleep(POLL_SECONDS)
    proc.wait()
    seconds = time.perf_counter() - started
    reader.join(timeout=10)
    output = "".join(chunks)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed ({proc.returncode}):\n{output[-4000:]}")
    log = sim_control(base_url, "requests")
    records = log.get("requests", [])
    results = sum(1 for r in records if "/results" in r.get("path", ""))
    return Measurement(name, seconds, peak / 2**20, log.get("count", len(records)), results, output)
