"""Faults through the `dagster asset materialize` CLI: a rejected key fails its run naming the
variable and the key shows nowhere; bad configuration fails every run fast."""

from __future__ import annotations

import socket
import time

import pytest

from analytics_assets_tests.support import (
    API_KEY,
    PARTITION_SELECTION,
    assert_partition_exact,
    finish,
    make_home,
    materialize,
    subprocess_env,
)
from analytics_dev.simulator import FaultRule

pytestmark = pytest.mark.subprocess

# wf0: 5 jobs, 3 successful (109, 87, 202 rows); wf1: 4 jobs, 2 successful; wf2: no jobs.
SIM_WORKFLOWS = 3


def test_api_key_appears_in_no_output_event_log_warehouse_or_dlt_file(
    simulator, sim_data, duckdb_path, tmp_path
):
    home = make_home(tmp_path)
    env = subprocess_env(
        home,
        ANALYTICS_DUCKDB_PATH=str(duckdb_path),
        ANALYTICS_API_BASE_URL=simulator.base_url,
        ANALYTICS_API_KEY=API_KEY,
        ANALYTICS_API_BACKOFF_FACTOR="0.01",
    )
    outputs = []
    code, output = finish(materialize(env, "workspace,workflows"))
    outputs.append(output)
    assert code == 0, output[-3000:]
    # One workflow with jobs and results, and the one the API rejects the key for: each run
    # of the README's recipe is a CLI process (seconds each); wf1 would add a third alike.
    uids = [sim_data.workflows[0]["uid"], sim_data.workflows[-1]["uid"]]
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
            warehouse = tmp_path / name.replace(" ", "_") / "w.duckdb"
            env = subprocess_env(home, ANALYTICS_DUCKDB_PATH=str(warehouse), **cases[name][0])
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
