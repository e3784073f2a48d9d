"""Runs against a simulator that enforces a plan's rate limit per API key, as the real API does.

In process, the simulator's token bucket and the product's rate budget share one FakeClock:
pacing and Retry-After pauses are recorded, not waited, and the bucket refills by the same
fake seconds. Where the test is about rate x round trip (requests in flight) or two
processes, the clock is real and the plan fast; what is asserted is a count, never a duration.
"""

import threading

import pytest
from dagster import Failure, SensorResult, build_sensor_context

from analytics_assets.definitions import defs as shipped
from analytics_assets.defs.resources import AnalyticsApiResource
from analytics_assets_tests.support import (
    API_KEY,
    PARTITION_SELECTION,
    assert_full_load,
    make_defs,
    materialize,
    run_partition_range,
    run_workspace,
    succeed,
)
from analytics_dev.simulator import FaultRule

SIM_WORKFLOWS = 4


def _resource(simulator, duckdb_path, **fields) -> AnalyticsApiResource:
    return AnalyticsApiResource(
        base_url=simulator.base_url,
        api_key=API_KEY,
        destination="duckdb",
        duckdb_path=str(duckdb_path),
        request_timeout=5,
        **fields,
    )


def _metadata(result, asset: str) -> dict:
    """The step's request figures (every partition's materialization carries the same)."""
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == asset]
    return {k: v.value for k, v in events[0].materialization.metadata.items()}


def test_unconfigured_concurrent_fetching_learns_the_limit_and_never_fails(
    instance, simulator, sim_data, duckdb_path, clock
):
    # The reported failure: 4 threads on a 2 req/s plan retried in lockstep until one gave up.
    simulator._clock = clock.monotonic  # the plan's bucket refills in the product's fake time
    simulator.rate_limit = 6.0
    defs = make_defs(_resource(simulator, duckdb_path, fetch_concurrency=4), clock=clock)
    assert run_workspace(defs, instance).success
    uids = list(instance.get_dynamic_partitions("workflow_uids"))
    simulator.reset_requests()
    result = run_partition_range(defs, instance, uids[0], uids[-1])
    assert result.success
    assert_full_load(duckdb_path, sim_data)
    served = simulator.requests
    limited = sum(1 for r in served if r.status == 429)
    results = _metadata(result, "job_results")
    jobs = _metadata(result, "jobs")
    # Every 429 is counted where it happened, none as a retry.
    assert jobs["api_rate_limited"] + results["api_rate_limited"] == limited
    assert jobs["api_retries"] == results["api_retries"] == 0
    # Learned from the 429s' X-RateLimit-Limit: paced to the plan, not hammering it.
    assert results["api_rate_limit"].startswith("6 requests/s, learned from X-RateLimit-Limit")
    assert limited <= 0.15 * len(served), (limited, len(served))
    logs = [e.message for e in instance.all_logs(result.run_id) if e.message]
    assert any("HTTP 429, the plan's rate limit" in m for m in logs)
    assert clock.sleeps and all(0 < s <= 60 for s in clock.sleeps)  # paced, never waited


def test_configured_rate_earns_no_429_and_keeps_rate_times_round_trip_in_flight(
    instance, simulator, sim_data, duckdb_path
):
    simulator.rate_limit = 20.0
    simulator.latency_seconds = 0.1
    defs = make_defs(_resource(simulator, duckdb_path, rate_limit=20.0))
    assert run_workspace(defs, instance).success
    uids = list(instance.get_dynamic_partitions("workflow_uids"))
    simulator.reset_stats()
    result = run_partition_range(defs, instance, uids[0], uids[-1])
    assert result.success
    assert_full_load(duckdb_path, sim_data)
    stats = simulator.stats()
    assert stats["rate_limited"] == 0
    # 20 req/s x 0.1 s and a spare: 4 requests in flight at most (the default bound is 8).
    assert 2 <= stats["max_in_flight"] <= 4, stats
    results = _metadata(result, "job_results")
    assert results["api_rate_limited"] == 0
    assert results["api_rate_limit"] == "20 requests/s, configured (ANALYTICS_API_RATE_LIMIT)"
    assert 0 < results["api_effective_rate"] <= 20.0 * 1.1
    assert results["api_rate_wait_seconds"] > 0


@pytest.mark.subprocess
def test_a_cli_run_and_a_sensor_tick_in_another_process_share_one_budget(
    cli_env, instance, simulator, sim_data, duckdb_path
):
    # Both read ANALYTICS_API_RATE_LIMIT and meet in the SQLite file beside the warehouse.
    simulator.rate_limit = 8.0
    env = {**cli_env, "ANALYTICS_API_RATE_LIMIT": "8"}
    succeed(materialize(env, "workspace,workflows"))
    uids = [w["uid"] for w in sim_data.workflows]
    simulator.reset_stats()
    run = materialize(env, PARTITION_SELECTION, partition_range=f"{uids[0]}...{uids[-1]}")
    resource = _resource(simulator, duckdb_path, rate_limit=8.0)
    ticks: list[SensorResult] = []

    def tick() -> None:
        context = build_sensor_context(instance=instance, resources={"analytics_api": resource})
        result = shipped.resolve_sensor_def("workflow_refresh_sensor")(context)
        assert isinstance(result, SensorResult)
        ticks.append(result)

    sensor = threading.Thread(target=tick)
    sensor.start()
    succeed(run)
    sensor.join(timeout=120)
    # Its first tick: the workflow list, and all new workflows in one run (no jobs requests).
    assert ticks and len(ticks[0].run_requests or []) == 2
    assert_full_load(duckdb_path, sim_data)
    assert simulator.stats()["rate_limited"] == 0
    assert (duckdb_path.parent / "analytics_rate_budget.sqlite").exists()


def test_429s_past_the_deadline_fail_the_run_naming_the_setting_and_the_limit(
    instance, simulator, duckdb_path, clock
):
    # An API that refuses every request (another consumer holding the whole plan, say).
    simulator.add_fault(FaultRule(r"^/v3/workspace$", status=429, retry_after=0.2, times=-1))
    resource = _resource(simulator, duckdb_path, rate_limit_timeout=1.5, max_retry_delay=0.5)
    with pytest.raises(Failure) as caught:
        run_workspace(make_defs(resource, clock=clock), instance)
    text = str(caught.value.description)
    assert "GET /v3/workspace was answered HTTP 429 (rate limited) for" in text, text
    assert "past ANALYTICS_API_RATE_LIMIT_TIMEOUT=1.5" in text
    assert "the limit in force: none" in text
    assert API_KEY not in text
    # Waited out, never counted against the 3 retries of 5xx: each Retry-After's 0.2 s until
    # the next pause would end past 1.5 s of fake time (8 pauses, 9 attempts).
    assert clock.sleeps == pytest.approx([0.2] * 8, abs=1e-3)
    assert simulator.request_count("/v3/workspace") == 9
