"""A Dagster code location loading the Captain Data API v3 into a warehouse through dlt."""

import os

# Arrow's C++ default allocator, chosen once when pyarrow first allocates (nothing imports it
# before this package). jemalloc, its default, keeps what a load frees for reuse: at 1M result
# rows the partition command peaked at 409 MB with it and 364 MB with the C library's malloc,
# and was no slower (one bench run each). Whoever sets the variable first wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
