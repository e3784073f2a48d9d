"""Secret values out of any text the product writes: errors, log lines, metadata."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote, urlsplit

MASK = "***"
# Shorter values would mask ordinary words; settings reject keys this short anyway.
MIN_SECRET_LENGTH = 4
# A piece of a secret is masked on its own when it is this long: a library may show one line
# of a value, or the half of a password that an unescaped `@` turned into a host name.
MIN_PIECE_LENGTH = 6
# Where a value breaks when a display cuts it: control characters (a newline, a tab) and
# anything not ASCII. Not at spaces or slashes: an environment secret may be a sentence or a
# path, whose words must not be masked wherever they appear.
_VALUE_BREAKS = re.compile(r"[^\x20-\x7e]+")
# Where a URL's password breaks: also at spaces and at what delimits the parts of a URL. An
# unescaped `@` in `user:p@ss@host` leaves the password `p` and the host `ss@host` to a
# parser that stops at the first `@`.
_PASSWORD_BREAKS = re.compile(r"(?:[^\x21-\x7e]|[@/#?])+")
# What SQLAlchemy (and so dlt) percent-encodes when it renders a password into a URL.
_SQLALCHEMY_QUOTED = re.compile(r"[:@/]")


def secret_parts(value: str) -> list[str]:
    """A value, the ways an error text may quote it, and the parts of it that are secret on
    their own: a URL's password (as written, decoded, encoded), and the pieces of a value or
    of a password. The rest of a URL (user, host, database) is not secret on its own."""
    parts = _shown(value)
    pieces = _VALUE_BREAKS.split(value)
    for password in _passwords(value):
        shown = _shown(password) + _shown(unquote(password))
        shown += [quote(password, safe=""), quote(unquote(password), safe="")]
        shown.append(_SQLALCHEMY_QUOTED.sub(lambda m: f"%{ord(m.group()):02X}", password))
        parts += shown
        pieces += [p for whole in shown for p in _PASSWORD_BREAKS.split(whole)]
    parts = [p for p in parts if len(p) >= MIN_SECRET_LENGTH]
    parts += [p for p in pieces if len(p) >= MIN_PIECE_LENGTH]
    return list(dict.fromkeys(parts))


def _shown(value: str) -> list[str]:
    """`value`, stripped, and escaped as repr() and JSON show it; also without the tabs and
    newlines that urllib drops from a URL before parsing it."""
    return [
        value,
        value.strip(),
        re.sub(r"[\t\r\n]", "", value),
        repr(value)[1:-1],
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    ]


def _passwords(value: str) -> list[str]:
    """The password of `scheme://user:password@host/...`, or of `user:password@host`, as each
    way of reading it finds it: up to the last `@` (urllib) or the first (libpq, SQLAlchemy)."""
    text = value.strip()
    rest = text.split("://", 1)[1] if "://" in text else text
    if "@" not in rest:
        return []
    found = []
    for userinfo in (rest.rpartition("@")[0], rest.partition("@")[0]):
        user, colon, password = userinfo.partition(":")
        if colon and password and "/" not in user:
            found.append(password)
    if "://" in text:
        try:
            found.append(urlsplit(text).password or "")
        except ValueError:  # a malformed port or IPv6 host: the readings above still hold
            pass
    return [p for p in dict.fromkeys(found) if p]


def redacted(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret (and each secret part) replaced by ***, longest first."""
    parts = {p for s in secrets if s for p in secret_parts(s)}
    for part in sorted(parts, key=len, reverse=True):
        text = text.replace(part, MASK)
    return text


# Environment variables whose values are secrets by their name: dlt's destination credentials
# (DESTINATION__POSTGRES__CREDENTIALS, ...__PASSWORD), API keys, tokens, connection strings.
SECRET_NAME_WORDS = (
    "CREDENTIALS",
    "PASSWORD",
    "SECRET",
    "TOKEN",
    "PRIVATE_KEY",
    "API_KEY",
    "DSN",
    "CONNECTION_STRING",
)


def environment_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the environment variables that name a secret."""
    env = os.environ if environ is None else environ
    return [v for k, v in env.items() if any(w in k.upper() for w in SECRET_NAME_WORDS)]
