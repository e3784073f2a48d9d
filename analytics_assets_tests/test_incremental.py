"""Re-runs fetch and merge only what is new: finished jobs' results never change, and jobs
the warehouse holds unchanged are not merged again."""

import duckdb

from analytics_assets_tests.support import count, fetch, run_partition, run_workspace

FULL_REFRESH = {"ops": {"analytics_job_results_assets": {"config": {"full_refresh": True}}}}
JOBS_FULL_REFRESH = {"ops": {"analytics_workflow_jobs_assets": {"config": {"full_refresh": True}}}}


def _pages(sim, sim_data, jobs) -> int:
    return sum(-(-len(sim_data.results[j["uid"]]) // sim.page_size) for j in jobs)


def _busiest(sim_data) -> str:
    return max(
        (w["uid"] for w in sim_data.workflows),
        key=lambda uid: len(sim_data.successful_jobs(uid)),
    )


def test_rerun_without_new_jobs_fetches_no_result_pages(
    defs, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uid = _busiest(sim_data)
    assert run_partition(defs, instance, uid).success
    rows = count(duckdb_path, "job_results")
    simulator.reset_requests()
    assert run_partition(defs, instance, uid).success
    assert simulator.request_count("/v3/jobs/") == 0
    assert simulator.request_count("/v3/workflows/") == 1
    assert count(duckdb_path, "job_results") == rows


def test_new_and_newly_successful_jobs_are_fetched(
    defs, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uid = _busiest(sim_data)
    assert run_partition(defs, instance, uid).success
    new = sim_data.add_job(uid, status="finished", total_row_count=120)
    pending = sim_data.add_job(uid, status="pending", total_row_count=None)
    assert run_partition(defs, instance, uid).success
    simulator.reset_requests()
    promoted = sim_data.update_job(pending["uid"], status="finished", total_row_count=7)
    assert run_partition(defs, instance, uid).success
    assert simulator.request_count("/v3/jobs/") == 1  # only the promoted job's single page
    expected = sum(len(sim_data.results[j["uid"]]) for j in sim_data.successful_jobs(uid))
    assert count(duckdb_path, "job_results") == expected
    for job in (new, promoted):
        assert count(duckdb_path, "job_results", "job_uid = ?", job["uid"]) == len(
            sim_data.results[job["uid"]]
        )


def test_full_refresh_fetches_every_result_page_again(
    defs, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uid = _busiest(sim_data)
    assert run_partition(defs, instance, uid).success
    rows = count(duckdb_path, "job_results")
    simulator.reset_requests()
    assert run_partition(defs, instance, uid, run_config=FULL_REFRESH).success
    assert simulator.request_count("/v3/jobs/") == _pages(
        simulator, sim_data, sim_data.successful_jobs(uid)
    )
    assert count(duckdb_path, "job_results") == rows


def _load_ids(duckdb_path, table: str, uid: str) -> dict[str, str]:
    sql = f"SELECT uid, _dlt_load_id FROM analytics.{table} WHERE workflow_uid = ?"
    return dict(fetch(duckdb_path, sql, uid))


def test_a_rerun_merges_only_the_jobs_that_changed(
    defs, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uid = _busiest(sim_data)
    pending = sim_data.add_job(uid, status="pending", total_row_count=None)
    assert run_partition(defs, instance, uid).success
    jobs, successful = (
        _load_ids(duckdb_path, "jobs", uid),
        _load_ids(duckdb_path, "successful_jobs", uid),
    )
    assert len(jobs) == len(sim_data.jobs[uid])
    assert len(successful) == len(sim_data.successful_jobs(uid))

    assert run_partition(defs, instance, uid).success  # nothing changed upstream
    assert _load_ids(duckdb_path, "jobs", uid) == jobs
    assert _load_ids(duckdb_path, "successful_jobs", uid) == successful

    sim_data.update_job(pending["uid"], status="finished", total_row_count=7)
    simulator.reset_requests()
    assert run_partition(defs, instance, uid).success
    after = _load_ids(duckdb_path, "jobs", uid)
    assert {j for j in after if after[j] != jobs[j]} == {pending["uid"]}
    after_successful = _load_ids(duckdb_path, "successful_jobs", uid)
    assert set(after_successful) == set(successful) | {pending["uid"]}
    assert {j for j in successful if after_successful[j] != successful[j]} == set()
    sql = "SELECT status, total_row_count FROM analytics.jobs WHERE uid = ?"
    assert fetch(duckdb_path, sql, pending["uid"]) == [("finished", 7)]
    assert simulator.request_count("/v3/workflows/") == 1
    assert simulator.request_count("/v3/jobs/") == 1  # the newly successful job's one page


def test_a_job_row_edited_in_the_warehouse_is_restored_by_the_next_run(
    defs, instance, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uid = _busiest(sim_data)
    assert run_partition(defs, instance, uid).success
    job = sim_data.successful_jobs(uid)[0]
    with duckdb.connect(str(duckdb_path)) as con:
        con.execute(
            "UPDATE analytics.successful_jobs SET status = 'stopped' WHERE uid = ?", [job["uid"]]
        )
    assert run_partition(defs, instance, uid).success
    sql = "SELECT status FROM analytics.successful_jobs WHERE uid = ?"
    assert fetch(duckdb_path, sql, job["uid"]) == [("finished",)]


def test_full_refresh_of_jobs_merges_every_listed_job_again(defs, instance, sim_data, duckdb_path):
    assert run_workspace(defs, instance).success
    uid = _busiest(sim_data)
    assert run_partition(defs, instance, uid).success
    jobs = _load_ids(duckdb_path, "jobs", uid)
    assert run_partition(defs, instance, uid, run_config=JOBS_FULL_REFRESH).success
    after = _load_ids(duckdb_path, "jobs", uid)
    assert set(after) == set(jobs)
    assert all(after[j] != jobs[j] for j in jobs)
    assert count(duckdb_path, "jobs", "workflow_uid = ?", uid) == len(sim_data.jobs[uid])
