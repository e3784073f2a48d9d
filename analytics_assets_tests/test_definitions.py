"""Pins the public surface: a rename must be a visible decision, not an accident."""

import os
import subprocess
import sys

import pytest
from dagster import AssetKey, AssetsDefinition, DefaultSensorStatus, DynamicPartitionsDefinition

from analytics_assets.definitions import defs
from analytics_assets.settings import ApiSettings, ScheduleSettings, declared_fields

PARTITIONED = {"jobs", "successful_jobs", "job_results"}


def test_asset_keys_dependencies_and_partitions_are_pinned():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == {"workspace", "workflows", "jobs", "successful_jobs", "job_results"}
    parents = {
        key.to_user_string(): sorted(p.to_user_string() for p in graph.get(key).parent_keys)
        for key in graph.get_all_asset_keys()
    }
    assert parents == {
        "workspace": [],
        "workflows": [],
        "jobs": ["workflows"],
        "successful_jobs": ["workflows"],
        "job_results": ["successful_jobs"],
    }
    for key in graph.get_all_asset_keys():
        partitions_def = graph.get(key).partitions_def
        if key.to_user_string() in PARTITIONED:
            assert isinstance(partitions_def, DynamicPartitionsDefinition)
            assert partitions_def.name == "workflow_uids"
        else:
            assert partitions_def is None


def test_check_sensor_and_jobs_are_pinned():
    graph = defs.resolve_asset_graph()
    checks = {(k.asset_key, k.name): graph.get_check_spec(k) for k in graph.asset_check_keys}
    assert set(checks) == {
        (AssetKey("successful_jobs"), "successful_jobs_filter"),
        (AssetKey("workspace"), "quota_forecast"),
        (AssetKey("jobs"), "failed_jobs"),
        (AssetKey("job_results"), "column_schema_change"),
    }
    blocking = {name for (_, name), spec in checks.items() if spec.blocking}
    assert blocking == {"successful_jobs_filter"}  # the attention checks never block a load
    partitioned = {
        name
        for (_, name), spec in checks.items()
        if isinstance(spec.partitions_def, DynamicPartitionsDefinition)
    }
    assert partitioned == {"successful_jobs_filter", "failed_jobs", "column_schema_change"}
    assert {
        spec.partitions_def.name
        for spec in checks.values()
        if isinstance(spec.partitions_def, DynamicPartitionsDefinition)
    } == {"workflow_uids"}
    names = [s.name for s in defs.sensors or []]
    assert names == ["workflow_refresh_sensor", "workflow_webhook_sensor"]
    for sensor in defs.sensors or []:
        assert sensor.default_status == DefaultSensorStatus.RUNNING
        targets = sorted(t.job_name for t in sensor.targets)
        assert targets == ["workflow_partition_job", "workspace_job"]
    assert sorted(j.name for j in defs.jobs or []) == ["workflow_partition_job", "workspace_job"]
    assert {k: type(v).__name__ for k, v in (defs.resources or {}).items()} == {
        "dlt": "DagsterDltResource",
        "analytics_api": "AnalyticsApiResource",
    }


def test_multi_asset_names_are_pinned():
    # The op names appear in run config (e.g. job_results' `full_refresh`) and in the UI.
    assets = list(defs.assets or [])
    multi_assets = [ad for ad in assets if isinstance(ad, AssetsDefinition)]
    assert multi_assets == assets  # no bare specs or source assets
    ops = {ad.node_def.name: sorted(k.to_user_string() for k in ad.keys) for ad in multi_assets}
    assert ops == {
        "analytics_workspace_assets": ["workflows", "workspace"],
        "analytics_workflow_jobs_assets": ["jobs", "successful_jobs"],
        "analytics_job_results_assets": ["job_results"],
    }


def test_environment_variable_names_are_pinned():
    declared = {
        f.name: d.env for cls in (ApiSettings, ScheduleSettings) for f, d in declared_fields(cls)
    }
    assert declared == {
        "base_url": "ANALYTICS_API_BASE_URL",
        "api_key": "ANALYTICS_API_KEY",
        "project_id": "ANALYTICS_PROJECT_ID",
        "duckdb_path": "ANALYTICS_DUCKDB_PATH",
        "duckdb_lock_timeout_seconds": "ANALYTICS_DUCKDB_LOCK_TIMEOUT_SECONDS",
        "pipelines_dir": "ANALYTICS_DLT_PIPELINES_DIR",
        "max_retries": "ANALYTICS_API_MAX_RETRIES",
        "backoff_factor": "ANALYTICS_API_BACKOFF_FACTOR",
        "max_retry_delay": "ANALYTICS_API_MAX_RETRY_DELAY",
        "request_timeout": "ANALYTICS_API_REQUEST_TIMEOUT",
        "sensor_interval_seconds": "ANALYTICS_SENSOR_INTERVAL_SECONDS",
        "destination": "ANALYTICS_DESTINATION",
        "fetch_concurrency": "ANALYTICS_API_FETCH_CONCURRENCY",
        "rate_limit": "ANALYTICS_API_RATE_LIMIT",
        "rate_limit_store": "ANALYTICS_API_RATE_LIMIT_STORE",
        "rate_limit_timeout": "ANALYTICS_API_RATE_LIMIT_TIMEOUT",
        "sensor_tick_budget_seconds": "ANALYTICS_SENSOR_TICK_BUDGET_SECONDS",
        "sensor_max_partitions_per_run": "ANALYTICS_SENSOR_MAX_PARTITIONS_PER_RUN",
        "sensor_workspace_refresh_seconds": "ANALYTICS_SENSOR_WORKSPACE_REFRESH_SECONDS",
        "webhook_secret": "ANALYTICS_WEBHOOK_SECRET",
        "webhook_sensor_interval_seconds": "ANALYTICS_WEBHOOK_SENSOR_INTERVAL_SECONDS",
    }


@pytest.mark.subprocess
def test_importing_the_code_location_reads_no_environment_and_opens_nothing():
    # With no ANALYTICS_* variable set, the module must still import (settings are lazy).
    code = "import analytics_assets.definitions"
    env_free = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    done = subprocess.run([sys.executable, "-c", code], env=env_free, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]


@pytest.mark.subprocess
def test_the_library_sets_no_environment_variable_and_freezes_nothing():
    # In a fresh interpreter, as another team's project uses it: only the code location's
    # entry point (`definitions.py`) picks Arrow's allocator and freezes the import.
    code = (
        "import gc, os; before = dict(os.environ); import analytics_assets; "
        "analytics_assets.build_definitions(); analytics_assets.AnalyticsApiComponent; "
        "print(dict(os.environ) == before, gc.get_freeze_count())"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "0"]


@pytest.mark.subprocess
def test_importing_the_code_location_freezes_its_objects_and_picks_arrows_allocator():
    # In a fresh interpreter: the objects of the import are out of the collector's reach, and
    # Arrow allocates with malloc (unless the environment chose otherwise).
    code = (
        "import gc; import analytics_assets.definitions; import pyarrow as pa; "
        "print(gc.get_freeze_count(), pa.default_memory_pool().backend_name)"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    run = [sys.executable, "-c", code]
    frozen, backend = subprocess.run(
        run, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(frozen) > 100_000 and backend == "system"
    chosen = {**env, "ARROW_DEFAULT_MEMORY_POOL": "jemalloc"}
    out = subprocess.run(run, env=chosen, capture_output=True, text=True, check=True)
    assert out.stdout.split()[1] == "jemalloc"
