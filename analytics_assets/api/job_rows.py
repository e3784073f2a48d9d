"""Job rows: their types, their version, and the one home of "successful" and "changed".

Pure functions (no I/O): what the source loads, what a re-run skips, what the sensor calls a
change and what the check enforces all read the definitions below.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from analytics_assets.api.errors import AnalyticsApiError

SUCCESS_STATUS = "finished"

# (job uid, workflow uid): a job whose results to load, and the partition its rows belong to.
# (job uid, workflow uid[, total row count]): the count lets the longest jobs start first.
JobRef = tuple[str, str] | tuple[str, str, int | None]


def coerce_count(value: Any, field: str, job_uid: Any) -> int | None:
    """Integers pass; integral floats and digit strings are coerced; anything else fails.

    A count that arrives as "12" must not slip past the successful-jobs filter, and a value
    we cannot read as a count must not be silently treated as zero.
    """
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise AnalyticsApiError(
        f"job {job_uid!r}: field {field!r} is {value!r} ({type(value).__name__}), "
        "not a whole number; refusing to guess whether the job succeeded"
    )


def normalize_job(job: dict[str, Any], workflow_uid: str) -> dict[str, Any]:
    """Attach the workflow uid and make the fields the filter reads well typed."""
    uid = job.get("uid")
    if not uid:
        raise AnalyticsApiError(f"a job of workflow {workflow_uid!r} has no 'uid'")
    status = job.get("status")
    if status is not None and not isinstance(status, str):
        raise AnalyticsApiError(
            f"job {uid!r}: field 'status' is {status!r} ({type(status).__name__}), not a string"
        )
    row = dict(job)
    row["workflow_uid"] = workflow_uid
    row["total_row_count"] = coerce_count(job.get("total_row_count"), "total_row_count", uid)
    if "row_count" in job:
        row["row_count"] = coerce_count(job.get("row_count"), "row_count", uid)
    return row


# dlt keeps the `_dlt_id` an item brings (its scd2 strategy stores row hashes there the same way).
ROW_ID = "_dlt_id"


def with_version(job: dict[str, Any]) -> dict[str, Any]:
    """The job row with a hash of its content as its `_dlt_id`.

    The warehouse then records which version of each job it holds, and a re-run can leave
    out the jobs whose version is already there instead of merging them again.
    """
    content = {key: value for key, value in job.items() if key != ROW_ID}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return {**content, ROW_ID: digest}


def jobs_fingerprint(jobs: list[dict[str, Any]]) -> str:
    """A short digest of one workflow's job versions, order-insensitive: it changes exactly
    when a load would merge something (a new job, or any field of one changed)."""
    versions = sorted(str(job.get(ROW_ID) or with_version(job)[ROW_ID]) for job in jobs)
    return hashlib.sha256("\n".join(versions).encode()).hexdigest()[:12]


# The spec's filter, in Python and in SQL (the check reads the warehouse): null-safe, so a
# null count or status is never "successful".
SUCCESSFUL_SQL = "(COALESCE(total_row_count, 0) > 0 AND COALESCE(status, '') = 'finished')"


def is_successful(job: dict[str, Any]) -> bool:
    """The spec's filter, null-safe: `total_row_count > 0 and status == 'finished'`."""
    count = job.get("total_row_count")
    return job.get("status") == SUCCESS_STATUS and count is not None and count > 0


class StoredJobs:
    """Which versions of some workflows' jobs the warehouse holds, per table.

    Each table maps a row's version (`_dlt_id`, see `with_version`) to the fields the
    successful-jobs filter reads, as stored: a row edited in the warehouse since is loaded
    again rather than trusted.
    """

    def __init__(
        self,
        jobs: Mapping[str, tuple[Any, Any]] | None = None,
        successful_jobs: Mapping[str, tuple[Any, Any]] | None = None,
    ) -> None:
        self.jobs = dict(jobs or {})
        self.successful_jobs = dict(successful_jobs or {})
        self.unchanged = 0

    def holds(self, row: dict[str, Any]) -> bool:
        """Whether every table the row belongs in already holds this version of it."""
        version = row.get(ROW_ID)
        fields = (row.get("status"), row.get("total_row_count"))
        if version is None or self.jobs.get(version) != fields:
            return False
        return not is_successful(row) or self.successful_jobs.get(version) == fields

    def changed(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows to load; counts the others in `unchanged`."""
        kept = [row for row in rows if not self.holds(row)]
        self.unchanged += len(rows) - len(kept)
        return kept
