"""Routing and rendering of /v3 responses to JSON bytes; no HTTP or state lives here."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from urllib.parse import quote

from analytics_dev.simulator.data import SimulatedData

ENVELOPES = ("bare", "data")
NEXT_STYLES = ("token", "url", "path")


@dataclass(frozen=True)
class Mode:
    """Everything besides path and page that changes a response's bytes (so: the cache key)."""

    envelope: str
    next_style: str
    page_size: int
    base_url: str


def encode(obj: object) -> bytes:
    # UTF-8 rather than \u escapes, as a real API sends it.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def encode_cursor(page: int) -> str:
    """An opaque token, as clients must not assume anything about it."""
    return base64.urlsafe_b64encode(f"page:{page}".encode()).decode().rstrip("=")


def decode_cursor(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, number = text.partition(":")
        page = int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError(f"invalid cursor {token!r}") from None
    if prefix != "page" or page < 1:
        raise ValueError(f"invalid cursor {token!r}")
    return page


def parse_page(query: dict[str, str]) -> int:
    """The 1-based page a request asks for: ``cursor`` or ``next`` token, else ``page``."""
    for name in ("cursor", "next"):
        if query.get(name):
            return decode_cursor(query[name])
    if "page" in query:
        page = int(query["page"])  # ValueError -> 400
        if page < 1:
            raise ValueError("page must be >= 1")
        return page
    return 1


def route(segments: list[str]) -> tuple[str, str | None] | None:
    """Map decoded path segments (``["", "v3", ...]``) to ``(resource, uid)``."""
    if len(segments) > 3 and segments[-1] == "":
        segments = segments[:-1]  # tolerate one trailing slash
    match segments:
        case ["", "v3", "workspace"]:
            return "workspace", None
        case ["", "v3", "workflows"]:
            return "workflows", None
        case ["", "v3", "workflows", uid, "jobs"]:
            return "jobs", uid
        case ["", "v3", "jobs", uid, "results"]:
            return "job_results", uid
    return None


def canonical_path(resource: str, uid: str | None) -> str:
    """The decoded path a resource is known by (what data mutations announce as changed)."""
    return {
        "workspace": "/v3/workspace",
        "workflows": "/v3/workflows",
        "jobs": f"/v3/workflows/{uid}/jobs",
        "job_results": f"/v3/jobs/{uid}/results",
    }[resource]


def _wrap(envelope: str, payload: object) -> bytes:
    # "bare" is what the real API sends; "data" is what the spec's data_selector expects.
    return encode(payload if envelope == "bare" else {"data": payload})


def render(
    data: SimulatedData, resource: str, uid: str | None, page: int, mode: Mode
) -> bytes | None:
    """The body of a successful response, or None when the uid is unknown (a 404)."""
    with data.lock:
        if resource == "workspace":
            return _wrap(mode.envelope, data.workspace)
        if resource == "workflows":
            return _wrap(mode.envelope, data.workflows)
        if uid is None:  # only workspace and workflows have no uid
            return None
        if resource == "jobs":
            jobs = data.jobs.get(uid)
            return None if jobs is None else _wrap(mode.envelope, jobs)
        job = data.job(uid)
        if job is None:
            return None
        return _results_page(data, job, page, mode)


def _link(uid: str, page: int, mode: Mode) -> str:
    if mode.next_style == "token":
        return encode_cursor(page)
    path = f"/v3/jobs/{quote(uid, safe='')}/results?page={page}"
    return mode.base_url + path if mode.next_style == "url" else path


def _result_id(job_uid: str, index: int, row: str) -> str:
    return hashlib.md5(f"{job_uid}:{index}:{row}".encode()).hexdigest()


def _results_page(data: SimulatedData, job: dict, page: int, mode: Mode) -> bytes:
    uid, size = job["uid"], mode.page_size
    total = data.result_count(uid)
    last_page = max(1, -(-total // size))
    rows = data.result_rows_json(uid, (page - 1) * size, page * size)
    if mode.envelope == "data":
        # The spec's record shape. The id hashes the row's position with its content: stable
        # across requests, and two identical rows of one job remain two records.
        extracted = json.dumps(job.get("finish_time") or job.get("scheduled_time"))
        first = (page - 1) * size
        rows = [
            f'{{"job_result_id":"{_result_id(uid, first + i, row)}",'
            f'"extracted_at":{extracted},"results":{row}}}'
            for i, row in enumerate(rows)
        ]
    paging = {
        "have_next_page": page < last_page,
        # Realism: "next" is never null. The last page points one past the end, and pages past
        # the end point at themselves, so a client that ignores have_next_page never stops.
        "next": _link(uid, page + 1 if page <= last_page else page, mode),
        "previous": None if page == 1 else _link(uid, page - 1, mode),
    }
    return (
        '{"results":['
        + ",".join(rows)
        + '],"paging":'
        + json.dumps(paging, ensure_ascii=False, separators=(",", ":"))
        + "}"
    ).encode()
