"""analytics-webhooks as a process on loopback, recording into a real Dagster instance: what
it accepts, what it refuses (and stores nothing for), and what survives a SIGKILL."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import textwrap
import threading
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance

from analytics_assets_tests.support import ROOT, make_home, subprocess_env
from analytics_assets_tests.webhook_support import (
    RECEIVER,
    SECRET,
    deliver,
    receiver_process,
    recorded,
    start_receiver,
    stop,
)
from analytics_dev.postgres import PASSWORD, USER, postgres_server
from analytics_dev.simulator.webhooks import webhook_body

__all__ = ["postgres_server"]  # the fixture, imported so pytest finds it

pytestmark = pytest.mark.subprocess  # the receiver runs as a process

JOB = {"uid": "job-0001", "workflow_uid": "wf-new-0001", "workflow_name": "W", "name": "J"}


@pytest.fixture
def receiver_home(tmp_path: Path) -> Path:
    """A SQLite instance created before the receiver starts (as `make dev` orders it)."""
    home = make_home(tmp_path)
    DagsterInstance.from_config(str(home)).dispose()
    return home


@pytest.fixture
def receiver(receiver_home: Path, tmp_path: Path):
    env = subprocess_env(receiver_home, ANALYTICS_WEBHOOK_SECRET=SECRET)
    with receiver_process(env, tmp_path / "receiver.log") as running:
        yield running


def _chunked(url: str, size: int) -> int:
    """A body of `size` bytes sent chunked: no Content-Length to trust."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    chunks = (b"x" * 4096 for _ in range(size // 4096))
    headers = {"Authorization": f"Bearer {SECRET}", "Transfer-Encoding": "chunked"}
    try:
        conn.request("POST", "/webhooks", body=chunks, headers=headers, encode_chunked=True)
        return conn.getresponse().status
    except (BrokenPipeError, ConnectionResetError):
        return 413  # the receiver answered and closed before reading it all
    finally:
        conn.close()


BAD_BODIES = [
    (b"not json {", 400),
    (b"[1, 2]", 400),
    (json.dumps({"job_uid": "j1"}).encode(), 422),
    (json.dumps({"workflow_uid": "wf1"}).encode(), 422),
    (json.dumps({"workflow_uid": 12, "job_uid": "j1"}).encode(), 422),
    (json.dumps({"workflow_uid": "w" * 65, "job_uid": "j1"}).encode(), 422),
    (json.dumps({"workflow_uid": "wf1", "job_uid": "j/../1"}).encode(), 422),
    (json.dumps({"workflow_uid": "wf1", "job_uid": "j1", "pad": "x" * 70_000}).encode(), 413),
]


def test_each_bad_input_gets_its_status_and_stores_nothing(receiver, receiver_home):
    url = receiver.url
    good = webhook_body(JOB, "succeeded")
    assert deliver(url, body=good, secret=None)[0] == 401
    assert deliver(url, body=good, secret=SECRET[:-1] + "x")[0] == 401
    assert deliver(url, body=good, headers={"Authorization": SECRET}, secret=None)[0] == 401
    answers = [deliver(url, raw=raw) for raw, _ in BAD_BODIES]
    assert [status for status, _ in answers] == [status for _, status in BAD_BODIES]
    assert _chunked(url, 128 * 1024) == 413
    assert deliver(url, path="/webhooks/nobody", body=good)[0] == 404
    assert deliver(url, method="GET", path="/webhooks")[0] == 405
    assert deliver(url, method="PUT", path="/webhooks", body=good)[0] == 405
    # Refusals say why without echoing the body or the secret.
    for _, text in answers:
        assert "j/../1" not in text and SECRET not in text and "xxxx" not in text
    with DagsterInstance.from_config(str(receiver_home)) as instance:
        assert recorded(instance) == []
        assert instance.get_dynamic_partitions("workflow_uids") == []
    stop(receiver)
    assert SECRET not in receiver.output() and "j/../1" not in receiver.output()


def test_an_event_for_an_unregistered_workflow_registers_it_and_is_stored_once(
    receiver, receiver_home
):
    body = webhook_body(JOB, "failed")
    first = deliver(receiver.url, body=body)
    again = deliver(receiver.url, body=body)
    assert first == (
        200,
        json.dumps({"status": "recorded", "kind": "failed"}, separators=(",", ":")),
    )
    assert json.loads(again[1])["status"] == "duplicate"
    assert (
        json.loads(deliver(receiver.url, body=webhook_body(JOB, "started"))[1])["kind"] == "started"
    )
    with DagsterInstance.from_config(str(receiver_home)) as instance:
        assert instance.get_dynamic_partitions("workflow_uids") == [JOB["workflow_uid"]]
        events = recorded(instance)
        assert [(e.workflow_uid, e.job_uid, e.kind) for e in events] == [
            (JOB["workflow_uid"], JOB["uid"], "failed"),
            (JOB["workflow_uid"], JOB["uid"], "started"),
        ]
        assert events[0].error == body["error"] and events[0].message == "Job failed."


def test_the_receiver_refuses_to_start_without_a_secret_naming_the_variable(receiver_home):
    env = subprocess_env(receiver_home)
    done = subprocess.run([RECEIVER, "--port", "0"], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert "ANALYTICS_WEBHOOK_SECRET" in done.stderr
    short = subprocess_env(receiver_home, ANALYTICS_WEBHOOK_SECRET="short-one")
    done = subprocess.run([RECEIVER, "--port", "0"], env=short, capture_output=True, text=True)
    assert done.returncode == 2 and "too short" in done.stderr and "short-one" not in done.stderr


TWO_INSTANCES = """
from dagster import Definitions, EnvVar
from analytics_assets import AnalyticsApiResource, build_definitions

defs = Definitions.merge(
    build_definitions("sales", resource=AnalyticsApiResource(webhook_secret=EnvVar("SALES_HOOK"))),
    build_definitions("ops", resource=AnalyticsApiResource(webhook_secret=EnvVar("OPS_HOOK"))),
)
"""


def test_two_prefixes_with_two_secrets_each_refuse_the_others(receiver_home, tmp_path):
    (tmp_path / "two_instances.py").write_text(textwrap.dedent(TWO_INSTANCES))
    sales, ops = SECRET + "-sales", SECRET + "-ops"
    env = subprocess_env(receiver_home, SALES_HOOK=sales, OPS_HOOK=ops, PYTHONPATH=str(tmp_path))
    body = webhook_body(JOB, "succeeded")
    with receiver_process(env, tmp_path / "r.log", "-m", "two_instances") as receiver:
        assert deliver(receiver.url, path="/webhooks/ops", body=body, secret=sales)[0] == 401
        assert deliver(receiver.url, path="/webhooks/sales", body=body, secret=ops)[0] == 401
        assert deliver(receiver.url, path="/webhooks", body=body, secret=sales)[0] == 404
        assert deliver(receiver.url, path="/webhooks/sales", body=body, secret=sales)[0] == 200
    with DagsterInstance.from_config(str(receiver_home)) as instance:
        assert len(recorded(instance, AssetKey(["sales", "jobs"]))) == 1
        assert recorded(instance, AssetKey(["ops", "jobs"])) == []
        assert instance.get_dynamic_partitions("sales_workflow_uids") == [JOB["workflow_uid"]]
    unset = subprocess_env(receiver_home, SALES_HOOK=sales, PYTHONPATH=str(tmp_path))
    done = subprocess.run(
        [RECEIVER, "-m", "two_instances"], env=unset, capture_output=True, text=True
    )
    assert done.returncode == 2 and "'ops'" in done.stderr
    assert "ANALYTICS_WEBHOOK_SECRET" in done.stderr


def _burst(url: str, bodies: list[dict], answered: dict[str, int], senders: int = 10) -> None:
    """Deliver every body from `senders` threads; note the 2xx answers by job uid."""
    lock = threading.Lock()
    work = list(bodies)

    def send() -> None:
        while True:
            with lock:
                if not work:
                    return
                body = work.pop()
            try:
                status, _ = deliver(url, body=body, timeout=10)
            except OSError:
                continue  # the receiver died under us: the sender retries later
            if 200 <= status < 300:
                with lock:
                    answered[body["job_uid"]] = status

    threads = [threading.Thread(target=send) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_a_receiver_killed_mid_burst_loses_no_answered_event_and_stores_none_twice(
    receiver_home, tmp_path
):
    env = subprocess_env(receiver_home, ANALYTICS_WEBHOOK_SECRET=SECRET)
    jobs = [{"uid": f"job-{i:04}", "workflow_uid": f"wf-{i % 40:03}"} for i in range(400)]
    bodies = [webhook_body(job, "succeeded") for job in jobs]
    answered: dict[str, int] = {}
    receiver = start_receiver(env, tmp_path / "r1.log")
    sender = threading.Thread(target=_burst, args=(receiver.url, bodies, answered))
    sender.start()
    while len(answered) < 60 and sender.is_alive():
        threading.Event().wait(0.01)
    os.killpg(receiver.proc.pid, signal.SIGKILL)
    receiver.proc.wait(timeout=10)
    sender.join(timeout=120)
    killed_with = dict(answered)
    assert 60 <= len(killed_with) < len(bodies)
    with DagsterInstance.from_config(str(receiver_home)) as instance:
        stored = {e.job_uid for e in recorded(instance)}
        assert set(killed_with) <= stored  # every 2xx was durable
    # The sender retries everything not answered: nothing is stored twice.
    with receiver_process(env, tmp_path / "r2.log") as again:
        rest = [b for b in bodies if b["job_uid"] not in killed_with]
        _burst(again.url, rest, answered)
    assert len(answered) == len(bodies)
    with DagsterInstance.from_config(str(receiver_home)) as instance:
        keys = [e.key for e in recorded(instance)]
    assert sorted(keys) == sorted((job["uid"], "succeeded") for job in jobs)


def test_the_receiver_records_into_the_postgres_instance_exactly_once(
    postgres_server, tmp_path, monkeypatch
):
    home = make_home(tmp_path, config=ROOT / "deploy" / "dagster.yaml")
    with postgres_server.database() as database:
        pg = {
            "DAGSTER_PG_HOST": postgres_server.host,
            "DAGSTER_PG_PORT": str(postgres_server.port),
            "DAGSTER_PG_DB": database,
            "DAGSTER_PG_USERNAME": USER,
            "DAGSTER_PG_PASSWORD": PASSWORD,
        }
        env = subprocess_env(home, ANALYTICS_WEBHOOK_SECRET=SECRET, **pg)
        jobs = [{"uid": f"pg-job-{i:03}", "workflow_uid": f"pg-wf-{i % 7}"} for i in range(60)]
        bodies = [webhook_body(job, "succeeded") for job in jobs]
        answered: dict[str, int] = {}
        with receiver_process(env, tmp_path / "receiver.log") as receiver:
            _burst(receiver.url, bodies + bodies[:20], answered, senders=5)
        assert len(answered) == len(jobs)
        for name, value in pg.items():  # the instance config reads them from the environment
            monkeypatch.setenv(name, value)
        with DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
            keys = [e.key for e in recorded(instance)]
            registered = instance.get_dynamic_partitions("workflow_uids")
        assert sorted(keys) == sorted((job["uid"], "succeeded") for job in jobs)
        assert sorted(registered) == sorted({job["workflow_uid"] for job in jobs})
        assert SECRET not in receiver.output()
