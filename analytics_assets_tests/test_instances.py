"""Instances side by side: what `key_prefix` renames, what stays shared, freshness and lineage."""

from datetime import timedelta

import duckdb
from dagster import (
    AssetKey,
    DagsterInstance,
    Definitions,
    FreshnessPolicy,
    materialize,
)

from analytics_assets.api.job_rows import is_successful
from analytics_assets.defs.declared import API_ASSETS
from analytics_assets.defs.factory import FRESHNESS_INTERVALS, build_definitions
from analytics_assets.defs.resources import AnalyticsApiResource
from analytics_assets.defs.translator import Presentation
from analytics_assets_tests.support import workspace_run_keys
from analytics_dev.simulator import ApiSimulator, SimulatedData

RESOURCES = [asset.name for asset in API_ASSETS]


def _resource(sim: ApiSimulator, duckdb_path) -> AnalyticsApiResource:
    return AnalyticsApiResource(
        base_url=sim.base_url,
        api_key=sim.api_key,
        destination="duckdb",
        duckdb_path=str(duckdb_path),
    )


def _names(defs: Definitions) -> dict[str, set[str]]:
    graph = defs.resolve_asset_graph()
    return {
        "assets": {k.to_user_string() for k in graph.get_all_asset_keys()},
        "checks": {f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys},
        "jobs": {j.name for j in defs.jobs or []},
        "sensors": {s.name for s in defs.sensors or []},
        "resources": set(defs.resources or {}),
        "partitions": {
            defs.get_assets_def(AssetKey(["sales", "jobs"])).partitions_def.name  # type: ignore[union-attr]
        },
    }


def test_a_prefix_renames_every_name_an_instance_owns_and_keeps_the_pool():
    defs = build_definitions("sales", sensor_interval_seconds=60)
    assert _names(defs) == {
        "assets": {f"sales/{r}" for r in RESOURCES},
        "checks": {
            "sales/successful_jobs:sales_successful_jobs_filter",
            "sales/workspace:sales_quota_forecast",
            "sales/jobs:sales_failed_jobs",
            "sales/job_results:sales_column_schema_change",
        },
        "jobs": {"sales_workspace_job", "sales_workflow_partition_job"},
        "sensors": {"sales_workflow_refresh_sensor", "sales_workflow_webhook_sensor"},
        "resources": {"sales_analytics_api", "sales_dlt"},
        "partitions": {"sales_workflow_uids"},
    }
    jobs = defs.get_assets_def(AssetKey(["sales", "jobs"]))
    assert jobs.op.name == "sales_analytics_workflow_jobs_assets"
    assert jobs.specs_by_key[AssetKey(["sales", "jobs"])].group_name == "sales_analytics"
    assert jobs.op.pool == "analytics_warehouse"  # one DuckDB writer, whoever writes


def test_two_instances_merge_into_one_project_and_load_one_duckdb_file_in_two_datasets(
    tmp_path, duckdb_path
):
    data = {"sales": SimulatedData(seed=3, workflows=2), "marketing": SimulatedData(seed=5)}
    with (
        ApiSimulator(data["sales"], api_key="sales-key") as sales,
        ApiSimulator(data["marketing"], api_key="marketing-key") as marketing,
    ):
        sims = {"sales": sales, "marketing": marketing}
        defs = Definitions.merge(
            *(build_definitions(p, resource=_resource(s, duckdb_path)) for p, s in sims.items())
        )
        with DagsterInstance.ephemeral() as instance:
            for prefix in sims:
                assert (
                    defs.resolve_job_def(f"{prefix}_workspace_job")
                    .execute_in_process(instance=instance)
                    .success
                )
                uids = instance.get_dynamic_partitions(f"{prefix}_workflow_uids")
                assert uids == [w["uid"] for w in data[prefix].workflows]
                keys = [AssetKey([prefix, r]) for r in ("jobs", "successful_jobs", "job_results")]
                assets = [defs.get_assets_def(k) for k in keys]
                for uid in uids:
                    result = materialize(
                        list(dict.fromkeys(assets)),
                        instance=instance,
                        partition_key=uid,
                        resources=dict(defs.resources or {}),
                        selection=keys,
                    )
                    assert result.success
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        for prefix, sim_data in data.items():
            jobs = sim_data.all_jobs()
            successful = [j for j in jobs if is_successful(j)]
            got = {
                t: con.execute(f"SELECT count(*) FROM {prefix}_analytics.{t}").fetchone()[0]  # type: ignore[index]
                for t in RESOURCES
            }
            assert got == {
                "workspace": 1,
                "workflows": len(sim_data.workflows),
                "jobs": len(jobs),
                "successful_jobs": len(successful),
                "job_results": sum(sim_data.result_count(j["uid"]) for j in successful),
            }


def test_assets_carry_a_freshness_window_of_the_sensor_interval_and_true_column_lineage():
    defs = build_definitions(sensor_interval_seconds=60)
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        window = timedelta(seconds=60 * FRESHNESS_INTERVALS)
        assert graph.get(key).freshness_policy == FreshnessPolicy.time_window(fail_window=window)
    lineage = graph.get(AssetKey("job_results")).metadata["dagster/column_lineage"]
    deps = lineage.deps_by_column["job_uid"]
    assert [(d.asset_key, d.column_name) for d in deps] == [(AssetKey("successful_jobs"), "uid")]
    copied = graph.get(AssetKey("successful_jobs")).metadata["dagster/column_lineage"]
    assert set(copied.deps_by_column) == {"uid", "workflow_uid", "status", "total_row_count"}
    off = build_definitions(presentation=Presentation(freshness=timedelta(0)))
    assert all(
        off.resolve_asset_graph().get(k).freshness_policy is None
        for k in off.resolve_asset_graph().get_all_asset_keys()
    )


def test_the_sensor_refreshes_the_workspace_every_half_freshness_window_when_nothing_changes(
    simulator, duckdb_path
):
    defs = build_definitions(
        resource=_resource(simulator, duckdb_path),
        sensor_interval_seconds=300,
        presentation=Presentation(freshness=timedelta(seconds=1200)),  # every second tick
    )
    workspace_runs = workspace_run_keys(defs, 5)
    digest = workspace_runs[0][0]
    assert workspace_runs == [[digest], [], [f"{digest}:3"], [], [f"{digest}:5"]]
