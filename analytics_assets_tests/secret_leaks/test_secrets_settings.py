"""A malformed key is refused by the settings, however it is given, naming the setting and
never the value; surrounding whitespace is stripped; redaction masks every way a secret is
shown. Every secret form is here, without a Dagster run (the run surfaces are in the other
test_secrets_* files).
"""

from __future__ import annotations

import contextlib
import json
from urllib.parse import quote, unquote, urlsplit

import pytest

from analytics_assets.api.redact import MASK, redacted
from analytics_assets.defs.resources import AnalyticsApiResource
from analytics_assets.settings import AnalyticsConfigError, ApiSettings, env_name, resolve_settings
from analytics_assets_tests.secret_leaks.cases import MALFORMED_KEYS_IN_PROCESS, STRIPPED_KEYS
from analytics_assets_tests.secret_leaks.search import KEY, KEY_MARK, Haystack, build


@pytest.mark.parametrize("case", sorted(MALFORMED_KEYS_IN_PROCESS))
@pytest.mark.parametrize("source", ["argument", "environment", "resource", "dlt-secret"])
def test_malformed_key_is_refused_naming_the_setting_never_the_value(case, source, monkeypatch):
    secret = build(MALFORMED_KEYS_IN_PROCESS[case])
    base_url = "https://api.captaindata.co"

    def resolve() -> ApiSettings:
        if source == "argument":
            return resolve_settings(base_url=base_url, api_key=secret.value)
        if source == "resource":
            return AnalyticsApiResource(base_url=base_url, api_key=secret.value).settings()
        if source == "environment":
            monkeypatch.setenv(env_name("api_key"), secret.value)
        else:  # dlt's own way: `api_key` in secrets.toml, or its environment variable
            monkeypatch.setenv("API_KEY", secret.value)
        return resolve_settings(base_url=base_url)

    if "\x00" in secret.value and source in ("environment", "dlt-secret"):
        with pytest.raises(ValueError, match="null"):  # the OS refuses it before we see it
            resolve()
        return
    with pytest.raises(AnalyticsConfigError) as raised:
        resolve()
    text = str(raised.value)
    assert env_name("api_key") in text and "not shown" in text
    seen = Haystack(secret.marks)
    seen.exception(raised.value)
    seen.assert_clean()


@pytest.mark.parametrize("case", sorted(MALFORMED_KEYS_IN_PROCESS))
def test_malformed_key_is_refused_by_the_settings_object_itself(case):
    secret = build(MALFORMED_KEYS_IN_PROCESS[case])
    with pytest.raises(AnalyticsConfigError, match=env_name("api_key")) as raised:
        ApiSettings(base_url="https://api.captaindata.co", api_key=secret.value)
    seen = Haystack(secret.marks)
    seen.exception(raised.value)
    seen.assert_clean()


@pytest.mark.parametrize("case", sorted(STRIPPED_KEYS))
@pytest.mark.parametrize("source", ["argument", "environment", "resource"])
def test_surrounding_whitespace_is_stripped_from_the_key(case, source, monkeypatch):
    value = STRIPPED_KEYS[case].format(key=KEY)
    base_url = "https://api.captaindata.co"
    if source == "argument":
        settings = resolve_settings(base_url=base_url, api_key=value)
    elif source == "resource":
        settings = AnalyticsApiResource(base_url=base_url, api_key=value).settings()
    else:
        monkeypatch.setenv(env_name("api_key"), value)
        settings = resolve_settings(base_url=base_url)
    assert settings.api_key == KEY
    assert KEY_MARK not in repr(settings)


SECRET_SHAPES = {
    "key": "sk-LEAK-{a}{b}",
    "key-newline-inside": "sk-LEAK-{a}\n{b}",
    "key-space-inside": "sk-LEAK-{a} {b}",
    "key-e-acute-inside": "sk-LEAK-{a}\u00e9{b}",
    "key-cyrillic-inside": "sk-LEAK-{a}\u043a\u043b\u044e\u0447{b}",
    "key-bell-inside": "sk-LEAK-{a}\x07{b}",
    "url-password": "postgresql://u:PW-{a}{b}@h:5432/db",
    "url-newline-in-password": "postgresql://u:PW-{a}\n{b}@h:5432/db",
    "url-tab-in-password": "postgresql://u:PW-{a}\t{b}@h:5432/db",
    "url-percent-encoded-password": "postgresql://u:PW-{a}%2F{b}@h:5432/db",
    "url-bad-percent-escape": "postgresql://u:PW-{a}%zz{b}@h:5432/db",
    "url-unescaped-at": "postgresql://u:PW-{a}@{b}@h:5432/db",
    "url-bad-port": "postgresql://u:PW-{a}{b}@h:port/db",
    "url-ipv6-unclosed": "postgresql://u:PW-{a}{b}@[::1/db",
}


def _shown(value: str) -> dict[str, str]:
    """The ways a library shows a string it quotes in an error text."""
    shown = {
        "raw": value,
        "repr": repr(value),
        "json": json.dumps(value),
        "utf8_bytes_repr": repr(value.encode()),
        "first_line": value.splitlines()[0],
        "last_line": value.splitlines()[-1],
    }
    if "://" in value:
        authority = value.split("://", 1)[1]
        password = authority.rsplit("@", 1)[0].split(":", 1)[1]
        shown.update(
            password=password,
            password_repr=repr(password),
            password_quoted=quote(password, safe=""),
            password_unquoted=unquote(password),
            # A parser that ends the user info at the first `@` reads the rest as the host.
            host_after_first_at=authority.split("@", 1)[1],
        )
        with contextlib.suppress(ValueError):
            shown["urlsplit_password"] = urlsplit(value).password or ""
    return shown


@pytest.mark.parametrize("shape", sorted(SECRET_SHAPES))
def test_redaction_masks_every_way_a_secret_is_shown(shape):
    secret = build(SECRET_SHAPES[shape])
    for how, text in _shown(secret.value).items():
        if not text:
            continue
        clean = redacted(f"error: {text} (end)", [secret.value])
        assert not any(m in clean for m in secret.marks), (how, clean)


def test_redaction_keeps_what_is_not_secret():
    url = "postgresql://loader:s3cr3t-p%40ss@db.example.com:5432/analytics"
    text = f"{env_name('destination')}=postgres: cannot reach db.example.com:5432 as loader ({url})"
    assert redacted(text, [url]) == (
        f"{env_name('destination')}=postgres: cannot reach db.example.com:5432 as loader ({MASK})"
    )
    assert (
        redacted("password s3cr3t-p@ss and s3cr3t-p%40ss", [url]) == f"password {MASK} and {MASK}"
    )
    # An environment secret that is a path or a sentence: masked whole, not word by word.
    path = "/home/loader/.config/gcloud/application_default_credentials.json"
    text = "the analytics dataset, config in /home/loader/.config"
    assert redacted(text, [path, "the analytics warehouse"]) == text
    assert redacted(f"reading {path}", [path]) == f"reading {MASK}"
