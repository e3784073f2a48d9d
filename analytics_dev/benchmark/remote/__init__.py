"""`make bench-remote`: ours and plain dlt against a remote-like API that enforces a plan's rate.

    python -m analytics_dev.benchmark.remote [--scenarios a,b] [--quick] [--out bench_results]

Each scenario gets its own simulator (`--latency-ms`, `--rate-limit`), DAGSTER_HOME and DuckDB
folder; every request stays on loopback.

- paced-200ms-10rps, paced-50ms-2rps: 8 jobs x 10 result pages of 1,000 rows (`--scale 5`:
  40 jobs, 400 pages), ours with `ANALYTICS_API_RATE_LIMIT` set to the plan.
  The workspace command, the empty partition (the fixed cost, the median of --repeat runs),
  then the data partition while one sensor tick runs in another process on the same key and
  budget. The tick starts once the data run's first request has been answered (`--tick-at
  first-request`; `launch` starts it with the run, when its requests end before the run's
  first). The data path (data run - empty run) is compared with the physical limit (result
  pages / plan rate). Then plain dlt (benchmark/baseline.py) under the same limit, unless
  `--skip-plain`.
- learned: nothing configured; for each plan and ANALYTICS_API_FETCH_CONCURRENCY, a fresh
  warehouse folder (so nothing is learned beforehand) loads one partition; the partitions are
  registered once in the Dagster instance, as the workspace asset does, with no request.

Requests are told apart by the simulator's request log: the CLI runs send
`ANALYTICS_PROJECT_ID=bench-run`, the tick `bench-sensor-tick` (the simulator checks no project;
the budget and the simulator's bucket are per API key, so the label changes nothing else).
"""
