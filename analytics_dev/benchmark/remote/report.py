"""The targets of `make bench-remote` and what it prints: each scenario, then the summary."""

from __future__ import annotations

import math

from analytics_dev.benchmark.remote.scenarios import (
    MAX_RATIO_DATA_PATH_OVER_PHYSICAL,
    MAX_SHARE_429_LEARNED,
    MAX_SHARE_429_PACED,
)


def targets(reports: list[dict]) -> list[dict]:
    out = []
    for r in reports:
        if r["kind"] == "paced":
            ratio = r["ratio_data_path_over_physical"]
            share = r["data_run_and_tick"]["share_429"]
            out.append(
                _target(
                    r["scenario"],
                    f"data path / physical limit <= {MAX_RATIO_DATA_PATH_OVER_PHYSICAL:g}",
                    f"{ratio}",
                    ratio is not None and ratio <= MAX_RATIO_DATA_PATH_OVER_PHYSICAL,
                )
            )
            out.append(
                _target(
                    r["scenario"],
                    f"429s / requests, data run + tick <= {MAX_SHARE_429_PACED:.0%}",
                    f"{share:.1%}",
                    share <= MAX_SHARE_429_PACED,
                )
            )
        else:
            ok = sum(1 for run in r["runs"] if run["success"])
            out.append(
                _target(
                    r["scenario"],
                    "every run succeeds",
                    f"{ok}/{len(r['runs'])}",
                    r["all_succeeded"],
                )
            )
            out.append(
                _target(
                    r["scenario"],
                    f"429s / requests <= {MAX_SHARE_429_LEARNED:.0%} (each run; worst shown)",
                    f"{r['max_share_429']:.1%}",
                    r["max_share_429"] <= MAX_SHARE_429_LEARNED,
                )
            )
    return out


def _target(scenario: str, target: str, value: str, met: bool) -> dict:
    return {"scenario": scenario, "target": target, "value": value, "met": bool(met)}


def _print_runs(rows: list[dict]) -> None:
    print(f"{'run':<44}{'s':>8}{'exit':>6}{'req':>6}{'res':>6}{'429':>6}{'429%':>7}{'infl':>6}")
    for row in rows:
        print(
            f"{row['name']:<44}{row['seconds']:>8.2f}{row['returncode']:>6}{row['requests']:>6}"
            f"{row['result_pages']:>6}{row['rate_limited']:>6}{row['share_429']:>7.1%}"
            f"{row['max_in_flight']:>6}"
        )


def _data_line(r: dict) -> str:
    d = r["data"]
    per_job = math.ceil(d["rows_per_job"] / d["page_size"])
    return (
        f"{d['rows']} rows = {d['jobs']} jobs x {per_job} page(s) of {d['page_size']} rows "
        f"({d['result_pages']} result pages)"
    )


def print_paced(r: dict) -> None:
    print(
        f"\n== {r['scenario']}: latency {r['latency_ms']:g} ms, plan {r['plan_rate']:g} req/s, "
        f"ours with ANALYTICS_API_RATE_LIMIT={r['plan_rate']:g}; {_data_line(r)}"
    )
    _print_runs(r["runs"])
    print("(res: result pages answered 200; infl: most requests in flight at the simulator)")
    ratio, together, tick = r["ratio_data_path_over_physical"], r["data_run_and_tick"], r["tick"]
    ratio_ok = ratio is not None and ratio <= MAX_RATIO_DATA_PATH_OVER_PHYSICAL
    share_ok = together["share_429"] <= MAX_SHARE_429_PACED
    print(
        f"physical limit: {r['data_result_pages']} result pages / {r['plan_rate']:g} req/s = "
        f"{r['physical_limit_seconds']:.2f} s"
    )
    print(
        f"data path: data partition {r['data_partition_seconds']:.2f} s - empty partition "
        f"{r['empty_partition_seconds']:.2f} s (median of {r['empty_partition_seconds_each']}) = "
        f"{r['data_path_seconds']:.2f} s; / physical limit = {ratio} "
        f"(target <= {MAX_RATIO_DATA_PATH_OVER_PHYSICAL:g}: {_met(ratio_ok)})"
    )
    print(
        f"429s over the data run + concurrent tick: {together['rate_limited']} / "
        f"{together['requests']} = {together['share_429']:.1%} "
        f"(target <= {MAX_SHARE_429_PACED:.0%}: {_met(share_ok)})"
    )
    print(
        f"sensor tick (started at the data run's {tick['started_at']}): "
        f"{tick['process_seconds']:.2f} s in its process, evaluation "
        f"{_seconds(tick['evaluation_seconds'])}; {tick['requests']} requests "
        f"({tick['rate_limited']} 429s) {tick['paths']}; its first request "
        f"{_seconds(tick['seconds_after_data_run_started'])} after the data run started; "
        f"{tick['run_requests']} run request(s); success {tick['success']}"
    )
    e, d = r["phases"]["empty_partition"], r["phases"]["data_partition"]
    print(
        "where the data run's seconds go (request arrival times at the simulator): "
        f"before its first request {_seconds(d.get('before_first_request'))} (empty run "
        f"{_seconds(e.get('before_first_request'))}); jobs list -> first result page "
        f"{_seconds(d.get('first_request_to_first_result'))}; result pages "
        f"{_seconds(d.get('result_span'))} from first to last (at the plan: "
        f"{(r['data_result_pages'] - 1) / r['plan_rate']:.2f} s; median gap "
        f"{_seconds(d.get('median_gap_between_results'))}; gaps beyond 1/rate add up to "
        f"{_seconds(d.get('result_span_over_pace'))}, "
        f"{_seconds(d.get('last_job_alone_over_pace'))} of them while the last job was fetched "
        f"alone, {d.get('last_job_alone_pages')} page(s) in "
        f"{_seconds(d.get('last_job_alone_seconds'))}); last result page -> exit "
        f"{_seconds(d.get('after_last_result'))} (empty run, last request -> exit "
        f"{_seconds(e.get('after_last_request'))})"
    )
    meta = r["product_metadata"].get("job_results", {})
    if meta:
        print(
            f"ours' job_results metadata: api_requests {meta.get('api_requests')}, "
            f"api_rate_limited {meta.get('api_rate_limited')}, api_rate_wait_seconds "
            f"{meta.get('api_rate_wait_seconds')}, api_effective_rate "
            f"{meta.get('api_effective_rate')}, api_rate_limit {meta.get('api_rate_limit')!r}"
        )
    p = r["plain_dlt"]
    if p is None:
        print("plain dlt: not run (--skip-plain)")
        return
    print(
        f"plain dlt: {p['seconds']:.2f} s, exit {p['returncode']} "
        f"({'success' if p['success'] else 'FAILED'}); {p['requests']} requests, "
        f"{p['result_pages']} result pages, {p['rate_limited']} 429s ({p['share_429']:.1%}); "
        f"data path (first jobs request -> exit) {p['data_path_seconds']:.2f} s / physical "
        f"limit {p['physical_limit_seconds']:.2f} s = {p['ratio_data_path_over_physical']}"
    )
    if p["error_tail"]:
        print(f"plain dlt's last lines:\n{p['error_tail']}")


def print_learned(r: dict) -> None:
    print(
        f"\n== {r['scenario']}: latency {r['latency_ms']:g} ms, nothing configured (the limit is "
        f"learned from 429s); each run a fresh warehouse folder; {_data_line(r)}"
    )
    print(
        f"{r['partitions_registered']} partitions registered in the Dagster instance directly "
        "(as the workspace asset does), so each run's first request is the key's first"
    )
    print(
        f"{'plan':>5}{'conc':>6}{'s':>8}{'ok':>6}{'req':>6}{'res':>6}{'429':>6}{'429%':>7}"
        f"{'infl':>6}{'at plan':>9}  limit the run ended with"
    )
    for row in r["runs"]:
        limit = row["product_metadata"].get("job_results", {}).get("api_rate_limit", "")
        print(
            f"{row['plan_rate']:>5g}{row['fetch_concurrency']:>6}{row['seconds']:>8.2f}"
            f"{'yes' if row['success'] else 'NO':>6}{row['requests']:>6}{row['result_pages']:>6}"
            f"{row['rate_limited']:>6}{row['share_429']:>7.1%}{row['max_in_flight']:>6}"
            f"{row['physical_limit_seconds']:>9.2f}  {limit}"
        )
        at = ", ".join(f"{t:g}" for t in row["rate_limited_at"])
        print(f"{'':>11}429s at {at or '-'} s after the run's first request")
        if row["error_tail"]:
            print(f"  failed:\n{row['error_tail']}")
    print(
        "(at plan: result pages / plan rate; req includes the jobs list; infl: most requests "
        "in flight at the simulator)"
    )
    print(
        f"all succeeded: {r['all_succeeded']}; worst 429 share {r['max_share_429']:.1%}; "
        f"scenario {r['seconds']:.1f} s of commands"
    )


def print_summary(rows: list[dict], seconds: float, quick: bool) -> None:
    print(f"\n== summary{' (--quick sizes)' if quick else ''}; bench {seconds:.1f} s")
    print(f"{'scenario':<20}{'target':<52}{'value':>8}  met")
    for row in rows:
        print(f"{row['scenario']:<20}{row['target']:<52}{row['value']:>8}  {_met(row['met'])}")


def _met(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"
