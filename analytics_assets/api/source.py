"""The dlt source for the analytics API: plain dlt, runnable without Dagster.

    pipeline = dlt.pipeline("analytics", destination="duckdb", dataset_name="analytics")
    pipeline.run(analytics_source(resolve_settings()))

Without `workflow_uids` the job resources walk every workflow; with them they load those
workflows (the Dagster partitions of one run). `jobs` and `successful_jobs` share one request
per workflow: `successful_jobs` is a dlt transformer fed by `jobs`, and `job_results` is fed
by `successful_jobs`, or by `result_jobs` when the caller already knows which jobs succeeded
(the Dagster asset reads them from the checked warehouse table).
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import quote

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from analytics_assets import constants as c
from analytics_assets.api.arrow_pages import page_table
from analytics_assets.api.client import AnalyticsApiClient, AnalyticsApiError
from analytics_assets.api.paging import iter_result_pages, prefetched_in_order
from analytics_assets.api.progress import Progress
from analytics_assets.api.records import (
    ResultRowIdentity,
    StagedRows,
    StoredJobs,
    is_successful,
    jobs_fingerprint,
    normalize_job,
    result_record,
    unwrap_list,
    unwrap_workspace,
    utc_now_iso,
    with_version,
)
from analytics_assets.settings import ApiSettings

logger = logging.getLogger(__name__)

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


# (job uid, workflow uid): a job whose results to load, and the partition its rows belong to.
JobRef = tuple[str, str]


class LazyClient:
    """Opens the HTTP client on first use, so building the source costs nothing."""

    def __init__(
        self, settings: ApiSettings | None, log: Any, client: AnalyticsApiClient | None = None
    ) -> None:
        self._settings = settings
        self._log = log or (client.log if client else logger)
        self._client = client

    @property
    def client(self) -> AnalyticsApiClient:
        if self._client is None:
            if self._settings is None:
                raise AnalyticsApiError("analytics_source was built without settings")
            self._client = AnalyticsApiClient(self._settings, self._log)
        return self._client

    @property
    def log(self) -> Any:
        return self._log


def jobs_path(workflow_uid: str) -> str:
    return f"/v3/workflows/{quote(str(workflow_uid), safe='')}/jobs"


def fetch_workflows(api: AnalyticsApiClient) -> list[dict[str, Any]]:
    rows = unwrap_list(api.get_json("/v3/workflows"), "/v3/workflows")
    for row in rows:
        if not row.get("uid"):
            raise AnalyticsApiError("GET /v3/workflows returned a workflow without 'uid'")
    return rows


def fetch_jobs(api: AnalyticsApiClient, workflow_uid: str, log: Any) -> list[dict[str, Any]]:
    """One workflow's jobs; a workflow deleted upstream (404) yields none, with a warning."""
    path = jobs_path(workflow_uid)
    try:
        body = api.get_json(path)
    except AnalyticsApiError as exc:
        if exc.status != 404:
            raise
        log.warning(f"workflow {workflow_uid!r} is gone upstream (404 on {path}); loading nothing")
        return []
    return [with_version(normalize_job(job, workflow_uid)) for job in unwrap_list(body, path)]


def _pages_of_job(
    api: AnalyticsApiClient, job: dict[str, Any], log: Any
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(job, page) for every page of one job, in order.

    A job whose first page is a 404 (deleted upstream) is skipped with a warning; a 404
    after some pages were read fails the run, so no job is ever loaded half.
    """
    pages = iter_result_pages(api, str(job["uid"]))
    try:
        first = next(pages, None)
    except AnalyticsApiError as exc:
        if exc.status != 404:
            raise
        log.warning(f"job {job['uid']!r} is gone upstream (404 on its results); keeping rows")
        return
    for page in itertools.chain([first] if first is not None else [], pages):
        yield job, page


def _job_pages(
    api: AnalyticsApiClient, jobs: Iterable[dict[str, Any]], log: Any
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(job, page) for every page of every job, in job order, fetched ahead of the caller.

    Up to `fetch_concurrency` jobs are fetched at once, as many as the client finds the plan
    and the round trip call for (each job's pages stay sequential: the cursor of one page
    names the next); rows still arrive in job order.
    """
    streams = (functools.partial(_pages_of_job, api, job, log) for job in jobs)
    return prefetched_in_order(streams, api.settings.fetch_concurrency, running=api.fetch_workers)


# dlt spends ~10 ms on every item it extracts (it infers an Arrow table's schema each time):
# small pages are gathered into items of about this many rows. Memory stays a few MB.
BATCH_ROWS = 5000


def iter_job_results(
    api: AnalyticsApiClient,
    jobs: Iterable[dict[str, Any]],
    log: Any,
    arrow: bool = True,
    progress: Progress | None = None,
    staged: StagedRows | None = None,
) -> Iterator[list[dict[str, Any]] | pa.Table]:
    """Every result row of the given jobs, in lists (or Arrow tables) of whole API pages.

    Pages are fetched ahead in background threads while this one shapes rows. A job `staged`
    has seen is skipped, and so is a row whose API-sent id it has seen.
    """
    staged = staged if staged is not None else StagedRows()
    repeated = staged.repeated
    identity: ResultRowIdentity | None = None
    extracted_at = utc_now_iso()
    batch: list[dict[str, Any]] = []
    jobs = (job for job in jobs if staged.first_time(str(job["uid"])))
    for job, page in _job_pages(api, jobs, log):
        if identity is None or identity.job_uid != str(job["uid"]):
            identity = ResultRowIdentity(str(job["uid"]))
            extracted_at = utc_now_iso()
        batch += [
            result_record(
                item,
                identity=identity,
                workflow_uid=str(job["workflow_uid"]),
                extracted_at=extracted_at,
            )
            for item in staged.fresh(identity.job_uid, page)
        ]
        if progress:
            progress.page_loaded(str(job["uid"]), len(page))
        if len(batch) >= BATCH_ROWS:
            yield _item(batch, arrow)
            batch = []
    if batch:
        yield _item(batch, arrow)
    if staged.repeated > repeated:
        (log or logger).warning(
            f"{staged.repeated - repeated} result row(s) repeated a job_result_id their job had "
            "already sent in this load; kept the first of each"
        )


def _item(records: list[dict[str, Any]], arrow: bool) -> list[dict[str, Any]] | pa.Table:
    table = page_table(records) if arrow else None
    return table if table is not None else records


# Staged result rows are unique by key (`StagedRows`), so the merge skips dlt's deduplication:
# a ROW_NUMBER() over every staged row, which took 33 of the 34 s of loading 1M rows and
# most of its memory. Rows of a job loaded again still replace the old ones (delete-insert).
RESULTS_DISPOSITION: Any = {
    "disposition": "merge",
    "strategy": "delete-insert",
    "deduplicated": True,
}


@dlt.source(name=c.SOURCE_NAME, max_table_nesting=2)
def analytics_source(
    settings: ApiSettings | None = None,
    workflow_uids: Sequence[str] | None = None,
    result_jobs: Sequence[JobRef] | None = None,
    log: Any = None,
    client: AnalyticsApiClient | None = None,
    arrow: bool = True,
    progress: Progress | None = None,
    stored_jobs: StoredJobs | None = None,
) -> Sequence[DltResource]:
    """The five API resources as dlt resources, merged on their own primary keys.

    `result_jobs` are (job uid, workflow uid) pairs whose results to load. Pass `client` to
    share one HTTP client (and its request counters) with the caller; `arrow=False` yields
    result pages as dicts (dlt's slower, fully general path); `progress` is told of every
    workflow listed and every result page loaded. Jobs whose version `stored_jobs` already
    holds are left out of `jobs` and `successful_jobs` (a re-run merges only what changed).
    """
    lazy = LazyClient(settings, log, client)
    staged = StagedRows()  # one per load: the transformer reads each workflow's jobs in turn

    @dlt.resource(name=c.WORKSPACE, primary_key="name", write_disposition="merge")
    def workspace() -> Iterator[dict[str, Any]]:
        """The API workspace: plan, quota and billing period (one row)."""
        yield unwrap_workspace(lazy.client.get_json("/v3/workspace"), "/v3/workspace")

    @dlt.resource(name=c.WORKFLOWS, primary_key="uid", write_disposition="merge")
    def workflows() -> Iterator[list[dict[str, Any]]]:
        """Every workflow of the workspace; each workflow uid is one partition of the jobs."""
        yield fetch_workflows(lazy.client)

    @dlt.resource(name=c.JOBS, primary_key="uid", write_disposition="merge", columns=JOB_COLUMNS)
    def jobs() -> Iterator[list[dict[str, Any]]]:
        """Every job the API lists for the workflow (about the last two months), any status."""
        if workflow_uids is not None:
            uids = list(workflow_uids)
        else:
            uids = [w["uid"] for w in fetch_workflows(lazy.client)]
        for uid in uids:
            rows = fetch_jobs(lazy.client, uid, lazy.log)
            if progress:
                progress.workflow_listed(len(rows), uid, jobs_fingerprint(rows))
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
    def job_results_of(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        """Result rows of successful jobs; the raw scraped row is flattened into results__*."""
        yield from iter_job_results(lazy.client, rows, lazy.log, arrow, progress, staged)

    @dlt.resource(
        name=c.JOB_RESULTS,
        primary_key="job_result_id",
        write_disposition=RESULTS_DISPOSITION,
        columns=RESULT_COLUMNS,
    )
    def job_results_known() -> Iterator[list[dict[str, Any]]]:
        """Result rows of successful jobs; the raw scraped row is flattened into results__*."""
        known = [{"uid": job, "workflow_uid": workflow} for job, workflow in result_jobs or ()]
        yield from iter_job_results(lazy.client, known, lazy.log, arrow, progress, staged)

    jobs_resource = jobs()
    successful = jobs_resource | successful_jobs
    results = job_results_known() if result_jobs is not None else successful | job_results_of
    return workspace(), workflows(), jobs_resource, successful, results
