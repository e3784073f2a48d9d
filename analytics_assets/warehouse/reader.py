"""Queries over one dlt SQL connection, for any SQL destination (not only DuckDB)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from dlt.pipeline.pipeline import Pipeline


class WarehouseReader:
    """Tables, rows and counts of the pipeline's dataset."""

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
        # dlt has no public "does this table exist"; its own has_dataset is built this way.
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


@contextlib.contextmanager
def read_warehouse(pipeline: Pipeline) -> Iterator[WarehouseReader]:
    """One connection for a group of queries (opening one costs more than most queries)."""
    with pipeline.sql_client() as client:
        yield WarehouseReader(client)
