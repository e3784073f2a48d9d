"""Many jobs' result pages fetched side by side, each job's pages in order, none blocking another.

A job's pages are sequential (the cursor of one page names the next), so one job is fetched by
one thread at a time. Up to `workers` threads each take the next job (longest first, so the
last seconds are not one long job paging alone at round-trip pace), fetch its pages in order
and put each into one shared, bounded buffer that the caller drains as pages arrive, whatever
their job. Memory is bounded by the pages in flight and buffered, however many or large the
jobs: at most `workers` in flight, `buffered` in the buffer, one held per thread waiting for
room. A job that raises fails the whole fetch; no job starts after it.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

K = TypeVar("K")
T = TypeVar("T")

POLL_SECONDS = 0.05  # how often a waiting thread re-reads `running()`, which nobody notifies


class End:
    """Marks the end of one job's pages (its state may then be released)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


END = End()


def longest_first(jobs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The jobs by `total_row_count`, largest first (unknown counts last); ties keep their
    order."""
    return sorted(jobs, key=lambda job: -(job.get("total_row_count") or 0))


@dataclass
class _Shared(Generic[K, T]):
    """What the fetch threads and the consumer share."""

    pending: deque[tuple[K, Callable[[], Iterator[T]]]]
    buffer: queue.Queue
    allowed: Callable[[], int]
    stop: threading.Event = field(default_factory=threading.Event)
    # A job raised: none starts after it (a failing run must not begin other requests).
    failed: threading.Event = field(default_factory=threading.Event)
    turn: threading.Condition = field(default_factory=threading.Condition)
    active: int = 0


def _put(shared: _Shared, item: tuple[str, Any, Any]) -> bool:
    """Put unless the consumer has gone away; False once it has."""
    while not shared.stop.is_set():
        try:
            shared.buffer.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _next_job(shared: _Shared[K, T]) -> tuple[K, Callable[[], Iterator[T]]] | None:
    """Wait for a free slot (`allowed()` of them), then take the next job; None when there
    is none left or the fetch is over."""
    with shared.turn:
        while not shared.turn.wait_for(
            lambda: _stopped(shared) or shared.active < shared.allowed(), timeout=POLL_SECONDS
        ):
            pass
        if _stopped(shared) or not shared.pending:
            return None
        shared.active += 1
        return shared.pending.popleft()


def _stopped(shared: _Shared) -> bool:
    return shared.stop.is_set() or shared.failed.is_set()


def _fetch_job(shared: _Shared[K, T], key: K, stream: Callable[[], Iterator[T]]) -> None:
    """Every page of one job into the buffer, then its END (or the error it raised)."""
    try:
        for item in stream():
            if not _put(shared, ("item", key, item)):
                return
        _put(shared, ("item", key, END))
    except BaseException as exc:  # handed to the consumer, which re-raises it
        shared.failed.set()
        _put(shared, ("error", key, exc))
    finally:
        with shared.turn:
            shared.active -= 1
            shared.turn.notify_all()


def _fetch_loop(shared: _Shared[K, T]) -> None:
    """One fetch thread: jobs one after another until none is left."""
    while (job := _next_job(shared)) is not None:
        _fetch_job(shared, *job)


def _start_threads(shared: _Shared, count: int) -> None:
    for number in range(count):
        name = f"analytics-fetch-{number}"
        threading.Thread(target=_fetch_loop, args=(shared,), name=name, daemon=True).start()


def pages_as_they_arrive(
    jobs: Sequence[tuple[K, Callable[[], Iterator[T]]]],
    workers: int = 1,
    *,
    running: Callable[[], int] | None = None,
    buffered: int | None = None,
) -> Generator[tuple[K, T | End], None, None]:
    """Yield (key, item) for every item of every job as it arrives, then (key, END) once a
    job is done; one job's items stay in its order, jobs interleave freely.

    Jobs start in the given order (sort with `longest_first`). At most `workers` run at once,
    `running()` of them right now when given (the client raises it as it learns the round
    trip and the plan's rate). `buffered` items wait for the caller (default `workers`). A
    job's exception re-raises here; the threads are daemons that stop at their next item
    once the caller has gone, so a failed run never waits on a request in flight.
    """
    workers = max(1, workers)
    shared: _Shared[K, T] = _Shared(
        pending=deque(jobs),
        buffer=queue.Queue(maxsize=max(1, buffered if buffered is not None else workers)),
        allowed=lambda: workers if running is None else max(1, min(workers, running())),
    )
    remaining = len(shared.pending)
    _start_threads(shared, min(workers, remaining))
    try:
        while remaining:
            kind, key, item = shared.buffer.get()
            if kind == "error":
                raise item
            remaining -= item is END
            yield key, item
    finally:
        shared.stop.set()
        with shared.turn:
            shared.turn.notify_all()
