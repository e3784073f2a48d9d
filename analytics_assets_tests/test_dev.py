"""`make dev` (`python -m analytics_dev.demo --serve`): which API it serves, what it prints, and
that a signal stops it with no process left behind, however it was started."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from analytics_assets_tests.support import ROOT, http, make_home, subprocess_env
from analytics_assets_tests.topology_support import free_port, wait_for
from analytics_dev.dev import DEMO_KEY, ConfiguredApi, DevRefused, configured_api, serve

WARNINGS = ("SupersessionWarning", "does not match the virtual environment")


@pytest.fixture
def environ() -> Iterator[None]:
    """This process's environment without the caller's settings, restored afterwards
    (`configured_api` applies `.env` to it, as Dagster does)."""
    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith("ANALYTICS_")]:
        del os.environ[name]
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_the_env_example_copied_as_is_is_refused_naming_the_key(tmp_path, environ):
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")  # the README's old trap
    with pytest.raises(DevRefused) as refused:
        serve(free_port(), 2, root=tmp_path)  # refuses before starting anything
    message = str(refused.value)
    assert "ANALYTICS_API_KEY is not set" in message
    assert ".env names an API" in message
    assert "move .env away to serve the bundled simulator" in message


def test_a_filled_env_is_the_api_served_and_no_simulator(tmp_path, environ, simulator):
    (tmp_path / ".env").write_text(
        f"ANALYTICS_API_BASE_URL={simulator.base_url}\nANALYTICS_API_KEY=from-dot-env\n"
    )
    os.environ["ANALYTICS_API_BASE_URL"] = "http://127.0.0.1:9"  # .env wins, as in Dagster
    assert configured_api(tmp_path) == ConfiguredApi(simulator.base_url, ".env")


def test_an_env_naming_no_api_leaves_the_simulator_and_applies_its_other_settings(
    tmp_path, environ
):
    (tmp_path / ".env").write_text(f"ANALYTICS_DUCKDB_PATH={tmp_path / 'w.duckdb'}\n")
    assert configured_api(tmp_path) is None
    assert os.environ["ANALYTICS_DUCKDB_PATH"] == str(tmp_path / "w.duckdb")


def test_an_environment_base_url_without_a_key_is_refused_naming_the_environment(tmp_path, environ):
    os.environ["ANALYTICS_API_BASE_URL"] = "https://api.example.com"
    with pytest.raises(DevRefused) as refused:
        configured_api(tmp_path)
    assert "ANALYTICS_API_BASE_URL is set in the environment" in str(refused.value)
    assert "ANALYTICS_API_KEY is not set" in str(refused.value)


def test_a_port_in_use_is_refused_naming_it(tmp_path, environ):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(DevRefused, match=f"port {port} is in use"):
            serve(port, 2, root=tmp_path)


def _ignore_stop_signals() -> None:
    # What a non-interactive shell's `make dev &` or `nohup` hands down to the process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _alive(procs: list[psutil.Process]) -> list[str]:
    left = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{proc.pid} {' '.join(proc.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            pass
    return left


def _start_dev(tmp_path: Path, env: dict[str, str], port: int, **popen) -> subprocess.Popen:
    log = tmp_path / "dev.log"
    cmd = [sys.executable, "-m", "analytics_dev.demo", "--serve", "--port", str(port)]
    with log.open("w") as out:
        return subprocess.Popen(
            [*cmd, "--workflows", "2"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            **popen,
        )


def _stop_dev(dev: subprocess.Popen, stop: int, log: Path) -> None:
    """Send `stop` once the UI answers; it must exit 0 leaving none of its processes alive."""
    try:
        descendants = psutil.Process(dev.pid).children(recursive=True)
        dev.send_signal(stop)
        assert dev.wait(timeout=120) == 0, log.read_text()[-3000:]
        assert _alive(descendants) == [], log.read_text()[-3000:]
        # Dagster shut down on its own: the supervisor's kill is a backstop, not the way out.
        assert "Dagster services shut down." in log.read_text()
        assert "did not stop" not in log.read_text()
        assert [w for w in WARNINGS if w in log.read_text()] == [], log.read_text()[-3000:]
    finally:
        if dev.poll() is None:  # the test failed: leave nothing behind either
            for proc in [psutil.Process(dev.pid), *psutil.Process(dev.pid).children(True)]:
                proc.kill()
            dev.wait()


def _wait_ready(log: Path, port: int) -> str:
    ready = f"the UI is ready at http://127.0.0.1:{port}"
    wait_for(lambda: ready in log.read_text(), 180, "the webserver to answer", [log])
    return log.read_text()


def _command_lines(pid: int) -> str:
    return " ".join(" ".join(p.cmdline()) for p in psutil.Process(pid).children(recursive=True))


@pytest.mark.subprocess
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_make_dev_in_the_background_stops_on_a_signal_leaving_no_process(tmp_path, stop):
    assert not (ROOT / ".env").exists(), "move the repo's .env away: make dev would serve its API"
    port, log = free_port(), tmp_path / "dev.log"
    env = subprocess_env(
        make_home(tmp_path), ANALYTICS_DUCKDB_PATH=str(tmp_path / "w.duckdb"), NO_COLOR="1"
    )
    # No TTY, its own session, SIGINT and SIGTERM inherited as ignored: the hardest start.
    dev = _start_dev(tmp_path, env, port, start_new_session=True, preexec_fn=_ignore_stop_signals)
    try:
        printed = _wait_ready(log, port)
        names = _command_lines(dev.pid)
        assert "analytics_dev.simulator" in names and "dagster_webserver" in names, names
        assert "dagster._daemon" in names and "code-server" in names, names
        _assert_exports_reach_the_simulator(printed)
    finally:
        _stop_dev(dev, stop, log)


@pytest.mark.subprocess
def test_make_dev_with_an_api_in_the_environment_says_so_starts_no_simulator_and_uses_it(
    tmp_path, simulator, sim_data
):
    assert not (ROOT / ".env").exists(), "move the repo's .env away: make dev would serve its API"
    port, log = free_port(), tmp_path / "dev.log"
    env = subprocess_env(
        make_home(tmp_path),
        ANALYTICS_API_BASE_URL=simulator.base_url,
        ANALYTICS_API_KEY=simulator.api_key,
        ANALYTICS_DUCKDB_PATH=str(tmp_path / "w.duckdb"),
        NO_COLOR="1",
    )
    dev = _start_dev(tmp_path, env, port)
    try:
        printed = _wait_ready(log, port)
        said = f"using the API at {simulator.base_url} (from the environment); no simulator."
        assert said in printed
        assert "analytics_dev.simulator" not in _command_lines(dev.pid)
        # The sensor's first tick lists the workflows of the API it said it uses.
        wait_for(
            lambda: simulator.request_count("/v3/workflows") > 0,
            120,
            "the sensor to call the configured API",
            [log],
        )
    finally:
        _stop_dev(dev, signal.SIGTERM, log)
    assert simulator.api_key not in log.read_text()


def _assert_exports_reach_the_simulator(printed: str) -> None:
    """The printed `export` lines name the running simulator, its key and the instance."""
    exports = dict(re.findall(r"^  export (\w+)=(\S+)$", printed, re.MULTILINE))
    assert set(exports) == {
        "ANALYTICS_API_BASE_URL",
        "ANALYTICS_API_KEY",
        "ANALYTICS_DUCKDB_PATH",
        "DAGSTER_HOME",
    }, printed
    assert exports["ANALYTICS_API_KEY"] == DEMO_KEY
    status, _, body = http(f"{exports['ANALYTICS_API_BASE_URL']}/v3/workspace", key=DEMO_KEY)
    assert status == 200, body
    assert Path(exports["DAGSTER_HOME"], "dagster.yaml").is_file()
