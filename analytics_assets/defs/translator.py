"""How each dlt resource appears in Dagster: keys from the instance's names, real
dependencies, column lineage, group, owners, tags, kinds and freshness."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from dagster import AssetSpec, FreshnessPolicy, TableColumnDep, TableColumnLineage
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData

from analytics_assets.defs.declared import api_asset
from analytics_assets.defs.names import Names
from analytics_assets.settings import ApiSettings, env_name

DEFAULT_OWNERS = ("team:data-engineering",)
# On every asset, under the tags users add: where the rows come from.
DEFAULT_TAGS = {"source": "captain_data"}


@dataclass(frozen=True)
class Presentation:
    """What users tune about how the assets appear: group, owners, tags, freshness."""

    group: str | None = None  # None: the instance's names decide (`analytics`, `P_analytics`)
    owners: Sequence[str] = DEFAULT_OWNERS
    tags: Mapping[str, str] = field(default_factory=dict)
    # Not materialized for this long is stale; None: derived from the sensor interval, 0: off.
    freshness: timedelta | None = None


def destination_kind() -> str:
    """The warehouse's badge in the UI. The one setting read when definitions load: it only
    labels assets (nothing fails or connects), and the UI should name the real warehouse."""
    default = str(ApiSettings.destination)
    return (os.environ.get(env_name("destination")) or default).strip().lower()


class AnalyticsDltTranslator(DagsterDltTranslator):
    """Asset key = the instance's key of the API resource name = table name."""

    def __init__(self, names: Names, presentation: Presentation, kind: str | None = None):
        self.names = names
        self.presentation = presentation
        self.kind = kind or destination_kind()

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        name = data.resource.name
        declared = api_asset(name)
        columns = data.resource.compute_table_schema().get("columns", {})
        primary_key = ", ".join(n for n, col in columns.items() if col.get("primary_key"))
        where = (
            f"\n\nTable `{self.names.layout.dataset}.{name}`, merged on `{primary_key}`: "
            "re-runs never duplicate a row, and rows the API stops returning stay."
        )
        shown = self.presentation
        metadata = dict(spec.metadata or {})
        if declared.lineage:
            metadata["dagster/column_lineage"] = self.lineage(name)
        return spec.replace_attributes(
            key=self.names.key(name),
            # dagster-dlt's default deps point at stub assets; these are the real upstream tables.
            deps=[self.names.key(upstream) for upstream in declared.upstream],
            description=(spec.description or "") + where,
            group_name=shown.group or self.names.group,
            owners=list(shown.owners),
            kinds={"dlt", self.kind},
            tags={**spec.tags, **DEFAULT_TAGS, **shown.tags},
            metadata=metadata,
            freshness_policy=(
                FreshnessPolicy.time_window(fail_window=shown.freshness)
                if shown.freshness
                else None
            ),
        )

    def lineage(self, table: str) -> TableColumnLineage:
        return TableColumnLineage(
            deps_by_column={
                column: [
                    TableColumnDep(asset_key=self.names.key(up), column_name=up_column)
                    for up, up_column in sources
                ]
                for column, sources in api_asset(table).lineage.items()
            }
        )
