"""How each dlt resource appears in Dagster: plain keys, real dependencies, one group."""

from __future__ import annotations

from dagster import AssetKey, AssetSpec
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData

from analytics_assets import constants as c

# dagster-dlt's default deps point at stub assets; these are the real upstream tables.
UPSTREAM = {
    c.WORKSPACE: [],
    c.WORKFLOWS: [],
    c.JOBS: [c.WORKFLOWS],
    c.SUCCESSFUL_JOBS: [c.WORKFLOWS],
    c.JOB_RESULTS: [c.SUCCESSFUL_JOBS],
}


class AnalyticsDltTranslator(DagsterDltTranslator):
    """Asset key = API resource name = table name."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        name = data.resource.name
        return spec.replace_attributes(
            key=AssetKey(name),
            deps=[AssetKey(upstream) for upstream in UPSTREAM[name]],
            group_name="analytics",
            kinds={"dlt", "duckdb"},
        )
