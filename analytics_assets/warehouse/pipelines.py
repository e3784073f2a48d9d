"""The dlt pipelines that write the warehouse.

Each workflow partition gets its own dlt pipeline (own working folder and state), so
concurrent partition runs never share dlt state. Server destinations (Postgres and the rest)
take concurrent writers; each partition stages its merge in its own staging dataset so
concurrent merges never share a staging table. DuckDB takes one writer (see `lock.py`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

import dlt
from dlt.common.destination import Destination
from dlt.common.schema.typing import TTableSchemaColumns
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.extract.source import DltSource
from dlt.pipeline.pipeline import Pipeline

from analytics_assets import constants as c
from analytics_assets.settings import ApiSettings
from analytics_assets.warehouse.reader import WarehouseReader

# Loads append and merge; insertion order is meaningless for them, and keeping it is what
# makes DuckDB hold a whole load file in memory. The memory cap keeps big loads flat (DuckDB
# spills to disk past it); a cap this low needs few threads, since each holds its own
# buffers. Raise both with dlt's DESTINATION__DUCKDB__CREDENTIALS__PRAGMAS (README).
DUCKDB_CONFIG = {
    "preserve_insertion_order": False,
    "memory_limit": "64MB",
    "threads": min(4, os.cpu_count() or 1),
}


MAX_NAME = 64


@dataclass(frozen=True)
class Layout:
    """The names one instance writes under: its dlt pipelines and its dataset."""

    base: str = c.SOURCE_NAME
    dataset: str = c.DATASET_NAME

    def pipeline_name(self, workflow_uids: str | Sequence[str] | None = None) -> str:
        """`<base>` for the workspace assets, `<base>_wf_<uid>_<hash>` per partition, and
        `<base>_batch_<count>_<hash>` for a run of several partitions.

        The hash keeps names unique and file-system safe whatever characters a uid holds; a
        re-run of the same partitions finds the same working folder (and any package a killed
        run left behind).
        """
        if workflow_uids is None:
            return self.base
        uids = [workflow_uids] if isinstance(workflow_uids, str) else sorted(workflow_uids)
        if len(uids) != 1:
            return f"{self.base}_batch_{len(uids)}_{_digest(chr(10).join(uids), 12)}"
        # dlt names a schema after the pipeline: at most 64 characters in all.
        room = min(40, MAX_NAME - len(self.base) - len("_wf__") - 8)
        safe = re.sub(r"[^A-Za-z0-9]+", "_", uids[0]).strip("_")[:room].strip("_")
        return f"{self.base}_wf_{safe}_{_digest(uids[0])}"

    def is_batch(self, pipeline: Pipeline) -> bool:
        return pipeline.pipeline_name.startswith(f"{self.base}_batch_")


def pipeline_name(workflow_uids: str | Sequence[str] | None = None) -> str:
    """The pipeline name of the default layout (the shipped code location's)."""
    return Layout().pipeline_name(workflow_uids)


def make_pipeline(
    settings: ApiSettings | None,
    workflow_uids: str | Sequence[str] | None = None,
    *,
    layout: Layout | None = None,
    name: str | None = None,
) -> Pipeline:
    """A dlt pipeline writing the layout's dataset of the configured destination.

    Without settings (definition time) only names matter and nothing is opened. `name`
    overrides the pipeline name, e.g. for read-only use that must not touch the working
    folder of a pipeline another run may be writing.
    """
    layout = layout or Layout()
    name = name or layout.pipeline_name(workflow_uids)
    _scope_dlt_config(name)
    if settings is None:
        return dlt.pipeline(pipeline_name=name, destination="duckdb", dataset_name=layout.dataset)
    return dlt.pipeline(
        pipeline_name=name,
        destination=_destination(settings, name, layout),
        dataset_name=layout.dataset,
        pipelines_dir=str(settings.dlt_pipelines_dir),
    )


def _scope_dlt_config(pipeline_name: str) -> None:
    """What our pipelines ask of dlt, set under the pipeline's name (dlt looks a setting up
    under `<pipeline_name>.` first): another pipeline of the same process keeps dlt's defaults.
    """
    # Arrow pages get dlt's load id too, so every row is shaped like a dict row; their row id
    # (`_dlt_id`) they bring themselves (see `result_batches.with_row_ids`).
    dlt.config[f"{pipeline_name}.normalize.parquet_normalizer.add_dlt_load_id"] = True
    # A merge stages its rows in `<dataset>_staging`; emptied after the load, the warehouse
    # holds one copy of the data, and nobody queries a stale half of it by mistake.
    dlt.config[f"{pipeline_name}.load.truncate_staging_dataset"] = True


def _destination(settings: ApiSettings, name: str, layout: Layout) -> Destination:
    if settings.is_duckdb:
        settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        credentials = DuckDbCredentials(str(settings.duckdb_path), global_config=DUCKDB_CONFIG)
        return dlt.destinations.duckdb(credentials)
    # dlt stages merges in `<dataset>_staging` and truncates it at each load: two partitions
    # loading at once would merge each other's (or no) rows. One staging dataset per pipeline.
    staging = "%s_staging" if name == layout.base else f"%s_staging_{_digest(name)}"
    destination = Destination.from_reference(
        settings.destination, staging_dataset_name_layout=staging
    )
    assert destination is not None  # from_reference returns None only for a None reference
    return destination


def adopt_destination_columns(pipeline: Pipeline, source: DltSource) -> None:
    """Tell the source's schema the types the destination's tables already have.

    A pipeline learns column types from its own loads; each partition and batch has its own,
    so another pipeline's column (one workflow's `results__size` as a number) is unknown to
    it, and a row sending text there would fail the load. Known, dlt's normalizer puts such
    values in a variant column (`<column>__v_<type>`), as it does for its own columns.
    """
    resources = {
        r.table_name: r for r in source.selected_resources.values() if isinstance(r.table_name, str)
    }
    for table, columns in destination_columns(pipeline, list(resources)).items():
        typed = [
            column
            for name, column in columns.items()
            if column.get("data_type") and not name.startswith("_dlt_")
        ]
        if typed:  # merged into the resource's own column hints; its other hints stay
            resources[table].apply_hints(columns=typed)


def destination_columns(pipeline: Pipeline, tables: list[str]) -> dict[str, TTableSchemaColumns]:
    """The columns these tables have in the destination, in dlt's types ({} for a table not
    created yet): what every pipeline has loaded there, not only this one."""
    with pipeline.destination_client() as client:
        return dict(client.get_storage_tables(tables))  # type: ignore[attr-defined]


def load_file_format(pipeline: Pipeline) -> str | None:
    # dlt's default INSERT path into DuckDB is several times slower than parquet. Elsewhere
    # dlt's default: on Postgres its csv (COPY) path loads '' as NULL, and parquet needs an
    # ADBC driver; INSERT is exact, Arrow pages included.
    return "parquet" if pipeline.destination.destination_name == "duckdb" else None


def _digest(text: str, size: int = 8) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:size]


def forget_batch(pipeline: Pipeline, settings: ApiSettings, layout: Layout) -> None:
    """Leave no trail of a finished run of several partitions: its working folder, its dlt
    state rows and (on a server) its staging dataset.

    Sensor batches are ever new partition sets; kept, each would leave all three behind for
    good. Nothing is lost: what a run must skip is read from the loaded tables, never from
    dlt state, and a failed run's folder stays for its re-run (same partitions, same name).
    """
    if not layout.is_batch(pipeline):
        return
    with pipeline.sql_client() as client:
        reader = WarehouseReader(client)
        state = reader.table("_dlt_pipeline_state")
        if state is not None:
            client.execute_sql(
                f"DELETE FROM {state} WHERE pipeline_name = %s", pipeline.pipeline_name
            )
        if not settings.is_duckdb:
            with client.with_staging_dataset():
                if client.has_dataset():
                    client.drop_dataset()
    # Not pipeline.drop(): it lays a fresh working folder down again.
    shutil.rmtree(pipeline.working_dir, ignore_errors=True)
