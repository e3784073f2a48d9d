"""Every setting, declared once: name, environment variable, type, default, description, secret.

`ApiSettings` is the declaration: each field's metadata names its variable and describes it,
its annotation is its type, its default is the default. The resource's fields, resolution
from the environment, validation, `.env.example` and the README's table all derive from it
(a test compares the last two). Plain Python, no Dagster, so the dlt source runs on its own.
Values are resolved at run time, never at import time.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class AnalyticsConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable to fix."""


@dataclass(frozen=True)
class Declared:
    """What a field's metadata says about it: its variable, its meaning, its rules."""

    env: str
    description: str
    secret: bool = False
    check: Callable[[str, Any], None] | None = None
    default_text: str | None = None  # how the docs show a computed default


def setting(
    env: str,
    description: str,
    default: Any = dataclasses.MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    secret: bool = False,
    check: Callable[[str, Any], None] | None = None,
    default_text: str | None = None,
) -> Any:
    """One declared setting: a dataclass field carrying its `Declared` metadata."""
    meta = {"declared": Declared(env, description, secret, check, default_text)}
    if factory is not None:
        return field(default_factory=factory, repr=not secret, metadata=meta)
    return field(default=default, repr=not secret, metadata=meta)


def _at_least(low: float) -> Callable[[str, Any], None]:
    def check(env: str, value: Any) -> None:
        if value is not None and not (low <= value < math.inf):
            raise AnalyticsConfigError(f"{env} must be a number >= {low:g} (got {value!r})")

    return check


def _positive(env: str, value: Any) -> None:
    if value is not None and not (0 < value < math.inf):
        raise AnalyticsConfigError(f"{env} must be a number > 0 (got {value!r})")


def _between(low: int, high: int) -> Callable[[str, Any], None]:
    def check(env: str, value: Any) -> None:
        if not low <= value <= high:
            raise AnalyticsConfigError(f"{env} must be between {low} and {high} (got {value!r})")

    return check


def validate_base_url(env: str, base_url: str) -> None:
    if not base_url or not base_url.strip():
        raise AnalyticsConfigError(
            f"{env} is not set: set it to the API root without /v3, e.g. https://api.captaindata.co"
        )
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AnalyticsConfigError(
            f"{env}={base_url!r} is not an http(s) URL: use e.g. https://api.captaindata.co"
        )
    if parts.path.rstrip("/").endswith("/v3"):
        raise AnalyticsConfigError(f"{env}={base_url!r} ends in /v3: give the API root without /v3")


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


def _api_key(env: str, value: str) -> None:
    if not value or not value.strip():
        raise AnalyticsConfigError(
            f"{env} is empty: set it to your API key (or put api_key in .dlt/secrets.toml)"
        )
    validate_header_value(env, value, secret=True)


def _project_id(env: str, value: str | None) -> None:
    if value is not None:
        validate_header_value(env, value, secret=False)


def _destination(env: str, name: str) -> None:
    """A dlt destination installed here, checked now so a typo fails naming the variable."""
    from dlt.common.destination import Destination  # local: dlt is not needed to import us

    if not name.strip():
        raise AnalyticsConfigError(f"{env} is empty: use e.g. duckdb or postgres")
    try:
        Destination.from_reference(name)
    except Exception:  # dlt raises several kinds (unknown name, missing driver), all verbose
        raise AnalyticsConfigError(
            f"{env}={name!r} is not a dlt destination installed here "
            "(e.g. duckdb, postgres, motherduck, snowflake, bigquery)"
        ) from None


def project_root() -> Path:
    """The checkout that holds this package (where the default warehouse file lives)."""
    return Path(__file__).resolve().parent.parent


def default_duckdb_path() -> Path:
    # Named differently from the dataset: DuckDB names the catalog after the file, and a
    # catalog `analytics` holding a schema `analytics` makes dlt's merge SQL ambiguous.
    return project_root() / "data" / "analytics_warehouse.duckdb"


@dataclass(frozen=True)
class ApiSettings:
    """Everything a client of the API, a writer of the warehouse and a sensor tick need."""

    base_url: str = setting(
        "ANALYTICS_API_BASE_URL",
        "API root without /v3, e.g. https://api.captaindata.co",
        check=validate_base_url,
    )
    api_key: str = setting(
        "ANALYTICS_API_KEY",
        "sent as header x-api-key; falls back to api_key in .dlt/secrets.toml",
        secret=True,
        check=_api_key,
    )
    project_id: str | None = setting(
        "ANALYTICS_PROJECT_ID", "sent as header x-project-id", None, check=_project_id
    )
    destination: str = setting(
        "ANALYTICS_DESTINATION",
        "any dlt destination; its credentials come from dlt's config (env or secrets.toml)",
        "duckdb",
        check=_destination,
    )
    duckdb_path: Path = setting(
        "ANALYTICS_DUCKDB_PATH",
        "the DuckDB warehouse file",
        factory=default_duckdb_path,
        default_text="data/analytics_warehouse.duckdb in the checkout",
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
        check=_at_least(0),
    )
    backoff_factor: float = setting(
        "ANALYTICS_API_BACKOFF_FACTOR",
        "retry n waits factor x 2^n seconds (2, 4, 8 s), unless Retry-After says otherwise",
        2.0,
        check=_at_least(0),
    )
    max_retry_delay: float = setting(
        "ANALYTICS_API_MAX_RETRY_DELAY",
        "caps each retry wait and each 429 pause, seconds",
        60.0,
        check=_at_least(0),
    )
    request_timeout: float = setting(
        "ANALYTICS_API_REQUEST_TIMEOUT", "seconds per request", 30.0, check=_positive
    )
    fetch_concurrency: int = setting(
        "ANALYTICS_API_FETCH_CONCURRENCY",
        "at most this many jobs' result pages in flight (1-16); the client picks about "
        "rate x round trip + 1",
        8,
        check=_between(1, 16),
    )
    rate_limit: float | None = setting(
        "ANALYTICS_API_RATE_LIMIT",
        "the plan's requests per second, shared by every run and sensor tick on the key",
        None,
        check=_positive,
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
        check=_positive,
    )
    sensor_tick_budget_seconds: float = setting(
        "ANALYTICS_SENSOR_TICK_BUDGET_SECONDS",
        "no request of a sensor tick starts past this (Dagster abandons a tick after 60 s)",
        40.0,
        check=_positive,
    )
    sensor_max_partitions_per_run: int = setting(
        "ANALYTICS_SENSOR_MAX_PARTITIONS_PER_RUN",
        "the most partitions one sensor-requested run loads",
        100,
        check=_at_least(1),
    )

    def __post_init__(self) -> None:
        for f, declared in declared_fields(type(self)):
            if declared.check is not None:
                declared.check(declared.env, getattr(self, f.name))

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
        check=_at_least(1),
    )

    def __post_init__(self) -> None:
        for f, declared in declared_fields(type(self)):
            if declared.check is not None:
                declared.check(declared.env, getattr(self, f.name))


def declared_fields(cls: type) -> Iterator[tuple[dataclasses.Field, Declared]]:
    """Each declared field of `cls` with its declaration, in declaration order."""
    for f in dataclasses.fields(cls):
        yield f, f.metadata["declared"]


def value_type(cls: type, name: str) -> type:
    """The field's type without its `None`: str, int, float or Path."""
    hint = typing.get_type_hints(cls)[name]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


def env_name(name: str) -> str:
    """The environment variable of a setting, by field name."""
    for cls in (ApiSettings, ScheduleSettings):
        for f, declared in declared_fields(cls):
            if f.name == name:
                return declared.env
    raise KeyError(name)


def default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


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


def _parse(cls: type, f: dataclasses.Field, declared: Declared, raw: Any) -> Any:
    kind = value_type(cls, f.name)
    if isinstance(raw, str):
        raw = raw.strip()  # e.g. the newline of a secret mounted from a file
        if raw == "":
            return None
    try:
        if kind is Path:
            return Path(raw).expanduser().resolve()
        if kind is int and isinstance(raw, float) and not raw.is_integer():
            raise ValueError
        return kind(raw)
    except (TypeError, ValueError):
        shown = "the value is not shown" if declared.secret else repr(raw)
        raise AnalyticsConfigError(
            f"{declared.env}={shown} is not a valid {kind.__name__}"
        ) from None


def _resolve(cls: type, explicit: dict[str, Any]) -> dict[str, Any]:
    unknown = set(explicit) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for f, declared in declared_fields(cls):
        raw = explicit.get(f.name)
        raw = _env(declared.env) if raw is None or raw == "" else raw
        if raw is None and f.name == "api_key":
            raw = _dlt_secret_api_key()
        value = None if raw is None else _parse(cls, f, declared, raw)
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if value is None and required:
            raise AnalyticsConfigError(f"{declared.env} is not set: {REQUIRED_HINT[f.name]}")
        if value is not None:
            values[f.name] = value
    return values


REQUIRED_HINT = {
    "base_url": "set it to the API root without /v3, e.g. https://api.captaindata.co",
    "api_key": "set it to your API key (or put api_key in .dlt/secrets.toml)",
}


def resolve_settings(**explicit: Any) -> ApiSettings:
    """Explicit values (None = unset), then the environment, then (the key only) dlt's secret."""
    values = _resolve(ApiSettings, explicit)
    values["base_url"] = str(values["base_url"]).rstrip("/")
    return ApiSettings(**values)


def resolve_schedule(**explicit: Any) -> ScheduleSettings:
    """The definition-time settings, from explicit values, then the environment."""
    return ScheduleSettings(**_resolve(ScheduleSettings, explicit))
