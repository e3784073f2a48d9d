"""Cursor paging of `/v3/jobs/{uid}/results`: stop exactly when `have_next_page` is false.

This API always sends `paging.next`, so the flag is the only trustworthy stop signal (dlt
1.31's `JSONResponseCursorPaginator` can stop on it too, with `has_more_path`). `next` is
either an opaque token (sent back as the `cursor` query parameter, dlt's name for it) or a
URL/absolute path (followed). We page through our own client for its rate budget shared
across processes and its waiting out of 429s (see `client.py`), not for the paging.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, TypeVar
from urllib.parse import quote

from analytics_assets.api.client import AnalyticsApiClient, AnalyticsApiError

T = TypeVar("T")

CURSOR_PARAM = "cursor"
MAX_PAGES = 100_000  # a guard against an API that never says "no next page"


def results_path(job_uid: str) -> str:
    return f"/v3/jobs/{quote(str(job_uid), safe='')}/results"


def iter_result_pages(client: AnalyticsApiClient, job_uid: str) -> Iterator[list[dict[str, Any]]]:
    """Yield each page's `results` list for one job, in order."""
    path = results_path(job_uid)
    target, params = path, None
    seen_cursors: set[str] = set()
    for _ in range(MAX_PAGES):
        body = client.get_json(target, params)
        yield _page_rows(body, path)
        cursor = _next_cursor(body, path)
        if cursor is None:
            return
        if cursor in seen_cursors:
            raise AnalyticsApiError(
                f"GET {path}: paging.next repeated {cursor!r} while have_next_page is true; "
                "stopping instead of looping",
                endpoint=path,
            )
        seen_cursors.add(cursor)
        if cursor.startswith(("http://", "https://", "/")):
            target, params = cursor, None
        else:
            target, params = path, {CURSOR_PARAM: cursor}
    raise AnalyticsApiError(f"GET {path}: more than {MAX_PAGES} pages", endpoint=path)


def _page_rows(body: Any, endpoint: str) -> list[dict[str, Any]]:
    rows = body.get("results") if isinstance(body, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise AnalyticsApiError(
            f"GET {endpoint} returned no 'results' list of objects", endpoint=endpoint
        )
    return rows


def _next_cursor(body: dict[str, Any], endpoint: str) -> str | None:
    paging = body.get("paging")
    if not isinstance(paging, dict):
        raise AnalyticsApiError(f"GET {endpoint} returned no 'paging' object", endpoint=endpoint)
    more = paging.get("have_next_page")
    if not isinstance(more, bool):
        raise AnalyticsApiError(
            f"GET {endpoint}: paging.have_next_page is {more!r}, not true/false",
            endpoint=endpoint,
        )
    if not more:
        return None
    cursor = paging.get("next")
    if cursor in (None, ""):
        raise AnalyticsApiError(
            f"GET {endpoint}: have_next_page is true but paging.next is empty",
            endpoint=endpoint,
        )
    return str(cursor)


def _put(buffer: queue.Queue, item: tuple[str, Any], stop: threading.Event) -> bool:
    """Put unless the consumer has gone away; False once it has."""
    while not stop.is_set():
        try:
            buffer.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def prefetched_in_order(
    streams: Iterable[Callable[[], Iterator[T]]],
    workers: int = 1,
    depth: int = 4,
    running: Callable[[], int] | None = None,
) -> Generator[T, None, None]:
    """Run up to `workers` streams at once, each in a thread; yield every item of the first
    stream, then of the second, and so on, exactly as a sequential loop would.

    `running`, when given, says how many of those may run right now (at most `workers`):
    the client raises it as it learns the round trip and the plan's rate.

    Here a stream is one job's result pages, which its cursor makes sequential; the HTTP wait
    of the next pages overlaps with turning this one into rows. Each stream buffers at most
    `depth` items and at most `workers + 1` streams are started, so memory stays bounded
    however long the jobs are. Streams begin fetching in their order (a ticket each), so the
    one being consumed always runs: full buffers further ahead can never block it. A stream's
    exception re-raises here in its turn. The threads are daemons that stop at their next
    item once the consumer has gone, so a failed run never waits on a request in flight.
    """
    stop = threading.Event()
    # A stream raised: none after it starts (a run that is failing must not begin another
    # job's requests and retries while the error travels to the consumer).
    failed = threading.Event()
    turn = threading.Condition()
    tickets = {"next": 0, "running": 0}
    started: deque[queue.Queue] = deque()
    pending = iter(streams)

    def allowed() -> int:
        return workers if running is None else max(1, min(workers, running()))

    def may_start(ticket: int) -> bool:
        return (
            stop.is_set()
            or failed.is_set()
            or (tickets["next"] == ticket and tickets["running"] < allowed())
        )

    def run(ticket: int, stream: Callable[[], Iterator[T]], buffer: queue.Queue) -> None:
        with turn:
            # Timed: `allowed()` may grow without anyone notifying.
            while not turn.wait_for(lambda: may_start(ticket), timeout=0.05):
                pass
            if stop.is_set() or failed.is_set():
                return
            tickets["next"] += 1
            tickets["running"] += 1
            turn.notify_all()
        try:
            for item in stream():
                if not _put(buffer, ("item", item), stop):
                    return
            _put(buffer, ("done", None), stop)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            failed.set()  # waiting streams see it when `finally` wakes them
            _put(buffer, ("error", exc), stop)
        finally:
            with turn:
                tickets["running"] -= 1
                turn.notify_all()

    def start_next(ticket: int) -> None:
        stream = next(pending, None)
        if stream is not None:
            buffer: queue.Queue = queue.Queue(maxsize=depth)
            started.append(buffer)
            name = f"analytics-fetch-{ticket}"
            threading.Thread(
                target=run, args=(ticket, stream, buffer), name=name, daemon=True
            ).start()

    ticket = 0
    try:
        for ticket in range(workers + 1):
            start_next(ticket)
        while started:
            kind, item = started[0].get()
            if kind == "item":
                yield item
                continue
            if kind == "error":
                raise item
            started.popleft()
            ticket += 1
            start_next(ticket)
    finally:
        stop.set()
        with turn:
            turn.notify_all()
