"""A single-run backfill: many workflow partitions in one Dagster run and one dlt load each."""

import logging

from dagster import AssetKey, DagsterEventType

from analytics_assets.api.job_rows import is_successful
from analytics_assets.api.progress import Progress
from analytics_assets_tests.support import (
    assert_full_load,
    fetch,
    run_partition_range,
    run_workspace,
)


def _latest_partition_counts(instance, asset: str) -> dict[str, int]:
    records = instance.fetch_materializations(AssetKey(asset), limit=1000).records
    latest: dict[str, int] = {}
    for record in sorted(records, key=lambda r: r.storage_id):
        materialization = record.asset_materialization
        latest[materialization.partition] = materialization.metadata[
            "dagster/partition_row_count"
        ].value
    return latest


def test_every_partition_in_one_run_lands_exact_rows_and_per_partition_counts(
    defs, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uids = instance.get_dynamic_partitions("workflow_uids")
    simulator.reset_requests()
    result = run_partition_range(defs, instance, uids[0], uids[-1])
    assert result.success
    assert len(instance.get_runs()) == 2  # the workspace run and the one backfill run

    assert_full_load(duckdb_path, sim_data)
    jobs = sim_data.all_jobs()
    successful = [j for j in jobs if is_successful(j)]
    # One jobs request per workflow, one request per results page: nothing fetched twice.
    pages = sum(-(-len(sim_data.results[j["uid"]]) // simulator.page_size) for j in successful)
    assert simulator.request_count("/v3/workflows/") == len(uids)
    assert simulator.request_count("/v3/jobs/") == pages

    for asset in ("jobs", "successful_jobs", "job_results"):
        in_warehouse = dict(
            fetch(duckdb_path, f"SELECT workflow_uid, count(*) FROM analytics.{asset} GROUP BY 1")
        )
        expected = {uid: in_warehouse.get(uid, 0) for uid in uids}
        assert _latest_partition_counts(instance, asset) == expected, asset

    # Progress reaches the run log: workflows listed, then jobs fetched and rows so far.
    progress = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if e.user_message.startswith("progress: ")
    ]
    assert any(
        f"workflows listed {len(uids)}/{len(uids)} ({len(jobs)} jobs)" in m for m in progress
    )
    rows = sum(len(sim_data.results[j["uid"]]) for j in successful)
    assert any(
        f"jobs fetched {len(successful)}/{len(successful)}, {rows} result rows" in m
        for m in progress
    )

    checks = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    # One result per partition the run covered, as the UI shows it.
    assert [(c.partition, c.passed) for c in checks] == [(uid, True) for uid in uids]


def test_rerun_of_a_backfill_fetches_no_result_pages_and_changes_nothing(
    defs, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uids = instance.get_dynamic_partitions("workflow_uids")
    assert run_partition_range(defs, instance, uids[0], uids[-1]).success
    before = fetch(duckdb_path, "SELECT job_result_id FROM analytics.job_results ORDER BY 1")
    simulator.reset_requests()
    assert run_partition_range(defs, instance, uids[0], uids[-1]).success
    assert simulator.request_count("/v3/jobs/") == 0
    assert simulator.request_count("/v3/workflows/") == len(uids)
    after = fetch(duckdb_path, "SELECT job_result_id FROM analytics.job_results ORDER BY 1")
    assert after == before


def test_a_range_loads_only_its_own_partitions(defs, instance, simulator, sim_data, duckdb_path):
    assert run_workspace(defs, instance).success
    uids = instance.get_dynamic_partitions("workflow_uids")
    assert run_partition_range(defs, instance, uids[1], uids[2]).success
    loaded = {r[0] for r in fetch(duckdb_path, "SELECT DISTINCT workflow_uid FROM analytics.jobs")}
    expected = {uid for uid in uids[1:3] if sim_data.jobs[uid]}
    assert expected, "the range must hold a workflow with jobs for this test to mean anything"
    assert loaded == expected


def test_a_deleted_workflow_in_a_backfill_warns_and_the_rest_loads(
    defs, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uids = instance.get_dynamic_partitions("workflow_uids")
    gone = next(uid for uid in uids if sim_data.jobs[uid])
    expected = {uid for uid in uids if sim_data.jobs[uid] and uid != gone}
    sim_data.remove_workflow(gone)
    result = run_partition_range(defs, instance, uids[0], uids[-1])
    assert result.success
    loaded = {r[0] for r in fetch(duckdb_path, "SELECT DISTINCT workflow_uid FROM analytics.jobs")}
    assert loaded == expected
    warnings = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if e.level >= logging.WARNING and "gone upstream" in (e.user_message or "")
    ]
    assert len(warnings) == 1 and gone in warnings[0]


def test_progress_lines_count_workflows_jobs_and_rows():
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    log = logging.getLogger("analytics_assets_tests.progress")
    log.addHandler(Capture())
    log.setLevel(logging.INFO)
    progress = Progress(log, workflows_total=3, jobs_total=2, interval=0)
    progress.workflow_listed(4)
    progress.page_loaded("job-a", 1000)
    progress.page_loaded("job-a", 500)
    progress.page_loaded("job-b", 7)
    assert len(lines) == 4
    assert lines[0].startswith(
        "progress: workflows listed 1/3 (4 jobs); jobs fetched 0/2, 0 result"
    )
    assert "jobs fetched 2/2, 1507 result rows" in lines[-1]
    assert progress.pages == 3


def test_runs_of_ever_new_partition_sets_leave_no_pipeline_behind(
    defs, instance, simulator, sim_data, duckdb_path
):
    # A sensor's batches are new partition sets each time: each used to keep a dlt pipeline.
    assert run_workspace(defs, instance).success
    uids = instance.get_dynamic_partitions("workflow_uids")
    ranges = [(uids[0], uids[1]), (uids[1], uids[3]), (uids[0], uids[-1]), (uids[2], uids[4])]
    for first, last in ranges:
        assert run_partition_range(defs, instance, first, last).success
    assert_full_load(duckdb_path, sim_data)
    folders = sorted(p.name for p in (duckdb_path.parent / "dlt_pipelines").iterdir())
    assert not [f for f in folders if f.startswith("analytics_batch_")], folders
    states = fetch(duckdb_path, "SELECT DISTINCT pipeline_name FROM analytics._dlt_pipeline_state")
    assert not [s for (s,) in states if s.startswith("analytics_batch_")], states
    # A partition of its own keeps its pipeline (a re-run after a crash finishes its package).
    assert run_partition_range(defs, instance, uids[0], uids[0]).success
    assert any(
        p.name.startswith("analytics_wf_") for p in (duckdb_path.parent / "dlt_pipelines").iterdir()
    )
