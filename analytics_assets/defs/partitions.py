"""Which workflow partitions a run writes, read from its tags or its context."""

from collections.abc import Mapping, Sequence

from dagster import AssetExecutionContext, DagsterInstance, DagsterRunStatus, RunsFilter

# Dagster's run tags for a partition and a partition range (`dagster/partition`, ...). The
# public `dagster` module does not export them; their values are a stable, documented part
# of every run's tags.
PARTITION_NAME_TAG = "dagster/partition"
ASSET_PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
ASSET_PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


def unregistered(registered: Sequence[str], listed: Sequence[str]) -> list[str]:
    """The listed workflow uids without a partition yet, in listing order.

    The one rule of registration: a partition per workflow uid the API lists, added in the
    order listed. The `workflows` asset adds them after each load; the sensor adds the same
    ones in its result, so that its run requests may target them in the same tick.
    """
    known = set(registered)
    return [uid for uid in dict.fromkeys(listed) if uid not in known]


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


IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def partitions_in_flight(instance: DagsterInstance, registered: Sequence[str]) -> set[str]:
    """The partitions a queued or running run writes, whatever its job.

    Any job counts, not only ours: a CLI `dagster asset materialize` or a UI launch runs as
    the implicit asset job, and it writes the same partition. A single-run backfill names
    its partitions as a range of the registered uids.
    """
    runs = instance.get_runs(filters=RunsFilter(statuses=IN_FLIGHT))
    return {uid for run in runs for uid in partitions_of_run(run.tags, registered)}


def run_partitions(context: AssetExecutionContext) -> list[str] | None:
    """The workflow partitions this step loads (several in a single-run backfill), or None."""
    if context.assets_def.partitions_def is None:
        return None
    return list(context.partition_keys)
