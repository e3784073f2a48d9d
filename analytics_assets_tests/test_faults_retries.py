"""Retries and 429s inside in-process runs, on the definitions' fake clock: the spec's waits
are recorded (2, 4, 8 s; Retry-After), never waited, and a re-run loads exact rows."""

from __future__ import annotations

from analytics_assets_tests.support import (
    assert_partition_exact,
    busiest,
    count,
    expected_results,
    jobs_path,
    run_partition,
    run_workspace,
    snapshot,
    step_failures,
)
from analytics_dev.simulator import FaultRule

# wf0: 5 jobs, 3 successful (109, 87, 202 rows); wf1: 4 jobs, 2 successful; wf2: no jobs.
SIM_WORKFLOWS = 3


def test_exhausted_503_retries_fail_after_exactly_four_requests_then_rerun_loads_exact_rows(
    defs, clock, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uid = busiest(sim_data)
    before = snapshot(duckdb_path)
    simulator.add_fault(FaultRule(r"/jobs$", status=503, times=-1))
    simulator.reset_requests()

    result = run_partition(defs, instance, uid, raise_on_error=False)

    assert not result.success
    (failure,) = step_failures(result)
    assert jobs_path(uid) in failure
    assert "503" in failure
    assert simulator.request_count(jobs_path(uid)) == 4
    assert simulator.request_count("/v3/jobs/") == 0
    assert clock.sleeps == [2.0, 4.0, 8.0]  # the spec's 3 retries, backoff factor 2
    assert snapshot(duckdb_path) == before

    simulator.clear_faults()
    simulator.reset_requests()
    assert run_partition(defs, instance, uid).success
    assert simulator.request_count(jobs_path(uid)) == 1
    assert count(duckdb_path, "jobs") == len(sim_data.jobs[uid])
    assert count(duckdb_path, "successful_jobs") == len(sim_data.successful_jobs(uid))
    assert count(duckdb_path, "job_results") == sum(expected_results(sim_data, uid).values())
    assert_partition_exact(duckdb_path, sim_data, uid)


def test_429_with_retry_after_is_waited_out_inside_a_run_and_loads_exact_rows(
    defs, clock, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uid = busiest(sim_data)
    simulator.add_fault(FaultRule(r"/jobs$", status=429, retry_after=1, times=2))
    simulator.reset_requests()

    result = run_partition(defs, instance, uid)

    assert result.success
    attempts = [r for r in simulator.requests if r.path == jobs_path(uid)]
    assert [r.status for r in attempts] == [429, 429, 200]
    # Retry-After's 1 s each time, not the backoff's 2 s: the waits come from the header.
    assert clock.sleeps == [1.0, 1.0]
    # 429s are flow control: counted apart from the retries of 5xx and connection errors.
    counts = {
        e.asset_key.to_user_string(): (
            e.materialization.metadata["api_retries"].value,
            e.materialization.metadata["api_rate_limited"].value,
        )
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() in ("jobs", "successful_jobs")
    }
    assert counts == {"jobs": (0, 2), "successful_jobs": (0, 2)}
    assert_partition_exact(duckdb_path, sim_data, uid)
    assert count(duckdb_path, "job_results") == sum(expected_results(sim_data, uid).values())
