"""The simulator in its own process, so that Dagster's run workers can reach it too."""

from __future__ import annotations

import subprocess
import sys


def spawn(*args: str) -> tuple[subprocess.Popen, str]:
    """`python -m analytics_dev.simulator --port 0 ARGS`, and the URL it serves."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "analytics_dev.simulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip() if proc.stdout else ""
    if not line.startswith("SIMULATOR_URL="):
        proc.kill()
        raise SystemExit(f"the simulator did not start (printed {line!r})")
    return proc, line.split("=", 1)[1]
