"""The scenarios of `make bench-remote`: the data each loads, its latency and plan, and the
targets they are held to."""

from __future__ import annotations

import math
from dataclasses import dataclass

PAGE_SIZE = 1000

# Targets (see the package docstring).
MAX_RATIO_DATA_PATH_OVER_PHYSICAL = 1.15
MAX_SHARE_429_PACED = 0.02
MAX_SHARE_429_LEARNED = 0.10


@dataclass(frozen=True)
class Data:
    """`--scale-rows rows --workflows workflows --rows-per-job rows_per_job` (+1 empty)."""

    rows: int
    rows_per_job: int
    workflows: int = 1

    def sizes(self) -> list[int]:
        full, rest = divmod(self.rows, self.rows_per_job)
        return [self.rows_per_job] * full + ([rest] if rest else [])

    @property
    def jobs(self) -> int:
        return len(self.sizes())

    @property
    def pages(self) -> int:
        """Result pages of the whole data: each job's rows in pages of PAGE_SIZE."""
        return sum(math.ceil(size / PAGE_SIZE) for size in self.sizes())

    def report(self) -> dict:
        return {
            "rows": self.rows,
            "jobs": self.jobs,
            "rows_per_job": self.rows_per_job,
            "page_size": PAGE_SIZE,
            "result_pages": self.pages,
        }


@dataclass(frozen=True)
class Paced:
    name: str
    latency_ms: float
    rate: float
    data: Data


@dataclass(frozen=True)
class Learned:
    name: str
    latency_ms: float
    plans: tuple[float, ...]
    concurrencies: tuple[int, ...]
    data: Data


Scenario = Paced | Learned


def scenarios(quick: bool, scale: int = 1) -> dict[str, Scenario]:
    """The default sizes (the paced ones times `scale`), or tiny ones for the test (`--quick`:
    a fast plan, 20 ms)."""
    if quick:
        tiny = Data(rows=6000, rows_per_job=2000)  # 3 jobs x 2 pages
        return {
            "paced-200ms-10rps": Paced("paced-200ms-10rps", 20, 20, tiny),
            "paced-50ms-2rps": Paced("paced-50ms-2rps", 20, 20, tiny),
            "learned": Learned("learned", 20, (5,), (4,), Data(8000, 1000)),  # 8 jobs x 1 page
        }
    return {
        # 8 jobs x 10 pages = 80 result pages (issue 23's shape): 8 s at the plan; --scale 5
        # makes it 40 jobs x 10 pages = 400.
        "paced-200ms-10rps": Paced("paced-200ms-10rps", 200, 10, Data(80_000 * scale, 10_000)),
        # The same 80 pages: 40 s at the plan.
        "paced-50ms-2rps": Paced("paced-50ms-2rps", 50, 2, Data(80_000 * scale, 10_000)),
        # 20 jobs x 1 page: jobs are fetched side by side, so a high concurrency can burst.
        "learned": Learned("learned", 50, (1, 2), (1, 4, 16), Data(20_000, 1000)),
    }
