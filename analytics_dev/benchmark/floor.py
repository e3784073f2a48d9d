"""(c) The floor: fetch every page, write newline-delimited JSON, one DuckDB `read_json`.

    python -m analytics_dev.benchmark.floor BASE_URL DUCKDB_PATH WORK_DIR

No retries, no schema, no merge: the least work that lands the same result rows.
"""

import json
import os
import sys
from pathlib import Path
from urllib.parse import quote

import duckdb
import requests


def _list(body):
    return body["data"] if isinstance(body, dict) and "data" in body else body


def main() -> int:
    base_url, db_path, work_dir = sys.argv[1:4]
    session = requests.Session()
    session.headers["x-api-key"] = os.environ["BENCH_API_KEY"]
    out = Path(work_dir) / "job_results.jsonl"
    with out.open("w") as sink:
        for workflow in _list(session.get(f"{base_url}/v3/workflows").json()):
            jobs_url = f"{base_url}/v3/workflows/{quote(workflow['uid'], safe='')}/jobs"
            for job in _list(session.get(jobs_url).json()):
                if job.get("status") != "finished" or not (job.get("total_row_count") or 0) > 0:
                    continue
                url = f"{base_url}/v3/jobs/{quote(job['uid'], safe='')}/results"
                params: dict = {}
                while True:
                    body = session.get(url, params=params).json()
                    for row in body["results"]:
                        sink.write(json.dumps({**row, "job_uid": job["uid"]}) + "\n")
                    if not body["paging"]["have_next_page"]:
                        break
                    params = {"cursor": body["paging"]["next"]}
    with duckdb.connect(db_path) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        con.execute(
            "CREATE OR REPLACE TABLE analytics.job_results AS "
            f"SELECT * FROM read_json('{out}', format = 'newline_delimited')"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
