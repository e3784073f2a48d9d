"""The API simulator: a deterministic dataset served over real loopback HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from itertools import pairwise, starmap
from operator import eq
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from analytics_dev.simulator import ApiSimulator, FaultRule, SimulatedData
from analytics_dev.simulator.data import is_successful

KEY = "sim-secret-key"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def http(
    url: str,
    key: str | None = KEY,
    method: str = "GET",
    body: object = None,
    headers: dict | None = None,
) -> tuple[int, dict, bytes]:
    """One request; returns (status, headers, body) for error statuses too."""
    hdrs = dict(headers or {})
    if key is not None:
        hdrs["x-api-key"] = key
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def get_json(url: str, **kwargs) -> Any:
    status, _, body = http(url, **kwargs)
    assert status == 200, body
    return json.loads(body)


@pytest.fixture
def data() -> SimulatedData:
    return SimulatedData(seed=7)  # fresh per test: some tests mutate it


@pytest.fixture
def sim(data: SimulatedData):
    with ApiSimulator(data) as simulator:
        yield simulator


def multi_page_job(data: SimulatedData) -> dict:
    return next(j for j in data.all_jobs() if is_successful(j) and j["total_row_count"] > 100)


def test_same_seed_gives_equal_data_and_other_seed_differs():
    assert SimulatedData(seed=3) == SimulatedData(seed=3)
    assert SimulatedData(seed=3) != SimulatedData(seed=4)


@pytest.mark.parametrize("seed", [1, 7, 42, 2024])
def test_dataset_holds_every_shape_the_pipeline_must_handle(seed: int):
    data = SimulatedData(seed=seed)
    jobs = data.all_jobs()
    assert data.jobs[data.workflows[-1]["uid"]] == []
    assert any(is_successful(j) and j["total_row_count"] > 100 for j in jobs)
    assert any(j["status"] == "finished" and j["total_row_count"] == 0 for j in jobs)
    assert any(j["total_row_count"] is None for j in jobs)
    unsuccessful_with_rows = [
        j for j in jobs if j["status"] != "finished" and (j["total_row_count"] or 0) > 0
    ]
    assert unsuccessful_with_rows
    assert set(data.results) == {j["uid"] for j in jobs if is_successful(j)}
    for uid, rows in data.results.items():
        job = data.job(uid)
        assert job is not None and len(rows) == job["total_row_count"]
    assert any(a == b for rows in data.results.values() for a, b in pairwise(rows))
    ws = data.workspace
    assert ws["tasks_left"] == ws["tasks_max"] - ws["tasks_used"]


def test_bare_envelope_serves_bare_object_and_arrays(sim: ApiSimulator, data: SimulatedData):
    assert get_json(f"{sim.base_url}/v3/workspace") == data.workspace
    assert get_json(f"{sim.base_url}/v3/workflows") == data.workflows
    wf = data.workflows[0]["uid"]
    assert get_json(f"{sim.base_url}/v3/workflows/{wf}/jobs") == data.jobs[wf]
    job = multi_page_job(data)
    page = get_json(f"{sim.base_url}/v3/jobs/{job['uid']}/results")
    assert page["results"] == data.results[job["uid"]][:100]


def test_data_envelope_wraps_lists_and_result_records(sim: ApiSimulator, data: SimulatedData):
    sim.envelope = "data"
    assert get_json(f"{sim.base_url}/v3/workspace") == {"data": data.workspace}
    assert get_json(f"{sim.base_url}/v3/workflows") == {"data": data.workflows}
    job = multi_page_job(data)
    records = get_json(f"{sim.base_url}/v3/jobs/{job['uid']}/results")["results"]
    assert set(records[0]) == {"job_result_id", "extracted_at", "results"}
    assert [r["results"] for r in records] == data.results[job["uid"]][:100]
    again = get_json(f"{sim.base_url}/v3/jobs/{job['uid']}/results?page=1")["results"]
    assert [r["job_result_id"] for r in again] == [r["job_result_id"] for r in records]
    dup = next(uid for uid, rows in data.results.items() if any(starmap(eq, pairwise(rows))))
    url = f"{sim.base_url}/v3/jobs/{dup}/results?page="
    ids = [r["job_result_id"] for p in range(1, 4) for r in get_json(url + str(p))["results"]]
    assert len(set(ids)) == len(ids) == len(data.results[dup])  # duplicates stay two records


@pytest.mark.parametrize("next_style", ["token", "url", "path"])
def test_paging_walks_exactly_total_rows_and_last_page_still_has_next(
    sim: ApiSimulator, data: SimulatedData, next_style: str
):
    sim.next_style = next_style
    job = multi_page_job(data)
    url, rows, pages = f"{sim.base_url}/v3/jobs/{job['uid']}/results", [], []
    while True:
        page = get_json(url)
        pages.append(page)
        rows += page["results"]
        if page["paging"]["have_next_page"] is False:
            break
        nxt = page["paging"]["next"]
        url = {
            "token": f"{sim.base_url}/v3/jobs/{job['uid']}/results?cursor={quote(nxt)}",
            "url": nxt,
            "path": f"{sim.base_url}{nxt}",
        }[next_style]
    assert rows == data.results[job["uid"]]
    assert len(pages) == -(-job["total_row_count"] // 100)
    assert pages[0]["paging"]["previous"] is None and pages[-1]["paging"]["previous"] is not None
    assert pages[-1]["paging"]["next"] is not None
    # Following the last "next" anyway yields an empty page that still is not the end of "next".
    past = pages[-1]["paging"]["next"]
    url = {
        "token": f"{url.split('?')[0]}?cursor={quote(past)}",
        "url": past,
        "path": f"{sim.base_url}{past}",
    }[next_style]
    beyond = get_json(url)
    assert beyond["results"] == [] and beyond["paging"]["next"] is not None


def test_results_accept_next_and_page_parameters_and_reject_bad_cursors(
    sim: ApiSimulator, data: SimulatedData
):
    job = multi_page_job(data)
    url = f"{sim.base_url}/v3/jobs/{job['uid']}/results"
    second = get_json(url)["paging"]["next"]
    by_cursor = get_json(f"{url}?cursor={quote(second)}")
    assert get_json(f"{url}?next={quote(second)}") == by_cursor == get_json(f"{url}?page=2")
    assert by_cursor["results"] == data.results[job["uid"]][100:200]
    for bad in ("cursor=%%%", "cursor=bm9wZQ", "page=0", "page=x"):
        status, _, body = http(f"{url}?{bad}")
        assert status == 400 and json.loads(body)["error_label"] == "BAD_REQUEST"


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


def test_url_encoded_hostile_uid_round_trips():
    data = SimulatedData(seed=7)
    wf = data.add_workflow(uid="a/b c?é")
    job = data.add_job(wf["uid"], total_row_count=3, uid="j/1?x=é")
    with ApiSimulator(data, next_style="url") as sim:
        jobs = get_json(f"{sim.base_url}/v3/workflows/{quote(wf['uid'], safe='')}/jobs")
        assert [j["uid"] for j in jobs] == [job["uid"]]
        page = get_json(f"{sim.base_url}/v3/jobs/{quote(job['uid'], safe='')}/results")
        assert len(page["results"]) == 3
        assert sim.requests[0].path == "/v3/workflows/a/b c?é/jobs"


def test_mutations_invalidate_cached_pages(sim: ApiSimulator, data: SimulatedData):
    wf = data.workflows[-1]["uid"]
    url = f"{sim.base_url}/v3/workflows/{wf}/jobs"
    assert get_json(url) == []
    job = data.add_job(wf, status="running", total_row_count=None)
    assert [j["uid"] for j in get_json(url)] == [job["uid"]]
    results = f"{sim.base_url}/v3/jobs/{job['uid']}/results"
    assert get_json(results)["results"] == []
    data.update_job(job["uid"], status="finished", total_row_count=7)
    assert len(get_json(results)["results"]) == 7
    data.remove_workflow(wf)
    assert http(url)[0] == 404


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


def test_cli_prints_url_first_and_serves_until_sigterm():
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "analytics_dev.simulator",
            "--port",
            "0",
            "--seed",
            "7",
            "--envelope",
            "data",
            "--next",
            "path",
            "--api-key",
            "cli-key",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
    )
    try:
        assert proc.stdout is not None  # stdout=PIPE
        line = proc.stdout.readline().strip()
        assert line.startswith("SIMULATOR_URL=http://127.0.0.1:")
        url = line.split("=", 1)[1]
        assert get_json(f"{url}/v3/workspace", key="cli-key")["data"]["name"]
        assert http(f"{url}/v3/workspace")[0] == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
