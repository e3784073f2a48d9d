"""`.env.example` and the README's settings table, rendered from the one declaration.

    python -m analytics_dev.settings_docs --write   # after changing a setting

`test_settings_docs.py` fails when either file disagrees with `analytics_assets.settings`.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from analytics_assets.settings import ApiSettings, Declared, ScheduleSettings, declared_fields

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- settings-table:begin -->", "<!-- settings-table:end -->"
ENV_HEADER = (
    "# Copy to .env (make dev and dg dev read it; with it, make dev uses the API named here) or\n"
    "# export these in your shell. Every setting, as declared in\n"
    "# analytics_assets/settings/declared.py (regenerate: make settings-docs).\n"
)


def _settings() -> list[tuple[dataclasses.Field, Declared]]:
    return [pair for cls in (ApiSettings, ScheduleSettings) for pair in declared_fields(cls)]


def _default(f: dataclasses.Field, text: str | None) -> str:
    if text:
        return text
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
        return "required"
    if f.default is None:
        return "unset"
    value = f.default
    return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"


def _plain(f: dataclasses.Field) -> str:
    """The default as a value in .env.example ('' where it is computed or unset)."""
    value = f.default
    if value is dataclasses.MISSING or value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def readme_table() -> str:
    rows = ["| Setting | Environment variable | Default | Description |", "|---|---|---|---|"]
    for f, d in _settings():
        described = ("secret; " if d.secret else "") + d.description
        default = _default(f, d.default_text)
        rows.append(f"| `{f.name}` | `{d.env}` | {default} | {described} |")
    return "\n".join(rows)


def env_example() -> str:
    blocks = []
    for f, d in _settings():
        default = _default(f, d.default_text).replace("`", "")
        secret = "; secret" if d.secret else ""
        value = d.example or _plain(f)
        blocks.append(f"# {d.description} (default: {default}{secret})\n{d.env}={value}")
    return ENV_HEADER + "\n".join(blocks) + "\n"


def readme_with_table(readme: str) -> str:
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{readme_table()}\n{END}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite both files in place")
    args = parser.parse_args()
    if not args.write:
        print(readme_table())
        return
    (ROOT / ".env.example").write_text(env_example())
    readme = ROOT / "README.md"
    readme.write_text(readme_with_table(readme.read_text()))


if __name__ == "__main__":
    main()
