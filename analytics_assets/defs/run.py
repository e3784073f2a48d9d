"""What one asset step needs, in one object: settings, client, pipeline, progress, partitions.

    with AssetRun(context, wiring) as run:
        source = analytics_source(workflow_uids=run.uids, reader=run.api_reader())
        yield from run.load(source.with_resources(JOBS, SUCCESSFUL_JOBS))

Entered, it masks secrets in any failure and closes the client at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue
from dlt.extract.source import DltSource
from dlt.pipeline.exceptions import PipelineStepFailed

from analytics_assets import constants as c
from analytics_assets.api.client import AnalyticsApiClient
from analytics_assets.api.errors import AnalyticsApiError
from analytics_assets.api.progress import Progress
from analytics_assets.api.reads import ApiReader
from analytics_assets.defs.ahead import Ahead, AheadPlan
from analytics_assets.defs.metadata import (
    DROPPED_LOAD_INFO,
    FINGERPRINT_METADATA,
    materialization,
    preview,
    request_metadata,
    table_metadata,
)
from analytics_assets.defs.partitions import run_partitions, unregistered
from analytics_assets.defs.secrets import secrets_kept
from analytics_assets.defs.wiring import Wiring
from analytics_assets.settings import ApiSettings
from analytics_assets.warehouse.lock import WarehouseLockedError, writer_lock
from analytics_assets.warehouse.pipelines import (
    adopt_destination_columns,
    forget_batch,
    load_file_format,
    make_pipeline,
)
from analytics_assets.warehouse.queries import workflow_names
from analytics_assets.warehouse.reader import WarehouseReader, read_warehouse

T = TypeVar("T")


class AssetRun:
    """One step of one of the multi-assets."""

    def __init__(self, context: AssetExecutionContext, wiring: Wiring) -> None:
        self.context = context
        self.wiring = wiring
        self.names = wiring.names
        self.settings = getattr(context.resources, self.names.api_resource).settings()
        self.partitions = run_partitions(context)
        self.pipeline = make_pipeline(self.settings, self.partitions, layout=self.names.layout)
        self.progress: Progress | None = None
        self._api_reader: ApiReader | None = None
        self._client: AnalyticsApiClient | None = None
        self._stack = ExitStack()
        self._started = time.monotonic()
        self._started_ahead = False  # this (jobs) step started the run's fetch ahead
        self._adopted: Ahead | None = None  # this (results) step reads the run's fetch ahead

    def __enter__(self) -> AssetRun:
        self._stack.enter_context(secrets_kept(self.settings))
        return self

    def __exit__(self, *exc: Any) -> bool | None:
        if self._adopted is not None:
            self._adopted.fetch.cancel()  # read, or this step failed
        elif self._started_ahead and exc[0] is not None:
            self.wiring.ahead.cancel(self.context.run.run_id)  # nobody will read it
        if self._client is not None:
            self._client.close()
        return self._stack.__exit__(*exc)

    @property
    def uids(self) -> list[str]:
        return self.partitions or []

    @property
    def scope(self) -> str:
        uids = self.uids
        return f"workflow {uids[0]}" if len(uids) == 1 else f"{len(uids)} workflows"

    @property
    def client(self) -> AnalyticsApiClient:
        if self._client is None:
            self._client = self.wiring.client(self.settings, self.context.log)
        return self._client

    def api_reader(self, *, workflows_total: int = 0, jobs_total: int = 0) -> ApiReader:
        """How this step's source reads the API, with a progress log of these totals."""
        self.progress = Progress(self.context.log, workflows_total, jobs_total)
        self._api_reader = ApiReader(client=self.client, progress=self.progress)
        if self._adopted is not None:
            self._api_reader.fetched_ahead = self._adopted.fetch
        return self._api_reader

    def fetch_results_ahead(self, reader: ApiReader, plan: AheadPlan) -> None:
        """Start fetching the results of the successful jobs `reader` lists, except those
        loaded, for this run's results step (defs/ahead.py); with its own client, which
        outlives this step. Not when the check would fail on what the warehouse holds."""
        if plan.doubts:
            some = ", ".join(uid for _, uid in plan.doubts[:5])
            self.context.log.info(
                f"results not fetched ahead: the check would fail on {len(plan.doubts)} "
                f"job(s) the warehouse holds ({some})"
            )
            return
        client = self.wiring.client(self.settings, self.context.log)
        run_id = self.context.run.run_id
        ahead = self.wiring.ahead.start(run_id, client, plan.loaded)
        self._started_ahead = True

        def listed(workflow_uid: str, jobs: list[dict[str, Any]]) -> None:
            # The listing's round trip: the fetch keeps enough requests in flight from its
            # first one, instead of two until its own first answer.
            if client.latency is None:
                client.latency = reader.client.latency
            ahead.listed(workflow_uid, jobs)

        reader.on_listed = listed

    def adopt_results_fetched_ahead(self) -> Ahead | None:
        """This run's results fetched ahead, if any: their client becomes this step's (its
        request counts are this step's metadata). Call before anything uses `client`."""
        ahead = self.wiring.ahead.take(self.context.run.run_id)
        if ahead is None:
            return None
        if self._client is not None:
            self._client.close()
        ahead.client.log = self.context.log
        self._client, self._adopted = ahead.client, ahead
        return ahead

    def query_warehouse(self, ask: Callable[[WarehouseReader], T]) -> T:
        """Read the warehouse (under the writer lock: DuckDB takes one process at a time)."""
        with warehouse_lock(self.settings, self.context.log):
            with read_warehouse(self.pipeline) as warehouse:
                return ask(warehouse)

    def load(self, source: DltSource) -> Iterator[MaterializeResult]:
        """Load `source` through dagster-dlt; one enriched result per selected asset."""
        dlt = getattr(self.context.resources, self.names.dlt_resource)
        with warehouse_lock(self.settings, self.context.log):
            adopt_destination_columns(self.pipeline, source)
            try:
                results = list(
                    dlt.run(
                        context=self.context,
                        dlt_source=source,
                        dlt_pipeline=self.pipeline,
                        dagster_dlt_translator=self.wiring.translator,
                        loader_file_format=load_file_format(self.pipeline),
                    )
                )
            except PipelineStepFailed as exc:
                raise _failure(exc) from None
            loaded = {
                r.asset_key.path[-1]: _without_noise(r.metadata or {})
                for r in results
                if r.asset_key
            }
            facts = self._warehouse_facts(loaded)
        if self.progress:
            self.progress.finish()
        for table, metadata in loaded.items():
            metadata = {**metadata, **facts.tables[table], **self._run_figures()}
            if self.progress and table == c.JOB_RESULTS:
                metadata["result_pages"] = MetadataValue.int(self.progress.pages)
            yield self._result(table, metadata, facts, self._listed(table))

    def nothing_to_load(self, table: str) -> MaterializeResult:
        """Materialize without a dlt run (saves its fixed cost) when no request is needed;
        the columns and figures are those of any other materialization."""
        with warehouse_lock(self.settings, self.context.log):
            facts = self._warehouse_facts({table: {}})
        metadata = {
            **facts.tables[table],
            **self._run_figures(),
            "rows_loaded": MetadataValue.int(0),
        }
        return self._result(table, metadata, facts)

    def register_workflows(self, seen: list[str]) -> None:
        """Add a partition for each workflow uid not registered yet."""
        instance = self.context.instance
        new = unregistered(instance.get_dynamic_partitions(self.names.partitions), seen)
        if new:
            instance.add_dynamic_partitions(self.names.partitions, new)
            self.context.log.info(f"registered {len(new)} new workflow partition(s)")

    def _warehouse_facts(self, loaded: dict[str, dict[str, Any]]) -> WarehouseFacts:
        """Per table its rows per partition, columns and preview, and the workflows' names;
        then a run of several partitions leaves no pipeline behind. Under the writer lock."""
        tables = list(loaded)
        with read_warehouse(self.pipeline) as warehouse:
            counts = {t: warehouse.partition_counts(t, self.partitions) for t in tables}
            previews = {t: preview(warehouse, t) for t in tables}
            names = workflow_names(warehouse, self.uids)
        described = {}
        for table in tables:
            described[table] = table_metadata(self.pipeline, table, loaded[table])
            if previews.get(table):
                described[table]["preview"] = MetadataValue.md(previews[table])
        forget_batch(self.pipeline, self.settings, self.names.layout)
        return WarehouseFacts(counts, described, names)

    def _run_figures(self) -> dict[str, Any]:
        """What this step asked of the API and how long it took, on every materialization."""
        return {
            **request_metadata(self.client),
            "duration_seconds": MetadataValue.float(round(time.monotonic() - self._started, 3)),
        }

    def _result(
        self,
        table: str,
        metadata: dict[str, Any],
        facts: WarehouseFacts,
        per_partition: dict[str, dict[str, Any]] | None = None,
    ) -> MaterializeResult:
        key = self.names.key(table)
        extra = {
            uid: {
                **(
                    {"workflow_name": MetadataValue.text(facts.names[uid])}
                    if uid in facts.names
                    else {}
                ),
                **(per_partition or {}).get(uid, {}),
            }
            for uid in self.uids
        }
        counts = facts.counts[table]
        return materialization(self.context, key, metadata, counts, self.partitions, extra)

    def _listed(self, table: str) -> dict[str, dict[str, Any]]:
        """Per partition, the fingerprint of the jobs this run listed (on `jobs` only)."""
        if self._api_reader is None or table != c.JOBS:
            return {}
        return {
            uid: {FINGERPRINT_METADATA: MetadataValue.text(fp)}
            for uid, fp in self._api_reader.fingerprints.items()
        }


@contextmanager
def warehouse_lock(settings: ApiSettings, log: Any) -> Iterator[None]:
    """The writer lock, failing the step with the lock's own message (the holder, the bound,
    the setting) rather than a wrapped traceback."""
    with ExitStack() as stack:
        try:
            stack.enter_context(writer_lock(settings, log))
        except WarehouseLockedError as exc:
            raise Failure(description=str(exc)) from None
        yield


@dataclass(frozen=True)
class WarehouseFacts:
    """What the warehouse says after a step: rows per partition, table metadata, names."""

    counts: dict[str, dict[str | None, int]]
    tables: dict[str, dict[str, Any]]
    names: dict[str, str]


def _without_noise(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metadata.items() if k not in DROPPED_LOAD_INFO}


def _failure(exc: PipelineStepFailed) -> Exception:
    """Surface our own API error (endpoint, status, hint) instead of dlt's wrapper text."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, AnalyticsApiError):
            return Failure(description=str(seen), metadata={"endpoint": seen.endpoint or ""})
        seen = seen.__cause__ or seen.__context__
    return exc
