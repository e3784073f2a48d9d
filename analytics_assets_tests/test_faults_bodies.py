"""Bad bodies through real in-process Dagster runs: the run fails naming the endpoint, nothing
is committed, and a clean re-run loads the simulator's rows exactly."""

from __future__ import annotations

from analytics_assets_tests.support import (
    assert_partition_exact,
    busiest,
    count,
    expected_results,
    job_uids,
    jobs_path,
    load_everything,
    materialized,
    results_per_job,
    run_partition,
    snapshot,
    step_failures,
)
from analytics_dev.simulator import FaultRule

# wf0: 5 jobs, 3 successful (109, 87, 202 rows); wf1: 4 jobs, 2 successful; wf2: no jobs.
SIM_WORKFLOWS = 3


JOBS_STEP_TABLES = {"jobs", "jobs__accounts", "successful_jobs", "successful_jobs__accounts"}


def changed_tables(before: dict, after: dict) -> set[str]:
    return {t for t in set(before) | set(after) if before.get(t) != after.get(t)}


def test_bad_jobs_bodies_fail_the_run_naming_the_endpoint_and_commit_nothing(
    defs, instance, simulator, sim_data, duckdb_path
):
    load_everything(defs, instance)
    uid = busiest(sim_data)
    for kind in ("html", "truncated", "no_list"):
        # A new job with results: a run that committed anything would change three tables.
        sim_data.add_job(uid, status="finished", total_row_count=30)
        before = snapshot(duckdb_path)
        simulator.add_fault(FaultRule(r"/jobs$", kind=kind, times=-1))
        simulator.reset_requests()

        result = run_partition(defs, instance, uid, raise_on_error=False)

        assert not result.success, kind
        (failure,) = step_failures(result)
        assert jobs_path(uid) in failure, kind
        assert materialized(result) == set()
        assert simulator.request_count(jobs_path(uid)) == 1  # a bad body is not retried
        assert simulator.request_count("/v3/jobs/") == 0
        assert snapshot(duckdb_path) == before, kind

        simulator.clear_faults()
        assert run_partition(defs, instance, uid).success, kind
        assert_partition_exact(duckdb_path, sim_data, uid)
        assert count(duckdb_path, "job_results") == sum(
            n for w in sim_data.workflows for n in expected_results(sim_data, w["uid"]).values()
        )


def test_bad_results_paging_fails_the_run_and_commits_no_result_row(
    defs, instance, simulator, sim_data, duckdb_path
):
    load_everything(defs, instance)
    uid = busiest(sim_data)
    for kind in ("bad_paging", "missing_paging"):
        first, last = sorted(
            sim_data.add_job(uid, status="finished", total_row_count=120)["uid"] for _ in range(2)
        )
        before = snapshot(duckdb_path)
        # Jobs are fetched in uid order: `first` is read in full (3 pages) before `last` breaks.
        simulator.add_fault(FaultRule(rf"/{last}/results$", kind=kind, times=-1))
        simulator.reset_requests()

        result = run_partition(defs, instance, uid, raise_on_error=False)

        assert not result.success, kind
        (failure,) = step_failures(result)
        assert f"/v3/jobs/{last}/results" in failure, kind
        assert materialized(result) == {"jobs", "successful_jobs"}
        assert simulator.request_count(f"/v3/jobs/{first}/results") == 3
        assert simulator.request_count(f"/v3/jobs/{last}/results") == 1
        after = snapshot(duckdb_path)
        # The jobs step loaded the two new jobs; not one result row (not even first's) landed.
        assert changed_tables(before, after) == JOBS_STEP_TABLES | {"_dlt_loads"}, kind
        assert after["job_results"] == before["job_results"]
        assert after["_dlt_loads"] == [(before["_dlt_loads"][0][0] + 1,)]
        assert job_uids(duckdb_path, "successful_jobs", uid) == {
            j["uid"] for j in sim_data.successful_jobs(uid)
        }
        assert set(results_per_job(duckdb_path, uid)) == set(expected_results(sim_data, uid)) - {
            first,
            last,
        }

        simulator.clear_faults()
        simulator.reset_requests()
        assert run_partition(defs, instance, uid).success, kind
        assert simulator.request_count("/v3/jobs/") == 6  # only the two new jobs, 3 pages each
        assert_partition_exact(duckdb_path, sim_data, uid)
        assert results_per_job(duckdb_path, uid)[first] == 120
        assert results_per_job(duckdb_path, uid)[last] == 120
