"""The DuckDB file's single-writer lock: every process that opens the file holds it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from filelock import FileLock

from analytics_assets.settings import ApiSettings

# A writer waits this long for another run's load before failing (a big load takes minutes).
LOCK_TIMEOUT_SECONDS = 3600


@contextlib.contextmanager
def writer_lock(settings: ApiSettings) -> Iterator[None]:
    """Hold the DuckDB file's single-writer lock (any process, any run); a no-op elsewhere.

    A server takes concurrent writers, and a file lock could not serialize runs on different
    machines anyway (that is the Dagster pool's job).
    """
    if not settings.is_duckdb:
        yield
        return
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.duckdb_path) + ".lock", timeout=LOCK_TIMEOUT_SECONDS):
        yield
