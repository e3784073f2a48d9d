"""The DuckDB file's single-writer lock: every process that opens the file holds it."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import duckdb
from filelock import FileLock

from analytics_assets.settings import ApiSettings

# A writer waits this long for another run's load before failing (a big load takes minutes).
LOCK_TIMEOUT_SECONDS = 3600
# While another process holds the DuckDB file, say so this often, and try again this often.
HOLDER_LOG_SECONDS = 5.0
RETRY_SECONDS = 0.2
_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>\S+) \(PID (?P<pid>\d+)\)")


class WarehouseLockedError(RuntimeError):
    """Another process kept the DuckDB file past the configured wait."""


@contextlib.contextmanager
def writer_lock(settings: ApiSettings, log: Any = None) -> Iterator[None]:
    """Hold the DuckDB file for this process (any process, any run); a no-op elsewhere.

    Two layers: our own file lock serializes our writers; then one connection held open keeps
    other processes (an analyst's read-only connection, a BI tool) out until we are done, after
    waiting for them to let go. dlt's own connections in this process share the database the
    held one opened, so nothing can take the file between our steps.

    A server takes concurrent writers, and a file lock could not serialize runs on different
    machines anyway (that is the Dagster pool's job).
    """
    if not settings.is_duckdb:
        yield
        return
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.duckdb_path) + ".lock", timeout=LOCK_TIMEOUT_SECONDS):
        held = hold_file(settings, log)
        try:
            yield
        finally:
            held.close()


def hold_file(
    settings: ApiSettings,
    log: Any = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file for writing, waiting up to `duckdb_lock_timeout_seconds` while
    another process holds it, with a line naming the holder every few seconds."""
    path = str(settings.duckdb_path)
    started = clock()
    logged = -HOLDER_LOG_SECONDS
    while True:
        try:
            # Opened without config: dlt opens it so too, and DuckDB shares one database per
            # file and configuration within a process.
            return duckdb.connect(path)
        except duckdb.IOException as exc:
            holder = _holder(str(exc))
            if holder is None:
                raise
            waited = clock() - started
            limit = settings.duckdb_lock_timeout_seconds
            if waited >= limit:
                raise WarehouseLockedError(
                    f"The DuckDB warehouse file is held by another process ({holder}) and was "
                    f"not released within {limit:g} s (ANALYTICS_DUCKDB_LOCK_TIMEOUT_SECONDS). "
                    "Nothing was written. Readers should use short read-only connections, "
                    "read a copy, or use a server destination (README: 'Reading the warehouse "
                    "while loads run')."
                ) from None
            if log is not None and waited - logged >= HOLDER_LOG_SECONDS:
                log.warning(
                    f"The DuckDB warehouse file is held by another process ({holder}); "
                    f"waiting for it ({waited:.0f} of {limit:g} s)"
                )
                logged = waited
            sleep(RETRY_SECONDS)


def _holder(message: str) -> str | None:
    """'PID 1234, python3.11' from DuckDB's lock conflict message; None for other errors."""
    found = _HOLDER.search(message)
    if found is None:
        return None
    program = found["program"].rsplit("/", 1)[-1]
    return f"PID {found['pid']}, {program}"
