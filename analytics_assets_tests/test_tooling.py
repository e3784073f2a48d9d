"""The README's `dg` and `dlt pipeline` recipes as subprocesses, in the README's environment
(the venv activated): no deprecation or venv warning on the way."""

import json
import os
import subprocess

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from analytics_assets.warehouse.pipelines import pipeline_name
from analytics_assets_tests.support import (
    API_KEY,
    BIN,
    ROOT,
    assert_full_load,
    count,
    make_home,
    subprocess_env,
)

pytestmark = pytest.mark.subprocess

ASSETS = {"workspace", "workflows", "jobs", "successful_jobs", "job_results"}


# What Dagster 1.13 prints for a superseded command, and dg for a venv that is not the active one.
WARNINGS = ("SupersessionWarning", "is superseded", "does not match the virtual environment")


@pytest.fixture
def tool_env(tmp_path) -> dict[str, str]:
    """A temp instance with the shipped dagster.yaml, no ANALYTICS_* from the caller, and what
    the README's `source .venv/bin/activate` sets."""
    venv = ROOT / ".venv"
    return subprocess_env(
        make_home(tmp_path),
        NO_COLOR="1",
        COLUMNS="200",
        VIRTUAL_ENV=str(venv),
        PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    )


def run(env: dict[str, str], *cmd: str) -> str:
    """Run a console script of the venv from the repo root; its stdout and stderr, joined."""
    return "\n".join(run_split(env, *cmd))


def run_split(env: dict[str, str], *cmd: str) -> tuple[str, str]:
    """Run it; fail with its output if it fails or shows the API key."""
    done = subprocess.run(
        [str(BIN / cmd[0]), *cmd[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = f"{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode}:\n{output[-4000:]}"
    assert API_KEY not in output
    assert [w for w in WARNINGS if w in output] == [], output[-4000:]
    return done.stdout, done.stderr


def test_dg_check_defs_passes_from_the_repo_root(tool_env):
    output = run(tool_env, "dg", "check", "defs")
    assert "All definitions loaded successfully." in output


def test_dg_list_defs_shows_every_asset_check_job_sensor_and_resource(tool_env):
    listed = json.loads(run_split(tool_env, "dg", "list", "defs", "--json")[0])
    deps = {a["asset_key"]: sorted(a["dependency_keys"]) for a in listed["assets"]}
    assert deps == {
        "workspace": [],
        "workflows": [],
        "jobs": ["workflows"],
        "successful_jobs": ["workflows"],
        "job_results": ["successful_jobs"],
    }
    assert sorted(c["key"] for c in listed["asset_checks"]) == [
        "job_results:column_schema_change",
        "jobs:failed_jobs",
        "successful_jobs:successful_jobs_filter",
        "workspace:quota_forecast",
    ]
    assert sorted(j["name"] for j in listed["jobs"]) == ["workflow_partition_job", "workspace_job"]
    assert [s["name"] for s in listed["sensors"]] == [
        "workflow_refresh_sensor",
        "workflow_webhook_sensor",
    ]
    assert listed["schedules"] == []
    assert sorted(r["name"] for r in listed["resources"]) == ["analytics_api", "dlt"]


def test_dg_launch_loads_the_workspace_then_a_partition_and_dlt_cli_sees_both_pipelines(
    tool_env, simulator, sim_data, duckdb_path
):
    env = dict(
        tool_env,
        ANALYTICS_API_BASE_URL=simulator.base_url,
        ANALYTICS_API_KEY=API_KEY,
        ANALYTICS_DUCKDB_PATH=str(duckdb_path),
    )
    run(env, "dg", "launch", "--assets", "workspace,workflows")
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        partitions = instance.get_dynamic_partitions("workflow_uids")
    assert sorted(partitions) == sorted(w["uid"] for w in sim_data.workflows)
    assert count(duckdb_path, "workspace") == 1
    assert count(duckdb_path, "workflows") == len(sim_data.workflows)

    uid = next(w["uid"] for w in sim_data.workflows if sim_data.successful_jobs(w["uid"]))
    run(env, "dg", "launch", "--assets", "jobs,successful_jobs,job_results", "--partition", uid)
    successful = sim_data.successful_jobs(uid)
    assert count(duckdb_path, "jobs") == len(sim_data.jobs[uid])
    assert count(duckdb_path, "successful_jobs") == len(successful)
    assert count(duckdb_path, "job_results") == sum(
        len(sim_data.results[j["uid"]]) for j in successful
    )
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs()
        assert {r.status for r in runs} == {DagsterRunStatus.SUCCESS}
        assert sorted(r.tags.get("dagster/partition", "") for r in runs) == ["", uid]
        checks = [
            data.passed
            for r in runs
            for record in instance.all_logs(
                r.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
            )
            if (data := record.get_dagster_event().asset_check_evaluation_data).check_name
            == "successful_jobs_filter"
        ]
    assert checks == [True]

    # The README's dlt recipe: the pipelines live beside the warehouse.
    pipelines_dir = str(duckdb_path.parent / "dlt_pipelines")
    listing = run(env, "dlt", "pipeline", "--list-pipelines", "--pipelines-dir", pipelines_dir)
    assert "analytics (last run" in listing
    assert f"{pipeline_name(uid)} (last run" in listing
    assert pipeline_name(uid).startswith("analytics_wf_")
    info = run(env, "dlt", "pipeline", "--pipelines-dir", pipelines_dir, pipeline_name(uid), "info")
    assert f"pipeline_name: {pipeline_name(uid)}" in info
    trace = run(env, "dlt", "pipeline", "--pipelines-dir", pipelines_dir, "analytics", "trace")
    assert f"- workflows: {len(sim_data.workflows)} row(s)" in trace
    assert "- workspace: 1 row(s)" in trace


def test_readme_range_recipe_loads_every_partition_in_one_dg_launch_run(
    tool_env, simulator, sim_data, duckdb_path
):
    env = dict(
        tool_env,
        ANALYTICS_API_BASE_URL=simulator.base_url,
        ANALYTICS_API_KEY=API_KEY,
        ANALYTICS_DUCKDB_PATH=str(duckdb_path),
    )
    run(env, "dg", "launch", "--assets", "workspace,workflows")
    # The README's snippet, verbatim, with the venv's `python` on PATH.
    snippet = (
        "from dagster import DagsterInstance as I\n"
        'k = I.get().get_dynamic_partitions("workflow_uids"); print(f"{k[0]}...{k[-1]}")'
    )
    assert snippet in (ROOT / "README.md").read_text()
    partition_range = run_split(env, "python", "-c", snippet)[0].strip()
    run(
        env,
        "dg",
        "launch",
        "--assets",
        "jobs,successful_jobs,job_results",
        "--partition-range",
        partition_range,
    )
    assert_full_load(duckdb_path, sim_data)
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs()
    assert len(runs) == 2 and {r.status for r in runs} == {DagsterRunStatus.SUCCESS}
