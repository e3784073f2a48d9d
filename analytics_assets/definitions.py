"""The code location's single entry point: every asset, check, job, sensor and resource.

What only this process wants (it runs nothing but this code location) is set here, never in
the library other projects import: Arrow's allocator and the frozen import.
"""

import gc
import os

# Arrow's C++ default allocator, chosen once when pyarrow first allocates (nothing imports it
# before this line). jemalloc, its default, keeps what a load frees for reuse, raising a big
# load's peak memory for no speed. Whoever sets the variable first wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

from dagster import Definitions, in_process_executor  # noqa: E402

from analytics_assets.defs.factory import build_definitions  # noqa: E402

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
