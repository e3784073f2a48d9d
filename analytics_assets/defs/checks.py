"""The blocking check that enforces the successful-jobs filter on what the warehouse holds."""

import warnings

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    MetadataValue,
    PreviewWarning,
    asset_check,
)

from analytics_assets import constants as c
from analytics_assets.api.job_rows import SUCCESSFUL_SQL
from analytics_assets.defs.secrets import secrets_kept
from analytics_assets.defs.wiring import Wiring
from analytics_assets.warehouse.lock import writer_lock
from analytics_assets.warehouse.pipelines import make_pipeline
from analytics_assets.warehouse.queries import missing_jobs, violating_jobs
from analytics_assets.warehouse.reader import read_warehouse

MAX_LISTED = 50


def build_check(wiring: Wiring) -> AssetChecksDefinition:
    """`successful_jobs_filter` (or `P_successful_jobs_filter`) on the instance's table."""
    names = wiring.names

    def successful_jobs_filter(context: AssetCheckExecutionContext) -> AssetCheckResult:
        """Query the checked partitions through dlt's SQL client (any SQL destination)."""
        settings = getattr(context.resources, names.api_resource).settings()
        with secrets_kept(settings):
            partitions = _partition_keys(context, names.partitions)
            pipeline = make_pipeline(settings, name=names.check_pipeline, layout=names.layout)
            with writer_lock(settings), read_warehouse(pipeline) as warehouse:
                violating = violating_jobs(warehouse, partitions)
                missing = missing_jobs(warehouse, partitions)
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
                    f"SELECT * FROM {successful} WHERE NOT {SUCCESSFUL_SQL}"
                )
            if missing:
                metadata["missing_rows_query"] = _sql(
                    f"SELECT * FROM {jobs} WHERE {SUCCESSFUL_SQL}\n"
                    f"  AND uid NOT IN (SELECT uid FROM {successful})"
                )
            return AssetCheckResult(passed=not violating and not missing, metadata=metadata)

    # Partitioned checks are "preview" in dagster 1.13; they are what scopes the check to the
    # partitions a run touched, so we accept the preview and keep every log line quiet about it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return asset_check(
            asset=names.key(c.SUCCESSFUL_JOBS),
            name=names.check,
            blocking=True,
            partitions_def=wiring.partitions_def,
            pool=names.pool,
            required_resource_keys={names.api_resource},
            description=(
                "Every row satisfies total_row_count > 0 and status == 'finished', and every job "
                "in `jobs` that satisfies it is present. Blocks job_results when it fails."
            ),
        )(successful_jobs_filter)


def _sql(query: str) -> MetadataValue:
    return MetadataValue.md(f"```sql\n{query}\n```")


def _partition_keys(context: AssetCheckExecutionContext, partitions_name: str) -> list[str]:
    op_context = context.op_execution_context
    if op_context.has_partition_key_range or op_context.has_partition_key:
        return list(op_context.partition_keys)
    return list(op_context.instance.get_dynamic_partitions(partitions_name))
