"""What a data engineer sees after the first runs must be true and complete: the check on every
partition a range run covered, the columns and figures on a run that loaded nothing, the
workflow's name beside its uid, one copy of the data, no noise in the metadata."""

from dagster import AssetCheckKey, AssetKey, TableSchema, build_sensor_context

from analytics_assets_tests.support import (
    count,
    fetch,
    load_everything,
    run_partition,
    run_partition_range,
    seed_job,
)

SIM_WORKFLOWS = 4
CHECK = AssetCheckKey(AssetKey("successful_jobs"), "successful_jobs_filter")
PER_WORKFLOW = ("jobs", "successful_jobs", "job_results")
FIGURES = ("api_requests", "api_retries", "api_rate_limited", "api_rate_limit", "duration_seconds")


def _latest(instance, table: str, partition: str | None = None):
    key = AssetKey(table)
    if partition is None:
        return instance.get_latest_materialization_event(key).asset_materialization
    records = instance.fetch_materializations(key, limit=100).records
    return next(
        r.asset_materialization for r in records if r.asset_materialization.partition == partition
    )


def _columns(materialization) -> list[str]:
    schema = materialization.metadata["dagster/column_schema"].value
    assert isinstance(schema, TableSchema)
    return [column.name for column in schema.columns]


def test_a_range_run_records_the_check_on_each_partition_and_fails_only_the_bad_one(
    defs, instance, simulator, sim_data, duckdb_path
):
    uids = load_everything(defs, instance)
    names = {w["uid"]: w["name"] for w in sim_data.workflows}
    bad = next(w["uid"] for w in sim_data.workflows if sim_data.successful_jobs(w["uid"]))
    seed_job(duckdb_path, "successful_jobs", "seeded-bad", bad, "warning", 2)

    result = run_partition_range(defs, instance, uids[0], uids[-1], raise_on_error=False)

    evaluations = {
        e.partition: e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "successful_jobs_filter"
    }
    assert set(evaluations) == set(uids)
    assert {p for p, e in evaluations.items() if not e.passed} == {bad}
    assert evaluations[bad].metadata["violating_uids"].value == ["seeded-bad"]
    assert evaluations[bad].metadata["workflow_name"].value == names[bad]
    assert names[bad] in (evaluations[bad].description or "")
    for uid in set(uids) - {bad}:
        assert evaluations[uid].metadata["violating_count"].value == 0
        assert evaluations[uid].target_materialization_data is not None
    # What the UI reads: the instance's latest execution per partition.
    history = instance.event_log_storage.get_asset_check_execution_history(CHECK, limit=100)
    latest = {}
    for record in history:  # newest first
        evaluation = record.evaluation
        if evaluation is not None and evaluation.partition not in latest:
            latest[evaluation.partition] = evaluation.passed
    assert latest == {uid: uid != bad for uid in uids}
    # Blocking: the failed partition stops job_results for the run.
    assert not result.success


def test_a_refresh_that_loads_nothing_keeps_columns_and_figures(
    defs, instance, simulator, sim_data
):
    uid = next(w["uid"] for w in sim_data.workflows if sim_data.successful_jobs(w["uid"]))
    load_everything(defs, instance)
    first = {table: _columns(_latest(instance, table, uid)) for table in PER_WORKFLOW}
    assert all(first.values())

    assert run_partition(defs, instance, uid).success  # nothing new: no row merged or fetched

    for table in PER_WORKFLOW:
        again = _latest(instance, table, uid)
        assert again.metadata.get("rows_loaded") is None or again.metadata["rows_loaded"].value == 0
        assert _columns(again) == first[table], table
        assert set(FIGURES) <= set(again.metadata), table
        assert again.metadata["workflow_name"].value == next(
            w["name"] for w in sim_data.workflows if w["uid"] == uid
        )
    results = _latest(instance, "job_results", uid)
    assert results.metadata["api_requests"].value == 0


def test_no_second_copy_of_the_data_stays_in_staging(defs, instance, simulator, duckdb_path):
    load_everything(defs, instance)
    assert count(duckdb_path, "job_results") > 0
    staged = fetch(
        duckdb_path,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'analytics_staging'",
    )
    assert {"job_results", "jobs", "successful_jobs"} <= {t for (t,) in staged}
    for (table,) in staged:
        if table.startswith("_dlt_"):  # dlt's schema versions, not data
            continue
        assert fetch(duckdb_path, f"SELECT count(*) FROM analytics_staging.{table}") == [(0,)]


def test_no_unserializable_objects_or_local_paths_in_metadata(
    defs, instance, simulator, duckdb_path
):
    load_everything(defs, instance)
    for spec in defs.resolve_all_asset_specs():
        assert not [k for k in spec.metadata if k.startswith("dagster_dlt/")], spec.key
    for table in ("workspace", "workflows"):
        metadata = _latest(instance, table).metadata
        assert "jobs" not in metadata
        assert str(duckdb_path.parent) not in repr(metadata)


def test_sensor_runs_and_its_log_name_the_workflows(
    defs, instance, api_resource, simulator, sim_data, capfd
):
    names = [w["name"] for w in sim_data.workflows]
    context = build_sensor_context(instance=instance, resources={"analytics_api": api_resource})
    result = defs.resolve_sensor_def("workflow_refresh_sensor")(context)
    lines = capfd.readouterr().err.splitlines()  # the sensor context's log: Dagster's console
    (load,) = [r for r in result.run_requests if r.job_name == "workflow_partition_job"]
    assert load.tags["analytics/workflow_name"] == (
        f"{names[0]} ... {names[-1]} ({len(names)} workflows)"
    )
    (summary,) = [line for line in lines if "tick 1:" in line]
    assert summary.endswith("due: " + ", ".join(repr(n) for n in names))
