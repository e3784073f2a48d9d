"""The blocking check that enforces the successful-jobs filter on what the warehouse holds."""

import warnings

from dagster import AssetCheckExecutionContext, AssetCheckResult, MetadataValue, asset_check
from dagster._utils.warnings import PreviewWarning

from analytics_assets import constants as c
from analytics_assets.defs.partitions import workflow_uids
from analytics_assets.defs.resources import AnalyticsApiResource
from analytics_assets.defs.runs import secrets_kept
from analytics_assets.warehouse.pipelines import (
    WarehouseReader,
    in_clause,
    make_pipeline,
    reading,
    writer_lock,
)

# Null-safe: a null count or status is a violation, never "unknown".
FILTER_SQL = "(COALESCE(total_row_count, 0) > 0 AND COALESCE(status, '') = 'finished')"
MAX_LISTED = 50


def _successful_jobs_filter(
    context: AssetCheckExecutionContext, analytics_api: AnalyticsApiResource
) -> AssetCheckResult:
    """Query the checked partitions through dlt's SQL client (any SQL destination)."""
    settings = analytics_api.settings()
    with secrets_kept(settings):
        partitions = _partition_keys(context)
        pipeline = make_pipeline(settings, name="analytics_check")
        with writer_lock(settings), reading(pipeline) as warehouse:
            violating = _violating(warehouse, partitions)
            missing = _missing(warehouse, partitions)
            successful, jobs = warehouse.table(c.SUCCESSFUL_JOBS), warehouse.table(c.JOBS)
        metadata: dict[str, MetadataValue] = {
            "partitions_checked": MetadataValue.int(len(partitions)),
            "violating_count": MetadataValue.int(len(violating)),
            "violating_uids": MetadataValue.json(violating[:MAX_LISTED]),
            "missing_count": MetadataValue.int(len(missing)),
            "missing_uids": MetadataValue.json(missing[:MAX_LISTED]),
        }
        # The way to the offending rows: the query that returns them, ready to paste.
        if violating:
            metadata["violating_rows_query"] = _sql(
                f"SELECT * FROM {successful} WHERE NOT {FILTER_SQL}"
            )
        if missing:
            metadata["missing_rows_query"] = _sql(
                f"SELECT * FROM {jobs} WHERE {FILTER_SQL}\n"
                f"  AND uid NOT IN (SELECT uid FROM {successful})"
            )
        return AssetCheckResult(passed=not violating and not missing, metadata=metadata)


def _sql(query: str) -> MetadataValue:
    return MetadataValue.md(f"```sql\n{query}\n```")


# Partitioned checks are "preview" in dagster 1.13; they are what scopes the check to the
# partitions a run touched, so we accept the preview and keep every log line quiet about it.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", PreviewWarning)
    successful_jobs_filter = asset_check(
        asset=c.SUCCESSFUL_JOBS,
        name="successful_jobs_filter",
        blocking=True,
        partitions_def=workflow_uids,
        pool=c.WAREHOUSE_POOL,
        description=(
            "Every row satisfies total_row_count > 0 and status == 'finished', and every job "
            "in `jobs` that satisfies it is present. Blocks job_results when it fails."
        ),
    )(_successful_jobs_filter)


def _partition_keys(context: AssetCheckExecutionContext) -> list[str]:
    op_context = context.op_execution_context
    if op_context.has_partition_key_range or op_context.has_partition_key:
        return list(op_context.partition_keys)
    return list(op_context.instance.get_dynamic_partitions(c.PARTITIONS_NAME))


def _violating(warehouse: WarehouseReader, partitions: list[str]) -> list[str]:
    table = warehouse.table(c.SUCCESSFUL_JOBS)
    if not partitions or table is None:
        return []
    sql = f"SELECT uid FROM {table} WHERE {in_clause(partitions)} AND NOT {FILTER_SQL} ORDER BY uid"
    return [row[0] for row in warehouse.rows(sql, *partitions)]


def _missing(warehouse: WarehouseReader, partitions: list[str]) -> list[str]:
    jobs = warehouse.table(c.JOBS)
    if not partitions or jobs is None:
        return []
    successful = warehouse.table(c.SUCCESSFUL_JOBS)
    sql = f"SELECT uid FROM {jobs} WHERE {in_clause(partitions)} AND {FILTER_SQL}"
    if successful is not None:
        sql += f" AND uid NOT IN (SELECT uid FROM {successful})"
    return [row[0] for row in warehouse.rows(sql + " ORDER BY uid", *partitions)]
