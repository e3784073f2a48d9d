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
from analytics_assets.api.job_rows import StoredJobs
from analytics_assets.api.source import analytics_source, job_results_source
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
            seen: list[str] = []

            def remember(row: dict) -> dict:
                seen.append(row["uid"])
                return row

            if c.WORKFLOWS in source.selected_resources:
                source.resources[c.WORKFLOWS].add_map(remember)
            yield from run.load(source)
            run.register_workflows(seen)

    @multi(WORKFLOW_JOBS_ASSETS, analytics_source().with_resources(*workflow_jobs))
    def workflow_jobs_assets(context: AssetExecutionContext, config: JobsConfig) -> Iterator[Any]:
        """Load the workflows' jobs, and the successful ones, from one jobs request per workflow.

        Jobs the warehouse already holds unchanged are not merged again, unless `full_refresh`
        is set in the run config.
        """
        with AssetRun(context, wiring) as run:
            held = (
                StoredJobs()
                if config.full_refresh
                else run.query_warehouse(lambda warehouse: stored_jobs(warehouse, run.uids))
            )
            reader = run.api_reader(workflows_total=len(run.uids))
            source = analytics_source(workflow_uids=run.uids, reader=reader, stored_jobs=held)
            yield from run.load(source.with_resources(*workflow_jobs))
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
            successful, loaded = run.query_warehouse(
                lambda warehouse: results_plan(warehouse, run.uids)
            )
            pending = [j for j in successful if config.full_refresh or j[0] not in loaded]
            context.log.info(
                f"{run.scope}: {len(successful)} successful job(s), {len(pending)} to fetch"
            )
            if not pending:
                yield run.nothing_to_load(c.JOB_RESULTS)
                return
            reader = run.api_reader(jobs_total=len(pending))
            yield from run.load(job_results_source(pending, reader=reader))

    return [workspace_assets, workflow_jobs_assets, job_results_assets]
