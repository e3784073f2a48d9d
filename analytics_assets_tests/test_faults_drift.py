"""Upstream drift through real in-process runs: a count sent as a string, a new field, fields
that cannot be read (a loud failure naming job and field, nothing changed)."""

from __future__ import annotations

from analytics_assets_tests.support import (
    assert_partition_exact,
    busiest,
    evaluations,
    expected_results,
    fetch,
    job_uids,
    jobs_path,
    materialized,
    results_per_job,
    run_partition,
    run_partition_range,
    run_workspace,
    snapshot,
    step_failures,
)
from analytics_dev.simulator import SimulatedData

# wf0: 5 jobs, 3 successful (109, 87, 202 rows); wf1: 4 jobs, 2 successful; wf2: no jobs.
SIM_WORKFLOWS = 3


def _set_job_field(sim_data: SimulatedData, job_uid: str, **fields) -> None:
    """Change a job as upstream would, directly in the data (no results resizing)."""
    with sim_data.lock:
        job = sim_data.job(job_uid)
        assert job is not None, job_uid
        job.update(fields)
        sim_data.touch(jobs_path(job["workflow_uid"]))


def test_drift_string_count_lands_as_bigint_and_unknown_field_becomes_a_new_column(
    defs, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uid = busiest(sim_data)
    assert run_partition(defs, instance, uid).success  # the tables exist before the drift
    job = sim_data.add_job(uid, status="finished", total_row_count=12)
    expected = expected_results(sim_data, uid)
    successful = {j["uid"] for j in sim_data.successful_jobs(uid)}
    _set_job_field(sim_data, job["uid"], total_row_count="12")
    other = sorted(successful - {job["uid"]})[0]
    _set_job_field(sim_data, other, brand_new_field="x")

    result = run_partition(defs, instance, uid)

    assert result.success
    assert [e.passed for e in evaluations(result)] == [True]
    for table in ("jobs", "successful_jobs"):
        got = fetch(
            duckdb_path, f"SELECT total_row_count FROM analytics.{table} WHERE uid = ?", job["uid"]
        )
        assert got == [(12,)]
        types = dict((r[0], r[1]) for r in fetch(duckdb_path, f"DESCRIBE analytics.{table}"))
        assert types["total_row_count"] == "BIGINT"
        assert not [c for c in types if c.startswith("total_row_count__")]
        assert types["brand_new_field"] == "VARCHAR"
        got = fetch(
            duckdb_path,
            f"SELECT uid, brand_new_field FROM analytics.{table} WHERE brand_new_field IS NOT NULL",
        )
        assert got == [(other, "x")]
    assert job_uids(duckdb_path, "successful_jobs", uid) == successful
    assert results_per_job(duckdb_path, uid) == expected


def test_unreadable_job_fields_fail_loudly_naming_job_and_field_and_change_nothing(
    defs, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uid = busiest(sim_data)
    assert run_partition(defs, instance, uid).success
    sim_data.add_job(uid, status="finished", total_row_count=10)  # would change every table
    target = next(j for j in sim_data.jobs[uid] if j["status"] == "running")
    before = snapshot(duckdb_path)
    for field, value in [("status", 5), ("total_row_count", "lots"), ("row_count", "n/a")]:
        original = target[field]
        _set_job_field(sim_data, target["uid"], **{field: value})

        result = run_partition(defs, instance, uid, raise_on_error=False)

        assert not result.success, field
        (failure,) = step_failures(result)
        assert target["uid"] in failure
        assert f"field {field!r} is {value!r}" in failure
        assert materialized(result) == set()
        assert snapshot(duckdb_path) == before, field
        _set_job_field(sim_data, target["uid"], **{field: original})
    assert run_partition(defs, instance, uid).success
    assert_partition_exact(duckdb_path, sim_data, uid)


def test_simulator_update_job_accepts_a_count_sent_as_a_string(sim_data):
    job = next(j for j in sim_data.all_jobs() if j["status"] == "finished")
    sim_data.update_job(job["uid"], total_row_count="12")
    assert sim_data.job(job["uid"])["total_row_count"] == "12"


def test_a_column_another_workflow_typed_differently_gets_a_variant_not_a_failed_load(
    defs, instance, simulator, sim_data, duckdb_path
):
    """Workflows' result rows share column names; each partition loads through its own dlt
    pipeline, which knows only the types of its own loads. Rows sending text where another
    workflow's rows made a number column go to dlt's variant column, by the dict path (a
    nested value in the rows) and in a range run's batch pipeline alike."""
    assert run_workspace(defs, instance).success
    numbers, texts, third = (w["uid"] for w in sim_data.workflows)
    sim_data.add_job(numbers, "finished", 2, result_fields={"company_size": 50})
    assert run_partition(defs, instance, numbers).success
    nested = {"company_size": "11-50", "company": {"industry": "software"}}
    sim_data.add_job(texts, "finished", 2, result_fields=nested)
    assert run_partition(defs, instance, texts).success
    sim_data.add_job(third, "finished", 1, result_fields={"company_size": "51-200"})
    assert run_partition_range(defs, instance, numbers, third).success

    rows = fetch(
        duckdb_path,
        "SELECT workflow_uid, results__company_size, results__company_size__v_text, "
        "results__company__industry FROM analytics.job_results "
        "WHERE results__company_size IS NOT NULL OR results__company_size__v_text IS NOT NULL "
        "ORDER BY 1, 3",
    )
    by_workflow: dict[str, set] = {}
    for workflow, number, text, industry in rows:
        by_workflow.setdefault(workflow, set()).add((number, text, industry))
    assert by_workflow == {
        numbers: {(50, None, None)},
        texts: {(None, "11-50", "software")},
        third: {(None, "51-200", None)},
    }
    assert len(rows) == 5
