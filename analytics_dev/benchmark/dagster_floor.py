"""What Dagster alone spends on a single-run backfill: the floor of `make bench-backfill`.

Three no-op assets on the same `workflow_uids` partitions, with the same backfill policy and
executor as the per-workflow assets, each recording a `dagster/partition_row_count` per
partition through the same `partitions.materialization` as ours. They fetch and load nothing, so
their run is the cost of the run itself and of the events Dagster stores for every partition
(planned and materialized, per asset).

    dagster asset materialize -m analytics_dev.benchmark.dagster_floor --select '*' \
        --partition-range FIRST...LAST
"""

from collections.abc import Iterator

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    BackfillPolicy,
    Definitions,
    DynamicPartitionsDefinition,
    MaterializeResult,
    in_process_executor,
    multi_asset,
)

from analytics_assets.defs.metadata import materialization
from analytics_assets.defs.partitions import run_partitions

FLOOR_ASSETS = ("floor_jobs", "floor_successful_jobs", "floor_job_results")
# The same partitions (by name) as the product's assets.
workflow_uids = DynamicPartitionsDefinition(name="workflow_uids")


@multi_asset(
    specs=[AssetSpec(key, partitions_def=workflow_uids) for key in FLOOR_ASSETS],
    backfill_policy=BackfillPolicy.single_run(),
)
def dagster_floor(context: AssetExecutionContext) -> Iterator[MaterializeResult]:
    """Materializes every targeted partition with a row count of 0, and nothing else."""
    partitions = run_partitions(context)
    for key in FLOOR_ASSETS:  # the counts go in as ours do, through partitions.materialization
        yield materialization(context, AssetKey(key), {}, {}, partitions)


defs = Definitions(assets=[dagster_floor], executor=in_process_executor)
