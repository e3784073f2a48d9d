"""Pins the public surface: a rename must be a visible decision, not an accident."""

import subprocess
import sys

from dagster import AssetKey, DynamicPartitionsDefinition

from analytics_assets.definitions import defs

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
    checks = {(k.asset_key, k.name) for k in graph.asset_check_keys}
    assert checks == {(AssetKey("successful_jobs"), "successful_jobs_filter")}
    assert [s.name for s in defs.sensors or []] == ["workflow_refresh_sensor"]
    assert sorted(j.name for j in defs.jobs or []) == ["workflow_partition_job", "workspace_job"]
    assert set(defs.resources or {}) == {"dlt", "analytics_api"}


def test_importing_the_code_location_reads_no_environment_and_opens_nothing():
    # With no ANALYTICS_* variable set, the module must still import (settings are lazy).
    code = "import analytics_assets.definitions"
    env_free = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    done = subprocess.run([sys.executable, "-c", code], env=env_free, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
