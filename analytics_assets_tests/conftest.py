"""Fixtures: the simulator on loopback, a temp DuckDB warehouse, a temp Dagster instance, the
product's definitions on a fake clock. The helpers they use are in support.py."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, Definitions, instance_for_test

from analytics_assets.defs.resources import AnalyticsApiResource
from analytics_assets_tests.fakes import FakeClock
from analytics_assets_tests.support import (
    API_KEY,
    make_defs,
    make_home,
    resource_for,
    subprocess_env,
)
from analytics_dev.simulator import ApiSimulator, SimulatedData


@pytest.fixture
def sim_data(request: pytest.FixtureRequest) -> SimulatedData:
    """Seed 7's data; a module's SIM_WORKFLOWS says how many workflows (5 unless it does)."""
    return SimulatedData(seed=7, workflows=getattr(request.module, "SIM_WORKFLOWS", 5))


@pytest.fixture
def sim_api_key() -> str:
    """The key the simulator accepts (and the tests' resources send)."""
    return API_KEY


@pytest.fixture
def simulator(sim_data: SimulatedData, sim_api_key: str) -> Iterator[ApiSimulator]:
    with ApiSimulator(sim_data, api_key=sim_api_key, page_size=50) as sim:
        yield sim


@pytest.fixture
def data() -> SimulatedData:
    """The simulator tests' data: seed 7's defaults, fresh per test (some tests mutate it)."""
    return SimulatedData(seed=7)


@pytest.fixture
def sim(data: SimulatedData) -> Iterator[ApiSimulator]:
    """The simulator tests' simulator: any key, no limit, the default page size."""
    with ApiSimulator(data) as simulator:
        yield simulator


@pytest.fixture
def duckdb_path(tmp_path: Path) -> Path:
    return tmp_path / "warehouse" / "test_warehouse.duckdb"


@pytest.fixture
def clock() -> FakeClock:
    """The time of `defs`: every backoff, Retry-After and pacing wait is recorded, not waited."""
    return FakeClock()


@pytest.fixture
def api_resource(simulator: ApiSimulator, duckdb_path: Path) -> AnalyticsApiResource:
    """The spec's retry policy unchanged (factor 2, 3 retries): `defs` waits on `clock`."""
    return resource_for(simulator.base_url, duckdb_path)


@pytest.fixture
def defs(api_resource: AnalyticsApiResource, clock: FakeClock) -> Definitions:
    """The product's definitions with the test resource bound, on the fake clock."""
    return make_defs(api_resource, clock=clock)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return make_home(tmp_path)


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as inst:
        yield inst


@pytest.fixture
def cli_env(simulator: ApiSimulator, duckdb_path: Path, home: Path) -> dict[str, str]:
    """Environment of a `dagster` subprocess (it has no fake clock: retry waits are short)."""
    return subprocess_env(
        home,
        ANALYTICS_API_BASE_URL=str(simulator.base_url),
        ANALYTICS_API_KEY=API_KEY,
        ANALYTICS_DUCKDB_PATH=str(duckdb_path),
        ANALYTICS_API_BACKOFF_FACTOR="0.01",
    )
