"""`make bench-sensor` at a small size: its figures come from the ticks it ran."""

import math

import pytest

from analytics_dev.benchmark.sensor import run, simulated

pytestmark = pytest.mark.benchmark


def test_the_simulated_plan_has_one_active_workflow_in_twenty():
    data = simulated(100)
    active = [
        w["uid"]
        for w in data.workflows
        if any(j["status"] in ("running", "pending") for j in data.jobs[w["uid"]])
    ]
    assert active == [w["uid"] for i, w in enumerate(data.workflows) if i % 20 == 0]


def test_bench_sensor_picks_up_both_changes_in_its_bounds(tmp_path):
    report = run(workflows=40, rate=50.0, latency_ms=5.0, work=tmp_path)
    ticks = report["ticks"]
    # Tick 1: one request (the list), every workflow in one run, plus the workspace run.
    assert (ticks[0]["requests"], ticks[0]["run_requests"]) == (1, 2)
    assert report["tick1_partitions_requested"] == 40
    # Tick 2 checks every workflow once (the capacity at 50 req/s covers them all).
    assert ticks[1]["requests"] == 41 and ticks[1]["run_requests"] == 0
    assert report["ticks_to_pick_up_active_change"] == 1
    assert 1 <= report["ticks_to_pick_up_quiet_change"] <= report["quiet_bound_ticks"]
    assert report["requests"] == sum(t["requests"] for t in ticks)
    assert report["max_tick_seconds"] == max(t["seconds"] for t in ticks)
    assert report["checks_per_tick_allowed"] == math.floor(50 * 40 * 0.75) - 1
    assert report["rate_limited"] == 0
