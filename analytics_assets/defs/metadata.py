"""What every materialization tells the user: rows per partition, table, columns, requests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
)
from dlt.common.schema.typing import TTableSchemaColumns
from dlt.destinations.exceptions import DatabaseException
from dlt.pipeline.pipeline import Pipeline

from analytics_assets.api.client import AnalyticsApiClient
from analytics_assets.defs.declared import api_asset
from analytics_assets.warehouse.pipelines import destination_columns
from analytics_assets.warehouse.reader import WarehouseReader

# Per partition, on `jobs`: the fingerprint of the jobs the run listed (the sensor's baseline).
FINGERPRINT_METADATA = "analytics/jobs_fingerprint"
PREVIEW_ROWS = 5
# dagster-dlt's load-info keys that are noise in the UI: per-file job records with absolute
# local paths (the row counts and the load itself are reported separately).
DROPPED_LOAD_INFO = ("jobs",)


def materialization(
    context: AssetExecutionContext,
    key: AssetKey,
    metadata: dict[str, Any],
    counts: Mapping[str | None, int],
    partitions: list[str] | None,
    per_partition: Mapping[str, Mapping[str, Any]] | None = None,
) -> MaterializeResult:
    """The result of one asset, with row counts (and `per_partition` entries) per partition
    when a run loads several.

    Dagster gives every partition of a multi-partition run the result's metadata; values
    that differ per partition go in through `add_asset_metadata`, before the result.
    """
    extra = per_partition or {}
    if partitions is None:
        metadata["dagster/row_count"] = MetadataValue.int(counts.get(None, 0))
    elif len(partitions) == 1:
        metadata["dagster/partition_row_count"] = MetadataValue.int(counts.get(partitions[0], 0))
        metadata.update(extra.get(partitions[0], {}))
    else:
        for partition in partitions:
            context.add_asset_metadata(
                {
                    "dagster/partition_row_count": MetadataValue.int(counts.get(partition, 0)),
                    **extra.get(partition, {}),
                },
                asset_key=key,
                partition_key=partition,
            )
        metadata["partitions_in_run"] = MetadataValue.int(len(partitions))
        metadata["rows_in_run_partitions"] = MetadataValue.int(sum(counts.values()))
    return MaterializeResult(asset_key=key, metadata=metadata)


def request_metadata(client: AnalyticsApiClient | None) -> dict[str, Any]:
    """What the step asked of the API, and what the plan's rate limit cost it."""
    if client is None:
        return {"api_requests": MetadataValue.int(0)}
    stats = client.stats
    return {
        "api_requests": MetadataValue.int(stats.requests),
        "api_retries": MetadataValue.int(stats.retries),
        "api_rate_limited": MetadataValue.int(stats.rate_limited),
        "api_rate_wait_seconds": MetadataValue.float(round(stats.seconds_budget, 3)),
        "api_effective_rate": MetadataValue.float(round(stats.effective_rate, 3)),
        "api_rate_limit": MetadataValue.text(client.describe_limit()),
    }


def table_metadata(pipeline: Pipeline, table: str, loaded: Mapping[str, Any]) -> dict[str, Any]:
    """Table name and column schema on every materialization.

    dagster-dlt sets them only when a load changed the schema; a user looking at any
    materialization should still see where the rows are and what they look like, so a run
    that loaded nothing takes them from the destination (in dlt's types, as a load shows them).
    """
    destination = pipeline.destination.destination_name
    metadata: dict[str, Any] = {}
    if "dagster/table_name" not in loaded:
        metadata["dagster/table_name"] = f"{destination}.{pipeline.dataset_name}.{table}"
    if not _has_columns(loaded.get("dagster/column_schema")):
        columns = _known_columns(pipeline, table) or _stored_columns(pipeline, table)
        if columns:
            metadata["dagster/column_schema"] = TableSchema(columns=columns)
    return metadata


def _has_columns(schema: Any) -> bool:
    value = getattr(schema, "value", schema)
    return bool(getattr(value, "columns", None))


def _known_columns(pipeline: Pipeline, table: str) -> list[TableColumn]:
    if not pipeline.default_schema_name or table not in pipeline.default_schema.tables:
        return []
    return _table_columns(pipeline.default_schema.get_table_columns(table))


def _stored_columns(pipeline: Pipeline, table: str) -> list[TableColumn]:
    return _table_columns(destination_columns(pipeline, [table]).get(table, {}))


def _table_columns(columns: TTableSchemaColumns) -> list[TableColumn]:
    """Columns dlt has typed (a table declared but never loaded has none)."""
    return [
        TableColumn(
            name=name,
            type=str(column["data_type"]),
            constraints=TableColumnConstraints(nullable=bool(column.get("nullable", True))),
        )
        for name, column in columns.items()
        if column.get("data_type")
    ]


def preview(warehouse: WarehouseReader, table: str) -> str:
    """A few rows of a small table as markdown; '' for the others."""
    columns = api_asset(table).preview
    qualified = warehouse.table(table) if columns else None
    if not columns or qualified is None:
        return ""
    try:
        rows = warehouse.rows(f"SELECT {', '.join(columns)} FROM {qualified} LIMIT {PREVIEW_ROWS}")
    except DatabaseException:  # a column the API stopped sending: no preview, no failure
        return ""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
