"""What needs a user's attention, as non-blocking checks evaluated with every load:

- `quota_forecast` on `workspace`: the plan's quota at this month's burn rate,
- `failed_jobs` on `jobs`, per workflow: its latest job ended shutdown, warning or paused,
- `column_schema_change` on `job_results`, per workflow: a load added or retyped columns.

The asset bodies yield them right after their materializations, from what the run just
loaded: no request, no extra step. A range run records one evaluation per partition.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    MetadataValue,
    Output,
    PreviewWarning,
)

from analytics_assets import constants as c
from analytics_assets.api.budget import SystemClock
from analytics_assets.api.job_rows import JobRef
from analytics_assets.defs.check_results import partition_evaluations
from analytics_assets.defs.declared import ApiAsset, api_asset
from analytics_assets.defs.quota import quota_forecast
from analytics_assets.defs.run import AssetRun
from analytics_assets.defs.wiring import Wiring
from analytics_assets.warehouse.queries import LatestJob, latest_jobs, partitions_filling

QUOTA_FORECAST = "quota_forecast"
FAILED_JOBS = "failed_jobs"
SCHEMA_CHANGE = "column_schema_change"
# A job that ended so produces nothing until someone acts (the vendor's job statuses).
FAILED_STATUSES = ("shutdown", "warning", "paused")
# The severity of every evaluation, passed ones too: these checks warn, they never block.
WARN = AssetCheckSeverity.WARN
# dlt keeps a column whose type changed and adds `<column>__v_<type>` for the new values.
VARIANT = re.compile(r"^(?P<base>.+)__v_(?P<type>\w+)$")


# What each check looks at, as the UI shows it; `defs/declared.py` says which table has which.
DESCRIPTIONS = {
    QUOTA_FORECAST: "Projects when the plan's monthly quota (tasks) runs out at this month's burn "
    "rate. WARN when before the period ends; ERROR when no task is left.",
    FAILED_JOBS: "WARN when the workflow's most recent job ended shutdown, warning or paused: it "
    "produces nothing until someone acts.",
    SCHEMA_CHANGE: "WARN when a load of the workflow's results added, removed or retyped columns "
    "of job_results (someone edited the workflow's steps).",
}


def attention_specs(wiring: Wiring, *tables: str) -> list[AssetCheckSpec]:
    """The non-blocking check specs the resource table declares on these tables, named for
    the instance."""
    # Partitioned checks are "preview" in dagster 1.13 (see checks.py): accepted, kept quiet.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return [
            _spec(wiring, api_asset(table), check)
            for table in tables
            for check in api_asset(table).attention
        ]


def _spec(wiring: Wiring, asset: ApiAsset, check: str) -> AssetCheckSpec:
    names = wiring.names
    return AssetCheckSpec(
        names.attention(check),
        asset=names.key(asset.name),
        description=DESCRIPTIONS[check],
        blocking=False,
        partitions_def=wiring.partitions_def if asset.multi.partitioned else None,
    )


def check_quota(run: AssetRun, rows: Sequence[Mapping[str, Any]]) -> Iterator[Any]:
    """`quota_forecast` from the workspace row this run loaded, at the instance's clock."""
    key = _key(run, c.WORKSPACE, QUOTA_FORECAST)
    if key in run.context.selected_asset_check_keys:
        now = datetime.fromtimestamp((run.wiring.clock or SystemClock()).time(), UTC)
        result = quota_forecast(rows[-1] if rows else None, now)
        yield result._replace(asset_key=key.asset_key, check_name=key.name)


def check_failed_jobs(run: AssetRun) -> Iterator[Any]:
    """`failed_jobs` per partition, from the latest job of each workflow the warehouse holds."""
    key = _key(run, c.JOBS, FAILED_JOBS)
    if key not in run.context.selected_asset_check_keys:
        return
    latest = run.query_warehouse(lambda warehouse: latest_jobs(warehouse, run.uids))
    yield from _per_partition(run, key, {uid: _failed_job(latest.get(uid)) for uid in run.uids})


def check_schema_change(
    run: AssetRun, before: dict[str, str], successful: list[JobRef], loaded: set[str]
) -> Iterator[Any]:
    """`column_schema_change` per partition: what this run's load changed in job_results,
    on the partitions whose rows fill the new columns. A workflow whose results load for the
    first time (none of its `successful` jobs was `loaded` before) has nothing to compare."""
    key = _key(run, c.JOB_RESULTS, SCHEMA_CHANGE)
    if key not in run.context.selected_asset_check_keys:
        return
    after = run.query_warehouse(lambda warehouse: warehouse.columns(c.JOB_RESULTS))
    change = SchemaChange.between(before, after)
    changed: set[str] = set(run.uids) if change.removed else set()
    if change.new_columns and len(run.uids) > 1:
        changed |= run.query_warehouse(
            lambda warehouse: partitions_filling(warehouse, run.uids, change.new_columns)
        )
    elif change.new_columns:
        changed = set(run.uids)
    had_rows = {ref[1] for ref in successful if ref[0] in loaded} if before else set()
    results = {uid: change.result(uid in changed, uid in had_rows) for uid in run.uids}
    yield from _per_partition(run, key, results)


@dataclass(frozen=True)
class SchemaChange:
    """Columns of job_results a load added, removed or retyped."""

    added: list[str]
    removed: list[str]
    retyped: dict[str, str]  # column -> "old -> new"
    new_columns: list[str]  # what the warehouse gained (added and variant columns)

    @classmethod
    def between(cls, before: Mapping[str, str], after: Mapping[str, str]) -> SchemaChange:
        if not before:  # a first load creates the table: nothing to compare with
            return cls([], [], {}, [])
        new = [name for name in after if name not in before]
        retyped = {n: f"{before[n]} -> {t}" for n, t in after.items() if before.get(n, t) != t}
        added = []
        for name in new:
            variant = VARIANT.match(name)
            if variant and variant["base"] in before:
                retyped[variant["base"]] = f"{before[variant['base']]} -> {variant['type']}"
            else:
                added.append(name)
        removed = [name for name in before if name not in after]
        return cls(added, removed, retyped, new)

    def result(self, changed: bool, compared: bool) -> AssetCheckResult:
        changed = changed and compared
        metadata = {
            "added_columns": MetadataValue.json(self.added if changed else []),
            "removed_columns": MetadataValue.json(self.removed if changed else []),
            "retyped_columns": MetadataValue.json(self.retyped if changed else {}),
        }
        if not changed:
            what = (
                "this load changed no column"
                if compared
                else "no earlier results of this workflow to compare with"
            )
            return AssetCheckResult(
                passed=True, severity=WARN, metadata=metadata, description=f"{what}."
            )
        parts = [
            f"{label}: {', '.join(items)}"
            for label, items in (
                ("added", self.added),
                ("removed", self.removed),
                ("retyped", [f"{n} ({t})" for n, t in self.retyped.items()]),
            )
            if items
        ]
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.WARN,
            metadata=metadata,
            description=(
                "The workflow's result columns changed (its steps were edited?); queries on "
                f"job_results may need updating. {'; '.join(parts)}."
            ),
        )


def _failed_job(job: LatestJob | None) -> AssetCheckResult:
    if job is None:
        return AssetCheckResult(passed=True, severity=WARN, description="The workflow has no jobs.")
    metadata = {
        "job_uid": MetadataValue.text(job.uid),
        "status": MetadataValue.text(job.status or ""),
        "error_message": MetadataValue.text(job.error_message or ""),
        "time": MetadataValue.text(job.time or ""),
    }
    if job.status not in FAILED_STATUSES:
        return AssetCheckResult(
            passed=True,
            severity=WARN,
            metadata=metadata,
            description=f"Latest job {job.uid}: {job.status}.",
        )
    reason = f": {job.error_message.rstrip('.')}" if job.error_message else ""
    return AssetCheckResult(
        passed=False,
        severity=AssetCheckSeverity.WARN,
        metadata=metadata,
        description=(
            f"The latest job {job.uid} ({job.time}) ended {job.status}{reason}. The workflow "
            "produces nothing until someone fixes the cause and relaunches it."
        ),
    )


def _per_partition(
    run: AssetRun, key: AssetCheckKey, results: Mapping[str, AssetCheckResult]
) -> Iterator[Any]:
    """The check's output, then one evaluation per partition (see `check_results.py`)."""
    yield Output(None, output_name=run.context.assets_def.get_output_name_for_asset_check_key(key))
    yield from partition_evaluations(run.context.instance, key, results, blocking=False)


def _key(run: AssetRun, table: str, check: str) -> AssetCheckKey:
    names = run.wiring.names
    return AssetCheckKey(names.key(table), names.attention(check))
