"""The code location's single entry point: every asset, check, job, sensor and resource."""

import gc

from dagster import Definitions, in_process_executor

from analytics_assets.defs.factory import build_definitions

defs = Definitions.merge(
    build_definitions(),
    # A partition run is three sequential, I/O-bound steps: a subprocess per step (the
    # multiprocess default) only adds an import of Dagster and dlt to each of them.
    Definitions(executor=in_process_executor),
)

# Importing Dagster, dlt and pyarrow leaves ~180,000 objects the collector tracks for the
# life of the process; frozen, no full collection walks them again (every `dagster` command
# starts about a second sooner).
gc.freeze()
