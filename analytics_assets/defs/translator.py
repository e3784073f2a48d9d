"""How each dlt resource appears in Dagster: plain keys, real dependencies, one group."""

from __future__ import annotations

import os

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


OWNERS = ["team:data-engineering"]


def destination_kind() -> str:
    """The warehouse's badge in the UI. The one setting read when definitions load: it only
    labels assets (nothing fails or connects), and the UI should name the real warehouse.
    """
    return (os.environ.get(c.ENV_DESTINATION) or c.DEFAULT_DESTINATION).strip().lower()


class AnalyticsDltTranslator(DagsterDltTranslator):
    """Asset key = API resource name = table name."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        name = data.resource.name
        key = data.resource.compute_table_schema().get("columns", {})
        primary_key = ", ".join(n for n, col in key.items() if col.get("primary_key"))
        where = (
            f"\n\nTable `{c.DATASET_NAME}.{name}`, merged on `{primary_key}`: re-runs never "
            "duplicate a row, and rows the API stops returning stay."
        )
        return spec.replace_attributes(
            key=AssetKey(name),
            deps=[AssetKey(upstream) for upstream in UPSTREAM[name]],
            description=(spec.description or "") + where,
            group_name="analytics",
            owners=OWNERS,
            kinds={"dlt", destination_kind()},
        )
