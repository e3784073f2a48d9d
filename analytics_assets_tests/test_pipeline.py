"""End to end: the simulator over HTTP -> dagster-dlt -> a real DuckDB file."""

from analytics_assets.api.job_rows import is_successful
from analytics_assets_tests.support import (
    count,
    fetch,
    load_everything,
    run_partition,
    run_workspace,
)


def _expected(sim_data):
    jobs = sim_data.all_jobs()
    successful = [j for j in jobs if is_successful(j)]
    results = sum(len(sim_data.results[j["uid"]]) for j in successful)
    return jobs, successful, results


def test_full_load_lands_exact_rows_in_every_table(
    defs, instance, simulator, sim_data, duckdb_path
):
    uids = load_everything(defs, instance)
    jobs, successful, results = _expected(sim_data)
    assert sorted(uids) == sorted(w["uid"] for w in sim_data.workflows)
    assert count(duckdb_path, "workspace") == 1
    assert count(duckdb_path, "workflows") == len(sim_data.workflows)
    assert count(duckdb_path, "jobs") == len(jobs)
    assert count(duckdb_path, "successful_jobs") == len(successful)
    assert count(duckdb_path, "job_results") == results
    assert {r[0] for r in fetch(duckdb_path, "SELECT uid FROM analytics.successful_jobs")} == {
        j["uid"] for j in successful
    }


def test_successful_jobs_hold_only_finished_jobs_with_rows(defs, instance, simulator, duckdb_path):
    load_everything(defs, instance)
    rows = fetch(duckdb_path, "SELECT status, total_row_count FROM analytics.successful_jobs")
    assert rows and all(status == "finished" and n > 0 for status, n in rows)
    # The simulator guarantees null counts and non-finished jobs with rows: they stay out.
    excluded = fetch(
        duckdb_path,
        "SELECT count(*) FROM analytics.jobs WHERE total_row_count IS NULL "
        "OR (status <> 'finished' AND total_row_count > 0)",
    )[0][0]
    assert excluded > 0


def test_rows_carry_their_workflow_and_job(defs, instance, simulator, sim_data, duckdb_path):
    load_everything(defs, instance)
    for job in sim_data.all_jobs():
        got = fetch(
            duckdb_path, "SELECT workflow_uid FROM analytics.jobs WHERE uid = ?", job["uid"]
        )
        assert got == [(job["workflow_uid"],)]
    per_job = dict(
        fetch(duckdb_path, "SELECT job_uid, count(*) FROM analytics.job_results GROUP BY 1")
    )
    expected = {
        j["uid"]: len(sim_data.results[j["uid"]]) for j in sim_data.all_jobs() if is_successful(j)
    }
    assert per_job == expected
    columns = {r[0] for r in fetch(duckdb_path, "DESCRIBE analytics.job_results")}
    assert {"job_result_id", "job_uid", "workflow_uid", "extracted_at"} <= columns
    assert "results__full_name" in columns


def test_identical_result_rows_stay_distinct_rows(defs, instance, simulator, sim_data, duckdb_path):
    load_everything(defs, instance)
    dupes = fetch(
        duckdb_path,
        "SELECT job_uid, results__linkedin_profile_url, count(*) AS n "
        "FROM analytics.job_results GROUP BY ALL HAVING count(*) > 1",
    )
    assert dupes, "the simulator guarantees a job with two identical rows"
    ids = fetch(duckdb_path, "SELECT count(DISTINCT job_result_id) FROM analytics.job_results")
    assert ids[0][0] == count(duckdb_path, "job_results")


def _contents(duckdb_path) -> dict[str, list[tuple]]:
    """Every data table (child tables included), all columns but dlt's load bookkeeping."""
    tables = fetch(
        duckdb_path,
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'analytics' AND table_name NOT LIKE '\\_dlt%' ESCAPE '\\' "
        "ORDER BY 1",
    )
    contents = {}
    for (table,) in tables:
        columns = [
            name
            for name, *_ in fetch(duckdb_path, f"DESCRIBE analytics.{table}")
            if name not in ("_dlt_load_id", "_dlt_id", "_dlt_parent_id", "_dlt_root_id")
        ]
        sql = f"SELECT {', '.join(columns)} FROM analytics.{table} ORDER BY ALL"
        contents[table] = fetch(duckdb_path, sql)
    return contents


def test_rematerializing_changes_nothing(defs, instance, simulator, duckdb_path):
    load_everything(defs, instance)
    before = _contents(duckdb_path)
    assert {"workspace", "workflows", "jobs", "successful_jobs", "job_results"} <= set(before)
    load_everything(defs, instance)
    assert _contents(duckdb_path) == before


def test_workflows_materialization_registers_every_partition(defs, instance, simulator, sim_data):
    assert instance.get_dynamic_partitions("workflow_uids") == []
    assert run_workspace(defs, instance).success
    assert sorted(instance.get_dynamic_partitions("workflow_uids")) == sorted(
        w["uid"] for w in sim_data.workflows
    )


def test_spec_envelope_loads_the_same_rows(defs, instance, simulator, sim_data, duckdb_path):
    simulator.envelope = "data"
    simulator.next_style = "url"
    load_everything(defs, instance)
    _, successful, results = _expected(sim_data)
    assert count(duckdb_path, "workspace") == 1
    assert count(duckdb_path, "successful_jobs") == len(successful)
    assert count(duckdb_path, "job_results") == results


def test_jobs_requested_once_per_partition_run(defs, instance, simulator, sim_data):
    assert run_workspace(defs, instance).success
    uid = next(w["uid"] for w in sim_data.workflows if sim_data.successful_jobs(w["uid"]))
    simulator.reset_requests()
    assert run_partition(defs, instance, uid).success
    assert simulator.request_count("/v3/workflows/") == 1
    pages = sum(
        -(-len(sim_data.results[j["uid"]]) // simulator.page_size)
        for j in sim_data.successful_jobs(uid)
    )
    assert simulator.request_count("/v3/jobs/") == pages


def test_workflow_without_jobs_loads_nothing_and_succeeds(
    defs, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    empty = next(w["uid"] for w in sim_data.workflows if not sim_data.jobs[w["uid"]])
    result = run_partition(defs, instance, empty)
    assert result.success
    assert [e.passed for e in result.get_asset_check_evaluations()] == [True]


def test_workflow_deleted_upstream_keeps_its_rows_and_warns(
    defs, instance, simulator, sim_data, duckdb_path
):
    load_everything(defs, instance)
    uid = next(w["uid"] for w in sim_data.workflows if sim_data.successful_jobs(w["uid"]))
    jobs_before = count(duckdb_path, "jobs", "workflow_uid = ?", uid)
    results_before = count(duckdb_path, "job_results", "workflow_uid = ?", uid)
    sim_data.remove_workflow(uid)
    result = run_partition(defs, instance, uid)
    assert result.success
    warnings = [
        e.message
        for e in instance.all_logs(result.run_id)
        if e.level >= 30 and e.user_message and "gone upstream" in e.user_message
    ]
    assert len(warnings) == 1
    assert count(duckdb_path, "jobs", "workflow_uid = ?", uid) == jobs_before
    assert count(duckdb_path, "job_results", "workflow_uid = ?", uid) == results_before


def test_materializations_carry_row_counts_requests_and_previews(
    defs, instance, simulator, sim_data
):
    result = run_workspace(defs, instance)
    by_key = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert by_key["workflows"]["dagster/row_count"].value == len(sim_data.workflows)
    assert by_key["workspace"]["dagster/row_count"].value == 1
    assert by_key["workflows"]["api_requests"].value == 2  # the workspace and the workflow list
    preview = by_key["workflows"]["preview"].value
    assert preview.startswith("| uid | name | created_at | project_id |")
    assert sim_data.workflows[0]["uid"] in preview
    uid = next(w["uid"] for w in sim_data.workflows if sim_data.successful_jobs(w["uid"]))
    run = run_partition(defs, instance, uid)
    counts = {
        e.asset_key.to_user_string(): e.materialization.metadata[
            "dagster/partition_row_count"
        ].value
        for e in run.get_asset_materialization_events()
    }
    assert counts == {
        "jobs": len(sim_data.jobs[uid]),
        "successful_jobs": len(sim_data.successful_jobs(uid)),
        "job_results": sum(len(sim_data.results[j["uid"]]) for j in sim_data.successful_jobs(uid)),
    }


def test_every_materialization_names_its_table_and_columns_even_without_new_rows(
    defs, instance, simulator, sim_data
):
    assert run_workspace(defs, instance).success
    uid = next(w["uid"] for w in sim_data.workflows if sim_data.successful_jobs(w["uid"]))
    first = run_partition(defs, instance, uid)
    again = run_partition(defs, instance, uid)  # nothing new: job_results skips its dlt run
    pages = sum(
        -(-len(sim_data.results[j["uid"]]) // simulator.page_size)
        for j in sim_data.successful_jobs(uid)
    )
    for run in (first, again):
        for event in run.get_asset_materialization_events():
            table = event.asset_key.to_user_string()
            metadata = event.materialization.metadata
            assert metadata["dagster/table_name"].value == f"duckdb.analytics.{table}"
            columns = {col.name for col in metadata["dagster/column_schema"].value.columns}
            assert {"uid" if table != "job_results" else "job_result_id", "workflow_uid"} <= columns
    first_results = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in first.get_asset_materialization_events()
    }["job_results"]
    assert first_results["result_pages"].value == pages
    assert first_results["api_requests"].value == pages
    assert first_results["duration_seconds"].value > 0
