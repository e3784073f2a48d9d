"""Asset jobs: what the UI, the sensor and the demo launch."""

from dagster import AssetSelection, define_asset_job

from analytics_assets import constants as c

workspace_job = define_asset_job(
    "workspace_job",
    selection=AssetSelection.assets(c.WORKSPACE, c.WORKFLOWS),
    description="Refresh the workspace and the workflow list (registers new partitions).",
)

workflow_partition_job = define_asset_job(
    "workflow_partition_job",
    selection=AssetSelection.assets(c.JOBS, c.SUCCESSFUL_JOBS, c.JOB_RESULTS),
    description="Load one workflow's jobs, successful jobs (checked) and their results.",
)
