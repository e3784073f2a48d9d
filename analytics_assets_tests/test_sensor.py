"""workflow_refresh_sensor evaluated against the simulator and a real Dagster instance."""

from dagster import DagsterRunStatus, SensorResult, build_sensor_context
from dagster._core.test_utils import create_run_for_test

from analytics_assets.sensors import workflow_refresh_sensor


def _tick(instance, api_resource, cursor=None):
    context = build_sensor_context(
        instance=instance, cursor=cursor, resources={"analytics_api": api_resource}
    )
    result = workflow_refresh_sensor(context)
    assert isinstance(result, SensorResult)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def _partition_requests(result) -> list[str]:
    return sorted(r.partition_key for r in result.run_requests if r.partition_key)


def _workflow_list_requests(result) -> int:
    return sum(1 for r in result.run_requests if r.job_name == "workspace_job")


def test_first_tick_adds_partitions_and_requests_every_workflow(
    instance, api_resource, simulator, sim_data
):
    result = _tick(instance, api_resource)
    uids = sorted(w["uid"] for w in sim_data.workflows)
    assert sorted(instance.get_dynamic_partitions("workflow_uids")) == uids
    assert _partition_requests(result) == uids
    assert _workflow_list_requests(result) == 1
    # One workflow list plus one jobs request per workflow; no results pages.
    assert simulator.request_count("/v3/workflows") == 1 + len(uids)
    assert simulator.request_count("/v3/jobs/") == 0


def test_unchanged_api_requests_nothing(instance, api_resource, simulator):
    first = _tick(instance, api_resource)
    second = _tick(instance, api_resource, first.cursor)
    assert second.run_requests == []
    assert not second.dynamic_partitions_requests


def test_changed_job_requests_only_its_workflow(instance, api_resource, simulator, sim_data):
    first = _tick(instance, api_resource)
    workflow = next(w["uid"] for w in sim_data.workflows if sim_data.jobs[w["uid"]])
    job = sim_data.jobs[workflow][0]
    sim_data.update_job(job["uid"], status="stopped", finish_time="2026-11-28T10:00:00+00:00")
    second = _tick(instance, api_resource, first.cursor)
    assert _partition_requests(second) == [workflow]
    assert _workflow_list_requests(second) == 0


def test_new_job_and_new_workflow_are_requested(instance, api_resource, simulator, sim_data):
    first = _tick(instance, api_resource)
    quiet = sim_data.workflows[0]["uid"]
    sim_data.add_job(quiet, status="finished", total_row_count=3)
    added = sim_data.add_workflow()
    second = _tick(instance, api_resource, first.cursor)
    assert _partition_requests(second) == sorted([quiet, added["uid"]])
    assert _workflow_list_requests(second) == 1
    assert added["uid"] in instance.get_dynamic_partitions("workflow_uids")


def test_repeated_tick_reuses_run_keys(instance, api_resource, simulator):
    first = _tick(instance, api_resource)
    again = _tick(instance, api_resource, None)
    assert sorted(r.run_key for r in first.run_requests) == sorted(
        r.run_key for r in again.run_requests
    )


def test_no_second_run_while_one_is_in_flight(instance, api_resource, simulator, sim_data):
    first = _tick(instance, api_resource)
    workflow = next(w["uid"] for w in sim_data.workflows if sim_data.jobs[w["uid"]])
    create_run_for_test(
        instance,
        job_name="workflow_partition_job",
        status=DagsterRunStatus.STARTED,
        tags={"dagster/partition": workflow},
    )
    sim_data.add_job(workflow, status="pending", total_row_count=None)
    blocked = _tick(instance, api_resource, first.cursor)
    assert _partition_requests(blocked) == []
    for run in instance.get_runs():
        instance.report_run_failed(run)
    released = _tick(instance, api_resource, blocked.cursor)
    assert _partition_requests(released) == [workflow]


def test_partitions_of_an_in_flight_backfill_get_no_second_run(
    instance, api_resource, simulator, sim_data
):
    first = _tick(instance, api_resource)
    registered = instance.get_dynamic_partitions("workflow_uids")
    inside, outside = registered[1:3], [registered[0], *registered[3:]]
    create_run_for_test(
        instance,
        job_name="workflow_partition_job",
        status=DagsterRunStatus.STARTED,
        tags={
            "dagster/asset_partition_range_start": inside[0],
            "dagster/asset_partition_range_end": inside[-1],
        },
    )
    for uid in registered:  # every workflow changes
        sim_data.add_job(uid, status="pending", total_row_count=None)
    result = _tick(instance, api_resource, first.cursor)
    assert _partition_requests(result) == sorted(outside)
