"""The settings' documentation agrees with their one declaration (analytics_assets/settings)."""

import dataclasses

from analytics_assets.defs.resources import AnalyticsApiResource
from analytics_assets.settings import ApiSettings, ScheduleSettings, declared_fields
from analytics_dev.settings_docs import ROOT, env_example, readme_with_table


def test_env_example_lists_every_setting_as_declared():
    assert (ROOT / ".env.example").read_text() == env_example(), (
        "regenerate with: python -m analytics_dev.settings_docs --write"
    )


def test_readme_settings_table_is_the_declared_one():
    readme = (ROOT / "README.md").read_text()
    assert readme_with_table(readme) == readme, (
        "regenerate with: python -m analytics_dev.settings_docs --write"
    )
    for cls in (ApiSettings, ScheduleSettings):
        for f, declared in declared_fields(cls):
            assert f"| `{f.name}` | `{declared.env}` |" in readme  # a row per setting


def test_resource_has_exactly_one_optional_field_per_run_time_setting():
    fields = AnalyticsApiResource.model_fields
    assert list(fields) == [f.name for f in dataclasses.fields(ApiSettings)]
    for f, declared in declared_fields(ApiSettings):
        assert fields[f.name].default is None
        assert declared.env in (fields[f.name].description or "")
