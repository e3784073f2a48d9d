"""The sensor's tick step by step (discover, workspace refresh, resolve pending, check in
rotation, load requests), each against the simulator and a real Dagster instance; and what
a tick says and requests on an instance other runs have loaded."""

from dagster import (
    AssetMaterialization,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    Definitions,
    SensorResult,
    build_sensor_context,
)

from analytics_assets import constants as c
from analytics_assets.defs.names import Names
from analytics_assets.defs.resources import AnalyticsApiResource
from analytics_assets.defs.sensor_state import BASELINE, UNKNOWN, Entry, SensorState
from analytics_assets.defs.sensors import (
    Listing,
    Tick,
    check_in_rotation,
    discover,
    load_requests,
    resolve_pending,
    workspace_refresh,
)
from analytics_assets.defs.wiring import Wiring
from analytics_assets_tests.fakes import FakeClock
from analytics_assets_tests.support import load_everything, run_partition
from analytics_dev.simulator import SimulatedData

PARTITIONS = "workflow_uids"
JOB = "workflow_partition_job"


def _context(instance: DagsterInstance, api_resource: AnalyticsApiResource, cursor=None):
    return build_sensor_context(
        instance=instance, cursor=cursor, resources={"analytics_api": api_resource}
    )


def _tick(instance, api_resource, wiring: Wiring) -> Tick:
    client = wiring.client(api_resource.settings(), None)
    return Tick(_context(instance, api_resource), client, budget=60)


def _sensor_tick(defs: Definitions, instance, api_resource, cursor=None) -> SensorResult:
    result = defs.resolve_sensor_def("workflow_refresh_sensor")(
        _context(instance, api_resource, cursor)
    )
    assert isinstance(result, SensorResult)
    return result


def _uids(sim_data: SimulatedData) -> list[str]:
    return [w["uid"] for w in sim_data.workflows]


def test_discover_lists_new_and_busy_workflows_and_forgets_those_gone(
    instance, api_resource, simulator, sim_data
):
    wiring = Wiring.build(Names(None), clock=FakeClock())
    uids = _uids(sim_data)
    instance.add_dynamic_partitions(PARTITIONS, uids[:3])
    instance.add_run(
        DagsterRun(
            job_name=JOB, status=DagsterRunStatus.STARTED, tags={"dagster/partition": uids[1]}
        )
    )
    state = SensorState(tick=1, entries={"gone": Entry("fp"), uids[0]: Entry("fp0")})
    listing = discover(
        _context(instance, api_resource), _tick(instance, api_resource, wiring), state, PARTITIONS
    )
    assert listing.uids == uids and listing.registered == uids[:3]
    assert listing.new == uids[3:] and listing.busy == {uids[1]}
    assert listing.unloaded() == set(uids[3:])
    # Forgotten: the workflow the API no longer lists; kept: what the cursor knew.
    assert set(state.entries) == set(uids) and state.entries[uids[0]].fingerprint == "fp0"
    assert all(state.entries[u].fingerprint == UNKNOWN for u in uids[1:])
    assert simulator.request_count("/v3/workflows/") == 0  # discovering lists no jobs


def test_workspace_refresh_when_the_list_changes_or_the_assets_go_stale():
    wiring = Wiring.build(Names(None))  # default freshness: off, so never stale
    state = SensorState(tick=5)
    listing = Listing(["a", "b"], ["a", "b"], [], set())
    first = workspace_refresh(wiring, state, listing, 300)
    assert first is not None and first.job_name == "workspace_job"
    assert state.workspace_tick == 5
    state.tick = 6
    assert workspace_refresh(wiring, state, listing, 300) is None  # same list
    changed = workspace_refresh(wiring, state, Listing(["a"], ["a", "b"], [], set()), 300)
    assert changed is not None and changed.run_key != first.run_key


def test_resolve_pending_takes_recorded_fingerprints_and_returns_the_never_loaded(
    defs, instance, api_resource, simulator, sim_data
):
    uids = load_everything(defs, instance)
    never = "never-loaded"
    instance.add_dynamic_partitions(PARTITIONS, [never])
    bare = uids[0]  # materialized by a release that recorded no fingerprint
    instance.report_runless_asset_event(AssetMaterialization(asset_key=c.JOBS, partition=bare))
    state = SensorState(tick=1, entries={u: Entry(UNKNOWN) for u in [*uids, never]})
    listing = Listing([*uids, never], [*uids, never], [], busy={uids[1]})
    wiring = Wiring.build(Names(None))
    due = resolve_pending(
        _context(instance, api_resource), wiring, state, listing, exclude={uids[2]}
    )
    assert due == {never}
    assert state.entries[bare].fingerprint == BASELINE
    assert state.entries[uids[1]].fingerprint == UNKNOWN  # in flight: later
    assert state.entries[uids[2]].fingerprint == UNKNOWN  # excluded
    assert all(len(state.entries[u].fingerprint) == 12 for u in uids[3:])


def test_check_in_rotation_finds_the_changed_workflow_and_skips_the_busy(
    defs, instance, api_resource, simulator, sim_data
):
    uids = load_everything(defs, instance)
    state = SensorState(tick=1, entries={u: Entry(UNKNOWN) for u in uids})
    wiring = Wiring.build(Names(None), clock=FakeClock())
    idle = Listing(uids, uids, [], busy=set())
    assert resolve_pending(_context(instance, api_resource), wiring, state, idle, set()) == set()
    listing = Listing(uids, uids, [], busy={uids[0]})
    changed = next(u for u in uids[1:] if sim_data.jobs[u])
    sim_data.update_job(sim_data.jobs[changed][0]["uid"], status="stopped")
    tick = _tick(instance, api_resource, wiring)
    simulator.reset_requests()
    assert check_in_rotation(tick, state, listing) == {changed}
    assert tick.checked == len(uids) - 1 and tick.skipped == 1
    assert simulator.request_count("/v3/workflows/") == len(uids) - 1


def test_load_requests_batch_contiguous_due_partitions_under_the_cap():
    order = [f"w{i}" for i in range(6)]
    state = SensorState(tick=1, entries={u: Entry("fp") for u in order})
    listing = Listing(order, order[:4], order[4:], busy={"w2"})
    requests = load_requests(state, listing, {"w0", "w1", "w3", "w5"}, 5, JOB)
    spans = [
        (r.partition_key, None) if r.partition_key else tuple(r.tags.values()) for r in requests
    ]
    # w2 is in flight: no range spans it.
    assert spans == [("w0", "w1"), ("w3", "w5")]
    assert all(r.job_name == JOB and str(r.run_key).startswith("load:") for r in requests)


def test_an_idle_tick_gives_its_own_summary_as_the_skip_reason(
    defs, instance, api_resource, simulator
):
    first = _sensor_tick(defs, instance, api_resource)
    assert first.run_requests and first.skip_reason is None
    load_everything(defs, instance)
    idle = _sensor_tick(defs, instance, api_resource, first.cursor)
    assert idle.run_requests == []
    assert idle.skip_reason is not None
    message = str(idle.skip_reason.skip_message)
    assert message.startswith("tick 2: checked 5 of 5 workflow(s)")
    assert "due 0 (0 new) in 0 run request(s)" in message


def test_first_tick_on_an_instance_loaded_by_other_runs_requests_no_load_of_unchanged_workflows(
    defs, instance, api_resource, simulator, sim_data
):
    # As after `make demo`, a backfill or the CLI: every partition loaded, no sensor cursor.
    uids = load_everything(defs, instance)
    # One partition loaded by a release that recorded no fingerprint: a baseline, no reload.
    bare = uids[0]
    instance.report_runless_asset_event(AssetMaterialization(asset_key=c.JOBS, partition=bare))
    changed = next(u for u in uids[1:] if sim_data.jobs[u])
    sim_data.update_job(sim_data.jobs[changed][0]["uid"], status="stopped")
    result = _sensor_tick(defs, instance, api_resource)
    loads = [r for r in result.run_requests or [] if r.job_name == JOB]
    assert [r.partition_key for r in loads] == [changed]  # only what changed since its load
    state = SensorState.decode(result.cursor)
    assert state.entries[bare].fingerprint not in (UNKNOWN, BASELINE)  # checked: now known
    assert not result.dynamic_partitions_requests
    # Its next tick, after that load: nothing.
    assert run_partition(defs, instance, changed).success
    after = _sensor_tick(defs, instance, api_resource, result.cursor)
    assert [r for r in after.run_requests or [] if r.job_name == JOB] == []
