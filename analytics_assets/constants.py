"""Names that form the product's public interface: asset keys, table names, the pool.

A prefixed instance (see `defs/names.py`) derives its own names from these; what each API
resource is in Dagster is declared in `defs/declared.py`; settings and their environment
variables in `settings/declared.py`.
"""

DATASET_NAME = "analytics"
SOURCE_NAME = "analytics"
PARTITIONS_NAME = "workflow_uids"
# Shared by every instance on one warehouse: DuckDB takes one writer per file.
WAREHOUSE_POOL = "analytics_warehouse"

WORKSPACE = "workspace"
WORKFLOWS = "workflows"
JOBS = "jobs"
SUCCESSFUL_JOBS = "successful_jobs"
JOB_RESULTS = "job_results"
