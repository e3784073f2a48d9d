"""The per-key rate budget: pacing, learning from 429s, sharing across processes and hosts.

Pacing and learning run on a fake clock (the waits are asserted, not waited); sharing runs
real processes on a real SQLite file and a real PostgreSQL server, at rates that keep each
test to about a second.
"""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from analytics_assets.api.budget import LEARNED_TTL_SECONDS, RateBudget
from analytics_assets.api.budget_stores import (
    MemoryStore,
    PostgresStore,
    SqliteStore,
    key_id,
    open_store,
)
from analytics_assets.api.client import AnalyticsApiClient
from analytics_assets.settings import AnalyticsConfigError, ApiSettings
from analytics_assets_tests.fakes import FakeClock
from analytics_assets_tests.support import API_KEY, ROOT
from analytics_dev.postgres import PostgresServer, postgres_server

__all__ = ["postgres_server"]  # the fixture, imported so pytest finds it

ADVERTISED = {"X-RateLimit-Limit": "2", "Retry-After": "1"}


def _budget(configured: float | None = None) -> tuple[RateBudget, FakeClock]:
    clock = FakeClock()
    return RateBudget(MemoryStore(clock), configured, clock), clock


def test_configured_rate_spaces_every_request_by_its_interval():
    budget, clock = _budget(4.0)
    waits = [budget.acquire() for _ in range(5)]
    # One request per 250 ms widened by 2%, exactly (pyrate-limiter's extra millisecond is
    # taken off the interval): never above the plan, even when jitter brings one in early.
    assert waits[0] == 0.0
    assert waits[1:] == pytest.approx([0.255] * 4, abs=1e-9)
    assert clock.sleeps == pytest.approx([0.255] * 4, abs=1e-9)


def test_without_a_limit_nothing_waits():
    budget, clock = _budget()
    assert [budget.acquire() for _ in range(50)] == [0.0] * 50
    assert clock.sleeps == [] and budget.rate() is None


def test_a_429_teaches_the_advertised_rate_and_pauses_for_retry_after():
    budget, clock = _budget()
    learned = budget.rate_limited(ADVERTISED, default_pause=2.0, max_pause=60.0)
    assert (learned.rate, learned.source, learned.retry_in) == (2.0, "X-RateLimit-Limit: 2", 1.0)
    assert budget.rate() == 2.0
    # The pause first, then one request per 510 ms (500 ms widened by 2%).
    waits = [budget.acquire() for _ in range(3)]
    assert waits == pytest.approx([1.0, 0.510, 0.510], abs=1e-9)


def test_429s_of_one_burst_lower_nothing_but_a_429_while_paced_lowers_the_rate():
    budget, clock = _budget()
    budget.rate_limited(ADVERTISED, 2.0, 60.0)
    # Three more answers of requests already in flight when the rate was learned.
    for _ in range(3):
        assert budget.rate_limited(ADVERTISED, 2.0, 60.0).rate == 2.0
    clock.advance(5)
    lowered = budget.rate_limited(ADVERTISED, 2.0, 60.0)
    assert lowered.rate == pytest.approx(1.6)
    assert "lowered after a 429 at 2/s" in lowered.source


def test_a_lone_429_without_rate_headers_only_pauses():
    budget, clock = _budget()
    learned = budget.rate_limited({}, default_pause=2.0, max_pause=60.0)
    assert (learned.rate, learned.retry_in) == (None, 2.0)
    assert budget.rate() is None
    assert budget.acquire() == 2.0  # the pause; afterwards nothing is paced
    assert budget.acquire() == 0.0


def test_without_headers_the_rate_reached_before_the_429_is_learned():
    budget, clock = _budget()
    for _ in range(5):
        budget.succeeded()
    learned = budget.rate_limited({"Retry-After": "1"}, 2.0, 60.0)
    assert learned.rate == pytest.approx(4.5)  # 5 answers in the last second, a 10% margin
    assert learned.source == "the rate reached before the 429"


def test_retry_after_as_an_http_date_and_a_unix_reset_are_read():
    budget, clock = _budget()
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(clock.time() + 30))
    assert budget.rate_limited({"Retry-After": date}, 2.0, 60.0).retry_in == pytest.approx(30)
    reset = {"X-RateLimit-Limit": "5", "X-RateLimit-Reset": str(clock.time() + 12)}
    assert budget.rate_limited(reset, 2.0, 60.0).retry_in == pytest.approx(12)


def test_a_pause_is_capped_by_max_retry_delay():
    budget, clock = _budget()
    assert budget.rate_limited({"Retry-After": "3600"}, 2.0, 60.0).retry_in == 60.0


def test_a_learned_rate_below_the_configured_one_wins_and_expires_after_its_ttl():
    budget, clock = _budget(10.0)
    budget.rate_limited(ADVERTISED, 2.0, 60.0)
    assert budget.rate() == 2.0
    clock.advance(LEARNED_TTL_SECONDS + 1)
    assert budget.rate() == 10.0


def test_what_one_consumer_learns_every_other_consumer_of_the_store_obeys():
    clock = FakeClock()
    store = MemoryStore(clock)
    run, sensor = RateBudget(store, None, clock), RateBudget(store, None, clock)
    assert sensor.rate() is None
    run.rate_limited(ADVERTISED, 2.0, 60.0)
    clock.advance(1.0)  # the sensor re-reads the shared state within a second
    assert sensor.rate() == 2.0


def test_the_sqlite_store_keeps_learned_state_and_never_shortens_a_pause(tmp_path):
    clock = FakeClock()
    path = tmp_path / "budget.sqlite"
    first = SqliteStore(path, "k1", clock)
    first.learn(3.0, "X-RateLimit-Limit: 3", clock.time(), clock.time() + 30)
    second = SqliteStore(path, "k1", clock)
    state = second.learn(None, "", clock.time(), clock.time() + 5)
    assert (state.rate, state.source) == (3.0, "X-RateLimit-Limit: 3")
    assert state.blocked_until == clock.time() + 30
    assert SqliteStore(path, "another key", clock).read().rate is None
    first.close()
    second.close()


def test_keys_are_stored_as_a_hash_never_as_the_key(tmp_path):
    settings = ApiSettings(
        base_url="http://127.0.0.1:1", api_key=API_KEY, duckdb_path=tmp_path / "w"
    )
    budget = RateBudget(open_store(settings, FakeClock()), None, FakeClock())
    budget.rate_limited(ADVERTISED, 2.0, 60.0)
    budget.acquire()
    budget.close()
    stored = settings.default_budget_path
    assert stored.parent == tmp_path and stored.exists()
    for path in tmp_path.iterdir():
        assert API_KEY.encode() not in path.read_bytes(), path
    assert key_id(API_KEY, "http://a") != key_id(API_KEY, "http://b")


def test_fetch_workers_follow_rate_times_round_trip_up_to_the_bound(tmp_path):
    settings = ApiSettings(
        base_url="http://127.0.0.1:1",
        api_key=API_KEY,
        duckdb_path=tmp_path / "w",
        rate_limit=10.0,
        fetch_concurrency=8,
    )
    client = AnalyticsApiClient(settings, clock=FakeClock())
    assert client.fetch_workers() == 2  # no round trip measured yet: one spare
    client.latency = 0.2
    assert client.fetch_workers() == 4  # 10 req/s x 0.2 s, and one spare
    client.latency = 5.0
    assert client.fetch_workers() == 8  # the bound
    client.close()


def test_unthrottled_fetch_workers_start_at_one_and_ramp_with_answers(tmp_path):
    settings = ApiSettings(base_url="http://127.0.0.1:1", api_key=API_KEY, duckdb_path=tmp_path)
    client = AnalyticsApiClient(settings, clock=FakeClock())
    client.latency = 0.2
    assert client.fetch_workers() == 1
    client.stats.answered = 12
    assert client.fetch_workers() == 4
    client.latency = 0.002  # loopback: one request in flight is enough
    assert client.fetch_workers() == 1
    client.close()


def test_rate_limit_settings_are_validated_naming_the_variable(tmp_path):
    base = {"base_url": "http://127.0.0.1:1", "api_key": API_KEY, "duckdb_path": tmp_path}
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(AnalyticsConfigError, match="ANALYTICS_API_RATE_LIMIT "):
            ApiSettings(**base, rate_limit=bad)
    with pytest.raises(AnalyticsConfigError, match="ANALYTICS_API_RATE_LIMIT_TIMEOUT"):
        ApiSettings(**base, rate_limit_timeout=0)


# ----------------------------------------------------------------------------- processes
ACQUIRE = """
import sys, time
from analytics_assets.api.budget import RateBudget
from analytics_assets.api.budget_stores import PostgresStore, SqliteStore
from analytics_assets.api.budget import SystemClock
where, rate, count = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
clock = SystemClock()
store = PostgresStore(where, "shared") if "://" in where else SqliteStore(
    __import__("pathlib").Path(where), "shared", clock)
budget = RateBudget(store, rate, clock)
print("ready", flush=True)
sys.stdin.readline()
for _ in range(count):
    budget.acquire()
    print(repr(time.time()), flush=True)
budget.close()
"""


def _admissions_of_processes(where: str, rate: float, count: int, processes: int) -> list[float]:
    """Start the processes, release them together, return every admission's wall time."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ACQUIRE, where, str(rate), str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(processes)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    times: list[float] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        times += [float(line) for line in out.split()]
    return sorted(times)


def _assert_paced(times: list[float], rate: float, expected: int) -> None:
    assert len(times) == expected
    # One budget: all admissions span (N - 1) intervals (each process alone would take a
    # third of that). The margin is for the processes' own print scheduling only.
    assert times[-1] - times[0] >= (expected - 1) / rate - 0.1, times


@pytest.mark.subprocess
def test_processes_on_one_host_share_one_budget_through_the_sqlite_file(tmp_path: Path):
    times = _admissions_of_processes(str(tmp_path / "budget.sqlite"), 20.0, 8, 3)
    _assert_paced(times, 20.0, 24)


@pytest.mark.subprocess
def test_hosts_share_one_budget_through_postgres(postgres_server: PostgresServer):
    with postgres_server.database() as database:
        url = postgres_server.dsn(database)
        times = _admissions_of_processes(url, 20.0, 8, 3)
        _assert_paced(times, 20.0, 24)
        # Learned state is shared too, and survives the consumers.
        clock = FakeClock()
        store = PostgresStore(url, "shared")
        store.learn(4.0, "X-RateLimit-Limit: 4", clock.time(), clock.time() + 9)
        other = PostgresStore(url, "shared")
        assert (other.read().rate, other.read().blocked_until) == (4.0, clock.time() + 9)
        store.close()
        other.close()


def test_an_unreachable_postgres_store_fails_naming_the_setting_not_the_url(
    postgres_server: PostgresServer, tmp_path: Path
):
    url = postgres_server.dsn("postgres").replace("@", "x@", 1)  # a wrong password
    settings = ApiSettings(
        base_url="http://127.0.0.1:1",
        api_key=API_KEY,
        duckdb_path=tmp_path / "w",
        rate_limit_store=url,
    )
    with pytest.raises(AnalyticsConfigError, match="ANALYTICS_API_RATE_LIMIT_STORE") as caught:
        open_store(settings, FakeClock())
    password = url.split(":")[2].split("@")[0]
    assert url not in str(caught.value) and password not in str(caught.value)
