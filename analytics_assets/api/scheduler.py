"""Many jobs' result pages fetched side by side, each job's pages in order, none blocking another.

A job's pages are sequential (the cursor of one page names the next), so one job is fetched by
one thread at a time. Up to `workers` threads each take the next job (longest first, so the
last seconds are not one long job paging alone at round-trip pace), fetch its pages in order
and put each into one shared, bounded buffer that the caller drains as pages arrive, whatever
their job. Memory is bounded by the pages in flight and buffered, however many or large the
jobs: at most `workers` in flight, `buffered` in the buffer, one held per thread waiting for
room. A job that raises fails the whole fetch; no job starts after it.

A fetch (`PageFetch`) can start before its caller knows every job it wants: jobs are added
while it runs, queued ones withdrawn, and one nobody claims in time stops itself.
"""

from __future__ import annotations

import queue
import threading
import time
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
    """The jobs by `total_row_count`, largest first (unknown counts last); ties by uid, so the
    order is the same whether the jobs come from the API's listing or from the warehouse."""
    return sorted(jobs, key=lambda job: (-(job.get("total_row_count") or 0), str(job["uid"])))


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
    monotonic: Callable[[], float] = time.monotonic
    # Until the caller starts draining: past this, the fetch stops itself (nobody came).
    unclaimed_until: float | None = None
    claim_lock: threading.Lock = field(default_factory=threading.Lock)

    def abandoned(self) -> bool:
        """Stopped, or nobody claimed the fetch in time (then it stops now): checked by the
        threads between items and while they wait."""
        with self.claim_lock:
            until = self.unclaimed_until
            if until is not None and self.monotonic() > until:
                self.stop.set()
        return self.stop.is_set()


def _put(shared: _Shared, item: tuple[str, Any, Any]) -> bool:
    """Put unless the consumer has gone away; False once it has."""
    while not shared.abandoned():
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
    return shared.abandoned() or shared.failed.is_set()


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


def _start_threads(shared: _Shared, count: int, first: int = 0) -> None:
    for number in range(first, first + count):
        name = f"analytics-fetch-{number}"
        threading.Thread(target=_fetch_loop, args=(shared,), name=name, daemon=True).start()


class PageFetch(Generic[K, T]):
    """Jobs' items fetched by background threads into one bounded buffer; `pages()` drains it.

    Started when built. Until `close()` more jobs may be added (`add`) and jobs not started yet
    withdrawn (`retain`): a fetch can start before the caller knows every job it will want (a
    run's results fetched while the run still loads and checks the jobs list). A fetch nobody
    drains for `unclaimed_seconds` stops itself, so an abandoned one holds no thread, request
    or page for long.

    Jobs start in the order added (sort with `longest_first`). At most `workers` run at once,
    `running()` of them right now when given (the client raises it as it learns the round
    trip and the plan's rate). `buffered` items wait for the caller (default `workers`). The
    threads are daemons that stop at their next item once the caller has gone, so a failed
    run never waits on a request in flight. `closed=True`: every job is given here.
    """

    def __init__(
        self,
        jobs: Sequence[tuple[K, Callable[[], Iterator[T]]]] = (),
        workers: int = 1,
        *,
        running: Callable[[], int] | None = None,
        buffered: int | None = None,
        unclaimed_seconds: float | None = None,
        closed: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.workers = max(1, workers)
        limit = self.workers
        self._shared: _Shared[K, T] = _Shared(
            pending=deque(),
            buffer=queue.Queue(maxsize=max(1, buffered if buffered is not None else limit)),
            allowed=lambda: limit if running is None else max(1, min(limit, running())),
            monotonic=monotonic,
        )
        if unclaimed_seconds is not None:
            self._shared.unclaimed_until = monotonic() + unclaimed_seconds
        self._keys: list[K] = []  # every job ever added, in order
        self._threads = 0
        self._closed = False
        self.add(jobs)
        if closed:
            self.close()

    @property
    def keys(self) -> list[K]:
        """Every job added and not withdrawn, in the order they were added."""
        return list(self._keys)

    def add(self, jobs: Sequence[tuple[K, Callable[[], Iterator[T]]]]) -> None:
        """Queue more jobs (after those queued); threads start as jobs call for them."""
        if self._closed:
            raise RuntimeError("jobs added to a closed fetch")
        with self._shared.turn:
            self._shared.pending.extend(jobs)
            self._keys += [key for key, _ in jobs]
            self._shared.turn.notify_all()
        wanted = min(self.workers, len(self._keys)) - self._threads
        if wanted > 0:
            _start_threads(self._shared, wanted, first=self._threads)
            self._threads += wanted

    def retain(self, keep: Callable[[K], bool]) -> list[K]:
        """Withdraw the queued jobs `keep` rejects; returns the rejected jobs a thread has
        already taken (their items still come, for the caller to skip)."""
        with self._shared.turn:
            queued = {id(key) for key, _ in self._shared.pending}
            self._shared.pending = deque(job for job in self._shared.pending if keep(job[0]))
        taken = [key for key in self._keys if id(key) not in queued]
        self._keys = [key for key in self._keys if keep(key) or id(key) not in queued]
        return [key for key in taken if not keep(key)]

    def claim(self) -> bool:
        """The caller will drain this fetch: it no longer stops unclaimed. False when it has
        already stopped (then its items are incomplete: fetch again)."""
        with self._shared.claim_lock:
            self._shared.unclaimed_until = None
            return not self._shared.stop.is_set()

    def close(self) -> None:
        """No job will be added: `pages()` ends once every job added has ended."""
        self._closed = True

    def cancel(self) -> None:
        """Stop: no request starts after this, and the threads end at their next item."""
        self._shared.stop.set()
        with self._shared.turn:
            self._shared.turn.notify_all()

    def pages(self) -> Generator[tuple[K, T | End], None, None]:
        """(key, item) for every item of every job as it arrives, then (key, END) once a job
        is done; call after `close()`. A job's exception re-raises here. Leaving the loop
        (or finishing it) cancels the fetch."""
        if not self._closed:
            raise RuntimeError("pages() of a fetch still open to new jobs: close() it first")
        if not self.claim():
            raise RuntimeError("pages() of a stopped fetch")
        remaining = len(self._keys)
        try:
            while remaining:
                kind, key, item = self._shared.buffer.get()
                if kind == "error":
                    raise item
                remaining -= item is END
                yield key, item
        finally:
            self.cancel()
