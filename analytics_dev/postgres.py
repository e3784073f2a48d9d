"""A throwaway PostgreSQL server for tests and benches: found here, started on loopback, removed.

Postgres refuses to run as root, so as root the cluster is run as the `postgres` system user
in a temp directory that user owns. Password authentication is on so tests can prove the
password never reaches Dagster's logs or metadata.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

REQUIRE_ENV = "ANALYTICS_REQUIRE_POSTGRES"  # `.ci/run` sets it: CI fails instead of skipping
USER = "analytics"
PASSWORD = "pg-test-3c9d1f-PGSECRET-do-not-log"
SYSTEM_USER = "postgres"
START_TIMEOUT_SECONDS = 30


class PostgresUnavailable(RuntimeError):
    """No server could be started here; the message says why."""


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int

    def dsn(self, database: str) -> str:
        return f"postgresql://{USER}:{PASSWORD}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres"):
        conn = psycopg2.connect(self.dsn(database))
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
        return conn

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A fresh, empty database (its name), dropped afterwards."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with contextlib.closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        try:
            yield name
        finally:
            with contextlib.closing(self.connect()) as conn, conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def find_bin_dir() -> Path:
    """The folder holding initdb, pg_ctl and postgres: PATH first, then Debian's layout."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    # Debian keeps the server binaries off PATH, one folder per major version; newest first.
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    candidates += [Path(p) for p in debian]
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or in "
        "/usr/lib/postgresql/*/bin; install them, e.g. apt-get install postgresql"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root and `runuser` is missing")
    return ["runuser", "-u", SYSTEM_USER, "--", *cmd]


def _run(cmd: list[str]) -> None:
    done = subprocess.run(
        _as_server_user(cmd), capture_output=True, text=True, timeout=START_TIMEOUT_SECONDS
    )
    if done.returncode != 0:
        raise PostgresUnavailable(f"{Path(cmd[0]).name} failed: {done.stderr.strip()[-500:]}")


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    """Start a cluster in a temp directory; stop it and delete everything on exit."""
    bin_dir = find_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="analytics-pg-"))
    try:
        if os.geteuid() == 0:
            try:
                shutil.chown(root, user=SYSTEM_USER)
            except LookupError:
                raise PostgresUnavailable(f"running as root and no `{SYSTEM_USER}` user") from None
        data, log = root / "data", root / "server.log"
        pwfile = root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, user=SYSTEM_USER)
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-sync",
            ]
        )
        port = _free_port()
        # Durability is pointless for a throwaway cluster; turning it off makes loads fast.
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        pg_ctl = str(bin_dir / "pg_ctl")
        timeout = str(START_TIMEOUT_SECONDS)
        _run([pg_ctl, "start", "-w", "-t", timeout, "-D", str(data), "-l", str(log), "-o", options])
        try:
            yield PostgresServer("127.0.0.1", port)
        finally:
            subprocess.run(
                _as_server_user([pg_ctl, "stop", "-m", "immediate", "-D", str(data)]),
                capture_output=True,
                timeout=START_TIMEOUT_SECONDS,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One server per test session (per xdist worker); skipped, or failed in CI, if none."""
    stack = contextlib.ExitStack()
    try:
        server = stack.enter_context(running_server())
    except (PostgresUnavailable, OSError, subprocess.TimeoutExpired) as exc:
        reason = f"no PostgreSQL server for the Postgres tests: {exc}"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason} ({REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(reason)
    with stack:
        yield server
