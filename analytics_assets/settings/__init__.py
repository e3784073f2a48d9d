"""Every setting, declared once (`declared.py`): name, variable, type, default, description,
secret or not.

`ApiSettings` is the declaration: each field's metadata names its variable and describes it,
its annotation is its type, its default is the default. The resource's fields, resolution
from the environment, validation, `.env.example` and the README's table all derive from it
(a test compares the last two). Plain Python, no Dagster, so the dlt source runs on its own.
Values are resolved at run time, never at import time.
"""

from analytics_assets.settings.declared import (
    ApiSettings,
    ScheduleSettings,
    default_duckdb_path,
    env_name,
    project_root,
)
from analytics_assets.settings.fields import (
    AnalyticsConfigError,
    Declared,
    declared_fields,
    default_of,
    value_type,
)
from analytics_assets.settings.resolve import resolve_schedule, resolve_settings
from analytics_assets.settings.rules import validate_base_url, validate_header_value

__all__ = [
    "AnalyticsConfigError",
    "ApiSettings",
    "Declared",
    "ScheduleSettings",
    "declared_fields",
    "default_duckdb_path",
    "default_of",
    "env_name",
    "project_root",
    "resolve_schedule",
    "resolve_settings",
    "validate_base_url",
    "validate_header_value",
    "value_type",
]
