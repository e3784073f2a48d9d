"""`make bench`: our Dagster materialization vs plain dlt vs a hand-written floor, one run."""
