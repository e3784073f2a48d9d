"""In-process runs and sensor ticks with a malformed, wrong, whitespace-padded or echoed API
key: each fails (or succeeds) as it should, naming the setting, and no marker of the key is
anywhere the product wrote (see the package's docstring for where the search looks)."""

from __future__ import annotations

import pytest
from dagster import materialize
from dagster_dlt import DagsterDltResource

from analytics_assets import constants as c
from analytics_assets.api.redact import MASK
from analytics_assets.settings import AnalyticsConfigError, env_name
from analytics_assets_tests.secret_leaks.cases import (
    ECHOES,
    MALFORMED_KEYS,
    MALFORMED_KEYS_IN_PROCESS,
    MALFORMED_KEYS_RUN,
    STRIPPED_KEYS,
    STRIPPED_KEYS_RUN,
)
from analytics_assets_tests.secret_leaks.search import (
    KEY,
    PRODUCT,
    Haystack,
    build,
    echo_rule,
    failure_texts,
    resource,
    run_workspace_assets,
    search_everything,
    tick_sensor,
)


@pytest.mark.parametrize("case", MALFORMED_KEYS_RUN)
def test_in_process_run_with_a_malformed_key_fails_naming_the_setting(
    case, simulator, instance, warehouse_dir, tmp_path, logs, capfd
):
    secret = build(MALFORMED_KEYS_IN_PROCESS[case])
    seen = Haystack(secret.marks)
    run = run_workspace_assets(
        instance, resource(simulator, warehouse_dir, api_key=secret.value), seen
    )
    assert run.raised is not None and not run.success
    assert env_name("api_key") in run.failure
    assert simulator.request_count() == 0  # refused before any request
    search_everything(seen, tmp_path, instance, logs, capfd)


@pytest.mark.parametrize("case", ["newline-inside", "cyrillic"])
def test_in_process_partition_run_with_a_malformed_key_fails_naming_the_setting(
    case, simulator, sim_data, instance, warehouse_dir, tmp_path, logs, capfd
):
    secret = build(MALFORMED_KEYS[case])
    seen = Haystack(secret.marks)
    uid = sim_data.workflows[0]["uid"]
    instance.add_dynamic_partitions(c.PARTITIONS_NAME, [uid])
    api = resource(simulator, warehouse_dir, api_key=secret.value)
    with pytest.raises(Exception) as raised:
        materialize(
            [PRODUCT.get_assets_def("jobs")],
            instance=instance,
            resources={"dlt": DagsterDltResource(), "analytics_api": api},
            partition_key=uid,
        )
    seen.exception(raised.value)
    assert env_name("api_key") in failure_texts(instance)
    assert simulator.request_count() == 0
    search_everything(seen, tmp_path, instance, logs, capfd)


@pytest.mark.parametrize("case", STRIPPED_KEYS_RUN)
def test_in_process_run_strips_whitespace_around_the_key_and_succeeds(
    case, simulator, instance, warehouse_dir, tmp_path, logs, capfd
):
    seen = Haystack([])
    api = resource(simulator, warehouse_dir, api_key=STRIPPED_KEYS[case].format(key=KEY))
    resources = {"dlt": DagsterDltResource(), "analytics_api": api}
    assert materialize(
        [PRODUCT.get_assets_def("workspace")], instance=instance, resources=resources
    ).success
    assert simulator.request_count("/v3/workspace") == 1
    assert {r.status for r in simulator.requests} == {200}
    search_everything(seen, tmp_path, instance, logs, capfd)


def test_in_process_run_with_a_wrong_key_fails_with_401_naming_the_setting(
    simulator, instance, warehouse_dir, tmp_path, logs, capfd
):
    secret = build("sk-WRONG-{a}{b}")
    seen = Haystack(secret.marks)
    run = run_workspace_assets(
        instance, resource(simulator, warehouse_dir, api_key=secret.value), seen
    )
    assert run.raised is not None and not run.success
    failure = run.failure
    assert "HTTP 401" in failure and env_name("api_key") in failure
    search_everything(seen, tmp_path, instance, logs, capfd)


def test_sensor_tick_with_a_wrong_key_fails_naming_the_setting(
    simulator, instance, warehouse_dir, tmp_path, logs, capfd
):
    secret = build("sk-WRONG-{a}{b}")
    seen = Haystack(secret.marks)
    api = resource(simulator, warehouse_dir, api_key=secret.value)
    with pytest.raises(Exception) as raised:
        tick_sensor(instance, api)
    seen.exception(raised.value)
    assert "HTTP 401" in str(raised.value) and env_name("api_key") in str(raised.value)
    search_everything(seen, tmp_path, instance, logs, capfd)


@pytest.mark.parametrize("case", ["newline-inside", "e-acute"])
def test_sensor_tick_with_a_malformed_key_fails_naming_the_setting(
    case, simulator, instance, warehouse_dir, tmp_path, logs, capfd
):
    secret = build(MALFORMED_KEYS[case])
    seen = Haystack(secret.marks)
    api = resource(simulator, warehouse_dir, api_key=secret.value)
    with pytest.raises(AnalyticsConfigError, match=env_name("api_key")) as raised:
        tick_sensor(instance, api)
    seen.exception(raised.value)
    assert simulator.request_count() == 0
    search_everything(seen, tmp_path, instance, logs, capfd)


@pytest.mark.parametrize("case", sorted(ECHOES))
def test_in_process_run_masks_the_key_the_api_echoes(
    case, simulator, instance, warehouse_dir, tmp_path, logs, capfd
):
    status, message = ECHOES[case]
    simulator.add_fault(echo_rule(message.format(key=KEY), status))
    configured = KEY + "\n" if "newline" in case else KEY
    seen = Haystack([])
    run = run_workspace_assets(
        instance, resource(simulator, warehouse_dir, api_key=configured), seen
    )
    assert run.raised is not None and not run.success
    assert f"HTTP {status}" in run.failure and MASK in run.failure, run.failure
    search_everything(seen, tmp_path, instance, logs, capfd)


def test_sensor_tick_masks_the_key_the_api_echoes(
    simulator, instance, warehouse_dir, tmp_path, logs, capfd
):
    simulator.add_fault(echo_rule(f"invalid key {KEY}", path=r"^/v3/workflows$"))
    api = resource(simulator, warehouse_dir)
    seen = Haystack([])
    with pytest.raises(Exception) as raised:
        tick_sensor(instance, api)
    seen.exception(raised.value)
    assert "HTTP 400" in str(raised.value) and MASK in str(raised.value)
    search_everything(seen, tmp_path, instance, logs, capfd)
