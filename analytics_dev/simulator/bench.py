"""How fast the simulator serves result rows, so benchmarks know it is not their bottleneck.

    python -m analytics_dev.simulator.bench --rows 1000000 --page-size 100 --envelope bare

One client thread walks every page of every job over one keep-alive connection and parses each
page with ``json.loads``, like a real client. The first pass includes generating the rows and
rendering the pages; the second pass is served from the page cache.
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
from urllib.parse import quote

from analytics_dev.simulator.data import SimulatedData
from analytics_dev.simulator.server import ApiSimulator


def build_data(rows: int, rows_per_job: int, seed: int = 7) -> SimulatedData:
    """A dataset with exactly ``rows`` result rows, in jobs of ``rows_per_job``."""
    data = SimulatedData(seed=seed, workflows=0)
    wf = data.add_workflow()
    while data.total_result_rows() < rows:
        data.add_job(wf["uid"], total_row_count=min(rows_per_job, rows - data.total_result_rows()))
    return data


def walk(sim: ApiSimulator) -> tuple[int, int]:
    """Fetch every result page of every successful job; return (rows, bytes) received."""
    conn = http.client.HTTPConnection("127.0.0.1", sim.port)
    headers = {"x-api-key": sim.api_key} if sim.api_key is not None else {}
    n_rows = n_bytes = 0
    for job in sim.data.all_jobs():
        path = f"/v3/jobs/{quote(job['uid'], safe='')}/results"
        url = path
        while True:
            conn.request("GET", url, headers=headers)
            body = conn.getresponse().read()
            n_bytes += len(body)
            page = json.loads(body)
            n_rows += len(page["results"])
            if not page["paging"]["have_next_page"]:
                break
            url = f"{path}?cursor={quote(page['paging']['next'])}"
    conn.close()
    return n_rows, n_bytes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--rows-per-job", type=int, default=10_000)
    p.add_argument("--page-size", type=int, default=100)
    p.add_argument("--envelope", choices=("bare", "data"), default="bare")
    args = p.parse_args(argv)
    started = time.perf_counter()
    data = build_data(args.rows, args.rows_per_job)
    with ApiSimulator(data, envelope=args.envelope, page_size=args.page_size) as sim:
        for label in ("cold (generate + render + serve)", "warm (page cache)"):
            sim.reset_stats()
            t0 = time.perf_counter()
            n_rows, n_bytes = walk(sim)
            seconds = time.perf_counter() - t0
            server = sim.stats()
            print(
                f"{label}: {n_rows:,} rows, {n_bytes / 1e6:,.0f} MB, {server['requests']:,} "
                f"requests in {seconds:.2f} s = {n_rows / seconds:,.0f} rows/s end to end; "
                f"server busy {server['seconds_serving']:.2f} s "
                f"= {n_rows / server['seconds_serving']:,.0f} rows/s"
            )
    print(f"total including dataset construction: {time.perf_counter() - started:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
