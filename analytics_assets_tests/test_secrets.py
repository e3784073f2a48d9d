"""No secret ever appears, whatever its content: bad values of every secret, on every path.

The secrets: the API key (`ANALYTICS_API_KEY`, the resource's `api_key`, dlt's `api_key`),
the rate budget's store (`ANALYTICS_API_RATE_LIMIT_STORE`: a Postgres URL holds a password)
and dlt's destination credentials (`DESTINATION__POSTGRES__CREDENTIALS`).

Each test drives one bad value down one path (settings, an in-process run, the `dagster` CLI,
a sensor tick, an asset check) and then searches everything the product wrote: the exception
(text, repr, traceback), stdout/stderr and log records, every event of every run in the
Dagster instance (serialized as stored, and its repr), and every file under the test's folder,
its name and its bytes (DAGSTER_HOME with its storage and compute logs, the DuckDB warehouse,
dlt's working folders, the working directory).

Every secret is built around random hex markers, split by the malformed part. A marker
never appears legitimately, and it survives any way of showing a string (raw, repr- or
JSON-escaped, URL-encoded): finding one anywhere is a leak, even of half a secret.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import traceback
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    build_sensor_context,
    define_asset_job,
    instance_for_test,
    materialize,
)
from dagster._serdes import serialize_value
from dagster_dlt import DagsterDltResource

from analytics_assets import constants as c
from analytics_assets.api.client import AnalyticsApiClient
from analytics_assets.api.redact import MASK, redacted
from analytics_assets.definitions import defs as shipped
from analytics_assets.defs.resources import AnalyticsApiResource
from analytics_assets.settings import AnalyticsConfigError, ApiSettings, env_name, resolve_settings
from analytics_assets_tests.support import ROOT
from analytics_dev.postgres import (
    PASSWORD,
    REQUIRE_ENV,
    USER,
    PostgresServer,
    postgres_server,
)
from analytics_dev.simulator import ApiSimulator, FaultRule, SimulatedData

__all__ = ["postgres_server"]  # the fixture, imported so pytest finds it
FILTER_CHECK = AssetCheckKey(AssetKey("successful_jobs"), "successful_jobs_filter")
WORKSPACE_ASSETS = shipped.get_assets_def("workspace")

DAGSTER = str(Path(sys.executable).parent / "dagster")
CLI_TIMEOUT_SECONDS = 120


def hexmark() -> str:
    return uuid.uuid4().hex


# The simulator's key: well-formed, right. Every test also checks that it never shows.
KEY_MARK = hexmark()
KEY = f"sk-LEAK-{KEY_MARK}"
# The throwaway server's real password (postgres.py) holds this word.
PG_MARK = "PGSECRET"


@dataclass(frozen=True)
class Secret:
    """A value to configure, and the markers none of whose occurrences may be anywhere."""

    value: str
    marks: tuple[str, ...]


def build(template: str, **fields: str) -> Secret:
    """`template` with {a} and {b} replaced by fresh hex markers (and any other field)."""
    a, b = hexmark(), hexmark()
    return Secret(template.format(a=a, b=b, **fields), (a, b))


# Malformed keys: each must be refused naming ANALYTICS_API_KEY, the value never shown.
MALFORMED_KEYS = {
    "newline-inside": "sk-LEAK-{a}\n{b}",
    "crlf-inside": "sk-LEAK-{a}\r\n{b}",
    "two-lines-and-a-final-newline": "sk-LEAK-{a}\n{b}\n",
    "tab-inside": "sk-LEAK-{a}\t{b}",
    "space-inside": "sk-LEAK-{a} {b}",
    "bell": "sk-LEAK-{a}\x07{b}",
    "ansi-escape-first": "\x1b[31msk-LEAK-{a}{b}",
    "delete": "sk-LEAK-{a}\x7f{b}",
    "e-acute": "sk-LEAK-{a}\u00e9{b}",
    "cyrillic": "\u043a\u043b\u044e\u0447-{a}-{b}",
    "nbsp-inside": "sk-LEAK-{a}\u00a0{b}",
    "zero-width-space-first": "\u200bsk-LEAK-{a}{b}",
    "line-separator-inside": "sk-LEAK-{a}\u2028{b}",
}
# An environment variable cannot hold NUL: these go through the in-process paths only.
MALFORMED_KEYS_IN_PROCESS = {**MALFORMED_KEYS, "nul-inside": "sk-LEAK-{a}\x00{b}"}
# Through the CLI (seconds each), the requirement's own cases.
MALFORMED_KEYS_CLI = ("newline-inside", "tab-inside", "space-inside", "bell", "e-acute")
# Surrounding whitespace (a mounted secret file's newline) is stripped: the run succeeds.
STRIPPED_KEYS = {
    "trailing-newline": "{key}\n",
    "trailing-crlf": "{key}\r\n",
    "spaces-and-tabs-around": " \t{key} \t",
    "newlines-around": "\n{key}\n\n",
}
STRIPPED_KEYS_CLI = ("trailing-newline", "spaces-and-tabs-around")


# ------------------------------------------------------------------------------- the search
class Haystack:
    """Everything a test saw the product write; `found` says where a marker was.

    Each marker is searched by its first and its last 12 characters, so that a secret cut
    short (a message truncated inside it) is found too.
    """

    def __init__(self, marks: Iterable[str]) -> None:
        whole = [*marks, KEY_MARK]
        halves = [h for m in whole for h in ((m[:12], m[-12:]) if len(m) > 24 else (m,))]
        self.marks = tuple(dict.fromkeys(halves))
        self.found: list[str] = []

    def text(self, where: str, text: str) -> None:
        for mark in self.marks:
            if mark in text:
                at = text.index(mark)
                excerpt = text[max(0, at - 150) : at + len(mark) + 50]
                self.found.append(f"{where}: ...{excerpt!r}...")

    def exception(self, exc: BaseException) -> None:
        self.text("exception traceback", "".join(traceback.format_exception(exc)))
        seen: list[BaseException] = []
        current: BaseException | None = exc
        while current is not None and current not in seen:
            seen.append(current)
            self.text(f"str({type(current).__name__})", str(current))
            self.text(f"repr({type(current).__name__})", repr(current))
            self.text(f"args of {type(current).__name__}", repr(getattr(current, "args", ())))
            # Dagster's own errors carry the user's exception and its error info.
            for name in ("user_exception", "original_exc_info", "metadata", "description"):
                value = getattr(current, name, None)
                if value is not None:
                    self.text(f"{type(current).__name__}.{name}", repr(value))
            # As Python and Dagster show a chain: a context raised `from None` is not shown.
            current = current.__cause__ or (
                None if current.__suppress_context__ else current.__context__
            )

    def instance(self, instance: DagsterInstance) -> None:
        """Every run (config, tags) and every event of it, as stored and as shown."""
        for run in instance.get_runs():
            self.text(f"run {run.run_id}", repr(run))
            for entry in instance.all_logs(run.run_id):
                kind = entry.dagster_event_type or "log message"
                self.text(f"event {kind} (stored)", serialize_value(entry))
                self.text(f"event {kind} (repr)", repr(entry))
                self.text(f"event {kind} (message)", entry.message or "")

    def folder(self, root: Path) -> None:
        """Every file and folder under `root`: its name and its bytes."""
        encoded = [mark.encode() for mark in self.marks]
        for path in sorted(root.rglob("*")):
            relative = str(path.relative_to(root))
            if any(mark in relative for mark in self.marks):
                self.found.append(f"file name {relative!r} under {root}")
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                if any(raw in data for raw in encoded):
                    self.found.append(f"bytes of {relative} under {root}")

    def logs(self, caplog: pytest.LogCaptureFixture) -> None:
        for record in caplog.records:
            self.text(f"log record {record.name}", record.getMessage())
            if record.exc_info and record.exc_info[1] is not None:
                self.exception(record.exc_info[1])
        self.text("log text", caplog.text)

    def output(self, where: str, capture: Any) -> None:
        out, err = capture.readouterr()
        self.text(f"{where} stdout", out)
        self.text(f"{where} stderr", err)

    def assert_clean(self) -> None:
        assert self.found == [], "secret leaked:\n" + "\n".join(self.found)


def failure_texts(instance: DagsterInstance) -> str:
    """The failed steps' error messages (and causes) of every run, as the UI and CLI show them."""
    texts = []
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE):
            error = entry.get_dagster_event().step_failure_data.error
            while error is not None:
                texts.append(f"{error.cls_name}: {error.message}")
                error = error.cause
    return "\n".join(texts)


# ---------------------------------------------------------------------------------- fixtures
@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path) -> None:
    """None of the caller's settings or credentials; the working directory in tmp_path, so a
    file written relative to it is searched (and nothing lands in the checkout)."""
    for name in list(os.environ):
        if name == REQUIRE_ENV:  # CI's "fail, don't skip" for the Postgres tests stays
            continue
        if name.startswith(("ANALYTICS_", "DESTINATION__")) or name in ("API_KEY", "SECRETS"):
            monkeypatch.delenv(name)
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)


@pytest.fixture
def sim_data() -> SimulatedData:
    return SimulatedData(seed=7, workflows=2)


@pytest.fixture
def simulator(sim_data: SimulatedData) -> Iterator[ApiSimulator]:
    with ApiSimulator(sim_data, api_key=KEY, page_size=50) as sim:
        yield sim


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """DAGSTER_HOME with the shipped instance config (storage and compute logs in it)."""
    path = tmp_path / "dagster_home"
    path.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", path / "dagster.yaml")
    return path


@pytest.fixture
def instance(home: Path) -> Iterator[DagsterInstance]:
    with instance_for_test(temp_dir=str(home)) as inst:
        yield inst


@pytest.fixture
def warehouse_dir(tmp_path: Path) -> Path:
    """The DuckDB file's folder (dlt's working folders default to beside it)."""
    return tmp_path / "warehouse"


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def resource(simulator: ApiSimulator, warehouse_dir: Path, **fields: Any) -> AnalyticsApiResource:
    values: dict[str, Any] = {
        "base_url": simulator.base_url,
        "api_key": KEY,
        "destination": "duckdb",
        "duckdb_path": str(warehouse_dir / "warehouse.duckdb"),
        "backoff_factor": 0.01,
        "max_retry_delay": 0.05,
        "max_retries": 1,
        "request_timeout": 5,
    }
    values.update(fields)
    return AnalyticsApiResource(**values)


@dataclass
class InProcessRun:
    success: bool
    raised: BaseException | None
    failure: str  # the failed steps' errors, as the event log holds them


def run_workspace_assets(
    instance: DagsterInstance, api: AnalyticsApiResource, seen: Haystack
) -> InProcessRun:
    """Materialize `workspace` and `workflows` in process, raising on error as a caller of
    `materialize` sees it: that exception is searched, and the failure events."""
    resources = {"dlt": DagsterDltResource(), "analytics_api": api}
    try:
        result = materialize(
            [shipped.get_assets_def("workspace")], instance=instance, resources=resources
        )
    except Exception as exc:
        seen.exception(exc)
        failure = failure_texts(instance)
        seen.text("step failure events", failure)
        return InProcessRun(False, exc, failure)
    return InProcessRun(result.success, None, "")


def search_everything(
    seen: Haystack,
    tmp_path: Path,
    instance: DagsterInstance,
    logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    seen.instance(instance)
    seen.logs(logs)
    seen.output("test process", capfd)
    seen.folder(tmp_path)
    seen.assert_clean()


# ------------------------------------------------------------------------------------ the CLI
@dataclass
class CliRun:
    returncode: int
    output: str


def cli_environment(home: Path, warehouse_dir: Path, **settings: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANALYTICS_", "DESTINATION__")) and k not in ("API_KEY", "SECRETS")
    }
    env.update(
        DAGSTER_HOME=str(home),
        ANALYTICS_DUCKDB_PATH=str(warehouse_dir / "warehouse.duckdb"),
        ANALYTICS_API_BACKOFF_FACTOR="0.01",
        ANALYTICS_API_MAX_RETRY_DELAY="0.05",
        ANALYTICS_API_MAX_RETRIES="1",
    )
    env.update(settings)
    return env


def cli_materialize(env: dict[str, str], cwd: Path, select: str = "workspace,workflows") -> CliRun:
    cmd = [DAGSTER, "asset", "materialize", "-m", "analytics_assets.definitions"]
    done = subprocess.run(
        [*cmd, "--select", select],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=CLI_TIMEOUT_SECONDS,
    )
    # Bytes, decoded leniently: the output itself may be what is malformed.
    return CliRun(done.returncode, done.stdout.decode("utf-8", "replace"))


def search_cli_run(seen: Haystack, run: CliRun, home: Path, tmp_path: Path) -> None:
    seen.text("CLI output", run.output)
    with DagsterInstance.from_config(str(home)) as instance:
        seen.instance(instance)
    seen.folder(tmp_path)
    seen.assert_clean()


# ===================================================================== 1. malformed API keys
@pytest.mark.parametrize("case", sorted(MALFORMED_KEYS_IN_PROCESS))
@pytest.mark.parametrize("source", ["argument", "environment", "resource", "dlt-secret"])
def test_malformed_key_is_refused_naming_the_setting_never_the_value(case, source, monkeypatch):
    secret = build(MALFORMED_KEYS_IN_PROCESS[case])
    base_url = "https://api.captaindata.co"

    def resolve() -> ApiSettings:
        if source == "argument":
            return resolve_settings(base_url=base_url, api_key=secret.value)
        if source == "resource":
            return AnalyticsApiResource(base_url=base_url, api_key=secret.value).settings()
        if source == "environment":
            monkeypatch.setenv(env_name("api_key"), secret.value)
        else:  # dlt's own way: `api_key` in secrets.toml, or its environment variable
            monkeypatch.setenv("API_KEY", secret.value)
        return resolve_settings(base_url=base_url)

    if "\x00" in secret.value and source in ("environment", "dlt-secret"):
        with pytest.raises(ValueError, match="null"):  # the OS refuses it before we see it
            resolve()
        return
    with pytest.raises(AnalyticsConfigError) as raised:
        resolve()
    text = str(raised.value)
    assert env_name("api_key") in text and "not shown" in text
    seen = Haystack(secret.marks)
    seen.exception(raised.value)
    seen.assert_clean()


@pytest.mark.parametrize("case", sorted(MALFORMED_KEYS_IN_PROCESS))
def test_malformed_key_is_refused_by_the_settings_object_itself(case):
    secret = build(MALFORMED_KEYS_IN_PROCESS[case])
    with pytest.raises(AnalyticsConfigError, match=env_name("api_key")) as raised:
        ApiSettings(base_url="https://api.captaindata.co", api_key=secret.value)
    seen = Haystack(secret.marks)
    seen.exception(raised.value)
    seen.assert_clean()


@pytest.mark.parametrize("case", sorted(STRIPPED_KEYS))
@pytest.mark.parametrize("source", ["argument", "environment", "resource"])
def test_surrounding_whitespace_is_stripped_from_the_key(case, source, monkeypatch):
    value = STRIPPED_KEYS[case].format(key=KEY)
    base_url = "https://api.captaindata.co"
    if source == "argument":
        settings = resolve_settings(base_url=base_url, api_key=value)
    elif source == "resource":
        settings = AnalyticsApiResource(base_url=base_url, api_key=value).settings()
    else:
        monkeypatch.setenv(env_name("api_key"), value)
        settings = resolve_settings(base_url=base_url)
    assert settings.api_key == KEY
    assert KEY_MARK not in repr(settings)


@pytest.mark.parametrize("case", sorted(MALFORMED_KEYS_IN_PROCESS))
def test_in_process_run_with_a_malformed_key_fails_naming_the_setting(
    case, simulator, instance, warehouse_dir, tmp_path, logs, capfd
):
    secret = build(MALFORMED_KEYS_IN_PROCESS[case])
    seen = Haystack(secret.marks)
    run = run_workspace_assets(
        instance, resource(simulator, warehouse_dir, api_key=secret.value), seen
    )
    assert run.raised is not None and not run.success
    assert env_name("api_key") in run.failure
    assert simulator.request_count() == 0  # refused before any request
    search_everything(seen, tmp_path, instance, logs, capfd)


@pytest.mark.parametrize("case", ["newline-inside", "cyrillic"])
def test_in_process_partition_run_with_a_malformed_key_fails_naming_the_setting(
    case, simulator, sim_data, instance, warehouse_dir, tmp_path, logs, capfd
):
    secret = build(MALFORMED_KEYS[case])
    seen = Haystack(secret.marks)
    uid = sim_data.workflows[0]["uid"]
    instance.add_dynamic_partitions(c.PARTITIONS_NAME, [uid])
    api = resource(simulator, warehouse_dir, api_key=secret.value)
    with pytest.raises(Exception) as raised:
        materialize(
            [shipped.get_assets_def("jobs")],
            instance=instance,
            resources={"dlt": DagsterDltResource(), "analytics_api": api},
            partition_key=uid,
        )
    seen.exception(raised.value)
    assert env_name("api_key") in failure_texts(instance)
    assert simulator.request_count() == 0
    search_everything(seen, tmp_path, instance, logs, capfd)


@pytest.mark.parametrize("case", sorted(STRIPPED_KEYS))
def test_in_process_run_strips_whitespace_around_the_key_and_succeeds(
    case, simulator, instance, warehouse_dir, tmp_path, logs, capfd
):
    seen = Haystack([])
    api = resource(simulator, warehouse_dir, api_key=STRIPPED_KEYS[case].format(key=KEY))
    resources = {"dlt": DagsterDltResource(), "analytics_api": api}
    assert materialize(
        [shipped.get_assets_def("workspace")], instance=instance, resources=resources
    ).success
    assert simulator.request_count("/v3/workspace") == 1
    assert {r.status for r in simulator.requests} == {200}
    search_everything(seen, tmp_path, instance, logs, capfd)


@pytest.mark.parametrize("case", MALFORMED_KEYS_CLI)
def test_cli_run_with_a_malformed_key_fails_naming_the_setting(
    case, simulator, home, warehouse_dir, tmp_path
):
    secret = build(MALFORMED_KEYS[case])
    env = cli_environment(
        home,
        warehouse_dir,
        ANALYTICS_API_BASE_URL=str(simulator.base_url),
        ANALYTICS_API_KEY=secret.value,
    )
    run = cli_materialize(env, tmp_path / "workdir")
    assert run.returncode != 0
    assert f"AnalyticsConfigError: {env_name('api_key')} contains" in run.output, run.output[-3000:]
    assert simulator.request_count() == 0
    search_cli_run(Haystack(secret.marks), run, home, tmp_path)


@pytest.mark.parametrize("case", STRIPPED_KEYS_CLI)
def test_cli_run_strips_whitespace_around_the_key_and_succeeds(
    case, simulator, home, warehouse_dir, tmp_path
):
    value = STRIPPED_KEYS[case].format(key=KEY)
    env = cli_environment(
        home, warehouse_dir, ANALYTICS_API_BASE_URL=str(simulator.base_url), ANALYTICS_API_KEY=value
    )
    run = cli_materialize(env, tmp_path / "workdir")
    assert run.returncode == 0, run.output[-3000:]
    assert {r.status for r in simulator.requests} == {200}
    search_cli_run(Haystack([]), run, home, tmp_path)


# ====================================================================== 2. a wrong API key
def test_in_process_run_with_a_wrong_key_fails_with_401_naming_the_setting(
    simulator, instance, warehouse_dir, tmp_path, logs, capfd
):
    secret = build("sk-WRONG-{a}{b}")
    seen = Haystack(secret.marks)
    run = run_workspace_assets(
        instance, resource(simulator, warehouse_dir, api_key=secret.value), seen
    )
    assert run.raised is not None and not run.success
    failure = run.failure
    assert "HTTP 401" in failure and env_name("api_key") in failure
    search_everything(seen, tmp_path, instance, logs, capfd)


def test_cli_run_with_a_wrong_key_fails_with_401_naming_the_setting(
    simulator, home, warehouse_dir, tmp_path
):
    secret = build("sk-WRONG-{a}{b}")
    env = cli_environment(
        home,
        warehouse_dir,
        ANALYTICS_API_BASE_URL=str(simulator.base_url),
        ANALYTICS_API_KEY=secret.value,
    )
    run = cli_materialize(env, tmp_path / "workdir")
    assert run.returncode != 0
    assert "HTTP 401" in run.output and env_name("api_key") in run.output, run.output[-3000:]
    search_cli_run(Haystack(secret.marks), run, home, tmp_path)


def test_sensor_tick_with_a_wrong_key_fails_naming_the_setting(
    simulator, instance, warehouse_dir, tmp_path, logs, capfd
):
    secret = build("sk-WRONG-{a}{b}")
    seen = Haystack(secret.marks)
    api = resource(simulator, warehouse_dir, api_key=secret.value)
    context = build_sensor_context(instance=instance, resources={"analytics_api": api})
    with pytest.raises(Exception) as raised:
        shipped.resolve_sensor_def("workflow_refresh_sensor")(context)
    seen.exception(raised.value)
    assert "HTTP 401" in str(raised.value) and env_name("api_key") in str(raised.value)
    search_everything(seen, tmp_path, instance, logs, capfd)


@pytest.mark.parametrize("case", ["newline-inside", "e-acute"])
def test_sensor_tick_with_a_malformed_key_fails_naming_the_setting(
    case, simulator, instance, warehouse_dir, tmp_path, logs, capfd
):
    secret = build(MALFORMED_KEYS[case])
    seen = Haystack(secret.marks)
    api = resource(simulator, warehouse_dir, api_key=secret.value)
    context = build_sensor_context(instance=instance, resources={"analytics_api": api})
    with pytest.raises(AnalyticsConfigError, match=env_name("api_key")) as raised:
        shipped.resolve_sensor_def("workflow_refresh_sensor")(context)
    seen.exception(raised.value)
    assert simulator.request_count() == 0
    search_everything(seen, tmp_path, instance, logs, capfd)


# ======================================================== 3. destination credentials (dlt)
# Bad `DESTINATION__POSTGRES__CREDENTIALS` values against the throwaway server. {at} is its
# host:port; {a} and {b} are the markers of a wrong password. With the right password the
# markers go elsewhere in the URL (not secret there): only the password is searched for.
BAD_CREDENTIALS = {
    "wrong-password": "postgresql://{user}:PW-LEAK-{a}{b}@{at}/postgres",
    "newline-in-password": "postgresql://{user}:PW-LEAK-{a}\n{b}@{at}/postgres",
    "bad-percent-escape": "postgresql://{user}:PW-LEAK-{a}%zz{b}@{at}/postgres",
    "unescaped-at-in-password": "postgresql://{user}:PW-LEAK-{a}@{b}@{at}/postgres",
    "unescaped-slash-in-password": "postgresql://{user}:PW-LEAK-{a}/{b}@{at}/postgres",
    "unescaped-hash-in-password": "postgresql://{user}:PW-LEAK-{a}#{b}@{at}/postgres",
    "space-in-password": "postgresql://{user}:PW-LEAK-{a} {b}@{at}/postgres",
    "no-scheme": "{user}:PW-LEAK-{a}{b}@{at}/postgres",
    "right-password-bad-port": "postgresql://{user}:{password}@127.0.0.1:99999/postgres",
    "right-password-unknown-database": "postgresql://{user}:{password}@{at}/no_such_db",
    "right-password-trailing-newline": "postgresql://{user}:{password}@{at}/postgres\n",
}
DESTINATION_CASES_CLI = ("wrong-password", "newline-in-password")
# Well-formed but for surrounding whitespace: loading (if dlt strips it) is no leak either.
MAY_LOAD = {"right-password-trailing-newline"}


def url_secret(server: PostgresServer, template: str) -> Secret:
    secret = build(template, user=USER, at=f"{server.host}:{server.port}", password=PASSWORD)
    marks = secret.marks if "{a}" in template else ()
    return Secret(secret.value, (*marks, PG_MARK))


@pytest.mark.parametrize("case", sorted(BAD_CREDENTIALS))
def test_in_process_run_with_bad_destination_credentials_fails_without_them(
    case, postgres_server, simulator, instance, warehouse_dir, tmp_path, logs, capfd, monkeypatch
):
    secret = url_secret(postgres_server, BAD_CREDENTIALS[case])
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", secret.value)
    seen = Haystack(secret.marks)
    api = resource(
        simulator,
        warehouse_dir,
        destination="postgres",
        pipelines_dir=str(tmp_path / "dlt_pipelines"),
    )
    run = run_workspace_assets(instance, api, seen)
    search_everything(seen, tmp_path, instance, logs, capfd)
    if case not in MAY_LOAD:
        assert run.raised is not None and not run.success


@pytest.mark.parametrize("case", DESTINATION_CASES_CLI)
def test_cli_run_with_bad_destination_credentials_fails_without_them(
    case, postgres_server, simulator, home, warehouse_dir, tmp_path
):
    secret = url_secret(postgres_server, BAD_CREDENTIALS[case])
    env = cli_environment(
        home,
        warehouse_dir,
        ANALYTICS_API_BASE_URL=str(simulator.base_url),
        ANALYTICS_API_KEY=KEY,
        ANALYTICS_DESTINATION="postgres",
        ANALYTICS_DLT_PIPELINES_DIR=str(tmp_path / "dlt_pipelines"),
        DESTINATION__POSTGRES__CREDENTIALS=secret.value,
    )
    run = cli_materialize(env, tmp_path / "workdir")
    assert run.returncode != 0, run.output[-3000:]
    search_cli_run(Haystack(secret.marks), run, home, tmp_path)


@pytest.mark.parametrize(
    "case", ["wrong-password", "newline-in-password", "unescaped-at-in-password", "no-scheme"]
)
def test_asset_check_alone_with_bad_destination_credentials_fails_without_them(
    case,
    postgres_server,
    simulator,
    sim_data,
    instance,
    warehouse_dir,
    tmp_path,
    logs,
    capfd,
    monkeypatch,
):
    """The blocking check opens the warehouse itself, outside any asset body."""
    secret = url_secret(postgres_server, BAD_CREDENTIALS[case])
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", secret.value)
    uid = sim_data.workflows[0]["uid"]
    instance.add_dynamic_partitions(c.PARTITIONS_NAME, [uid])
    seen = Haystack(secret.marks)
    api = resource(
        simulator, warehouse_dir, destination="postgres", pipelines_dir=str(tmp_path / "dlt")
    )
    check_only = define_asset_job(
        "check_only",
        selection=AssetSelection.checks(shipped.get_asset_checks_def(FILTER_CHECK)),
    )
    defs = Definitions(
        assets=[shipped.get_assets_def("jobs")],
        asset_checks=[shipped.get_asset_checks_def(FILTER_CHECK)],
        jobs=[check_only],
        resources={"dlt": DagsterDltResource(), "analytics_api": api},
    )
    result = defs.resolve_job_def("check_only").execute_in_process(
        instance=instance, raise_on_error=False
    )
    assert not result.success
    seen.text("step failure events", failure_texts(instance))
    search_everything(seen, tmp_path, instance, logs, capfd)


# ==================================================================== 4. the rate budget store
BAD_STORES = {
    "wrong-password": "postgresql://{user}:PW-LEAK-{a}{b}@{at}/postgres",
    "bad-percent-escape": "postgresql://{user}:PW-LEAK-{a}%zz{b}@{at}/postgres",
    "newline-in-password": "postgresql://{user}:PW-LEAK-{a}\n{b}@{at}/postgres",
    "unescaped-at-in-password": "postgresql://{user}:PW-LEAK-{a}@{b}@{at}/postgres",
    "right-password-bad-port": "postgresql://{user}:{password}@127.0.0.1:99999/postgres",
    # SQLAlchemy's spelling, as pasted from another tool's settings.
    "sqlalchemy-driver-scheme": "postgresql+psycopg://{user}:PW-LEAK-{a}{b}@{at}/postgres",
}
STORE_CASES_CLI = ("wrong-password", "bad-percent-escape")


@pytest.mark.parametrize("case", sorted(BAD_STORES))
def test_client_with_a_bad_store_url_fails_naming_the_setting(
    case, postgres_server, simulator, warehouse_dir, tmp_path, logs, capfd
):
    secret = url_secret(postgres_server, BAD_STORES[case])
    settings = resource(simulator, warehouse_dir, rate_limit_store=secret.value).settings()
    assert not any(m in repr(settings) for m in secret.marks)
    seen = Haystack(secret.marks)
    raised: AnalyticsConfigError | None = None
    try:
        AnalyticsApiClient(settings).close()
    except AnalyticsConfigError as exc:
        raised = exc
        seen.exception(exc)
    seen.logs(logs)
    seen.output("test process", capfd)
    seen.folder(tmp_path)
    seen.assert_clean()
    assert raised is not None, "a store URL that cannot be opened was accepted"
    assert env_name("rate_limit_store") in str(raised)


@pytest.mark.parametrize("case", sorted(BAD_STORES))
def test_in_process_run_with_a_bad_store_url_fails_naming_the_setting(
    case, postgres_server, simulator, instance, warehouse_dir, tmp_path, logs, capfd
):
    secret = url_secret(postgres_server, BAD_STORES[case])
    seen = Haystack(secret.marks)
    api = resource(simulator, warehouse_dir, rate_limit_store=secret.value)
    run = run_workspace_assets(instance, api, seen)
    search_everything(seen, tmp_path, instance, logs, capfd)
    assert not run.success, "a store URL that cannot be opened was accepted"
    assert env_name("rate_limit_store") in run.failure
    assert simulator.request_count() == 0


@pytest.mark.parametrize("case", STORE_CASES_CLI)
def test_cli_run_with_a_bad_store_url_fails_naming_the_setting(
    case, postgres_server, simulator, home, warehouse_dir, tmp_path
):
    secret = url_secret(postgres_server, BAD_STORES[case])
    env = cli_environment(
        home,
        warehouse_dir,
        ANALYTICS_API_BASE_URL=str(simulator.base_url),
        ANALYTICS_API_KEY=KEY,
        ANALYTICS_API_RATE_LIMIT_STORE=secret.value,
    )
    run = cli_materialize(env, tmp_path / "workdir")
    assert run.returncode != 0
    assert f"AnalyticsConfigError: {env_name('rate_limit_store')}" in run.output, run.output[-3000:]
    search_cli_run(Haystack(secret.marks), run, home, tmp_path)


def test_sensor_tick_with_a_bad_store_url_fails_naming_the_setting(
    postgres_server, simulator, instance, warehouse_dir, tmp_path, logs, capfd
):
    secret = url_secret(postgres_server, BAD_STORES["wrong-password"])
    seen = Haystack(secret.marks)
    api = resource(simulator, warehouse_dir, rate_limit_store=secret.value)
    context = build_sensor_context(instance=instance, resources={"analytics_api": api})
    with pytest.raises(AnalyticsConfigError, match=env_name("rate_limit_store")) as raised:
        shipped.resolve_sensor_def("workflow_refresh_sensor")(context)
    seen.exception(raised.value)
    search_everything(seen, tmp_path, instance, logs, capfd)


# ============================================================= 5. the API echoing the key
def echo_rule(message: str, status: int = 400, path: str = r"^/v3/workspace$") -> FaultRule:
    body = json.dumps({"error": "BAD_REQUEST", "message": message}).encode()
    return FaultRule(path, times=-1, status=status, body=body)


ECHOES = {
    "400-plain": (400, "invalid key {key} for this workspace"),
    "401-quoted": (401, "key '{key}' is not valid"),
    # Cut to 200 characters inside the key: masked before it is cut, or a prefix would show.
    "403-long-message": (403, "x" * 190 + " {key}"),
    "400-key-from-a-newline-padded-setting": (400, "you sent {key}"),
}


@pytest.mark.parametrize("case", sorted(ECHOES))
def test_in_process_run_masks_the_key_the_api_echoes(
    case, simulator, instance, warehouse_dir, tmp_path, logs, capfd
):
    status, message = ECHOES[case]
    simulator.add_fault(echo_rule(message.format(key=KEY), status))
    configured = KEY + "\n" if "newline" in case else KEY
    seen = Haystack([])
    run = run_workspace_assets(
        instance, resource(simulator, warehouse_dir, api_key=configured), seen
    )
    assert run.raised is not None and not run.success
    assert f"HTTP {status}" in run.failure and MASK in run.failure, run.failure
    search_everything(seen, tmp_path, instance, logs, capfd)


def test_cli_run_masks_the_key_the_api_echoes(simulator, home, warehouse_dir, tmp_path):
    simulator.add_fault(echo_rule(f"invalid key {KEY} for this workspace"))
    env = cli_environment(
        home,
        warehouse_dir,
        ANALYTICS_API_BASE_URL=str(simulator.base_url),
        ANALYTICS_API_KEY=KEY + "\n",
    )
    run = cli_materialize(env, tmp_path / "workdir")
    assert run.returncode != 0
    assert "HTTP 400" in run.output and MASK in run.output, run.output[-3000:]
    search_cli_run(Haystack([]), run, home, tmp_path)


def test_sensor_tick_masks_the_key_the_api_echoes(
    simulator, instance, warehouse_dir, tmp_path, logs, capfd
):
    simulator.add_fault(echo_rule(f"invalid key {KEY}", path=r"^/v3/workflows$"))
    api = resource(simulator, warehouse_dir)
    context = build_sensor_context(instance=instance, resources={"analytics_api": api})
    seen = Haystack([])
    with pytest.raises(Exception) as raised:
        shipped.resolve_sensor_def("workflow_refresh_sensor")(context)
    seen.exception(raised.value)
    assert "HTTP 400" in str(raised.value) and MASK in str(raised.value)
    search_everything(seen, tmp_path, instance, logs, capfd)


# ==================================================================== redaction on its own
SECRET_SHAPES = {
    "key": "sk-LEAK-{a}{b}",
    "key-newline-inside": "sk-LEAK-{a}\n{b}",
    "key-space-inside": "sk-LEAK-{a} {b}",
    "key-e-acute-inside": "sk-LEAK-{a}\u00e9{b}",
    "key-cyrillic-inside": "sk-LEAK-{a}\u043a\u043b\u044e\u0447{b}",
    "key-bell-inside": "sk-LEAK-{a}\x07{b}",
    "url-password": "postgresql://u:PW-{a}{b}@h:5432/db",
    "url-newline-in-password": "postgresql://u:PW-{a}\n{b}@h:5432/db",
    "url-tab-in-password": "postgresql://u:PW-{a}\t{b}@h:5432/db",
    "url-percent-encoded-password": "postgresql://u:PW-{a}%2F{b}@h:5432/db",
    "url-bad-percent-escape": "postgresql://u:PW-{a}%zz{b}@h:5432/db",
    "url-unescaped-at": "postgresql://u:PW-{a}@{b}@h:5432/db",
    "url-bad-port": "postgresql://u:PW-{a}{b}@h:port/db",
    "url-ipv6-unclosed": "postgresql://u:PW-{a}{b}@[::1/db",
}


def _shown(value: str) -> dict[str, str]:
    """The ways a library shows a string it quotes in an error text."""
    shown = {
        "raw": value,
        "repr": repr(value),
        "json": json.dumps(value),
        "utf8_bytes_repr": repr(value.encode()),
        "first_line": value.splitlines()[0],
        "last_line": value.splitlines()[-1],
    }
    if "://" in value:
        authority = value.split("://", 1)[1]
        password = authority.rsplit("@", 1)[0].split(":", 1)[1]
        shown.update(
            password=password,
            password_repr=repr(password),
            password_quoted=quote(password, safe=""),
            password_unquoted=unquote(password),
            # A parser that ends the user info at the first `@` reads the rest as the host.
            host_after_first_at=authority.split("@", 1)[1],
        )
        with contextlib.suppress(ValueError):
            shown["urlsplit_password"] = urlsplit(value).password or ""
    return shown


@pytest.mark.parametrize("shape", sorted(SECRET_SHAPES))
def test_redaction_masks_every_way_a_secret_is_shown(shape):
    secret = build(SECRET_SHAPES[shape])
    for how, text in _shown(secret.value).items():
        if not text:
            continue
        clean = redacted(f"error: {text} (end)", [secret.value])
        assert not any(m in clean for m in secret.marks), (how, clean)


def test_redaction_keeps_what_is_not_secret():
    url = "postgresql://loader:s3cr3t-p%40ss@db.example.com:5432/analytics"
    text = f"{env_name('destination')}=postgres: cannot reach db.example.com:5432 as loader ({url})"
    assert redacted(text, [url]) == (
        f"{env_name('destination')}=postgres: cannot reach db.example.com:5432 as loader ({MASK})"
    )
    assert (
        redacted("password s3cr3t-p@ss and s3cr3t-p%40ss", [url]) == f"password {MASK} and {MASK}"
    )
    # An environment secret that is a path or a sentence: masked whole, not word by word.
    path = "/home/loader/.config/gcloud/application_default_credentials.json"
    text = "the analytics dataset, config in /home/loader/.config"
    assert redacted(text, [path, "the analytics warehouse"]) == text
    assert redacted(f"reading {path}", [path]) == f"reading {MASK}"
