"""`python -m analytics_dev.benchmark.sensor_daemon` at a tiny size: the same code path,
`dagster dev` with the daemon against one single-run backfill, end to end.

The timings are the benchmark's business; what a test can hold it to is that both sides load
every partition with the same rows, that the daemon launched the few runs the sensor's
batching promises, and that nothing is left running.
"""

import duckdb
import psutil
import pytest

from analytics_dev.benchmark.sensor_daemon.bench import run
from analytics_dev.benchmark.sensor_daemon.config import TABLES, Config
from analytics_dev.benchmark.sensor_daemon.data import active_plan, simulated_data
from analytics_dev.benchmark.sensor_daemon.report import format_report

pytestmark = pytest.mark.benchmark

QUICK = Config(workflows=6, rate=20, latency_ms=10, interval=5, timeout=240)


def _counts(path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            t: con.execute(f"SELECT count(*) FROM analytics.{t}").fetchall()[0][0] for t in TABLES
        }


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _processes_under(folder) -> list[str]:
    """Live processes whose working directory is inside `folder` (dagster dev, its webserver,
    daemon, code servers and run workers all start in the bench's side folder)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and proc.cwd().startswith(str(folder)):
                found.append(f"{proc.pid} {' '.join(proc.info['cmdline'] or [])[:100]}")
        except psutil.Error:
            continue
    return found


def test_active_plan_leaves_about_one_workflow_in_20_with_a_running_or_pending_job():
    cfg = Config(workflows=1000)
    data = simulated_data(cfg)
    mutations, share = active_plan(data, cfg)
    # The generator's mix (16% of jobs running or pending, 1-2 jobs each) is about 1 in 4.6.
    assert share["with_active_job_generated"] == 218
    assert share["with_active_job"] == 50
    jobs = data.jobs.values()
    assert sum(any(j["status"] in ("running", "pending") for j in js) for js in jobs) == 50
    assert all(m["status"] in ("finished", "shutdown", "stopped", "warning") for m in mutations)
    # Same arguments, same plan: both simulators of a bench serve the same data.
    assert active_plan(simulated_data(cfg), cfg)[0] == mutations


@pytest.mark.timeout(300)
def test_quick_bench_daemon_and_backfill_load_the_same_rows_in_few_runs(tmp_path):
    report = run(QUICK, tmp_path)
    print(format_report(report))
    daemon, backfill = report["sides"]["daemon"], report["sides"]["backfill"]
    assert daemon["ok"], daemon["error"]
    assert backfill["ok"], backfill["error"]

    # Every partition of job_results materialized, on both sides, and nothing in flight.
    for side in (daemon, backfill):
        assert side["progress"]["registered"] == QUICK.workflows
        assert side["progress"]["loaded"] == QUICK.workflows
        assert side["progress"]["in_flight"] == 0
        assert all(r["status"] == "SUCCESS" for r in side["runs"])

    # The same rows in both warehouses, read here after every process stopped.
    a = _counts(tmp_path / "daemon" / "warehouse" / "daemon.duckdb")
    b = _counts(tmp_path / "backfill" / "warehouse" / "backfill.duckdb")
    assert a == b
    data = report["data"]
    assert b == {
        "workspace": 1,
        "workflows": QUICK.workflows,
        "jobs": data["jobs"],
        "successful_jobs": data["successful_jobs"],
        "job_results": data["result_rows_served"],  # no duplicate ids at this seed and size
    }
    assert report["row_counts_equal"]

    # The sensor's first tick registers the 6 partitions and requests two runs: the
    # workspace job (the workflow list is new to it) and one range over all six new
    # partitions (contiguous, fewer than ANALYTICS_SENSOR_MAX_PARTITIONS_PER_RUN). Later
    # ticks find them in flight or unchanged: no third run.
    runs = [(r["job"], r["partition_positions"]) for r in daemon["runs"]]
    assert runs == [("workspace_job", None), ("workflow_partition_job", [0, 5])]
    assert daemon["ticks"]["ticks"] >= 1
    assert daemon["ticks"]["each"][0]["runs"] == 2
    # The CLI side: the workspace run and the one --partition-range run.
    assert [(r["job"], r["partition_positions"]) for r in backfill["runs"]] == [
        ("__ASSET_JOB", None),
        ("__ASSET_JOB", [0, 5]),
    ]

    # Requests: each side lists every workflow's jobs once in its runs and fetches each
    # successful job's one result page once; the sensor adds a workflow list per tick and
    # its checks of known workflows (jobs requests), never result pages.
    sims = daemon["simulator"], backfill["simulator"]
    assert all(s["results_requests"] == data["successful_jobs"] for s in sims)
    assert backfill["simulator"]["jobs_requests"] == QUICK.workflows
    assert backfill["simulator"]["workflows_requests"] == 1
    assert daemon["simulator"]["jobs_requests"] >= QUICK.workflows
    assert daemon["simulator"]["workflows_requests"] == 1 + daemon["ticks"]["ticks"]

    # dagster dev stopped on SIGINT by itself: nothing killed, nothing left.
    assert daemon["stop"]["exit_code"] == 0
    assert daemon["stop"]["killed"] == [] and daemon["stop"]["left_running"] == []
    assert not _alive(daemon["pid"])
    assert not any(_alive(s["simulator_pid"]) for s in (daemon, backfill))
    assert _processes_under(tmp_path) == []
