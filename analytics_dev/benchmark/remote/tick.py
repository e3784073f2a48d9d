"""One evaluation of the product's sensor in this process (`remote --sensor-tick`): the tick
a paced scenario runs beside its data run."""

from __future__ import annotations

import json
import time

from analytics_dev.benchmark.remote.counting import TICK_PREFIX


def sensor_tick() -> int:
    """One evaluation of `workflow_refresh_sensor` in this process, as the daemon would run it
    (its SensorResult is printed, not applied). Settings come from ANALYTICS_* as in runs."""
    started = time.monotonic()
    from dagster import DagsterInstance, SensorResult, build_sensor_context

    from analytics_assets.definitions import defs as shipped
    from analytics_assets.defs.resources import AnalyticsApiResource

    imported = time.monotonic()
    with DagsterInstance.get() as instance:
        context = build_sensor_context(
            instance=instance, resources={"analytics_api": AnalyticsApiResource()}
        )
        result = shipped.resolve_sensor_def("workflow_refresh_sensor")(context)
    done = time.monotonic()
    assert isinstance(result, SensorResult)
    report = {
        "import_seconds": round(imported - started, 3),
        "evaluation_seconds": round(done - imported, 3),
        "run_requests": len(result.run_requests or []),
    }
    print(TICK_PREFIX + json.dumps(report), flush=True)
    return 0
