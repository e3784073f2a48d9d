"""An idle connection held open to each SQLite file the receiver writes, for speed.

Dagster's SQLite storage opens a connection per write and closes it; in WAL mode, closing
the last connection to a file checkpoints the log into the database and deletes it, with its
fsyncs, at every event. With one more connection held open (idle, no transaction, so
checkpoints still run as the log grows) a write only appends to the log: about twice the
events per second on this machine (`make bench-webhooks`). Not needed on Postgres.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from dagster import DagsterInstance

# Where the default SQLite storage keeps the event log index and the runless events' shard
# (run id ""): `$DAGSTER_HOME/history/runs/`. Elsewhere (another storage) nothing is held.
SHARDS = ("index.db", ".db")


class SqliteKeepAlive:
    def __init__(self, instance: DagsterInstance) -> None:
        sqlite = type(instance.event_log_storage).__name__.startswith("Sqlite")
        folder = Path(instance.root_directory) / "history" / "runs"
        self._wanted = [folder / name for name in SHARDS] if sqlite else []
        self._held: dict[Path, sqlite3.Connection] = {}

    def refresh(self) -> None:
        """Open what exists and is not held yet (the shard appears with the first event)."""
        for path in self._wanted:
            if path not in self._held and path.exists():
                connection = sqlite3.connect(path, check_same_thread=False)
                connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
                self._held[path] = connection

    def close(self) -> None:
        for connection in self._held.values():
            with contextlib.suppress(sqlite3.Error):
                connection.close()
        self._held.clear()
