"""Datasets of an exact size for benchmarks: every job finished, every job the same size."""

from __future__ import annotations

from analytics_dev.simulator.data import SimulatedData


def scaled_data(rows: int, workflows: int = 1, rows_per_job: int = 1000, seed: int = 7):
    """Exactly `rows` result rows over `workflows` workflows, in jobs of `rows_per_job` rows.

    A last workflow without jobs is appended: loading it measures a run's fixed cost.
    """
    data = SimulatedData(seed=seed, workflows=0)
    uids = [data.add_workflow()["uid"] for _ in range(max(1, workflows))]
    remaining, i = rows, 0
    while remaining > 0:
        size = min(rows_per_job, remaining)
        data.add_job(uids[i % len(uids)], status="finished", total_row_count=size)
        remaining -= size
        i += 1
    data.add_workflow(name="empty workflow")
    return data


__all__ = ["scaled_data", "SimulatedData"]
