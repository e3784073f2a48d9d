"""The dlt pipelines that write the warehouse, and the lock that serializes DuckDB writers.

Each workflow partition gets its own dlt pipeline (own working folder and state), so
concurrent partition runs never share dlt state. DuckDB takes one writer per file across
processes, so every run that opens the file holds a file lock beside it; the Dagster pool
`analytics_warehouse` (limit 1 in the shipped dagster.yaml) queues runs before they get here.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator, Sequence
from typing import Any

import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.pipeline.pipeline import Pipeline
from filelock import FileLock

from analytics_assets import constants as c
from analytics_assets.settings import ApiSettings

LOCK_TIMEOUT_SECONDS = 3600
# Loads append and merge; insertion order is meaningless for them, and keeping it is what
# makes DuckDB hold a whole load file in memory. The cap keeps big loads flat in memory
# (DuckDB spills to disk past it).
DUCKDB_CONFIG = {"preserve_insertion_order": False, "memory_limit": "256MB"}


def pipeline_name(workflow_uids: str | Sequence[str] | None = None) -> str:
    """`analytics` for the workspace assets, `analytics_wf_<uid>_<hash>` per partition, and
    `analytics_batch_<count>_<hash>` for a run of several partitions (a single-run backfill).

    The hash keeps names unique and file-system safe whatever characters a uid holds; a
    re-run of the same partitions finds the same working folder (and any package a killed
    run left behind).
    """
    if workflow_uids is None:
        return c.SOURCE_NAME
    uids = [workflow_uids] if isinstance(workflow_uids, str) else sorted(workflow_uids)
    digest = hashlib.sha1("\n".join(uids).encode()).hexdigest()
    if len(uids) != 1:
        return f"{c.SOURCE_NAME}_batch_{len(uids)}_{digest[:12]}"
    safe = re.sub(r"[^A-Za-z0-9]+", "_", uids[0]).strip("_")[:40]
    return f"{c.SOURCE_NAME}_wf_{safe}_{digest[:8]}"


def make_pipeline(
    settings: ApiSettings | None,
    workflow_uids: str | Sequence[str] | None = None,
    *,
    name: str | None = None,
) -> Pipeline:
    """A dlt pipeline writing dataset `analytics` of the configured DuckDB file.

    `name` overrides the pipeline name, e.g. for read-only use that must not touch the
    working folder of a pipeline another run may be writing.
    """
    name = name or pipeline_name(workflow_uids)
    if settings is None:  # definition time: only names matter, nothing is opened
        return dlt.pipeline(
            pipeline_name=name,
            destination="duckdb",
            dataset_name=c.DATASET_NAME,
        )
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    credentials = DuckDbCredentials(str(settings.duckdb_path), global_config=DUCKDB_CONFIG)
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(credentials),
        dataset_name=c.DATASET_NAME,
        pipelines_dir=str(settings.dlt_pipelines_dir),
    )


@contextlib.contextmanager
def writer_lock(settings: ApiSettings) -> Iterator[None]:
    """Hold the warehouse's single-writer lock (any process, any run)."""
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.duckdb_path) + ".lock", timeout=LOCK_TIMEOUT_SECONDS):
        yield


class WarehouseReader:
    """Queries over one dlt SQL connection (any SQL destination, not only DuckDB)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._has_dataset = client.has_dataset()

    def table(self, name: str) -> str | None:
        """The qualified name of `name`, or None until dlt has created it (first rows)."""
        if not self._has_dataset:
            return None
        qualified = self._client.make_qualified_table_name(name)
        try:
            with self._client.execute_query(f"SELECT 1 FROM {qualified} LIMIT 1") as cursor:
                cursor.fetchall()
        except DatabaseUndefinedRelation:
            return None
        return qualified

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self._client.execute_query(sql, *params) as cursor:
            return [tuple(row) for row in cursor.fetchall()]

    def count(self, table: str, workflow_uids: list[str] | None = None) -> int:
        """Rows of `table`, optionally only those of some workflow partitions."""
        qualified = self.table(table)
        if qualified is None:
            return 0
        if workflow_uids is None:
            return self.rows(f"SELECT count(*) FROM {qualified}")[0][0]
        sql = f"SELECT count(*) FROM {qualified} WHERE {in_clause(workflow_uids)}"
        return self.rows(sql, *workflow_uids)[0][0]

    def partition_counts(
        self, table: str, workflow_uids: list[str] | None
    ) -> dict[str | None, int]:
        """Rows per workflow partition (every key present), or {None: rows} unpartitioned."""
        if workflow_uids is None:
            return {None: self.count(table)}
        counts: dict[str | None, int] = dict.fromkeys(workflow_uids, 0)
        qualified = self.table(table)
        if qualified is not None and workflow_uids:
            sql = (
                f"SELECT workflow_uid, count(*) FROM {qualified} "
                f"WHERE {in_clause(workflow_uids)} GROUP BY workflow_uid"
            )
            counts.update(dict(self.rows(sql, *workflow_uids)))
        return counts


def in_clause(workflow_uids: list[str], column: str = "workflow_uid") -> str:
    return f"{column} IN (" + ", ".join(["%s"] * len(workflow_uids)) + ")"


@contextlib.contextmanager
def reading(pipeline: Pipeline) -> Iterator[WarehouseReader]:
    """One connection for a group of queries (opening one costs more than most queries)."""
    with pipeline.sql_client() as client:
        yield WarehouseReader(client)
