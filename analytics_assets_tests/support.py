"""What many test modules share: the test key and paths, the product's definitions bound to a
test resource, in-process runs, warehouse reads, temp Dagster homes and `dagster` subprocesses.

Fixtures live in conftest.py and build on these; tests import from here, never from conftest.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from dagster import DagsterEventType, DagsterInstance, Definitions, build_sensor_context

from analytics_assets.api.job_rows import is_successful
from analytics_assets.defs.factory import build_definitions
from analytics_assets.defs.partitions import partitions_of_run, range_tags
from analytics_assets.defs.resources import AnalyticsApiResource
from analytics_dev.simulator import SimulatedData

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DAGSTER = str(BIN / "dagster")
API_KEY = "sk-test-7f3a9c1e-SECRET-do-not-log"
PARTITION_SELECTION = "jobs,successful_jobs,job_results"
# Variables of the caller's shell that would change what a subprocess under test does.
CALLER_SETTINGS = ("ANALYTICS_", "DESTINATION__")
CALLER_SECRETS = ("API_KEY", "SECRETS")  # dlt's env provider offers these as secrets


# ------------------------------------------------------------------ definitions and runs
def resource_for(base_url: str | None, duckdb_path: Path | str | None, **fields: Any):
    """The API settings of a test: the simulator, a temp DuckDB file, the spec's retry policy
    (its waits go to the definitions' clock), a short request timeout."""
    values: dict[str, Any] = {"base_url": base_url, "api_key": API_KEY, "request_timeout": 5}
    if duckdb_path is not None:
        values.update(destination="duckdb", duckdb_path=str(duckdb_path))
    return AnalyticsApiResource(**{**values, **fields})


def make_defs(resource: AnalyticsApiResource, **kw: Any) -> Definitions:
    """The product's definitions, as shipped, with `resource` as the API settings (and
    `clock=FakeClock()` where a test records the waits)."""
    return build_definitions(resource=resource, **kw)


def run_workspace(defs: Definitions, instance: DagsterInstance, **kwargs):
    return defs.resolve_job_def("workspace_job").execute_in_process(instance=instance, **kwargs)


def run_partition(defs: Definitions, instance: DagsterInstance, uid: str, **kwargs):
    return defs.resolve_job_def("workflow_partition_job").execute_in_process(
        instance=instance, partition_key=uid, **kwargs
    )


def run_partition_range(defs: Definitions, instance: DagsterInstance, first: str, last: str, **kw):
    """Several partitions in one run, as a single-run backfill launches them."""
    return defs.resolve_job_def("workflow_partition_job").execute_in_process(
        instance=instance, tags=range_tags(first, last), **kw
    )


def requested_partitions(instance: DagsterInstance, result: Any) -> list[str]:
    """Every partition a sensor result's load requests cover (single ones and ranges), sorted."""
    registered = list(instance.get_dynamic_partitions("workflow_uids"))
    tags = [
        {"dagster/partition": r.partition_key} if r.partition_key else dict(r.tags)
        for r in result.run_requests or []
        if r.job_name == "workflow_partition_job"
    ]
    return sorted(uid for t in tags for uid in partitions_of_run(t, registered))


def launch_requested(defs: Definitions, instance: DagsterInstance, result: Any) -> None:
    """Run what a sensor result requested, in-process, as the daemon would launch it."""
    for request in result.run_requests or []:
        if request.job_name == "workspace_job":
            assert run_workspace(defs, instance).success
        elif request.partition_key:
            assert run_partition(defs, instance, request.partition_key).success
        else:
            tags = request.tags
            first = tags["dagster/asset_partition_range_start"]
            last = tags["dagster/asset_partition_range_end"]
            assert run_partition_range(defs, instance, first, last).success


def load_everything(defs: Definitions, instance: DagsterInstance) -> list[str]:
    """The demo's full load: workspace assets, then every registered partition in one run."""
    assert run_workspace(defs, instance).success
    uids = list(instance.get_dynamic_partitions("workflow_uids"))
    assert run_partition_range(defs, instance, uids[0], uids[-1]).success
    return uids


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


BLOCKING_CHECK = "successful_jobs_filter"


def check_evaluations(instance: DagsterInstance, check: str = BLOCKING_CHECK) -> list[bool]:
    """Every evaluation of one check (the blocking one unless named) of every run, oldest
    run first."""
    return [
        data.passed
        for run in reversed(instance.get_runs())
        for record in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        if (data := record.get_dagster_event().asset_check_evaluation_data).check_name == check
    ]


def evaluations(result, check: str = BLOCKING_CHECK) -> list:
    """The evaluations of one check (the blocking one unless named) in a run's result."""
    return [e for e in result.get_asset_check_evaluations() if e.check_name == check]


# ------------------------------------------------------------------------ the warehouse
def fetch(duckdb_path: Path, sql: str, *params) -> list[tuple]:
    """Read the warehouse after the runs ended (DuckDB allows one process at a time)."""
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def seed_job(duckdb_path: Path, table: str, uid: str, workflow_uid: str, status, count) -> None:
    """A job row written straight into `jobs` or `successful_jobs`, as no load would (a uid
    the API does not list, so the next merge keeps it)."""
    with duckdb.connect(str(duckdb_path)) as con:
        con.execute(
            f"INSERT INTO analytics.{table} (uid, workflow_uid, status, total_row_count, "
            "_dlt_load_id, _dlt_id) VALUES (?, ?, ?, ?, 'seed', ?)",
            [uid, workflow_uid, status, count, f"seed-{uid}"],
        )


def count(duckdb_path: Path, table: str, where: str = "", *params) -> int:
    sql = f"SELECT count(*) FROM analytics.{table}" + (f" WHERE {where}" if where else "")
    return fetch(duckdb_path, sql, *params)[0][0]


def assert_full_load(duckdb_path: Path, sim_data: SimulatedData) -> None:
    """Every job, every successful job and every result row of the simulator, exactly once."""
    jobs = sim_data.all_jobs()
    successful = [j for j in jobs if is_successful(j)]
    assert count(duckdb_path, "jobs") == len(jobs)
    assert count(duckdb_path, "successful_jobs") == len(successful)
    assert count(duckdb_path, "job_results") == sum(
        len(sim_data.results[j["uid"]]) for j in successful
    )


def assert_partition_loaded(duckdb_path: Path, sim_data: SimulatedData, uid: str) -> None:
    """One partition's jobs, successful jobs and result rows, each exactly once."""
    successful = sim_data.successful_jobs(uid)
    assert count(duckdb_path, "jobs") == len(sim_data.jobs[uid])
    assert count(duckdb_path, "successful_jobs") == len(successful)
    assert count(duckdb_path, "job_results") == sum(
        len(sim_data.results[j["uid"]]) for j in successful
    )


def snapshot(duckdb_path: Path, volatile: tuple[str, ...] = ("_dlt_load_id", "_dlt_id")):
    """Every data table's ordered rows without the `volatile` columns, and the number of
    loads (as `_dlt_loads`)."""
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        tables = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'analytics' "
            "AND database_name = current_database() ORDER BY 1"
        ).fetchall()
        snap: dict[str, list[tuple]] = {}
        for (table,) in tables:
            if table.startswith("_dlt_"):
                continue
            described = con.execute(f'DESCRIBE analytics."{table}"').fetchall()
            columns = sorted(row[0] for row in described if row[0] not in volatile)
            select = ", ".join(f'"{c}"' for c in columns)
            sql = f'SELECT {select} FROM analytics."{table}" ORDER BY ALL'
            snap[table] = con.execute(sql).fetchall()
        snap["_dlt_loads"] = con.execute("SELECT count(*) FROM analytics._dlt_loads").fetchall()
    return snap


def jobs_path(uid: str) -> str:
    return f"/v3/workflows/{uid}/jobs"


def expected_results(sim_data: SimulatedData, uid: str) -> dict[str, int]:
    """Result rows per successful job of one workflow, as the simulator serves them."""
    return {j["uid"]: len(sim_data.results[j["uid"]]) for j in sim_data.successful_jobs(uid)}


def results_per_job(duckdb_path: Path, uid: str) -> dict[str, int]:
    sql = "SELECT job_uid, count(*) FROM analytics.job_results WHERE workflow_uid = ? GROUP BY 1"
    return dict(fetch(duckdb_path, sql, uid))


def job_uids(duckdb_path: Path, table: str, uid: str) -> set[str]:
    sql = f"SELECT uid FROM analytics.{table} WHERE workflow_uid = ?"
    return {row[0] for row in fetch(duckdb_path, sql, uid)}


def assert_partition_exact(duckdb_path: Path, sim_data: SimulatedData, uid: str) -> None:
    """The partition's jobs, successful jobs and results per job are the simulator's."""
    assert job_uids(duckdb_path, "jobs", uid) == {j["uid"] for j in sim_data.jobs[uid]}
    assert job_uids(duckdb_path, "successful_jobs", uid) == {
        j["uid"] for j in sim_data.successful_jobs(uid)
    }
    assert results_per_job(duckdb_path, uid) == expected_results(sim_data, uid)


def busiest(sim_data: SimulatedData) -> str:
    """The workflow with the most successful jobs."""
    return max(sim_data.workflows, key=lambda w: len(sim_data.successful_jobs(w["uid"])))["uid"]


# ------------------------------------------------- Dagster homes and `dagster` processes
def make_home(tmp_path: Path, name: str = "dagster_home", config: Path | None = None) -> Path:
    """A temp DAGSTER_HOME with an instance config: the shipped one (storage, compute logs,
    pools under the home) unless `config` names another, e.g. deploy/dagster.yaml."""
    home = tmp_path / name
    home.mkdir()
    shutil.copy(config or ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return home


def subprocess_env(home: Path, **settings: str) -> dict[str, str]:
    """The environment of a subprocess under test: this one's without the caller's settings
    or secrets, DAGSTER_HOME at `home`, then `settings`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(CALLER_SETTINGS) and k not in CALLER_SECRETS
    }
    env.update(DAGSTER_HOME=str(home), **settings)
    return env


def materialize(
    env: dict[str, str],
    select: str,
    partition: str | None = None,
    partition_range: str = "",
    cwd: Path = ROOT,
) -> subprocess.Popen:
    """`dagster asset materialize` of the shipped code location, started (see `finish`)."""
    cmd = [DAGSTER, "asset", "materialize", "-m", "analytics_assets.definitions"]
    cmd += ["--select", select] + (["--partition", partition] if partition else [])
    cmd += ["--partition-range", partition_range] if partition_range else []
    return subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    output, _ = proc.communicate(timeout=timeout)
    return proc.returncode, output


def succeed(proc: subprocess.Popen) -> str:
    """Its output, once it exited 0 without showing the API key."""
    code, output = finish(proc)
    assert code == 0, output[-3000:]
    assert API_KEY not in output
    return output


# ------------------------------------------------------------------- the simulator's HTTP
SIM_KEY = "sim-secret-key"  # the simulator's tests' key (it takes any key unless told)


def http(
    url: str,
    key: str | None = SIM_KEY,
    method: str = "GET",
    body: object = None,
    headers: dict | None = None,
) -> tuple[int, dict[str, str], bytes]:
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


@contextmanager
def simulator_process(*args: str) -> Iterator[str]:
    """`python -m analytics_dev.simulator --port 0 ARGS`: its URL (the first line it prints)
    while it serves; it must then exit 0 on SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "analytics_dev.simulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None  # stdout=PIPE
        line = proc.stdout.readline().strip()
        assert line.startswith("SIMULATOR_URL=http://127.0.0.1:")
        yield line.split("=", 1)[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


# ------------------------------------------------------------------ benchmarks and sensors
def run_bench(tmp_path: Path, module: str, *args: str, report: str) -> dict[str, Any]:
    """Run `python -m <module> <args> --out <tmp>` from the repo root; its JSON `report`."""
    out = tmp_path / "bench"
    subprocess.run(
        [sys.executable, "-m", module, *args, "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return json.loads((out / report).read_text())


def workspace_run_keys(defs: Definitions, ticks: int) -> list[list[str | None]]:
    """The refresh sensor's `workspace_job` run keys at each of `ticks` ticks in a row, each
    tick on the cursor of the one before (a fresh ephemeral instance)."""
    sensor = defs.resolve_sensor_def("workflow_refresh_sensor")
    cursor, keys = None, []
    with DagsterInstance.ephemeral() as instance:
        for _ in range(ticks):
            context = build_sensor_context(
                instance=instance, cursor=cursor, resources=dict(defs.resources or {})
            )
            result = sensor(context)
            cursor = result.cursor  # type: ignore[union-attr]
            keys.append(
                [r.run_key for r in result.run_requests or [] if r.job_name == "workspace_job"]  # type: ignore[union-attr]
            )
    return keys
