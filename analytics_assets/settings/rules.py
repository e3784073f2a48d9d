"""The rules a setting's value must follow; each error names the variable to fix."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from analytics_assets.settings.fields import AnalyticsConfigError

# The base URL's one explanation: the docs, the unset hint and the rule's errors all say it.
BASE_URL_HINT = "API root without /v3, e.g. https://api.captaindata.co"
API_KEY_HINT = "set it to your API key (or put api_key in .dlt/secrets.toml)"


def at_least(low: float) -> Callable[[str, Any], None]:
    def check(env: str, value: Any) -> None:
        if value is not None and not (low <= value < math.inf):
            raise AnalyticsConfigError(f"{env} must be a number >= {low:g} (got {value!r})")

    return check


def positive(env: str, value: Any) -> None:
    if value is not None and not (0 < value < math.inf):
        raise AnalyticsConfigError(f"{env} must be a number > 0 (got {value!r})")


def between(low: int, high: int) -> Callable[[str, Any], None]:
    def check(env: str, value: Any) -> None:
        if not low <= value <= high:
            raise AnalyticsConfigError(f"{env} must be between {low} and {high} (got {value!r})")

    return check


def validate_base_url(env: str, base_url: str) -> None:
    if not base_url or not base_url.strip():
        raise AnalyticsConfigError(f"{env} is not set: set it to the {BASE_URL_HINT}")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AnalyticsConfigError(
            f"{env}={base_url!r} is not an http(s) URL: use e.g. https://api.captaindata.co"
        )
    if parts.path.rstrip("/").endswith("/v3"):
        raise AnalyticsConfigError(f"{env}={base_url!r} ends in /v3: give the {BASE_URL_HINT}")


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


def api_key_value(env: str, value: str) -> None:
    if not value or not value.strip():
        raise AnalyticsConfigError(f"{env} is empty: {API_KEY_HINT}")
    validate_header_value(env, value, secret=True)


# A guessable token would be the only thing between the internet and the instance's storage.
MIN_WEBHOOK_SECRET = 16


def webhook_secret_value(env: str, value: str | None) -> None:
    if value is None:
        return
    validate_header_value(env, value, secret=True)
    if len(value) < MIN_WEBHOOK_SECRET:
        raise AnalyticsConfigError(
            f"{env} is too short ({len(value)} characters, the value is not shown): use at "
            f"least {MIN_WEBHOOK_SECRET}, e.g. the output of `openssl rand -hex 32`"
        )


def project_id_value(env: str, value: str | None) -> None:
    if value is not None:
        validate_header_value(env, value, secret=False)


def installed_destination(env: str, name: str) -> None:
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
