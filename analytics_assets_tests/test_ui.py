"""The Dagster UI in a real browser: `dagster dev` against the simulator, driven by Chromium.

Skipped when Chromium is missing, unless ANALYTICS_REQUIRE_BROWSER=1 (CI), where it fails.
Screenshots of every step land in test-artifacts/ui/, with dagster dev's log beside them.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus

from analytics_assets_tests.support import (
    API_KEY,
    ROOT,
    count,
    load_everything,
    make_defs,
    resource_for,
    run_partition_range,
    seed_job,
)

pytestmark = pytest.mark.browser

BIN = Path(sys.executable).parent
ARTIFACTS = ROOT / "test-artifacts" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ASSETS = ["workspace", "workflows", "jobs", "successful_jobs", "job_results"]
TIMEOUT_MS = 120_000  # the machine is shared: a run's process alone can take 10 s to start


def _browser_missing_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (make install)"
    return None


@pytest.fixture(scope="module", autouse=True)
def require_browser() -> None:
    reason = _browser_missing_reason()
    if reason and os.environ.get("ANALYTICS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"ANALYTICS_REQUIRE_BROWSER=1 but {reason}")
    if reason:
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_signals() -> None:
    # A background shell may start us with SIGINT ignored; dagster dev stops cleanly on SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class DagsterDev:
    """`dagster dev` (webserver and daemon) from the repo root, its output in a log file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("w")
        cmd = [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(self.port)]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_default_signals,
        )

    def wait_until_serving(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"dagster dev exited {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/server_info", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)  # polls until the webserver answers
        raise AssertionError(f"dagster dev did not serve within {timeout} s:\n{self.log()}")

    def log(self, tail: int = 12_000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-tail:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: only its children
                self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture
def ui_env(cli_env) -> dict[str, str]:
    env = {**cli_env, "NO_COLOR": "1"}
    # The sensor runs by default and would register the partitions and launch runs itself;
    # stop it first so that everything this test sees comes from its own clicks.
    done = subprocess.run(
        [str(BIN / "dagster"), "sensor", "stop", "workflow_refresh_sensor"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return env


@pytest.fixture(scope="module", autouse=True)
def artifacts() -> None:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # no stale screenshot from an earlier run
    ARTIFACTS.mkdir(parents=True)


@pytest.fixture
def dagster_dev(ui_env, tmp_path, request) -> Iterator[DagsterDev]:
    dev = DagsterDev(ui_env, tmp_path / "dagster_dev.log")
    try:
        dev.wait_until_serving()
        yield dev
    finally:
        dev.stop()
        shutil.copy(dev.log_path, ARTIFACTS / f"dagster_dev-{request.node.name[:60]}.log")


@pytest.fixture
def page(dagster_dev):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        # A fresh instance greets the first visit with a newsletter dialog over everything.
        page.add_locator_handler(
            page.get_by_text("Join the Dagster community"),
            lambda: page.get_by_role("button", name="Skip").click(),
        )
        try:
            yield page
        finally:
            browser.close()


def shot(page, name: str) -> None:
    """Save a screenshot; the page it shows must not hold the API key either."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert API_KEY not in page.content()


def wait_for_run_success(page, url: str) -> str:
    """Read the run id off the launch toast, open the run from the Runs list, await its status."""
    toast = page.get_by_text(re.compile(r"^Launched run [0-9a-f]{8}$"))
    short_id = toast.inner_text().split()[-1]
    page.goto(f"{url}/runs")
    page.locator(f"a[href^='/runs/{short_id}']").first.click()
    page.wait_for_url(re.compile(rf"/runs/{short_id}"))
    status = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first
    status.wait_for()
    assert status.inner_text() == "Success"
    return short_id


# Two runs, each in a fresh process, plus dagster dev's start: minutes on a busy 2-core machine.
@pytest.mark.timeout(600)
def test_ui_shows_the_assets_and_launches_workflows_then_one_partition(
    dagster_dev, page, ui_env, sim_data, duckdb_path
):
    uid = next(w["uid"] for w in sim_data.workflows if sim_data.successful_jobs(w["uid"]))
    try:
        # 1. The asset graph: the five assets.
        page.goto(f"{dagster_dev.url}/asset-groups")
        for name in ASSETS:
            page.get_by_text(name, exact=True).first.wait_for()
        shot(page, "01_asset_graph")

        # 2. The check on successful_jobs.
        page.goto(f"{dagster_dev.url}/assets/successful_jobs?view=checks")
        page.get_by_text("successful_jobs_filter").first.wait_for()
        page.get_by_text("blocking", exact=True).wait_for()
        shot(page, "02_check")

        # 3. Materialize workflows from its asset page; the run succeeds.
        page.goto(f"{dagster_dev.url}/assets/workflows")
        page.locator("button").filter(has_text=re.compile(r"^Materialize$")).click()
        wait_for_run_success(page, dagster_dev.url)
        shot(page, "03_workflows_run_success")

        # 4. Materializing workflows registered one partition per workflow.
        page.goto(f"{dagster_dev.url}/assets/jobs?view=partitions")
        page.get_by_text(f"Missing ({len(sim_data.workflows)})").wait_for()
        for workflow in sim_data.workflows:
            # Long keys are middle-truncated on screen; the full key is in the DOM.
            page.get_by_text(workflow["uid"], exact=True).first.wait_for(state="attached")
        shot(page, "04_partitions")

        # 5. One partition of the per-workflow assets, through the partition dialog.
        page.goto(f"{dagster_dev.url}/locations/analytics_assets/jobs/workflow_partition_job")
        page.locator("button").filter(has_text=re.compile(r"^Materialize all")).click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("Launch runs to materialize 3 assets").wait_for()
        dialog.get_by_text("Select a partition or create one").click()
        page.get_by_placeholder("Filter partitions").fill(uid)
        page.locator("span", has_text=uid).first.click()
        page.keyboard.press("Escape")
        dialog.get_by_text("1 partition", exact=True).wait_for()
        shot(page, "05_partition_dialog")
        dialog.get_by_role("button", name="Launch 1 run", exact=True).click()
        wait_for_run_success(page, dagster_dev.url)
        shot(page, "06_partition_run_success")

        # 6. The check's result as the UI shows it.
        page.goto(f"{dagster_dev.url}/assets/successful_jobs?view=checks")
        page.get_by_text("Passed", exact=True).wait_for()
        page.get_by_text(uid, exact=True).first.wait_for()
        shot(page, "07_check_passed")

        # 7. The attention check on jobs, evaluated with that load, non-blocking.
        page.goto(f"{dagster_dev.url}/assets/jobs?view=checks")
        page.get_by_text("failed_jobs", exact=True).first.wait_for()
        page.get_by_text(uid, exact=True).first.wait_for()
        shot(page, "07b_failed_jobs_check")
    except Exception:
        print(f"--- dagster dev log (tail) ---\n{dagster_dev.log()}")
        raise

    # What the clicks did, read from the instance and the warehouse.
    with DagsterInstance.from_config(ui_env["DAGSTER_HOME"]) as instance:
        runs = list(reversed(instance.get_runs()))  # newest first: oldest first
        assert [r.status for r in runs] == [DagsterRunStatus.SUCCESS] * 2
        assert [r.tags.get("dagster/partition") for r in runs] == [None, uid]
        assert sorted(instance.get_dynamic_partitions("workflow_uids")) == sorted(
            w["uid"] for w in sim_data.workflows
        )
        checks = [
            data.passed
            for record in instance.all_logs(
                runs[1].run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
            )
            if (data := record.get_dagster_event().asset_check_evaluation_data).check_name
            == "successful_jobs_filter"
        ]
        assert checks == [True]
        assert instance.get_latest_materialization_event(AssetKey("workspace")) is None
    successful = sim_data.successful_jobs(uid)
    assert count(duckdb_path, "workflows") == len(sim_data.workflows)
    assert count(duckdb_path, "jobs") == len(sim_data.jobs[uid])
    assert count(duckdb_path, "successful_jobs") == len(successful)
    assert count(duckdb_path, "job_results") == sum(
        len(sim_data.results[j["uid"]]) for j in successful
    )
    assert API_KEY not in dagster_dev.log(tail=10_000_000)


def _check_partitions_tab(page, url: str) -> None:
    page.goto(f"{url}/assets/successful_jobs?view=checks")
    page.get_by_text("successful_jobs_filter").first.wait_for()
    page.get_by_text("Partitions", exact=True).last.click()


# dagster dev's start plus three in-process range runs: minutes on a busy 2-core machine.
@pytest.mark.timeout(600)
def test_ui_after_range_runs_shows_the_check_per_partition_and_columns_after_no_change(
    dagster_dev, page, ui_env, simulator, sim_data, duckdb_path
):
    """What `make demo`, a sensor batch or a backfill leave in the UI: every partition the run
    covered checked, the columns still there after a refresh that loaded nothing, and a bad
    partition failed on its own."""
    defs = make_defs(resource_for(simulator.base_url, duckdb_path))
    partitions = len(sim_data.workflows)
    with DagsterInstance.from_config(ui_env["DAGSTER_HOME"]) as instance:
        uids = load_everything(defs, instance)
        # The steady state of every sensor refresh: nothing new to merge or fetch.
        assert run_partition_range(defs, instance, uids[0], uids[-1]).success
    try:
        page.goto(f"{dagster_dev.url}/asset-groups")
        check_status = page.locator("a[href='/assets/successful_jobs?view=checks']")
        check_status.filter(has_text="1 / 1 Passed").wait_for()
        shot(page, "11_graph_check_passed_after_range_runs")

        _check_partitions_tab(page, dagster_dev.url)
        page.get_by_text(f"Passed ({partitions})", exact=True).wait_for()
        page.get_by_text("Failed (0)", exact=True).wait_for()
        page.get_by_text("Missing (0)", exact=True).wait_for()
        shot(page, "12_check_passed_on_every_partition")

        for table in ("jobs", "job_results"):
            page.goto(f"{dagster_dev.url}/assets/{table}")
            page.get_by_text("Columns", exact=True).wait_for()
            page.get_by_text("workflow_uid", exact=True).first.wait_for()
            assert page.get_by_text("No table schema columns").count() == 0
            shot(page, f"13_{table}_columns_after_no_change_refresh")

        bad = next(w["uid"] for w in sim_data.workflows if sim_data.successful_jobs(w["uid"]))
        seed_job(duckdb_path, "successful_jobs", "bad", bad, "warning", 2)
        with DagsterInstance.from_config(ui_env["DAGSTER_HOME"]) as instance:
            run_partition_range(defs, instance, uids[0], uids[-1], raise_on_error=False)
        _check_partitions_tab(page, dagster_dev.url)
        page.get_by_text("Failed (1)", exact=True).wait_for()
        page.get_by_text(f"Passed ({partitions - 1})", exact=True).wait_for()
        shot(page, "14_check_failed_on_the_bad_partition_only")
        page.goto(f"{dagster_dev.url}/asset-groups")
        check_status.filter(has_text="0 / 1 Passed").wait_for()
        shot(page, "15_graph_check_failed_after_the_range_run")
    except Exception:
        print(f"--- dagster dev log (tail) ---\n{dagster_dev.log()}")
        raise
