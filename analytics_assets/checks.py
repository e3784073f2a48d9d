"""The blocking check that enforces the successful-jobs filter on what the warehouse holds."""


import warnings

from dagster import AssetCheckExecutionContext, AssetCheckResult, MetadataValue, asset_check

from dagster._utils.warnings import PreviewWarning

from analytics_assets import constants as c
from analytics_assets.partitions import workflow_uids
from analytics_assets.resources import AnalyticsApiResource
from analytics_assets.warehouse import make_pipeline, query, table_exists, writer_lock

# Null-safe: a null count or status is a violation, never "unknown".
FILTER_SQL = "(COALESCE(total_row_count, 0) > 0 AND COALESCE(status, '') = 'finished')"
MAX_LISTED = 50


def _successful_jobs_filter(
    context: AssetCheckExecutionContext, analytics_api: AnalyticsApiResource
) -> AssetCheckResult:
    """Query the checked partitions through dlt's SQL client (any SQL destination)."""
    settings = analytics_api.settings()
    partitions = _partition_keys(context)
    pipeline = make_pipeline(settings, name="analytics_check")
    with writer_lock(settings):
        violating = _violating(pipeline, partitions)
        missing = _missing(pipeline, partitions)
    return AssetCheckResult(
        passed=not violating and not missing,
        metadata={
            "partitions_checked": MetadataValue.int(len(partitions)),
            "violating_count": MetadataValue.int(len(violating)),
            "violating_uids": MetadataValue.json(violating[:MAX_LISTED]),
            "missing_count": MetadataValue.int(len(missing)),
            "missing_uids": MetadataValue.json(missing[:MAX_LISTED]),
        },
    )


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


def _in_clause(partitions: list[str]) -> str:
    return "workflow_uid IN (" + ", ".join(["%s"] * len(partitions)) + ")"


def _violating(pipeline, partitions: list[str]) -> list[str]:  # noqa: ANN001
    if not partitions or not table_exists(pipeline, c.SUCCESSFUL_JOBS):
        return []
    with pipeline.sql_client() as sql:
        table = sql.make_qualified_table_name(c.SUCCESSFUL_JOBS)
    rows = query(
        pipeline,
        f"SELECT uid FROM {table} WHERE {_in_clause(partitions)} AND NOT {FILTER_SQL} "
        "ORDER BY uid",
        *partitions,
    )
    return [row[0] for row in rows]


def _missing(pipeline, partitions: list[str]) -> list[str]:  # noqa: ANN001
    if not partitions or not table_exists(pipeline, c.JOBS):
        return []
    with pipeline.sql_client() as sql:
        jobs = sql.make_qualified_table_name(c.JOBS)
        successful = sql.make_qualified_table_name(c.SUCCESSFUL_JOBS)
    if not table_exists(pipeline, c.SUCCESSFUL_JOBS):
        sql_text = f"SELECT uid FROM {jobs} WHERE {_in_clause(partitions)} AND {FILTER_SQL}"
    else:
        sql_text = (
            f"SELECT uid FROM {jobs} WHERE {_in_clause(partitions)} AND {FILTER_SQL} "
            f"AND uid NOT IN (SELECT uid FROM {successful})"
        )
    return [row[0] for row in query(pipeline, sql_text + " ORDER BY uid", *partitions)]
