"""Shared fixtures: the simulator on loopback, a temp DuckDB warehouse, a temp Dagster instance."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, Definitions, instance_for_test
from dagster_dlt import DagsterDltResource

from analytics_assets.api.jobs import is_successful
from analytics_assets.definitions import defs as product_defs
from analytics_assets.defs.partitions import range_tags
from analytics_assets.defs.resources import AnalyticsApiResource
from analytics_dev.simulator import ApiSimulator, SimulatedData

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "sk-test-7f3a9c1e-SECRET-do-not-log"


@pytest.fixture
def sim_data() -> SimulatedData:
    return SimulatedData(seed=7, workflows=5)


@pytest.fixture
def simulator(sim_data: SimulatedData) -> Iterator[ApiSimulator]:
    with ApiSimulator(sim_data, api_key=API_KEY, page_size=50) as sim:
        yield sim


@pytest.fixture
def duckdb_path(tmp_path: Path) -> Path:
    return tmp_path / "warehouse" / "test_warehouse.duckdb"


@pytest.fixture
def api_resource(simulator: ApiSimulator, duckdb_path: Path) -> AnalyticsApiResource:
    # Tiny backoff so retry tests are fast; the policy's shape is unchanged.
    return AnalyticsApiResource(
        base_url=simulator.base_url,
        api_key=API_KEY,
        destination="duckdb",  # these tests read the DuckDB file, whatever the shell exports
        duckdb_path=str(duckdb_path),
        backoff_factor=0.01,
        max_retry_delay=0.05,
        request_timeout=5,
    )


@pytest.fixture
def cli_env(simulator, duckdb_path, tmp_path) -> dict[str, str]:
    """Environment of a `dagster` subprocess: the shipped instance config in a temp
    DAGSTER_HOME, the simulator, a temp warehouse, and no ANALYTICS_* of the caller's."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    env.update(
        DAGSTER_HOME=str(home),
        ANALYTICS_API_BASE_URL=simulator.base_url,
        ANALYTICS_API_KEY=API_KEY,
        ANALYTICS_DUCKDB_PATH=str(duckdb_path),
        ANALYTICS_API_BACKOFF_FACTOR="0.01",
    )
    return env


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as inst:
        yield inst


@pytest.fixture
def defs(api_resource: AnalyticsApiResource) -> Definitions:
    """The product's definitions with the test resource bound."""
    return make_defs(api_resource)


def make_defs(resource: AnalyticsApiResource) -> Definitions:
    """The product's definitions with `resource` as the API settings."""
    return Definitions(
        assets=list(product_defs.assets or []),
        asset_checks=list(product_defs.asset_checks or []),
        jobs=list(product_defs.jobs or []),
        sensors=list(product_defs.sensors or []),
        resources={"dlt": DagsterDltResource(), "analytics_api": resource},
    )


def run_workspace(defs: Definitions, instance: DagsterInstance):
    return defs.resolve_job_def("workspace_job").execute_in_process(instance=instance)


def run_partition(defs: Definitions, instance: DagsterInstance, uid: str, **kwargs):
    return defs.resolve_job_def("workflow_partition_job").execute_in_process(
        instance=instance, partition_key=uid, **kwargs
    )


def run_partition_range(defs: Definitions, instance: DagsterInstance, first: str, last: str, **kw):
    """Several partitions in one run, as a single-run backfill launches them."""
    return defs.resolve_job_def("workflow_partition_job").execute_in_process(
        instance=instance,
        tags=range_tags(first, last),
        **kw,
    )


def load_everything(defs: Definitions, instance: DagsterInstance) -> list[str]:
    """The demo's full load: workspace assets, then every registered partition in one run."""
    assert run_workspace(defs, instance).success
    uids = list(instance.get_dynamic_partitions("workflow_uids"))
    assert run_partition_range(defs, instance, uids[0], uids[-1]).success
    return uids


def fetch(duckdb_path: Path, sql: str, *params) -> list[tuple]:
    """Read the warehouse after the runs ended (DuckDB allows one process at a time)."""
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def assert_full_load(duckdb_path: Path, sim_data: SimulatedData) -> None:
    """Every job, every successful job and every result row of the simulator, exactly once."""
    jobs = sim_data.all_jobs()
    successful = [j for j in jobs if is_successful(j)]
    assert count(duckdb_path, "jobs") == len(jobs)
    assert count(duckdb_path, "successful_jobs") == len(successful)
    assert count(duckdb_path, "job_results") == sum(
        len(sim_data.results[j["uid"]]) for j in successful
    )


def count(duckdb_path: Path, table: str, where: str = "", *params) -> int:
    sql = f"SELECT count(*) FROM analytics.{table}" + (f" WHERE {where}" if where else "")
    return fetch(duckdb_path, sql, *params)[0][0]
