"""Odd data through real in-process runs: unicode, 100 kB strings, deep nesting, an empty last
page, sparse fields and a hostile workflow uid land exactly as served."""

from __future__ import annotations

import json

from analytics_assets.warehouse.pipelines import pipeline_name
from analytics_assets_tests.support import count, fetch, jobs_path, run_partition, run_workspace
from analytics_dev.simulator import SimulatedData

# wf0: 5 jobs, 3 successful (109, 87, 202 rows); wf1: 4 jobs, 2 successful; wf2: no jobs.
SIM_WORKFLOWS = 3


def _serve_rows(sim_data: SimulatedData, simulator, job_uid: str, rows: list[dict], size: int):
    """Make the simulator serve exactly `rows` for a job, announcing `size` rows in paging.

    `size` above len(rows) makes the pages past the rows empty (an empty last page).
    """
    with sim_data.lock:
        sim_data._rows[job_uid] = [
            json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in rows
        ]
        sim_data._sizes[job_uid] = size
        sim_data.touch(f"/v3/jobs/{job_uid}/results")
    simulator.clear_cache()


UNICODE = "Zoë 👩‍💻🚀 数据工程师 مهندس بيانات שָׁלוֹם e\u0301 \u200b\u202e"


LONG = "é€𝄞" * 11_000  # 99,000 bytes of 2-, 3- and 4-byte UTF-8 characters: ~100 kB


DEEP = {"l2": {"l3": {"l4": {"l5": {"l6": [1, "two", {"l7": None, "t": "深い"}]}}}}}


def _odd_rows() -> list[dict]:
    """100 rows, every key in every row: page 1 is flat text, page 2 carries nested values."""
    rows: list[dict] = []
    for i in range(100):
        rows.append(
            {
                "linkedin_profile_url": f"https://www.linkedin.com/in/odd-{i:03d}",
                "full_name": f"{UNICODE} #{i}",
                "headline": LONG if i in (3, 77) else f"RTL ‏{i}‏ سطر",
                "quote": 'He said "hi" \\ then \t left\n\x00 after a NUL',
            }
        )
    for i in range(50, 100):
        rows[i]["deep"] = {"l1": DEEP, "i": i}
    return rows


def test_unicode_long_strings_nesting_and_an_empty_last_page_round_trip_exactly(
    defs, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uid = sim_data.workflows[-1]["uid"]  # the workflow without jobs: this job is all it has
    job = sim_data.add_job(uid, status="finished", total_row_count=150)
    rows = _odd_rows()
    _serve_rows(sim_data, simulator, job["uid"], rows, size=150)
    simulator.reset_requests()

    result = run_partition(defs, instance, uid)

    assert result.success
    assert simulator.request_count(f"/v3/jobs/{job['uid']}/results") == 3  # 50, 50, 0 rows
    assert count(duckdb_path, "job_results", "job_uid = ?", job["uid"]) == 100
    columns = dict(
        fetch(
            duckdb_path,
            "SELECT column_name, data_type FROM "
            "information_schema.columns WHERE table_schema = 'analytics' "
            "AND table_name = 'job_results' AND table_catalog = current_database()",
        )
    )
    nested = sorted(c for c in columns if c.startswith("results__deep"))
    got = fetch(
        duckdb_path,
        "SELECT results__linkedin_profile_url, results__full_name, results__headline, "
        "results__quote, " + ", ".join(nested) + " FROM analytics.job_results "
        "WHERE job_uid = ? ORDER BY 1",
        job["uid"],
    )
    assert [r[0] for r in got] == [row["linkedin_profile_url"] for row in rows]
    for row, stored in zip(rows, got, strict=True):
        assert stored[1:4] == (row["full_name"], row["headline"], row["quote"])
        flat = dict(zip(nested, stored[4:], strict=True))
        rebuilt = _rebuild(flat, {c: columns[c] for c in nested}, "results__deep")
        assert rebuilt == row.get("deep"), row["linkedin_profile_url"]
    assert len(got[3][2].encode()) == 99_000


def _rebuild(flat: dict, types: dict[str, str], prefix: str):
    """Undo dlt's flattening of one dict (`a__b` columns, JSON beyond the nesting)."""
    out: dict = {}
    for column, value in flat.items():
        if value is None:
            continue
        path = column[len(prefix) + 2 :].split("__")
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = json.loads(value) if types[column] == "JSON" else value
    return out or None


def test_result_fields_missing_from_a_pages_first_row_are_kept_for_the_other_rows(
    defs, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uid = sim_data.workflows[-1]["uid"]
    job = sim_data.add_job(uid, status="finished", total_row_count=50)
    rows = [
        {"linkedin_profile_url": f"https://www.linkedin.com/in/sparse-{i:02d}", "headline": None}
        if i == 0
        else {
            "linkedin_profile_url": f"https://www.linkedin.com/in/sparse-{i:02d}",
            "headline": f"{UNICODE} {i}",
            **({"bio": LONG} if i == 1 else {}),
        }
        for i in range(50)
    ]
    _serve_rows(sim_data, simulator, job["uid"], rows, size=50)

    assert run_partition(defs, instance, uid).success

    columns = {r[0] for r in fetch(duckdb_path, "DESCRIBE analytics.job_results")}
    assert {"results__headline", "results__bio"} <= columns
    got = fetch(
        duckdb_path,
        "SELECT results__headline, results__bio FROM analytics.job_results "
        "WHERE job_uid = ? ORDER BY results__linkedin_profile_url",
        job["uid"],
    )
    assert got == [(row.get("headline"), row.get("bio")) for row in rows]


def test_hostile_workflow_uid_is_a_partition_key_as_is_and_loads_exactly(
    defs, instance, simulator, sim_data, duckdb_path
):
    hostile = "a/b c?é"
    sim_data.add_workflow(uid=hostile)
    job = sim_data.add_job(hostile, status="finished", total_row_count=60)
    assert run_workspace(defs, instance).success
    assert hostile in instance.get_dynamic_partitions("workflow_uids")
    assert sorted(instance.get_dynamic_partitions("workflow_uids")) == sorted(
        w["uid"] for w in sim_data.workflows
    )
    simulator.reset_requests()

    result = run_partition(defs, instance, hostile)

    assert result.success
    assert [(r.path, r.status) for r in simulator.requests] == [
        (jobs_path(hostile), 200),
        (f"/v3/jobs/{job['uid']}/results", 200),
        (f"/v3/jobs/{job['uid']}/results", 200),
    ]
    assert fetch(duckdb_path, "SELECT uid, workflow_uid FROM analytics.jobs") == [
        (job["uid"], hostile)
    ]
    assert fetch(duckdb_path, "SELECT uid, workflow_uid FROM analytics.successful_jobs") == [
        (job["uid"], hostile)
    ]
    results_sql = "SELECT job_uid, workflow_uid, count(*) FROM analytics.job_results GROUP BY ALL"
    assert fetch(duckdb_path, results_sql) == [(job["uid"], hostile, 60)]
    pipelines = duckdb_path.parent / "dlt_pipelines"
    assert (pipelines / pipeline_name(hostile)).is_dir()
    for path in pipelines.rglob("*"):
        for part in path.relative_to(pipelines).parts:
            assert not set(part) & set("/? é"), path
    assert not (pipelines / "a").exists()
