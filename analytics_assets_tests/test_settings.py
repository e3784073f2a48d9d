"""Settings resolve at run time with errors that name the variable to fix."""

import dataclasses
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from analytics_assets.settings import (
    AnalyticsConfigError,
    ApiSettings,
    ScheduleSettings,
    resolve_settings,
)
from analytics_assets.settings import resolve as resolve_module
from analytics_assets.settings.fields import setting
from analytics_assets.settings.resolve import resolve_fields

ENV = ("ANALYTICS_API_BASE_URL", "ANALYTICS_API_KEY", "ANALYTICS_PROJECT_ID")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .dlt/secrets.toml unless a test writes one


def test_missing_base_url_names_the_variable():
    with pytest.raises(AnalyticsConfigError, match="ANALYTICS_API_BASE_URL is not set"):
        resolve_settings(api_key="k")


def test_base_url_without_scheme_is_rejected():
    with pytest.raises(AnalyticsConfigError, match="ANALYTICS_API_BASE_URL.*not an http"):
        resolve_settings(base_url="api.captaindata.co", api_key="k")


def test_base_url_with_v3_suffix_is_rejected():
    with pytest.raises(AnalyticsConfigError, match="ends in /v3"):
        resolve_settings(base_url="https://api.captaindata.co/v3", api_key="k")


def test_missing_key_names_the_variable_and_the_secrets_file():
    with pytest.raises(AnalyticsConfigError, match=r"ANALYTICS_API_KEY is not set.*secrets\.toml"):
        resolve_settings(base_url="https://api.captaindata.co")


def test_empty_key_variable_counts_as_missing(monkeypatch):
    monkeypatch.setenv("ANALYTICS_API_KEY", "")
    with pytest.raises(AnalyticsConfigError, match="ANALYTICS_API_KEY"):
        resolve_settings(base_url="https://api.captaindata.co")


def test_environment_supplies_every_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("ANALYTICS_API_BASE_URL", "https://api.captaindata.co/")
    monkeypatch.setenv("ANALYTICS_API_KEY", "env-key")
    monkeypatch.setenv("ANALYTICS_PROJECT_ID", "proj-1")
    monkeypatch.setenv("ANALYTICS_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("ANALYTICS_API_MAX_RETRIES", "5")
    settings = resolve_settings()
    assert settings.base_url == "https://api.captaindata.co"
    assert settings.api_key == "env-key"
    assert settings.project_id == "proj-1"
    assert settings.duckdb_path == tmp_path / "w.duckdb"
    assert settings.max_retries == 5
    assert (settings.backoff_factor, settings.request_timeout) == (2.0, 30.0)


@pytest.mark.subprocess
def test_dlt_secrets_toml_api_key_is_used_when_the_variable_is_unset(tmp_path):
    # dlt reads .dlt/ from the working directory once per process: use a fresh process.
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "secrets.toml").write_text('api_key = "toml-key"\n')
    code = (
        "from analytics_assets.settings import resolve_settings; "
        "print(resolve_settings(base_url='https://api.captaindata.co').api_key == 'toml-key')"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.stdout.strip() == "True", done.stderr[-2000:]


def test_the_key_never_shows_in_the_settings_repr():
    settings = resolve_settings(base_url="https://api.captaindata.co", api_key="very-secret")
    assert "very-secret" not in repr(settings)


def test_a_bad_number_names_its_variable(monkeypatch):
    monkeypatch.setenv("ANALYTICS_API_MAX_RETRIES", "three")
    with pytest.raises(AnalyticsConfigError, match="ANALYTICS_API_MAX_RETRIES='three'"):
        resolve_settings(base_url="https://api.captaindata.co", api_key="k")


def test_nothing_is_read_from_the_real_environment_here():
    assert not any(os.environ.get(name) for name in ENV)


def test_destination_defaults_to_duckdb_and_follows_the_variable(monkeypatch):
    monkeypatch.delenv("ANALYTICS_DESTINATION", raising=False)
    url = "https://api.captaindata.co"
    assert resolve_settings(base_url=url, api_key="k").destination == "duckdb"
    monkeypatch.setenv("ANALYTICS_DESTINATION", "postgres")
    settings = resolve_settings(base_url=url, api_key="k")
    assert (settings.destination, settings.is_duckdb) == ("postgres", False)
    assert resolve_settings(base_url=url, api_key="k", destination="duckdb").is_duckdb


def test_unknown_destination_names_the_variable(monkeypatch):
    monkeypatch.setenv("ANALYTICS_DESTINATION", "postgress")
    with pytest.raises(AnalyticsConfigError, match="ANALYTICS_DESTINATION='postgress' is not"):
        resolve_settings(base_url="https://api.captaindata.co", api_key="k")


@dataclass(frozen=True)
class _NewSettings:
    """A setting added the way the declaration says: nothing else names it."""

    token: str = setting(
        "ANALYTICS_TEST_TOKEN",
        "a token",
        fallback=lambda: " from-fallback ",
        normalize=str.upper,
        required_hint="set it to the token from the admin page",
    )
    region: str = setting("ANALYTICS_TEST_REGION", "a region", required_hint="set it to eu or us")


def test_a_new_settings_fallback_normalization_and_hint_come_from_its_declaration(monkeypatch):
    monkeypatch.delenv("ANALYTICS_TEST_TOKEN", raising=False)
    monkeypatch.setenv("ANALYTICS_TEST_REGION", "eu")
    assert resolve_fields(_NewSettings, {}) == {"token": "FROM-FALLBACK", "region": "eu"}
    monkeypatch.delenv("ANALYTICS_TEST_REGION")
    with pytest.raises(
        AnalyticsConfigError, match="ANALYTICS_TEST_REGION is not set: set it to eu"
    ):
        resolve_fields(_NewSettings, {})


def test_resolution_names_no_setting():
    source = Path(resolve_module.__file__).read_text()
    names = {f.name for cls in (ApiSettings, ScheduleSettings) for f in dataclasses.fields(cls)}
    quoted = {n for n in names if f'"{n}"' in source or f"'{n}'" in source}
    assert quoted == set()
