"""The README's CLI recipes as subprocesses, and concurrent partition runs on one warehouse."""

import time

import pytest
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    RunsFilter,
    SensorResult,
    build_sensor_context,
)

from analytics_assets_tests.fakes import FakeClock
from analytics_assets_tests.support import (
    API_KEY,
    PARTITION_SELECTION,
    assert_full_load,
    assert_partition_loaded,
    check_evaluations,
    count,
    fetch,
    make_defs,
    materialize,
    succeed,
)
from analytics_dev.simulator import SimulatedData

pytestmark = pytest.mark.subprocess


def _check_evaluations(env) -> list[bool]:
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        return check_evaluations(instance)


def test_readme_cli_recipe_loads_workspace_then_a_partition(cli_env, sim_data, duckdb_path):
    succeed(materialize(cli_env, "workspace,workflows"))
    with DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        partitions = instance.get_dynamic_partitions("workflow_uids")
    assert sorted(partitions) == sorted(w["uid"] for w in sim_data.workflows)
    uid = next(w["uid"] for w in sim_data.workflows if sim_data.successful_jobs(w["uid"]))
    succeed(materialize(cli_env, PARTITION_SELECTION, uid))
    assert_partition_loaded(duckdb_path, sim_data, uid)
    assert _check_evaluations(cli_env) == [True]
    assert API_KEY.encode() not in duckdb_path.read_bytes()


def test_readme_cli_recipe_for_every_partition_is_one_run(cli_env, sim_data, duckdb_path):
    succeed(materialize(cli_env, "workspace,workflows"))
    with DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        uids = instance.get_dynamic_partitions("workflow_uids")
    everything = f"{uids[0]}...{uids[-1]}"
    succeed(materialize(cli_env, PARTITION_SELECTION, partition_range=everything))
    assert_full_load(duckdb_path, sim_data)
    assert _check_evaluations(cli_env) == [True] * len(uids)  # one per partition of the range
    with DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        assert len(instance.get_runs()) == 2


def test_concurrent_partition_runs_all_succeed_without_losing_rows(cli_env, sim_data, duckdb_path):
    succeed(materialize(cli_env, "workspace,workflows"))
    uids = [w["uid"] for w in sim_data.workflows]
    procs = [materialize(cli_env, PARTITION_SELECTION, uid) for uid in uids]
    for proc in procs:
        succeed(proc)
    assert_full_load(duckdb_path, sim_data)
    assert _check_evaluations(cli_env) == [True] * len(uids)
    with DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        statuses = {run.status for run in instance.get_runs()}
    assert statuses == {DagsterRunStatus.SUCCESS}


@pytest.mark.parametrize("sim_data", [SimulatedData(seed=11, workflows=9)])
def test_backfill_of_nine_partitions_with_a_sensor_tick_in_between(
    cli_env, sim_data, simulator, api_resource, duckdb_path
):
    succeed(materialize(cli_env, "workspace,workflows"))
    uids = [w["uid"] for w in sim_data.workflows]
    assert len(uids) >= 8
    procs = [materialize(cli_env, PARTITION_SELECTION, uid) for uid in uids]
    with DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        deadline = time.monotonic() + 120
        while not _in_flight(instance) and time.monotonic() < deadline:
            time.sleep(0.05)  # polls the instance for the first run to start
        busy_before = _in_flight(instance)
        context = build_sensor_context(instance=instance, resources={"analytics_api": api_resource})
        sensor = make_defs(api_resource, clock=FakeClock()).resolve_sensor_def(
            "workflow_refresh_sensor"
        )
        tick = sensor(context)
        assert isinstance(tick, SensorResult)
        busy_after = _in_flight(instance)
    assert busy_before, "no run was in flight when the sensor ticked"
    requested = {r.partition_key for r in tick.run_requests or [] if r.partition_key}
    # A partition whose run was in flight for the whole tick gets no second run.
    assert not requested & (busy_before & busy_after)
    for proc in procs:
        succeed(proc)
    assert_full_load(duckdb_path, sim_data)
    assert fetch(
        duckdb_path, "SELECT count(DISTINCT job_result_id) FROM analytics.job_results"
    ) == [(count(duckdb_path, "job_results"),)]


def _in_flight(instance: DagsterInstance) -> set[str]:
    statuses = [DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.QUEUED]
    return {
        run.tags["dagster/partition"]
        for run in instance.get_runs(filters=RunsFilter(statuses=statuses))
        if "dagster/partition" in run.tags
    }
