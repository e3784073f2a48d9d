"""Every name one instance owns, from one optional prefix.

Without a prefix the names are the shipped code location's; with `P` every asset key is
`P/<resource>` and every other name starts with `P_`, so instances side by side in one
Dagster project and one warehouse never collide. The writer pool stays shared: DuckDB takes
one writer per file, whoever writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dagster import AssetKey

from analytics_assets import constants as c
from analytics_assets.warehouse.pipelines import Layout

# Short enough that every dlt pipeline and schema name it starts stays within dlt's 64.
PREFIX_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,23}$")


@dataclass(frozen=True)
class Names:
    prefix: str | None = None

    def __post_init__(self) -> None:
        if self.prefix is not None and not PREFIX_PATTERN.match(self.prefix):
            raise ValueError(
                f"key_prefix {self.prefix!r} must start with a letter and hold only letters, "
                "digits and underscores, at most 24 (it names assets, jobs, a dataset and dlt "
                "pipelines)"
            )

    def _named(self, name: str) -> str:
        return f"{self.prefix}_{name}" if self.prefix else name

    def key(self, resource: str) -> AssetKey:
        """The asset key of an API resource (= its table name)."""
        return AssetKey([self.prefix, resource]) if self.prefix else AssetKey(resource)

    @property
    def partitions(self) -> str:
        return self._named(c.PARTITIONS_NAME)

    @property
    def workspace_job(self) -> str:
        return self._named("workspace_job")

    @property
    def partition_job(self) -> str:
        return self._named("workflow_partition_job")

    @property
    def sensor(self) -> str:
        return self._named("workflow_refresh_sensor")

    @property
    def webhook_sensor(self) -> str:
        return self._named("workflow_webhook_sensor")

    @property
    def check(self) -> str:
        return self._named("successful_jobs_filter")

    def attention(self, check: str) -> str:
        """The name of one of the non-blocking attention checks (`quota_forecast`, ...)."""
        return self._named(check)

    @property
    def api_resource(self) -> str:
        """The resource key of this instance's `AnalyticsApiResource`."""
        return self._named("analytics_api")

    @property
    def dlt_resource(self) -> str:
        return self._named("dlt")

    @property
    def group(self) -> str:
        return self._named("analytics")

    def op(self, name: str) -> str:
        """The op name of one of the multi-assets."""
        return self._named(f"analytics_{name}_assets")

    @property
    def layout(self) -> Layout:
        """dlt pipelines `P_analytics...` writing dataset `P_analytics`."""
        return Layout(base=self._named(c.SOURCE_NAME), dataset=self._named(c.DATASET_NAME))

    @property
    def check_pipeline(self) -> str:
        return self._named("analytics_check")

    @property
    def pool(self) -> str:
        return c.WAREHOUSE_POOL
