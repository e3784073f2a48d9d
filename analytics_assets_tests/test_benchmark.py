"""`make bench` at a tiny scale: it runs end to end and counts requests exactly.

The timings are the benchmark's business; what a test can hold it to is that every loader ran
on the same data and that ours made exactly the requests the design promises.
"""

import pytest
from dagster import AssetKey, materialize

from analytics_assets.defs.partitions import range_tags
from analytics_assets_tests.support import run_bench
from analytics_dev.benchmark.dagster_floor import FLOOR_ASSETS, dagster_floor

pytestmark = pytest.mark.benchmark

ROWS = 3000  # three jobs of 1000 rows: one result page each


def test_bench_runs_every_loader_and_counts_requests(tmp_path):
    report = run_bench(
        tmp_path, "analytics_dev.benchmark", "--rows", str(ROWS), report=f"bench_{ROWS}.json"
    )
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


def test_bench_backfill_runs_ours_and_the_dagster_floor_on_the_same_partitions(tmp_path):
    report = run_bench(
        tmp_path,
        "analytics_dev.benchmark.backfill",
        *("--workflows", "3", "--rows-per-workflow", "10"),
        report="bench_backfill_3_sqlite.json",
    )
    runs = {run["name"]: run for run in report["runs"]}
    assert {name: (run["requests"], run["results_requests"]) for name, run in runs.items()} == {
        "backfill: 3 partition(s)": (6, 3),  # a jobs list and one result page per workflow
        "one partition: 1 partition(s)": (4, 3),  # the same 30 rows: 3 jobs of 10 rows
        "Dagster floor: 3 partition(s)": (0, 0),  # no-op assets: the API is not asked
        "Dagster floor: 1 partition(s)": (0, 0),
    }
    seconds = {name: run["seconds"] for name, run in runs.items()}
    ours = seconds["backfill: 3 partition(s)"] - seconds["one partition: 1 partition(s)"]
    floor = seconds["Dagster floor: 3 partition(s)"] - seconds["Dagster floor: 1 partition(s)"]
    assert report["overhead_ms_per_extra_partition"] == pytest.approx(ours / 2 * 1000, abs=10)
    assert report["dagster_floor_ms_per_extra_partition"] == pytest.approx(floor / 2 * 1000, abs=10)
    assert report["ours_ms_per_extra_partition_above_floor"] == pytest.approx(
        report["overhead_ms_per_extra_partition"] - report["dagster_floor_ms_per_extra_partition"],
        abs=0.2,
    )


def test_the_dagster_floor_records_what_ours_records_per_partition(instance):
    keys = ["w1", "w2", "w3"]
    instance.add_dynamic_partitions("workflow_uids", keys)
    assert materialize([dagster_floor], instance=instance, tags=range_tags("w1", "w3")).success
    assert len(instance.get_runs()) == 1
    for asset in FLOOR_ASSETS:
        records = instance.fetch_materializations(AssetKey(asset), limit=10).records
        counts = {
            r.asset_materialization.partition: r.asset_materialization.metadata[
                "dagster/partition_row_count"
            ].value
            for r in records
        }
        assert counts == {"w1": 0, "w2": 0, "w3": 0}
