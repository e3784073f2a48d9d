"""The HTTP request handler: auth, rate limit, faults, page cache and the /_sim/ endpoints."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import parse_qs, unquote

from analytics_dev.simulator.records import FaultRule, RequestRecord, error_body
from analytics_dev.simulator.render import parse_page, route

if TYPE_CHECKING:
    from analytics_dev.simulator.server import ApiSimulator

_HTML = (
    b"<!DOCTYPE html><html><head><title>Maintenance</title></head><body>"
    b"<h1>We'll be back soon</h1><p>Captain Data is under maintenance.</p></body></html>"
)
_MUTATIONS = ("add_job", "update_job", "add_workflow", "remove_workflow")


class Response(NamedTuple):
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


DROP = Response(0, b"")  # a "drop" fault: close the connection without writing a byte


def _error(
    status: int,
    scope: str,
    path: str,
    message: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Response:
    return Response(status, error_body(status, scope, message, path), headers=headers)


class SimHandler(BaseHTTPRequestHandler):
    """Serves one keep-alive connection; all state lives on ``self.server.sim``."""

    protocol_version = "HTTP/1.1"  # keep-alive: benchmarks make tens of thousands of requests
    disable_nagle_algorithm = True  # small responses must not wait for the peer's delayed ACK
    server_version = "CaptainDataSim/3"
    timeout = 120  # idle keep-alive connections eventually free their thread

    def log_message(self, format: str, *args: object) -> None:
        pass  # per-request logging to stderr would cost more than serving the page

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    do_PUT = do_PATCH = do_DELETE = do_POST

    def _dispatch(self, method: str) -> None:
        sim: ApiSimulator = self.server.sim  # type: ignore[attr-defined]
        started = time.monotonic()
        raw_path, _, raw_query = self.path.partition("?")
        # Split before unquoting: a uid may itself contain an encoded "/" or "?".
        segments = [unquote(s) for s in raw_path.split("/")]
        path = "/".join(segments)
        query = {k: v[-1] for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""  # always drain, to keep the connection
        if path.startswith("/_sim/"):
            self._write(_control(sim, method, path, body))
            return
        sim._enter()
        try:
            # Decided on arrival, as at a gateway; the round trip below is paid by a 429 too.
            rejected, limit_headers = self._admit(sim, path)
            if sim.latency_seconds:
                time.sleep(sim.latency_seconds)
            if rejected is not None:
                response = rejected
            else:
                response = self._serve_api(sim, method, segments, path, query)
                if limit_headers and response is not DROP:  # a drop sends no headers
                    response = response._replace(headers=response.headers + limit_headers)
        finally:
            sim._leave()
        # Logged before the response leaves: a client that reads the log right after its
        # response arrives must find its own request in it.
        sim._record(
            RequestRecord(
                method, path, query, response.status, started, self.headers.get("x-project-id")
            )
        )
        if response is DROP:
            self.close_connection = True
            return
        # Counted before the response leaves, like the request log: a client that reads the
        # stats right after its answer must find its own request counted.
        sim._count_served(len(response.body), time.monotonic() - started)
        self._write(response)

    def _write(self, response: Response) -> None:
        """Status line, headers and body in a single write."""
        status, body, content_type, headers = response
        lines = [
            f"HTTP/1.1 {status} {self.responses.get(status, ('Error',))[0]}",
            f"Server: {self.server_version}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in headers),
        ]
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _admit(
        self, sim: ApiSimulator, path: str
    ) -> tuple[Response | None, tuple[tuple[str, str], ...]]:
        """Key, project, then the plan's rate limit: a rejection, or the limit headers to add."""
        # Auth comes before faults: a bad key must fail the same way however flaky the API is.
        key = self.headers.get("x-api-key")
        if sim.api_key is not None and key != sim.api_key:
            return _error(401, "header", path), ()  # never echo the key that was sent
        if sim.project_id is not None and self.headers.get("x-project-id") != sim.project_id:
            return _error(403, "header", path), ()
        # After auth: a request the API refuses to identify must not spend the key's tokens.
        verdict = sim._take_token(key, path)
        if verdict is None:
            return None, ()
        if verdict.allowed:
            return None, verdict.headers
        message = f"Too many requests: plan limit is {verdict.limit:g} requests per second."
        return _error(429, "rate_limit", path, message, headers=verdict.headers), ()

    def _serve_api(
        self, sim: ApiSimulator, method: str, segments: list[str], path: str, query: dict[str, str]
    ) -> Response:
        rule = sim._take_fault(path) if path.startswith("/v3/") else None
        if rule is not None:
            if rule.delay:
                time.sleep(rule.delay)
            early = _early_fault(rule, path)
            if early is not None:
                return early
        if method != "GET":
            return _error(405, "method", path)
        target = route(segments)
        if target is None:
            return _error(404, "path", path, "Unknown endpoint.")
        try:
            page = parse_page(query) if target[0] == "job_results" else 1
        except ValueError as exc:
            return _error(400, "query", path, str(exc))
        body = sim._page(target, page)
        if body is None:
            kind = "workflow" if target[0] == "jobs" else "job"
            return _error(404, "path", path, f"No {kind} with this uid.")
        return Response(200, body if rule is None else _late_fault(rule.kind, body))


def _early_fault(rule: FaultRule, path: str) -> Response | None:
    """Faults that replace the response entirely; None lets the request be served."""
    if rule.kind == "status":
        status = rule.status or 503
        headers = () if rule.retry_after is None else (("Retry-After", f"{rule.retry_after:g}"),)
        if rule.body is not None:
            return Response(status, rule.body, headers=headers)
        return _error(status, "server", path, headers=headers)
    if rule.kind == "html":
        return Response(rule.status or 200, rule.body or _HTML, "text/html; charset=utf-8")
    if rule.kind == "no_list":
        return Response(200, rule.body or b'{"unexpected":true}')
    if rule.kind == "drop":
        return DROP
    return None


def _late_fault(kind: str, body: bytes) -> bytes:
    """Faults that corrupt a real response body."""
    if kind == "truncated":
        return body[: len(body) // 2]  # Content-Length matches, so only the JSON is broken
    if kind in ("bad_paging", "missing_paging"):
        obj = json.loads(body)
        if isinstance(obj, dict) and "paging" in obj:
            if kind == "missing_paging":
                del obj["paging"]
            else:
                obj["paging"]["have_next_page"] = "yes"
            return json.dumps(obj, ensure_ascii=False).encode()
    return body  # slow, or a paging fault on a path without paging: serve as is


def _control(sim: ApiSimulator, method: str, path: str, body: bytes) -> Response:
    """Endpoints for tests whose client runs in another process (no auth: loopback only)."""

    def ok(payload: object) -> Response:
        return Response(200, json.dumps(payload, ensure_ascii=False, default=str).encode())

    try:
        payload = json.loads(body) if body.strip() else {}
        if (method, path) == ("GET", "/_sim/requests"):
            records = [asdict(r) for r in sim.requests]
            return ok({"count": len(records), "requests": records})
        if (method, path) == ("GET", "/_sim/stats"):
            return ok(sim.stats())
        if (method, path) == ("POST", "/_sim/reset"):
            sim.reset_requests()
            sim.clear_faults()
            sim.reset_stats()
            sim.reset_rate_limit()
            return ok({"ok": True})
        if (method, path) == ("POST", "/_sim/faults"):
            sim.add_fault(FaultRule.from_json(payload))
            return ok({"ok": True})
        if (method, path) == ("POST", "/_sim/config"):
            settable = ("envelope", "next_style", "page_size", "rate_limit", "workspace_rate_limit")
            for name in settable:
                if name in payload:
                    setattr(sim, name, payload[name])
            return ok({"ok": True})
        if (method, path) == ("POST", "/_sim/mutate"):
            op = payload.pop("op", None)
            if op not in _MUTATIONS:
                raise ValueError(f"op must be one of {_MUTATIONS}")
            return ok({"ok": True, "result": getattr(sim.data, op)(**payload)})
    except KeyError as exc:
        return _error(404, "path", path, f"Unknown uid {exc}")
    except (TypeError, ValueError) as exc:
        return _error(400, "body", path, str(exc))
    return _error(404, "path", path, "Unknown control endpoint.")


class SimServer(ThreadingHTTPServer):
    """The simulator's HTTP server: its connections are tracked so stop() can close them."""

    daemon_threads = True
    block_on_close = False  # keep-alive connections would make stop() wait for the client
    request_queue_size = 128  # benchmarks open many connections at once

    def __init__(self, address: tuple[str, int], sim: ApiSimulator) -> None:
        self.sim = sim
        self.connections: set[socket.socket] = set()
        super().__init__(address, SimHandler)

    def process_request(self, request, client_address) -> None:
        self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        self.connections.discard(request)
        super().shutdown_request(request)
