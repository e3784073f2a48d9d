"""The Dagster wiring: assets, check, sensor, jobs, partitions, resource, translator."""
