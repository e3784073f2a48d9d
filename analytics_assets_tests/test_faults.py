"""Fault injection through real Dagster runs: bad bodies, retries, drift, odd data, secrets.

Every test talks HTTP to the simulator on 127.0.0.1, loads a real DuckDB file in a temp folder
and runs the product's jobs (in process, or the `dagster asset materialize` CLI).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterEventType

from analytics_assets.defs.resources import AnalyticsApiResource
from analytics_assets.warehouse.pipelines import pipeline_name
from analytics_assets_tests.conftest import (
    API_KEY,
    count,
    fetch,
    load_everything,
    make_defs,
    run_partition,
    run_workspace,
)
from analytics_dev.simulator import FaultRule, SimulatedData

ROOT = Path(__file__).resolve().parent.parent
DAGSTER = str(Path(sys.executable).parent / "dagster")
PARTITION_SELECTION = "jobs,successful_jobs,job_results"
JOBS_STEP_TABLES = {"jobs", "jobs__accounts", "successful_jobs", "successful_jobs__accounts"}


@pytest.fixture
def sim_data() -> SimulatedData:
    # wf0: 5 jobs, 3 successful (109, 87, 202 rows); wf1: 4 jobs, 2 successful; wf2: no jobs.
    return SimulatedData(seed=7, workflows=3)


# ----------------------------------------------------------------------------- helpers
def snapshot(duckdb_path: Path) -> dict[str, list[tuple]]:
    """Every data table's ordered rows without dlt's row ids, plus the number of loads."""
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        tables = [
            row[0]
            for row in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'analytics' "
                "AND database_name = current_database() ORDER BY 1"
            ).fetchall()
        ]
        snap: dict[str, list[tuple]] = {}
        for table in tables:
            if table.startswith("_dlt_"):
                continue
            columns = [
                row[0]
                for row in con.execute(f'DESCRIBE analytics."{table}"').fetchall()
                if row[0] not in ("_dlt_load_id", "_dlt_id")
            ]
            select = ", ".join(f'"{c}"' for c in columns)
            snap[table] = con.execute(
                f'SELECT {select} FROM analytics."{table}" ORDER BY ALL'
            ).fetchall()
        snap["_dlt_loads"] = con.execute("SELECT count(*) FROM analytics._dlt_loads").fetchall()
    return snap


def changed_tables(before: dict, after: dict) -> set[str]:
    return {t for t in set(before) | set(after) if before.get(t) != after.get(t)}


def step_failures(result) -> list[str]:
    """The text of every STEP_FAILURE event of a run: error message and Failure description."""
    texts = []
    for event in result.all_events:
        if event.event_type == DagsterEventType.STEP_FAILURE:
            data = event.step_failure_data
            text = data.error.message if data.error else ""
            if data.user_failure_data and data.user_failure_data.description:
                text += "\n" + data.user_failure_data.description
            texts.append(text)
    return texts


def materialized(result) -> set[str]:
    return {
        event.asset_key.to_user_string()
        for event in result.get_asset_materialization_events()
        if event.asset_key
    }


def expected_results(sim_data: SimulatedData, uid: str) -> dict[str, int]:
    return {j["uid"]: len(sim_data.results[j["uid"]]) for j in sim_data.successful_jobs(uid)}


def results_per_job(duckdb_path: Path, uid: str) -> dict[str, int]:
    return dict(
        fetch(
            duckdb_path,
            "SELECT job_uid, count(*) FROM analytics.job_results WHERE workflow_uid = ? GROUP BY 1",
            uid,
        )
    )


def job_uids(duckdb_path: Path, table: str, uid: str) -> set[str]:
    sql = f"SELECT uid FROM analytics.{table} WHERE workflow_uid = ?"
    return {row[0] for row in fetch(duckdb_path, sql, uid)}


def jobs_path(uid: str) -> str:
    return f"/v3/workflows/{uid}/jobs"


def assert_partition_exact(duckdb_path: Path, sim_data: SimulatedData, uid: str) -> None:
    assert job_uids(duckdb_path, "jobs", uid) == {j["uid"] for j in sim_data.jobs[uid]}
    assert job_uids(duckdb_path, "successful_jobs", uid) == {
        j["uid"] for j in sim_data.successful_jobs(uid)
    }
    assert results_per_job(duckdb_path, uid) == expected_results(sim_data, uid)


def busiest(sim_data: SimulatedData) -> str:
    return max(sim_data.workflows, key=lambda w: len(sim_data.successful_jobs(w["uid"])))["uid"]


# ----------------------------------------------------------------------------- 1. bad bodies
def test_bad_jobs_bodies_fail_the_run_naming_the_endpoint_and_commit_nothing(
    defs, instance, simulator, sim_data, duckdb_path
):
    load_everything(defs, instance)
    uid = busiest(sim_data)
    for kind in ("html", "truncated", "no_list"):
        # A new job with results: a run that committed anything would change three tables.
        sim_data.add_job(uid, status="finished", total_row_count=30)
        before = snapshot(duckdb_path)
        simulator.add_fault(FaultRule(r"/jobs$", kind=kind, times=-1))
        simulator.reset_requests()

        result = run_partition(defs, instance, uid, raise_on_error=False)

        assert not result.success, kind
        (failure,) = step_failures(result)
        assert jobs_path(uid) in failure, kind
        assert materialized(result) == set()
        assert simulator.request_count(jobs_path(uid)) == 1  # a bad body is not retried
        assert simulator.request_count("/v3/jobs/") == 0
        assert snapshot(duckdb_path) == before, kind

        simulator.clear_faults()
        assert run_partition(defs, instance, uid).success, kind
        assert_partition_exact(duckdb_path, sim_data, uid)
        assert count(duckdb_path, "job_results") == sum(
            n for w in sim_data.workflows for n in expected_results(sim_data, w["uid"]).values()
        )


def test_bad_results_paging_fails_the_run_and_commits_no_result_row(
    defs, instance, simulator, sim_data, duckdb_path
):
    load_everything(defs, instance)
    uid = busiest(sim_data)
    for kind in ("bad_paging", "missing_paging"):
        first, last = sorted(
            sim_data.add_job(uid, status="finished", total_row_count=120)["uid"] for _ in range(2)
        )
        before = snapshot(duckdb_path)
        # Jobs are fetched in uid order: `first` is read in full (3 pages) before `last` breaks.
        simulator.add_fault(FaultRule(rf"/{last}/results$", kind=kind, times=-1))
        simulator.reset_requests()

        result = run_partition(defs, instance, uid, raise_on_error=False)

        assert not result.success, kind
        (failure,) = step_failures(result)
        assert f"/v3/jobs/{last}/results" in failure, kind
        assert materialized(result) == {"jobs", "successful_jobs"}
        assert simulator.request_count(f"/v3/jobs/{first}/results") == 3
        assert simulator.request_count(f"/v3/jobs/{last}/results") == 1
        after = snapshot(duckdb_path)
        # The jobs step loaded the two new jobs; not one result row (not even first's) landed.
        assert changed_tables(before, after) == JOBS_STEP_TABLES | {"_dlt_loads"}, kind
        assert after["job_results"] == before["job_results"]
        assert after["_dlt_loads"] == [(before["_dlt_loads"][0][0] + 1,)]
        assert job_uids(duckdb_path, "successful_jobs", uid) == {
            j["uid"] for j in sim_data.successful_jobs(uid)
        }
        assert set(results_per_job(duckdb_path, uid)) == set(expected_results(sim_data, uid)) - {
            first,
            last,
        }

        simulator.clear_faults()
        simulator.reset_requests()
        assert run_partition(defs, instance, uid).success, kind
        assert simulator.request_count("/v3/jobs/") == 6  # only the two new jobs, 3 pages each
        assert_partition_exact(duckdb_path, sim_data, uid)
        assert results_per_job(duckdb_path, uid)[first] == 120
        assert results_per_job(duckdb_path, uid)[last] == 120


# ----------------------------------------------------------------------------- 2. retries
def test_exhausted_503_retries_fail_after_exactly_four_requests_then_rerun_loads_exact_rows(
    defs, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uid = busiest(sim_data)
    before = snapshot(duckdb_path)
    simulator.add_fault(FaultRule(r"/jobs$", status=503, times=-1))
    simulator.reset_requests()

    result = run_partition(defs, instance, uid, raise_on_error=False)

    assert not result.success
    (failure,) = step_failures(result)
    assert jobs_path(uid) in failure
    assert "503" in failure
    assert simulator.request_count(jobs_path(uid)) == 4
    assert simulator.request_count("/v3/jobs/") == 0
    assert snapshot(duckdb_path) == before

    simulator.clear_faults()
    simulator.reset_requests()
    assert run_partition(defs, instance, uid).success
    assert simulator.request_count(jobs_path(uid)) == 1
    assert count(duckdb_path, "jobs") == len(sim_data.jobs[uid])
    assert count(duckdb_path, "successful_jobs") == len(sim_data.successful_jobs(uid))
    assert count(duckdb_path, "job_results") == sum(expected_results(sim_data, uid).values())
    assert_partition_exact(duckdb_path, sim_data, uid)


# ----------------------------------------------------------------------------- 3. 429
def test_429_with_retry_after_is_waited_out_inside_a_run_and_loads_exact_rows(
    instance, simulator, sim_data, duckdb_path
):
    # A cap above Retry-After, and a backoff far below it: the gaps can only come from it.
    resource = AnalyticsApiResource(
        base_url=simulator.base_url,
        api_key=API_KEY,
        duckdb_path=str(duckdb_path),
        backoff_factor=0.01,
        max_retry_delay=5,
        request_timeout=5,
    )
    defs = make_defs(resource)
    assert run_workspace(defs, instance).success
    uid = busiest(sim_data)
    simulator.add_fault(FaultRule(r"/jobs$", status=429, retry_after=1, times=2))
    simulator.reset_requests()

    result = run_partition(defs, instance, uid)

    assert result.success
    attempts = [r for r in simulator.requests if r.path == jobs_path(uid)]
    assert [r.status for r in attempts] == [429, 429, 200]
    gaps = [b.started - a.started for a, b in zip(attempts, attempts[1:], strict=False)]
    assert all(1.0 <= gap < 3.0 for gap in gaps), gaps
    # 429s are flow control: counted apart from the retries of 5xx and connection errors.
    counts = {
        e.asset_key.to_user_string(): (
            e.materialization.metadata["api_retries"].value,
            e.materialization.metadata["api_rate_limited"].value,
        )
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() in ("jobs", "successful_jobs")
    }
    assert counts == {"jobs": (0, 2), "successful_jobs": (0, 2)}
    assert_partition_exact(duckdb_path, sim_data, uid)
    assert count(duckdb_path, "job_results") == sum(expected_results(sim_data, uid).values())


# ----------------------------------------------------------------------------- 4. drift
def _set_job_field(sim_data: SimulatedData, job_uid: str, **fields) -> None:
    """Change a job as upstream would, directly in the data (no results resizing)."""
    with sim_data.lock:
        job = sim_data.job(job_uid)
        assert job is not None, job_uid
        job.update(fields)
        sim_data.touch(jobs_path(job["workflow_uid"]))


def test_drift_string_count_lands_as_bigint_and_unknown_field_becomes_a_new_column(
    defs, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uid = busiest(sim_data)
    assert run_partition(defs, instance, uid).success  # the tables exist before the drift
    job = sim_data.add_job(uid, status="finished", total_row_count=12)
    expected = expected_results(sim_data, uid)
    successful = {j["uid"] for j in sim_data.successful_jobs(uid)}
    _set_job_field(sim_data, job["uid"], total_row_count="12")
    other = sorted(successful - {job["uid"]})[0]
    _set_job_field(sim_data, other, brand_new_field="x")

    result = run_partition(defs, instance, uid)

    assert result.success
    assert [e.passed for e in result.get_asset_check_evaluations()] == [True]
    for table in ("jobs", "successful_jobs"):
        got = fetch(
            duckdb_path, f"SELECT total_row_count FROM analytics.{table} WHERE uid = ?", job["uid"]
        )
        assert got == [(12,)]
        types = dict((r[0], r[1]) for r in fetch(duckdb_path, f"DESCRIBE analytics.{table}"))
        assert types["total_row_count"] == "BIGINT"
        assert not [c for c in types if c.startswith("total_row_count__")]
        assert types["brand_new_field"] == "VARCHAR"
        got = fetch(
            duckdb_path,
            f"SELECT uid, brand_new_field FROM analytics.{table} WHERE brand_new_field IS NOT NULL",
        )
        assert got == [(other, "x")]
    assert job_uids(duckdb_path, "successful_jobs", uid) == successful
    assert results_per_job(duckdb_path, uid) == expected


def test_unreadable_job_fields_fail_loudly_naming_job_and_field_and_change_nothing(
    defs, instance, simulator, sim_data, duckdb_path
):
    assert run_workspace(defs, instance).success
    uid = busiest(sim_data)
    assert run_partition(defs, instance, uid).success
    sim_data.add_job(uid, status="finished", total_row_count=10)  # would change every table
    target = next(j for j in sim_data.jobs[uid] if j["status"] == "running")
    before = snapshot(duckdb_path)
    for field, value in [("status", 5), ("total_row_count", "lots"), ("row_count", "n/a")]:
        original = target[field]
        _set_job_field(sim_data, target["uid"], **{field: value})

        result = run_partition(defs, instance, uid, raise_on_error=False)

        assert not result.success, field
        (failure,) = step_failures(result)
        assert target["uid"] in failure
        assert f"field {field!r} is {value!r}" in failure
        assert materialized(result) == set()
        assert snapshot(duckdb_path) == before, field
        _set_job_field(sim_data, target["uid"], **{field: original})
    assert run_partition(defs, instance, uid).success
    assert_partition_exact(duckdb_path, sim_data, uid)


def test_simulator_update_job_accepts_a_count_sent_as_a_string(sim_data):
    job = next(j for j in sim_data.all_jobs() if j["status"] == "finished")
    sim_data.update_job(job["uid"], total_row_count="12")
    assert sim_data.job(job["uid"])["total_row_count"] == "12"


# ----------------------------------------------------------------------------- 5. odd rows
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


# ----------------------------------------------------------------------------- CLI helpers
def make_home(tmp_path: Path, name: str = "dagster_home") -> Path:
    home = tmp_path / name
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return home


def base_env(home: Path, duckdb_path: Path) -> dict[str, str]:
    # API_KEY too: dlt's env provider would offer it as the `api_key` secret fallback.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_") and k != "API_KEY"}
    env.update(DAGSTER_HOME=str(home), ANALYTICS_DUCKDB_PATH=str(duckdb_path))
    return env


def materialize(env: dict[str, str], select: str, partition: str | None = None, cwd=ROOT):
    cmd = [DAGSTER, "asset", "materialize", "-m", "analytics_assets.definitions"]
    cmd += ["--select", select] + (["--partition", partition] if partition else [])
    return subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


# ----------------------------------------------------------------------------- 6. secrets
def test_api_key_appears_in_no_output_event_log_warehouse_or_dlt_file(
    simulator, sim_data, duckdb_path, tmp_path
):
    home = make_home(tmp_path)
    env = base_env(home, duckdb_path)
    env.update(
        ANALYTICS_API_BASE_URL=simulator.base_url,
        ANALYTICS_API_KEY=API_KEY,
        ANALYTICS_API_BACKOFF_FACTOR="0.01",
    )
    outputs = []
    code, output = finish(materialize(env, "workspace,workflows"))
    outputs.append(output)
    assert code == 0, output[-3000:]
    uids = [w["uid"] for w in sim_data.workflows]
    rejected = uids[-1]
    # The API rejects the key for one workflow (401): that run must fail, naming the variable.
    simulator.add_fault(FaultRule(rf"/{rejected}/jobs$", status=401, times=-1))
    codes = {}
    for uid in uids:  # one after the other, as the README's xargs recipe runs them
        codes[uid], output = finish(materialize(env, PARTITION_SELECTION, uid))
        outputs.append(output)
        if uid == rejected:
            assert "401" in output and "ANALYTICS_API_KEY" in output, output[-3000:]
    assert codes == {uid: int(uid == rejected) for uid in uids}
    for uid in uids[:-1]:
        assert_partition_exact(duckdb_path, sim_data, uid)

    secret = API_KEY.encode()
    fragment = b"SECRET-do-not-log"  # catches a partly masked key too
    for output in outputs:
        assert API_KEY not in output and "SECRET-do-not-log" not in output
    pipelines = duckdb_path.parent / "dlt_pipelines"
    scanned = [p for p in home.rglob("*") if p.is_file()]
    scanned += [p for p in pipelines.rglob("*") if p.is_file()]
    scanned += [p for p in duckdb_path.parent.glob(duckdb_path.name + "*") if p.is_file()]
    assert any(p.suffix == ".db" for p in scanned)  # the sqlite event log was scanned
    assert any("compute_logs" in p.parts for p in scanned)
    assert any(p.name == "state.json" for p in scanned)
    assert duckdb_path in scanned
    leaks = [p for p in scanned if secret in p.read_bytes() or fragment in p.read_bytes()]
    assert leaks == []


# ----------------------------------------------------------------------------- 7. bad config
def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_bad_configuration_fails_every_cli_run_fast_naming_the_variable(tmp_path, simulator):
    cases = {
        "base url unset": ({"ANALYTICS_API_KEY": API_KEY}, "ANALYTICS_API_BASE_URL"),
        "base url empty": (
            {"ANALYTICS_API_BASE_URL": "", "ANALYTICS_API_KEY": API_KEY},
            "ANALYTICS_API_BASE_URL",
        ),
        "no scheme": (
            {"ANALYTICS_API_BASE_URL": "api.example.com", "ANALYTICS_API_KEY": API_KEY},
            "ANALYTICS_API_BASE_URL",
        ),
        "closed port": (
            {
                "ANALYTICS_API_BASE_URL": f"http://127.0.0.1:{_closed_port()}",
                "ANALYTICS_API_KEY": API_KEY,
            },
            "ANALYTICS_API_BASE_URL",
        ),
        "key unset": ({"ANALYTICS_API_BASE_URL": simulator.base_url}, "ANALYTICS_API_KEY"),
    }
    work = tmp_path / "cwd"  # no .dlt/secrets.toml here to fall back on
    work.mkdir()
    outcomes = {}
    names = list(cases)
    for batch in (names[:2], names[2:4], names[4:]):  # two at a time: a 2-core machine
        started, procs = {}, {}
        for name in batch:
            home = make_home(tmp_path, name.replace(" ", "_"))
            env = base_env(home, tmp_path / name.replace(" ", "_") / "w.duckdb")
            env.update(cases[name][0])
            started[name] = time.monotonic()
            procs[name] = materialize(env, "workspace,workflows", cwd=work)
        for name in batch:
            code, output = finish(procs[name], timeout=120)
            outcomes[name] = (code, time.monotonic() - started[name], output)
    for name, (code, seconds, output) in outcomes.items():
        variable = cases[name][1]
        assert code != 0, name
        assert seconds < 45, (name, seconds)  # a CLI start-up; retries would be caught below
        assert variable in output, (name, output[-2000:])
        assert "; retry " not in output, name  # bad configuration is not retried
        assert API_KEY not in output
    assert simulator.request_count() == 0  # "key unset" failed before any request


# ----------------------------------------------------------------------------- 8. identifiers
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
