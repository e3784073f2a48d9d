"""Cursor paging of `/v3/jobs/{uid}/results`: stop exactly when `have_next_page` is false.

This API always sends `paging.next`, so the flag is the only trustworthy stop signal (dlt
1.31's `JSONResponseCursorPaginator` can stop on it too, with `has_more_path`). `next` is
either an opaque token (sent back as the `cursor` query parameter, dlt's name for it) or a
URL/absolute path (followed). We page through our own client for its rate budget shared
across processes and its waiting out of 429s (see `client.py`), not for the paging.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, overload
from urllib.parse import quote

from analytics_assets.api.arrow_bodies import ArrowPage, ArrowPages
from analytics_assets.api.client import AnalyticsApiClient, AnalyticsApiError

CURSOR_PARAM = "cursor"
MAX_PAGES = 100_000  # a guard against an API that never says "no next page"


def results_path(job_uid: str) -> str:
    return f"/v3/jobs/{quote(str(job_uid), safe='')}/results"


@overload
def iter_result_pages(
    client: AnalyticsApiClient, job_uid: str, *, arrow: Literal[False] = False
) -> Iterator[list[dict[str, Any]]]: ...


@overload
def iter_result_pages(
    client: AnalyticsApiClient, job_uid: str, *, arrow: bool | ArrowPages
) -> Iterator[list[dict[str, Any]] | ArrowPage]: ...


def iter_result_pages(
    client: AnalyticsApiClient, job_uid: str, *, arrow: bool | ArrowPages = False
) -> Iterator[list[dict[str, Any]] | ArrowPage]:
    """Yield each page's `results` list for one job, in order; with `arrow` (True or a
    shared `ArrowPages`), as an `ArrowPage` wherever that reads the page exactly."""
    parse = arrow if isinstance(arrow, ArrowPages) else (ArrowPages() if arrow else None)
    path = results_path(job_uid)
    target, params = path, None
    seen_cursors: set[str] = set()
    for _ in range(MAX_PAGES):
        body = client.get_json(target, params, fast=parse)
        if isinstance(body, ArrowPage):
            yield body
            cursor = body.next
        else:
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
