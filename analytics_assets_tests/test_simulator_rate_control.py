"""The simulator's rate limit controls: the `/_sim/config` and `/_sim/reset` endpoints, the
attribute and constructor checks, and the `--rate-limit` command-line flag."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from analytics_assets_tests.support import ROOT as PROJECT_ROOT
from analytics_assets_tests.support import http, simulator_process
from analytics_dev.simulator import ApiSimulator

LIMIT_HEADERS = {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}


def workspace(sim: ApiSimulator) -> tuple[int, dict[str, str], bytes]:
    return http(f"{sim.base_url}/v3/workspace")


def test_control_endpoint_turns_the_limit_on_and_off(sim: ApiSimulator):
    config = f"{sim.base_url}/_sim/config"
    assert http(config, method="POST", body={"rate_limit": 3})[0] == 200
    assert sim.rate_limit == 3
    assert [workspace(sim)[0] for _ in range(4)] == [200, 200, 200, 429]
    stats = json.loads(http(f"{sim.base_url}/_sim/stats")[2])
    assert stats["rate_limited"] == 1
    assert http(config, method="POST", body={"rate_limit": None})[0] == 200
    assert sim.rate_limit is None
    responses = [workspace(sim) for _ in range(5)]
    assert [r[0] for r in responses] == [200] * 5
    assert all(not LIMIT_HEADERS & set(h) for _, h, _ in responses)


@pytest.mark.parametrize("bad", [0, -1, "x", True, [1]])
def test_control_endpoint_rejects_bad_rates_with_400(sim: ApiSimulator, bad: object):
    sim.rate_limit = 5
    status, _, body = http(f"{sim.base_url}/_sim/config", method="POST", body={"rate_limit": bad})
    assert status == 400 and json.loads(body)["error_label"] == "BAD_REQUEST"
    assert sim.rate_limit == 5


@pytest.mark.parametrize("bad", [0, -0.5, float("nan"), float("inf"), "3", True])
def test_attribute_and_constructor_validate_the_rate(bad: object):
    with pytest.raises(ValueError, match="rate_limit"):
        ApiSimulator(rate_limit=bad)  # type: ignore[arg-type]
    sim = ApiSimulator(rate_limit=2)
    with pytest.raises(ValueError, match="rate_limit"):
        sim.rate_limit = bad  # type: ignore[assignment]
    assert sim.rate_limit == 2.0


def test_reset_clears_the_count_and_refills_the_buckets(sim: ApiSimulator):
    sim.rate_limit = 1
    assert [workspace(sim)[0] for _ in range(3)] == [200, 429, 429]
    assert http(f"{sim.base_url}/_sim/reset", method="POST")[0] == 200
    assert sim.stats()["rate_limited"] == 0
    assert [workspace(sim)[0] for _ in range(2)] == [200, 429]
    assert sim.stats()["rate_limited"] == 1


@pytest.mark.subprocess
def test_cli_rate_limit_flag():
    with simulator_process("--rate-limit", "1") as url:
        first, second = (http(f"{url}/v3/workspace") for _ in range(2))
        assert first[0] == 200 and first[1]["X-RateLimit-Limit"] == "1"
        assert second[0] == 429 and second[1]["Retry-After"] == "1"


@pytest.mark.subprocess
@pytest.mark.parametrize("bad", ["0", "-1", "x", "inf"])
def test_cli_rejects_a_bad_rate(bad: str):
    proc = subprocess.run(
        [sys.executable, "-m", "analytics_dev.simulator", "--port", "0", "--rate-limit", bad],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        cwd=PROJECT_ROOT,
        timeout=30,
    )
    assert proc.returncode == 2 and "--rate-limit" in proc.stderr
