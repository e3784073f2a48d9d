"""Results paging: stop exactly on have_next_page, tokens and URLs, malformed paging."""

import pytest

from analytics_assets.api.client import AnalyticsApiClient, AnalyticsApiError
from analytics_assets.api.paging import iter_result_pages, results_path
from analytics_assets.settings import ApiSettings
from analytics_assets_tests.fakes import FakeClock
from analytics_assets_tests.support import API_KEY
from analytics_dev.simulator import FaultRule


@pytest.fixture
def client(simulator, tmp_path) -> AnalyticsApiClient:
    settings = ApiSettings(
        base_url=simulator.base_url,
        api_key=API_KEY,
        duckdb_path=tmp_path / "w.duckdb",
    )
    return AnalyticsApiClient(settings, clock=FakeClock())


def _largest_job(sim_data) -> str:
    return max(sim_data.results, key=lambda uid: len(sim_data.results[uid]))


@pytest.mark.parametrize("next_style", ["token", "url", "path"])
def test_pages_stop_when_have_next_page_is_false_even_with_a_next_cursor(
    simulator, sim_data, client, next_style
):
    simulator.next_style = next_style
    job = _largest_job(sim_data)
    expected = len(sim_data.results[job])
    assert expected > simulator.page_size  # more than one page
    rows = [row for page in iter_result_pages(client, job) for row in page]
    assert len(rows) == expected
    assert simulator.request_count(results_path(job)) == -(-expected // simulator.page_size)


def test_a_single_page_job_costs_one_request(simulator, sim_data, client):
    simulator.page_size = 1000
    job = _largest_job(sim_data)
    pages = list(iter_result_pages(client, job))
    assert len(pages) == 1
    assert simulator.request_count(results_path(job)) == 1


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("bad_paging", "have_next_page is 'yes'"),
        ("missing_paging", "no 'paging' object"),
        ("no_list", "no 'results' list"),
    ],
)
def test_malformed_paging_fails_naming_the_endpoint(simulator, sim_data, client, kind, message):
    job = _largest_job(sim_data)
    simulator.add_fault(FaultRule(r"/results$", times=1, kind=kind))
    with pytest.raises(AnalyticsApiError, match=message) as caught:
        list(iter_result_pages(client, job))
    assert results_path(job) in str(caught.value)


def test_a_next_url_on_another_host_is_refused(client):
    with pytest.raises(AnalyticsApiError, match="another host"):
        client.url_for("http://evil.example.com/v3/jobs/x/results?page=2")
    assert client.url_for("/v3/jobs/x/results?page=2").endswith("/v3/jobs/x/results?page=2")


def test_hostile_job_uids_are_url_encoded(simulator, client):
    assert results_path("a/b c?é") == "/v3/jobs/a%2Fb%20c%3F%C3%A9/results"
    with pytest.raises(AnalyticsApiError) as caught:
        list(iter_result_pages(client, "a/b c?é"))
    assert caught.value.status == 404
    assert [r.path for r in simulator.requests] == ["/v3/jobs/a/b c?é/results"]
