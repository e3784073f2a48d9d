"""What the secret-leak tests share: secrets built around random markers, the search for them
(`Haystack`), and in-process, sensor and CLI runs of the product to search after."""

from __future__ import annotations

import json
import subprocess
import traceback
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    build_sensor_context,
    materialize,
    serialize_value,
)
from dagster_dlt import DagsterDltResource

from analytics_assets.defs.resources import AnalyticsApiResource
from analytics_assets_tests.fakes import FakeClock
from analytics_assets_tests.support import DAGSTER, make_defs, subprocess_env
from analytics_dev.postgres import PASSWORD, USER, PostgresServer
from analytics_dev.simulator import ApiSimulator, FaultRule

CLI_TIMEOUT_SECONDS = 120
# The product's definitions, once: its assets and sensor run here on a fake clock, so no
# retry or pause of these tests waits (each test binds its own resource).
PRODUCT = make_defs(AnalyticsApiResource(), clock=FakeClock())


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


def resource(simulator: ApiSimulator, warehouse_dir: Path, **fields: Any) -> AnalyticsApiResource:
    values: dict[str, Any] = {
        "base_url": simulator.base_url,
        "api_key": KEY,
        "destination": "duckdb",
        "duckdb_path": str(warehouse_dir / "warehouse.duckdb"),
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
            [PRODUCT.get_assets_def("workspace")], instance=instance, resources=resources
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
    """A `dagster` subprocess's environment (no fake clock there: tiny retry waits)."""
    return subprocess_env(
        home,
        ANALYTICS_DUCKDB_PATH=str(warehouse_dir / "warehouse.duckdb"),
        ANALYTICS_API_BACKOFF_FACTOR="0.01",
        ANALYTICS_API_MAX_RETRY_DELAY="0.05",
        ANALYTICS_API_MAX_RETRIES="1",
        **settings,
    )


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


def url_secret(server: PostgresServer, template: str) -> Secret:
    secret = build(template, user=USER, at=f"{server.host}:{server.port}", password=PASSWORD)
    marks = secret.marks if "{a}" in template else ()
    return Secret(secret.value, (*marks, PG_MARK))


def echo_rule(message: str, status: int = 400, path: str = r"^/v3/workspace$") -> FaultRule:
    body = json.dumps({"error": "BAD_REQUEST", "message": message}).encode()
    return FaultRule(path, times=-1, status=status, body=body)


def tick_sensor(instance: DagsterInstance, api: AnalyticsApiResource):
    """One tick of the product's sensor with `api` (raises what the tick raises)."""
    context = build_sensor_context(instance=instance, resources={"analytics_api": api})
    return PRODUCT.resolve_sensor_def("workflow_refresh_sensor")(context)
