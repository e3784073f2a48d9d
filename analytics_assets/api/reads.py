"""Reading the API for a load: workflows, one workflow's jobs, and result pages fetched ahead.

Plain Python over the client (no dlt, no Dagster): the dlt resources in `source.py` and the
sensor's checks both read through these.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import pyarrow as pa

from analytics_assets.api.arrow_bodies import ArrowPage, ArrowPages
from analytics_assets.api.client import AnalyticsApiClient
from analytics_assets.api.envelopes import unwrap_list
from analytics_assets.api.errors import AnalyticsApiError
from analytics_assets.api.job_rows import jobs_fingerprint, normalize_job, with_version
from analytics_assets.api.paging import iter_result_pages
from analytics_assets.api.progress import Progress
from analytics_assets.api.result_batches import BATCH_ROWS, Batch, JobRows
from analytics_assets.api.results import StagedRows
from analytics_assets.api.scheduler import End, PageFetch, longest_first
from analytics_assets.settings import ApiSettings

logger = logging.getLogger(__name__)


class ApiReader:
    """How one load reads the API: its client (opened on first use, so building a source
    costs nothing), where progress goes, and Arrow pages or dicts for results.

    It also keeps what each workflow's job listing looked like (`fingerprints`): the load
    records them, and the sensor compares its own checks with them.
    """

    def __init__(
        self,
        settings: ApiSettings | None = None,
        *,
        client: AnalyticsApiClient | None = None,
        progress: Progress | None = None,
        arrow: bool = True,
        column_types: Mapping[str, str] | None = None,
    ) -> None:
        self._settings = settings
        self._client = client
        self.progress = progress
        self.arrow = arrow  # False: result pages as dicts (dlt's slower, fully general path)
        # job_results' column types in the warehouse: values retyping one go to a variant column.
        self.column_types = column_types or {}
        self.fingerprints: dict[str, str] = {}
        # Called with each workflow's whole job listing (a fetch of results ahead listens).
        self.on_listed: Callable[[str, list[dict[str, Any]]], None] | None = None
        # Result pages a previous step started fetching for this one (`ResultFetch`).
        self.fetched_ahead: ResultFetch | None = None

    @property
    def client(self) -> AnalyticsApiClient:
        if self._client is None:
            if self._settings is None:
                raise AnalyticsApiError("analytics_source was built without settings")
            self._client = AnalyticsApiClient(self._settings)
        return self._client

    @property
    def log(self) -> Any:
        return self._client.log if self._client else logger

    def workflow_listed(self, workflow_uid: str, jobs: list[dict[str, Any]]) -> None:
        """Note one workflow's job listing: its fingerprint, and a line of progress."""
        self.fingerprints[workflow_uid] = jobs_fingerprint(jobs)
        if self.on_listed is not None:
            self.on_listed(workflow_uid, jobs)
        if self.progress:
            self.progress.workflow_listed(len(jobs))


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


class ResultFetch:
    """Result pages of jobs, fetched ahead of the caller, longest jobs first, as pages arrive.

    Up to `fetch_concurrency` jobs are fetched at once, as many as the client finds the plan
    and the round trip call for; each job's pages stay in order (the cursor of one page names
    the next), pages of different jobs interleave. Jobs can be added until the fetch is read
    (`pages`), so it can start before the caller knows every job it wants.
    """

    def __init__(
        self,
        api: AnalyticsApiClient,
        *,
        arrow: bool = True,
        buffered: int | None = None,
        unclaimed_seconds: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = api
        self._parse = ArrowPages() if arrow else False  # one schema hint for all jobs' pages
        self._fetch: PageFetch[dict[str, Any], Any] = PageFetch(
            (),
            api.settings.fetch_concurrency,
            running=api.fetch_workers,
            buffered=buffered,
            unclaimed_seconds=unclaimed_seconds,
            monotonic=monotonic,
        )

    def add(self, jobs: Iterable[dict[str, Any]]) -> None:
        """Fetch these jobs too, after those already queued (the longest of them first)."""
        pages = functools.partial(_pages_of_job, self.client, arrow=self._parse)
        self._fetch.add([(job, functools.partial(pages, job)) for job in longest_first(list(jobs))])

    def cancel(self) -> None:
        self._fetch.cancel()

    def pages(
        self, jobs: Iterable[dict[str, Any]]
    ) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]] | ArrowPage | End]]:
        """(job, page) for every page of `jobs` as pages arrive, then (job, END) once a job is
        done. Jobs fetched ahead and not in `jobs` are dropped (their pages skipped), jobs in
        `jobs` not fetched yet are added."""
        wanted = {str(job["uid"]): job for job in jobs}
        self._fetch.retain(lambda job: str(job["uid"]) in wanted)
        queued = {str(job["uid"]) for job in self._fetch.keys}
        self.add(job for uid, job in wanted.items() if uid not in queued)
        self._fetch.close()
        for job, page in self._fetch.pages():
            uid = str(job["uid"])
            if uid in wanted:
                yield wanted[uid], page

    def claim(self) -> bool:
        """Whether this fetch can still be read whole (see `PageFetch.claim`)."""
        return self._fetch.claim()


def _pages_of_job(
    api: AnalyticsApiClient, job: dict[str, Any], arrow: bool | ArrowPages = False
) -> Iterator[list[dict[str, Any]] | ArrowPage]:
    """Every page of one job, in order (`arrow`: as Arrow where it reads exactly).

    A job whose first page is a 404 (deleted upstream) is skipped with a warning; a 404
    after some pages were read fails the run, so no job is ever loaded half. Each request's
    urgency is the job's rows still to fetch (see `admission.py`).
    """
    pages = iter_result_pages(api, str(job["uid"]), arrow=arrow)
    left = job.get("total_row_count") or 0
    try:
        with api.admission.urgency(left):
            page = next(pages, None)
    except AnalyticsApiError as exc:
        if exc.status != 404:
            raise
        api.log.warning(f"job {job['uid']!r} is gone upstream (404 on its results); keeping rows")
        return
    while page is not None:
        yield page
        left -= len(page)
        with api.admission.urgency(left):
            page = next(pages, None)


def iter_job_results(
    reader: ApiReader,
    jobs: Iterable[dict[str, Any]],
    staged: StagedRows | None = None,
) -> Iterator[list[dict[str, Any]] | pa.Table]:
    """Every result row of the given jobs, in lists (or Arrow tables) of whole API pages.

    Pages are fetched ahead in background threads while this one shapes rows; pages of
    different jobs come in the order they arrive. A job `staged` has seen is skipped, and so
    is a row whose API-sent id it has seen.
    """
    log, progress, arrow = reader.log, reader.progress, reader.arrow
    staged = staged if staged is not None else StagedRows()
    repeated = staged.repeated
    open_jobs: dict[str, JobRows] = {}  # jobs with pages still to come: memory per job
    batch = Batch(arrow, reader.column_types)
    fresh_jobs = [job for job in jobs if staged.first_time(str(job["uid"]))]
    fetch = reader.fetched_ahead
    if fetch is None or not fetch.claim():
        if fetch is not None:
            log.info("the results fetched ahead were stopped before this step; fetching again")
        fetch = ResultFetch(reader.client, arrow=arrow)
    for job, page in fetch.pages(fresh_jobs):
        uid = str(job["uid"])
        if isinstance(page, End):
            open_jobs.pop(uid, None)
            staged.done(uid)
            continue
        batch.add(open_jobs.get(uid) or open_jobs.setdefault(uid, JobRows(job, staged)), page)
        if progress:
            progress.page_loaded(uid, len(page))
        if batch.rows >= BATCH_ROWS:
            yield from batch.flush()
    yield from batch.flush()
    if staged.repeated > repeated:
        log.warning(
            f"{staged.repeated - repeated} result row(s) repeated a job_result_id their job had "
            "already sent in this load; kept the first of each"
        )
