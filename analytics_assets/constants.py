"""Names that form the product's public interface: asset keys, table names, env vars."""

DATASET_NAME = "analytics"
SOURCE_NAME = "analytics"
PARTITIONS_NAME = "workflow_uids"
WAREHOUSE_POOL = "analytics_warehouse"
# Any dlt destination name; credentials come from dlt's own config (env or .dlt/secrets.toml).
DEFAULT_DESTINATION = "duckdb"

WORKSPACE = "workspace"
WORKFLOWS = "workflows"
JOBS = "jobs"
SUCCESSFUL_JOBS = "successful_jobs"
JOB_RESULTS = "job_results"

ENV_BASE_URL = "ANALYTICS_API_BASE_URL"
ENV_API_KEY = "ANALYTICS_API_KEY"
ENV_PROJECT_ID = "ANALYTICS_PROJECT_ID"
ENV_DESTINATION = "ANALYTICS_DESTINATION"
ENV_DUCKDB_PATH = "ANALYTICS_DUCKDB_PATH"
ENV_PIPELINES_DIR = "ANALYTICS_DLT_PIPELINES_DIR"
ENV_MAX_RETRIES = "ANALYTICS_API_MAX_RETRIES"
ENV_BACKOFF_FACTOR = "ANALYTICS_API_BACKOFF_FACTOR"
ENV_MAX_RETRY_DELAY = "ANALYTICS_API_MAX_RETRY_DELAY"
ENV_REQUEST_TIMEOUT = "ANALYTICS_API_REQUEST_TIMEOUT"
ENV_SENSOR_INTERVAL = "ANALYTICS_SENSOR_INTERVAL_SECONDS"
ENV_SENSOR_TICK_BUDGET = "ANALYTICS_SENSOR_TICK_BUDGET_SECONDS"
ENV_SENSOR_MAX_PARTITIONS_PER_RUN = "ANALYTICS_SENSOR_MAX_PARTITIONS_PER_RUN"
ENV_FETCH_CONCURRENCY = "ANALYTICS_API_FETCH_CONCURRENCY"
ENV_RATE_LIMIT = "ANALYTICS_API_RATE_LIMIT"
ENV_RATE_LIMIT_STORE = "ANALYTICS_API_RATE_LIMIT_STORE"
ENV_RATE_LIMIT_TIMEOUT = "ANALYTICS_API_RATE_LIMIT_TIMEOUT"

# The spec's retry rules: retry these statuses at most 3 times, waits 2, 4, 8 s.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_MAX_RETRIES = 3
DEFAULT_BACKOFF_FACTOR = 2.0
DEFAULT_MAX_RETRY_DELAY = 60.0
DEFAULT_REQUEST_TIMEOUT = 30.0
# The most jobs whose result pages are in flight at once; the client picks fewer (about
# rate x round trip + 1) so that it saturates the plan without earning 429s.
DEFAULT_FETCH_CONCURRENCY = 8
MAX_FETCH_CONCURRENCY = 16
# How long one request may keep being answered 429 before the run fails (a 429 is flow
# control: it is waited out, not counted as a retry).
DEFAULT_RATE_LIMIT_TIMEOUT = 600.0
RATE_LIMIT_STORE_FILE = "analytics_rate_budget.sqlite"
