"""The report as the bench prints it."""

from __future__ import annotations

from typing import Any


def format_report(report: dict[str, Any]) -> str:
    cfg, data, sides = report["config"], report["data"], report["sides"]
    lines = [
        f"W={cfg['workflows']} workflows, {data['jobs']} jobs ({data['successful_jobs']} "
        f"successful, {data['result_rows_served']} result rows); simulator latency "
        f"{cfg['latency_ms']:g} ms, plan {cfg['rate']:g} req/s, sensor interval "
        f"{cfg['interval']} s",
        f"workflows with a running/pending job: {data['with_active_job']} of "
        f"{data['workflows']} ({data['with_active_job'] / max(data['workflows'], 1):.1%}; the "
        f"generator made {data['with_active_job_generated']}, {data['jobs_changed']} jobs set "
        "to an ended status)",
        "",
        f"{'side':<30}{'s':>8}{'runs':>6}{'req':>7}{'429':>6}{'wf':>5}{'jobs':>6}{'res':>6}  ok",
    ]
    for side in (sides["daemon"], sides["backfill"]):
        sim = side.get("simulator", {})
        lines.append(
            f"{side['name']:<30}{side['seconds'] if side['seconds'] is not None else '-':>8}"
            f"{side.get('runs_launched', '-'):>6}{sim.get('requests', '-'):>7}"
            f"{sim.get('429s', '-'):>6}{sim.get('workflows_requests', '-'):>5}"
            f"{sim.get('jobs_requests', '-'):>6}{sim.get('results_requests', '-'):>6}"
            f"  {'yes' if side['ok'] else 'NO: ' + str(side['error'])[:300]}"
        )
    b, a = sides["backfill"], sides["daemon"]
    if "workspace_seconds" in b:
        lines.append(
            f"(b) = workspace,workflows {b['workspace_seconds']} s + --partition-range "
            f"{b.get('range_seconds', '-')} s"
        )
    if "milestones_seconds" in a:
        m = a["milestones_seconds"]
        lines.append(
            "(a) milestones (s from start): "
            + ", ".join(f"{k} {v}" for k, v in m.items())
            + f"; ticks {a.get('ticks', {}).get('ticks', '-')}, most runs at once "
            f"{a.get('max_concurrent_runs_observed', '-')}"
        )
    for r in a.get("runs", []):
        part = (
            f"partitions {r['partition_positions'][0]}..{r['partition_positions'][1]} "
            f"({r['partitions']})"
            if r["partition_positions"]
            else "no partition"
        )
        lines.append(
            f"    run {r['run_id']} {r['job']:<24} {r['status']:<8} {part:<26} created "
            f"{r['created_at']} started {r['started_at']} ended {r['ended_at']}"
        )
    if "stop" in a:
        s = a["stop"]
        lines.append(
            f"(a) stopped in {s['stop_seconds']} s (exit {s['exit_code']}); killed "
            f"{s['killed'] or 'nothing'}; left running {s['left_running'] or 'nothing'}"
        )
    ratio = report["ratio_daemon_over_backfill"]
    lines.append(
        f"row counts equal: {report['row_counts_equal']} "
        f"({a.get('row_counts')} vs {b.get('row_counts')})"
    )
    lines.append(
        f"(a)/(b) = {ratio if ratio is not None else '-'} (target <= 2): "
        f"{'met' if report['target_met'] else 'NOT met'}"
    )
    if report.get("note"):
        lines.append(report["note"])
    if len(set(report.get("product_versions", []))) > 1:
        lines.append(
            "WARNING: the product changed during the bench (start, after (b), after (a)): "
            f"{report['product_versions']}"
        )
    return "\n".join(lines)
