"""Resolved API and warehouse settings, shared by the dlt source, the assets and the sensor.

Plain Python (no Dagster) so the dlt source stays runnable on its own. Values are resolved at
run time, never at import time: explicit value, then environment variable, then (for the key
only) dlt's `api_key` secret, the spec's own way of passing it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from analytics_assets import constants as c


class AnalyticsConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable to fix."""


def project_root() -> Path:
    """The checkout that holds this package (where the default warehouse file lives)."""
    return Path(__file__).resolve().parent.parent


def default_duckdb_path() -> Path:
    # Named differently from the dataset: DuckDB names the catalog after the file, and a
    # catalog `analytics` holding a schema `analytics` makes dlt's merge SQL ambiguous.
    return project_root() / "data" / "analytics_warehouse.duckdb"


@dataclass(frozen=True)
class ApiSettings:
    """Everything a client of the API and a writer of the warehouse needs."""

    base_url: str
    api_key: str = field(repr=False)  # never shown in reprs, logs or error texts
    project_id: str | None = None
    destination: str = c.DEFAULT_DESTINATION
    duckdb_path: Path = field(default_factory=default_duckdb_path)
    pipelines_dir: Path | None = None
    max_retries: int = c.DEFAULT_MAX_RETRIES
    backoff_factor: float = c.DEFAULT_BACKOFF_FACTOR
    max_retry_delay: float = c.DEFAULT_MAX_RETRY_DELAY
    request_timeout: float = c.DEFAULT_REQUEST_TIMEOUT
    fetch_concurrency: int = c.DEFAULT_FETCH_CONCURRENCY
    rate_limit: float | None = None
    # A Postgres URL may hold a password: never shown either.
    rate_limit_store: str | None = field(default=None, repr=False)
    rate_limit_timeout: float = c.DEFAULT_RATE_LIMIT_TIMEOUT

    def __post_init__(self) -> None:
        validate_base_url(self.base_url)
        if not self.api_key or not self.api_key.strip():
            raise AnalyticsConfigError(
                f"{c.ENV_API_KEY} is empty: set it to your API key "
                "(or put api_key in .dlt/secrets.toml)"
            )
        validate_header_value(c.ENV_API_KEY, self.api_key, secret=True)
        if self.project_id is not None:
            validate_header_value(c.ENV_PROJECT_ID, self.project_id, secret=False)
        if self.rate_limit is not None and not (0 < self.rate_limit < float("inf")):
            raise AnalyticsConfigError(
                f"{c.ENV_RATE_LIMIT} must be a number of requests per second > 0 "
                "(unset: learn the limit from the API's 429s)"
            )
        if self.rate_limit_timeout <= 0:
            raise AnalyticsConfigError(f"{c.ENV_RATE_LIMIT_TIMEOUT} must be > 0 seconds")
        if self.rate_limit_store is not None and not self.rate_limit_store.strip():
            raise AnalyticsConfigError(f"{c.ENV_RATE_LIMIT_STORE} is empty")
        if not self.destination.strip():
            raise AnalyticsConfigError(f"{c.ENV_DESTINATION} is empty: use e.g. duckdb or postgres")
        if self.max_retries < 0:
            raise AnalyticsConfigError(f"{c.ENV_MAX_RETRIES} must be >= 0")
        if self.request_timeout <= 0:
            raise AnalyticsConfigError(f"{c.ENV_REQUEST_TIMEOUT} must be > 0")
        if not 1 <= self.fetch_concurrency <= c.MAX_FETCH_CONCURRENCY:
            raise AnalyticsConfigError(
                f"{c.ENV_FETCH_CONCURRENCY} must be between 1 and {c.MAX_FETCH_CONCURRENCY}"
            )

    @property
    def is_duckdb(self) -> bool:
        """The embedded default: one file, one writer at a time."""
        return self.destination == "duckdb"

    @property
    def default_budget_path(self) -> Path:
        """The rate budget's SQLite file: beside the warehouse, shared by the host's processes."""
        return self.duckdb_path.parent / c.RATE_LIMIT_STORE_FILE

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that no text the product writes may contain."""
        return tuple(v for v in (self.api_key, self.rate_limit_store) if v)

    @property
    def dlt_pipelines_dir(self) -> Path:
        """dlt working folders live beside the warehouse, not in the user's ~/.dlt."""
        return self.pipelines_dir or self.duckdb_path.parent / "dlt_pipelines"


def validate_base_url(base_url: str) -> str:
    if not base_url or not base_url.strip():
        raise AnalyticsConfigError(
            f"{c.ENV_BASE_URL} is not set: set it to the API root without /v3, "
            "e.g. https://api.captaindata.co"
        )
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AnalyticsConfigError(
            f"{c.ENV_BASE_URL}={base_url!r} is not an http(s) URL: "
            "use e.g. https://api.captaindata.co"
        )
    if parts.path.rstrip("/").endswith("/v3"):
        raise AnalyticsConfigError(
            f"{c.ENV_BASE_URL}={base_url!r} ends in /v3: give the API root without /v3"
        )
    return base_url


def validate_header_value(name: str, value: str, *, secret: bool) -> str:
    """Refuse what HTTP cannot carry in a header, naming the setting, never the secret."""
    for position, char in enumerate(value):
        if not 0x21 <= ord(char) <= 0x7E:
            what = "a space" if char == " " else f"the character U+{ord(char):04X}"
            shown = "the value is not shown" if secret else f"value {value!r}"
            raise AnalyticsConfigError(
                f"{name} contains {what} at position {position + 1} of {len(value)} ({shown}): "
                "it must be printable ASCII without spaces; surrounding whitespace, such as "
                "the newline of a mounted secret file, is stripped"
            )
    return value


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def _dlt_secret_api_key() -> str | None:
    """The spec reads `dlt.secrets["api_key"]`; honour it when the env var is unset."""
    import dlt  # local import: dlt's config providers read files, not wanted at import time

    try:
        value: object = dlt.secrets.get("api_key")
    except Exception:  # a malformed secrets.toml must not hide the clearer error below
        return None
    return str(value) if value else None


def _destination(explicit: str | None) -> str:
    """A dlt destination name, checked now so a typo fails the run naming the variable."""
    from dlt.common.destination import Destination  # local import: see _dlt_secret_api_key

    name = (explicit or _env(c.ENV_DESTINATION) or c.DEFAULT_DESTINATION).strip()
    if not name:
        raise AnalyticsConfigError(f"{c.ENV_DESTINATION} is empty: use e.g. duckdb or postgres")
    try:
        Destination.from_reference(name)
    except Exception:  # dlt raises several kinds (unknown name, missing driver), all verbose
        raise AnalyticsConfigError(
            f"{c.ENV_DESTINATION}={name!r} is not a dlt destination installed here "
            "(e.g. duckdb, postgres, motherduck, snowflake, bigquery)"
        ) from None
    return name


def _number(explicit: float | None, env_name: str, default: float, kind: type) -> float:
    if explicit is not None:
        return kind(explicit)
    raw = _env(env_name)
    if raw is None:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise AnalyticsConfigError(f"{env_name}={raw!r} is not a valid {kind.__name__}") from None


def _optional_number(explicit: float | None, env_name: str) -> float | None:
    if explicit is None and _env(env_name) is None:
        return None
    return _number(explicit, env_name, 0.0, float)


def resolve_settings(
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    project_id: str | None = None,
    destination: str | None = None,
    duckdb_path: str | None = None,
    pipelines_dir: str | None = None,
    max_retries: int | None = None,
    backoff_factor: float | None = None,
    max_retry_delay: float | None = None,
    request_timeout: float | None = None,
    fetch_concurrency: int | None = None,
    rate_limit: float | None = None,
    rate_limit_store: str | None = None,
    rate_limit_timeout: float | None = None,
) -> ApiSettings:
    """Resolve settings from explicit values, then the environment, then dlt secrets."""
    url = base_url or _env(c.ENV_BASE_URL)
    if url is None:
        validate_base_url("")
    key = api_key or _env(c.ENV_API_KEY) or _dlt_secret_api_key()
    # A secret mounted from a file usually ends in a newline: surrounding whitespace goes.
    key = key.strip() if key is not None else None
    if key is None:
        raise AnalyticsConfigError(
            f"{c.ENV_API_KEY} is not set: set it to your API key "
            "(or put api_key in .dlt/secrets.toml)"
        )
    db = duckdb_path or _env(c.ENV_DUCKDB_PATH)
    pipes = pipelines_dir or _env(c.ENV_PIPELINES_DIR)
    return ApiSettings(
        base_url=str(url).rstrip("/"),
        api_key=key,
        project_id=project_id or _env(c.ENV_PROJECT_ID),
        destination=_destination(destination),
        duckdb_path=Path(db).expanduser().resolve() if db else default_duckdb_path(),
        pipelines_dir=Path(pipes).expanduser().resolve() if pipes else None,
        max_retries=int(_number(max_retries, c.ENV_MAX_RETRIES, c.DEFAULT_MAX_RETRIES, int)),
        backoff_factor=_number(
            backoff_factor, c.ENV_BACKOFF_FACTOR, c.DEFAULT_BACKOFF_FACTOR, float
        ),
        max_retry_delay=_number(
            max_retry_delay, c.ENV_MAX_RETRY_DELAY, c.DEFAULT_MAX_RETRY_DELAY, float
        ),
        request_timeout=_number(
            request_timeout, c.ENV_REQUEST_TIMEOUT, c.DEFAULT_REQUEST_TIMEOUT, float
        ),
        fetch_concurrency=int(
            _number(fetch_concurrency, c.ENV_FETCH_CONCURRENCY, c.DEFAULT_FETCH_CONCURRENCY, int)
        ),
        rate_limit=_optional_number(rate_limit, c.ENV_RATE_LIMIT),
        rate_limit_store=(rate_limit_store or _env(c.ENV_RATE_LIMIT_STORE) or "").strip() or None,
        rate_limit_timeout=_number(
            rate_limit_timeout, c.ENV_RATE_LIMIT_TIMEOUT, c.DEFAULT_RATE_LIMIT_TIMEOUT, float
        ),
    )
