"""Results fetched ahead: a run's result pages start as soon as its jobs are listed, while the
jobs load and the blocking check run; nothing fetched ahead passes the check unchecked."""

import math
import threading
import time
from collections.abc import Iterator

import pytest
from dagster import AssetKey, DagsterEventType

from analytics_assets.api.admission import AdmissionOrder
from analytics_assets.api.client import AnalyticsApiClient
from analytics_assets.api.reads import ApiReader, ResultFetch, iter_job_results
from analytics_assets.api.scheduler import END, End, PageFetch
from analytics_assets.defs.ahead import AHEAD_BUFFERED_PAGES, FetchesAhead
from analytics_assets.settings import resolve_settings
from analytics_assets_tests.fakes import FakeClock
from analytics_assets_tests.support import (
    API_KEY,
    assert_partition_exact,
    busiest,
    fetch,
    run_partition,
    run_workspace,
    seed_job,
)
from analytics_dev.simulator import ApiSimulator

PAGE_SIZE = 5  # many pages per job: more than a fetch ahead buffers


@pytest.fixture
def simulator(sim_data, sim_api_key) -> Iterator[ApiSimulator]:
    with ApiSimulator(sim_data, api_key=sim_api_key, page_size=PAGE_SIZE) as sim:
        yield sim


def _fetchers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("analytics-fetch")]


def _no_fetcher_within(seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _fetchers() and time.monotonic() < deadline:
        time.sleep(0.02)
    return not _fetchers()


@pytest.fixture(autouse=True)
def no_fetcher_left() -> Iterator[None]:
    yield
    assert _no_fetcher_within(5), _fetchers()


def _pages(sim_data, uid: str) -> int:
    return sum(
        max(1, math.ceil(len(sim_data.results[j["uid"]]) / PAGE_SIZE))
        for j in sim_data.successful_jobs(uid)
    )


def _result_requests(simulator) -> list:
    return [r for r in simulator.requests if r.path.endswith("/results")]


def _step_ended(instance, run_id: str, op: str) -> float:
    """When the step of `op` succeeded, on the monotonic clock of the simulator's records."""
    offset = time.time() - time.monotonic()
    for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_SUCCESS):
        if record.step_key == op:
            return record.timestamp - offset
    raise AssertionError(f"no step {op} succeeded")


def _messages(instance, run_id: str) -> list[str]:
    return [record.user_message for record in instance.all_logs(run_id)]


# ----------------------------------------------------------------- in runs, with Dagster
def test_results_are_fetched_while_the_jobs_load_and_are_checked(
    defs, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uid = busiest(sim_data)
    simulator.reset_requests()
    result = run_partition(defs, instance, uid)
    assert result.success
    assert_partition_exact(duckdb_path, sim_data, uid)
    requests = _result_requests(simulator)
    # Every page once, no request more, and the first of them before the jobs step ended.
    assert len(requests) == _pages(sim_data, uid)
    assert len({(r.path, tuple(sorted(r.query.items()))) for r in requests}) == len(requests)
    jobs_step_ended = _step_ended(instance, result.run_id, "analytics_workflow_jobs_assets")
    assert min(r.started for r in requests) < jobs_step_ended
    job_results = result.asset_materializations_for_node("analytics_job_results_assets")[0]
    assert job_results.metadata["api_requests"].value == _pages(sim_data, uid)
    started = f"{len(sim_data.successful_jobs(uid))} started ahead"
    messages = _messages(instance, result.run_id)
    assert any(started in m for m in messages), messages


@pytest.mark.parametrize("seeded", ["violating", "missing"])
def test_a_run_the_check_will_fail_fetches_no_result_ahead(
    defs, instance, simulator, sim_data, duckdb_path, seeded
):
    assert run_workspace(defs, instance).success
    uid = busiest(sim_data)
    other = next(w["uid"] for w in sim_data.workflows if w["uid"] != uid)
    assert run_partition(defs, instance, other).success  # the tables exist
    # Before the partition's first run, a row the check fails on: one of `successful_jobs`
    # outside the filter, or a successful job of `jobs` missing from `successful_jobs`.
    if seeded == "violating":
        seed_job(duckdb_path, "successful_jobs", "bad-job", uid, "running", None)
    else:
        seed_job(duckdb_path, "jobs", "bad-job", uid, "finished", 5)
    simulator.reset_requests()
    result = run_partition(defs, instance, uid, raise_on_error=False)
    assert not result.success
    assert {e.asset_key for e in result.get_asset_materialization_events()} == {
        AssetKey("jobs"),
        AssetKey("successful_jobs"),
    }
    results = "SELECT count(*) FROM analytics.job_results WHERE workflow_uid = ?"
    assert fetch(duckdb_path, results, uid) == [(0,)]
    assert _result_requests(simulator) == []  # not one result page, as without a fetch ahead
    messages = _messages(instance, result.run_id)
    said = "results not fetched ahead: the check would fail on 1 job(s) the warehouse holds"
    assert any(f"{said} (bad-job)" in m for m in messages), messages


def test_a_cancelled_fetch_ahead_stops_at_its_buffer_and_leaves_no_thread(simulator, sim_data):
    # What a failing check does to the run's fetch ahead (checks.py), on a fetch of its own.
    uid = busiest(sim_data)
    assert _pages(sim_data, uid) > 2 * AHEAD_BUFFERED_PAGES
    fetches = FetchesAhead()
    ahead = fetches.start("run-1", _client(simulator), loaded=())
    ahead.listed(uid, _jobs(sim_data, uid))
    assert ahead.offered == len(sim_data.successful_jobs(uid))
    deadline = time.monotonic() + 10  # the buffer fills: nobody reads it yet
    while len(_result_requests(simulator)) < AHEAD_BUFFERED_PAGES and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fetches.cancel("run-1") and not fetches.cancel("run-1") and len(fetches) == 0
    assert _no_fetcher_within(5)
    fetched = len(_result_requests(simulator))
    # The buffer, one page held per thread and the requests in flight (2 threads here).
    assert AHEAD_BUFFERED_PAGES <= fetched <= AHEAD_BUFFERED_PAGES + 2 * 2
    time.sleep(0.3)
    assert len(_result_requests(simulator)) == fetched  # no request after the cancel


def test_a_run_without_job_results_fetches_no_result_ahead(defs, instance, simulator, sim_data):
    assert run_workspace(defs, instance).success
    uid = busiest(sim_data)
    simulator.reset_requests()
    selection = [AssetKey("jobs"), AssetKey("successful_jobs")]
    assert run_partition(defs, instance, uid, asset_selection=selection).success
    assert _result_requests(simulator) == []


def test_a_full_refresh_of_results_fetches_the_jobs_not_fetched_ahead(
    defs, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uid = busiest(sim_data)
    assert run_partition(defs, instance, uid).success
    simulator.reset_requests()
    # Every result is loaded, so nothing is fetched ahead; the refresh fetches them all.
    config = {"ops": {"analytics_job_results_assets": {"config": {"full_refresh": True}}}}
    assert run_partition(defs, instance, uid, run_config=config).success
    assert len(_result_requests(simulator)) == _pages(sim_data, uid)
    assert_partition_exact(duckdb_path, sim_data, uid)


# ----------------------------------------------------------------- the fetch itself
def _client(simulator) -> AnalyticsApiClient:
    settings = resolve_settings(
        base_url=simulator.base_url, api_key=API_KEY, destination="duckdb", fetch_concurrency=2
    )
    return AnalyticsApiClient(settings, clock=FakeClock())


def _jobs(sim_data, uid: str) -> list[dict]:
    return [dict(j) for j in sim_data.successful_jobs(uid)]


def test_a_fetch_reads_the_jobs_wanted_at_the_end_not_those_started_with(simulator, sim_data):
    first, second, *_ = [w["uid"] for w in sim_data.workflows if sim_data.successful_jobs(w["uid"])]
    client = _client(simulator)
    fetch = ResultFetch(client, arrow=False, buffered=4)
    fetch.add(_jobs(sim_data, first))  # started with one workflow's jobs...
    wanted = _jobs(sim_data, second)  # ...then another's are the ones wanted
    pages: dict[str, int] = {}
    for job, page in fetch.pages(wanted):
        assert job in wanted
        pages[job["uid"]] = pages.get(job["uid"], 0) + (0 if isinstance(page, End) else len(page))
    assert pages == {j["uid"]: len(sim_data.results[j["uid"]]) for j in wanted}
    client.close()


def test_a_fetch_nobody_claimed_stops_and_the_reader_fetches_again(simulator, sim_data):
    uid = busiest(sim_data)
    clock = {"now": 0.0}
    client = _client(simulator)
    reader = ApiReader(client=client, arrow=False)
    ahead = ResultFetch(
        client, arrow=False, buffered=2, unclaimed_seconds=60, monotonic=lambda: clock["now"]
    )
    ahead.add(_jobs(sim_data, uid))
    clock["now"] = 61.0  # nobody came: its threads stop at their next item
    assert _no_fetcher_within(5)
    stopped_at = len(_result_requests(simulator))
    assert stopped_at < _pages(sim_data, uid)
    reader.fetched_ahead = ahead
    rows = [row for batch in iter_job_results(reader, _jobs(sim_data, uid)) for row in batch]
    assert len(rows) == sum(len(sim_data.results[j["uid"]]) for j in _jobs(sim_data, uid))
    assert len({r["job_result_id"] for r in rows}) == len(rows)
    assert len(_result_requests(simulator)) == stopped_at + _pages(sim_data, uid)
    client.close()


def _items(name: str, n: int, gate: threading.Event | None = None):
    def run():
        if gate is not None:
            assert gate.wait(10)
        yield from (f"{name}{i}" for i in range(n))

    return run


def test_jobs_added_later_are_fetched_and_withdrawn_ones_never_start():
    gate = threading.Event()
    fetch = PageFetch([("a", _items("a", 3, gate))], workers=1)
    fetch.add([("b", _items("b", 2)), ("c", _items("c", 2))])
    # "a" is taken by the one thread (it waits on the gate); "b" is still queued.
    deadline = time.monotonic() + 5
    while fetch._shared.active == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fetch.retain(lambda key: key != "b") == []
    assert fetch.retain(lambda key: key in ("b", "c")) == ["a"]  # taken: its items still come
    fetch.add([("d", _items("d", 1))])
    fetch.close()
    gate.set()
    got = list(fetch.pages())
    assert [item for key, item in got if key == "a"] == ["a0", "a1", "a2", END]
    assert [key for key, item in got if item is END] == ["a", "c", "d"]
    assert [item for _, item in got if item is not END] == ["a0", "a1", "a2", "c0", "c1", "d0"]
    with pytest.raises(RuntimeError, match="closed"):
        fetch.add([("e", _items("e", 1))])


def test_an_open_fetch_cannot_be_read():
    fetch = PageFetch([("a", _items("a", 1))])
    with pytest.raises(RuntimeError, match=r"close\(\) it first"):
        next(fetch.pages())
    fetch.cancel()


# ----------------------------------------------------------------- who asks the budget next
def test_the_most_urgent_waiting_thread_takes_the_next_turn_ties_in_arrival_order():
    order = AdmissionOrder()
    entered: list[str] = []

    def ask(name: str, urgency: float) -> None:
        with order.urgency(urgency), order.turn():
            entered.append(name)

    threads = []
    with order.turn():  # held: every other thread queues
        for name, urgency in [("low", 5), ("high", 50), ("middle", 20), ("high, later", 50)]:
            thread = threading.Thread(target=ask, args=(name, urgency))
            thread.start()
            threads.append(thread)
            deadline = time.monotonic() + 5
            while order.waiting() < len(threads) and time.monotonic() < deadline:
                time.sleep(0.005)
        assert order.waiting() == 4 and entered == []
    for thread in threads:
        thread.join(5)
    assert entered == ["high", "high, later", "middle", "low"]
    assert order.current() == 0.0  # the urgency was the threads' own


class RecordingClient(AnalyticsApiClient):
    """Notes the urgency each request was asked with (nothing else changes)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.asked: list[tuple[str, float]] = []

    def get_json(self, path_or_url, params=None, **kwargs):
        self.asked.append((path_or_url, self.admission.current()))
        return super().get_json(path_or_url, params, **kwargs)


def test_a_result_request_is_as_urgent_as_its_jobs_rows_still_to_fetch(simulator, sim_data):
    uid = busiest(sim_data)
    settings = resolve_settings(
        base_url=simulator.base_url, api_key=API_KEY, destination="duckdb", fetch_concurrency=1
    )
    client = RecordingClient(settings, clock=FakeClock())
    jobs = _jobs(sim_data, uid)
    fetch = ResultFetch(client, arrow=False)
    assert sum(1 for _, page in fetch.pages(jobs) if page is not END) == _pages(sim_data, uid)
    by_job: dict[str, list[float]] = {}
    for path, urgency in client.asked:
        by_job.setdefault(path.split("/")[3], []).append(urgency)
    for job in jobs:
        total = job["total_row_count"]
        assert by_job[job["uid"]] == [
            total - PAGE_SIZE * n
            for n in range(math.ceil(len(sim_data.results[job["uid"]]) / PAGE_SIZE))
        ]
    client.close()
