"""The five API resources as Dagster assets through dagster-dlt.

Three multi-assets, because they differ in partitioning and because the blocking check on
`successful_jobs` must run before `job_results` loads:
- `workspace`, `workflows` (unpartitioned; materializing `workflows` registers partitions),
- `jobs`, `successful_jobs` (per workflow; one jobs request feeds both tables),
- `job_results` (per workflow; results of the successful jobs the warehouse holds).
"""

from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, BackfillPolicy, Config, MaterializeResult
from dagster_dlt import DagsterDltResource, dlt_assets
from pydantic import Field

from analytics_assets import constants as c
from analytics_assets.api.client import AnalyticsApiClient
from analytics_assets.api.progress import Progress
from analytics_assets.api.records import StoredJobs
from analytics_assets.api.source import analytics_source
from analytics_assets.defs.partitions import workflow_uids
from analytics_assets.defs.resources import AnalyticsApiResource
from analytics_assets.defs.runs import (
    nothing_to_load,
    results_plan,
    run_dlt,
    secrets_kept,
    stored_jobs,
)
from analytics_assets.defs.translator import AnalyticsDltTranslator
from analytics_assets.warehouse.pipelines import make_pipeline

translator = AnalyticsDltTranslator()
# What the decorators read at import (names, destination type). One object, because each
# dlt.pipeline() costs a few hundred ms of the code location's import; runs build their own.
DEFINITION_PIPELINE = make_pipeline(None)

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


@dlt_assets(
    dlt_source=analytics_source().with_resources(c.WORKSPACE, c.WORKFLOWS),
    dlt_pipeline=DEFINITION_PIPELINE,
    name="analytics_workspace_assets",
    dagster_dlt_translator=translator,
    pool=c.WAREHOUSE_POOL,
)
def workspace_assets(
    context: AssetExecutionContext, dlt: DagsterDltResource, analytics_api: AnalyticsApiResource
) -> Iterator[MaterializeResult]:
    """Load the workspace and the workflow list; register one partition per workflow uid."""
    settings = analytics_api.settings()
    with secrets_kept(settings):
        client = AnalyticsApiClient(settings, context.log)
        source = analytics_source(settings, client=client).with_resources(c.WORKSPACE, c.WORKFLOWS)
        seen: list[str] = []

        def remember(row: dict) -> dict:
            seen.append(row["uid"])
            return row

        if c.WORKFLOWS in source.selected_resources:
            source.resources[c.WORKFLOWS].add_map(remember)
        yield from run_dlt(
            context, dlt, source, make_pipeline(settings), settings, translator, client
        )
        known = set(context.instance.get_dynamic_partitions(c.PARTITIONS_NAME))
        new = [uid for uid in dict.fromkeys(seen) if uid not in known]
        if new:
            context.instance.add_dynamic_partitions(c.PARTITIONS_NAME, new)
            context.log.info(f"registered {len(new)} new workflow partition(s)")


@dlt_assets(
    dlt_source=analytics_source().with_resources(c.JOBS, c.SUCCESSFUL_JOBS),
    dlt_pipeline=DEFINITION_PIPELINE,
    name="analytics_workflow_jobs_assets",
    dagster_dlt_translator=translator,
    partitions_def=workflow_uids,
    backfill_policy=BACKFILL_POLICY,
    pool=c.WAREHOUSE_POOL,
)
def workflow_jobs_assets(
    context: AssetExecutionContext,
    dlt: DagsterDltResource,
    analytics_api: AnalyticsApiResource,
    config: JobsConfig,
) -> Iterator[Any]:
    """Load the workflows' jobs, and the successful ones, from one jobs request per workflow.

    Jobs the warehouse already holds unchanged are not merged again, unless `full_refresh`
    is set in the run config.
    """
    settings = analytics_api.settings()
    with secrets_kept(settings):
        uids = list(context.partition_keys)
        pipeline = make_pipeline(settings, uids)
        stored = StoredJobs() if config.full_refresh else stored_jobs(pipeline, settings, uids)
        client = AnalyticsApiClient(settings, context.log)
        progress = Progress(context.log, workflows_total=len(uids))
        source = analytics_source(
            settings, workflow_uids=uids, client=client, progress=progress, stored_jobs=stored
        ).with_resources(c.JOBS, c.SUCCESSFUL_JOBS)
        yield from run_dlt(context, dlt, source, pipeline, settings, translator, client, progress)
        context.log.info(
            f"{stored.unchanged} listed job(s) unchanged since the last load, not merged"
        )


@dlt_assets(
    dlt_source=analytics_source(result_jobs=[]).with_resources(c.JOB_RESULTS),
    dlt_pipeline=DEFINITION_PIPELINE,
    name="analytics_job_results_assets",
    dagster_dlt_translator=translator,
    partitions_def=workflow_uids,
    backfill_policy=BACKFILL_POLICY,
    pool=c.WAREHOUSE_POOL,
)
def job_results_assets(
    context: AssetExecutionContext,
    dlt: DagsterDltResource,
    analytics_api: AnalyticsApiResource,
    config: JobResultsConfig,
) -> Iterator[Any]:
    """Load the result rows of the workflows' successful jobs (as checked in the warehouse).

    Results of a finished job never change: jobs already loaded are skipped unless
    `full_refresh` is set in the run config.
    """
    settings = analytics_api.settings()
    with secrets_kept(settings):
        uids = list(context.partition_keys)
        pipeline = make_pipeline(settings, uids)
        successful, loaded = results_plan(pipeline, settings, uids)
        pending = (
            successful if config.full_refresh else [j for j in successful if j[0] not in loaded]
        )
        scope = f"workflow {uids[0]}" if len(uids) == 1 else f"{len(uids)} workflows"
        context.log.info(f"{scope}: {len(successful)} successful job(s), {len(pending)} to fetch")
        if not pending:
            yield nothing_to_load(context, pipeline, settings, c.JOB_RESULTS)
            return
        client = AnalyticsApiClient(settings, context.log)
        progress = Progress(context.log, jobs_total=len(pending))
        source = analytics_source(
            settings, result_jobs=pending, client=client, progress=progress
        ).with_resources(c.JOB_RESULTS)
        yield from run_dlt(context, dlt, source, pipeline, settings, translator, client, progress)
