"""Result pages parsed from bytes into Arrow give exactly the table the dict path gives, or
decline (None) and leave the page to the dict path."""

import json

import orjson
import pyarrow as pa
import pytest

from analytics_assets.api.arrow_bodies import ArrowPage, ArrowPages, arrow_page
from analytics_assets.api.arrow_pages import page_table
from analytics_assets.api.client import AnalyticsApiClient
from analytics_assets.api.paging import iter_result_pages
from analytics_assets.api.result_batches import JobRows
from analytics_assets.api.results import ResultRowIdentity, StagedRows, result_record
from analytics_assets.settings import ApiSettings
from analytics_assets_tests.support import API_KEY

JOB = {"uid": "job-1", "workflow_uid": "wf-1"}
EXTRACTED = "2026-12-01T10:00:00+00:00"


def _body(items: list, more: bool = False, cursor: str | None = None) -> bytes:
    page = {"results": items, "paging": {"have_next_page": more, "next": cursor}}
    return json.dumps(page).encode()  # json: orjson refuses integers beyond 64 bits


def _item(n: int, **raw) -> dict:
    return {
        "job_result_id": f"id-{n}",
        "extracted_at": "2026-11-30T08:00:00+00:00",
        "results": {"name": f"row {n}", "score": n, "ratio": n / 2, "ok": n % 2 == 0, **raw},
    }


def _dict_path(body: bytes) -> pa.Table:
    identity = ResultRowIdentity(JOB["uid"])
    records = [
        result_record(
            item, identity=identity, workflow_uid=JOB["workflow_uid"], extracted_at=EXTRACTED
        )
        for item in json.loads(body)["results"]
    ]
    table = page_table(records)
    assert table is not None
    return table


def _arrow_path(body: bytes) -> pa.Table:
    page = arrow_page(body)
    assert page is not None
    rows = JobRows(JOB, StagedRows())
    rows.extracted_at = EXTRACTED
    return rows.table(page)


@pytest.mark.parametrize(
    "items",
    [
        [_item(n) for n in range(50)],
        # ISO dates stay text, as in dicts; a key missing from some rows; a null column dropped.
        [_item(1, seen="2024-01-01", at="2024-01-01T00:00:00Z"), _item(2, extra=None)],
        # Ints and floats in one column become doubles either way.
        [_item(1, mixed=1), _item(2, mixed=2.5)],
        # No extracted_at, or an empty one: the job's own time, as in the dict path.
        [{"job_result_id": "a", "results": {"x": 1}}, {**_item(2), "extracted_at": ""}],
    ],
)
def test_the_arrow_page_is_the_table_the_dict_path_makes(items):
    body = _body(items)
    expected, got = _dict_path(body), _arrow_path(body)
    assert got.schema == expected.schema
    assert got.to_pylist() == expected.to_pylist()


def test_the_paging_flags_come_with_the_page():
    page = arrow_page(_body([_item(1)], more=True, cursor="c2"))
    assert page is not None and (page.have_next_page, page.next, len(page)) == (True, "c2", 1)
    last = arrow_page(_body([_item(1)]))
    assert last is not None and (last.have_next_page, last.next) == (False, None)


@pytest.mark.parametrize(
    "body",
    [
        _body([{"name": "raw row, its id derived in Python"}]),
        _body([_item(1, nested={"a": 1})]),
        _body([_item(1, tags=["a"])]),
        _body([_item(1, value=1), _item(2, value="one")]),
        _body([_item(1, big=2**70)]),
        _body([{**_item(1), "job_result_id": ""}]),
        _body([{**_item(1), "job_result_id": 7}]),
        _body([{**_item(1), "extracted_at": "yesterday"}]),
        _body([_item(1)], more=True, cursor=""),
        orjson.dumps({"results": [_item(1)]}),
        orjson.dumps({"results": [_item(1)], "paging": {"have_next_page": "yes"}}),
        b"not json",
    ],
    ids=[
        "raw",
        "nested-object",
        "list",
        "mixed-types",
        "huge-int",
        "empty-id",
        "numeric-id",
        "bad-timestamp",
        "no-cursor",
        "no-paging",
        "bad-flag",
        "not-json",
    ],
)
def test_pages_only_the_dict_path_reads_exactly_are_declined(body):
    assert arrow_page(body) is None


def test_an_id_the_job_already_sent_is_dropped_from_the_arrow_page():
    staged = StagedRows()
    rows = JobRows(JOB, staged)
    first = rows.table(arrow_page(_body([_item(1), _item(2)])))  # type: ignore[arg-type]
    second = rows.table(arrow_page(_body([_item(2), _item(3)])))  # type: ignore[arg-type]
    assert first.column("job_result_id").to_pylist() == ["id-1", "id-2"]
    assert second.column("job_result_id").to_pylist() == ["id-3"]
    assert staged.repeated == 1


@pytest.mark.parametrize("envelope, arrow", [("data", True), ("bare", False)])
def test_the_simulators_pages_take_the_arrow_path_when_spec_shaped(
    simulator, sim_data, envelope, arrow
):
    # Spec-shaped items carry their ids; bare rows (the real API's) get theirs derived in
    # Python, so they stay on the dict path.
    simulator.envelope = envelope
    client = AnalyticsApiClient(ApiSettings(base_url=simulator.base_url, api_key=API_KEY))
    job = next(j for j in sim_data.all_jobs() if j["uid"] in sim_data.results)
    pages = list(iter_result_pages(client, job["uid"], arrow=True))
    assert {isinstance(page, ArrowPage) for page in pages} == {arrow}
    assert sum(len(page) for page in pages) == len(sim_data.results[job["uid"]])


def test_pages_read_with_the_schema_of_the_pages_before_lose_nothing_new():
    parse = ArrowPages()
    first = parse(_body([_item(1, seen="2024-01-01")]))
    assert first is not None and parse.schema is not None
    # A field the first page lacked (an ISO date: text, not a timestamp), then a field whose
    # type changed (the dict path takes that page), then the usual page again.
    second = parse(_body([_item(2, seen="2024-01-02", later="2024-02-02T10:00:00Z")]))
    assert second is not None
    assert second.table.column("results__later").to_pylist() == ["2024-02-02T10:00:00Z"]
    assert second.table.column("results__seen").to_pylist() == ["2024-01-02"]
    assert parse(_body([_item(3, seen=3)])) is None
    third = parse(_body([_item(4, seen="2024-01-04")]))
    assert third is not None and third.table.column("results__seen").to_pylist() == ["2024-01-04"]
