"""`dagster asset materialize` subprocesses with a malformed, wrong, padded or echoed key, bad
destination credentials or a bad rate budget store: the exit code and the message are right,
and no marker is in the output, the instance's storage or any file of the test."""

from __future__ import annotations

import pytest

from analytics_assets.api.redact import MASK
from analytics_assets.settings import env_name
from analytics_assets_tests.secret_leaks.cases import (
    BAD_CREDENTIALS,
    BAD_STORES,
    DESTINATION_CASES_CLI,
    MALFORMED_KEYS,
    MALFORMED_KEYS_CLI,
    STORE_CASES_CLI,
    STRIPPED_KEYS,
    STRIPPED_KEYS_CLI,
)
from analytics_assets_tests.secret_leaks.search import (
    KEY,
    Haystack,
    build,
    echo_rule,
    search_cli_run,
    url_secret,
)

pytestmark = pytest.mark.subprocess


@pytest.mark.parametrize("case", MALFORMED_KEYS_CLI)
def test_cli_run_with_a_malformed_key_fails_naming_the_setting(
    case, cli, simulator, home, tmp_path
):
    secret = build(MALFORMED_KEYS[case])
    run = cli(secret.value)
    assert run.returncode != 0
    assert f"AnalyticsConfigError: {env_name('api_key')} contains" in run.output, run.output[-3000:]
    assert simulator.request_count() == 0
    search_cli_run(Haystack(secret.marks), run, home, tmp_path)


@pytest.mark.parametrize("case", STRIPPED_KEYS_CLI)
def test_cli_run_strips_whitespace_around_the_key_and_succeeds(
    case, cli, simulator, home, tmp_path
):
    value = STRIPPED_KEYS[case].format(key=KEY)
    run = cli(value)
    assert run.returncode == 0, run.output[-3000:]
    assert {r.status for r in simulator.requests} == {200}
    search_cli_run(Haystack([]), run, home, tmp_path)


def test_cli_run_with_a_wrong_key_fails_with_401_naming_the_setting(cli, simulator, home, tmp_path):
    secret = build("sk-WRONG-{a}{b}")
    run = cli(secret.value)
    assert run.returncode != 0
    assert "HTTP 401" in run.output and env_name("api_key") in run.output, run.output[-3000:]
    search_cli_run(Haystack(secret.marks), run, home, tmp_path)


def test_cli_run_masks_the_key_the_api_echoes(cli, simulator, home, tmp_path):
    simulator.add_fault(echo_rule(f"invalid key {KEY} for this workspace"))
    run = cli(KEY + "\n")
    assert run.returncode != 0
    assert "HTTP 400" in run.output and MASK in run.output, run.output[-3000:]
    search_cli_run(Haystack([]), run, home, tmp_path)


@pytest.mark.parametrize("case", DESTINATION_CASES_CLI)
def test_cli_run_with_bad_destination_credentials_fails_without_them(
    case, cli, postgres_server, home, tmp_path
):
    secret = url_secret(postgres_server, BAD_CREDENTIALS[case])
    run = cli(
        KEY,
        ANALYTICS_DESTINATION="postgres",
        ANALYTICS_DLT_PIPELINES_DIR=str(tmp_path / "dlt_pipelines"),
        DESTINATION__POSTGRES__CREDENTIALS=secret.value,
    )
    assert run.returncode != 0, run.output[-3000:]
    search_cli_run(Haystack(secret.marks), run, home, tmp_path)


@pytest.mark.parametrize("case", STORE_CASES_CLI)
def test_cli_run_with_a_bad_store_url_fails_naming_the_setting(
    case, cli, postgres_server, home, tmp_path
):
    secret = url_secret(postgres_server, BAD_STORES[case])
    run = cli(
        KEY,
        ANALYTICS_API_RATE_LIMIT_STORE=secret.value,
    )
    assert run.returncode != 0
    assert f"AnalyticsConfigError: {env_name('rate_limit_store')}" in run.output, run.output[-3000:]
    search_cli_run(Haystack(secret.marks), run, home, tmp_path)
