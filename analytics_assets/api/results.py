"""Result rows: their stable ids, and staging each key once per load.

Pure functions (no I/O) so every rule here is tested directly.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any


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
        # Keyed by a 16-byte digest of each distinct row, not its text: jobs are now read
        # side by side, and each open job's counter lives until its last page.
        self._seen: Counter[bytes] = Counter()

    def next_id(self, row: dict[str, Any]) -> str:
        canonical = json.dumps(row, sort_keys=True, separators=(",", ":"), default=str)
        key = hashlib.blake2b(canonical.encode(), digest_size=16).digest()
        occurrence = self._seen[key]
        self._seen[key] += 1
        digest = hashlib.md5(
            f"{self.job_uid}\x1f{canonical}\x1f{occurrence}".encode(), usedforsecurity=False
        )
        return digest.hexdigest()


class StagedRows:
    """What one load has staged for `job_results`, so that no key is staged twice.

    The load declares its staged rows free of duplicate keys, and dlt then skips the
    ROW_NUMBER() pass over them that takes most of a merge's time and memory. Generated ids are
    unique by construction (see `ResultRowIdentity`) once each job is read once. Ids the API
    sends are remembered per job until its last page (memory bounded by the jobs being read, not
    the load), and a repeated one is dropped, as the merge's deduplication dropped it before;
    an API that gave two jobs the same row id would be sending an id that is not an id.
    """

    def __init__(self) -> None:
        self._jobs: set[str] = set()
        self._sent_ids: dict[str, set[str]] = {}  # per job still being read
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
        keep = self.fresh_mask(job_uid, [item.get("job_result_id") for item in page])
        return (
            page if keep is None else [item for item, kept in zip(page, keep, strict=True) if kept]
        )

    def fresh_mask(self, job_uid: str, sent: list[Any]) -> list[bool] | None:
        """Which of a page's sent ids (None or "" where an item has none) to stage; None
        when all of them (the usual page)."""
        if not any(sent):
            return None
        seen = self._sent_ids.setdefault(job_uid, set())
        ids = [str(i) for i in sent if i]
        if len(ids) == len(sent) and len(set(ids)) == len(ids) and seen.isdisjoint(ids):
            seen.update(ids)  # the usual page: every id sent, none seen before
            return None
        keep = []
        for key in sent:
            repeated = bool(key) and str(key) in seen
            self.repeated += repeated
            if key:
                seen.add(str(key))
            keep.append(not repeated)
        return keep

    def done(self, job_uid: str) -> None:
        """The job's pages are all read: forget the ids it sent."""
        self._sent_ids.pop(job_uid, None)


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
