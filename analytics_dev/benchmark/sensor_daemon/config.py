"""The bench's settings and constants, and a measured side as it fills in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analytics_assets.defs.declared import API_ASSETS, tables

SEED = 7
MODULE = "analytics_assets.definitions"
SENSOR = "workflow_refresh_sensor"
TABLES = tuple(asset.name for asset in API_ASSETS)
PER_WORKFLOW = ",".join(tables(partitioned=True))


class BenchTimeout(Exception):
    """The bench's deadline passed; what was measured so far is in the report."""


@dataclass(frozen=True)
class Config:
    workflows: int = 1000
    rate: float = 5.0
    latency_ms: float = 50.0
    interval: int = 30
    jobs_per_workflow: tuple[int, int] = (1, 2)
    rows_per_job: int = 20
    page_size: int = 100
    active_share: float = 1 / 20
    timeout: float = 1800.0


@dataclass
class Side:
    """One measurement, filled in as it goes (a failure keeps what was done)."""

    name: str
    seconds: float | None = None
    ok: bool = False
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        seconds = None if self.seconds is None else round(self.seconds, 1)
        return {"name": self.name, "seconds": seconds, "ok": self.ok, "error": self.error} | (
            self.details
        )
