"""Turning API bodies into warehouse rows: envelopes, type coercion, result-row identity.

Pure functions (no I/O) so every rule here is tested directly and shared by all resources.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from analytics_assets.api.client import AnalyticsApiError

SUCCESS_STATUS = "finished"


def unwrap_list(body: Any, endpoint: str) -> list[dict[str, Any]]:
    """Accept the real API's bare array and the spec's `{"data": [...]}`; nothing else."""
    items = body.get("data") if isinstance(body, dict) and "data" in body else body
    if not isinstance(items, list):
        raise AnalyticsApiError(
            f"GET {endpoint} returned neither a JSON array nor an object with a 'data' array "
            f"(got {type(body).__name__} with keys {_keys(body)})",
            endpoint=endpoint,
        )
    for item in items:
        if not isinstance(item, dict):
            raise AnalyticsApiError(
                f"GET {endpoint} returned a list element that is not an object "
                f"({type(item).__name__})",
                endpoint=endpoint,
            )
    return items


def unwrap_workspace(body: Any, endpoint: str) -> dict[str, Any]:
    """Accept a bare object, `{"data": {...}}` or a one-element list; it must have a name."""
    if isinstance(body, dict) and "data" in body and "name" not in body:
        body = body["data"]
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if not isinstance(body, dict) or not body.get("name"):
        raise AnalyticsApiError(
            f"GET {endpoint} did not return a workspace object with a 'name' "
            f"(got {type(body).__name__} with keys {_keys(body)})",
            endpoint=endpoint,
        )
    return body


def _keys(body: Any) -> list[str]:
    return sorted(body)[:8] if isinstance(body, dict) else []


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


# What makes a workflow's jobs "changed" for the sensor: a new job, or a new status, finish
# time or row count. Fingerprinted over normalized rows, so the sensor's check and the run's
# own listing (recorded with its materialization) agree.
JOB_FIELDS = ("uid", "status", "finish_time", "total_row_count")
FINGERPRINT_METADATA = "analytics/jobs_fingerprint"


def jobs_fingerprint(jobs: list[dict[str, Any]]) -> str:
    """A short digest of one workflow's jobs, order-insensitive."""
    rows = sorted(([job.get(f) for f in JOB_FIELDS] for job in jobs), key=str)
    text = json.dumps(rows, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


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


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat()


class ResultRowIdentity:
    """Derives stable `job_result_id`s for one job's raw rows.

    The id hashes the job uid, the row's canonical JSON and how many identical rows came
    before it in this job, so identical rows stay distinct rows and a re-run yields the
    same ids even if the API reorders distinct rows.
    """

    def __init__(self, job_uid: str) -> None:
        self.job_uid = job_uid
        self._seen: Counter[str] = Counter()

    def next_id(self, row: dict[str, Any]) -> str:
        canonical = json.dumps(row, sort_keys=True, separators=(",", ":"), default=str)
        occurrence = self._seen[canonical]
        self._seen[canonical] += 1
        digest = hashlib.md5(
            f"{self.job_uid}\x1f{canonical}\x1f{occurrence}".encode(), usedforsecurity=False
        )
        return digest.hexdigest()


class StagedRows:
    """What one load has staged for `job_results`, so that no key is staged twice.

    The load declares its staged rows free of duplicate keys, and dlt then skips the
    ROW_NUMBER() pass over them that takes most of a merge's time and memory. Generated ids are
    unique by construction (see `ResultRowIdentity`) once each job is read once. Ids the API
    sends are remembered per job (memory bounded by the largest job, not the load), and a
    repeated one is dropped, as the merge's deduplication dropped it before; an API that gave
    two jobs the same row id would be sending an id that is not an id.
    """

    def __init__(self) -> None:
        self._jobs: set[str] = set()
        self._job: str | None = None
        self._sent_ids: set[str] = set()
        self.repeated = 0

    def first_time(self, job_uid: str) -> bool:
        """Whether this job is new to the load (and now counts as staged)."""
        if job_uid in self._jobs:
            return False
        self._jobs.add(job_uid)
        return True

    def fresh(self, job_uid: str, page: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The page's items to stage: all but those repeating an id the API already sent
        for this job (counted in `repeated`)."""
        sent = [item.get("job_result_id") for item in page]
        if not any(sent):
            return page
        if job_uid != self._job:
            self._job, self._sent_ids = job_uid, set()
        ids = [str(i) for i in sent if i]
        if len(ids) == len(page) and len(set(ids)) == len(ids) and self._sent_ids.isdisjoint(ids):
            self._sent_ids.update(ids)  # the usual page: every id sent, none seen before
            return page
        kept = []
        for item, key in zip(page, sent, strict=True):
            if key and str(key) in self._sent_ids:
                self.repeated += 1
                continue
            if key:
                self._sent_ids.add(str(key))
            kept.append(item)
        return kept


def result_record(
    item: dict[str, Any],
    *,
    identity: ResultRowIdentity,
    workflow_uid: str,
    extracted_at: str,
) -> dict[str, Any]:
    """One warehouse row from one element of a results page (raw row or spec-shaped)."""
    spec_shaped = isinstance(item.get("results"), dict) and item.get("job_result_id")
    raw = item["results"] if spec_shaped else item
    result_id = item.get("job_result_id") or identity.next_id(raw)
    return {
        "job_result_id": str(result_id),
        "job_uid": identity.job_uid,
        "workflow_uid": workflow_uid,
        "extracted_at": item.get("extracted_at") or extracted_at,
        "results": raw,
    }
