"""The simulator's per-API-key plan rate limit: a token bucket answered over real HTTP."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.client import HTTPConnection

import pytest

from analytics_assets_tests.support import SIM_KEY as KEY
from analytics_assets_tests.support import http
from analytics_dev.simulator import ApiSimulator, FaultRule, SimulatedData

LIMIT_HEADERS = {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}


class FrozenClock:
    """Stands in for time.monotonic, so bucket arithmetic is exact whatever the machine's load."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def sim(data: SimulatedData, clock: FrozenClock) -> Iterator[ApiSimulator]:
    """No limit until a test sets one; time stands still until a test moves ``clock``."""
    with ApiSimulator(data) as simulator:
        simulator._clock = clock
        yield simulator


def workspace(sim: ApiSimulator, key: str | None = KEY) -> tuple[int, dict[str, str], bytes]:
    return http(f"{sim.base_url}/v3/workspace", key=key)


def test_full_bucket_serves_its_capacity_then_429_with_limit_headers(sim: ApiSimulator):
    sim.rate_limit = 2
    responses = [workspace(sim) for _ in range(5)]
    assert [r[0] for r in responses] == [200, 200, 429, 429, 429]
    assert [(h["X-RateLimit-Remaining"], h["X-RateLimit-Reset"]) for _, h, _ in responses[:2]] == [
        ("1", "0.500"),  # one token left; refilling it to the capacity of 2 takes 1/2 s
        ("0", "1.000"),
    ]
    for _, headers, body in responses[2:]:
        assert headers["Retry-After"] == "1"  # 0.5 s to the next token, rounded up
        assert headers["X-RateLimit-Limit"] == "2"
        assert headers["X-RateLimit-Remaining"] == "0"
        assert headers["X-RateLimit-Reset"] == "0.500"
        error = json.loads(body)
        assert error["status_code"] == 429 and error["error_label"] == "TOO_MANY_REQUESTS"
        assert error["error_scope"] == "rate_limit"
        assert error["message"] == "Too many requests: plan limit is 2 requests per second."
    assert all(h["X-RateLimit-Limit"] == "2" for _, h, _ in responses)
    assert sim.stats()["rate_limited"] == 3
    assert [r.status for r in sim.requests] == [200, 200, 429, 429, 429]


def test_bucket_refills_continuously_at_the_plan_rate(sim: ApiSimulator, clock: FrozenClock):
    sim.rate_limit = 2.5
    assert [workspace(sim)[0] for _ in range(3)] == [200, 200, 429]  # capacity 2.5: 2 whole
    clock.now += 0.2  # 0.5 + 0.2 * 2.5 = 1.0 token
    status, headers, _ = workspace(sim)
    assert status == 200 and headers["X-RateLimit-Limit"] == "2.5"
    assert headers["X-RateLimit-Remaining"] == "0" and headers["X-RateLimit-Reset"] == "1.000"
    clock.now += 0.1  # 0.25 token: the next one is 0.3 s away
    status, headers, _ = workspace(sim)
    assert status == 429 and headers["X-RateLimit-Reset"] == "0.300"
    assert headers["Retry-After"] == "1"
    clock.now += 100  # a long pause refills only up to the capacity
    assert [workspace(sim)[0] for _ in range(3)] == [200, 200, 429]


def test_retry_after_is_whole_seconds_rounded_up_for_slow_plans(sim: ApiSimulator):
    sim.rate_limit = 0.4  # capacity 1, a token every 2.5 s
    assert workspace(sim)[0] == 200
    status, headers, _ = workspace(sim)
    assert status == 429
    assert headers["Retry-After"] == "3"
    assert headers["X-RateLimit-Reset"] == "2.500"
    assert headers["X-RateLimit-Limit"] == "0.4"


def test_real_clock_refill_serves_the_key_again():
    # A fast plan keeps the real wait tiny: a token every 50 ms.
    with ApiSimulator(SimulatedData(seed=7), rate_limit=20) as sim:
        conn = HTTPConnection("127.0.0.1", sim.port, timeout=10)  # keep-alive: fast

        def get() -> tuple[int, str | None]:
            conn.request("GET", "/v3/workspace", headers={"x-api-key": KEY})
            resp = conn.getresponse()
            resp.read()
            return resp.status, resp.getheader("X-RateLimit-Limit")

        try:
            statuses: list[int] = []
            while 429 not in statuses and len(statuses) < 2000:
                statuses.append(get()[0])
            assert statuses[-1] == 429
            assert len(statuses) - 1 >= 20  # the full burst, plus whatever refilled meanwhile
            # The one test of the suite that waits real time: the default clock's refill (a
            # token every 50 ms), polled until it serves again, never a fixed sleep.
            drained, polled = time.monotonic(), 0
            while (answer := get()) == (429, "20") and time.monotonic() - drained < 5:
                polled += 1
                time.sleep(0.005)
            assert answer == (200, "20")
            assert time.monotonic() - drained < 1.0  # one token's 50 ms, and a loaded host's
        finally:
            conn.close()
        assert sim.stats()["rate_limited"] == 1 + polled


def test_each_api_key_has_its_own_bucket_and_no_key_shares_one(
    data: SimulatedData, clock: FrozenClock
):
    with ApiSimulator(data, api_key=None, rate_limit=1) as sim:
        sim._clock = clock
        outcomes = {
            key: [workspace(sim, key=key)[0] for _ in range(2)] for key in ("key-a", "key-b", None)
        }
        assert outcomes == {"key-a": [200, 429], "key-b": [200, 429], None: [200, 429]}
        assert workspace(sim, key="key-c")[0] == 200
        assert sim.stats()["rate_limited"] == 3


def test_rejected_credentials_spend_no_tokens(data: SimulatedData, clock: FrozenClock):
    with ApiSimulator(data, rate_limit=1, project_id="proj-1") as sim:
        sim._clock = clock
        for key in ("wrong-key", None):
            status, headers, _ = workspace(sim, key=key)
            assert status == 401 and not LIMIT_HEADERS & set(headers)
        status, headers, _ = workspace(sim)  # right key, no project: 403
        assert status == 403 and not LIMIT_HEADERS & set(headers)
        req = urllib.request.Request(
            f"{sim.base_url}/v3/workspace", headers={"x-api-key": KEY, "x-project-id": "proj-1"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200 and resp.headers["X-RateLimit-Remaining"] == "0"
        assert sim.stats()["rate_limited"] == 0


def test_limit_is_checked_before_faults_and_the_429_pays_the_latency(
    sim: ApiSimulator, clock: FrozenClock
):
    sim.rate_limit = 1
    assert workspace(sim)[0] == 200
    sim.add_fault(FaultRule("workspace$", status=503))
    sim.latency_seconds = 0.05
    started = time.monotonic()
    assert workspace(sim)[0] == 429  # the fault's single use is still there
    assert time.monotonic() - started >= 0.05
    clock.now += 1
    status, headers, _ = workspace(sim)
    assert status == 503 and headers["X-RateLimit-Remaining"] == "0"  # passed responses too
    assert workspace(sim)[0] == 429


def test_no_limit_sends_no_rate_headers(sim: ApiSimulator):
    responses = [workspace(sim) for _ in range(20)]
    assert [r[0] for r in responses] == [200] * 20
    assert all(not (LIMIT_HEADERS | {"Retry-After"}) & set(h) for _, h, _ in responses)
    assert sim.stats()["rate_limited"] == 0


def test_concurrent_clients_share_the_bucket_exactly(sim: ApiSimulator):
    sim.rate_limit = 10
    statuses: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        for _ in range(20):
            status = workspace(sim)[0]
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(200) == 10 and statuses.count(429) == 150
    assert sim.stats()["rate_limited"] == 150


def test_max_in_flight_counts_rate_limited_requests_too(sim: ApiSimulator):
    sim.rate_limit = 1
    sim.latency_seconds = 0.2
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def client() -> None:
        barrier.wait()
        statuses.append(workspace(sim)[0])

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 429, 429, 429]
    assert sim.stats()["max_in_flight"] >= 2  # four requests each held 0.2 s, started together


def test_workspace_limit_has_its_own_bucket_and_spares_the_plans(sim: ApiSimulator):
    sim.rate_limit = 10.0
    sim.workspace_rate_limit = 5 / 60  # the vendor's trial quota endpoint: 5 per minute
    assert workspace(sim)[0] == 200
    status, headers, _ = workspace(sim)
    assert status == 429
    assert headers["X-RateLimit-Limit"] == "0.0833333"
    assert headers["Retry-After"] == "12"
    # The rest of the API still has its whole bucket of 10.
    assert [http(f"{sim.base_url}/v3/workflows", key=KEY)[0] for _ in range(10)] == [200] * 10
    assert http(f"{sim.base_url}/v3/workflows", key=KEY)[0] == 429
    with pytest.raises(ValueError, match="workspace_rate_limit"):
        sim.workspace_rate_limit = 0
