"""Crash and re-run: a partition run is SIGKILLed (CLI subprocess), then run again.

The re-run must succeed and leave the warehouse equal to a clean run into a fresh warehouse.
A SIGKILLed process releases its file lock, and dagster-dlt drops the dlt working folder before
each run, but the killed Dagster run stays STARTED and keeps its `analytics_warehouse` pool
slot: `declare_dead_runs_failed` is the operator's recovery (what `dagster run delete` or the
UI's "free slots" does); `test_rerun_after_a_sigkill_is_not_blocked_by_the_dead_runs_pool_slot`
shows what happens without it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, DagsterRunStatus

from analytics_assets.warehouse.pipelines import pipeline_name
from analytics_assets_tests.fakes import FakeClock
from analytics_assets_tests.support import (
    API_KEY,
    DAGSTER,
    PARTITION_SELECTION,
    ROOT,
    count,
    make_defs,
    make_home,
    resource_for,
    run_partition,
    snapshot,
    subprocess_env,
)
from analytics_dev.simulator import FaultRule

pytestmark = pytest.mark.subprocess

PARTITIONS = "workflow_uids"
# Differ between any two runs by design: dlt's row ids and load ids, and the extraction time.
VOLATILE = ("_dlt_load_id", "_dlt_id", "_dlt_parent_id", "_dlt_root_id", "extracted_at")


# wf0: 3 successful jobs (109, 87, 202 rows: 10 pages of 50); wf2: no jobs.
SIM_WORKFLOWS = 3


class Cli:
    """`dagster asset materialize` of one partition, in its own process group."""

    def __init__(self, tmp_path: Path, simulator, duckdb_path: Path, uids: list[str]) -> None:
        self.home = make_home(tmp_path)
        self.logs = tmp_path / "cli_logs"
        self.logs.mkdir()
        self.env = subprocess_env(
            self.home,
            ANALYTICS_API_BASE_URL=simulator.base_url,
            ANALYTICS_API_KEY=API_KEY,
            ANALYTICS_DUCKDB_PATH=str(duckdb_path),
            ANALYTICS_API_BACKOFF_FACTOR="0.01",
        )
        # What materializing `workflows` does; the partitions are all these tests need from it.
        with DagsterInstance.from_config(str(self.home)) as instance:
            instance.add_dynamic_partitions(PARTITIONS, uids)
        self.runs = 0

    def start(self, uid: str) -> tuple[subprocess.Popen, Path]:
        self.runs += 1
        log = self.logs / f"run{self.runs}.log"
        cmd = [DAGSTER, "asset", "materialize", "-m", "analytics_assets.definitions"]
        cmd += ["--select", PARTITION_SELECTION, "--partition", uid]
        with log.open("w") as out:  # a file, not a pipe: nobody reads while we poll
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so killpg takes it all
            )
        return proc, log

    def run(self, uid: str, timeout: float = 240) -> tuple[int, str]:
        proc, log = self.start(uid)
        try:
            proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                kill(proc)
        return proc.returncode, log.read_text()

    def run_statuses(self) -> list[DagsterRunStatus]:
        with DagsterInstance.from_config(str(self.home)) as instance:
            return [run.status for run in reversed(instance.get_runs())]

    def declare_dead_runs_failed(self) -> int:
        """The operator's recovery after a crash: mark dead runs failed and free their slots."""
        with DagsterInstance.from_config(str(self.home)) as instance:
            dead = instance.get_runs()
            dead = [run for run in dead if run.status == DagsterRunStatus.STARTED]
            for run in dead:
                instance.report_run_failed(run)
                instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            return len(dead)


def kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, timeout: float, poll=0.02):
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, "the run ended before the moment to kill it"
        assert time.monotonic() < deadline, "timed out waiting for the moment to kill the run"
        time.sleep(poll)


@pytest.fixture
def cli(tmp_path, simulator, sim_data, duckdb_path) -> Cli:
    return Cli(tmp_path, simulator, duckdb_path, [w["uid"] for w in sim_data.workflows])


def reference_warehouse(simulator, sim_data, instance, tmp_path: Path, uid: str) -> Path:
    """A clean, uninterrupted run of the partition into a fresh warehouse (same API data)."""
    path = tmp_path / "reference" / "reference.duckdb"
    defs = make_defs(resource_for(simulator.base_url, path), clock=FakeClock())
    instance.add_dynamic_partitions(PARTITIONS, [w["uid"] for w in sim_data.workflows])
    assert run_partition(defs, instance, uid).success
    return path


def tables(path: Path) -> dict[str, list[tuple]]:
    """Every data table's ordered rows, without the columns that differ between runs."""
    return {t: rows for t, rows in snapshot(path, VOLATILE).items() if t != "_dlt_loads"}


def assert_equals_clean_run(duckdb_path: Path, reference: Path, sim_data, uid: str) -> None:
    got, want = tables(duckdb_path), tables(reference)
    assert set(got) == set(want)
    assert {"jobs", "successful_jobs", "job_results"} <= set(got)
    for name in want:
        assert got[name] == want[name], name
    expected = sum(len(sim_data.results[j["uid"]]) for j in sim_data.successful_jobs(uid))
    assert count(duckdb_path, "job_results") == expected
    ids = "SELECT count(DISTINCT job_result_id) FROM analytics.job_results"
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        assert con.execute(ids).fetchone() == (expected,)


def table_count(path: Path, table: str) -> int:
    """Rows of a table, 0 while it does not exist."""
    with duckdb.connect(str(path), read_only=True) as con:
        exists = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'analytics' "
            "AND table_name = ? AND database_name = current_database()",
            [table],
        ).fetchone()
        assert exists is not None  # count(*) returns one row
        if not exists[0]:
            return 0
        row = con.execute(f"SELECT count(*) FROM analytics.{table}").fetchone()
        assert row is not None
        return row[0]


def results_requests(simulator, since: float) -> int:
    """Results requests the simulator received after `since` (time.monotonic())."""
    requests = simulator.requests
    return sum(1 for r in requests if r.path.startswith("/v3/jobs/") and r.started > since)


def _kill_during_result_extraction(cli: Cli, simulator, uid: str) -> None:
    simulator.add_fault(FaultRule(r"/results$", kind="slow", delay=2, times=-1))
    proc, _ = cli.start(uid)
    wait_for(lambda: simulator.request_count("/v3/jobs/") >= 1, proc, timeout=120)
    kill(proc)
    assert proc.returncode == -signal.SIGKILL
    simulator.clear_faults()


# ----------------------------------------------------------------------------- tests
def test_sigkill_during_result_extraction_then_rerun_equals_a_clean_run(
    cli, simulator, sim_data, duckdb_path, instance, tmp_path
):
    uid = sim_data.workflows[0]["uid"]
    _kill_during_result_extraction(cli, simulator, uid)
    # The jobs step had committed; of the results, whose extraction was cut, nothing landed.
    assert table_count(duckdb_path, "jobs") == len(sim_data.jobs[uid])
    assert table_count(duckdb_path, "job_results") == 0
    assert cli.declare_dead_runs_failed() == 1
    since = time.monotonic()  # the killed run's last slow request may still be logged later

    code, output = cli.run(uid)

    assert code == 0, output[-3000:]
    assert results_requests(simulator, since) == 10  # every page of the 3 jobs, once
    assert cli.run_statuses() == [DagsterRunStatus.FAILURE, DagsterRunStatus.SUCCESS]
    reference = reference_warehouse(simulator, sim_data, instance, tmp_path, uid)
    assert_equals_clean_run(duckdb_path, reference, sim_data, uid)


@pytest.mark.parametrize(
    ("phase", "started_job"),
    [("copy_into_staging", "job_results.*.parquet"), ("merge", "job_results.*.sql")],
)
def test_sigkill_in_the_results_load_phase_then_rerun_equals_a_clean_run(
    phase, started_job, cli, simulator, sim_data, duckdb_path, instance, tmp_path
):
    """Killed while dlt's loader runs a job of the results' package against DuckDB.

    `copy_into_staging`: the parquet file's job is started (rows going into the staging
    table); `merge`: the copy is done and the merge SQL job is started. The poll looks for
    the job file in the package's `started_jobs` folder; a load that ended before the poll
    saw it fails `wait_for` (the run ends first), it never passes silently.
    """
    uid = sim_data.workflows[-1]["uid"]
    big = sim_data.add_job(uid, status="finished", total_row_count=20_000)
    simulator.page_size = 1000
    work = duckdb_path.parent / "dlt_pipelines" / pipeline_name(uid)

    def loading() -> bool:
        try:
            return any(work.glob(f"load/normalized/*/started_jobs/{started_job}"))
        except FileNotFoundError:  # dlt created or moved a folder while the glob walked it
            return False

    proc, _ = cli.start(uid)
    wait_for(loading, proc, timeout=180, poll=0.002)
    kill(proc)
    assert proc.returncode == -signal.SIGKILL
    assert simulator.request_count("/v3/jobs/") == 20  # every page was read before the load
    # A merge is one transaction: all of the job's rows or none of them, never a part.
    assert table_count(duckdb_path, "job_results") in (0, 20_000)
    assert cli.declare_dead_runs_failed() == 1

    code, output = cli.run(uid)

    assert code == 0, output[-3000:]
    reference = reference_warehouse(simulator, sim_data, instance, tmp_path, uid)
    assert_equals_clean_run(duckdb_path, reference, sim_data, uid)
    assert count(duckdb_path, "job_results", "job_uid = ?", big["uid"]) == 20_000


def test_run_failed_on_exhausted_retries_then_rerun_equals_a_clean_run(
    cli, simulator, sim_data, duckdb_path, instance, tmp_path
):
    uid = sim_data.workflows[0]["uid"]
    # The longest job starts first (ties in the warehouse's uid order).
    jobs = sorted(sim_data.successful_jobs(uid), key=lambda j: j["uid"])
    first = max(jobs, key=lambda j: j["total_row_count"])["uid"]
    simulator.add_fault(FaultRule(r"/results$", status=503, times=-1))

    code, output = cli.run(uid)

    assert code != 0
    assert f"/v3/jobs/{first}/results" in output and "503" in output
    assert simulator.request_count("/v3/jobs/") == 4  # the first job's first page, 4 attempts
    assert table_count(duckdb_path, "job_results") == 0
    assert cli.run_statuses() == [DagsterRunStatus.FAILURE]
    simulator.clear_faults()
    simulator.reset_requests()

    code, output = cli.run(uid)  # no recovery step needed: the failed run freed its slot

    assert code == 0, output[-3000:]
    assert simulator.request_count("/v3/jobs/") == 10
    reference = reference_warehouse(simulator, sim_data, instance, tmp_path, uid)
    assert_equals_clean_run(duckdb_path, reference, sim_data, uid)


class BlockedByDeadRun(AssertionError):
    """The re-run waited on the pool slot that the SIGKILLed run still holds."""


def test_rerun_after_a_sigkill_is_not_blocked_by_the_dead_runs_pool_slot(
    cli, simulator, sim_data, duckdb_path
):
    uid = sim_data.workflows[0]["uid"]
    _kill_during_result_extraction(cli, simulator, uid)

    proc, log = cli.start(uid)  # no operator recovery this time
    blocked_since = None
    deadline = time.monotonic() + 180
    while proc.poll() is None and time.monotonic() < deadline:
        if blocked_since is None and "blocked by limit for pool" in log.read_text():
            blocked_since = time.monotonic()
        if blocked_since is not None and time.monotonic() - blocked_since > 15:
            break  # a free slot is claimed within a second or two; this one never frees
        time.sleep(0.05)  # polls the run's log and its exit
    if proc.poll() is None:
        kill(proc)
        raise BlockedByDeadRun(log.read_text()[-1500:])
    assert proc.returncode == 0
    assert table_count(duckdb_path, "job_results") == sum(
        len(sim_data.results[j["uid"]]) for j in sim_data.successful_jobs(uid)
    )
