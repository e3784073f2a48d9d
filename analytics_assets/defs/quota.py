"""`quota_forecast`: when does the plan's monthly quota run out at this month's burn rate?

Computed from the workspace row a run just loaded, at the instance's clock; no request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue

DAY = 86400.0


@dataclass(frozen=True)
class Quota:
    """The quota fields of one workspace row, parsed; None where the API sent none."""

    tasks_max: int | None
    tasks_used: int | None
    tasks_left: int | None
    start: datetime | None
    end: datetime | None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Quota:
        used, most = _int(row.get("tasks_used")), _int(row.get("tasks_max"))
        left = _int(row.get("tasks_left"))
        if left is None and used is not None and most is not None:
            left = max(0, most - used)
        start, end = _time(row.get("current_month_start")), _time(row.get("current_month_end"))
        return cls(most, used, left, start, end)


def quota_forecast(row: Mapping[str, Any] | None, now: datetime) -> AssetCheckResult:
    """The check's result: ERROR when no task is left, WARN when the burn rate exhausts the
    quota before the period ends, else a pass; a pass saying why when it cannot forecast."""
    if row is None:
        return _unforecast(
            "this run loaded no workspace row (see its log: a /v3/workspace that stays rate "
            "limited keeps the last row)",
            {},
        )
    quota = Quota.of(row)
    known = _known(quota)
    if quota.tasks_left == 0:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            metadata=known,
            description=(
                f"The quota is exhausted: 0 of {quota.tasks_max} tasks left"
                f"{_until(quota.end)}. New jobs are shut down and running jobs pause until "
                "the quota resets or the plan is upgraded."
            ),
        )
    why = _why_not(quota, now)
    if why:
        return _unforecast(why, known)
    return _forecast(quota, now, known)


def _forecast(quota: Quota, now: datetime, known: dict[str, Any]) -> AssetCheckResult:
    assert quota.start and quota.end and quota.tasks_used is not None and quota.tasks_left
    elapsed_days = max((now - quota.start).total_seconds(), 1.0) / DAY
    burn = quota.tasks_used / elapsed_days
    metadata = {**known, "burn_rate_per_day": MetadataValue.float(round(burn, 2))}
    if burn == 0:
        return AssetCheckResult(
            passed=True,
            metadata=metadata,
            description="No task used yet this period: nothing to project.",
        )
    exhausted = now + timedelta(days=quota.tasks_left / burn)
    # Days the quota outlasts the period: negative when it runs out before the end.
    margin = _days(exhausted - quota.end)
    metadata["projected_exhaustion"] = MetadataValue.text(exhausted.date().isoformat())
    metadata["days_of_margin"] = MetadataValue.float(margin)
    rate = f"{burn:.1f} tasks/day"
    if exhausted < quota.end:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.WARN,
            metadata=metadata,
            description=(
                f"At {rate}, the {quota.tasks_left} tasks left run out on "
                f"{exhausted.date().isoformat()}, {-margin:.1f} days before the period ends "
                f"({quota.end.date().isoformat()}): slow the workflows down or upgrade the plan."
            ),
        )
    return AssetCheckResult(
        passed=True,
        metadata=metadata,
        description=(
            f"At {rate}, the {quota.tasks_left} tasks left last until "
            f"{exhausted.date().isoformat()}, {margin:.1f} days past the period's end."
        ),
    )


def _why_not(quota: Quota, now: datetime) -> str:
    """Why the fields allow no forecast ('' when they do)."""
    if quota.start is None or quota.end is None:
        return "the workspace row has no billing period (current_month_start/end)"
    if quota.end <= quota.start:
        return "the billing period ends before it starts"
    if quota.start > now:
        return f"the billing period starts in the future ({quota.start.isoformat()})"
    if quota.end <= now:
        return (
            f"the billing period ended ({quota.end.isoformat()}); the next load shows the new one"
        )
    if not quota.tasks_max:
        return "tasks_max is missing or 0"
    if quota.tasks_used is None or quota.tasks_used < 0 or quota.tasks_left is None:
        return "tasks_used or tasks_left is missing or negative"
    return ""


def _unforecast(why: str, known: dict[str, Any]) -> AssetCheckResult:
    return AssetCheckResult(passed=True, metadata=known, description=f"No forecast: {why}.")


def _known(quota: Quota) -> dict[str, Any]:
    """tasks_left and tasks_max, when the row has them."""
    fields = {"tasks_left": quota.tasks_left, "tasks_max": quota.tasks_max}
    return {k: MetadataValue.int(v) for k, v in fields.items() if v is not None}


def _until(end: datetime | None) -> str:
    return f" until the period ends ({end.date().isoformat()})" if end else ""


def _days(delta: timedelta) -> float:
    return round(delta.total_seconds() / DAY, 1)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
