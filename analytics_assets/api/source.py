"""The dlt sources for the analytics API: plain dlt, runnable without Dagster.

    pipeline = dlt.pipeline("analytics", destination="duckdb", dataset_name="analytics")
    pipeline.run(analytics_source(resolve_settings()))

`analytics_source` holds the five resources. Without `workflow_uids` the job resources walk
every workflow; with them they load those workflows (the Dagster partitions of one run).
`jobs` and `successful_jobs` share one request per workflow (`successful_jobs` is a dlt
transformer fed by `jobs`, and `job_results` one fed by `successful_jobs`).
`job_results_source` loads the results of jobs the caller already knows succeeded (the
Dagster asset reads them from the checked warehouse table).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import dlt
from dlt.extract.resource import DltResource

from analytics_assets import constants as c
from analytics_assets.api.envelopes import unwrap_workspace
from analytics_assets.api.errors import AnalyticsApiError
from analytics_assets.api.job_rows import JobRef, StoredJobs, is_successful
from analytics_assets.api.reads import ApiReader, fetch_jobs, fetch_workflows, iter_job_results
from analytics_assets.api.results import StagedRows
from analytics_assets.settings import ApiSettings

# Declared so the filter's columns exist with the right types even when every value is null.
JOB_COLUMNS: dict[str, Any] = {
    "uid": {"data_type": "text", "nullable": False},
    "workflow_uid": {"data_type": "text", "nullable": False},
    "status": {"data_type": "text"},
    "total_row_count": {"data_type": "bigint"},
    "row_count": {"data_type": "bigint"},
    # Often null in a whole page; typed so the column exists from the first load.
    "error_message": {"data_type": "text"},
    "main_job_uid": {"data_type": "text"},
    "main_job_name": {"data_type": "text"},
}
RESULT_COLUMNS: dict[str, Any] = {
    "job_result_id": {"data_type": "text", "nullable": False},
    "job_uid": {"data_type": "text", "nullable": False},
    "workflow_uid": {"data_type": "text", "nullable": False},
    "extracted_at": {"data_type": "timestamp"},
}
# Staged result rows are unique by key (`StagedRows`), so the merge skips dlt's deduplication
# (a ROW_NUMBER() over every staged row, most of a big merge's time and memory). Rows of a
# job loaded again still replace the old ones (delete-insert).
RESULTS_DISPOSITION: Any = {
    "disposition": "merge",
    "strategy": "delete-insert",
    "deduplicated": True,
}


@dlt.source(name=c.SOURCE_NAME, max_table_nesting=2)
def analytics_source(
    settings: ApiSettings | None = None,
    workflow_uids: Sequence[str] | None = None,
    *,
    reader: ApiReader | None = None,
    stored_jobs: StoredJobs | None = None,
) -> Sequence[DltResource]:
    """The five API resources as dlt resources, merged on their own primary keys.

    Args:
        settings: the API settings (`resolve_settings()`); needed unless `reader` has a client.
        workflow_uids: load these workflows' jobs and results; None: every workflow's.
        reader: how the load reads the API: one client (and its counters) and a progress log
            shared with the caller.
        stored_jobs: job versions the warehouse holds; those jobs are left out of `jobs` and
            `successful_jobs` (a re-run merges only what changed).

    Returns:
        The dlt source: `workspace`, `workflows`, `jobs`, `successful_jobs`, `job_results`.

    Example:
        pipeline = dlt.pipeline("analytics", destination="duckdb", dataset_name="analytics")
        pipeline.run(analytics_source(resolve_settings()).with_resources("workspace", "jobs"))
    """
    reader = reader or ApiReader(settings)
    staged = StagedRows()  # one per load: the transformer reads each workflow's jobs in turn

    @dlt.resource(name=c.WORKSPACE, primary_key="name", write_disposition="merge")
    def workspace() -> Iterator[dict[str, Any]]:
        """The API workspace: plan, quota and billing period (one row).

        Its endpoint may have the vendor's far stricter quota limit: one that stays 429 past
        the timeout loads no row (the last one stands) rather than failing the other tables.
        """
        yield from _workspace_row(reader)

    @dlt.resource(name=c.WORKFLOWS, primary_key="uid", write_disposition="merge")
    def workflows() -> Iterator[list[dict[str, Any]]]:
        """Every workflow of the workspace; each workflow uid is one partition of the jobs."""
        yield fetch_workflows(reader.client)

    @dlt.resource(name=c.JOBS, primary_key="uid", write_disposition="merge", columns=JOB_COLUMNS)
    def jobs() -> Iterator[list[dict[str, Any]]]:
        """Every job the API lists for the workflow (about the last two months), any status."""
        if workflow_uids is not None:
            uids = list(workflow_uids)
        else:
            uids = [w["uid"] for w in fetch_workflows(reader.client)]
        for uid in uids:
            rows = fetch_jobs(reader.client, uid, reader.log)
            reader.workflow_listed(uid, rows)
            if stored_jobs is not None:
                rows = stored_jobs.changed(rows)
            if rows:
                yield rows

    @dlt.transformer(
        name=c.SUCCESSFUL_JOBS, primary_key="uid", write_disposition="merge", columns=JOB_COLUMNS
    )
    def successful_jobs(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        """Jobs with `total_row_count > 0 and status == 'finished'` (null counts excluded)."""
        kept = [row for row in rows if is_successful(row)]
        if kept:
            yield kept

    @dlt.transformer(
        name=c.JOB_RESULTS,
        primary_key="job_result_id",
        write_disposition=RESULTS_DISPOSITION,
        columns=RESULT_COLUMNS,
    )
    def job_results(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        """Result rows of successful jobs; the raw scraped row is flattened into results__*."""
        yield from iter_job_results(reader, rows, staged)

    listed = jobs()
    successful = listed | successful_jobs
    return workspace(), workflows(), listed, successful, successful | job_results


def _workspace_row(reader: ApiReader) -> Iterator[dict[str, Any]]:
    """The workspace row; none, with a warning, when its endpoint stays rate limited."""
    try:
        body = reader.client.get_json("/v3/workspace")
    except AnalyticsApiError as exc:
        if exc.status != 429:
            raise
        reader.log.warning(f"{exc}; the workspace row of the last load stands")
        return
    yield unwrap_workspace(body, "/v3/workspace")


@dlt.source(name=c.SOURCE_NAME, max_table_nesting=2)
def job_results_source(
    jobs: Sequence[JobRef] = (), *, reader: ApiReader | None = None
) -> DltResource:
    """`job_results` of the given (job uid, workflow uid[, total row count]) jobs, the longest
    first."""
    reader = reader or ApiReader()

    @dlt.resource(
        name=c.JOB_RESULTS,
        primary_key="job_result_id",
        write_disposition=RESULTS_DISPOSITION,
        columns=RESULT_COLUMNS,
    )
    def job_results() -> Iterator[list[dict[str, Any]]]:
        """Result rows of successful jobs; the raw scraped row is flattened into results__*."""
        known = [
            {"uid": ref[0], "workflow_uid": ref[1], "total_row_count": (ref[2:] or (None,))[0]}
            for ref in jobs
        ]
        yield from iter_job_results(reader, known, StagedRows())

    return job_results()
