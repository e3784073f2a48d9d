"""The spec's retry policy with its real waits: 3 retries, backoff factor 2 -> 2, 4, 8 s."""

import pytest

from analytics_assets.api.client import AnalyticsApiClient
from analytics_assets.settings import ApiSettings
from analytics_assets_tests.support import API_KEY
from analytics_dev.simulator import FaultRule


@pytest.mark.slow
def test_default_policy_waits_2_4_8_seconds_then_succeeds(simulator, tmp_path):
    settings = ApiSettings(
        base_url=simulator.base_url, api_key=API_KEY, duckdb_path=tmp_path / "w.duckdb"
    )
    assert (settings.max_retries, settings.backoff_factor) == (3, 2.0)
    simulator.add_fault(FaultRule(r"^/v3/workflows$", times=3, status=503))
    client = AnalyticsApiClient(settings)
    assert isinstance(client.get_json("/v3/workflows"), list)
    records = [r for r in simulator.requests if r.path == "/v3/workflows"]
    assert [r.status for r in records] == [503, 503, 503, 200]
    gaps = [b.started - a.started for a, b in zip(records, records[1:], strict=False)]
    for gap, expected in zip(gaps, (2, 4, 8), strict=True):
        assert expected <= gap < expected + 1.0, gaps
    assert client.stats.retries == 3
