"""`make dev`'s push path: the receiver beside Dagster, and a simulator whose jobs start and
end on their own and announce it by webhook, so the UI shows pushed loads."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from analytics_assets.settings import env_name

DEMO_WEBHOOK_SECRET = "demo-webhook-secret-not-secret"
RECEIVER_PORT = 3030
WEBHOOK_URL = f"http://127.0.0.1:{RECEIVER_PORT}/webhooks"


def simulator_args() -> list[str]:
    """What the demo's simulator needs to deliver webhooks to the receiver (the header goes
    through the environment, out of the process list)."""
    os.environ.setdefault(env_name("webhook_secret"), DEMO_WEBHOOK_SECRET)
    secret = os.environ[env_name("webhook_secret")]
    os.environ["SIMULATOR_WEBHOOK_HEADER"] = f"Authorization: Bearer {secret}"
    return ["--webhook-url", WEBHOOK_URL, "--activity-seconds", "20", "--job-seconds", "10", "60"]


def receiver_command() -> list[str] | None:
    """`analytics-webhooks` on 127.0.0.1:3030, once the instance exists (two processes creating
    a fresh SQLite instance at once can stamp two schema heads); None without a secret."""
    from dagster import DagsterInstance

    if not os.environ.get(env_name("webhook_secret")):
        print(f"make dev: no {env_name('webhook_secret')}, so no webhook receiver")
        return None
    if not _port_free(RECEIVER_PORT):  # a child that exits would end make dev
        print(f"make dev: port {RECEIVER_PORT} is in use, so no webhook receiver")
        return None
    DagsterInstance.get().dispose()  # creates the storage before anyone else opens it
    print(f"make dev: the webhook receiver takes POST {WEBHOOK_URL}")
    return [str(Path(sys.executable).parent / "analytics-webhooks"), "--port", str(RECEIVER_PORT)]


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
