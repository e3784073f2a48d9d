"""`fetch_concurrency`: several jobs' result pages in flight at once, taken as they arrive,
each job's own pages in order, the longest jobs first."""

import re
import threading
import time
from collections.abc import Iterator

import pytest

from analytics_assets.api.client import AnalyticsApiClient, AnalyticsApiError
from analytics_assets.api.reads import ApiReader, iter_job_results
from analytics_assets.api.scheduler import END, PageFetch, longest_first
from analytics_assets.api.source import job_results_source
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


def pages_as_they_arrive(jobs, workers: int = 1, **options):
    """Every job given at once: each (job, item) as it arrives, then (job, END)."""
    return PageFetch(jobs, workers, closed=True, **options).pages()


def _fetchers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("analytics-fetch")]


@pytest.fixture(autouse=True)
def no_fetcher_left() -> Iterator[None]:
    """Each test starts with no fetch thread of an earlier one still ending."""
    yield
    for thread in _fetchers():
        thread.join(timeout=10)


def _taken(items) -> list[tuple[str, object]]:
    return [(key, "END" if item is END else item) for key, item in items]


def test_jobs_interleave_as_they_arrive_each_in_its_own_order():
    # c runs alone first, then b, then a (each waits on the one before): the caller sees c's
    # pages first although a and b come first in the list, and each job's pages in order.
    log = Log()
    c_done, b_done = threading.Event(), threading.Event()

    def finishing(name: str, done: threading.Event, after: threading.Event | None = None):
        def run():
            yield from _stream(name, 3, log, after)()
            done.set()

        return run

    a = _stream("a", 3, log, after=b_done)
    jobs = [("a", a), ("b", finishing("b", b_done, after=c_done)), ("c", finishing("c", c_done))]
    got = _taken(pages_as_they_arrive(jobs, workers=3))
    assert [item for _, item in got if item != "END"] == [
        "c0", "c1", "c2", "b0", "b1", "b2", "a0", "a1", "a2",
    ]  # fmt: skip
    for name in "abc":  # a job's END comes after its last page (its state is then released)
        assert [item for key, item in got if key == name] == [f"{name}{i}" for i in range(3)] + [
            "END"
        ]


def test_a_slow_job_does_not_hold_back_the_others():
    # The head-of-line case: job a's first page never comes until every page of b and c has
    # been taken by the caller; with a job-order consumer this would deadlock.
    release_a = threading.Event()
    jobs = [
        ("a", _stream("a", 2, after=release_a)),
        ("b", _stream("b", 20)),
        ("c", _stream("c", 20)),
    ]
    items = pages_as_they_arrive(jobs, workers=3, buffered=2)
    got = []
    for key, item in items:
        got.append((key, item))
        if sum(1 for k, i in got if i is END) == 2 and not release_a.is_set():
            release_a.set()
    assert [k for k, i in got[:42]].count("a") == 0
    assert [(k, i) for k, i in got if k == "a"] == [("a", "a0"), ("a", "a1"), ("a", END)]
    for name in "bc":
        assert [i for k, i in got if k == name] == [f"{name}{n}" for n in range(20)] + [END]


def test_a_failing_job_fails_the_fetch():
    def broken():
        yield "b0"
        raise AnalyticsApiError("GET /v3/jobs/b/results failed")

    got: list = []
    with pytest.raises(AnalyticsApiError, match="jobs/b/results"):
        for key, item in pages_as_they_arrive([("a", _stream("a", 2)), ("b", broken)], 1):
            got.append((key, item))
    assert got == [("a", "a0"), ("a", "a1"), ("a", END), ("b", "b0")]


def test_no_job_starts_once_one_has_failed():
    # A failing run must not begin the next job's requests (and their retries).
    started: list[str] = []

    def broken():
        started.append("b")
        raise AnalyticsApiError("GET /v3/jobs/b/results failed")
        yield  # a generator, like the others

    def later():
        started.append("c")
        yield "c0"

    items = pages_as_they_arrive([("a", _stream("a", 1)), ("b", broken), ("c", later)], 1)
    assert next(items) == ("a", "a0")
    assert next(items) == ("a", END)
    with pytest.raises(AnalyticsApiError, match="jobs/b/results"):
        next(items)
    # Every fetch thread has ended: c can no longer start, and it did not.
    for thread in _fetchers():
        thread.join(timeout=10)
    assert not _fetchers()
    assert started == ["b"]


def test_buffering_is_bounded_whatever_the_number_of_jobs_and_threads_stop_with_the_caller():
    log = Log()
    jobs = [(str(i), _stream(str(i), 100, log)) for i in range(50)]
    items = pages_as_they_arrive(jobs, workers=2, buffered=3)
    assert next(items)[0] in {"0", "1"}  # the two threads took the first two jobs
    # The item taken, 3 buffered, and one held by each of the 2 threads waiting for room:
    # 6 made of 5,000, whatever the jobs' number or size, and then every thread is blocked.
    log.wait_for(6)
    time.sleep(0.2)  # room for a wrongly unbounded producer to show itself
    assert len(log.items) == 6
    assert set(log.items) <= {"0", "1"}
    fetchers = _fetchers()
    assert len(fetchers) == 2 and all(t.daemon for t in fetchers)  # a failed run never waits
    items.close()
    for thread in fetchers:
        thread.join(timeout=10)
    assert not _fetchers()


def test_the_longest_jobs_start_first_unknown_counts_last():
    jobs: list[dict] = [
        {"uid": "short", "total_row_count": 10},
        {"uid": "unknown", "total_row_count": None},
        {"uid": "long", "total_row_count": 900},
        {"uid": "middle-too", "total_row_count": 50},
        {"uid": "middle", "total_row_count": 50},
    ]
    # Ties by uid: the same order from the API's listing (fetched ahead) or the warehouse.
    assert [j["uid"] for j in longest_first(jobs)] == [
        "long", "middle", "middle-too", "short", "unknown",
    ]  # fmt: skip


def _settings(simulator, concurrency: int, rate_limit: float | None = None) -> ApiSettings:
    return ApiSettings(
        base_url=simulator.base_url,
        api_key=API_KEY,
        fetch_concurrency=concurrency,
        rate_limit=rate_limit,
    )


def _successful(sim_data) -> list[dict]:
    return [j for j in sim_data.all_jobs() if j["uid"] in sim_data.results]


def _fetch(simulator, sim_data, concurrency: int, rate_limit: float | None = None):
    """(rows as (job uid, id), the client) of one fetch of every successful job."""
    clock = FakeClock()
    client = AnalyticsApiClient(_settings(simulator, concurrency, rate_limit), clock=clock)
    items = iter_job_results(ApiReader(client=client, arrow=False), _successful(sim_data))
    rows = [(r["job_uid"], r["job_result_id"]) for batch in items for r in batch]
    return rows, client


def _rows(simulator, sim_data, concurrency: int) -> tuple[list[tuple[str, str]], int]:
    rows, client = _fetch(simulator, sim_data, concurrency)
    return rows, client.stats.requests


def _by_job(rows: list[tuple[str, str]]) -> dict[str, list[str]]:
    jobs: dict[str, list[str]] = {}
    for job, row_id in rows:
        jobs.setdefault(job, []).append(row_id)
    return jobs


def _pages(sim_data) -> int:
    return sum(-(-max(len(sim_data.results[j["uid"]]), 1) // 50) for j in _successful(sim_data))


def test_concurrent_fetching_yields_every_job_complete_in_its_order_with_the_same_requests(
    simulator, sim_data
):
    simulator.latency_seconds = 0.02
    sequential, sequential_requests = _rows(simulator, sim_data, 1)
    assert simulator.stats()["max_in_flight"] == 1
    simulator.reset_stats()
    concurrent, concurrent_requests = _rows(simulator, sim_data, 4)
    # Every job's rows, each job's in the same order (the ids of identical rows depend on it).
    assert _by_job(concurrent) == _by_job(sequential)
    assert len(set(concurrent)) == len(concurrent) == len(sequential)
    assert len(sequential) == sum(len(sim_data.results[j["uid"]]) for j in _successful(sim_data))
    assert concurrent_requests == sequential_requests == _pages(sim_data)
    assert 2 <= simulator.stats()["max_in_flight"] <= 4


def test_the_longest_job_is_fetched_first(simulator, sim_data):
    _rows(simulator, sim_data, 1)
    order: list[str] = []
    for record in simulator.requests:
        uid = record.path.split("/")[-2]
        if record.path.endswith("/results") and uid not in order:
            order.append(uid)
    sizes = {j["uid"]: j["total_row_count"] for j in _successful(sim_data)}
    assert len(set(sizes.values())) > 1  # the data has jobs of different lengths
    assert order == sorted(sizes, key=lambda uid: -sizes[uid])


def test_a_paced_fetch_never_outruns_the_plan_and_makes_no_extra_request(simulator, sim_data):
    # Four jobs at once on one budget: on the fake clock the budget's waits are recorded, not
    # waited, and together they space the requests at least 1.02/rate s apart.
    rows, client = _fetch(simulator, sim_data, 4, rate_limit=10)
    pages = _pages(sim_data)
    assert client.stats.requests == pages and client.stats.rate_limited == 0
    assert len(rows) == sum(len(sim_data.results[j["uid"]]) for j in _successful(sim_data))
    assert client.clock.monotonic() >= (pages - 1) * 0.102 - 1e-9


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


def test_the_asset_source_starts_the_job_with_the_most_rows_the_warehouse_knows(
    simulator, sim_data
):
    # The asset passes (job uid, workflow uid, total_row_count) as read from the warehouse.
    jobs = _successful(sim_data)
    refs = [(j["uid"], j["workflow_uid"], j["total_row_count"]) for j in jobs]
    client = AnalyticsApiClient(_settings(simulator, 1), clock=FakeClock())
    source = job_results_source(refs, reader=ApiReader(client=client, arrow=False))
    rows = list(source.resources["job_results"])  # dlt yields the rows of each list
    assert len(rows) == sum(len(sim_data.results[j["uid"]]) for j in jobs)
    first = simulator.requests[0].path.split("/")[-2]
    assert first == max(jobs, key=lambda j: j["total_row_count"])["uid"]
