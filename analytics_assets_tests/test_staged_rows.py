"""`job_results` stages every key once, so its merge can skip dlt's deduplication pass."""

import json
import re

from analytics_assets.api.client import AnalyticsApiClient
from analytics_assets.api.reads import ApiReader, iter_job_results
from analytics_assets.api.results import StagedRows
from analytics_assets.settings import ApiSettings
from analytics_assets.warehouse.pipelines import make_pipeline
from analytics_assets_tests.support import API_KEY, count, fetch, run_partition, run_workspace
from analytics_dev.simulator import FaultRule


def _client(simulator) -> AnalyticsApiClient:
    return AnalyticsApiClient(ApiSettings(base_url=simulator.base_url, api_key=API_KEY))


def _ids(items) -> list[str]:
    return [row["job_result_id"] for batch in items for row in batch]


def test_a_job_listed_twice_is_read_and_staged_once(simulator, sim_data):
    job = max(sim_data.all_jobs(), key=lambda j: len(sim_data.results.get(j["uid"], [])))
    rows = len(sim_data.results[job["uid"]])
    client = _client(simulator)
    ids = _ids(iter_job_results(ApiReader(client=client, arrow=False), [job, job]))
    assert len(ids) == len(set(ids)) == rows
    assert client.stats.requests == -(-rows // simulator.page_size)


def test_an_id_the_api_repeats_within_a_job_is_loaded_once(
    defs, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uid, job = next(
        (w["uid"], j) for w in sim_data.workflows for j in sim_data.successful_jobs(w["uid"])
    )
    record = {"extracted_at": "2026-01-01T00:00:00+00:00", "results": {"name": "x"}}
    page = {
        "results": [
            {**record, "job_result_id": "r-1"},
            {**record, "job_result_id": "r-2", "results": {"name": "y"}},
            {**record, "job_result_id": "r-1", "results": {"name": "z"}},  # a repeated id
        ],
        "paging": {"have_next_page": False, "next": None, "previous": None},
    }
    path = f"/v3/jobs/{re.escape(job['uid'])}/results$"
    simulator.add_fault(FaultRule(path, times=1, status=200, body=json.dumps(page).encode()))
    result = run_partition(defs, instance, uid)
    assert result.success
    sql = "job_uid = ? ORDER BY job_result_id"
    assert count(duckdb_path, "job_results", "job_uid = ?", job["uid"]) == 2
    names = fetch(
        duckdb_path,
        f"SELECT job_result_id, results__name FROM analytics.job_results WHERE {sql}",
        job["uid"],
    )
    assert names == [("r-1", "x"), ("r-2", "y")]  # the first of the repeated id is kept
    warnings = [
        e.message
        for e in instance.all_logs(result.run_id)
        if e.level >= 30 and "repeated a job_result_id" in (e.message or "")
    ]
    assert len(warnings) == 1 and warnings[0].startswith("1 result row(s)")


def test_the_results_merge_is_declared_deduplicated(defs, instance, sim_data, api_resource):
    assert run_workspace(defs, instance).success
    uid = next(w["uid"] for w in sim_data.workflows if sim_data.successful_jobs(w["uid"]))
    assert run_partition(defs, instance, uid).success
    table = make_pipeline(api_resource.settings(), uid).default_schema.tables["job_results"]
    assert table["write_disposition"] == "merge"
    assert table.get("x-merge-strategy") == "delete-insert"
    assert table.get("x-stage-data-deduplicated") is True


def test_sent_ids_are_kept_per_job_while_pages_of_jobs_interleave():
    # Pages of different jobs now arrive interleaved: a's ids must survive b's pages between
    # them, and are forgotten once a is done (memory bounded by the jobs being read).
    staged = StagedRows()

    def page(*ids: str) -> list[dict]:
        return [{"job_result_id": i, "results": {"n": i}} for i in ids]

    assert staged.fresh("a", page("1", "2")) == page("1", "2")
    assert staged.fresh("b", page("1", "3")) == page("1", "3")  # another job's ids are its own
    assert staged.fresh("a", page("2", "4")) == page("4")  # a repeats 2 after b's page
    assert staged.repeated == 1
    staged.done("a")
    assert staged.fresh("b", page("3")) == []
    assert staged.repeated == 2
