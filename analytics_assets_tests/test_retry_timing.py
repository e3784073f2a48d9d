"""The spec's retry policy, as the client waits it: 3 retries, backoff factor 2 -> 2, 4, 8 s.

The waits go to the client's clock; a fake one records them, so the policy's exact figures
are asserted without waiting 14 s.
"""

from analytics_assets.api.client import AnalyticsApiClient
from analytics_assets.settings import ApiSettings
from analytics_assets_tests.fakes import FakeClock
from analytics_assets_tests.support import API_KEY
from analytics_dev.simulator import FaultRule


def test_default_policy_waits_2_4_8_seconds_then_succeeds(simulator, tmp_path):
    settings = ApiSettings(
        base_url=simulator.base_url, api_key=API_KEY, duckdb_path=tmp_path / "w.duckdb"
    )
    assert (settings.max_retries, settings.backoff_factor) == (3, 2.0)
    simulator.add_fault(FaultRule(r"^/v3/workflows$", times=3, status=503))
    clock = FakeClock()
    client = AnalyticsApiClient(settings, clock=clock)
    assert isinstance(client.get_json("/v3/workflows"), list)
    records = [r for r in simulator.requests if r.path == "/v3/workflows"]
    assert [r.status for r in records] == [503, 503, 503, 200]
    assert clock.sleeps == [2.0, 4.0, 8.0]
    assert clock.monotonic() == 14.0  # nothing else waited
    assert client.stats.retries == 3
