"""The component's attributes: every declared setting by name, env templates bound as EnvVar,
and what users tune (sensor status, freshness, group, owners, tags)."""

import dataclasses

from dagster import AssetKey, DefaultSensorStatus, EnvVar
from dagster.components.testing import create_defs_folder_sandbox

from analytics_assets import AnalyticsApiComponent
from analytics_assets.settings import ApiSettings, ScheduleSettings

COMPONENT = "analytics_assets.AnalyticsApiComponent"
TUNED = {"key_prefix", "sensor_default_status", "freshness_window_seconds", "group", "owners"}


def test_attributes_are_every_setting_under_its_resource_name_plus_what_users_tune():
    settings = [f.name for cls in (ApiSettings, ScheduleSettings) for f in dataclasses.fields(cls)]
    assert set(AnalyticsApiComponent.model_fields) == {*settings, *TUNED, "tags"}


def test_yaml_attributes_build_a_prefixed_instance_with_env_bound_secrets(monkeypatch):
    monkeypatch.setenv("SALES_API_KEY", "sk-sales-not-in-any-config")
    monkeypatch.setenv("SALES_BASE_URL", "https://api.captaindata.co")
    monkeypatch.setenv("SALES_INTERVAL", "120")
    attributes = {
        "key_prefix": "sales",
        "base_url": "{{ env('SALES_BASE_URL') }}",
        "api_key": "{{ env.SALES_API_KEY }}",
        "rate_limit": 2.5,
        "project_id": "{{ env.SALES_PROJECT_ID_UNSET }}",  # unset: falls back, no EnvVar
        "sensor_interval_seconds": "{{ env.SALES_INTERVAL }}",
        "sensor_default_status": "stopped",
        "freshness_window_seconds": 0,
        "group": "crm",
        "owners": ["team:sales-data"],
        "tags": {"domain": "sales"},
    }
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            AnalyticsApiComponent,
            defs_yaml_contents={
                "type": "analytics_assets.AnalyticsApiComponent",
                "attributes": attributes,
            },
        )
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            resource = (defs.resources or {})["sales_analytics_api"]
            assert isinstance(resource.api_key, EnvVar) and resource.api_key == "SALES_API_KEY"
            assert isinstance(resource.base_url, EnvVar) and resource.base_url == "SALES_BASE_URL"
            assert resource.rate_limit == 2.5 and resource.project_id is None
            assert "sk-sales-not-in-any-config" not in repr(component) + repr(resource)
            sensor = defs.resolve_sensor_def("sales_workflow_refresh_sensor")
            assert sensor.default_status == DefaultSensorStatus.STOPPED
            assert sensor.minimum_interval_seconds == 120  # read when definitions load
            spec = defs.resolve_asset_graph().get(AssetKey(["sales", "jobs"]))
            assert (spec.group_name, spec.owners, spec.freshness_policy) == (
                "crm",
                ["team:sales-data"],
                None,
            )
            assert {k: spec.tags[k] for k in ("domain", "source")} == {
                "domain": "sales",
                "source": "captain_data",
            }


def test_scaffolded_yaml_names_the_instance_and_reads_its_settings_from_the_environment():
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(AnalyticsApiComponent, defs_path="marketing")
        text = (path / "defs.yaml").read_text()
    assert "type: analytics_assets.AnalyticsApiComponent" in text
    assert "key_prefix: marketing" in text
    assert "{{ env.MARKETING_ANALYTICS_API_KEY }}" in text
