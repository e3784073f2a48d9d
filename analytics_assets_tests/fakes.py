"""Test doubles that are not mocks of anyone's internals: a clock whose sleeps are recorded."""

from __future__ import annotations

import threading


class FakeClock:
    """Time that moves only when someone sleeps; every sleep is recorded, none is waited.

    Wall time starts at a fixed Unix time so stored timestamps look like real ones.
    """

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = 0.0
        self._wall_offset = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def time(self) -> float:
        with self._lock:
            return self._wall_offset + self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
