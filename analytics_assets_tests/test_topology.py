"""The production topology end to end, on one machine and without containers.

The production install (what the image holds) serves the code location with `dagster
code-server start`; a webserver and a daemon reach it through a `grpc_server` workspace; all
share the Postgres-backed instance of deploy/dagster.yaml on the suite's throwaway server,
and the API key's rate budget lives in Postgres too. Runs are launched through Dagster's
GraphQL client. One test, not several: the topology takes most of its time to start, and
pytest-xdist would start it once per worker that received a test of this module.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster_graphql import DagsterGraphQLClient, ReloadRepositoryLocationStatus

from analytics_assets.api.budget_stores import STATE_TABLE, key_id
from analytics_assets_tests.topology_support import (
    CALLER_PREFIXES,
    LOCATION,
    POOL,
    Topology,
    claimed_slots,
    first_step_start,
    free_port,
    max_in_window,
    overlaps,
    production_install,
    run_worker_pid,
    sigkill_tree,
    step_spans,
    wait_for,
    wait_for_status,
    write_instance,
    write_workspace,
)
from analytics_assets_tests.webhook_support import deliver
from analytics_dev.postgres import PASSWORD, USER, PostgresServer, postgres_server
from analytics_dev.simulator import ApiSimulator, SimulatedData
from analytics_dev.simulator.records import FaultRule
from analytics_dev.simulator.webhooks import webhook_body

pytestmark = pytest.mark.topology

__all__ = ["postgres_server"]  # the fixture, imported so pytest finds it

API_KEY = "sk-topology-5e1b7d-SECRET-do-not-log"
WEBHOOK_SECRET = "whsec-topology-9c2e-SECRET-do-not-log"
RATE = 10.0  # the simulated plan's requests/s, and ANALYTICS_API_RATE_LIMIT of every process
RUN_TIMEOUT = 120
DONE = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
SENSOR_TAG = "dagster/sensor_name"
PARTITION_JOB = "workflow_partition_job"


@pytest.fixture
def sim_data() -> SimulatedData:
    return SimulatedData(seed=7, workflows=6)


@pytest.fixture
def simulator(sim_data: SimulatedData) -> Iterator[ApiSimulator]:
    with ApiSimulator(sim_data, api_key=API_KEY, page_size=50, rate_limit=RATE) as sim:
        yield sim


@pytest.fixture
def deployment(simulator, postgres_server: PostgresServer, tmp_path: Path, monkeypatch):
    """The production venv and its three processes, and the instance they share."""
    started = time.monotonic()
    venv = production_install(tmp_path / "image")
    install_seconds = time.monotonic() - started
    with postgres_server.database() as dagster_db, postgres_server.database() as budget_db:
        home, root = tmp_path / "dagster_home", tmp_path / "run"
        root.mkdir()
        config = write_instance(home)
        pg = {
            "DAGSTER_PG_HOST": postgres_server.host,
            "DAGSTER_PG_PORT": str(postgres_server.port),
            "DAGSTER_PG_DB": dagster_db,
            "DAGSTER_PG_USERNAME": USER,
            "DAGSTER_PG_PASSWORD": PASSWORD,
        }
        for name, value in pg.items():
            monkeypatch.setenv(name, value)
        base = dict(os.environ)
        env = {k: v for k, v in base.items() if not k.startswith(CALLER_PREFIXES)}
        env.update(pg, PATH=f"{venv / 'bin'}:{env['PATH']}", DAGSTER_HOME=str(home))
        env.update(
            ANALYTICS_API_BASE_URL=simulator.base_url,
            ANALYTICS_API_KEY=API_KEY,
            ANALYTICS_DUCKDB_PATH=str(tmp_path / "warehouse" / "analytics_warehouse.duckdb"),
            ANALYTICS_API_RATE_LIMIT=str(RATE),
            ANALYTICS_API_RATE_LIMIT_STORE=postgres_server.dsn(budget_db),
            ANALYTICS_API_REQUEST_TIMEOUT="60",  # longer than the slow fault below
            ANALYTICS_SENSOR_INTERVAL_SECONDS="3600",  # one tick, when the daemon starts
        )
        topology = Topology(venv, root, env)
        try:
            with DagsterInstance.from_config(str(home)) as instance:
                yield topology, instance, config, budget_db, install_seconds
        finally:
            topology.stop_all()


def _launch(client: DagsterGraphQLClient, job: str, partition: str | None = None) -> str:
    tags = {"dagster/partition": partition} if partition else None
    return client.submit_job_execution(job, repository_location_name=LOCATION, tags=tags)


def _finish(topology, instance, *run_ids: str) -> list[DagsterRunStatus]:
    return [wait_for_status(instance, r, DONE, RUN_TIMEOUT, topology.logs) for r in run_ids]


def _loaded_partitions(sim_data: SimulatedData) -> list[str]:
    """Workflows with results to load, most rows first."""
    uids = [w["uid"] for w in sim_data.workflows if sim_data.successful_jobs(w["uid"])]
    return sorted(
        uids,
        key=lambda u: -sum(len(sim_data.results[j["uid"]]) for j in sim_data.successful_jobs(u)),
    )


def _wait_all(topology, instance, run_ids: list[str]) -> tuple[list, int]:
    """Wait for runs to succeed; their step spans and the most pool slots seen claimed at once
    while they ran."""
    most = 0

    def all_done() -> bool:
        nonlocal most
        most = max(most, claimed_slots(instance))
        return all(
            (run := instance.get_run_by_id(r)) is not None and run.status in DONE for r in run_ids
        )

    wait_for(all_done, RUN_TIMEOUT, f"runs {run_ids}", topology.logs)
    statuses = [instance.get_run_by_id(r).status for r in run_ids]
    assert statuses == [DagsterRunStatus.SUCCESS] * len(run_ids), (statuses, topology.logs)
    return [step_spans(instance, r) for r in run_ids], most


def _pushed_load(topology, instance, sim_data: SimulatedData, uid: str, logs) -> None:
    port = free_port()
    receiver = [str(topology.venv / "bin" / "analytics-webhooks"), "--port", str(port)]
    topology.start("receiver", receiver, {"ANALYTICS_WEBHOOK_SECRET": WEBHOOK_SECRET})
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _healthy(url), 60, "the receiver", logs)
    job = sim_data.add_job(uid, status="finished", total_row_count=3)
    status, _ = deliver(url, body=webhook_body(job, "succeeded"), secret=WEBHOOK_SECRET)
    assert status == 200
    pushed = RunsFilter(tags={SENSOR_TAG: "workflow_webhook_sensor"})
    runs = wait_for(lambda: instance.get_runs(pushed), RUN_TIMEOUT, "the pushed load", logs)
    assert [r.tags.get("dagster/partition") for r in runs] == [uid]
    assert _finish(topology, instance, runs[0].run_id) == [DagsterRunStatus.SUCCESS]
    topology.stop("receiver")


def _healthy(url: str) -> bool:
    try:
        return deliver(url, "GET", "/healthz")[0] == 200
    except OSError:
        return False


def _blocked(instance: DagsterInstance, run_id: str) -> bool:
    """The run waits on the pool: held in the queue, or its step pending a slot."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return False
    pending = instance.event_log_storage.get_concurrency_info(POOL).pending_steps
    return run.status == DagsterRunStatus.QUEUED or any(p.run_id == run_id for p in pending)


# The install, three processes starting, ten runs: minutes, not the suite default of 300 s.
@pytest.mark.timeout(600)
def test_production_install_runs_the_deployed_topology_end_to_end(
    deployment, simulator, sim_data, postgres_server, tmp_path
):
    topology, instance, config, budget_db, install_seconds = deployment
    logs = topology.logs
    started = time.monotonic()

    def lap(what: str) -> None:
        print(f"[topology] {what}: {time.monotonic() - started:.1f} s")

    lap(f"production install took {install_seconds:.1f} s; start")
    # The image's environment: the product and its locked dependencies, no dev tooling.
    probe = subprocess.run(
        [str(topology.venv / "bin" / "python"), "-c", "import analytics_dev"],
        cwd=topology.root,
        capture_output=True,
        text=True,
        env=topology.env,
    )
    assert probe.returncode != 0 and "No module named 'analytics_dev'" in probe.stderr
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config["run_monitoring"]["enabled"]

    # The code server answers the health check; webserver and daemon read the grpc workspace.
    topology.start_code_server()
    assert topology.health_check().returncode == 0
    workspace = write_workspace(topology.root / "workspace.yaml", topology.grpc_port)
    assert "grpc_server" in workspace["load_from"][0]
    topology.start_webserver_and_daemon(topology.root / "workspace.yaml")
    client = DagsterGraphQLClient("127.0.0.1", port_number=topology.web_port)
    lap("processes up")

    # The sensor's first tick registers every workflow and requests their loads; those runs
    # and ours wait in the QueuedRunCoordinator's queue until the daemon starts them. On
    # DuckDB the pool lets one of their steps write at a time.
    workspace_run = _launch(client, "workspace_job")
    sensor_filter = RunsFilter(tags={SENSOR_TAG: "workflow_refresh_sensor"})
    loads = wait_for(
        lambda: [r for r in instance.get_runs(sensor_filter) if r.job_name == PARTITION_JOB],
        RUN_TIMEOUT,
        "the sensor's loads",
        logs,
    )
    sensor_ids = {r.run_id for r in instance.get_runs(sensor_filter)}
    run_ids = [workspace_run, *sorted(sensor_ids)]
    spans, most = _wait_all(topology, instance, run_ids)
    assert {r.run_id for r in instance.get_runs(sensor_filter)} == sensor_ids  # one tick
    for run_id in run_ids:
        assert instance.all_logs(run_id, of_type=DagsterEventType.RUN_ENQUEUED), run_id
    assert sorted(instance.get_dynamic_partitions("workflow_uids")) == sorted(
        w["uid"] for w in sim_data.workflows
    )
    pairs = [(a, b) for i, a in enumerate(spans) for b in spans[i + 1 :]]
    assert most == 1 and not any(overlaps(a, b) for a, b in pairs), (spans, most)
    lap(f"{len(run_ids)} runs ({len(loads)} sensor loads) done, one writer at a time")

    # A run's worker dies mid-step holding the slot: the code server fails the run, run
    # monitoring frees its slot, and the run waiting for the slot proceeds.
    doomed, next_uid, *_ = _loaded_partitions(sim_data)
    path = f"/v3/workflows/{doomed}/jobs"
    simulator.add_fault(FaultRule(f"^{path}$", kind="slow", delay=30))
    killed = _launch(client, PARTITION_JOB, doomed)
    # In its first step (which holds the pool slot), before the slow answer ends it.
    wait_for(lambda: first_step_start(instance, killed), RUN_TIMEOUT, "its first step", logs)
    waiting = _launch(client, PARTITION_JOB, next_uid)
    wait_for(lambda: _blocked(instance, waiting), RUN_TIMEOUT, "the next run to wait", logs)
    pid = run_worker_pid(instance, killed)
    assert pid is not None, [(e.dagster_event_type, e.message) for e in instance.all_logs(killed)]
    sigkill_tree(pid)
    assert _finish(topology, instance, killed) == [DagsterRunStatus.FAILURE]
    assert _finish(topology, instance, waiting) == [DagsterRunStatus.SUCCESS]
    killed_record = instance.get_run_record_by_id(killed)
    assert killed_record is not None and killed_record.end_time is not None
    waiting_start = first_step_start(instance, waiting)
    assert waiting_start is not None and waiting_start >= killed_record.end_time
    messages = [e.message for e in instance.all_logs(killed)]
    assert any("signal 9 (SIGKILL)" in (m or "") for m in messages)
    wait_for(lambda: claimed_slots(instance) == 0, 30, "every slot freed", logs)
    lap("a killed run failed and freed its slot")

    # The receiver from the production install records a webhook in the Postgres instance;
    # the daemon's workflow_webhook_sensor turns it into a run of that workflow.
    _pushed_load(topology, instance, sim_data, next_uid, logs)
    lap("a webhook became a run through the daemon")

    # A new code server (a Postgres warehouse), reloaded; there several writers load at once.
    # More and slower requests per load: two runs' steps last seconds, so they share time.
    simulator.page_size, simulator.latency_seconds = 20, 0.2
    with postgres_server.database() as warehouse_db:
        topology.stop("code_server")
        topology.start_code_server(
            {
                "ANALYTICS_DESTINATION": "postgres",
                "DESTINATION__POSTGRES__CREDENTIALS": postgres_server.dsn(warehouse_db),
                "ANALYTICS_DLT_PIPELINES_DIR": str(tmp_path / "pg_pipelines"),
            }
        )
        reload = client.reload_repository_location(LOCATION)
        assert reload.status == ReloadRepositoryLocationStatus.SUCCESS, reload.message
        lap("code server replaced and reloaded")
        topology.graphql(
            "mutation($k: String!, $n: Int!) "
            "{ setConcurrencyLimit(concurrencyKey: $k, limit: $n) }",
            {"k": POOL, "n": 4},
        )
        uids = _loaded_partitions(sim_data)[:2]
        runs = [_launch(client, PARTITION_JOB, uid) for uid in uids]
        (spans_c, spans_d), most_pg = _wait_all(topology, instance, runs)
        lap(f"postgres warehouse: at most {most_pg} slots claimed at once")
        assert overlaps(spans_c, spans_d) or most_pg >= 2, (spans_c, spans_d, most_pg)
        conn = postgres_server.connect(warehouse_db)
        with conn.cursor() as cur:
            cur.execute("SELECT count(DISTINCT workflow_uid) FROM analytics.jobs")
            assert cur.fetchone() == (2,)
        conn.close()

    # One rate budget for the key, in Postgres, shared by the code server's sensor tick and
    # every run worker: the plan was never exceeded, though runs fetched at the same time.
    api = [r.started for r in simulator.requests if r.path.startswith("/v3/")]
    lap(f"{len(api)} API requests, at most {max_in_window(api, 1.0)} in any second")
    assert simulator.stats()["rate_limited"] == 0
    assert max_in_window(api, 1.0) <= RATE + 1
    conn = postgres_server.connect(budget_db)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", ("public",)
        )
        tables = sorted(name for (name,) in cur.fetchall())
    conn.close()
    bucket = f"analytics_budget_{key_id(API_KEY, simulator.base_url)}"
    # The learned state and one pyrate-limiter bucket (its table name prefixed by the library).
    assert STATE_TABLE in tables and len(tables) == 2, tables
    assert [t for t in tables if t != STATE_TABLE][0].endswith(bucket), tables
    assert not (tmp_path / "warehouse" / "analytics_rate_budget.sqlite").exists()
