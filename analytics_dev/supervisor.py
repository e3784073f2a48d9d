"""Long-lived child processes that stop together, and leave nothing behind, on a signal.

`make dev` runs Dagster and the simulator (and any further service) under one `Supervisor`:

    with Supervisor() as children:
        children.start("simulator", [...], first_line=True)
        children.start("dagster", [...], stop_signal=signal.SIGINT)
        return children.wait()

SIGINT, SIGTERM and SIGHUP stop every child, last started first, whoever sends them and
however this process was started: its own handlers replace an ignored disposition inherited
from a background shell, and since handlers (unlike `SIG_IGN`) do not survive `exec`, the
children start with the default ones, so Dagster's own shutdown on SIGINT/SIGTERM works.
Each child leads its own process group; once it has exited, or after a grace period, the
group and every process it had spawned are killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType, TracebackType

import psutil

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_SECONDS = 30.0  # a child's own orderly shutdown; Dagster's takes a few seconds
POLL_SECONDS = 0.2


class Stopped(Exception):
    """A stop signal arrived while a child was starting."""


@dataclass
class Child:
    """A started child: its name, process and the signal that asks it to stop."""

    name: str
    proc: subprocess.Popen
    stop_signal: int
    first_line: str = ""


@dataclass
class Supervisor:
    """Starts children, waits for a stop signal or a child's exit, then stops them all."""

    grace_seconds: float = GRACE_SECONDS
    children: list[Child] = field(default_factory=list)
    received: int | None = None

    def __enter__(self) -> Supervisor:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.received = signum

    def start(
        self,
        name: str,
        cmd: list[str],
        *,
        stop_signal: int = signal.SIGTERM,
        first_line: bool = False,
        **popen: object,
    ) -> Child:
        """Start `cmd` in its own process group; with `first_line`, read (and keep) the first
        line it prints, e.g. the URL it serves."""
        self._raise_if_stopped()
        stdout = subprocess.PIPE if first_line else None
        proc = subprocess.Popen(cmd, process_group=0, stdout=stdout, text=True, **popen)  # type: ignore[call-overload]
        child = Child(name, proc, stop_signal)
        self.children.append(child)
        if first_line and proc.stdout is not None:
            child.first_line = proc.stdout.readline().strip()
        self._raise_if_stopped()
        return child

    def _raise_if_stopped(self) -> None:
        if self.received is not None:
            raise Stopped(signal.Signals(self.received).name)

    def wait(self, ready: Callable[[], bool] | None = None, ready_message: str = "") -> int:
        """Until a stop signal (then 0) or a child's exit (then its code, announced). Prints
        `ready_message` once `ready()` first holds (checked about once a second)."""
        polls = 0
        while self.received is None:
            for child in self.children:
                code = child.proc.poll()
                if code is not None:
                    print(f"{child.name} exited with code {code}; stopping the rest", flush=True)
                    return code or 1
            if ready is not None and polls % 5 == 0 and ready():
                print(ready_message, flush=True)
                ready = None
            polls += 1
            time.sleep(POLL_SECONDS)
        print(f"{signal.Signals(self.received).name} received; stopping", flush=True)
        return 0

    def stop(self) -> None:
        """Stop every child, last started first; ignores further stop signals meanwhile."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        for child in reversed(self.children):
            _stop(child, self.grace_seconds)
        self.children.clear()


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _stop(child: Child, grace_seconds: float) -> None:
    """Ask the child to stop, wait `grace_seconds`, then kill its group and its descendants
    (a process that left the group, or one a shutdown abandoned, e.g. a run worker)."""
    spawned = _descendants(child.proc.pid)
    if child.proc.poll() is None:
        child.proc.send_signal(child.stop_signal)
        try:
            child.proc.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            print(f"{child.name} did not stop in {grace_seconds:.0f} s; killing it", flush=True)
    with contextlib.suppress(ProcessLookupError):  # the group is empty: nothing left
        os.killpg(child.proc.pid, signal.SIGKILL)
    for proc in spawned:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()  # psutil checks it is still the same process, not a reused pid
    psutil.wait_procs(spawned, timeout=5)
    child.proc.wait()
    if child.proc.stdout is not None:
        child.proc.stdout.close()
