"""The receiver alone: a burst of events from concurrent senders on loopback, every answer
timed, then every event counted in the instance (exactly once each)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from analytics_assets.webhooks.events import event_of
from analytics_dev.benchmark.common import BIN, ROOT, clean_env, free_port, stop_process
from analytics_dev.simulator.webhooks import webhook_body

SECRET = "bench-webhook-secret-not-secret"


@contextlib.contextmanager
def receiver(
    home: Path, log: Path, port: int | None = None, env: dict[str, str] | None = None
) -> Iterator[str]:
    """`analytics-webhooks` for the shipped module on `port` (default: a free one), with
    `env` added to its environment; its URL."""
    port = port or free_port()
    environ = {**clean_env(), "DAGSTER_HOME": str(home), "ANALYTICS_WEBHOOK_SECRET": SECRET}
    environ.update(env or {})
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(BIN / "analytics-webhooks"), "--port", str(port)],
            cwd=ROOT,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, port, log)
        yield url
    finally:
        stop_process(proc)


def _wait_healthy(proc: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the receiver exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError):
            if post(port, "GET", "/healthz", None)[0] == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("the receiver did not answer /healthz within 120 s")


def post(port: int, method: str, path: str, body: dict | None) -> tuple[int, float]:
    """One request on a new connection (as each webhook delivery is); (status, seconds)."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        conn.close()


def burst(port: int, events: int, senders: int, tag: str) -> dict[str, Any]:
    """`events` deliveries from `senders` threads; answer times and statuses."""
    bodies = [
        webhook_body(
            {"uid": f"{tag}-job-{i:05}", "workflow_uid": f"{tag}-wf-{i % 200:03}"}, "succeeded"
        )
        for i in range(events)
    ]
    answers: list[tuple[int, float]] = []
    lock = threading.Lock()

    def send() -> None:
        while True:
            with lock:
                if not bodies:
                    return
                body = bodies.pop()
            answer = post(port, "POST", "/webhooks", body)
            with lock:
                answers.append(answer)

    started = time.perf_counter()
    threads = [threading.Thread(target=send) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    times = sorted(seconds for _, seconds in answers)
    return {
        "events": events,
        "senders": senders,
        "seconds": round(elapsed, 2),
        "events_per_second": round(events / elapsed, 1),
        "answer_p50_s": round(statistics.median(times), 3),
        "answer_p99_s": round(times[int(len(times) * 0.99) - 1], 3),
        "answer_max_s": round(times[-1], 3),
        "statuses": sorted({status for status, _ in answers}),
    }


def stored(home: Path, tag: str, env: dict[str, str]) -> dict[str, int]:
    """Events of the burst in the instance: total and distinct (job uid, kind)."""
    os.environ.update(env)  # the instance config reads its connection from the environment
    with DagsterInstance.from_config(str(home)) as instance:
        records = instance.fetch_observations(
            AssetRecordsFilter(asset_key=AssetKey("jobs")), limit=10_000
        ).records
    keys = [
        e.key
        for r in records
        if r.asset_observation
        and (e := event_of(r.asset_observation.metadata, r.asset_observation.partition))
        and e.job_uid.startswith(tag)
    ]
    return {"stored": len(keys), "distinct": len(set(keys))}


def measure(home: Path, log: Path, events: int, senders: int, tag: str, **env: str) -> dict:
    """Start a receiver on `home`, send the burst, count what the instance holds."""
    with receiver(home, log, env=env) as url:
        port = int(url.rsplit(":", 1)[1])
        result = burst(port, events, senders, tag)
    result.update(stored(home, tag, env))
    return result
