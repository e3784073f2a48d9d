"""`fetch_concurrency`: several jobs' result pages in flight at once, rows still in job order."""

import re
import threading
import time

import pytest

from analytics_assets.api.client import AnalyticsApiClient, AnalyticsApiError
from analytics_assets.api.paging import prefetched_in_order
from analytics_assets.api.reads import Reader, iter_job_results
from analytics_assets.defs.resources import AnalyticsApiResource
from analytics_assets.settings import AnalyticsConfigError, ApiSettings, resolve_settings
from analytics_assets_tests.support import API_KEY, assert_full_load, load_everything
from analytics_dev.simulator import FaultRule


def _stream(name: str, items: int, delay: float, log: list[str] | None = None):
    def run():
        for i in range(items):
            time.sleep(delay)
            if log is not None:
                log.append(name)
            yield f"{name}{i}"

    return run


def test_items_come_stream_by_stream_in_order_whatever_finishes_first():
    # Later streams are faster, so they finish first; the order must not change.
    streams = [_stream(name, 3, delay) for name, delay in (("a", 0.03), ("b", 0.01), ("c", 0))]
    assert list(prefetched_in_order(streams, workers=3)) == [
        "a0", "a1", "a2", "b0", "b1", "b2", "c0", "c1", "c2",
    ]  # fmt: skip


def test_a_failing_stream_raises_in_its_turn_after_the_streams_before_it():
    def broken():
        yield "b0"
        raise AnalyticsApiError("GET /v3/jobs/b/results failed")

    got: list[str] = []
    with pytest.raises(AnalyticsApiError, match="jobs/b/results"):
        for item in prefetched_in_order([_stream("a", 2, 0.02), broken, _stream("c", 2, 0)], 3):
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

    items = prefetched_in_order([_stream("a", 1, 0), broken, later], workers=1)
    assert next(items) == "a0"
    time.sleep(0.2)  # b fails meanwhile, before the consumer moves on and starts c
    with pytest.raises(AnalyticsApiError, match="jobs/b/results"):
        next(items)
    time.sleep(0.2)
    assert started == ["b"]


def test_streams_ahead_are_bounded_and_threads_stop_when_the_consumer_does():
    produced: list[str] = []
    streams = [_stream(str(i), 100, 0, produced) for i in range(50)]
    items = prefetched_in_order(streams, workers=2, depth=4)
    assert next(items) == "00"
    time.sleep(0.3)  # let the threads run ahead as far as they may
    # 3 streams started (workers + 1), each at most depth + 1 items ahead of the consumer.
    assert set(produced) <= {"0", "1", "2"}
    assert len(produced) <= 3 * (4 + 2)
    fetchers = [t for t in threading.enumerate() if t.name.startswith("analytics-fetch")]
    assert fetchers and all(t.daemon for t in fetchers)  # a failed run never waits on them
    items.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(
        t.name.startswith("analytics-fetch") for t in threading.enumerate()
    ):
        time.sleep(0.05)
    assert not [t for t in threading.enumerate() if t.name.startswith("analytics-fetch")]


def _settings(simulator, concurrency: int) -> ApiSettings:
    return ApiSettings(
        base_url=simulator.base_url,
        api_key=API_KEY,
        fetch_concurrency=concurrency,
        backoff_factor=0.01,
        max_retry_delay=0.05,
    )


def _successful(sim_data) -> list[dict]:
    return [j for j in sim_data.all_jobs() if j["uid"] in sim_data.results]


def _rows(simulator, sim_data, concurrency: int) -> tuple[list[tuple[str, str]], int]:
    client = AnalyticsApiClient(_settings(simulator, concurrency))
    items = iter_job_results(Reader(client=client, arrow=False), _successful(sim_data))
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
