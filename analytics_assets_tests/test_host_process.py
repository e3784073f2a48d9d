"""Another team's code in the same process sees no change from ours: importing the package,
building the definitions and the component, and running one of our loads leave the
environment, dlt's configuration, Arrow, logging and warnings as they were."""

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pyarrow as pa
from dagster import DagsterInstance

from analytics_assets_tests.support import (
    busiest,
    make_defs,
    resource_for,
    run_partition,
    run_workspace,
)
from analytics_dev.simulator import ApiSimulator, SimulatedData


def _their_tables(folder: Path, name: str) -> dict[str, list[str]]:
    """A plain dlt pipeline as another team writes it: Arrow rows and dict rows into DuckDB.
    Returns each table's columns."""
    path = folder / f"{name}.duckdb"
    pipeline = dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(path)),
        dataset_name="theirs",
        pipelines_dir=str(folder / "pipelines"),
    )
    arrow = dlt.resource(pa.table({"a": [1, 2]}), name="arrow_rows")
    dicts = dlt.resource([{"a": 1}, {"a": 2}], name="dict_rows")
    pipeline.run([arrow, dicts])
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'theirs' AND table_name NOT LIKE '\\_dlt%' ESCAPE '\\' "
            "ORDER BY table_name, column_name"
        ).fetchall()
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, []).append(column)
    return tables


def _process_state() -> dict[str, Any]:
    """What a host process could observe of its own configuration."""
    root = logging.getLogger()
    return {
        "environ": dict(os.environ),
        "dlt_add_dlt_id": dlt.config.get("normalize.parquet_normalizer.add_dlt_id"),
        "dlt_add_dlt_load_id": dlt.config.get("normalize.parquet_normalizer.add_dlt_load_id"),
        "warnings": list(warnings.filters),
        "root_logger": (root.level, list(root.handlers)),
        # Not the `dagster` logger: running any Dagster job in process sets its level.
        "dlt_logger": logging.getLogger("dlt").level,
        "arrow_pool": pa.default_memory_pool().backend_name,
    }


def test_another_teams_pipeline_and_process_are_unchanged_by_our_definitions_and_loads(
    tmp_path: Path,
    simulator: ApiSimulator,
    sim_data: SimulatedData,
    duckdb_path: Path,
    instance: DagsterInstance,
):
    before_state = _process_state()
    before = _their_tables(tmp_path, "their_before")
    # dlt's own defaults: no row ids on Arrow rows, both ids on dict rows.
    assert before == {
        "arrow_rows": ["a"],
        "dict_rows": ["_dlt_id", "_dlt_load_id", "a"],
    }

    import analytics_assets
    from analytics_assets.defs.component import AnalyticsApiComponent

    assert analytics_assets.build_definitions is not None and AnalyticsApiComponent is not None
    defs = make_defs(resource_for(simulator.base_url, duckdb_path))
    assert run_workspace(defs, instance).success
    assert run_partition(defs, instance, busiest(sim_data)).success
    # Our loads did get their row ids on Arrow pages (scoped to our pipelines).
    with duckdb.connect(str(duckdb_path), read_only=True) as conn:
        ours = {r[0] for r in conn.execute("DESCRIBE analytics.job_results").fetchall()}
    assert {"_dlt_id", "_dlt_load_id"} <= ours

    after = _their_tables(tmp_path, "their_after")
    assert after == before
    assert _process_state() == before_state
