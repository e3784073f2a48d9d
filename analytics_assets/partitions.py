"""One dynamic partition per workflow uid, shared by the per-workflow assets."""

from collections.abc import Mapping, Sequence

from dagster import DynamicPartitionsDefinition
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
