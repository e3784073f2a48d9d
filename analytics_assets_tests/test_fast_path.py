"""The Arrow fast path lands exactly what dlt's dict path lands: same rows, same columns."""

import dlt
import pytest

from analytics_assets.api.reads import ApiReader
from analytics_assets.api.source import analytics_source
from analytics_assets.settings import ApiSettings
from analytics_assets_tests.support import API_KEY, assert_full_load, fetch, load_everything

BOOKKEEPING = {"_dlt_load_id", "_dlt_id"}


def _load(simulator, tmp_path, name: str, arrow: bool):
    db = tmp_path / f"{name}.duckdb"
    settings = ApiSettings(base_url=simulator.base_url, api_key=API_KEY, duckdb_path=db)
    pipeline = dlt.pipeline(
        pipeline_name=f"fast_path_{name}",
        destination=dlt.destinations.duckdb(str(db)),
        dataset_name="analytics",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    source = analytics_source(reader=ApiReader(settings, arrow=arrow)).with_resources(
        "jobs", "successful_jobs", "job_results"
    )
    pipeline.run(source, loader_file_format="parquet").raise_on_failed_jobs()
    return db


def _columns(db) -> dict[str, str]:
    described = fetch(db, "DESCRIBE analytics.job_results")
    return {name: kind for name, kind, *_ in described if name not in BOOKKEEPING}


@pytest.mark.parametrize("envelope", ["data", "bare"])
def test_arrow_pages_equal_dict_rows(simulator, sim_data, tmp_path, envelope):
    simulator.envelope = envelope
    fast = _load(simulator, tmp_path, "arrow", arrow=True)
    slow = _load(simulator, tmp_path, "dicts", arrow=False)
    columns = _columns(fast)
    assert columns == _columns(slow)
    # In the bare shape extracted_at is our extraction time, different in each load.
    compared = sorted(c for c in columns if envelope == "data" or c != "extracted_at")
    sql = f"SELECT {', '.join(compared)} FROM analytics.job_results ORDER BY job_result_id"
    rows = fetch(fast, sql)
    assert rows == fetch(slow, sql)
    expected = sum(
        len(sim_data.results[j["uid"]]) for j in sim_data.all_jobs() if j["uid"] in sim_data.results
    )
    assert len(rows) == expected
    for db in (fast, slow):  # dlt's row id is the row's own id, on either path
        assert fetch(db, ROW_IDS_NOT_RESULT_IDS) == [(0,)]


ROW_IDS_NOT_RESULT_IDS = (
    "SELECT count(*) FROM analytics.job_results WHERE _dlt_id IS DISTINCT FROM job_result_id"
)


def test_the_products_result_rows_carry_their_id_and_load_id(
    defs, instance, simulator, sim_data, duckdb_path
):
    load_everything(defs, instance)
    assert fetch(duckdb_path, ROW_IDS_NOT_RESULT_IDS) == [(0,)]
    loads = "SELECT count(*) FROM analytics.job_results WHERE _dlt_load_id IS NULL"
    assert fetch(duckdb_path, loads) == [(0,)]
    assert_full_load(duckdb_path, sim_data)


def test_flat_pages_take_the_arrow_path_and_nested_ones_fall_back():
    from analytics_assets.api.arrow_pages import page_table

    def record(rid: str, raw: dict) -> dict:
        return {
            "job_result_id": rid,
            "job_uid": "j",
            "workflow_uid": "w",
            "extracted_at": "2026-11-28T18:59:34.450123+00:00",
            "results": raw,
        }

    table = page_table([record("a", {"first_name": "Ann"}), record("b", {"headline": "CTO"})])
    assert table is not None
    assert table.column_names == [
        "job_result_id",
        "job_uid",
        "workflow_uid",
        "extracted_at",
        "results__first_name",
        "results__headline",
    ]
    assert table.to_pylist()[1]["results__first_name"] is None
    assert page_table([record("a", {"skills": ["sql"]})]) is None
    assert page_table([record("a", {"n": 1}), record("b", {"n": "one"})]) is None


@pytest.mark.parametrize(
    ("value", "stored", "column"),
    [
        ("500+", "bigint", "results__n__v_text"),  # DuckDB would fail the load casting it
        (1.5, "BIGINT", "results__n__v_double"),  # it would round it
        (True, "double", "results__n__v_bool"),
        (7, "double", "results__n"),  # widened, no change of kind
        (7, "character varying", "results__n"),  # anything fits text
        ("x", None, "results__n"),  # a new column
    ],
)
def test_a_page_retyping_a_warehouse_column_goes_to_dlts_variant_column(value, stored, column):
    from analytics_assets.api.arrow_pages import page_table, with_variants

    record = {
        "job_result_id": "a",
        "job_uid": "j",
        "workflow_uid": "w",
        "extracted_at": "2026-11-28T18:59:34+00:00",
        "results": {"n": value},
    }
    types = {"results__n": stored} if stored else {}
    page = page_table([record])
    assert page is not None
    table = with_variants(page, types)
    assert table.column_names[-1] == column
    assert table.to_pylist()[0][column] == value
