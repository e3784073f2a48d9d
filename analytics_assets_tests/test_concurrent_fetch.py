"""`fetch_concurrency`: several jobs' result pages in flight at once, rows still in job order."""

import re
import threading
from collections.abc import Iterator

import pytest

from analytics_assets.api.client import AnalyticsApiClient, AnalyticsApiError
from analytics_assets.api.paging import prefetched_in_order
from analytics_assets.api.reads import ApiReader, iter_job_results
from analytics_assets.defs.resources import AnalyticsApiResource
from analytics_assets.settings import AnalyticsConfigError, ApiSettings, resolve_settings
from analytics_assets_tests.fakes import FakeClock
from analytics_assets_tests.support import API_KEY, assert_full_load, load_everything
from analytics_dev.simulator import FaultRule


class Log:
    """What the streams produced, in order; `wait_for(n)` returns once n items were."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._changed = threading.Condition()

    def append(self, name: str) -> None:
        with self._changed:
            self.items.append(name)
            self._changed.notify_all()

    def wait_for(self, n: int, timeout: float = 10) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.items) >= n, timeout), self.items


def _stream(name: str, items: int, log: Log | None = None, after: threading.Event | None = None):
    """A stream of `items` items; it starts once `after` is set, and logs each item made."""

    def run():
        if after is not None:
            assert after.wait(10), f"{name} waited in vain"
        for i in range(items):
            if log is not None:
                log.append(name)
            yield f"{name}{i}"

    return run


def _fetchers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("analytics-fetch")]


@pytest.fixture(autouse=True)
def no_fetcher_left() -> Iterator[None]:
    """Each test starts with no fetch thread of an earlier one still ending."""
    yield
    for thread in _fetchers():
        thread.join(timeout=10)


def test_items_come_stream_by_stream_in_order_whatever_finishes_first():
    # c finishes first, then b, then a: the order of the items must not change.
    log = Log()
    c_done, b_done = threading.Event(), threading.Event()

    def finishing(name: str, done: threading.Event, after: threading.Event | None = None):
        def run():
            yield from _stream(name, 3, log, after)()
            done.set()

        return run

    a = _stream("a", 3, log, after=b_done)
    streams = [a, finishing("b", b_done, after=c_done), finishing("c", c_done)]
    assert list(prefetched_in_order(streams, workers=3)) == [
        "a0", "a1", "a2", "b0", "b1", "b2", "c0", "c1", "c2",
    ]  # fmt: skip
    assert log.items == ["c", "c", "c", "b", "b", "b", "a", "a", "a"]


def test_a_failing_stream_raises_in_its_turn_after_the_streams_before_it():
    def broken():
        yield "b0"
        raise AnalyticsApiError("GET /v3/jobs/b/results failed")

    got: list[str] = []
    with pytest.raises(AnalyticsApiError, match="jobs/b/results"):
        for item in prefetched_in_order([_stream("a", 2), broken, _stream("c", 2)], 3):
            got.append(item)
    assert got == ["a0", "a1", "b0"]


def test_no_stream_starts_once_one_has_failed():
    # A failing run must not begin the next job's requests (and their retries).
    started: list[str] = []

    def broken():
        started.append("b")
        raise AnalyticsApiError("GET /v3/jobs/b/results failed")
        yield  # a generator, like the others

    def later():
        started.append("c")
        yield "c0"

    items = prefetched_in_order([_stream("a", 1), broken, later], workers=1)
    assert next(items) == "a0"
    with pytest.raises(AnalyticsApiError, match="jobs/b/results"):
        next(items)
    # Every fetch thread has ended: c can no longer start, and it did not.
    for thread in _fetchers():
        thread.join(timeout=10)
    assert not _fetchers()
    assert started == ["b"]


def test_streams_ahead_are_bounded_and_threads_stop_when_the_consumer_does():
    log = Log()
    streams = [_stream(str(i), 100, log) for i in range(50)]
    items = prefetched_in_order(streams, workers=2, depth=4)
    assert next(items) == "00"
    # Stream 0: the item taken, 4 buffered, 1 held waiting for room; stream 1: 4 and 1;
    # stream 2 is started (workers + 1) but waits for a worker. Then everyone is blocked.
    log.wait_for(6 + 5)
    assert {name: log.items.count(name) for name in set(log.items)} == {"0": 6, "1": 5}
    fetchers = _fetchers()
    assert len(fetchers) == 3 and all(t.daemon for t in fetchers)  # a failed run never waits
    items.close()
    for thread in fetchers:
        thread.join(timeout=10)
    assert not _fetchers()


def _settings(simulator, concurrency: int) -> ApiSettings:
    return ApiSettings(
        base_url=simulator.base_url,
        api_key=API_KEY,
        fetch_concurrency=concurrency,
    )


def _successful(sim_data) -> list[dict]:
    return [j for j in sim_data.all_jobs() if j["uid"] in sim_data.results]


def _rows(simulator, sim_data, concurrency: int) -> tuple[list[tuple[str, str]], int]:
    client = AnalyticsApiClient(_settings(simulator, concurrency), clock=FakeClock())
    items = iter_job_results(ApiReader(client=client, arrow=False), _successful(sim_data))
    rows = [(r["job_uid"], r["job_result_id"]) for batch in items for r in batch]
    return rows, client.stats.requests


def test_concurrent_fetching_yields_the_sequential_rows_with_the_same_requests(simulator, sim_data):
    simulator.latency_seconds = 0.02
    sequential, sequential_requests = _rows(simulator, sim_data, 1)
    assert simulator.stats()["max_in_flight"] == 1
    simulator.reset_stats()
    concurrent, concurrent_requests = _rows(simulator, sim_data, 4)
    assert concurrent == sequential  # same rows, same order
    assert len(sequential) == sum(len(sim_data.results[j["uid"]]) for j in _successful(sim_data))
    pages = sum(-(-max(len(sim_data.results[j["uid"]]), 1) // 50) for j in _successful(sim_data))
    assert concurrent_requests == sequential_requests == pages
    assert 2 <= simulator.stats()["max_in_flight"] <= 4


def test_a_job_that_keeps_failing_fails_the_fetch_naming_it(simulator, sim_data):
    job = _successful(sim_data)[-1]
    simulator.add_fault(FaultRule(path_regex=re.escape(job["uid"]), times=-1, status=500))
    with pytest.raises(AnalyticsApiError, match=re.escape(f"/v3/jobs/{job['uid']}/results")):
        _rows(simulator, sim_data, 4)


@pytest.mark.parametrize("value", ["0", "17", "four"])
def test_a_bad_concurrency_fails_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("ANALYTICS_API_FETCH_CONCURRENCY", value)
    with pytest.raises(AnalyticsConfigError, match="ANALYTICS_API_FETCH_CONCURRENCY"):
        resolve_settings(base_url="http://127.0.0.1:9", api_key="k", destination="duckdb")


@pytest.fixture
def api_resource(api_resource):
    """conftest's resource with four jobs fetched at once (conftest's `defs` binds it)."""
    fields = {name: getattr(api_resource, name) for name in type(api_resource).model_fields}
    return AnalyticsApiResource(**{**fields, "fetch_concurrency": 4})


def test_the_assets_load_everything_with_concurrent_fetching(
    simulator, sim_data, defs, duckdb_path, instance
):
    simulator.latency_seconds = 0.01
    load_everything(defs, instance)
    assert_full_load(duckdb_path, sim_data)
    assert simulator.stats()["max_in_flight"] >= 2
