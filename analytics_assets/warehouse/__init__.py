"""The warehouse: dlt pipelines, the DuckDB writer lock, and the queries runs make."""
