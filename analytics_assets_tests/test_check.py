"""The blocking check on successful_jobs, against rows seeded into a real warehouse.

Seeded rows use uids the API does not list, so the merge of the next run keeps them (as it
keeps jobs that aged out of the API's two-month window) and the run's check must see them.
"""

from dagster import AssetKey

from analytics_assets_tests.support import (
    evaluations,
    fetch,
    load_everything,
    run_partition,
    seed_job,
)


def _partition_with_successful_jobs(sim_data) -> str:
    return next(w["uid"] for w in sim_data.workflows if sim_data.successful_jobs(w["uid"]))


def _run_and_evaluate(defs, instance, uid):
    result = run_partition(defs, instance, uid, raise_on_error=False)
    (evaluation,) = evaluations(result)
    return result, evaluation


def test_check_passes_on_a_clean_load_and_reports_zero_offenders(
    defs, instance, simulator, sim_data
):
    load_everything(defs, instance)
    result, evaluation = _run_and_evaluate(
        defs, instance, _partition_with_successful_jobs(sim_data)
    )
    assert result.success and evaluation.passed
    assert evaluation.metadata["violating_count"].value == 0
    assert evaluation.metadata["missing_count"].value == 0


def test_check_fails_naming_rows_that_violate_the_filter(
    defs, instance, simulator, sim_data, duckdb_path
):
    load_everything(defs, instance)
    uid = _partition_with_successful_jobs(sim_data)
    seed_job(duckdb_path, "successful_jobs", "bad-warning", uid, "warning", 3)
    seed_job(duckdb_path, "successful_jobs", "bad-null-count", uid, "finished", None)
    _, evaluation = _run_and_evaluate(defs, instance, uid)
    assert not evaluation.passed
    assert evaluation.metadata["violating_uids"].value == ["bad-null-count", "bad-warning"]
    assert evaluation.metadata["missing_uids"].value == []
    # The query in the metadata, run as given, returns exactly the offending rows.
    sql = evaluation.metadata["violating_rows_query"].value.split("```sql\n")[1].split("\n```")[0]
    rows = fetch(duckdb_path, f"SELECT uid FROM ({sql}) ORDER BY uid")
    assert [r[0] for r in rows] == ["bad-null-count", "bad-warning"]


def test_check_fails_when_a_successful_job_is_missing(
    defs, instance, simulator, sim_data, duckdb_path
):
    load_everything(defs, instance)
    uid = _partition_with_successful_jobs(sim_data)
    seed_job(duckdb_path, "jobs", "old-finished-job", uid, "finished", 7)
    _, evaluation = _run_and_evaluate(defs, instance, uid)
    assert not evaluation.passed
    assert evaluation.metadata["missing_uids"].value == ["old-finished-job"]
    assert evaluation.metadata["violating_uids"].value == []
    sql = evaluation.metadata["missing_rows_query"].value.split("```sql\n")[1].split("\n```")[0]
    rows = fetch(duckdb_path, f"SELECT uid FROM ({sql}) ORDER BY uid")
    assert [r[0] for r in rows] == ["old-finished-job"]


def test_check_is_scoped_to_the_run_partition(defs, instance, simulator, sim_data, duckdb_path):
    load_everything(defs, instance)
    bad, good = [w["uid"] for w in sim_data.workflows if sim_data.successful_jobs(w["uid"])][:2]
    seed_job(duckdb_path, "successful_jobs", "bad-elsewhere", bad, "stopped", 1)
    result, evaluation = _run_and_evaluate(defs, instance, good)
    assert result.success and evaluation.passed


def test_a_failing_check_blocks_job_results_in_the_same_run(
    defs, instance, simulator, sim_data, duckdb_path
):
    load_everything(defs, instance)
    uid = _partition_with_successful_jobs(sim_data)
    seed_job(duckdb_path, "successful_jobs", "bad-running", uid, "running", None)
    simulator.reset_requests()
    result, evaluation = _run_and_evaluate(defs, instance, uid)
    assert not result.success and not evaluation.passed
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {AssetKey("jobs"), AssetKey("successful_jobs")}
    assert simulator.request_count("/v3/jobs/") == 0
