"""Every setting of the product, declared once: name, variable, type, default, description,
secret or not, and its rule."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analytics_assets.settings.fields import check_declared, declared_fields, setting
from analytics_assets.settings.rules import (
    API_KEY_HINT,
    BASE_URL_HINT,
    api_key_value,
    at_least,
    between,
    installed_destination,
    positive,
    project_id_value,
    validate_base_url,
    webhook_secret_value,
)


def project_root() -> Path:
    """Where the default warehouse file lives: the checkout that holds this package, or the
    working directory when the package is installed (a wheel's parent is site-packages)."""
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()


def default_duckdb_path() -> Path:
    # Named differently from the dataset: DuckDB names the catalog after the file, and a
    # catalog `analytics` holding a schema `analytics` makes dlt's merge SQL ambiguous.
    return project_root() / "data" / "analytics_warehouse.duckdb"


def dlt_secret_api_key() -> str | None:
    """The spec reads `dlt.secrets["api_key"]`; honour it when the variable is unset."""
    import dlt  # local import: dlt's config providers read files, not wanted at import time

    try:
        value: object = dlt.secrets.get("api_key")
    except Exception:  # a malformed secrets.toml must not hide the clearer error it leads to
        return None
    return str(value) if value else None


@dataclass(frozen=True)
class ApiSettings:
    """Everything a client of the API, a writer of the warehouse and a sensor tick need."""

    base_url: str = setting(
        "ANALYTICS_API_BASE_URL",
        BASE_URL_HINT,
        check=validate_base_url,
        normalize=lambda url: str(url).rstrip("/"),
        required_hint=f"set it to the {BASE_URL_HINT}",
        example="https://api.captaindata.co",
    )
    api_key: str = setting(
        "ANALYTICS_API_KEY",
        "sent as header x-api-key; falls back to api_key in .dlt/secrets.toml",
        secret=True,
        check=api_key_value,
        fallback=dlt_secret_api_key,
        required_hint=API_KEY_HINT,
    )
    project_id: str | None = setting(
        "ANALYTICS_PROJECT_ID", "sent as header x-project-id", None, check=project_id_value
    )
    destination: str = setting(
        "ANALYTICS_DESTINATION",
        "any dlt destination; its credentials come from dlt's config (env or secrets.toml)",
        "duckdb",
        check=installed_destination,
    )
    duckdb_path: Path = setting(
        "ANALYTICS_DUCKDB_PATH",
        "the DuckDB warehouse file",
        factory=default_duckdb_path,
        default_text="data/analytics_warehouse.duckdb in the checkout (installed: in the "
        "working directory)",
    )
    duckdb_lock_timeout_seconds: float = setting(
        "ANALYTICS_DUCKDB_LOCK_TIMEOUT_SECONDS",
        "how long a load waits for another process (a reader) to release the DuckDB file "
        "before it fails",
        300.0,
        check=at_least(0),
    )
    pipelines_dir: Path | None = setting(
        "ANALYTICS_DLT_PIPELINES_DIR",
        "dlt's working folders",
        None,
        default_text="dlt_pipelines/ beside the warehouse file",
    )
    max_retries: int = setting(
        "ANALYTICS_API_MAX_RETRIES",
        "retries of a 5xx or connection error (a 429 is waited out, not retried)",
        3,
        check=at_least(0),
    )
    backoff_factor: float = setting(
        "ANALYTICS_API_BACKOFF_FACTOR",
        "retry n waits factor x 2^n seconds (2, 4, 8 s), unless Retry-After says otherwise",
        2.0,
        check=at_least(0),
    )
    max_retry_delay: float = setting(
        "ANALYTICS_API_MAX_RETRY_DELAY",
        "caps each retry wait and each 429 pause, seconds",
        60.0,
        check=at_least(0),
    )
    request_timeout: float = setting(
        "ANALYTICS_API_REQUEST_TIMEOUT", "seconds per request", 30.0, check=positive
    )
    fetch_concurrency: int = setting(
        "ANALYTICS_API_FETCH_CONCURRENCY",
        "at most this many jobs' result pages in flight (1-16); the client picks about "
        "rate x round trip + 1",
        8,
        check=between(1, 16),
    )
    rate_limit: float | None = setting(
        "ANALYTICS_API_RATE_LIMIT",
        "the plan's requests per second, shared by every run and sensor tick on the key",
        None,
        check=positive,
        default_text="learned from the API's first 429",
    )
    rate_limit_store: str | None = setting(
        "ANALYTICS_API_RATE_LIMIT_STORE",
        "where the shared rate budget lives: a SQLite file path or a postgresql:// URL that "
        "every host reaches",
        None,
        secret=True,
        default_text="analytics_rate_budget.sqlite beside the warehouse",
    )
    rate_limit_timeout: float = setting(
        "ANALYTICS_API_RATE_LIMIT_TIMEOUT",
        "seconds one request may keep being answered 429 before the run fails",
        600.0,
        check=positive,
    )
    sensor_tick_budget_seconds: float = setting(
        "ANALYTICS_SENSOR_TICK_BUDGET_SECONDS",
        "no request of a sensor tick starts past this (Dagster abandons a tick after 60 s)",
        40.0,
        check=positive,
    )
    sensor_max_partitions_per_run: int = setting(
        "ANALYTICS_SENSOR_MAX_PARTITIONS_PER_RUN",
        "the most partitions one sensor-requested run loads",
        100,
        check=at_least(1),
    )
    sensor_workspace_refresh_seconds: float = setting(
        "ANALYTICS_SENSOR_WORKSPACE_REFRESH_SECONDS",
        "the sensor requests a workspace load (quota_forecast) at least this often, besides "
        "when the workflow list changes",
        3600.0,
        check=positive,
    )
    webhook_secret: str | None = setting(
        "ANALYTICS_WEBHOOK_SECRET",
        "the token webhook deliveries carry as `Authorization: Bearer <token>`; the receiver "
        "(analytics-webhooks) refuses to start for an instance without one (16+ characters)",
        None,
        secret=True,
        check=webhook_secret_value,
    )

    def __post_init__(self) -> None:
        check_declared(self)

    @property
    def is_duckdb(self) -> bool:
        """The embedded default: one file, one writer at a time."""
        return self.destination == "duckdb"

    @property
    def default_budget_path(self) -> Path:
        """The rate budget's SQLite file: beside the warehouse, shared by the host's processes."""
        return self.duckdb_path.parent / "analytics_rate_budget.sqlite"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that no text the product writes may contain."""
        fields = declared_fields(type(self))
        return tuple(v for f, d in fields if d.secret and (v := getattr(self, f.name)))

    @property
    def dlt_pipelines_dir(self) -> Path:
        """dlt working folders live beside the warehouse, not in the user's ~/.dlt."""
        return self.pipelines_dir or self.duckdb_path.parent / "dlt_pipelines"


@dataclass(frozen=True)
class ScheduleSettings:
    """Settings read when definitions load (Dagster needs them then), not at run time."""

    sensor_interval_seconds: int = setting(
        "ANALYTICS_SENSOR_INTERVAL_SECONDS",
        "seconds between workflow_refresh_sensor ticks (read when definitions load)",
        300,
        check=at_least(1),
    )
    webhook_sensor_interval_seconds: int = setting(
        "ANALYTICS_WEBHOOK_SENSOR_INTERVAL_SECONDS",
        "seconds between workflow_webhook_sensor ticks, which turn recorded webhook events "
        "into loads (read when definitions load)",
        10,
        check=at_least(1),
    )

    def __post_init__(self) -> None:
        check_declared(self)


def env_name(name: str) -> str:
    """The environment variable of a setting, by field name."""
    for cls in (ApiSettings, ScheduleSettings):
        for f, declared in declared_fields(cls):
            if f.name == name:
                return declared.env
    raise KeyError(name)
