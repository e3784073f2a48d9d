"""The five API resources as Dagster assets through dagster-dlt.

Three multi-assets, because they differ in partitioning and because the blocking check on
`successful_jobs` must run before `job_results` loads:
- `workspace`, `workflows` (unpartitioned; materializing `workflows` registers partitions),
- `jobs`, `successful_jobs` (per workflow; one jobs request feeds both tables),
- `job_results` (per workflow; results of the successful jobs the warehouse holds).
"""

from collections.abc import Iterator, Sequence
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    Config,
    multi_asset,
)
from dagster_dlt import build_dlt_asset_specs
from dlt.extract.source import DltSource
from pydantic import Field

from analytics_assets import constants as c
from analytics_assets.api.job_rows import JobRef, StoredJobs
from analytics_assets.api.source import analytics_source, job_results_source
from analytics_assets.defs.ahead import Ahead, AheadPlan, results_follow_in_process
from analytics_assets.defs.attention import (
    attention_specs,
    check_failed_jobs,
    check_quota,
    check_schema_change,
)
from analytics_assets.defs.declared import (
    JOB_RESULTS_ASSETS,
    WORKFLOW_JOBS_ASSETS,
    WORKSPACE_ASSETS,
    MultiAsset,
    resources_of,
)
from analytics_assets.defs.run import AssetRun
from analytics_assets.defs.wiring import Wiring
from analytics_assets.warehouse.pipelines import make_pipeline
from analytics_assets.warehouse.queries import results_plan, stored_jobs
from analytics_assets.warehouse.reader import WarehouseReader

# A backfill of many workflows is one run and one dlt load, not a run per partition: a
# Dagster run and a dlt load each cost seconds, the rows of a small workflow milliseconds.
BACKFILL_POLICY = BackfillPolicy.single_run()


class JobsConfig(Config):
    """Run config of `jobs` and `successful_jobs`."""

    full_refresh: bool = Field(
        default=False,
        description="Merge every listed job again, not only jobs that changed since the last load.",
    )


class JobResultsConfig(Config):
    """Run config of `job_results`."""

    full_refresh: bool = Field(
        default=False,
        description="Fetch the results of every successful job again, not only new jobs.",
    )


def _without_dlt_objects(specs: Sequence[AssetSpec]) -> list[AssetSpec]:
    """dagster-dlt puts the source, pipeline and translator objects in each spec's metadata
    for its own `run` to find; we pass them to `run` ourselves, and in the UI they only show
    as three "(unserializable)" rows on every asset."""
    return [
        spec.replace_attributes(
            metadata={k: v for k, v in spec.metadata.items() if not k.startswith("dagster_dlt/")}
        )
        for spec in specs
    ]


def _rows_loaded(source: DltSource, resource: str) -> list[dict]:
    """The rows of `resource` the load of `source` passes on, as they pass (none when it is
    not selected)."""
    rows: list[dict] = []

    def keep(row: dict) -> dict:
        rows.append(row)
        return row

    if resource in source.selected_resources:
        source.resources[resource].add_map(keep)
    return rows


def _held(
    warehouse: WarehouseReader, uids: list[str], full_refresh: bool, results_follow: bool
) -> tuple[StoredJobs, AheadPlan | None]:
    """The job versions the warehouse holds (none with `full_refresh`), and what a fetch of
    the results ahead needs when this run's results follow, else None."""
    held = StoredJobs() if full_refresh else stored_jobs(warehouse, uids)
    return held, AheadPlan.read(warehouse, uids) if results_follow else None


def _results_plan(
    run: AssetRun, full_refresh: bool, ahead: Ahead | None
) -> tuple[list[JobRef], set[str], list[JobRef], dict[str, str]]:
    """The run's successful jobs (as checked in the warehouse), those whose results are
    loaded, those to fetch (all with `full_refresh`), and job_results' columns and types
    before this run's load; read on one connection."""
    (successful, loaded), before = run.query_warehouse(
        lambda warehouse: (results_plan(warehouse, run.uids), warehouse.columns(c.JOB_RESULTS))
    )
    pending = [job for job in successful if full_refresh or job[0] not in loaded]
    run.context.log.info(
        f"{run.scope}: {len(successful)} successful job(s), {len(pending)} to fetch"
        + (f" ({ahead.offered} started ahead)" if ahead and ahead.offered else "")
    )
    return successful, loaded, pending, before


def build_assets(wiring: Wiring) -> list[AssetsDefinition]:
    """The three multi-assets of one instance."""
    names = wiring.names
    # What the specs are read from at definition time (names, columns): nothing is opened.
    pipeline = make_pipeline(None, layout=names.layout)

    def multi(declared: MultiAsset, source: DltSource) -> Any:
        partitioned = declared.partitioned
        return multi_asset(
            name=names.op(declared.name),
            specs=_without_dlt_objects(
                build_dlt_asset_specs(
                    dlt_source=source,
                    dlt_pipeline=pipeline,
                    dagster_dlt_translator=wiring.translator,
                )
            ),
            check_specs=attention_specs(wiring, *resources_of(declared)),
            can_subset=True,
            partitions_def=wiring.partitions_def if partitioned else None,
            backfill_policy=BACKFILL_POLICY if partitioned else None,
            pool=names.pool,
            required_resource_keys={names.api_resource, names.dlt_resource},
        )

    workspace = resources_of(WORKSPACE_ASSETS)
    workflow_jobs = resources_of(WORKFLOW_JOBS_ASSETS)

    @multi(WORKSPACE_ASSETS, analytics_source().with_resources(*workspace))
    def workspace_assets(context: AssetExecutionContext) -> Iterator[Any]:
        """Load the workspace and the workflow list; register one partition per workflow uid."""
        with AssetRun(context, wiring) as run:
            source = analytics_source(reader=run.api_reader()).with_resources(*workspace)
            workflows = _rows_loaded(source, c.WORKFLOWS)
            workspace_rows = _rows_loaded(source, c.WORKSPACE)  # quota_forecast reads it
            yield from run.load(source)
            run.register_workflows([row["uid"] for row in workflows])
            yield from check_quota(run, workspace_rows)

    @multi(WORKFLOW_JOBS_ASSETS, analytics_source().with_resources(*workflow_jobs))
    def workflow_jobs_assets(context: AssetExecutionContext, config: JobsConfig) -> Iterator[Any]:
        """Load the workflows' jobs, and the successful ones, from one jobs request per workflow.

        Jobs the warehouse already holds unchanged are not merged again, unless `full_refresh`
        is set in the run config.
        """
        with AssetRun(context, wiring) as run:
            ahead = results_follow_in_process(context, names)
            held, plan = run.query_warehouse(
                lambda warehouse: _held(warehouse, run.uids, config.full_refresh, ahead)
            )
            reader = run.api_reader(workflows_total=len(run.uids))
            if plan is not None:
                run.fetch_results_ahead(reader, plan)
            source = analytics_source(workflow_uids=run.uids, reader=reader, stored_jobs=held)
            yield from run.load(source.with_resources(*workflow_jobs))
            yield from check_failed_jobs(run)
            context.log.info(f"{held.unchanged} listed job(s) unchanged since the last load")

    @multi(JOB_RESULTS_ASSETS, job_results_source())
    def job_results_assets(
        context: AssetExecutionContext, config: JobResultsConfig
    ) -> Iterator[Any]:
        """Load the result rows of the workflows' successful jobs (as checked in the warehouse).

        Results of a finished job never change: jobs already loaded are skipped unless
        `full_refresh` is set in the run config.
        """
        with AssetRun(context, wiring) as run:
            ahead = run.adopt_results_fetched_ahead()
            successful, loaded, pending, before = _results_plan(run, config.full_refresh, ahead)
            if not pending:
                yield run.nothing_to_load(c.JOB_RESULTS)
            else:
                reader = run.api_reader(jobs_total=len(pending))
                reader.column_types = before
                yield from run.load(job_results_source(pending, reader=reader))
            yield from check_schema_change(run, before, successful, loaded)

    return [workspace_assets, workflow_jobs_assets, job_results_assets]
