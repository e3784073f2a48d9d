"""Where a key's rate budget lives: this process, a SQLite file on the host, or Postgres.

Each store holds two things per key: pyrate-limiter's bucket of admissions, and one row of
learned state (the rate a 429 taught, where from, and until when every consumer holds off).
Keys are stored as a hash, never as the key.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pyrate_limiter import AbstractBucket, InMemoryBucket, PostgresBucket, Rate, SQLiteBucket

from analytics_assets.api.redact import redacted
from analytics_assets.settings import AnalyticsConfigError, ApiSettings, env_name

STATE_TABLE = "analytics_rate_budget"


@dataclass(frozen=True)
class BudgetState:
    """The learned state of one key, as every process reads it."""

    rate: float | None = None
    source: str = ""
    learned_at: float = 0.0
    blocked_until: float = 0.0


class BudgetStore(Protocol):
    def bucket(self, rate: Rate) -> AbstractBucket: ...

    def read(self) -> BudgetState: ...

    def learn(
        self, rate: float | None, source: str, learned_at: float, blocked_until: float
    ) -> BudgetState:
        """Record a learned rate (None: keep the stored one) and a pause, never shortening
        a pause another consumer recorded."""
        ...

    def close(self) -> None: ...


def key_id(api_key: str, base_url: str) -> str:
    """A stable name for a key on one API: the same in every process, and not the key."""
    digest = hashlib.sha256(f"analytics-rate-budget\0{base_url}\0{api_key}".encode())
    return digest.hexdigest()[:16]


def postgres_url(store: str) -> str | None:
    """A libpq URL for a Postgres store (SQLAlchemy's `postgresql+driver://` accepted), None
    for a file path; any other URL scheme is refused, never taken for a file name."""
    scheme, sep, rest = store.partition("://")
    if not sep:
        return None
    if scheme.lower().split("+")[0] in ("postgresql", "postgres"):
        return f"postgresql://{rest}"
    raise AnalyticsConfigError(
        f"{env_name('rate_limit_store')} is a URL of a kind not supported "
        "(the value is not shown): "
        "use a postgresql:// URL, or a file path for a SQLite file"
    )


def _merged(
    old: BudgetState, rate: float | None, source: str, at: float, until: float
) -> BudgetState:
    if rate is None:
        return BudgetState(old.rate, old.source, old.learned_at, max(old.blocked_until, until))
    return BudgetState(rate, source, at, max(old.blocked_until, until))


class MemoryStore:
    """One process only (tests, or a process that shares with nobody)."""

    def __init__(self, clock: Any) -> None:
        self._clock = clock
        self._state = BudgetState()
        self._lock = threading.Lock()

    def bucket(self, rate: Rate) -> AbstractBucket:
        clock = self._clock

        class ClockedBucket(InMemoryBucket):
            def now(self) -> int:
                return int(clock.time() * 1000)

        return ClockedBucket([rate])

    def read(self) -> BudgetState:
        with self._lock:
            return self._state

    def learn(self, rate: float | None, source: str, learned_at: float, blocked_until: float):
        with self._lock:
            self._state = _merged(self._state, rate, source, learned_at, blocked_until)
            return self._state

    def close(self) -> None:
        pass


class SqliteStore:
    """A file shared by every process on the host; pyrate-limiter's file-locked bucket."""

    def __init__(self, path: Path, key: str, clock: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.key, self._clock = path, key, clock
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
        with self._lock, self._conn:
            self._conn.execute(
                f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (key TEXT PRIMARY KEY, rate REAL, "
                "source TEXT, learned_at REAL, blocked_until REAL)"
            )

    def bucket(self, rate: Rate) -> AbstractBucket:
        clock = self._clock

        class ClockedBucket(SQLiteBucket):
            # Wall time, the clock every process on the host agrees on.
            def now(self) -> int:
                return int(clock.time() * 1000)

        return ClockedBucket.init_from_file(
            [rate], table=f"budget_{self.key}", db_path=str(self.path), use_file_lock=True
        )

    def read(self) -> BudgetState:
        with self._lock:
            row = self._conn.execute(
                f"SELECT rate, source, learned_at, blocked_until FROM {STATE_TABLE} WHERE key = ?",
                (self.key,),
            ).fetchone()
        return BudgetState(*row) if row else BudgetState()

    def learn(self, rate: float | None, source: str, learned_at: float, blocked_until: float):
        with self._lock, self._conn:
            self._conn.execute(
                f"INSERT INTO {STATE_TABLE} VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE "
                "SET rate = coalesce(excluded.rate, rate), "
                "source = CASE WHEN excluded.rate IS NULL THEN source ELSE excluded.source END, "
                "learned_at = CASE WHEN excluded.rate IS NULL THEN learned_at "
                "ELSE excluded.learned_at END, "
                "blocked_until = max(blocked_until, excluded.blocked_until)",
                (self.key, rate, source, learned_at, blocked_until),
            )
        return self.read()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresStore:
    """A database every host reaches (a production Dagster deployment already has one)."""

    def __init__(self, url: str, key: str) -> None:
        from psycopg_pool import ConnectionPool

        self.key = key
        _check_reachable(url)
        self._pool = ConnectionPool(url, min_size=1, max_size=4, open=True, timeout=30)
        with self._pool.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (STATE_TABLE,))
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (key TEXT PRIMARY KEY, "
                "rate DOUBLE PRECISION, source TEXT, learned_at DOUBLE PRECISION, "
                "blocked_until DOUBLE PRECISION)"
            )

    def bucket(self, rate: Rate) -> AbstractBucket:
        # pyrate-limiter's Postgres clock: one time source for every host.
        return PostgresBucket(self._pool, f"analytics_budget_{self.key}", [rate])

    def read(self) -> BudgetState:
        with self._pool.connection() as conn:
            row = conn.execute(
                f"SELECT rate, source, learned_at, blocked_until FROM {STATE_TABLE} WHERE key = %s",
                (self.key,),
            ).fetchone()
        return BudgetState(*row) if row else BudgetState()

    def learn(self, rate: float | None, source: str, learned_at: float, blocked_until: float):
        with self._pool.connection() as conn:
            conn.execute(
                f"INSERT INTO {STATE_TABLE} AS s VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET rate = coalesce(excluded.rate, s.rate), "
                "source = CASE WHEN excluded.rate IS NULL THEN s.source ELSE excluded.source END, "
                "learned_at = CASE WHEN excluded.rate IS NULL THEN s.learned_at "
                "ELSE excluded.learned_at END, "
                "blocked_until = greatest(s.blocked_until, excluded.blocked_until)",
                (self.key, rate, source, learned_at, blocked_until),
            )
        return self.read()

    def close(self) -> None:
        self._pool.close()


def _check_reachable(url: str) -> None:
    """Fail in seconds naming the setting, never showing the URL (it holds a password)."""
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=10).close()
    except Exception as exc:  # psycopg raises several kinds, all quoting the server's words
        raise AnalyticsConfigError(
            f"{env_name('rate_limit_store')} could not be opened as a Postgres database "
            f"({type(exc).__name__}: {redacted(str(exc), [url])}; the URL is not shown)"
        ) from None


def open_store(settings: ApiSettings, clock: Any, scope: str = "") -> BudgetStore:
    """The store `ANALYTICS_API_RATE_LIMIT_STORE` names: a Postgres URL, `:memory:`, or a
    SQLite file (by default beside the warehouse file, shared by every process on the host).

    A `scope` keeps a separate budget on the same key (an endpoint with its own limit)."""
    key = key_id(settings.api_key, settings.base_url) + (f"_{scope}" if scope else "")
    where = settings.rate_limit_store
    if where == ":memory:":
        return MemoryStore(clock)
    url = postgres_url(where) if where else None
    if url is not None:
        return PostgresStore(url, key)
    return SqliteStore(Path(where) if where else settings.default_budget_path, key, clock)
