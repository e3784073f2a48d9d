"""What the simulator's request log says about a run: requests, 429s, result pages, and where
its seconds went."""

from __future__ import annotations

import json
import statistics
from typing import Any

from analytics_dev.benchmark.remote.runs import Run

TICK_PREFIX = "SENSOR_TICK="


def counts(records: list[dict]) -> dict:
    """Requests, 429s, their share, and the result pages served (status 200)."""
    requests = len(records)
    limited = sum(1 for r in records if r["status"] == 429)
    return {
        "requests": requests,
        "rate_limited": limited,
        "share_429": round(limited / requests, 4) if requests else 0.0,
        "result_pages": sum(1 for r in records if is_result(r) and r["status"] == 200),
    }


def is_result(record: dict) -> bool:
    return record["path"].endswith("/results")


def labelled(records: list[dict], label: str | None) -> list[dict]:
    return [r for r in records if r.get("project_id_header") == label]


def phases(run: Run, rate: float | None = None) -> dict:
    """Where a run's seconds go, from the request log's arrival times (same monotonic clock).

    With the plan's `rate`: how far the result pages fell behind one request per 1/rate, and
    how long the last job was fetched alone (its pages are sequential: one per round trip).
    """
    starts = sorted(r["started"] for r in run.records)
    results = sorted(r["started"] for r in run.records if is_result(r))
    out: dict[str, Any] = {"process_seconds": round(run.seconds, 3)}
    if not starts:
        return out
    out["before_first_request"] = round(starts[0] - run.started, 3)
    out["after_last_request"] = round(run.finished - starts[-1], 3)
    if not results:
        return out
    gaps = [b - a for a, b in zip(results, results[1:], strict=False)]
    out.update(
        first_request_to_first_result=round(results[0] - starts[0], 3),
        result_span=round(results[-1] - results[0], 3),
        median_gap_between_results=round(statistics.median(gaps), 3) if gaps else None,
        after_last_result=round(run.finished - results[-1], 3),
    )
    if rate:
        interval = 1 / rate
        out["result_span_over_pace"] = round(sum(max(0.0, g - interval) for g in gaps), 3)
        last_of_job: dict[str, float] = {}
        for r in run.records:
            if is_result(r):
                last_of_job[r["path"]] = max(last_of_job.get(r["path"], 0.0), r["started"])
        ends = sorted(last_of_job.values())
        if len(ends) >= 2:
            alone = [(a, b) for a, b in zip(results, results[1:], strict=False) if b > ends[-2]]
            out["last_job_alone_seconds"] = round(ends[-1] - ends[-2], 3)
            out["last_job_alone_pages"] = len(alone)
            out["last_job_alone_over_pace"] = round(
                sum(max(0.0, b - a - interval) for a, b in alone), 3
            )
    return out


def timeline(run: Run) -> list[list]:
    """[seconds after the process started, status, path] of every request, in order."""
    return [
        [round(r["started"] - run.started, 3), r["status"], r["path"]]
        for r in sorted(run.records, key=lambda r: r["started"])
    ]


def since_first(rows: list[list]) -> list[list]:
    """A timeline re-based on its first request."""
    return [[round(t - rows[0][0], 3), *rest] for t, *rest in rows] if rows else []


def run_row(run: Run, records: list[dict] | None = None) -> dict:
    return {
        "name": run.name,
        "seconds": round(run.seconds, 3),
        "returncode": run.returncode,
        "success": run.ok,
        "max_in_flight": run.max_in_flight,
        **counts(run.records if records is None else records),
    }


def tick_result(run: Run) -> dict:
    lines = [ln for ln in run.output.splitlines() if ln.startswith(TICK_PREFIX)]
    return json.loads(lines[-1][len(TICK_PREFIX) :]) if lines else {}


def error_tail(output: str) -> str:
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    return "\n".join(lines[-3:])[-600:]
