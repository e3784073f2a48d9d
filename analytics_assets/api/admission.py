"""Which of one client's threads asks the rate budget next: the most urgent one waiting.

Jobs' result pages are fetched by several threads that all wait on one budget. Left to
chance, a job started late falls pages behind the others and, once they are done, pages
alone at one round trip per page, below the plan's rate (on a remote API the last seconds of a
load). Each result request names its job's rows still to fetch as its urgency, and the most
urgent waiting thread goes first (ties in arrival order), so the jobs in flight progress
together and end together.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class AdmissionOrder:
    """One thread at a time takes its turn, the most urgent first; `urgency(n)` sets the
    urgency of the calling thread's requests."""

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._waiting: list[tuple[float, int]] = []  # (-urgency, arrival): a heap
        self._arrivals = itertools.count()
        self._busy = False
        self._local = threading.local()

    @contextmanager
    def urgency(self, value: float) -> Iterator[None]:
        """Within this block, the calling thread's requests have this urgency (default 0)."""
        previous = getattr(self._local, "value", 0.0)
        self._local.value = value
        try:
            yield
        finally:
            self._local.value = previous

    def current(self) -> float:
        """The calling thread's urgency now."""
        return float(getattr(self._local, "value", 0.0))

    def waiting(self) -> int:
        """Threads waiting for their turn now."""
        with self._turn:
            return len(self._waiting)

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait until no more urgent thread (nor an earlier one as urgent) is waiting and none
        holds the turn; hold it for the block."""
        with self._turn:
            entry = (-self.current(), next(self._arrivals))
            heapq.heappush(self._waiting, entry)
            self._turn.wait_for(lambda: not self._busy and self._waiting[0] == entry)
            heapq.heappop(self._waiting)
            self._busy = True
        try:
            yield
        finally:
            with self._turn:
                self._busy = False
                self._turn.notify_all()
