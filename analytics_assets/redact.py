"""Secret values out of any text the product writes: errors, log lines, metadata."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit

MASK = "***"
# Shorter values would mask ordinary words; settings reject keys this short anyway.
MIN_SECRET_LENGTH = 4


def secret_parts(value: str) -> list[str]:
    """A value and the parts of it that are secret on their own (a URL's password)."""
    parts = [value, value.strip()]
    if "://" in value:
        try:
            password = urlsplit(value.strip()).password
        except ValueError:
            password = None
        if password:
            parts += [password, unquote(password)]
    return [p for p in parts if len(p) >= MIN_SECRET_LENGTH]


def redacted(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret (and each secret part) replaced by ***, longest first."""
    parts = {p for s in secrets if s for p in secret_parts(s)}
    for part in sorted(parts, key=len, reverse=True):
        text = text.replace(part, MASK)
    return text


# Environment variables whose values are secrets by their name: dlt's destination credentials
# (DESTINATION__POSTGRES__CREDENTIALS, ...__PASSWORD), API keys, tokens.
SECRET_NAME_WORDS = ("CREDENTIALS", "PASSWORD", "SECRET", "TOKEN", "PRIVATE_KEY", "API_KEY")


def environment_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the environment variables that name a secret."""
    env = os.environ if environ is None else environ
    return [v for k, v in env.items() if any(w in k.upper() for w in SECRET_NAME_WORDS)]
