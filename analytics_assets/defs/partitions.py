"""One dynamic partition per workflow uid, shared by the per-workflow assets, and how a run
reports row counts per partition."""

from collections.abc import Mapping, Sequence
from typing import Any

from dagster import (
    AssetExecutionContext,
    DynamicPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from analytics_assets.constants import PARTITIONS_NAME

workflow_uids = DynamicPartitionsDefinition(name=PARTITIONS_NAME)


def range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags for one run of every partition from `first` to `last` (in registration
    order), as a single-run backfill or `--partition-range first...last` launches it."""
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def partitions_of_run(tags: Mapping[str, str], registered: Sequence[str]) -> list[str]:
    """The workflow partitions a run writes, from its tags: one, a range, or none."""
    if PARTITION_NAME_TAG in tags:
        return [tags[PARTITION_NAME_TAG]]
    first, last = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if first not in registered or last not in registered:
        return []
    return list(registered[registered.index(first) : registered.index(last) + 1])


def run_partitions(context: AssetExecutionContext) -> list[str] | None:
    """The workflow partitions this step loads (several in a single-run backfill), or None."""
    if context.assets_def.partitions_def is None:
        return None
    return list(context.partition_keys)


def materialization(
    context: AssetExecutionContext,
    table: str,
    metadata: dict[str, Any],
    counts: dict[str | None, int],
    partitions: list[str] | None,
    per_partition: Mapping[str, Mapping[str, Any]] | None = None,
) -> MaterializeResult:
    """The result of one asset, with row counts (and `per_partition` entries) per partition
    when a run loads several.

    Dagster gives every partition of a multi-partition run the result's metadata; values
    that differ per partition go in through `add_asset_metadata`, before the result.
    """
    extra = per_partition or {}
    if partitions is None:
        metadata["dagster/row_count"] = MetadataValue.int(counts.get(None, 0))
    elif len(partitions) == 1:
        metadata["dagster/partition_row_count"] = MetadataValue.int(counts.get(partitions[0], 0))
        metadata.update(extra.get(partitions[0], {}))
    else:
        for partition in partitions:
            context.add_asset_metadata(
                {
                    "dagster/partition_row_count": MetadataValue.int(counts.get(partition, 0)),
                    **extra.get(partition, {}),
                },
                asset_key=table,
                partition_key=partition,
            )
        metadata["partitions_in_run"] = MetadataValue.int(len(partitions))
        metadata["rows_in_run_partitions"] = MetadataValue.int(sum(counts.values()))
    return MaterializeResult(asset_key=table, metadata=metadata)
