"""Results of finished jobs never change: re-runs fetch only what is new."""

from analytics_assets_tests.conftest import count, run_partition, run_workspace

FULL_REFRESH = {"ops": {"analytics_job_results_assets": {"config": {"full_refresh": True}}}}


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
