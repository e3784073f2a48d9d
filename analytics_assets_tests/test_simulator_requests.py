"""The API simulator's requests: keys, project ids, unknown uids, faults, the request log,
its control endpoints and its command line."""

from __future__ import annotations

import json
import urllib.error

import pytest

from analytics_assets_tests.support import SIM_KEY, get_json, http, simulator_process
from analytics_dev.simulator import ApiSimulator, FaultRule, SimulatedData
from analytics_dev.simulator.data import is_successful

KEY = SIM_KEY


def multi_page_job(data: SimulatedData) -> dict:
    return next(j for j in data.all_jobs() if is_successful(j) and j["total_row_count"] > 100)


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_missing_or_wrong_key_is_401_without_echoing_any_key(sim: ApiSimulator, key: str | None):
    status, _, body = http(f"{sim.base_url}/v3/workflows", key=key)
    assert status == 401
    assert json.loads(body)["error_label"] == "UNAUTHORIZED"
    assert KEY.encode() not in body and b"wrong-key" not in body
    assert all(KEY not in repr(r) for r in sim.requests)


def test_project_id_is_required_when_configured_and_recorded(data: SimulatedData):
    with ApiSimulator(data, project_id="proj-1") as sim:
        assert http(f"{sim.base_url}/v3/workspace")[0] == 403
        status, _, _ = http(f"{sim.base_url}/v3/workspace", headers={"x-project-id": "proj-1"})
        assert status == 200
        assert [r.project_id_header for r in sim.requests] == [None, "proj-1"]


@pytest.mark.parametrize("path", ["/v3/workflows/nope/jobs", "/v3/jobs/nope/results"])
def test_unknown_uid_is_404_with_error_body(sim: ApiSimulator, path: str):
    status, _, body = http(f"{sim.base_url}{path}")
    assert status == 404
    error = json.loads(body)
    assert error["error_label"] == "NOT_FOUND" and error["status_code"] == 404
    assert set(error) == {
        "error_label",
        "error_scope",
        "error_ref",
        "message",
        "status_code",
        "params",
    }


def test_429_fault_is_served_exactly_times_then_normal(sim: ApiSimulator):
    sim.add_fault(FaultRule(r"^/v3/workflows$", times=2, status=429, retry_after=3))
    first, second, third = (http(f"{sim.base_url}/v3/workflows") for _ in range(3))
    assert first[0] == second[0] == 429 and first[1]["Retry-After"] == "3"
    assert json.loads(first[2])["status_code"] == 429
    assert third[0] == 200
    assert http(f"{sim.base_url}/v3/workspace")[0] == 200  # the regex did not match


def test_corrupting_faults_break_only_the_response(sim: ApiSimulator, data: SimulatedData):
    url = f"{sim.base_url}/v3/jobs/{multi_page_job(data)['uid']}/results"
    for kind in ("truncated", "bad_paging", "missing_paging", "html", "no_list"):
        sim.add_fault(FaultRule("/results$", kind=kind))
    status, _, body = http(url)
    assert status == 200 and body.startswith(b'{"results":[')
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    assert get_json(url)["paging"]["have_next_page"] == "yes"
    assert "paging" not in get_json(url)
    status, headers, body = http(url)
    assert headers["Content-Type"].startswith("text/html") and body.startswith(b"<!DOCTYPE")
    assert get_json(url) == {"unexpected": True}
    sim.add_fault(FaultRule("/results$", kind="drop"))
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        http(url)
    assert get_json(url)["paging"]["have_next_page"] is True


def test_request_count_filters_by_path_prefix(sim: ApiSimulator, data: SimulatedData):
    http(f"{sim.base_url}/v3/workspace")
    for wf in data.workflows:
        http(f"{sim.base_url}/v3/workflows/{wf['uid']}/jobs")
    http(f"{sim.base_url}/_sim/stats")  # control traffic is not counted
    assert sim.request_count() == 1 + len(data.workflows)
    assert sim.request_count("/v3/workflows/") == len(data.workflows)
    sim.reset_requests()
    assert sim.request_count() == 0


def test_control_endpoints_drive_faults_and_mutations(sim: ApiSimulator, data: SimulatedData):
    base = sim.base_url
    http(f"{base}/_sim/faults", method="POST", body={"path_regex": "workspace", "status": 503})
    assert http(f"{base}/v3/workspace")[0] == 503
    wf = data.workflows[0]["uid"]
    added = get_json(
        f"{base}/_sim/mutate",
        method="POST",
        body={"op": "add_job", "workflow_uid": wf, "total_row_count": 2},
    )
    assert added["result"]["uid"] in {j["uid"] for j in get_json(f"{base}/v3/workflows/{wf}/jobs")}
    log = get_json(f"{base}/_sim/requests")
    assert log["count"] == 2 and log["requests"][0]["status"] == 503
    assert get_json(f"{base}/_sim/stats")["requests"] == 2
    http(f"{base}/_sim/reset", method="POST")
    assert get_json(f"{base}/_sim/requests")["count"] == 0


@pytest.mark.subprocess
def test_cli_prints_url_first_and_serves_until_sigterm():
    args = ("--seed", "7", "--envelope", "data", "--next", "path", "--api-key", "cli-key")
    with simulator_process(*args) as url:
        assert get_json(f"{url}/v3/workspace", key="cli-key")["data"]["name"]
        assert http(f"{url}/v3/workspace")[0] == 401
