"""Asset jobs: what the UI, the sensor and the demo launch."""

from typing import Any

from dagster import AssetSelection, define_asset_job, in_process_executor

from analytics_assets.defs.declared import tables
from analytics_assets.defs.names import Names


def build_jobs(names: Names) -> tuple[Any, Any]:
    """`workspace_job` and `workflow_partition_job` (each `P_`-prefixed in an instance P).

    In process: a run's steps are sequential and I/O-bound, and a subprocess per step only
    adds an import of Dagster and dlt to each (the jobs carry it, whatever project holds them).
    """
    workspace = define_asset_job(
        names.workspace_job,
        selection=AssetSelection.assets(*(names.key(t) for t in tables(partitioned=False))),
        description="Refresh the workspace and the workflow list (registers new partitions).",
        executor_def=in_process_executor,
    )
    partition = define_asset_job(
        names.partition_job,
        selection=AssetSelection.assets(*(names.key(t) for t in tables(partitioned=True))),
        description="Load one workflow's jobs, successful jobs (checked) and their results.",
        executor_def=in_process_executor,
    )
    return workspace, partition
