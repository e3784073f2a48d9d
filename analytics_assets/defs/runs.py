"""Running a dlt load inside a Dagster step: the writer lock, clear errors, row counts."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagster import (
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
)
from dagster_dlt import DagsterDltResource
from dlt.destinations.exceptions import DatabaseException
from dlt.extract.source import DltSource
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline

from analytics_assets import constants as c
from analytics_assets.api.client import AnalyticsApiClient, AnalyticsApiError
from analytics_assets.api.progress import Progress
from analytics_assets.api.records import FINGERPRINT_METADATA, ROW_ID, StoredJobs
from analytics_assets.api.redact import MASK, environment_secrets, redacted, secret_parts
from analytics_assets.api.source import JobRef
from analytics_assets.defs.partitions import materialization, run_partitions
from analytics_assets.defs.translator import AnalyticsDltTranslator
from analytics_assets.settings import ApiSettings
from analytics_assets.warehouse.pipelines import (
    WarehouseReader,
    forget_batch,
    in_clause,
    reading,
    writer_lock,
)


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
    progress: Progress | None = None,
) -> Iterator[MaterializeResult]:
    """Load `source` through dagster-dlt and yield one enriched result per selected asset."""
    partitions = run_partitions(context)
    # Arrow pages get dlt's row ids and load ids too, so every row is shaped like a dict row.
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID", "true")
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
    started = time.monotonic()
    try:
        results, counts, previews = _load(context, dlt, source, pipeline, settings, translator)
        requests = request_metadata(client)
    finally:
        client.close()
    if progress:
        progress.finish()
    for result in results:
        table = result.asset_key.path[-1] if result.asset_key else ""
        metadata = {
            **(result.metadata or {}),
            **table_metadata(pipeline, table, result.metadata or {}),
            **requests,
            "duration_seconds": MetadataValue.float(round(time.monotonic() - started, 3)),
        }
        if progress and table == c.JOB_RESULTS:
            metadata["result_pages"] = MetadataValue.int(progress.pages)
        if previews.get(table):
            metadata["preview"] = MetadataValue.md(previews[table])
        yield materialization(
            context, table, metadata, counts.get(table, {}), partitions, _listed(progress, table)
        )


def _listed(progress: Progress | None, table: str) -> dict[str, dict[str, Any]]:
    """Per partition, the fingerprint of the jobs this run listed (on `jobs` only)."""
    if progress is None or table != c.JOBS:
        return {}
    return {
        uid: {FINGERPRINT_METADATA: MetadataValue.text(fp)}
        for uid, fp in progress.fingerprints.items()
    }


def _load(
    context: AssetExecutionContext,
    dlt: DagsterDltResource,
    source: DltSource,
    pipeline: Pipeline,
    settings: ApiSettings,
    translator: AnalyticsDltTranslator,
) -> tuple[list[Any], dict[str, dict[str | None, int]], dict[str, str]]:
    """dlt's run under the writer lock, then each table's per-partition counts and preview;
    a run of several partitions then leaves no pipeline behind."""
    partitions = run_partitions(context)
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
        tables = [r.asset_key.path[-1] for r in results if r.asset_key]
        with reading(pipeline) as warehouse:
            counts = {table: warehouse.partition_counts(table, partitions) for table in tables}
            previews = {
                table: _preview(warehouse, table, PREVIEW_COLUMNS[table])
                for table in tables
                if table in PREVIEW_COLUMNS
            }
        forget_batch(pipeline, settings)
    return results, counts, previews


def request_metadata(client: AnalyticsApiClient) -> dict[str, Any]:
    """What the step asked of the API, and what the plan's rate limit cost it."""
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
    materialization should still see where the rows are and what they look like.
    """
    destination = pipeline.destination.destination_name
    metadata: dict[str, Any] = {}
    if "dagster/table_name" not in loaded:
        metadata["dagster/table_name"] = f"{destination}.{c.DATASET_NAME}.{table}"
    if not _has_columns(loaded.get("dagster/column_schema")):
        columns = _known_columns(pipeline, table)
        if columns:
            metadata["dagster/column_schema"] = TableSchema(columns=columns)
    return metadata


def _has_columns(schema: Any) -> bool:
    value = getattr(schema, "value", schema)
    return bool(getattr(value, "columns", None))


def _known_columns(pipeline: Pipeline, table: str) -> list[TableColumn]:
    if not pipeline.default_schema_name:
        return []
    schema = pipeline.default_schema
    if table not in schema.tables:
        return []
    return [
        TableColumn(
            name=name,
            type=str(column.get("data_type", "text")),
            constraints=TableColumnConstraints(nullable=bool(column.get("nullable", True))),
        )
        for name, column in schema.get_table_columns(table).items()
    ]


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
    pipeline: Pipeline, settings: ApiSettings, workflow_uids: list[str]
) -> tuple[list[JobRef], set[str]]:
    """The successful jobs of these workflows (as checked in the warehouse), as
    (job uid, workflow uid), and the uids of those whose results are loaded.

    A finished job's results never change, and dlt merges a load into `job_results` in one
    transaction, so a job uid present there means all of its rows are there.
    """
    with writer_lock(settings), reading(pipeline) as warehouse:
        successful = warehouse.table(c.SUCCESSFUL_JOBS)
        if successful is None:
            return [], set()
        where = in_clause(workflow_uids)
        sql = f"SELECT uid, workflow_uid FROM {successful} WHERE {where} ORDER BY workflow_uid, uid"
        jobs = [(row[0], row[1]) for row in warehouse.rows(sql, *workflow_uids)]
        results = warehouse.table(c.JOB_RESULTS)
        if results is None:
            return jobs, set()
        sql = f"SELECT DISTINCT job_uid FROM {results} WHERE {where}"
        return jobs, {row[0] for row in warehouse.rows(sql, *workflow_uids)}


def stored_jobs(pipeline: Pipeline, settings: ApiSettings, workflow_uids: list[str]) -> StoredJobs:
    """The versions of these workflows' jobs that `jobs` and `successful_jobs` hold."""
    tables: dict[str, dict[str, tuple[Any, Any]]] = {}
    with writer_lock(settings), reading(pipeline) as warehouse:
        for table in (c.JOBS, c.SUCCESSFUL_JOBS):
            qualified = warehouse.table(table)
            if qualified is None:
                continue
            sql = (
                f"SELECT {ROW_ID}, status, total_row_count FROM {qualified} "
                f"WHERE {in_clause(workflow_uids)}"
            )
            tables[table] = {
                row[0]: (row[1], row[2]) for row in warehouse.rows(sql, *workflow_uids)
            }
    return StoredJobs(tables.get(c.JOBS), tables.get(c.SUCCESSFUL_JOBS))


def nothing_to_load(
    context: AssetExecutionContext, pipeline: Pipeline, settings: ApiSettings, asset: str
) -> MaterializeResult:
    """Materialize without a dlt run (saves its ~1 s fixed cost) when no request is needed."""
    partitions = run_partitions(context)
    with writer_lock(settings):
        with reading(pipeline) as warehouse:
            counts = warehouse.partition_counts(asset, partitions)
        forget_batch(pipeline, settings)
    metadata = {
        **table_metadata(pipeline, asset, {}),
        "api_requests": MetadataValue.int(0),
        "rows_loaded": MetadataValue.int(0),
    }
    return materialization(context, asset, metadata, counts, partitions)


def _failure(exc: PipelineStepFailed) -> Exception:
    """Surface our own API error (endpoint, status, hint) instead of dlt's wrapper text."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, AnalyticsApiError):
            return Failure(description=str(seen), metadata={"endpoint": seen.endpoint or ""})
        seen = seen.__cause__ or seen.__context__
    return exc


@contextmanager
def secrets_kept(settings: ApiSettings) -> Iterator[None]:
    """Re-raise a failure whose text (or chained cause) holds a secret as a Failure without
    it: Dagster writes exception texts to the event log, the run log and the CLI output."""
    try:
        yield
    except Exception as exc:
        secrets = [*settings.secrets, *environment_secrets()]
        _drop_traces_holding(settings, secrets)
        chain = _chain(exc)
        texts = [str(e) for e in chain]
        clean = [redacted(t, secrets) for t in texts]
        if clean == texts:
            raise
        what = " <- ".join(f"{type(e).__name__}: {t}" for e, t in zip(chain, clean, strict=True))
        raise Failure(description=f"{what} (secrets masked as {MASK})") from None


def _drop_traces_holding(settings: ApiSettings, secrets: list[str]) -> None:
    """dlt pickles each run's trace into its working folder (no setting turns it off); after
    a failure it can hold a credentials string dlt could not parse. Such a trace goes."""
    needles = [p.encode() for s in secrets for p in secret_parts(s)]
    for trace in settings.dlt_pipelines_dir.glob("*/trace.pickle"):
        try:
            if any(n in trace.read_bytes() for n in needles):
                trace.unlink()
        except OSError:
            pass


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return seen
