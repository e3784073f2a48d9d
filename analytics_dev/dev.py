"""`make dev`: `dg dev` (webserver and daemon) against the bundled simulator or a configured API.

Which API it serves is decided once, before anything starts, the way Dagster will see it:
`dg dev` loads the project's `.env` over the environment, so

- a `.env` that names the API (`ANALYTICS_API_BASE_URL` or `ANALYTICS_API_KEY`), or the
  environment's `ANALYTICS_API_BASE_URL`, means that API: no simulator, and a refusal naming
  the cause when its settings do not resolve (e.g. the key of `.env.example` left empty);
- otherwise the bundled simulator, and the `export` lines that point the CLI at it.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from analytics_assets.settings import (
    AnalyticsConfigError,
    ApiSettings,
    ScheduleSettings,
    declared_fields,
    env_name,
    resolve_settings,
)
from analytics_dev import dev_webhooks
from analytics_dev.supervisor import Stopped, Supervisor

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEMO_KEY = "demo-key-not-secret"
HOST = "127.0.0.1"
API_NAMES = (env_name("base_url"), env_name("api_key"))


class DevRefused(SystemExit):
    """`make dev` will not start: the message says why and what to change."""


@dataclass(frozen=True)
class ConfiguredApi:
    """An API the settings name, and where its base URL came from."""

    base_url: str
    origin: str  # ".env" or "the environment"


def env_file_values(root: Path = ROOT) -> dict[str, str]:
    """The variables `dg dev` loads from the project's `.env` (none without the file)."""
    path = root / ".env"
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def configured_api(root: Path = ROOT) -> ConfiguredApi | None:
    """The API `make dev` must serve, or None for the simulator. Applies `.env` over this
    process's environment first, as Dagster will; raises DevRefused when the API named
    cannot work."""
    dotenv = env_file_values(root)
    os.environ.update(dotenv)
    from_file = any(name in dotenv for name in API_NAMES)
    if not from_file and not os.environ.get(env_name("base_url")):
        return None
    try:
        settings = resolve_settings()
    except AnalyticsConfigError as exc:
        raise DevRefused(_refusal(bool(dotenv), from_file, exc)) from None
    origin = ".env" if dotenv.get(env_name("base_url")) else "the environment"
    return ConfiguredApi(settings.base_url, origin)


def _refusal(has_file: bool, from_file: bool, exc: AnalyticsConfigError) -> str:
    if from_file:
        return (
            f"make dev: .env names an API (dg dev loads .env over the environment), but {exc}. "
            "Fill .env in to use that API, or move .env away to serve the bundled simulator."
        )
    where = " (.env names no API)" if has_file else ""
    return (
        f"make dev: ANALYTICS_API_BASE_URL is set in the environment{where}, but {exc}. "
        "Fix the settings, or unset ANALYTICS_API_BASE_URL to serve the bundled simulator."
    )


def export_lines(base_url: str, api_key: str) -> list[str]:
    """What points the README's CLI recipes at the simulator: its URL and key, the instance,
    and every other non-secret setting this process was given."""
    values = {env_name("base_url"): base_url, env_name("api_key"): api_key}
    for cls in (ApiSettings, ScheduleSettings):
        for _, declared in declared_fields(cls):
            value = os.environ.get(declared.env)
            if value and not declared.secret and declared.env not in values:
                values[declared.env] = value
    values["DAGSTER_HOME"] = os.environ["DAGSTER_HOME"]
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]


def port_free(port: int, host: str = HOST) -> bool:
    """Whether the webserver could listen on `host:port`."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def webserver_answers(port: int) -> bool:
    """Whether the webserver on `port` answers its health route."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/server_info", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _start_simulator(children: Supervisor, workflows: int) -> str:
    """The simulator as a child; the URL it serves."""
    cmd = [sys.executable, "-m", "analytics_dev.simulator", "--port", "0"]
    cmd += ["--workflows", str(workflows), *dev_webhooks.simulator_args()]
    env = dict(os.environ, SIMULATOR_API_KEY=DEMO_KEY)  # not on the process list
    line = children.start("simulator", cmd, first_line=True, env=env).first_line
    if not line.startswith("SIMULATOR_URL="):
        raise DevRefused(f"make dev: the simulator did not start (it printed {line!r})")
    return line.split("=", 1)[1]


def _announce_simulator(url: str, workflows: int) -> None:
    print(f"make dev: the bundled simulator serves the API at {url} ({workflows} workflows).")
    print("To point the README's CLI recipes at it, in another terminal at the repo root:")
    print("  source .venv/bin/activate")
    for line in export_lines(url, DEMO_KEY):
        print(f"  {line}")


def _announce_api(api: ConfiguredApi, root: Path) -> None:
    print(f"make dev: using the API at {api.base_url} (from {api.origin}); no simulator.")
    print("To run the README's CLI recipes against it, in another terminal at the repo root:")
    load = "; set -a; . ./.env; set +a" if (root / ".env").is_file() else ""
    print(f"  source .venv/bin/activate{load}")
    print(f"  export DAGSTER_HOME={shlex.quote(os.environ['DAGSTER_HOME'])}")


def _dagster_command(port: int) -> list[str]:
    return [str(BIN / "dg"), "dev", "-h", HOST, "-p", str(port)]


def _start_services(
    children: Supervisor, api: ConfiguredApi | None, port: int, workflows: int, root: Path
) -> None:
    """The simulator (unless an API is configured), then Dagster; one line per service."""
    # dg warns when the venv it runs from is not the activated one; it is, in effect.
    env = dict(os.environ, VIRTUAL_ENV=sys.prefix)
    if api is None:
        url = _start_simulator(children, workflows)
        env.update({API_NAMES[0]: url, API_NAMES[1]: DEMO_KEY})
        _announce_simulator(url, workflows)
    else:
        _announce_api(api, root)
    if receiver := dev_webhooks.receiver_command():  # before Dagster: the instance exists
        children.start("webhooks", receiver, env={**os.environ, **env})
    print(f"make dev: starting Dagster; the UI will be at http://{HOST}:{port}", flush=True)
    children.start("dagster", _dagster_command(port), stop_signal=signal.SIGINT, cwd=root, env=env)


def serve(port: int, workflows: int, root: Path = ROOT) -> int:
    """Decide the API, start the simulator if it is the one, then `dg dev` on `port` in the
    project at `root`; run until SIGINT, SIGTERM or SIGHUP (then stop everything, exit 0) or
    a child's exit."""
    os.environ.setdefault("DAGSTER_HOME", str(ROOT / "dagster_home"))
    if not port_free(port):
        raise DevRefused(f"make dev: port {port} is in use; pick another: make dev PORT=3100")
    api = configured_api(root)
    ready = f"make dev: the UI is ready at http://{HOST}:{port} (Ctrl-C or SIGTERM stops it)"
    with Supervisor() as children:
        try:
            _start_services(children, api, port, workflows, root)
            return children.wait(ready=lambda: webserver_answers(port), ready_message=ready)
        except Stopped:
            return 0
