"""Fixtures of the secret-leak tests: no caller's settings, the working directory in tmp_path,
the simulator keyed with KEY, an instance whose storage lives under the searched folder."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, instance_for_test

from analytics_assets_tests.secret_leaks.search import KEY, CliRun, cli_environment, cli_materialize
from analytics_dev.postgres import REQUIRE_ENV, postgres_server
from analytics_dev.simulator import ApiSimulator, SimulatedData

__all__ = ["postgres_server"]  # the fixture, imported so pytest finds it


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path) -> None:
    """None of the caller's settings or credentials; the working directory in tmp_path, so a
    file written relative to it is searched (and nothing lands in the checkout)."""
    for name in list(os.environ):
        if name == REQUIRE_ENV:  # CI's "fail, don't skip" for the Postgres tests stays
            continue
        if name.startswith(("ANALYTICS_", "DESTINATION__")) or name in ("API_KEY", "SECRETS"):
            monkeypatch.delenv(name)
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)


@pytest.fixture
def sim_data() -> SimulatedData:
    return SimulatedData(seed=7, workflows=2)


@pytest.fixture
def sim_api_key() -> str:
    """The simulator accepts KEY, whose marker every search looks for too."""
    return KEY


@pytest.fixture
def instance(home: Path) -> Iterator[DagsterInstance]:
    with instance_for_test(temp_dir=str(home)) as inst:
        yield inst


@pytest.fixture
def warehouse_dir(tmp_path: Path) -> Path:
    """The DuckDB file's folder (dlt's working folders default to beside it)."""
    return tmp_path / "warehouse"


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.fixture
def cli(simulator: ApiSimulator, home: Path, warehouse_dir: Path, tmp_path: Path):
    """`cli(key, **settings)`: `dagster asset materialize` of the workspace assets in a
    subprocess, against the simulator, with `key` as ANALYTICS_API_KEY."""

    def run(key: str, **settings: str) -> CliRun:
        env = cli_environment(
            home,
            warehouse_dir,
            ANALYTICS_API_BASE_URL=str(simulator.base_url),
            ANALYTICS_API_KEY=key,
            **settings,
        )
        return cli_materialize(env, tmp_path / "workdir")

    return run
