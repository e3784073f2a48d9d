"""The API simulator's dataset: deterministic per seed, every shape the pipeline must handle,
served in both envelopes and pages over real loopback HTTP, hostile uids and mutations."""

from __future__ import annotations

import json
from itertools import pairwise, starmap
from operator import eq
from urllib.parse import quote

import pytest

from analytics_assets_tests.support import SIM_KEY, get_json, http
from analytics_dev.simulator import ApiSimulator, SimulatedData
from analytics_dev.simulator.data import is_successful

KEY = SIM_KEY


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
