"""Reading the API for a load: workflows, one workflow's jobs, and result pages fetched ahead.

Plain Python over the client (no dlt, no Dagster): the dlt resources in `source.py` and the
sensor's checks both read through these.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc

from analytics_assets.api.arrow_bodies import TIMESTAMP, ArrowPage, ArrowPages
from analytics_assets.api.arrow_pages import REQUIRED, page_table
from analytics_assets.api.client import AnalyticsApiClient
from analytics_assets.api.envelopes import unwrap_list
from analytics_assets.api.errors import AnalyticsApiError
from analytics_assets.api.jobs import normalize_job, with_version
from analytics_assets.api.paging import iter_result_pages
from analytics_assets.api.progress import Progress
from analytics_assets.api.results import ResultRowIdentity, StagedRows, result_record, utc_now_iso
from analytics_assets.api.scheduler import End, longest_first, pages_as_they_arrive
from analytics_assets.settings import ApiSettings

logger = logging.getLogger(__name__)


class Reader:
    """How one load reads the API: its client (opened on first use, so building a source
    costs nothing), where progress goes, and Arrow pages or dicts for results."""

    def __init__(
        self,
        settings: ApiSettings | None = None,
        *,
        client: AnalyticsApiClient | None = None,
        progress: Progress | None = None,
        arrow: bool = True,
    ) -> None:
        self._settings = settings
        self._client = client
        self.progress = progress
        self.arrow = arrow  # False: result pages as dicts (dlt's slower, fully general path)

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


def _job_pages(
    api: AnalyticsApiClient, jobs: Iterable[dict[str, Any]], log: Any, arrow: bool = False
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]] | ArrowPage | End]]:
    """(job, page) for every page of every job as pages arrive, then (job, END) once a job is
    done: fetched ahead of the caller, longest jobs first.

    Up to `fetch_concurrency` jobs are fetched at once, as many as the client finds the plan
    and the round trip call for; each job's pages stay in order (the cursor of one page names
    the next), pages of different jobs interleave.
    """
    ordered = longest_first(list(jobs))
    parse = ArrowPages() if arrow else False  # one schema hint for all the jobs' pages
    streams = [(job, functools.partial(_pages_of_job, api, job, log, parse)) for job in ordered]
    return pages_as_they_arrive(streams, api.settings.fetch_concurrency, running=api.fetch_workers)


def _pages_of_job(
    api: AnalyticsApiClient, job: dict[str, Any], log: Any, arrow: bool | ArrowPages = False
) -> Iterator[list[dict[str, Any]] | ArrowPage]:
    """Every page of one job, in order (`arrow`: as Arrow where it reads exactly).

    A job whose first page is a 404 (deleted upstream) is skipped with a warning; a 404
    after some pages were read fails the run, so no job is ever loaded half.
    """
    pages = iter_result_pages(api, str(job["uid"]), arrow=arrow)
    try:
        first = next(pages, None)
    except AnalyticsApiError as exc:
        if exc.status != 404:
            raise
        log.warning(f"job {job['uid']!r} is gone upstream (404 on its results); keeping rows")
        return
    if first is not None:
        yield first
        yield from pages


# dlt has a fixed cost per extracted item (it infers each Arrow table's schema): small pages
# are gathered into items of about this many rows, still only a few MB each.
BATCH_ROWS = 5000


class JobRows:
    """Turns one job's pages, in order, into warehouse rows (its ids count identical rows)."""

    def __init__(self, job: dict[str, Any], staged: StagedRows) -> None:
        self.uid = str(job["uid"])
        self.workflow_uid = str(job["workflow_uid"])
        self.identity = ResultRowIdentity(self.uid)
        self.extracted_at = utc_now_iso()
        self.staged = staged

    def records(self, page: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A dict page's rows as `result_record`s."""
        return [
            result_record(
                item,
                identity=self.identity,
                workflow_uid=self.workflow_uid,
                extracted_at=self.extracted_at,
            )
            for item in self.staged.fresh(self.uid, page)
        ]

    def table(self, page: ArrowPage) -> pa.Table:
        """An Arrow page's rows in the columns `page_table` makes of the same items."""
        table = page.table
        keep = self.staged.fresh_mask(self.uid, table.column("job_result_id").to_pylist())
        if keep is not None:
            table = table.filter(pa.array(keep))
        size = table.num_rows
        when = pa.array([self.extracted_at]).cast(TIMESTAMP)[0]
        columns = {
            "job_result_id": table.column("job_result_id"),
            "job_uid": pa.repeat(pa.scalar(self.uid, pa.string()), size),
            "workflow_uid": pa.repeat(pa.scalar(self.workflow_uid, pa.string()), size),
            "extracted_at": pc.fill_null(table.column("extracted_at"), when),
        }
        for name in table.column_names[2:]:
            if table.column(name).null_count < size:
                columns[name] = table.column(name)
        fields = [
            pa.field(name, array.type, nullable=name not in REQUIRED)
            for name, array in columns.items()
        ]
        return pa.Table.from_arrays(list(columns.values()), schema=pa.schema(fields))


class _Batch:
    """Rows gathered for one dlt item: dict records and Arrow pages, each kind kept apart."""

    def __init__(self, arrow: bool) -> None:
        self.arrow = arrow
        self.records: list[dict[str, Any]] = []
        self.tables: list[pa.Table] = []
        self.rows = 0

    def add(self, rows: JobRows, page: list[dict[str, Any]] | ArrowPage) -> None:
        if isinstance(page, ArrowPage):
            table = rows.table(page)
            self.tables.append(table)
            self.rows += table.num_rows
        else:
            records = rows.records(page)
            self.records += records
            self.rows += len(records)

    def flush(self) -> Iterator[list[dict[str, Any]] | pa.Table]:
        """The gathered rows as dlt items, and an empty batch."""
        if self.records:
            yield _item(self.records, self.arrow)
        if self.tables:
            yield from _concatenated(self.tables)
        self.records, self.tables, self.rows = [], [], 0


def _concatenated(tables: list[pa.Table]) -> list[pa.Table]:
    """One table when the pages' columns unify (an int column meeting floats becomes double,
    as in one inferred batch), else each page as it is."""
    try:
        return [pa.concat_tables(tables, promote_options="permissive")]
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return tables


def iter_job_results(
    reader: Reader,
    jobs: Iterable[dict[str, Any]],
    staged: StagedRows | None = None,
) -> Iterator[list[dict[str, Any]] | pa.Table]:
    """Every result row of the given jobs, in lists (or Arrow tables) of whole API pages.

    Pages are fetched ahead in background threads while this one shapes rows; pages of
    different jobs come in the order they arrive. A job `staged` has seen is skipped, and so
    is a row whose API-sent id it has seen.
    """
    api, log, progress, arrow = reader.client, reader.log, reader.progress, reader.arrow
    staged = staged if staged is not None else StagedRows()
    repeated = staged.repeated
    open_jobs: dict[str, JobRows] = {}  # jobs with pages still to come: memory per job
    batch = _Batch(arrow)
    fresh_jobs = [job for job in jobs if staged.first_time(str(job["uid"]))]
    for job, page in _job_pages(api, fresh_jobs, log, arrow):
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


def _item(records: list[dict[str, Any]], arrow: bool) -> list[dict[str, Any]] | pa.Table:
    table = page_table(records) if arrow else None
    return table if table is not None else records
