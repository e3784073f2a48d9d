"""A reader in another process (a notebook, the duckdb CLI, a BI tool) holding the DuckDB file:
a load waits for it, naming the holder, and fails clearly past the bound, losing nothing."""

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterEventType, build_sensor_context

from analytics_assets.settings import resolve_settings
from analytics_assets.warehouse.lock import WarehouseLockedError, hold_file
from analytics_assets_tests.support import (
    count,
    make_defs,
    resource_for,
    run_partition_range,
    run_workspace,
    step_failures,
)

# A second process holds the DuckDB file in every test.
pytestmark = pytest.mark.subprocess

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


@contextmanager
def reader_holding(path: Path, seconds: float) -> Iterator[subprocess.Popen]:
    """Another process with a read-only connection open on `path` for `seconds`."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _user_messages(instance, run_id: str) -> list[str]:
    return [
        record.user_message
        for record in instance.all_logs(run_id)
        if record.dagster_event is None
        or record.dagster_event_type == DagsterEventType.STEP_FAILURE
    ]


def _sensor_requested_range(defs, instance, api_resource) -> tuple[str, str]:
    """Tick the sensor as the daemon does and return the range its first run request loads."""
    context = build_sensor_context(instance=instance, resources={"analytics_api": api_resource})
    result = defs.resolve_sensor_def("workflow_refresh_sensor")(context)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    (request,) = [r for r in result.run_requests if r.job_name == "workflow_partition_job"]
    tags = request.tags
    return tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]


def test_a_sensor_requested_load_waits_for_a_reader_and_names_it(
    defs, instance, api_resource, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success  # the file exists for the reader to open
    first, last = _sensor_requested_range(defs, instance, api_resource)

    with reader_holding(duckdb_path, seconds=3) as reader:
        result = run_partition_range(defs, instance, first, last)

    assert result.success
    assert count(duckdb_path, "jobs") == len(sim_data.all_jobs())
    waits = [m for m in _user_messages(instance, result.run_id) if "held by another process" in m]
    assert waits and all(f"PID {reader.pid}" in m for m in waits)


def test_past_the_bound_the_load_fails_clearly_and_keeps_what_was_loaded(
    instance, simulator, sim_data, duckdb_path
):
    defs = make_defs(resource_for(simulator.base_url, duckdb_path, duckdb_lock_timeout_seconds=1.0))
    assert run_workspace(defs, instance).success
    uids = list(instance.get_dynamic_partitions("workflow_uids"))

    with reader_holding(duckdb_path, seconds=60) as reader:
        result = run_partition_range(defs, instance, uids[0], uids[-1], raise_on_error=False)

    assert not result.success
    (failure,) = step_failures(result)
    assert f"PID {reader.pid}" in failure
    assert "ANALYTICS_DUCKDB_LOCK_TIMEOUT_SECONDS" in failure
    assert count(duckdb_path, "workflows") == len(sim_data.workflows)
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        tables = {r[0] for r in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "jobs" not in tables  # the failed run wrote nothing


class StepClock:
    """Time that passes only when the lock waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warning(self, message: str) -> None:
        self.lines.append(message)


def test_the_wait_logs_the_holder_every_five_seconds_until_the_bound(duckdb_path, monkeypatch):
    duckdb_path.parent.mkdir(parents=True)
    duckdb.connect(str(duckdb_path)).close()
    monkeypatch.setenv("ANALYTICS_API_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ANALYTICS_API_KEY", "k")
    monkeypatch.setenv("ANALYTICS_DUCKDB_PATH", str(duckdb_path))
    monkeypatch.setenv("ANALYTICS_DUCKDB_LOCK_TIMEOUT_SECONDS", "12")
    clock, log = StepClock(), Log()

    with reader_holding(duckdb_path, seconds=60) as reader:
        with pytest.raises(WarehouseLockedError, match=f"PID {reader.pid}"):
            hold_file(resolve_settings(), log, clock=clock.monotonic, sleep=clock.sleep)

    assert len(log.lines) == 3  # at 0, 5 and 10 s of the 12
    assert all(f"PID {reader.pid}" in line for line in log.lines)
    assert 12.0 <= clock.now <= 12.2 + 1e-9  # gave up at the bound, within one retry
    assert set(clock.sleeps) == {0.2}
