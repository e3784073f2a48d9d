"""Every API resource declared once: the multi-asset that loads it, whether it is partitioned
per workflow, the tables it depends on, where its columns come from, and what its preview shows.

The assets, the translator, the jobs, the metadata and the tests read this table. A new API
resource is a dlt resource in `api/source.py` and a row here (and, if no multi-asset fits it,
a body for a new one in `assets.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from analytics_assets import constants as c


@dataclass(frozen=True)
class MultiAsset:
    """One multi-asset: a step that loads its resources in one dlt run."""

    name: str  # its op, as the instance names it (`analytics_<name>_assets`)
    partitioned: bool  # per workflow partition (the partition job), or whole (the workspace job)


WORKSPACE_ASSETS = MultiAsset("workspace", partitioned=False)
WORKFLOW_JOBS_ASSETS = MultiAsset("workflow_jobs", partitioned=True)
JOB_RESULTS_ASSETS = MultiAsset("job_results", partitioned=True)


@dataclass(frozen=True, eq=False)
class ApiAsset:
    """One API resource: its dlt resource, table and asset key share `name`."""

    name: str
    multi: MultiAsset
    upstream: tuple[str, ...] = ()  # the tables it is derived from (dagster-dlt's stubs: none)
    # Per column, the (table, column)s its values come from, where true by construction.
    lineage: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    # Columns of a few rows shown in the UI; none for tables too wide or too many per run.
    preview: tuple[str, ...] = ()


API_ASSETS = (
    ApiAsset(
        c.WORKSPACE,
        WORKSPACE_ASSETS,
        preview=("name", "plan_name", "tasks_used", "tasks_left", "current_month_end"),
    ),
    ApiAsset(c.WORKFLOWS, WORKSPACE_ASSETS, preview=("uid", "name", "created_at", "project_id")),
    ApiAsset(c.JOBS, WORKFLOW_JOBS_ASSETS, upstream=(c.WORKFLOWS,)),
    ApiAsset(
        c.SUCCESSFUL_JOBS,
        WORKFLOW_JOBS_ASSETS,
        upstream=(c.WORKFLOWS,),
        lineage={
            column: ((c.JOBS, column),)
            for column in ("uid", "workflow_uid", "status", "total_row_count")
        },
    ),
    ApiAsset(
        c.JOB_RESULTS,
        JOB_RESULTS_ASSETS,
        upstream=(c.SUCCESSFUL_JOBS,),
        lineage={"job_uid": ((c.SUCCESSFUL_JOBS, "uid"),)},
    ),
)
MULTI_ASSETS = tuple(dict.fromkeys(asset.multi for asset in API_ASSETS))


def api_asset(name: str) -> ApiAsset:
    """The declaration of the API resource `name`; a clear error for one not declared."""
    for asset in API_ASSETS:
        if asset.name == name:
            return asset
    declared = ", ".join(a.name for a in API_ASSETS)
    raise KeyError(
        f"API resource {name!r} is not declared in analytics_assets/defs/declared.py "
        f"(declared: {declared}); add a row to API_ASSETS"
    )


def resources_of(multi: MultiAsset) -> tuple[str, ...]:
    """The resources one multi-asset loads, in declaration order."""
    return tuple(asset.name for asset in API_ASSETS if asset.multi == multi)


def tables(*, partitioned: bool) -> tuple[str, ...]:
    """The resources loaded per workflow partition, or those loaded whole."""
    return tuple(asset.name for asset in API_ASSETS if asset.multi.partitioned == partitioned)
