"""The receiver's ASGI app: `POST /webhooks[/<key_prefix>]` records a delivery, `GET /healthz`
answers probes. Every refusal says why in a short JSON error, never quoting the body."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from analytics_assets.webhooks.events import MAX_BODY_BYTES, Rejected, parse_event
from analytics_assets.webhooks.store import EventStore
from analytics_assets.webhooks.targets import Target

log = logging.getLogger("analytics_webhooks")


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


async def _bounded_body(request: Request) -> bytes:
    """At most MAX_BODY_BYTES, whatever Content-Length claims; Rejected(413) past it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise Rejected(413, f"the body is over {MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise Rejected(413, f"the body is over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(targets: dict[str | None, Target], store: EventStore) -> Starlette:
    """The app for these instances (by prefix, None for the unprefixed one)."""

    async def receive(request: Request) -> JSONResponse:
        prefix = request.path_params.get("prefix")
        target = targets.get(prefix)
        if target is None:
            return _error(404, "no instance with this key prefix")
        if not target.authorizes(request.headers.get("authorization")):
            return _error(401, "missing or wrong Authorization: Bearer <secret>")
        try:
            event = parse_event(await _bounded_body(request))
        except Rejected as rejected:
            return _error(rejected.status, rejected.reason)
        try:
            outcome = await store.record(target, event)
        except Exception:  # already logged by the writer, without the event's text
            return _error(503, "the event could not be recorded; deliver it again")
        log.info(
            "%s job %s of workflow %s (%s): %s",
            target.route,
            event.job_uid,
            event.workflow_uid,
            event.kind,
            outcome,
        )
        return JSONResponse({"status": outcome, "kind": event.kind})

    async def healthz(_request: Request) -> JSONResponse:
        if not store.alive:
            return _error(503, "the writer stopped")
        return JSONResponse({"status": "ok", "routes": sorted(t.route for t in targets.values())})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        store.close()  # the writer finishes what it holds before the process exits

    return Starlette(
        routes=[
            Route("/webhooks", receive, methods=["POST"]),
            Route("/webhooks/{prefix}", receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
