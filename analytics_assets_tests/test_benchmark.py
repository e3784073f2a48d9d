"""`make bench` at a tiny scale: it runs end to end and counts requests exactly.

The timings are the benchmark's business; what a test can hold it to is that every loader ran
on the same data and that ours made exactly the requests the design promises.
"""

import json
import subprocess
import sys

import pytest

from analytics_assets_tests.conftest import ROOT

ROWS = 3000  # three jobs of 1000 rows: one result page each


def test_bench_runs_every_loader_and_counts_requests(tmp_path):
    out = tmp_path / "bench"
    subprocess.run(
        [sys.executable, "-m", "analytics_assets.benchmark", "--rows", str(ROWS), "--out", out],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads((out / f"bench_{ROWS}.json").read_text())
    runs = {run["name"]: run for run in report["runs"]}
    requests = {name: (run["requests"], run["results_requests"]) for name, run in runs.items()}
    partition = next(name for name in runs if name.startswith("(a) ours: partition "))
    assert requests == {
        # workflows, a jobs list per workflow (the data one and the empty one), 3 result pages
        "(c) floor: pages -> jsonl -> read_json": (6, 3),
        "(a) ours: workspace,workflows": (2, 0),
        partition: (4, 3),  # one jobs request feeds jobs and successful_jobs; 3 result pages
        "(a) ours: empty partition (fixed cost)": (1, 0),
        "(a) ours: no-change re-run": (1, 0),
        # the spec's config lists jobs twice per workflow (jobs, successful_jobs)
        "(b) plain dlt rest_api_source": (9, 3),
    }
    assert report["rerun_results_requests"] == 0
    # The empty partition and the re-run ran 3 times each; the median run is the one reported.
    for name, key in [
        ("(a) ours: empty partition (fixed cost)", "empty_partition_seconds_each"),
        ("(a) ours: no-change re-run", "rerun_seconds_each"),
    ]:
        assert len(report[key]) == 3
        assert runs[name]["seconds"] == sorted(report[key])[1]
    assert all(run["seconds"] > 0 and run["peak_rss_mb"] > 0 for run in report["runs"])
    # The ratios are made of the right runs (the runs' seconds are rounded to 0.01 s).
    plain = runs["(b) plain dlt rest_api_source"]["seconds"]
    ours = runs["(a) ours: workspace,workflows"]["seconds"] + runs[partition]["seconds"]
    assert report["ratio_plain_dlt_over_ours"] == pytest.approx(plain / ours, abs=0.02)
    assert report["ratio_plain_dlt_over_ours_partitions_only"] == pytest.approx(
        plain / runs[partition]["seconds"], abs=0.02
    )
