"""Loads the Captain Data API v3 into a warehouse through dlt, as Dagster assets.

    from analytics_assets import AnalyticsApiComponent   # the dg component type
    from analytics_assets import build_definitions       # one instance, in Python
    from analytics_assets import analytics_source        # the plain dlt source

Exports load on first use, so `import analytics_assets.definitions` pays only for itself.
Importing, building definitions or the component and running loads change nothing else in
the process (no environment variable, no global dlt, Arrow, logging or warnings setting):
what only the shipped code location wants is set in its entry point, `definitions.py`.
"""

import importlib
from typing import Any

EXPORTS = {
    "AnalyticsApiComponent": "analytics_assets.defs.component",
    "AnalyticsApiResource": "analytics_assets.defs.resources",
    "build_definitions": "analytics_assets.defs.factory",
    "analytics_source": "analytics_assets.api.source",
    "job_results_source": "analytics_assets.api.source",
    "ApiSettings": "analytics_assets.settings",
    "resolve_settings": "analytics_assets.settings",
}
__all__ = sorted(EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in EXPORTS:
        raise AttributeError(f"module 'analytics_assets' has no attribute {name!r}")
    return getattr(importlib.import_module(EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *EXPORTS])
