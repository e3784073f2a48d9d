"""The product against a real PostgreSQL server: warehouse (dlt destination) and Dagster instance.

The server is a throwaway cluster on loopback (`postgres.py`); each test gets fresh databases.
Credentials reach dlt the standard way, `DESTINATION__POSTGRES__CREDENTIALS`.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, Definitions

from analytics_assets.api.job_rows import is_successful
from analytics_assets.defs.declared import API_ASSETS
from analytics_assets_tests.fakes import FakeClock
from analytics_assets_tests.support import (
    API_KEY,
    ROOT,
    load_everything,
    make_defs,
    make_home,
    resource_for,
    run_partition,
    run_workspace,
)
from analytics_dev.postgres import PASSWORD, USER, PostgresServer, postgres_server

pytestmark = pytest.mark.subprocess

__all__ = ["postgres_server"]  # the fixture, imported so pytest finds it

TABLES = [asset.name for asset in API_ASSETS]
DLT_BOOKKEEPING = ("_dlt_load_id", "_dlt_id", "_dlt_parent_id", "_dlt_root_id")
SEED_COLUMNS = "(uid, workflow_uid, status, total_row_count, _dlt_load_id, _dlt_id)"


class Warehouse:
    """Reads and seeds one test database, outside dlt, as an analyst's client would."""

    def __init__(self, server: PostgresServer, database: str) -> None:
        self.server, self.database = server, database

    def rows(self, sql: str, *params) -> list[tuple]:
        conn = self.server.connect(self.database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params or None)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def count(self, table: str) -> int:
        return self.rows(f"SELECT count(*) FROM analytics.{table}")[0][0]

    def contents(self) -> dict[str, list[tuple]]:
        """Every data table (child tables included), all columns but dlt's load bookkeeping."""
        tables = self.rows(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'analytics' "
            "AND table_name NOT LIKE '\\_dlt%%' ORDER BY 1"
        )
        contents = {}
        for (table,) in tables:
            columns = [
                name
                for (name,) in self.rows(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'analytics' AND table_name = %s ORDER BY 1",
                    table,
                )
                if name not in DLT_BOOKKEEPING
            ]
            rows = self.rows(f"SELECT {', '.join(columns)} FROM analytics.{table}")
            contents[table] = sorted(rows, key=repr)
        return contents

    def seed(self, table: str, uid: str, workflow_uid: str, status, count) -> None:
        self.rows(
            f"INSERT INTO analytics.{table} {SEED_COLUMNS} VALUES (%s, %s, %s, %s, 'seed', %s)",
            uid,
            workflow_uid,
            status,
            count,
            f"seed-{uid}",
        )


# Three partitions (one without jobs) keep every run of these tests short; the seed's
# guarantees (null counts, duplicates, multi-page jobs) still hold.
SIM_WORKFLOWS = 3


@pytest.fixture
def warehouse(postgres_server: PostgresServer, monkeypatch) -> Iterator[Warehouse]:
    with postgres_server.database() as database:
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres_server.dsn(database))
        yield Warehouse(postgres_server, database)


@pytest.fixture
def pg_defs(simulator, warehouse, tmp_path) -> Definitions:
    """The product's definitions loading into Postgres (dlt's working folders in tmp_path)."""
    resource = resource_for(
        simulator.base_url,
        None,
        destination="postgres",
        pipelines_dir=str(tmp_path / "dlt_pipelines"),
    )
    return make_defs(resource, clock=FakeClock())


def _partition_with_successful_jobs(sim_data) -> str:
    return max(
        (w["uid"] for w in sim_data.workflows), key=lambda u: len(sim_data.successful_jobs(u))
    )


def test_full_load_into_postgres_lands_exact_rows_in_every_table(
    pg_defs, instance, simulator, sim_data, warehouse
):
    uids = load_everything(pg_defs, instance)
    jobs = sim_data.all_jobs()
    successful = [j for j in jobs if is_successful(j)]
    assert sorted(uids) == sorted(w["uid"] for w in sim_data.workflows)
    assert {t: warehouse.count(t) for t in TABLES} == {
        "workspace": 1,
        "workflows": len(sim_data.workflows),
        "jobs": len(jobs),
        "successful_jobs": len(successful),
        "job_results": sum(len(sim_data.results[j["uid"]]) for j in successful),
    }
    assert {r[0] for r in warehouse.rows("SELECT uid FROM analytics.successful_jobs")} == {
        j["uid"] for j in successful
    }
    per_job = dict(warehouse.rows("SELECT job_uid, count(*) FROM analytics.job_results GROUP BY 1"))
    assert per_job == {j["uid"]: len(sim_data.results[j["uid"]]) for j in successful}
    types = dict(
        warehouse.rows(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'analytics' AND table_name = 'job_results'"
        )
    )
    assert types["extracted_at"] == "timestamp with time zone"
    # Each pipeline stages its merge in its own schema, so concurrent loads never share a
    # staging table; the backfill's is dropped when it succeeds (batches leave no trail).
    staging_sql = (
        "SELECT count(*) FROM information_schema.schemata "
        "WHERE schema_name LIKE 'analytics_staging_%%'"
    )
    assert warehouse.rows(staging_sql) == [(0,)]
    uid = next(u for u in uids if sim_data.jobs[u])
    sim_data.add_job(uid, status="finished", total_row_count=3)  # so the partition run merges
    assert run_partition(pg_defs, instance, uid).success
    assert warehouse.rows(staging_sql) == [(1,)]
    # dlt shows the credentials masked; the password reaches no event of any run.
    runs = instance.get_runs()
    events = [repr(e) for run in runs for e in instance.all_logs(run.run_id)]
    assert len(runs) == 3  # the workspace run, the backfill run, the partition run
    assert [e for e in events if "PGSECRET" in e or API_KEY in e] == []


def test_check_passes_then_fails_on_a_row_seeded_in_postgres(
    pg_defs, instance, simulator, sim_data, warehouse
):
    assert run_workspace(pg_defs, instance).success
    uid = _partition_with_successful_jobs(sim_data)
    result = run_partition(pg_defs, instance, uid)
    (evaluation,) = result.get_asset_check_evaluations()
    assert result.success and evaluation.passed
    assert evaluation.metadata["violating_count"].value == 0
    warehouse.seed("successful_jobs", "bad-warning", uid, "warning", 3)
    warehouse.seed("successful_jobs", "bad-null-count", uid, "finished", None)
    warehouse.seed("jobs", "old-finished-job", uid, "finished", 7)
    simulator.reset_requests()
    result = run_partition(pg_defs, instance, uid, raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    assert not result.success and not evaluation.passed
    assert evaluation.metadata["violating_uids"].value == ["bad-null-count", "bad-warning"]
    assert evaluation.metadata["missing_uids"].value == ["old-finished-job"]
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {AssetKey("jobs"), AssetKey("successful_jobs")}
    assert simulator.request_count("/v3/jobs/") == 0  # the blocked job_results never ran


def test_rerun_into_postgres_makes_no_results_requests(
    pg_defs, instance, simulator, sim_data, warehouse
):
    assert run_workspace(pg_defs, instance).success
    uid = _partition_with_successful_jobs(sim_data)
    assert run_partition(pg_defs, instance, uid).success
    rows = warehouse.count("job_results")
    assert rows == sum(len(sim_data.results[j["uid"]]) for j in sim_data.successful_jobs(uid))
    simulator.reset_requests()
    assert run_partition(pg_defs, instance, uid).success
    assert simulator.request_count("/v3/jobs/") == 0
    assert simulator.request_count("/v3/workflows/") == 1
    assert warehouse.count("job_results") == rows


def test_reloading_everything_into_postgres_changes_nothing(
    pg_defs, instance, simulator, warehouse
):
    load_everything(pg_defs, instance)
    before = warehouse.contents()
    assert set(TABLES) <= set(before)
    load_everything(pg_defs, instance)
    assert warehouse.contents() == before


# ------------------------------------------------------------------ the deployment's instance
def _deploy_home(tmp_path: Path) -> Path:
    """DAGSTER_HOME with deploy/dagster.yaml; its storage and compute logs under tmp_path."""
    return make_home(tmp_path, config=ROOT / "deploy" / "dagster.yaml")


def test_deploy_instance_config_stores_runs_and_materializations_in_postgres(
    pg_defs, simulator, sim_data, warehouse, postgres_server, tmp_path, monkeypatch
):
    config = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    assert set(config["storage"]) == {"postgres"}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"]["pools"]["default_limit"] == 1
    with postgres_server.database() as dagster_db:
        monkeypatch.setenv("DAGSTER_PG_HOST", postgres_server.host)
        monkeypatch.setenv("DAGSTER_PG_PORT", str(postgres_server.port))
        monkeypatch.setenv("DAGSTER_PG_DB", dagster_db)
        monkeypatch.setenv("DAGSTER_PG_USERNAME", USER)
        monkeypatch.setenv("DAGSTER_PG_PASSWORD", PASSWORD)
        with DagsterInstance.from_config(str(_deploy_home(tmp_path))) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
            assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
            assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
            uid = _partition_with_successful_jobs(sim_data)
            assert run_workspace(pg_defs, instance).success
            assert run_partition(pg_defs, instance, uid).success
            runs = instance.get_runs()
            assert sorted(r.job_name for r in runs) == ["workflow_partition_job", "workspace_job"]
            assert {r.status for r in runs} == {DagsterRunStatus.SUCCESS}
            for table in TABLES:
                assert instance.get_latest_materialization_event(AssetKey(table)) is not None
            assert sorted(instance.get_dynamic_partitions("workflow_uids")) == sorted(
                w["uid"] for w in sim_data.workflows
            )
        # The records are in the Postgres database, not in files under DAGSTER_HOME.
        dagster = Warehouse(postgres_server, dagster_db)
        assert dagster.rows("SELECT count(*) FROM runs") == [(2,)]
        materialized = dagster.rows(
            "SELECT DISTINCT asset_key FROM event_logs WHERE dagster_event_type = %s",
            "ASSET_MATERIALIZATION",
        )
        keys = [AssetKey.from_db_string(k) for (k,) in materialized]
        assert None not in keys
        assert {key.path[-1] for key in keys if key is not None} == set(TABLES)
        leaks = dagster.rows(
            "SELECT count(*) FROM event_logs WHERE event LIKE %s OR event LIKE %s",
            "%PGSECRET%",
            f"%{API_KEY}%",
        )
        assert leaks == [(0,)]
