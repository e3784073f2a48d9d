"""workflow_webhook_sensor evaluated as the daemon does, against the simulator and a real
instance, with what it requests launched in-process; and the polling sensor beside it."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import (
    AssetObservation,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    SensorResult,
    build_sensor_context,
)

from analytics_assets.defs.names import Names
from analytics_assets.defs.sensor_state import SensorState
from analytics_assets.webhooks.events import WebhookEvent
from analytics_assets.webhooks.store import EventStore
from analytics_assets.webhooks.targets import Target
from analytics_assets_tests.support import (
    assert_partition_exact,
    job_uids,
    jobs_path,
    launch_requested,
    make_home,
    requested_partitions,
    subprocess_env,
)
from analytics_assets_tests.webhook_support import SECRET, receiver_process
from analytics_dev.simulator.webhooks import JobActivity, WebhookDelivery

TARGET = Target(Names(), SECRET)


def _tick(defs, instance, api_resource, sensor: str, cursor=None) -> SensorResult:
    context = build_sensor_context(
        instance=instance, cursor=cursor, resources={"analytics_api": api_resource}
    )
    result = defs.resolve_sensor_def(sensor)(context)
    assert isinstance(result, SensorResult)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def _poll(defs, instance, api_resource, cursor=None) -> SensorResult:
    return _tick(defs, instance, api_resource, "workflow_refresh_sensor", cursor)


def _pushed(defs, instance, api_resource, cursor=None) -> SensorResult:
    return _tick(defs, instance, api_resource, "workflow_webhook_sensor", cursor)


def _settled(defs, instance, api_resource) -> str:
    """Everything loaded once by polling; the polling sensor's cursor after that."""
    first = _poll(defs, instance, api_resource)
    launch_requested(defs, instance, first)
    settled = _poll(defs, instance, api_resource, first.cursor)
    assert settled.run_requests == []
    return str(settled.cursor)


def _record(instance, *events: WebhookEvent) -> list[str]:
    """Through the receiver's writer, as a delivery would; its outcomes."""
    store = EventStore(instance)
    try:
        return [f.result(timeout=60) for f in [store.submit(TARGET, e) for e in events]]
    finally:
        store.close()


def _observe_again(instance, event: WebhookEvent) -> None:
    """A redelivery another replica stored at the same moment (no dedupe by the writer)."""
    instance.report_runless_asset_event(
        AssetObservation(
            asset_key=TARGET.jobs_key, partition=event.workflow_uid, metadata=event.metadata()
        )
    )


def test_an_event_becomes_one_load_with_no_api_request_and_polling_does_not_load_it_again(
    defs, instance, api_resource, simulator, sim_data, duckdb_path
):
    polled = _settled(defs, instance, api_resource)
    uid = sim_data.workflows[1]["uid"]
    job = sim_data.add_job(uid, status="finished", total_row_count=4)
    event = WebhookEvent(uid, job["uid"], "succeeded", "Job successfully finished.")
    assert _record(instance, event, event) == ["recorded", "duplicate"]
    _observe_again(instance, event)
    simulator.reset_requests()
    pushed = _pushed(defs, instance, api_resource)
    assert simulator.request_count() == 0  # detection costs no API request
    assert requested_partitions(instance, pushed) == [uid] and len(pushed.run_requests or []) == 1
    launch_requested(defs, instance, pushed)
    assert job["uid"] in job_uids(duckdb_path, "successful_jobs", uid)
    assert_partition_exact(duckdb_path, sim_data, uid)
    _observe_again(instance, event)  # delivered once more, after its load
    assert _pushed(defs, instance, api_resource, pushed.cursor).run_requests == []
    # Polling sees the change the event already loaded: no second load.
    assert requested_partitions(instance, _poll(defs, instance, api_resource, polled)) == []


def test_an_event_for_a_workflow_with_a_run_in_flight_is_loaded_after_that_run(
    defs, instance, api_resource, simulator, sim_data
):
    _settled(defs, instance, api_resource)
    uid = sim_data.workflows[2]["uid"]
    instance.add_run(
        DagsterRun(
            job_name="workflow_partition_job",
            status=DagsterRunStatus.STARTED,
            tags={"dagster/partition": uid},
        )
    )
    job = sim_data.add_job(uid, status="finished", total_row_count=2)
    _record(instance, WebhookEvent(uid, job["uid"], "succeeded"))
    blocked = _pushed(defs, instance, api_resource)
    assert blocked.run_requests == []
    still = _pushed(defs, instance, api_resource, blocked.cursor)
    assert still.run_requests == []  # still in flight: still waiting, not forgotten
    for run in instance.get_runs():
        instance.report_run_failed(run)
    released = _pushed(defs, instance, api_resource, still.cursor)
    assert requested_partitions(instance, released) == [uid]
    assert _pushed(defs, instance, api_resource, released.cursor).run_requests == []


def test_an_event_for_an_unregistered_workflow_registers_and_loads_it(
    defs, instance, api_resource, simulator, sim_data, duckdb_path
):
    _settled(defs, instance, api_resource)
    added = sim_data.add_workflow()
    job = sim_data.add_job(added["uid"], status="finished", total_row_count=3)
    _record(instance, WebhookEvent(added["uid"], job["uid"], "succeeded"))
    assert added["uid"] in instance.get_dynamic_partitions("workflow_uids")
    pushed = _pushed(defs, instance, api_resource)
    assert requested_partitions(instance, pushed) == [added["uid"]]
    launch_requested(defs, instance, pushed)
    assert_partition_exact(duckdb_path, sim_data, added["uid"])


def test_a_started_event_marks_the_workflow_active_and_a_failed_one_is_logged(
    defs, instance, api_resource, simulator, sim_data, capfd
):
    polled = _settled(defs, instance, api_resource)
    uid = next(u for u, e in SensorState.decode(polled).entries.items() if not e.active)
    # A run in flight keeps the polling sensor from checking it: the mark is the event's.
    instance.add_run(
        DagsterRun(
            job_name="workflow_partition_job",
            status=DagsterRunStatus.STARTED,
            tags={"dagster/partition": uid},
        )
    )
    job = JobActivity(sim_data).start(uid)
    _record(instance, WebhookEvent(uid, job["uid"], "started", "Job started."))
    simulator.reset_requests()
    state = SensorState.decode(_poll(defs, instance, api_resource, polled).cursor)
    assert simulator.request_count(jobs_path(uid)) == 0
    assert state.entries[uid].active
    error = "Error while completing action: cookie expired"
    _record(instance, WebhookEvent(uid, job["uid"], "failed", "Job failed.", error))
    capfd.readouterr()
    _pushed(defs, instance, api_resource)
    logged = capfd.readouterr().err  # the sensor's log, as the daemon's output shows it
    assert f"WARNING - job {job['uid']} of workflow {uid} failed: {error}" in logged


def test_a_burst_for_a_thousand_workflows_becomes_at_most_eleven_runs(defs, instance, api_resource):
    uids = [f"wf-{i:04}" for i in range(1000)]
    instance.add_dynamic_partitions("workflow_uids", uids)
    events = [WebhookEvent(u, f"job-{u}", "succeeded") for u in reversed(uids)]
    assert set(_record(instance, *events)) == {"recorded"}
    result = _pushed(defs, instance, api_resource)
    assert len(result.run_requests or []) <= 11
    assert requested_partitions(instance, result) == uids


SIM_WORKFLOWS = 6


@pytest.fixture
def home_instance(tmp_path: Path):
    """A SQLite instance in a DAGSTER_HOME that the receiver process opens too."""
    home = make_home(tmp_path, "webhook_home")
    with DagsterInstance.from_config(str(home)) as instance:
        yield home, instance


@pytest.mark.subprocess
def test_lost_deliveries_are_caught_by_polling(
    defs, home_instance, api_resource, simulator, sim_data, duckdb_path, tmp_path, capfd
):
    home, instance = home_instance
    polled = _settled(defs, instance, api_resource)
    env = subprocess_env(home, ANALYTICS_WEBHOOK_SECRET=SECRET)
    with receiver_process(env, tmp_path / "receiver.log") as receiver:
        header = f"Authorization: Bearer {SECRET}"
        delivery = WebhookDelivery(f"{receiver.url}/webhooks", header, drop_share=0.5, seed=15)
        activity = JobActivity(sim_data, delivery)
        for workflow in sim_data.workflows:
            job = activity.start(workflow["uid"])
            activity.finish(job["uid"], rows=3)
    assert {status for *_, status in delivery.sent} == {200}
    ended = [job_uid for job_uid, kind, _ in delivery.sent if kind == "succeeded"]
    heard = {sim_data.job(job_uid)["workflow_uid"] for job_uid in ended}
    lost = {w["uid"] for w in sim_data.workflows} - heard
    # Seed 15 loses the success of the first three (their start arrives) and both events of
    # the last: no load of a heard one spans a lost one (runs cover contiguous ranges).
    assert len(heard) == 2 and len(lost) == 4 and len(delivery.sent) == 7
    pushed = _pushed(defs, instance, api_resource)
    assert requested_partitions(instance, pushed) == sorted(heard)
    launch_requested(defs, instance, pushed)
    capfd.readouterr()
    caught = _poll(defs, instance, api_resource, polled)
    # Due are the lost ones only (their run's range may bridge the loaded ones between).
    assert f"due {len(lost)} (0 new)" in capfd.readouterr().err
    assert lost <= set(requested_partitions(instance, caught))
    launch_requested(defs, instance, caught)
    for workflow in sim_data.workflows:
        assert_partition_exact(duckdb_path, sim_data, workflow["uid"])
