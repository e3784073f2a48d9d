"""No secret ever appears, whatever its content: bad values of every secret, on every path.

The secrets: the API key (`ANALYTICS_API_KEY`, the resource's `api_key`, dlt's `api_key`),
the rate budget's store (`ANALYTICS_API_RATE_LIMIT_STORE`: a Postgres URL holds a password)
and dlt's destination credentials (`DESTINATION__POSTGRES__CREDENTIALS`).

Each test drives one bad value down one path (settings, an in-process run, the `dagster` CLI,
a sensor tick, an asset check) and then searches everything the product wrote: the exception
(text, repr, traceback), stdout/stderr and log records, every event of every run in the
Dagster instance (serialized as stored, and its repr), and every file under the test's folder,
its name and its bytes (DAGSTER_HOME with its storage and compute logs, the DuckDB warehouse,
dlt's working folders, the working directory).

Every secret is built around random hex markers, split by the malformed part. A marker
never appears legitimately, and it survives any way of showing a string (raw, repr- or
JSON-escaped, URL-encoded): finding one anywhere is a leak, even of half a secret.
"""
