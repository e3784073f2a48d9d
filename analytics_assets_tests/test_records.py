"""Row shaping rules, as pure functions: envelopes, coercion, the filter, result identity."""

import hashlib

import pytest

from analytics_assets.api.client import AnalyticsApiError
from analytics_assets.api.envelopes import unwrap_list, unwrap_workspace
from analytics_assets.api.job_rows import (
    ROW_ID,
    StoredJobs,
    coerce_count,
    is_successful,
    normalize_job,
    with_version,
)
from analytics_assets.api.results import ResultRowIdentity, StagedRows, result_record


def test_lists_arrive_bare_or_in_a_data_envelope():
    assert unwrap_list([{"uid": "a"}], "/x") == [{"uid": "a"}]
    assert unwrap_list({"data": [{"uid": "a"}]}, "/x") == [{"uid": "a"}]
    assert unwrap_list({"data": []}, "/x") == []


@pytest.mark.parametrize("body", [{"unexpected": True}, "text", [1, 2], {"data": {"a": 1}}])
def test_a_body_without_a_list_of_objects_is_an_error_naming_the_endpoint(body):
    with pytest.raises(AnalyticsApiError, match="/v3/workflows"):
        unwrap_list(body, "/v3/workflows")


def test_workspace_arrives_bare_wrapped_or_as_a_one_element_list():
    ws = {"name": "acme", "tasks_left": 3}
    assert unwrap_workspace(ws, "/w") == ws
    assert unwrap_workspace({"data": ws}, "/w") == ws
    assert unwrap_workspace([ws], "/w") == ws
    with pytest.raises(AnalyticsApiError, match="'name'"):
        unwrap_workspace({"data": {"email": "x"}}, "/w")


@pytest.mark.parametrize(("raw", "value"), [(5, 5), ("12", 12), (3.0, 3), (None, None)])
def test_counts_are_coerced_only_when_unambiguous(raw, value):
    assert coerce_count(raw, "total_row_count", "j") == value


@pytest.mark.parametrize("raw", ["abc", 3.5, True, [], "1e3"])
def test_unreadable_counts_fail_naming_job_and_field(raw):
    with pytest.raises(AnalyticsApiError, match="job 'j1': field 'total_row_count'"):
        coerce_count(raw, "total_row_count", "j1")


def test_normalize_job_adds_the_workflow_and_rejects_a_numeric_status():
    assert normalize_job({"uid": "j", "total_row_count": "4"}, "w") == {
        "uid": "j",
        "total_row_count": 4,
        "workflow_uid": "w",
    }
    with pytest.raises(AnalyticsApiError, match="'status'"):
        normalize_job({"uid": "j", "status": 5}, "w")


@pytest.mark.parametrize(
    ("status", "count", "expected"),
    [
        ("finished", 5, True),
        ("finished", 0, False),
        ("finished", None, False),
        ("warning", 5, False),
        (None, 5, False),
        ("completed", 5, False),
    ],
)
def test_successful_means_finished_with_rows_and_is_null_safe(status, count, expected):
    assert is_successful({"status": status, "total_row_count": count}) is expected


def test_a_string_count_passes_the_filter_after_normalizing():
    job = normalize_job({"uid": "j", "status": "finished", "total_row_count": "12"}, "w")
    assert is_successful(job)


def test_identical_rows_get_distinct_ids_that_repeat_on_a_rerun():
    rows = [{"a": 1}, {"a": 1}, {"b": 2}]
    first = [ResultRowIdentity("job").next_id(r) for r in rows[:1]]
    identity = ResultRowIdentity("job")
    ids = [identity.next_id(r) for r in rows]
    again = ResultRowIdentity("job")
    assert ids == [again.next_id(r) for r in rows]
    assert len(set(ids)) == 3 and ids[0] == first[0]
    other = ResultRowIdentity("other-job")
    assert other.next_id(rows[0]) != ids[0]
    reordered = ResultRowIdentity("job")
    assert reordered.next_id({"b": 2}) == ids[2]


def test_the_ids_are_those_warehouses_already_hold():
    # The formula is a stored contract: a re-run must find the ids an earlier load wrote.
    rows = [{"b": 2, "a": "é"}, {"a": "é", "b": 2}]
    identity = ResultRowIdentity("job")
    canonical = '{"a":"\\u00e9","b":2}'
    assert [identity.next_id(r) for r in rows] == [
        hashlib.md5(f"job\x1f{canonical}\x1f{n}".encode(), usedforsecurity=False).hexdigest()
        for n in (0, 1)
    ]


def test_result_record_keeps_sent_ids_and_wraps_raw_rows():
    identity = ResultRowIdentity("job")
    spec = {"job_result_id": "r1", "extracted_at": "2024-01-01T00:00:00", "results": {"a": 1}}
    assert result_record(spec, identity=identity, workflow_uid="w", extracted_at="now") == {
        "job_result_id": "r1",
        "job_uid": "job",
        "workflow_uid": "w",
        "extracted_at": "2024-01-01T00:00:00",
        "results": {"a": 1},
    }
    raw = result_record({"a": 1}, identity=identity, workflow_uid="w", extracted_at="now")
    assert raw["results"] == {"a": 1} and raw["extracted_at"] == "now"
    assert raw["job_result_id"] == ResultRowIdentity("job").next_id({"a": 1})


def test_a_job_version_is_a_hash_of_its_content_and_nothing_else():
    job = {"uid": "j", "status": "running", "configuration": {"b": 1, "a": [2]}}
    version = with_version(job)[ROW_ID]
    assert with_version({**job, ROW_ID: "random"})[ROW_ID] == version  # its own id left out
    assert with_version(dict(reversed(list(job.items()))))[ROW_ID] == version  # key order
    assert with_version({**job, "status": "finished"})[ROW_ID] != version
    assert with_version({**job, "configuration": {"b": 1, "a": [3]}})[ROW_ID] != version
    assert len(version) == 32


def _row(status: str, count: int | None) -> dict:
    return with_version({"uid": "j", "status": status, "total_row_count": count})


def test_stored_jobs_hold_a_version_only_where_each_table_has_it_as_loaded():
    done, running = _row("finished", 4), _row("running", None)
    both = {done[ROW_ID]: ("finished", 4), running[ROW_ID]: ("running", None)}
    stored = StoredJobs(jobs=both, successful_jobs={done[ROW_ID]: ("finished", 4)})
    assert stored.changed([done, running]) == []
    assert stored.unchanged == 2
    # A successful job missing from successful_jobs is loaded again (into both tables).
    assert StoredJobs(jobs=both).changed([done, running]) == [done]
    # A new version (the job moved on) is loaded.
    assert stored.changed([_row("finished", 5)]) == [_row("finished", 5)]
    # A row edited in the warehouse since it was loaded is loaded again, not trusted.
    edited = StoredJobs(jobs={done[ROW_ID]: ("stopped", 4)}, successful_jobs=both)
    assert edited.changed([done]) == [done]
    assert StoredJobs().changed([running]) == [running]
    assert stored.unchanged == 2


def _sent(*ids: str) -> list[dict]:
    return [{"job_result_id": i, "results": {"n": n}} for n, i in enumerate(ids)]


def test_staged_rows_drop_only_ids_the_api_repeats_within_a_job():
    staged = StagedRows()
    page = _sent("a", "b")
    assert staged.fresh("j1", page) is page  # the usual page passes whole
    assert staged.fresh("j1", _sent("c", "a", "c", "d")) == [
        _sent("c", "a", "c", "d")[i] for i in (0, 3)
    ]
    assert staged.repeated == 2
    assert staged.fresh("j2", _sent("a")) == _sent("a")  # ids are remembered per job
    raw = [{"results": {"n": 1}}, {"results": {"n": 1}}]
    assert staged.fresh("j2", raw) is raw  # no ids sent: generated ids are unique already
    assert staged.first_time("j1") and not staged.first_time("j1")
