"""The attention checks (quota_forecast, failed_jobs, column_schema_change) on real loads:
the simulator over HTTP, real DuckDB, real Dagster in-process, on the definitions' fake clock.
"""

from datetime import UTC, datetime

import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
)

from analytics_assets.api.budget_stores import open_store
from analytics_assets.defs.factory import build_definitions
from analytics_assets.settings import ApiSettings
from analytics_assets_tests.fakes import FakeClock
from analytics_assets_tests.support import (
    API_KEY,
    evaluations,
    fetch,
    http,
    load_everything,
    make_defs,
    resource_for,
    run_partition,
    run_partition_range,
    run_workspace,
    workspace_run_keys,
)
from analytics_dev.simulator.factories import quota_workspace

# Seven workflows: one per final status of a latest job, and the last one with no job.
SIM_WORKFLOWS = 7
WARNING = "Your LinkedIn cookie is invalid or expired. Please reconnect your account."
PAUSED = "Integration error: the CRM integration is disconnected. Reconnect it to resume."


def _values(evaluation) -> dict:
    return {k: v.value for k, v in evaluation.metadata.items()}


def _now(clock: FakeClock) -> datetime:
    return datetime.fromtimestamp(clock.time(), UTC)


# ----------------------------------------------------------------------- quota_forecast
# The fake clock reads 2027-01-15T08:00:00Z; every period is 30 days.
QUOTA_CASES = {
    "early_high_burn": (
        False,
        AssetCheckSeverity.WARN,
        {
            "tasks_left": 6000,
            "tasks_max": 10000,
            "burn_rate_per_day": 800.0,
            "projected_exhaustion": "2027-01-22",
            "days_of_margin": -17.5,
        },
        "At 800.0 tasks/day, the 6000 tasks left run out on 2027-01-22, 17.5 days before the "
        "period ends (2027-02-09): slow the workflows down or upgrade the plan.",
    ),
    "late_low_burn": (
        True,
        AssetCheckSeverity.ERROR,  # Dagster's default severity; a pass shows none
        {
            "tasks_left": 7000,
            "tasks_max": 10000,
            "burn_rate_per_day": 120.0,
            "projected_exhaustion": "2027-03-14",
            "days_of_margin": 53.3,
        },
        "At 120.0 tasks/day, the 7000 tasks left last until 2027-03-14, 53.3 days past the "
        "period's end.",
    ),
    "exhausted": (
        False,
        AssetCheckSeverity.ERROR,
        {"tasks_left": 0, "tasks_max": 10000},
        "The quota is exhausted: 0 of 10000 tasks left until the period ends (2027-01-25). "
        "New jobs are shut down and running jobs pause until the quota resets or the plan is "
        "upgraded.",
    ),
    "null_fields": (
        True,
        AssetCheckSeverity.ERROR,
        {},
        "No forecast: the workspace row has no billing period (current_month_start/end).",
    ),
    "future_period": (
        True,
        AssetCheckSeverity.ERROR,
        {"tasks_left": 10000, "tasks_max": 10000},
        "No forecast: the billing period starts in the future (2027-01-18T08:00:00+00:00).",
    ),
}


@pytest.mark.parametrize("scenario", list(QUOTA_CASES))
def test_quota_forecast_from_the_workspace_row_just_loaded(
    scenario, defs, instance, simulator, sim_data, clock
):
    passed, severity, metadata, description = QUOTA_CASES[scenario]
    sim_data.set_workspace(**quota_workspace(scenario, _now(clock)))
    result = run_workspace(defs, instance)
    assert result.success  # never fails the run, whatever it finds
    (evaluation,) = evaluations(result, "quota_forecast")
    assert evaluation.asset_key == AssetKey("workspace")
    assert (evaluation.passed, evaluation.severity) == (passed, severity)
    assert _values(evaluation) == metadata
    assert evaluation.description == description
    assert evaluation.blocking is False
    assert simulator.request_count("/v3/workspace") == 1  # no request of its own


def test_quota_forecast_is_not_run_when_only_workflows_is_selected(defs, instance, simulator):
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, asset_selection=[AssetKey("workflows")])
    assert result.success
    assert evaluations(result, "quota_forecast") == []
    assert simulator.request_count("/v3/workspace") == 0


# -------------------------------------------------------------------------- failed_jobs
LATEST = (
    ("shutdown", None),
    ("warning", WARNING),
    ("paused", PAUSED),
    ("finished", None),
    ("running", None),
    ("pending", None),
)


def _latest_jobs(sim_data) -> dict[str, dict | None]:
    """Give the first six workflows a latest job in each final status; the seventh has none."""
    latest: dict[str, dict | None] = {}
    for workflow, (status, _) in zip(sim_data.workflows, LATEST, strict=False):
        total = None if status in ("running", "pending") else 0
        latest[workflow["uid"]] = sim_data.add_job(workflow["uid"], status, total)
    latest[sim_data.workflows[-1]["uid"]] = None
    assert sim_data.jobs[sim_data.workflows[-1]["uid"]] == []
    return latest


def _expected_failed_jobs(job: dict | None) -> tuple[bool, dict, str]:
    if job is None:
        return True, {}, "The workflow has no jobs."
    metadata = {
        "job_uid": job["uid"],
        "status": job["status"],
        "error_message": job["error_message"] or "",
        "time": job["scheduled_time"],
    }
    if job["status"] not in ("shutdown", "warning", "paused"):
        return True, metadata, f"Latest job {job['uid']}: {job['status']}."
    reason = f": {job['error_message'].rstrip('.')}" if job["error_message"] else ""
    return (
        False,
        metadata,
        f"The latest job {job['uid']} ({job['scheduled_time']}) ended {job['status']}{reason}. "
        "The workflow produces nothing until someone fixes the cause and relaunches it.",
    )


def test_failed_jobs_warns_per_partition_in_one_range_run(defs, instance, simulator, sim_data):
    latest = _latest_jobs(sim_data)
    assert [j["error_message"] for j in latest.values() if j] == [
        "Technical error: the automation crashed, our team has been notified.",
        WARNING,
        PAUSED,
        None,
        None,
        None,
    ]
    assert run_workspace(defs, instance).success
    uids = list(instance.get_dynamic_partitions("workflow_uids"))
    result = run_partition_range(defs, instance, uids[0], uids[-1])
    assert result.success
    got = {e.partition: e for e in evaluations(result, "failed_jobs")}
    assert set(got) == set(uids)
    for uid, job in latest.items():
        passed, metadata, description = _expected_failed_jobs(job)
        evaluation = got[uid]
        assert (evaluation.passed, _values(evaluation), evaluation.description) == (
            passed,
            metadata,
            description,
        ), uid
        assert evaluation.severity == AssetCheckSeverity.WARN
        # Linked to the partition's materialization of `jobs` in this run.
        assert evaluation.target_materialization_data.run_id == result.run_id
    # What the instance records: the latest evaluation of each partition.
    key = AssetCheckKey(AssetKey("jobs"), "failed_jobs")
    history = instance.event_log_storage.get_asset_check_execution_history(key, limit=50)
    failing = {r.partition for r in history if not r.event.dagster_event.event_specific_data.passed}
    assert failing == {uid for uid, job in latest.items() if job and job["status"] in STOPPED}


STOPPED = ("shutdown", "warning", "paused")


def test_failed_jobs_in_a_one_partition_run_is_attributed_to_its_partition(
    defs, instance, simulator, sim_data
):
    latest = _latest_jobs(sim_data)
    assert run_workspace(defs, instance).success
    uid = sim_data.workflows[1]["uid"]  # its latest job ended `warning`
    result = run_partition(defs, instance, uid)
    assert result.success
    (evaluation,) = evaluations(result, "failed_jobs")
    assert evaluation.partition == uid
    passed, metadata, description = _expected_failed_jobs(latest[uid])
    assert (evaluation.passed, _values(evaluation), evaluation.description) == (
        passed,
        metadata,
        description,
    )


# ---------------------------------------------------------------- column_schema_change
def test_column_schema_change_names_added_and_retyped_columns_of_one_workflow(
    defs, instance, simulator, sim_data, duckdb_path
):
    uids = load_everything(defs, instance)  # the first load: nothing to compare with
    first = [(e.partition, e.passed, e.description) for e in _schema_evaluations(instance)]
    first_load = "no earlier results of this workflow to compare with."
    assert sorted(first) == sorted((uid, True, first_load) for uid in uids)

    # Someone edits the first workflow's steps: its rows gain a number column ...
    edited = sim_data.workflows[0]["uid"]
    sim_data.add_job(edited, "finished", 3, result_fields={"connections": 500})
    result = run_partition_range(defs, instance, uids[0], uids[-1])
    assert result.success
    got = {e.partition: e for e in evaluations(result, "column_schema_change")}
    assert set(got) == set(uids)
    assert _values(got[edited]) == {
        "added_columns": ["results__connections"],
        "removed_columns": [],
        "retyped_columns": {},
    }
    assert got[edited].description == (
        "The workflow's result columns changed (its steps were edited?); queries on "
        "job_results may need updating. added: results__connections."
    )
    # ... then another edit makes it text and adds a column: dlt keeps the number column
    # and puts the text in a variant column; the load does not fail.
    sim_data.add_job(
        edited, "finished", 3, result_fields={"connections": "500+", "seniority": "Senior"}
    )
    result = run_partition_range(defs, instance, uids[0], uids[-1])
    assert result.success
    got = {e.partition: e for e in evaluations(result, "column_schema_change")}
    warned = got[edited]
    assert (warned.passed, warned.severity) == (False, AssetCheckSeverity.WARN)
    assert _values(warned) == {
        "added_columns": ["results__seniority"],
        "removed_columns": [],
        "retyped_columns": {"results__connections": "bigint -> text"},
    }
    assert warned.description == (
        "The workflow's result columns changed (its steps were edited?); queries on "
        "job_results may need updating. added: results__seniority; retyped: "
        "results__connections (bigint -> text)."
    )
    assert (
        fetch(
            duckdb_path,
            "SELECT results__connections, results__connections__v_text FROM analytics.job_results "
            "WHERE job_uid = ? ORDER BY 2",
            sim_data.jobs[edited][-1]["uid"],
        )
        == [(None, "500+")] * 3
    )
    for uid in uids[1:]:
        compared = "this load changed no column." if sim_data.successful_jobs(uid) else first_load
        assert (got[uid].passed, got[uid].description) == (True, compared)
        assert _values(got[uid]) == {
            "added_columns": [],
            "removed_columns": [],
            "retyped_columns": {},
        }


def test_a_new_workflows_first_results_adding_columns_are_no_schema_change(
    defs, instance, simulator, sim_data
):
    load_everything(defs, instance)
    new = sim_data.add_workflow(uid="wf-new-scraper")
    sim_data.add_job(new["uid"], "finished", 2, result_fields={"github_url": "https://x"})
    assert run_workspace(defs, instance).success  # registers its partition
    result = run_partition(defs, instance, new["uid"])
    assert result.success
    (evaluation,) = evaluations(result, "column_schema_change")
    assert (evaluation.partition, evaluation.passed, evaluation.description) == (
        "wf-new-scraper",
        True,
        "no earlier results of this workflow to compare with.",
    )
    assert _values(evaluation) == {
        "added_columns": [],
        "removed_columns": [],
        "retyped_columns": {},
    }


def _schema_evaluations(instance) -> list:
    key = AssetCheckKey(AssetKey("job_results"), "column_schema_change")
    history = instance.event_log_storage.get_asset_check_execution_history(key, limit=50)
    return [r.event.dagster_event.event_specific_data for r in history]


# ------------------------------------------------- the workspace endpoint's own rate limit
QUOTA_RATE = 5 / 60  # the vendor's quota endpoint on a trial plan: 5 requests per minute


def test_a_429_on_workspace_is_learned_by_its_own_budget_not_the_keys(
    defs, instance, simulator, api_resource, clock
):
    simulator.workspace_rate_limit = QUOTA_RATE
    simulator._clock = clock.monotonic  # the fake clock's waits refill the simulator's bucket
    assert run_workspace(defs, instance).success
    result = run_workspace(defs, instance)  # its workspace request is answered 429 first
    assert result.success
    assert clock.sleeps == [12.0]  # the Retry-After, then the request went through
    assert simulator.request_count("/v3/workspace") == 3
    settings = api_resource.settings()
    assert open_store(settings, clock).read().rate is None  # the key's budget learned nothing
    assert open_store(settings, clock, scope="quota").read().rate == pytest.approx(QUOTA_RATE)
    workflows = result.asset_materializations_for_node("analytics_workspace_assets")
    limits = {m.asset_key.path[-1]: m.metadata["api_rate_limit"].value for m in workflows}
    assert limits["workflows"] == "none (unthrottled until the API answers 429)"
    (evaluation,) = evaluations(result, "quota_forecast")
    assert evaluation.description.startswith("No forecast: the billing period ended")


def test_a_workspace_endpoint_that_stays_429_loads_no_row_and_fails_nothing(
    instance, simulator, sim_data, duckdb_path, clock
):
    resource = resource_for(simulator.base_url, duckdb_path, rate_limit_timeout=30)
    defs, defs_settings = make_defs(resource, clock=clock), resource.settings()
    assert run_workspace(defs, instance).success
    simulator.data.add_workflow(uid="wf-added-while-limited")
    simulator._clock = lambda: 0.0  # the simulator's time stands still: no token comes back
    simulator.workspace_rate_limit = QUOTA_RATE
    assert http(f"{simulator.base_url}/v3/workspace", key=API_KEY)[0] == 200  # spends it
    result = run_workspace(defs, instance)
    assert result.success
    assert "wf-added-while-limited" in instance.get_dynamic_partitions("workflow_uids")
    assert fetch(duckdb_path, "SELECT count(*) FROM analytics.workflows") == [
        (len(sim_data.workflows),)
    ]
    (evaluation,) = evaluations(result, "quota_forecast")
    assert (evaluation.passed, evaluation.description) == (
        True,
        "No forecast: this run loaded no workspace row (see its log: a /v3/workspace that "
        "stays rate limited keeps the last row).",
    )
    # Each 429's Retry-After (12 s), and between them the endpoint's own budget pacing at the
    # rate it learned (lowered 20% per further 429), until the 30 s timeout: 4 requests.
    assert clock.sleeps == [12.0, 12.0, 3.301, 12.0, 7.126]
    assert simulator.request_count("/v3/workspace") == 2 + 4
    assert open_store(defs_settings, clock).read().rate is None  # the key's budget: untaught


# ------------------------------------------------------------------------------ the sensor
def test_the_sensor_requests_a_workspace_load_every_refresh_period_not_every_tick(
    simulator, duckdb_path
):
    resource = resource_for(simulator.base_url, duckdb_path, sensor_workspace_refresh_seconds=900)
    defs = make_defs(resource, sensor_interval_seconds=300, clock=FakeClock())
    workspace_runs = workspace_run_keys(defs, 7)
    digest = workspace_runs[0][0]
    assert workspace_runs == [[digest], [], [], [f"{digest}:4"], [], [], [f"{digest}:7"]]
    assert ApiSettings.__dataclass_fields__["sensor_workspace_refresh_seconds"].default == 3600


# ------------------------------------------------------------------- a component instance
def test_a_prefixed_instance_evaluates_its_prefixed_checks(
    instance, simulator, sim_data, duckdb_path
):
    sim_data.set_workspace(**quota_workspace("exhausted", _now(FakeClock())))
    resource = resource_for(simulator.base_url, duckdb_path)
    defs = build_definitions("sales", resource=resource, clock=FakeClock())
    result = defs.resolve_job_def("sales_workspace_job").execute_in_process(instance=instance)
    assert result.success
    (evaluation,) = evaluations(result, "sales_quota_forecast")
    assert evaluation.asset_key == AssetKey(["sales", "workspace"])
    assert (evaluation.passed, evaluation.severity) == (False, AssetCheckSeverity.ERROR)
    uid = sim_data.workflows[0]["uid"]
    result = defs.resolve_job_def("sales_workflow_partition_job").execute_in_process(
        instance=instance, partition_key=uid
    )
    assert result.success
    names = {
        (e.asset_key.to_user_string(), e.check_name) for e in result.get_asset_check_evaluations()
    }
    assert names == {
        ("sales/jobs", "sales_failed_jobs"),
        ("sales/successful_jobs", "sales_successful_jobs_filter"),
        ("sales/job_results", "sales_column_schema_change"),
    }
