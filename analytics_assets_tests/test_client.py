"""The HTTP client against the simulator: retry counts, no retry on client errors, clear errors."""

import json
import socket
import time

import pytest

from analytics_assets.api.client import AnalyticsApiClient, AnalyticsApiError
from analytics_assets.settings import ApiSettings
from analytics_assets_tests.fakes import FakeClock
from analytics_assets_tests.support import API_KEY
from analytics_dev.simulator import FaultRule

WORKFLOWS = r"^/v3/workflows$"


def _client(simulator, tmp_path, *, base_url=None, api_key=API_KEY, clock=None, **fields):
    """A client with the spec's retry policy on `clock` (a fresh FakeClock unless given)."""
    settings = ApiSettings(
        base_url=base_url or simulator.base_url,
        api_key=api_key,
        duckdb_path=tmp_path / "w.duckdb",
        **fields,
    )
    return AnalyticsApiClient(settings, clock=clock or FakeClock())


def _statuses(simulator, path="/v3/workflows") -> list[int]:
    return [r.status for r in simulator.requests if r.path == path]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_retryable_statuses_are_retried_then_succeed(simulator, tmp_path, status):
    simulator.add_fault(FaultRule(WORKFLOWS, times=2, status=status))
    clock = FakeClock()
    client = _client(simulator, tmp_path, clock=clock)
    assert isinstance(client.get_json("/v3/workflows"), list)
    assert _statuses(simulator) == [status, status, 200]
    assert client.stats.retries == 2
    assert clock.sleeps == [2.0, 4.0]


def test_429s_are_waited_out_not_counted_as_retries(simulator, tmp_path):
    # More 429s than max_retries allows retries: flow control, not failure.
    simulator.add_fault(FaultRule(WORKFLOWS, times=5, status=429))
    clock = FakeClock()
    client = _client(simulator, tmp_path, clock=clock)
    assert isinstance(client.get_json("/v3/workflows"), list)
    assert _statuses(simulator) == [429] * 5 + [200]
    assert (client.stats.retries, client.stats.rate_limited) == (0, 5)
    # No Retry-After and no rate in the answers: each 429 pauses the spec's first wait, 2 s.
    assert clock.sleeps == [2.0] * 5


def test_exhausted_retries_fail_after_four_attempts_naming_endpoint_and_status(simulator, tmp_path):
    simulator.add_fault(FaultRule(WORKFLOWS, times=-1, status=503))
    clock = FakeClock()
    with pytest.raises(AnalyticsApiError, match=r"GET /v3/workflows failed after 3 retries.*503"):
        _client(simulator, tmp_path, clock=clock).get_json("/v3/workflows")
    assert _statuses(simulator) == [503] * 4
    assert clock.sleeps == [2.0, 4.0, 8.0]


def test_max_retries_is_configurable(simulator, tmp_path):
    simulator.add_fault(FaultRule(WORKFLOWS, times=-1, status=500))
    clock = FakeClock()
    with pytest.raises(AnalyticsApiError):
        _client(simulator, tmp_path, clock=clock, max_retries=1).get_json("/v3/workflows")
    assert _statuses(simulator) == [500, 500]
    assert clock.sleeps == [2.0]


def test_retry_after_is_honoured_and_capped(simulator, tmp_path):
    simulator.add_fault(FaultRule(WORKFLOWS, times=1, status=429, retry_after=7))
    simulator.add_fault(FaultRule(WORKFLOWS, times=1, status=429, retry_after=30))
    clock = FakeClock()
    client = _client(simulator, tmp_path, clock=clock, max_retry_delay=20)
    client.get_json("/v3/workflows")
    assert clock.sleeps == [7.0, 20.0]
    assert client.stats.seconds_budget == pytest.approx(27.0)


def test_wrong_key_fails_at_once_naming_the_setting_not_the_key(simulator, tmp_path):
    wrong = "wrong-key-4242-SECRET"
    with pytest.raises(AnalyticsApiError) as caught:
        _client(simulator, tmp_path, api_key=wrong).get_json("/v3/workflows")
    text = f"{caught.value} {caught.value!r}"
    assert "401" in text and "ANALYTICS_API_KEY" in text
    assert wrong not in text and API_KEY not in text
    assert _statuses(simulator) == [401]


@pytest.mark.parametrize("status", [400, 403, 404])
def test_client_errors_are_not_retried(simulator, tmp_path, status):
    simulator.add_fault(FaultRule(WORKFLOWS, times=-1, status=status))
    with pytest.raises(AnalyticsApiError, match=f"HTTP {status}") as caught:
        _client(simulator, tmp_path).get_json("/v3/workflows")
    assert caught.value.status == status
    assert _statuses(simulator) == [status]


def test_an_unreachable_host_fails_fast_naming_the_base_url_variable(simulator, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = _client(simulator, tmp_path, base_url=f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(AnalyticsApiError, match="ANALYTICS_API_BASE_URL"):
        client.get_json("/v3/workflows")
    assert time.monotonic() - started < 2


def test_a_dropped_connection_is_retried(simulator, tmp_path):
    simulator.add_fault(FaultRule(WORKFLOWS, times=1, kind="drop"))
    clock = FakeClock()
    client = _client(simulator, tmp_path, clock=clock)
    assert isinstance(client.get_json("/v3/workflows"), list)
    assert client.stats.requests == 2
    assert clock.sleeps == [2.0]


def test_an_html_body_is_an_error_naming_the_endpoint(simulator, tmp_path):
    simulator.add_fault(FaultRule(WORKFLOWS, times=1, kind="html"))
    clock = FakeClock()
    with pytest.raises(AnalyticsApiError, match="GET /v3/workflows .*not valid JSON"):
        _client(simulator, tmp_path, clock=clock).get_json("/v3/workflows")
    assert clock.sleeps == []  # a bad body is not retried


def test_every_simulated_body_parses_as_the_standard_parser_reads_it(simulator, sim_data, tmp_path):
    client = _client(simulator, tmp_path)
    paths = ["/v3/workspace", "/v3/workflows"]
    paths += [f"/v3/workflows/{w['uid']}/jobs" for w in sim_data.workflows]
    paths += [f"/v3/jobs/{uid}/results" for uid in sim_data.results]
    for path in paths:
        raw = client._session.get(simulator.base_url + path, timeout=5)  # same auth, raw body
        assert client.get_json(path) == json.loads(raw.content), path


def test_json_the_fast_parser_refuses_is_still_read_as_the_standard_parser_reads_it(
    simulator, tmp_path
):
    # orjson reads integers past 64 bits as floats; Python's json reads them exactly.
    body = b'[{"uid": "w", "big": 123456789012345678901234567890, "low": -9223372036854775809}]'
    simulator.add_fault(FaultRule(WORKFLOWS, times=1, status=200, body=body))
    (row,) = _client(simulator, tmp_path).get_json("/v3/workflows")
    assert row["big"] == 123456789012345678901234567890
    assert row["low"] == -9223372036854775809


def test_project_id_header_is_sent_only_when_configured(simulator, tmp_path):
    _client(simulator, tmp_path).get_json("/v3/workflows")
    _client(simulator, tmp_path, project_id="proj-9").get_json("/v3/workflows")
    assert [r.project_id_header for r in simulator.requests] == [None, "proj-9"]
