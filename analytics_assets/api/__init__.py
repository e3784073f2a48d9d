"""The API client and the dlt source: plain Python and dlt, no Dagster (a test keeps it so)."""
