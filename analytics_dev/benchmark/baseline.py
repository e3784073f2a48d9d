"""(b) The spec's plain dlt `rest_api_source`, default settings: what users would write.

    python -m analytics_dev.benchmark.baseline BASE_URL DUCKDB_PATH PIPELINES_DIR

The key comes from BENCH_API_KEY. `has_more_path` is the one change from the spec: without it
dlt's cursor paginator never stops on this API (it always sends `paging.next`).
"""

import os
import sys

import dlt
from dlt.sources.rest_api import rest_api_source
from dlt.sources.rest_api.typing import PaginatorConfig


def _successful(job: dict) -> bool:
    return job.get("status") == "finished" and (job.get("total_row_count") or 0) > 0


def spec_source(base_url: str, api_key: str):
    single: PaginatorConfig = {"type": "single_page"}
    return rest_api_source(
        {
            "client": {
                "base_url": base_url,
                "auth": {"type": "api_key", "name": "x-api-key", "api_key": api_key},
            },
            "resource_defaults": {"write_disposition": "merge"},
            "resources": [
                {
                    "name": "workspace",
                    "primary_key": "name",
                    "endpoint": {
                        "path": "/v3/workspace",
                        "data_selector": "data",
                        "paginator": single,
                    },
                },
                {
                    "name": "workflows",
                    "primary_key": "uid",
                    "endpoint": {
                        "path": "/v3/workflows",
                        "data_selector": "data",
                        "paginator": single,
                    },
                },
                {
                    "name": "jobs",
                    "primary_key": "uid",
                    "endpoint": {
                        "path": "/v3/workflows/{resources.workflows.uid}/jobs",
                        "data_selector": "data",
                        "paginator": single,
                    },
                },
                {
                    "name": "successful_jobs",
                    "primary_key": "uid",
                    "endpoint": {
                        "path": "/v3/workflows/{resources.workflows.uid}/jobs",
                        "data_selector": "data",
                        "paginator": single,
                    },
                    "processing_steps": [{"filter": _successful}],
                },
                {
                    "name": "job_results",
                    "primary_key": "job_result_id",
                    "endpoint": {
                        "path": "/v3/jobs/{resources.successful_jobs.uid}/results",
                        "data_selector": "results",
                        "paginator": {
                            "type": "cursor",
                            "cursor_path": "paging.next",
                            "cursor_param": "cursor",
                            "has_more_path": "paging.have_next_page",
                        },
                    },
                },
            ],
        }
    )


def main() -> int:
    base_url, db_path, pipelines_dir = sys.argv[1:4]
    pipeline = dlt.pipeline(
        pipeline_name="bench_plain_dlt",
        destination=dlt.destinations.duckdb(db_path),
        dataset_name="analytics",
        pipelines_dir=pipelines_dir,
    )
    info = pipeline.run(spec_source(base_url, os.environ["BENCH_API_KEY"]))
    info.raise_on_failed_jobs()
    return 0


if __name__ == "__main__":
    sys.exit(main())
