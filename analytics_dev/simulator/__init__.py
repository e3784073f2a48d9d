"""A local, deterministic simulator of the Captain Data API v3 (stdlib only).

Tests, the demo and benchmarks run the real client against it over loopback HTTP::

    from analytics_dev.simulator import ApiSimulator, FaultRule, SimulatedData

    with ApiSimulator(SimulatedData(seed=7), envelope="bare", next_style="token") as sim:
        sim.add_fault(FaultRule(r"/results$", times=2, status=429, retry_after=1))
        ...  # point the client at sim.base_url with api key sim.api_key
        assert sim.request_count("/v3/jobs/") > 0

Modes: ``envelope`` "bare" (the real API: bare objects and arrays) or "data" (the spec:
``{"data": ...}`` and wrapped result records); ``next_style`` "token", "url" or "path" for
``paging.next``. On the last results page ``have_next_page`` is false but ``next`` is not null,
as upstream. ``python -m analytics_dev.simulator --help`` runs it as a separate process.
"""

from analytics_dev.simulator.data import SimulatedData
from analytics_dev.simulator.records import FaultRule, RequestRecord
from analytics_dev.simulator.server import ApiSimulator

__all__ = ["ApiSimulator", "FaultRule", "RequestRecord", "SimulatedData"]
