"""Running a dlt load inside a Dagster step: the writer lock, clear errors, row counts."""

from __future__ import annotations

import os
from collections.abc import Iterator

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue
from dagster_dlt import DagsterDltResource
from dlt.destinations.exceptions import DatabaseException
from dlt.extract.source import DltSource
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline

from analytics_assets import constants as c
from analytics_assets.client import AnalyticsApiClient, AnalyticsApiError
from analytics_assets.settings import ApiSettings
from analytics_assets.translator import AnalyticsDltTranslator
from analytics_assets.warehouse import WarehouseReader, reading, writer_lock


def load_file_format(pipeline: Pipeline) -> str | None:
    # dlt's default INSERT path into DuckDB is ~5x slower and far hungrier than parquet.
    # Elsewhere dlt's default: on Postgres its csv (COPY) path loads '' as NULL, and parquet
    # needs an ADBC driver; INSERT is exact, Arrow pages included, and only ~10% slower.
    return "parquet" if pipeline.destination.destination_name == "duckdb" else None


def run_dlt(
    context: AssetExecutionContext,
    dlt: DagsterDltResource,
    source: DltSource,
    pipeline: Pipeline,
    settings: ApiSettings,
    translator: AnalyticsDltTranslator,
    client: AnalyticsApiClient,
) -> Iterator[MaterializeResult]:
    """Load `source` through dagster-dlt and yield one enriched result per selected asset."""
    partition = context.partition_key if context.has_partition_key else None
    # Arrow pages get dlt's row ids and load ids too, so every row is shaped like a dict row.
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID", "true")
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
    with writer_lock(settings):
        try:
            results = list(
                dlt.run(
                    context=context,
                    dlt_source=source,
                    dlt_pipeline=pipeline,
                    dagster_dlt_translator=translator,
                    loader_file_format=load_file_format(pipeline),
                )
            )
        except PipelineStepFailed as exc:
            raise _failure(exc) from None
        scope = [partition] if partition else None
        with reading(pipeline) as warehouse:
            counts = {
                r.asset_key.path[-1]: warehouse.count(r.asset_key.path[-1], scope)
                for r in results
                if r.asset_key
            }
            previews = {
                table: _preview(warehouse, table, PREVIEW_COLUMNS[table])
                for table in counts
                if table in PREVIEW_COLUMNS
            }
    for result in results:
        table = result.asset_key.path[-1] if result.asset_key else ""
        count_key = "dagster/partition_row_count" if partition else "dagster/row_count"
        metadata = {
            **(result.metadata or {}),
            count_key: MetadataValue.int(counts.get(table, 0)),
            "api_requests": MetadataValue.int(client.stats.requests),
            "api_retries": MetadataValue.int(client.stats.retries),
        }
        if previews.get(table):
            metadata["preview"] = MetadataValue.md(previews[table])
        yield MaterializeResult(asset_key=result.asset_key, metadata=metadata)


# Small tables get a few rows in the UI; the per-workflow tables are too wide and too many.
PREVIEW_COLUMNS = {
    c.WORKSPACE: ("name", "plan_name", "tasks_used", "tasks_left", "current_month_end"),
    c.WORKFLOWS: ("uid", "name", "created_at", "project_id"),
}
PREVIEW_ROWS = 5


def _preview(warehouse: WarehouseReader, table: str, columns: tuple[str, ...]) -> str:
    qualified = warehouse.table(table)
    if qualified is None:
        return ""
    try:
        rows = warehouse.rows(f"SELECT {', '.join(columns)} FROM {qualified} LIMIT {PREVIEW_ROWS}")
    except DatabaseException:  # a column the API stopped sending: no preview, no failure
        return ""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def results_plan(
    pipeline: Pipeline, settings: ApiSettings, workflow_uid: str
) -> tuple[list[str], set[str]]:
    """The workflow's successful jobs (as checked in the warehouse) and those with results.

    A finished job's results never change, and dlt merges a load into `job_results` in one
    transaction, so a job uid present there means all of its rows are there.
    """
    with writer_lock(settings), reading(pipeline) as warehouse:
        successful = warehouse.table(c.SUCCESSFUL_JOBS)
        if successful is None:
            return [], set()
        sql = f"SELECT uid FROM {successful} WHERE workflow_uid = %s ORDER BY uid"
        uids = [row[0] for row in warehouse.rows(sql, workflow_uid)]
        results = warehouse.table(c.JOB_RESULTS)
        if results is None:
            return uids, set()
        sql = f"SELECT DISTINCT job_uid FROM {results} WHERE workflow_uid = %s"
        return uids, {row[0] for row in warehouse.rows(sql, workflow_uid)}


def nothing_to_load(
    context: AssetExecutionContext, pipeline: Pipeline, settings: ApiSettings, asset: str
) -> MaterializeResult:
    """Materialize without a dlt run (saves its ~1 s fixed cost) when no request is needed."""
    with writer_lock(settings), reading(pipeline) as warehouse:
        rows = warehouse.count(asset, [context.partition_key])
    return MaterializeResult(
        asset_key=asset,
        metadata={
            "dagster/partition_row_count": MetadataValue.int(rows),
            "api_requests": MetadataValue.int(0),
            "rows_loaded": MetadataValue.int(0),
        },
    )


def _failure(exc: PipelineStepFailed) -> Exception:
    """Surface our own API error (endpoint, status, hint) instead of dlt's wrapper text."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, AnalyticsApiError):
            return Failure(description=str(seen), metadata={"endpoint": seen.endpoint or ""})
        seen = seen.__cause__ or seen.__context__
    return exc
