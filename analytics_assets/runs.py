"""Running a dlt load inside a Dagster step: the writer lock, clear errors, row counts."""

from __future__ import annotations

from collections.abc import Iterator

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue
from dagster_dlt import DagsterDltResource
from dlt.extract.source import DltSource
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline

from analytics_assets import constants as c
from analytics_assets.client import AnalyticsApiClient, AnalyticsApiError
from analytics_assets.settings import ApiSettings
from analytics_assets.translator import AnalyticsDltTranslator
from analytics_assets.warehouse import query, table_exists, writer_lock


def load_file_format(pipeline: Pipeline) -> str | None:
    # dlt's default INSERT path into DuckDB is ~5x slower and far hungrier than parquet.
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
        counts = {r.asset_key.path[-1]: _row_count(pipeline, r.asset_key.path[-1], partition)
                  for r in results if r.asset_key}
    for result in results:
        table = result.asset_key.path[-1] if result.asset_key else ""
        count_key = "dagster/partition_row_count" if partition else "dagster/row_count"
        metadata = {
            **(result.metadata or {}),
            count_key: MetadataValue.int(counts.get(table, 0)),
            "api_requests": MetadataValue.int(client.stats.requests),
            "api_retries": MetadataValue.int(client.stats.retries),
        }
        yield MaterializeResult(asset_key=result.asset_key, metadata=metadata)


def _row_count(pipeline: Pipeline, table: str, partition: str | None) -> int:
    if not table_exists(pipeline, table):
        return 0
    with pipeline.sql_client() as sql:
        name = sql.make_qualified_table_name(table)
    if partition is None:
        return query(pipeline, f"SELECT count(*) FROM {name}")[0][0]
    return query(pipeline, f"SELECT count(*) FROM {name} WHERE workflow_uid = %s", partition)[0][0]


def successful_job_uids(pipeline: Pipeline, settings: ApiSettings, workflow_uid: str) -> list[str]:
    """The workflow's successful jobs as the warehouse (and its check) knows them."""
    with writer_lock(settings):
        if not table_exists(pipeline, c.SUCCESSFUL_JOBS):
            return []
        with pipeline.sql_client() as sql:
            name = sql.make_qualified_table_name(c.SUCCESSFUL_JOBS)
        rows = query(
            pipeline, f"SELECT uid FROM {name} WHERE workflow_uid = %s ORDER BY uid", workflow_uid
        )
    return [row[0] for row in rows]


def _failure(exc: PipelineStepFailed) -> Exception:
    """Surface our own API error (endpoint, status, hint) instead of dlt's wrapper text."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, AnalyticsApiError):
            return Failure(description=str(seen), metadata={"endpoint": seen.endpoint or ""})
        seen = seen.__cause__ or seen.__context__
    return exc
