"""The dlt pipelines that write the warehouse, and the lock that serializes DuckDB writers.

Each workflow partition gets its own dlt pipeline (own working folder and state), so
concurrent partition runs never share dlt state. DuckDB takes one writer per file across
processes, so every run that opens the file holds a file lock beside it; the Dagster pool
`analytics_warehouse` can queue runs before they get here. Server destinations (Postgres and
the rest) take concurrent writers: no file lock, and each partition stages its merge in its
own staging dataset so concurrent merges never share a staging table.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from typing import Any

import dlt
from dlt.common.destination import Destination
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.pipeline.pipeline import Pipeline
from filelock import FileLock

from analytics_assets import constants as c
from analytics_assets.settings import ApiSettings

LOCK_TIMEOUT_SECONDS = 3600
# Loads append and merge; insertion order is meaningless for them, and keeping it is what
# makes DuckDB hold a whole load file in memory. The memory cap keeps big loads flat (DuckDB
# spills to disk past it): a merge of 1M result rows peaks at the cap plus ~20 MB. A cap this
# low needs few threads, since each holds its own buffers: merging 1M rows into a 3M-row table
# ran out of memory at 64MB with 16 threads; with 4, an 8M-row table took a 3M-row merge.
# Raise both with dlt's DESTINATION__DUCKDB__CREDENTIALS__PRAGMAS (README).
DUCKDB_CONFIG = {
    "preserve_insertion_order": False,
    "memory_limit": "64MB",
    "threads": min(4, os.cpu_count() or 1),
}


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
    if len(uids) != 1:
        return f"{c.SOURCE_NAME}_batch_{len(uids)}_{_digest(chr(10).join(uids), 12)}"
    safe = re.sub(r"[^A-Za-z0-9]+", "_", uids[0]).strip("_")[:40]
    return f"{c.SOURCE_NAME}_wf_{safe}_{_digest(uids[0])}"


def make_pipeline(
    settings: ApiSettings | None,
    workflow_uids: str | Sequence[str] | None = None,
    *,
    name: str | None = None,
) -> Pipeline:
    """A dlt pipeline writing dataset `analytics` of the configured destination.

    DuckDB gets the configured file and its memory settings; any other destination is built
    from its name, and dlt reads its credentials from its own config (env or secrets.toml).

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
    return dlt.pipeline(
        pipeline_name=name,
        destination=_destination(settings, name),
        dataset_name=c.DATASET_NAME,
        pipelines_dir=str(settings.dlt_pipelines_dir),
    )


def _destination(settings: ApiSettings, name: str) -> Destination:
    if settings.is_duckdb:
        settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        credentials = DuckDbCredentials(str(settings.duckdb_path), global_config=DUCKDB_CONFIG)
        return dlt.destinations.duckdb(credentials)
    # dlt stages merges in `analytics_staging` and truncates it at each load: two partitions
    # loading at once would merge each other's (or no) rows. One staging dataset per pipeline.
    staging = "%s_staging" if name == c.SOURCE_NAME else f"%s_staging_{_digest(name)}"
    destination = Destination.from_reference(
        settings.destination, staging_dataset_name_layout=staging
    )
    assert destination is not None  # from_reference returns None only for a None reference
    return destination


def _digest(text: str, size: int = 8) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:size]


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


class WarehouseReader:
    """Queries over one dlt SQL connection (any SQL destination, not only DuckDB)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._has_dataset = client.has_dataset()

    def table(self, name: str) -> str | None:
        """The qualified name of `name`, or None until dlt has created it (first rows)."""
        if not self._has_dataset or not self._exists(name):
            return None
        return self._client.make_qualified_table_name(name)

    def _exists(self, name: str) -> bool:
        # Looked up, not probed with a SELECT: a failed query aborts a Postgres transaction.
        # Built like dlt's own has_dataset, so catalog, casing and quoting follow the destination.
        client = self._client
        catalog, schema, (table,) = client._get_information_schema_components(name)
        sql = f"SELECT 1 FROM {client._qualify_info_schema_table_name('TABLES')} WHERE "
        params = [catalog] if catalog is not None else []
        sql += "table_catalog = %s AND " if catalog is not None else ""
        sql += "table_schema = %s AND table_name = %s"
        return bool(self.rows(sql, *params, schema, table))

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self._client.execute_query(sql, *params) as cursor:
            return [tuple(row) for row in cursor.fetchall()]

    def count(self, table: str) -> int:
        """Rows of `table` (0 until dlt has created it)."""
        qualified = self.table(table)
        return 0 if qualified is None else self.rows(f"SELECT count(*) FROM {qualified}")[0][0]

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


def is_batch(pipeline: Pipeline) -> bool:
    return pipeline.pipeline_name.startswith(f"{c.SOURCE_NAME}_batch_")


def forget_batch(pipeline: Pipeline, settings: ApiSettings) -> None:
    """Leave no trail of a finished run of several partitions: its working folder, its dlt
    state rows and (on a server) its staging dataset.

    Sensor batches are ever new partition sets; kept, each would leave all three behind for
    good. Nothing is lost: what a run must skip is read from the loaded tables, never from
    dlt state, and a failed run's folder stays for its re-run (same partitions, same name).
    """
    if not is_batch(pipeline):
        return
    with pipeline.sql_client() as client:
        reader = WarehouseReader(client)
        state = reader.table("_dlt_pipeline_state")
        if state is not None:
            client.execute_sql(
                f"DELETE FROM {state} WHERE pipeline_name = %s", pipeline.pipeline_name
            )
        if not settings.is_duckdb:
            with client.with_staging_dataset():
                if client.has_dataset():
                    client.drop_dataset()
    # Not pipeline.drop(): it lays a fresh working folder down again.
    shutil.rmtree(pipeline.working_dir, ignore_errors=True)


@contextlib.contextmanager
def reading(pipeline: Pipeline) -> Iterator[WarehouseReader]:
    """One connection for a group of queries (opening one costs more than most queries)."""
    with pipeline.sql_client() as client:
        yield WarehouseReader(client)
