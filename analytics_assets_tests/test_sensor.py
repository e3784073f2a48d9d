"""workflow_refresh_sensor evaluated against the simulator and a real Dagster instance; what
it requests is launched in-process, as the daemon would launch it."""

from dagster import DagsterRun, DagsterRunStatus, SensorResult, build_sensor_context

from analytics_assets.defs.resources import AnalyticsApiResource
from analytics_assets.defs.sensor_state import Entry, SensorState, load_ranges
from analytics_assets_tests.fakes import FakeClock
from analytics_assets_tests.support import (
    launch_requested,
    make_defs,
    requested_partitions,
)

PARTITION_START = "dagster/asset_partition_range_start"


def _tick(defs, instance, api_resource, cursor=None) -> SensorResult:
    """One tick of `defs`' sensor (on its fake clock), registering the partitions it adds."""
    context = build_sensor_context(
        instance=instance, cursor=cursor, resources={"analytics_api": api_resource}
    )
    result = defs.resolve_sensor_def("workflow_refresh_sensor")(context)
    assert isinstance(result, SensorResult)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def _workflow_list_requests(result) -> int:
    return sum(1 for r in result.run_requests if r.job_name == "workspace_job")


def test_first_tick_requests_every_new_workflow_in_one_run_without_listing_jobs(
    defs, instance, api_resource, simulator, sim_data
):
    result = _tick(defs, instance, api_resource)
    uids = sorted(w["uid"] for w in sim_data.workflows)
    assert sorted(instance.get_dynamic_partitions("workflow_uids")) == uids
    assert requested_partitions(instance, result) == uids
    assert _workflow_list_requests(result) == 1
    assert len(result.run_requests or []) == 2  # the workflow list, and one range of all five
    # New workflows cost no jobs request: their load lists their jobs.
    assert simulator.request_count("/v3/workflows") == 1
    assert simulator.request_count("/v3/jobs/") == 0


def test_after_the_loads_an_unchanged_api_requests_nothing(defs, instance, api_resource, simulator):
    first = _tick(defs, instance, api_resource)
    launch_requested(defs, instance, first)
    second = _tick(defs, instance, api_resource, first.cursor)
    # The runs recorded what they listed: the sensor takes that as its baseline.
    assert second.run_requests == []
    assert not second.dynamic_partitions_requests


def _keys(result, job: str | None = None) -> list[str]:
    return sorted(
        str(r.run_key) for r in result.run_requests or [] if job is None or r.job_name == job
    )


def test_a_repeated_tick_requests_the_same_run_keys(defs, instance, api_resource, simulator):
    first = _tick(defs, instance, api_resource)
    again = _tick(defs, instance, api_resource, first.cursor)  # no run launched in between
    load = "workflow_partition_job"
    assert _keys(again, load) == _keys(first, load) and len(_keys(first, load)) == 1
    assert _keys(_tick(defs, instance, api_resource, None)) == _keys(first)


def test_changed_job_requests_only_its_workflow(defs, instance, api_resource, simulator, sim_data):
    first = _tick(defs, instance, api_resource)
    launch_requested(defs, instance, first)
    second = _tick(defs, instance, api_resource, first.cursor)
    workflow = next(w["uid"] for w in sim_data.workflows if sim_data.jobs[w["uid"]])
    job = sim_data.jobs[workflow][0]
    sim_data.update_job(job["uid"], status="stopped", finish_time="2026-11-28T10:00:00+00:00")
    third = _tick(defs, instance, api_resource, second.cursor)
    assert requested_partitions(instance, third) == [workflow]
    assert _workflow_list_requests(third) == 0


def test_new_job_and_new_workflow_are_requested(defs, instance, api_resource, simulator, sim_data):
    first = _tick(defs, instance, api_resource)
    launch_requested(defs, instance, first)
    second = _tick(defs, instance, api_resource, first.cursor)
    quiet = sim_data.workflows[0]["uid"]
    sim_data.add_job(quiet, status="finished", total_row_count=3)
    added = sim_data.add_workflow()
    simulator.reset_requests()
    third = _tick(defs, instance, api_resource, second.cursor)
    assert quiet in requested_partitions(instance, third)
    assert added["uid"] in requested_partitions(instance, third)
    assert _workflow_list_requests(third) == 1
    assert added["uid"] in instance.get_dynamic_partitions("workflow_uids")
    # The new workflow was not listed by the sensor.
    assert simulator.request_count(f"/v3/workflows/{added['uid']}/jobs") == 0


def test_no_second_run_while_one_is_in_flight(defs, instance, api_resource, simulator, sim_data):
    first = _tick(defs, instance, api_resource)
    launch_requested(defs, instance, first)
    settled = _tick(defs, instance, api_resource, first.cursor)
    workflow = next(w["uid"] for w in sim_data.workflows if sim_data.jobs[w["uid"]])
    instance.add_run(
        DagsterRun(
            job_name="workflow_partition_job",
            status=DagsterRunStatus.STARTED,
            tags={"dagster/partition": workflow},
        )
    )
    sim_data.add_job(workflow, status="pending", total_row_count=None)
    blocked = _tick(defs, instance, api_resource, settled.cursor)
    assert requested_partitions(instance, blocked) == []
    for run in instance.get_runs(filters=None):
        if run.status == DagsterRunStatus.STARTED:
            instance.report_run_failed(run)
    released = _tick(defs, instance, api_resource, blocked.cursor)
    assert requested_partitions(instance, released) == [workflow]


def test_partitions_of_an_in_flight_backfill_get_no_second_run(
    defs, instance, api_resource, simulator, sim_data
):
    first = _tick(defs, instance, api_resource)
    launch_requested(defs, instance, first)
    settled = _tick(defs, instance, api_resource, first.cursor)
    registered = instance.get_dynamic_partitions("workflow_uids")
    inside, outside = registered[1:3], [registered[0], *registered[3:]]
    instance.add_run(
        DagsterRun(
            job_name="workflow_partition_job",
            status=DagsterRunStatus.STARTED,
            tags={PARTITION_START: inside[0], "dagster/asset_partition_range_end": inside[-1]},
        )
    )
    for uid in registered:  # every workflow changes
        sim_data.add_job(uid, status="pending", total_row_count=None)
    result = _tick(defs, instance, api_resource, settled.cursor)
    requested = requested_partitions(instance, result)
    assert not set(requested) & set(inside)
    assert set(outside) <= set(requested)


def test_load_ranges_join_near_partitions_and_cap_each_run():
    order = [f"w{i:03}" for i in range(300)]
    due = {f"w{i:03}" for i in range(250)}  # tick 1 on new workflows: contiguous
    ranges = load_ranges(due, order, max_per_run=100)
    assert ranges == [("w000", "w099"), ("w100", "w199"), ("w200", "w249")]
    scattered = {"w000", "w005", "w050", "w299"}
    assert load_ranges(scattered, order, 100) == [
        ("w000", "w005"),
        ("w050", "w050"),
        ("w299", "w299"),
    ]
    # A gap holding a partition with a run in flight is never bridged.
    assert load_ranges({"w000", "w005"}, order, 100, busy={"w003"}) == [
        ("w000", "w000"),
        ("w005", "w005"),
    ]


def test_cursor_round_trips_and_stays_small_at_ten_thousand_workflows():
    state = SensorState(tick=7, workflows_digest="abc")
    for i in range(10_000):
        uid = f"{i:08x}-9d1d-42a0-9d15-8a2ff2ee4e45"
        state.entries[uid] = Entry(f"{i:012x}", i % 20 == 0, 6, 3)
    cursor = state.encode()
    decoded = SensorState.decode(cursor)
    assert decoded.entries == state.entries and decoded.tick == 7
    assert len(cursor) < 700_000, len(cursor)


def _rotate(state: SensorState, uids: list[str], capacity: int, changed: set[str]) -> list[str]:
    """One tick of the sensor's choice, as `sensors.py` makes it: the first `capacity`
    workflows of the check order are checked; those in `changed` are found changed."""
    state.tick += 1
    checked = state.check_order(uids)[:capacity]
    for uid in checked:
        entry = state.entries[uid]
        entry.checked = state.tick
        if uid in changed:
            entry.changed = state.tick
    return checked


def test_rotation_checks_every_quiet_workflow_within_ceil_quiet_over_capacity_ticks():
    uids = [f"w{i:03}" for i in range(100)]
    state = SensorState(tick=10)
    for i, uid in enumerate(uids):  # five active, the rest quiet for a while
        state.entries[uid] = Entry("fp", active=i % 20 == 0, checked=10 - i % 7, changed=1)
    active = [u for u in uids if state.entries[u].active]
    capacity = 5 + 19  # the five active plus 19 in rotation: ceil(95 / 19) = 5 ticks
    seen: dict[str, list[int]] = {u: [] for u in uids}
    for _ in range(10):
        for uid in _rotate(state, uids, capacity, changed=set()):
            seen[uid].append(state.tick)
    for uid in active:  # every tick
        assert seen[uid] == list(range(11, 21)), uid
    for uid in set(uids) - set(active):
        ticks = [10, *seen[uid]]
        assert max(b - a for a, b in zip(ticks, ticks[1:], strict=False)) <= 5, (uid, ticks)
    assert state.longest_unchecked() <= 5


def test_a_changed_quiet_workflow_is_checked_every_tick_for_the_next_three():
    uids = [f"w{i:03}" for i in range(50)]
    state = SensorState(tick=5)
    state.entries = {u: Entry("fp", checked=5, changed=1) for u in uids}
    _rotate(state, uids, 10, changed={"w000"})  # tick 6: w000 changes
    for _ in range(2):  # ticks 7 and 8: checked again although others wait their turn
        assert "w000" in _rotate(state, uids, 10, changed=set())
    assert "w000" not in _rotate(state, uids, 10, changed=set())  # tick 9: back in rotation


class SlowApiClock(FakeClock):
    """Fake time in which every request the simulator has answered took `seconds`."""

    def __init__(self, simulator, seconds: float) -> None:
        super().__init__()
        self.simulator, self.seconds = simulator, seconds

    def monotonic(self) -> float:
        return super().monotonic() + self.seconds * self.simulator.request_count()


def test_a_tick_stops_at_its_budget_however_slow_the_api(
    defs, instance, api_resource, simulator, sim_data, monkeypatch
):
    first = _tick(defs, instance, api_resource)
    launch_requested(defs, instance, first)
    monkeypatch.setenv("ANALYTICS_SENSOR_TICK_BUDGET_SECONDS", "1")
    simulator.reset_requests()
    clock = SlowApiClock(simulator, 0.5)  # each answer takes 0.5 s of the tick's budget
    result = _tick(make_defs(api_resource, clock=clock), instance, api_resource, first.cursor)
    # The list (0.5 s) and one check fit; no request is started past the budget.
    assert simulator.request_count("/v3/workflows/") == 1
    assert simulator.request_count("/v3/workflows") == 2
    assert clock.monotonic() == 1.0
    assert clock.sleeps == []
    state = SensorState.decode(result.cursor)
    assert sum(1 for e in state.entries.values() if e.checked == state.tick) == 1


def test_with_runs_in_flight_a_tick_leaves_them_three_quarters_of_the_plan(
    defs, instance, api_resource, simulator, sim_data
):
    first = _tick(defs, instance, api_resource)
    launch_requested(defs, instance, first)
    registered = instance.get_dynamic_partitions("workflow_uids")
    instance.add_run(
        DagsterRun(
            job_name="workflow_partition_job",
            status=DagsterRunStatus.STARTED,
            tags={"dagster/partition": registered[0]},
        )
    )
    # 12 req/s x a 1 s interval x 25% = 3 requests, the workflow list being one of them.
    # (A new resource: Dagster rebuilds a resource from its config, which model_copy misses.)
    paced = AnalyticsApiResource(**{**api_resource.model_dump(), "rate_limit": 12.0})
    clock = FakeClock()
    sensor = make_defs(paced, sensor_interval_seconds=1, clock=clock).resolve_sensor_def(
        "workflow_refresh_sensor"
    )
    simulator.reset_requests()
    context = build_sensor_context(
        instance=instance, cursor=first.cursor, resources={"analytics_api": paced}
    )
    result = sensor(context)
    assert isinstance(result, SensorResult)
    assert simulator.request_count("/v3/workflows/") == 2  # of the 4 workflows not in flight
    assert simulator.request_count("/v3/workflows") == 3
    # Paced at 12 req/s on the fake clock: the waits between the 3 requests were recorded.
    assert clock.monotonic() >= 2 / 12 * 0.99
