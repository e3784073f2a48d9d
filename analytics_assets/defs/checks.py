"""The blocking check that enforces the successful-jobs filter on what the warehouse holds."""

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetChecksDefinition,
    MetadataValue,
    Output,
    PreviewWarning,
    asset_check,
)

from analytics_assets import constants as c
from analytics_assets.api.job_rows import SUCCESSFUL_SQL
from analytics_assets.defs.check_results import partition_evaluations
from analytics_assets.defs.run import warehouse_lock
from analytics_assets.defs.secrets import secrets_kept
from analytics_assets.defs.wiring import Wiring
from analytics_assets.warehouse.pipelines import make_pipeline
from analytics_assets.warehouse.queries import missing_jobs, violating_jobs, workflow_names
from analytics_assets.warehouse.reader import read_warehouse

MAX_LISTED = 50


def build_check(wiring: Wiring) -> AssetChecksDefinition:
    """`successful_jobs_filter` (or `P_successful_jobs_filter`) on the instance's table."""
    names = wiring.names
    asset_key = names.key(c.SUCCESSFUL_JOBS)

    def successful_jobs_filter(context: AssetCheckExecutionContext) -> Iterator[Any]:
        """Query the checked partitions through dlt's SQL client (any SQL destination), and
        record one evaluation per partition: Dagster attributes a result to a partition only
        when the step has exactly one, so a range run would otherwise show none as checked."""
        settings = getattr(context.resources, names.api_resource).settings()
        with secrets_kept(settings):
            partitions = _partition_keys(context, names.partitions)
            pipeline = make_pipeline(settings, name=names.check_pipeline, layout=names.layout)
            with warehouse_lock(settings, context.log), read_warehouse(pipeline) as warehouse:
                found = Findings(
                    violating=_by_partition(violating_jobs(warehouse, partitions)),
                    missing=_by_partition(missing_jobs(warehouse, partitions)),
                    successful=warehouse.table(c.SUCCESSFUL_JOBS),
                    jobs=warehouse.table(c.JOBS),
                    names=workflow_names(warehouse, partitions),
                )
            if not partitions:
                yield AssetCheckResult(passed=True, description="No workflow partition yet.")
                return
            yield from partition_evaluations(
                context.instance,
                AssetCheckKey(asset_key, names.check),
                {partition: found.result(partition) for partition in partitions},
                blocking=True,
            )
            yield Output(None)
            failed = sorted(set(found.violating) | set(found.missing))
            if failed and wiring.ahead.cancel(context.run.run_id):
                context.log.info("cancelled the results this run was fetching ahead")
            context.log.info(
                f"{names.check}: {len(partitions) - len(failed)} of {len(partitions)} "
                f"partition(s) passed"
                + (f"; failed: {', '.join(failed[:MAX_LISTED])}" if failed else "")
            )

    # Partitioned checks are "preview" in dagster 1.13; they are what scopes the check to the
    # partitions a run touched, so we accept the preview and keep every log line quiet about it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return asset_check(
            asset=asset_key,
            name=names.check,
            blocking=True,
            partitions_def=wiring.partitions_def,
            pool=names.pool,
            required_resource_keys={names.api_resource},
            description=(
                "Every row satisfies total_row_count > 0 and status == 'finished', and every job "
                "in `jobs` that satisfies it is present. Blocks job_results when it fails."
            ),
        )(successful_jobs_filter)  # type: ignore[arg-type]  # a generator: one result per partition


@dataclass(frozen=True)
class Findings:
    """What the warehouse holds against the filter, per workflow partition."""

    violating: dict[str, list[str]]
    missing: dict[str, list[str]]
    successful: str | None
    jobs: str | None
    names: dict[str, str]

    def result(self, partition: str) -> AssetCheckResult:
        violating = self.violating.get(partition, [])
        missing = self.missing.get(partition, [])
        return AssetCheckResult(
            passed=not violating and not missing,
            metadata=self.metadata(partition, violating, missing),
            description=self.description(partition, violating, missing),
        )

    def metadata(
        self, partition: str, violating: list[str], missing: list[str]
    ) -> dict[str, MetadataValue]:
        metadata: dict[str, MetadataValue] = {
            "workflow_name": MetadataValue.text(self.names.get(partition, "")),
            "violating_count": MetadataValue.int(len(violating)),
            "violating_uids": MetadataValue.json(violating[:MAX_LISTED]),
            "missing_count": MetadataValue.int(len(missing)),
            "missing_uids": MetadataValue.json(missing[:MAX_LISTED]),
        }
        # The way to the offending rows: the query that returns them, ready to paste.
        where = f"workflow_uid = '{_quoted(partition)}'"
        if violating:
            metadata["violating_rows_query"] = _sql(
                f"SELECT * FROM {self.successful} WHERE {where} AND NOT {SUCCESSFUL_SQL}"
            )
        if missing:
            metadata["missing_rows_query"] = _sql(
                f"SELECT * FROM {self.jobs} WHERE {where} AND {SUCCESSFUL_SQL}\n"
                f"  AND uid NOT IN (SELECT uid FROM {self.successful})"
            )
        return metadata

    def description(self, partition: str, violating: list[str], missing: list[str]) -> str:
        name = self.names.get(partition)
        workflow = f"workflow {name!r} ({partition})" if name else f"workflow {partition}"
        if not violating and not missing:
            return f"{workflow}: every successful job satisfies the filter and is present."
        return (
            f"{workflow}: {len(violating)} row(s) violate the filter, {len(missing)} "
            "successful job(s) missing."
        )


def _sql(query: str) -> MetadataValue:
    return MetadataValue.md(f"```sql\n{query}\n```")


def _quoted(value: str) -> str:
    return value.replace("'", "''")


def _by_partition(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for workflow_uid, uid in pairs:
        grouped.setdefault(workflow_uid, []).append(uid)
    return grouped


def _partition_keys(context: AssetCheckExecutionContext, partitions_name: str) -> list[str]:
    op_context = context.op_execution_context
    if op_context.has_partition_key_range or op_context.has_partition_key:
        return list(op_context.partition_keys)
    return list(op_context.instance.get_dynamic_partitions(partitions_name))
