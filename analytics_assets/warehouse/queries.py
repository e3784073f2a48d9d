"""What runs and the check ask of the warehouse: the jobs it holds, checked and loaded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from analytics_assets import constants as c
from analytics_assets.api.job_rows import ROW_ID, SUCCESSFUL_SQL, JobRef, StoredJobs
from analytics_assets.warehouse.reader import WarehouseReader, in_clause


def results_plan(
    warehouse: WarehouseReader, workflow_uids: list[str]
) -> tuple[list[JobRef], set[str]]:
    """The successful jobs of these workflows (as checked in the warehouse), as
    (job uid, workflow uid, total row count), and the uids of those whose results are loaded.

    A finished job's results never change, and dlt merges a load into `job_results` in one
    transaction, so a job uid present there means all of its rows are there.
    """
    successful = warehouse.table(c.SUCCESSFUL_JOBS)
    if successful is None:
        return [], set()
    where = in_clause(workflow_uids)
    sql = (
        f"SELECT uid, workflow_uid, total_row_count FROM {successful} WHERE {where} "
        "ORDER BY workflow_uid, uid"
    )
    jobs: list[JobRef] = [(row[0], row[1], row[2]) for row in warehouse.rows(sql, *workflow_uids)]
    return jobs, loaded_result_jobs(warehouse, workflow_uids)


def loaded_result_jobs(warehouse: WarehouseReader, workflow_uids: list[str]) -> set[str]:
    """The uids of these workflows' jobs whose results `job_results` holds (all of them: see
    `results_plan`)."""
    results = warehouse.table(c.JOB_RESULTS)
    if results is None:
        return set()
    sql = f"SELECT DISTINCT job_uid FROM {results} WHERE {in_clause(workflow_uids)}"
    return {row[0] for row in warehouse.rows(sql, *workflow_uids)}


def stored_jobs(warehouse: WarehouseReader, workflow_uids: list[str]) -> StoredJobs:
    """The versions of these workflows' jobs that `jobs` and `successful_jobs` hold."""
    tables: dict[str, dict[str, tuple[Any, Any]]] = {}
    for table in (c.JOBS, c.SUCCESSFUL_JOBS):
        qualified = warehouse.table(table)
        if qualified is None:
            continue
        sql = (
            f"SELECT {ROW_ID}, status, total_row_count FROM {qualified} "
            f"WHERE {in_clause(workflow_uids)}"
        )
        tables[table] = {row[0]: (row[1], row[2]) for row in warehouse.rows(sql, *workflow_uids)}
    return StoredJobs(tables.get(c.JOBS), tables.get(c.SUCCESSFUL_JOBS))


def violating_jobs(warehouse: WarehouseReader, partitions: list[str]) -> list[tuple[str, str]]:
    """Rows of `successful_jobs` that fail the filter, as (workflow uid, job uid)."""
    table = warehouse.table(c.SUCCESSFUL_JOBS)
    if not partitions or table is None:
        return []
    sql = (
        f"SELECT workflow_uid, uid FROM {table} WHERE {in_clause(partitions)} "
        f"AND NOT {SUCCESSFUL_SQL} ORDER BY workflow_uid, uid"
    )
    return [(row[0], row[1]) for row in warehouse.rows(sql, *partitions)]


def missing_jobs(warehouse: WarehouseReader, partitions: list[str]) -> list[tuple[str, str]]:
    """Jobs in `jobs` that pass the filter but are not in `successful_jobs`, as (workflow uid,
    job uid)."""
    jobs = warehouse.table(c.JOBS)
    if not partitions or jobs is None:
        return []
    successful = warehouse.table(c.SUCCESSFUL_JOBS)
    sql = f"SELECT workflow_uid, uid FROM {jobs} WHERE {in_clause(partitions)} AND {SUCCESSFUL_SQL}"
    if successful is not None:
        sql += f" AND uid NOT IN (SELECT uid FROM {successful})"
    rows = warehouse.rows(sql + " ORDER BY workflow_uid, uid", *partitions)
    return [(row[0], row[1]) for row in rows]


def workflow_names(warehouse: WarehouseReader, workflow_uids: list[str]) -> dict[str, str]:
    """The name of each of these workflows that `workflows` holds (a partition key is a bare
    uid; its name is what a user looks for)."""
    table = warehouse.table(c.WORKFLOWS)
    if not workflow_uids or table is None:
        return {}
    sql = f"SELECT uid, name FROM {table} WHERE {in_clause(workflow_uids, 'uid')}"
    return {row[0]: row[1] for row in warehouse.rows(sql, *workflow_uids) if row[1]}


@dataclass(frozen=True)
class LatestJob:
    """The most recent job of a workflow, as the warehouse holds it."""

    uid: str
    status: str | None
    error_message: str | None
    time: str | None  # ISO: its scheduled time, else its start time


def latest_jobs(warehouse: WarehouseReader, workflow_uids: list[str]) -> dict[str, LatestJob]:
    """Per workflow, its job with the latest scheduled_time (else start_time)."""
    jobs = warehouse.table(c.JOBS)
    if jobs is None or not workflow_uids:
        return {}
    columns = warehouse.columns(c.JOBS)
    # dlt creates a column with its first non-null value: a table may lack any of these.
    times = [name for name in ("scheduled_time", "start_time") if name in columns]
    when = f"coalesce({', '.join(times)}, NULL)" if times else "NULL"
    error = "error_message" if "error_message" in columns else "NULL"
    sql = (
        "SELECT workflow_uid, uid, status, error_message, latest_at FROM ("
        f"SELECT workflow_uid, uid, status, {error} AS error_message, {when} AS latest_at, "
        f"ROW_NUMBER() OVER (PARTITION BY workflow_uid ORDER BY {when} DESC NULLS LAST, "
        f"uid DESC) AS job_rank FROM {jobs} WHERE {in_clause(workflow_uids)}"
        ") AS ranked WHERE job_rank = 1"
    )
    return {
        row[0]: LatestJob(row[1], row[2], row[3], _iso(row[4]))
        for row in warehouse.rows(sql, *workflow_uids)
    }


def partitions_filling(
    warehouse: WarehouseReader, workflow_uids: list[str], columns: list[str]
) -> set[str]:
    """The workflows whose job_results rows hold a value in any of `columns`."""
    table = warehouse.table(c.JOB_RESULTS)
    if table is None or not columns or not workflow_uids:
        return set()
    filled = " OR ".join(f"{warehouse.quoted(name)} IS NOT NULL" for name in columns)
    sql = (
        f"SELECT DISTINCT workflow_uid FROM {table} WHERE {in_clause(workflow_uids)} AND ({filled})"
    )
    return {row[0] for row in warehouse.rows(sql, *workflow_uids)}


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):  # DuckDB answers in the session's time zone
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat()
    return str(value)
