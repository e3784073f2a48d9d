"""Bad destination credentials (dlt's `DESTINATION__POSTGRES__CREDENTIALS`) and bad rate
budget store URLs against the throwaway Postgres server: in-process runs, the asset check
alone, the client, a sensor tick fail without showing any marker of the password."""

from __future__ import annotations

import pytest
from dagster import AssetCheckKey, AssetKey, AssetSelection, materialize
from dagster_dlt import DagsterDltResource

from analytics_assets import constants as c
from analytics_assets.api.client import AnalyticsApiClient
from analytics_assets.settings import AnalyticsConfigError, env_name
from analytics_assets_tests.secret_leaks.cases import (
    BAD_CREDENTIALS,
    BAD_STORES,
    MAY_LOAD,
    STORE_CASES_RUN,
)
from analytics_assets_tests.secret_leaks.search import (
    PRODUCT,
    Haystack,
    failure_texts,
    resource,
    run_workspace_assets,
    search_everything,
    tick_sensor,
    url_secret,
)

FILTER_CHECK = AssetCheckKey(AssetKey("successful_jobs"), "successful_jobs_filter")


@pytest.mark.parametrize("case", sorted(BAD_CREDENTIALS))
def test_in_process_run_with_bad_destination_credentials_fails_without_them(
    case, postgres_server, simulator, instance, warehouse_dir, tmp_path, logs, capfd, monkeypatch
):
    secret = url_secret(postgres_server, BAD_CREDENTIALS[case])
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", secret.value)
    seen = Haystack(secret.marks)
    api = resource(
        simulator,
        warehouse_dir,
        destination="postgres",
        pipelines_dir=str(tmp_path / "dlt_pipelines"),
    )
    run = run_workspace_assets(instance, api, seen)
    search_everything(seen, tmp_path, instance, logs, capfd)
    if case not in MAY_LOAD:
        assert run.raised is not None and not run.success


@pytest.mark.subprocess
@pytest.mark.parametrize("case", ["wrong-password", "newline-in-password"])
def test_asset_check_alone_with_bad_destination_credentials_fails_without_them(
    case,
    postgres_server,
    simulator,
    sim_data,
    instance,
    warehouse_dir,
    tmp_path,
    logs,
    capfd,
    monkeypatch,
):
    """The blocking check opens the warehouse itself, outside any asset body."""
    secret = url_secret(postgres_server, BAD_CREDENTIALS[case])
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", secret.value)
    uid = sim_data.workflows[0]["uid"]
    instance.add_dynamic_partitions(c.PARTITIONS_NAME, [uid])
    seen = Haystack(secret.marks)
    api = resource(
        simulator, warehouse_dir, destination="postgres", pipelines_dir=str(tmp_path / "dlt")
    )
    result = materialize(
        [PRODUCT.get_assets_def("jobs"), PRODUCT.get_asset_checks_def(FILTER_CHECK)],
        selection=AssetSelection.checks(FILTER_CHECK),
        instance=instance,
        resources={"dlt": DagsterDltResource(), "analytics_api": api},
        raise_on_error=False,
    )
    assert not result.success
    seen.text("step failure events", failure_texts(instance))
    search_everything(seen, tmp_path, instance, logs, capfd)


@pytest.mark.parametrize("case", sorted(BAD_STORES))
def test_client_with_a_bad_store_url_fails_naming_the_setting(
    case, postgres_server, simulator, warehouse_dir, tmp_path, logs, capfd
):
    secret = url_secret(postgres_server, BAD_STORES[case])
    settings = resource(simulator, warehouse_dir, rate_limit_store=secret.value).settings()
    assert not any(m in repr(settings) for m in secret.marks)
    seen = Haystack(secret.marks)
    raised: AnalyticsConfigError | None = None
    try:
        AnalyticsApiClient(settings).close()
    except AnalyticsConfigError as exc:
        raised = exc
        seen.exception(exc)
    seen.logs(logs)
    seen.output("test process", capfd)
    seen.folder(tmp_path)
    seen.assert_clean()
    assert raised is not None, "a store URL that cannot be opened was accepted"
    assert env_name("rate_limit_store") in str(raised)


@pytest.mark.parametrize("case", STORE_CASES_RUN)
def test_in_process_run_with_a_bad_store_url_fails_naming_the_setting(
    case, postgres_server, simulator, instance, warehouse_dir, tmp_path, logs, capfd
):
    secret = url_secret(postgres_server, BAD_STORES[case])
    seen = Haystack(secret.marks)
    api = resource(simulator, warehouse_dir, rate_limit_store=secret.value)
    run = run_workspace_assets(instance, api, seen)
    search_everything(seen, tmp_path, instance, logs, capfd)
    assert not run.success, "a store URL that cannot be opened was accepted"
    assert env_name("rate_limit_store") in run.failure
    assert simulator.request_count() == 0


def test_sensor_tick_with_a_bad_store_url_fails_naming_the_setting(
    postgres_server, simulator, instance, warehouse_dir, tmp_path, logs, capfd
):
    secret = url_secret(postgres_server, BAD_STORES["wrong-password"])
    seen = Haystack(secret.marks)
    api = resource(simulator, warehouse_dir, rate_limit_store=secret.value)
    with pytest.raises(AnalyticsConfigError, match=env_name("rate_limit_store")) as raised:
        tick_sensor(instance, api)
    seen.exception(raised.value)
    search_everything(seen, tmp_path, instance, logs, capfd)
