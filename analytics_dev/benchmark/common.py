"""What every bench shares: paths, the simulator's key and control endpoints, a Dagster home,
the product's environment, the git state measured and the JSON report."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KEY = "bench-key-not-secret"
SHIPPED_INSTANCE = "dagster_home/dagster.yaml"


def materialize_cli(module: str = "analytics_assets.definitions") -> list[str]:
    """`dagster asset materialize -m MODULE`, the command users run."""
    return [str(BIN / "dagster"), "asset", "materialize", "-m", module]


def sim_control(base_url: str, action: str, payload: dict | None = None) -> dict:
    """A simulator control endpoint (never counted or rate-limited): GET stats and requests,
    POST the others (reset, config, mutate) with `payload` as the JSON body."""
    method = "GET" if action in ("stats", "requests") else "POST"
    body = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(f"{base_url}/_sim/{action}", data=body, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it is still there after 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def dagster_home(home: Path, config: str = SHIPPED_INSTANCE) -> Path:
    """A new DAGSTER_HOME holding `config` (relative to the repo) as its dagster.yaml."""
    home.mkdir(parents=True)
    shutil.copy(ROOT / config, home / "dagster.yaml")
    return home


def clean_env(strip: tuple[str, ...] = ("ANALYTICS_",)) -> dict[str, str]:
    """This process's environment without the variables a bench sets itself."""
    return {k: v for k, v in os.environ.items() if not k.startswith(strip)}


def product_env(
    home: Path,
    url: str,
    duckdb_path: Path,
    *,
    strip: tuple[str, ...] = ("ANALYTICS_",),
    **extra: str,
) -> dict[str, str]:
    """The environment of a `dagster` command of ours against the simulator at `url`."""
    env = clean_env(strip)
    env.update(
        DAGSTER_HOME=str(home),
        ANALYTICS_API_BASE_URL=url,
        ANALYTICS_API_KEY=KEY,
        ANALYTICS_DUCKDB_PATH=str(duckdb_path),
        **extra,
    )
    return env


def git(*args: str) -> str:
    """A git command's output in the repo, or "" if it fails (no git, not a checkout)."""
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.rstrip() if done.returncode == 0 else ""


def tree_state() -> dict:
    """The commit measured, and the tracked files that differ from it (edits in progress)."""
    changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "modified": [ln[3:] for ln in changed if ln],
    }


def write_report(out: str | Path, name: str, report: Any, default: Callable | None = None) -> Path:
    """`out/name.json`, the folder made if need be; says where it went."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(report, indent=2, default=default))
    print(f"wrote {path}")
    return path


def run_main(main: Callable[[], int]) -> None:
    """A bench's `python -m` entry: run it, say how long it took, exit with its code."""
    started = time.perf_counter()
    code = main()
    print(f"bench took {time.perf_counter() - started:.1f} s")
    sys.exit(code)


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
