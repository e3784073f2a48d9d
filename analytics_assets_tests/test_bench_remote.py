"""`make bench-remote` at a tiny scale (`--quick`: 20 ms, a 20 req/s plan, a few pages).

As in test_benchmark.py, durations are the benchmark's business: the test holds it to the
requests every run made, to every learned-limit run succeeding, and to ratios made of the
runs they name.
"""

import pytest

from analytics_assets_tests.support import run_bench

pytestmark = pytest.mark.benchmark

PAGES = 6  # quick paced data: 3 jobs x 2 pages of 1000 rows
LEARNED_PAGES = 8  # quick learned data: 8 jobs x 1 page


def _answered(run: dict) -> tuple[int, int]:
    """(requests answered other than 429, result pages answered 200)."""
    return run["requests"] - run["rate_limited"], run["result_pages"]


def test_bench_remote_quick_counts_requests_and_derives_its_ratios(tmp_path):
    # One test, not several on a module fixture: pytest-xdist would run the bench per worker.
    report = run_bench(
        tmp_path,
        "analytics_dev.benchmark.remote",
        *("--quick", "--scenarios", "paced-200ms-10rps,learned"),
        report="bench_remote.json",
    )
    _check_paced_requests(report)
    _check_paced_ratios(report)
    _check_learned(report)
    _check_summary(report)


def _check_paced_requests(report: dict) -> None:
    assert report["quick"] is True
    paced = next(s for s in report["scenarios"] if s["scenario"] == "paced-200ms-10rps")
    assert (paced["latency_ms"], paced["plan_rate"]) == (20, 20)
    assert paced["data"]["result_pages"] == PAGES
    runs = {run["name"]: run for run in paced["runs"]}
    assert {name: _answered(run) for name, run in runs.items()} == {
        "ours: workspace,workflows": (2, 0),
        "ours: empty partition (fixed cost)": (1, 0),  # the empty workflow's jobs list
        "ours: data partition": (1 + PAGES, PAGES),  # its jobs list, then every result page
        "sensor tick (other process)": (paced["tick"]["requests"], 0),
        # workspace, workflows, two jobs lists per workflow (the data one, the empty one)
        "plain dlt rest_api_source": (2 + 4 + PAGES, PAGES),
    }
    assert all(run["success"] for run in runs.values())
    assert paced["data_result_pages"] == PAGES
    tick = paced["tick"]
    assert tick["success"] and "/v3/workflows" in tick["paths"]
    assert tick["requests"] == len(tick["paths"])
    # The window of the data run and the tick is exactly their two sets of requests.
    data, together = runs["ours: data partition"], paced["data_run_and_tick"]
    assert together["requests"] == data["requests"] + tick["requests"]
    assert together["rate_limited"] == data["rate_limited"] + tick["rate_limited"]
    # Every 429 the simulator sent was counted by the product, and every request.
    meta = paced["product_metadata"]
    assert sum(meta[a]["api_requests"] for a in ("jobs", "job_results")) == data["requests"]
    assert (
        sum(meta[a]["api_rate_limited"] for a in ("jobs", "job_results")) == (data["rate_limited"])
    )
    assert meta["job_results"]["api_rate_limit"].startswith("20 requests/s, configured")


def _check_paced_ratios(report: dict) -> None:
    """Each ratio, recomputed from the raw numbers of the runs it is made of."""
    paced = next(s for s in report["scenarios"] if s["scenario"] == "paced-200ms-10rps")
    runs = {run["name"]: run for run in paced["runs"]}
    data = runs["ours: data partition"]["seconds"]
    empty = runs["ours: empty partition (fixed cost)"]["seconds"]  # --quick: one run
    assert paced["empty_partition_seconds_each"] == [empty]
    physical = PAGES / paced["plan_rate"]
    assert paced["physical_limit_seconds"] == pytest.approx(physical, abs=1e-3)
    assert paced["data_path_seconds"] == pytest.approx(data - empty, abs=0.002)
    assert paced["ratio_data_path_over_physical"] == pytest.approx(
        (data - empty) / physical, abs=0.02
    )
    together = paced["data_run_and_tick"]
    assert together["share_429"] == pytest.approx(
        together["rate_limited"] / together["requests"], abs=1e-4
    )
    plain = paced["plain_dlt"]
    assert plain["success"] and plain["returncode"] == 0
    assert plain["physical_limit_seconds"] == pytest.approx(physical, abs=1e-3)
    assert plain["ratio_data_path_over_physical"] == pytest.approx(
        plain["data_path_seconds"] / physical, abs=0.005
    )
    assert plain["data_path_seconds"] <= plain["seconds"]


def _check_learned(report: dict) -> None:
    learned = next(s for s in report["scenarios"] if s["scenario"] == "learned")
    assert learned["ours_env"] == {"ANALYTICS_API_RATE_LIMIT": None}
    assert learned["data"]["result_pages"] == LEARNED_PAGES
    assert learned["runs"] and learned["all_succeeded"] is True
    for run in learned["runs"]:
        assert run["success"] and run["fresh_warehouse_folder"]
        assert _answered(run) == (1 + LEARNED_PAGES, LEARNED_PAGES)
        assert run["share_429"] == pytest.approx(run["rate_limited"] / run["requests"], abs=1e-4)
        meta = run["product_metadata"]
        assert (
            sum(meta[a]["api_rate_limited"] for a in ("jobs", "job_results"))
            == (run["rate_limited"])
        )
    assert learned["max_share_429"] == max(run["share_429"] for run in learned["runs"])


def _check_summary(report: dict) -> None:
    rows = [(row["scenario"], row["target"]) for row in report["summary"]]
    assert rows == [
        ("paced-200ms-10rps", "data path / physical limit <= 1.15"),
        ("paced-200ms-10rps", "429s / requests, data run + tick <= 2%"),
        ("learned", "every run succeeds"),
        ("learned", "429s / requests <= 10% (each run; worst shown)"),
    ]
    paced = report["scenarios"][0]
    assert report["summary"][0]["met"] == (paced["ratio_data_path_over_physical"] <= 1.15)
    assert report["summary"][2]["met"] is True
    assert set(report["tree"]) == {"commit", "modified"}


def test_bench_remote_skip_plain_runs_ours_only(tmp_path):
    (paced,) = run_bench(
        tmp_path,
        "analytics_dev.benchmark.remote",
        *("--quick", "--scenarios", "paced-50ms-2rps", "--skip-plain"),
        report="bench_remote.json",
    )["scenarios"]
    assert paced["plain_dlt"] is None
    assert [run["name"] for run in paced["runs"]] == [
        "ours: workspace,workflows",
        "ours: empty partition (fixed cost)",
        "ours: data partition",
        "sensor tick (other process)",
    ]
    assert paced["data_result_pages"] == PAGES
