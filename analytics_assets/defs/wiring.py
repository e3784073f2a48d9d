"""What one instance's definitions share: its names, translator, partitions and clock."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dagster import DynamicPartitionsDefinition

from analytics_assets.api.budget import Clock
from analytics_assets.api.client import AnalyticsApiClient
from analytics_assets.defs.ahead import FetchesAhead
from analytics_assets.defs.names import Names
from analytics_assets.defs.translator import AnalyticsDltTranslator, Presentation
from analytics_assets.settings import ApiSettings


@dataclass(frozen=True)
class Wiring:
    names: Names
    translator: AnalyticsDltTranslator
    partitions_def: DynamicPartitionsDefinition
    clock: Clock | None = None  # tests inject a fake one: waits are asserted, not waited
    # Result pages a run's jobs step started fetching for its results step (defs/ahead.py).
    ahead: FetchesAhead = field(default_factory=FetchesAhead, compare=False)

    @classmethod
    def build(
        cls, names: Names, presentation: Presentation | None = None, clock: Clock | None = None
    ) -> Wiring:
        translator = AnalyticsDltTranslator(names, presentation or Presentation())
        return cls(names, translator, DynamicPartitionsDefinition(name=names.partitions), clock)

    def refresh_ticks(self, interval: float) -> float:
        """Ticks between refreshes of the workspace assets: half the freshness window."""
        window = self.translator.presentation.freshness
        if not window:
            return math.inf
        return max(1, math.floor(window.total_seconds() / 2 / interval))

    def client(self, settings: ApiSettings, log: Any) -> AnalyticsApiClient:
        return AnalyticsApiClient(settings, log, clock=self.clock)
