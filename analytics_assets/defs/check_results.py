"""Check results recorded per partition, for every check of the package.

Dagster 1.13 attributes an `AssetCheckResult` to a partition only when the step has exactly
one; a range run (a backfill, a sensor batch, `make demo`) would show no partition checked.
So each partition's result becomes an `AssetCheckEvaluation` naming its partition, linked to
that partition's latest materialization (the one the run just made).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckResult,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
)

# Not exported by `dagster`, though `AssetCheckEvaluation` (public) takes it.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)


def partition_evaluations(
    instance: DagsterInstance,
    key: AssetCheckKey,
    results: Mapping[str, AssetCheckResult],
    *,
    blocking: bool,
) -> Iterator[AssetCheckEvaluation]:
    """One evaluation per partition of `results` (partition -> its result)."""
    targets = latest_materializations(instance, key.asset_key, list(results))
    for partition, result in results.items():
        yield AssetCheckEvaluation(
            asset_key=key.asset_key,
            check_name=key.name,
            passed=result.passed,
            metadata=result.metadata,
            severity=result.severity,
            description=result.description,
            blocking=blocking,
            partition=partition,
            target_materialization_data=targets.get(partition),
        )


def latest_materializations(
    instance: DagsterInstance, asset_key: AssetKey, partitions: list[str]
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """The materialization each partition's evaluation is about: its latest (this run's)."""
    found: dict[str, AssetCheckEvaluationTargetMaterializationData] = {}

    def latest(keys: list[str], limit: int) -> None:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_key, asset_partitions=keys), limit=limit
        ).records
        for record in records:  # newest first
            partition = record.partition_key
            if partition is not None and partition not in found:
                found[partition] = AssetCheckEvaluationTargetMaterializationData(
                    storage_id=record.storage_id,
                    run_id=record.run_id,
                    timestamp=record.timestamp,
                )

    latest(partitions, len(partitions) * 2)  # one query when the run just loaded them all
    for partition in [p for p in partitions if p not in found]:
        latest([partition], 1)
    return found
