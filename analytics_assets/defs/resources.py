"""The one configurable resource that holds the API and warehouse settings."""

from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

from analytics_assets import constants as c
from analytics_assets.api.client import AnalyticsApiClient
from analytics_assets.settings import ApiSettings, resolve_settings


class AnalyticsApiResource(ConfigurableResource):
    """Settings for the analytics API and the warehouse, used by assets, the check and the sensor.

    Every field left unset is read at run time from its environment variable (never at import
    time); the key falls back to `api_key` in `.dlt/secrets.toml`, the spec's own convention.
    Pass `EnvVar(...)` to any field to bind it explicitly.
    """

    base_url: str | None = Field(default=None, description=f"API root; env {c.ENV_BASE_URL}")
    api_key: str | None = Field(default=None, description=f"secret; env {c.ENV_API_KEY}")
    project_id: str | None = Field(
        default=None, description=f"sent as x-project-id; env {c.ENV_PROJECT_ID}"
    )
    destination: str | None = Field(
        default=None,
        description=f"dlt destination name; default {c.DEFAULT_DESTINATION}; "
        f"env {c.ENV_DESTINATION}",
    )
    duckdb_path: str | None = Field(
        default=None, description=f"DuckDB warehouse file; env {c.ENV_DUCKDB_PATH}"
    )
    pipelines_dir: str | None = Field(
        default=None, description=f"dlt working folders; env {c.ENV_PIPELINES_DIR}"
    )
    max_retries: int | None = Field(
        default=None, description=f"default {c.DEFAULT_MAX_RETRIES}; env {c.ENV_MAX_RETRIES}"
    )
    backoff_factor: float | None = Field(
        default=None,
        description=f"waits factor*2**n s; default {c.DEFAULT_BACKOFF_FACTOR}; "
        f"env {c.ENV_BACKOFF_FACTOR}",
    )
    max_retry_delay: float | None = Field(
        default=None,
        description=f"caps each wait; default {c.DEFAULT_MAX_RETRY_DELAY}; "
        f"env {c.ENV_MAX_RETRY_DELAY}",
    )
    request_timeout: float | None = Field(
        default=None,
        description=f"seconds; default {c.DEFAULT_REQUEST_TIMEOUT}; env {c.ENV_REQUEST_TIMEOUT}",
    )
    fetch_concurrency: int | None = Field(
        default=None,
        description=f"at most this many jobs' result pages in flight at once "
        f"(1-{c.MAX_FETCH_CONCURRENCY}; the client picks about rate x round trip + 1); "
        f"default {c.DEFAULT_FETCH_CONCURRENCY}; env {c.ENV_FETCH_CONCURRENCY}",
    )
    rate_limit: float | None = Field(
        default=None,
        description="the plan's requests per second, shared by every run and sensor on the "
        f"key; unset: learned from the first 429; env {c.ENV_RATE_LIMIT}",
    )
    rate_limit_store: str | None = Field(
        default=None,
        description="where the shared rate budget lives: a SQLite file (default beside the "
        "warehouse) or a postgresql:// URL for several hosts; secret; "
        f"env {c.ENV_RATE_LIMIT_STORE}",
    )
    rate_limit_timeout: float | None = Field(
        default=None,
        description="seconds one request may keep being answered 429 before the run fails; "
        f"default {c.DEFAULT_RATE_LIMIT_TIMEOUT:g}; env {c.ENV_RATE_LIMIT_TIMEOUT}",
    )

    def settings(self) -> ApiSettings:
        """Resolve and validate; raises AnalyticsConfigError naming the variable to fix."""
        return resolve_settings(
            base_url=self.base_url,
            api_key=self.api_key,
            project_id=self.project_id,
            destination=self.destination,
            duckdb_path=self.duckdb_path,
            pipelines_dir=self.pipelines_dir,
            max_retries=self.max_retries,
            backoff_factor=self.backoff_factor,
            max_retry_delay=self.max_retry_delay,
            request_timeout=self.request_timeout,
            fetch_concurrency=self.fetch_concurrency,
            rate_limit=self.rate_limit,
            rate_limit_store=self.rate_limit_store,
            rate_limit_timeout=self.rate_limit_timeout,
        )

    def client(self, log: Any = None) -> AnalyticsApiClient:
        return AnalyticsApiClient(self.settings(), log)
