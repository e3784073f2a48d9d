"""Which instances a code location holds, and each one's webhook secret.

Every instance of the product (the shipped location, or each dg component instance) binds one
`AnalyticsApiResource` under `<prefix>_analytics_api`; the receiver finds them in the module's
definitions, so it serves exactly the instances `dagster dev -m <module>` loads.
"""

from __future__ import annotations

import hmac
import importlib
import os
from dataclasses import dataclass

from dagster import AssetKey, Definitions, EnvVar, load_definitions_from_module

from analytics_assets import constants as c
from analytics_assets.defs.names import Names
from analytics_assets.defs.resources import AnalyticsApiResourceBase
from analytics_assets.settings import AnalyticsConfigError, env_name
from analytics_assets.settings.rules import webhook_secret_value

API_SUFFIX = Names().api_resource  # "analytics_api"; an instance's key is "<prefix>_" + it


@dataclass(frozen=True)
class Target:
    """One instance the receiver records events for."""

    names: Names
    secret: str

    @property
    def jobs_key(self) -> AssetKey:
        return self.names.key(c.JOBS)

    @property
    def route(self) -> str:
        return f"/webhooks/{self.names.prefix}" if self.names.prefix else "/webhooks"

    def authorizes(self, header: str | None) -> bool:
        """`Authorization: Bearer <secret>`, compared in constant time."""
        expected = f"Bearer {self.secret}".encode()
        return hmac.compare_digest((header or "").encode(), expected)


def module_definitions(module_name: str) -> Definitions:
    """The module's `Definitions`, as `dagster dev -m` finds them."""
    module = importlib.import_module(module_name)
    found = [v for v in vars(module).values() if isinstance(v, Definitions)]
    return found[0] if len(found) == 1 else load_definitions_from_module(module)


def _prefix(resource_key: str) -> str | None:
    return None if resource_key == API_SUFFIX else resource_key[: -len(API_SUFFIX) - 1]


def _secret(resource: AnalyticsApiResourceBase, names: Names) -> str:
    """The instance's secret: its `webhook_secret` (value or EnvVar), else the environment."""
    variable = env_name("webhook_secret")
    bound = resource.webhook_secret  # type: ignore[attr-defined]
    if isinstance(bound, EnvVar):
        variable, bound = bound.env_var_name, os.environ.get(bound.env_var_name)
    value = (bound or os.environ.get(env_name("webhook_secret")) or "").strip()
    where = f"instance {names.prefix!r}" if names.prefix else "the unprefixed instance"
    fallback = env_name("webhook_secret")
    named = variable if variable == fallback else f"{variable} (or {fallback})"
    if not value:
        raise AnalyticsConfigError(
            f"no webhook secret for {where}: set {named}, or the component's webhook_secret "
            "attribute; deliveries must carry Authorization: Bearer <it>"
        )
    webhook_secret_value(variable, value)
    return value


def load_targets(module_name: str) -> dict[str | None, Target]:
    """Every instance of the module by prefix (None: unprefixed); raises AnalyticsConfigError,
    naming the variable, for one without a valid secret."""
    defs = module_definitions(module_name)
    targets: dict[str | None, Target] = {}
    for key, resource in (defs.resources or {}).items():
        if isinstance(resource, AnalyticsApiResourceBase) and key.endswith(API_SUFFIX):
            names = Names(_prefix(key))
            targets[names.prefix] = Target(names, _secret(resource, names))
    if not targets:
        raise AnalyticsConfigError(f"{module_name} defines no instance of analytics_assets")
    return targets
