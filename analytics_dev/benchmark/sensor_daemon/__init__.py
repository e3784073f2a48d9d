"""The sensor as users run it: `dagster dev` from an empty instance to every partition loaded,
against one single-run backfill of the same partitions.

    python -m analytics_dev.benchmark.sensor_daemon [--workflows 1000] [--rate 5]
        [--latency-ms 50] [--interval 30] [--out bench_results]

Both sides get the same simulated data, each on a fresh simulator process (rate-limited plan
`--rate-limit RATE`, `ANALYTICS_API_RATE_LIMIT=RATE`), a fresh DAGSTER_HOME holding the
shipped `dagster_home/dagster.yaml` and a fresh DuckDB folder. About one workflow in 20 keeps
a running or pending job (the simulator's own mix has about one in four: the others' active
jobs are set to an ended status through `/_sim/mutate` before the clock starts).

(b) one single-run backfill, measured first since its time bounds the other's: `dagster asset
    materialize` for `workspace,workflows`, then for the per-workflow assets over
    `--partition-range first...last` of the registered partitions.
(a) daemon-driven: `dagster dev` (webserver and daemon) with the sensor running by default
    every `--interval` s; the clock runs from its start until every partition of
    `job_results` has a materialization and no run is queued or in flight (the instance is
    polled read-only from here every 2 s). Then it is stopped with SIGINT to its process
    group, as Ctrl-C does, and no process of its session may be left.

Target: (a) <= 2 x (b). Every wait is bounded by `--timeout` (whole bench, default 30 min);
past it the report says what was done so far.
"""
