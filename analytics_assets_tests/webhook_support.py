"""What the webhook tests share: the receiver as a process on a free loopback port, one
delivery over raw HTTP, and the events an instance recorded."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from analytics_assets.defs.webhook_sensor import recorded_events
from analytics_assets.webhooks.events import WebhookEvent
from analytics_assets_tests.support import BIN, ROOT

SECRET = "whsec-7f3a9c1e-SECRET-do-not-log"
RECEIVER = str(BIN / "analytics-webhooks")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Receiver:
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text()


def start_receiver(env: dict[str, str], log: Path, *args: str, wait: bool = True) -> Receiver:
    """`analytics-webhooks --port <free> ARGS`; once `wait`, its /healthz answers 200."""
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [RECEIVER, "--port", str(port), *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    receiver = Receiver(proc, port, log)
    deadline = time.monotonic() + 60
    while wait:
        assert proc.poll() is None, receiver.output()[-3000:]
        try:
            if deliver(receiver.url, "GET", "/healthz")[0] == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, receiver.output()[-3000:]
        time.sleep(0.1)
    return receiver


@contextmanager
def receiver_process(env: dict[str, str], log: Path, *args: str) -> Iterator[Receiver]:
    receiver = start_receiver(env, log, *args)
    try:
        yield receiver
    finally:
        stop(receiver)


def stop(receiver: Receiver) -> None:
    if receiver.proc.poll() is None:
        receiver.proc.terminate()
        receiver.proc.wait(timeout=30)


def deliver(
    url: str,
    method: str = "POST",
    path: str = "/webhooks",
    body: object = None,
    secret: str | None = SECRET,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, str]:
    """One request; (status, response text)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    sent = dict(headers or {})
    if secret is not None:
        sent["Authorization"] = f"Bearer {secret}"
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    try:
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def recorded(instance: DagsterInstance, key: AssetKey | None = None) -> list[WebhookEvent]:
    """Every webhook event the instance holds for `key` (default `jobs`), oldest first."""
    records_filter = AssetRecordsFilter(asset_key=key or AssetKey("jobs"))
    return [event for _, _, event in recorded_events(instance, records_filter)]
