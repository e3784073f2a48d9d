"""How a setting is declared: a dataclass field whose metadata says what it is."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


class AnalyticsConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable to fix."""


@dataclass(frozen=True)
class Declared:
    """What a field's metadata says about it: its variable, its meaning, how its value is
    found and shaped, and its rules."""

    env: str
    description: str
    secret: bool = False
    check: Callable[[str, Any], None] | None = None
    default_text: str | None = None  # how the docs show a computed default
    example: str | None = None  # what .env.example suggests for a setting without a default
    # Where the value comes from when neither the caller nor the environment gives one.
    fallback: Callable[[], Any] | None = None
    # Applied to every resolved value (after parsing, before the rule).
    normalize: Callable[[Any], Any] | None = None
    # What to do when a required setting is not set: said after "<VARIABLE> is not set: ".
    required_hint: str = "set it"


def setting(
    env: str,
    description: str,
    default: Any = dataclasses.MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    **declared: Any,
) -> Any:
    """One declared setting: a dataclass field carrying its `Declared` metadata.

    Args:
        env: its environment variable.
        description: one line for the docs, the UI and `dg`.
        default: its default; none makes the setting required.
        factory: computes the default instead (e.g. a path under the checkout).
        **declared: any other field of `Declared` (secret, check, fallback, normalize,
            required_hint, default_text, example).

    Example:
        `timeout: float = setting("ANALYTICS_X_TIMEOUT", "seconds", 30.0, check=positive)`
    """
    meta = {"declared": Declared(env, description, **declared)}
    secret = meta["declared"].secret
    if factory is not None:
        return field(default_factory=factory, repr=not secret, metadata=meta)
    return field(default=default, repr=not secret, metadata=meta)


def declared_fields(cls: type) -> Iterator[tuple[dataclasses.Field, Declared]]:
    """Each declared field of `cls` with its declaration, in declaration order."""
    for f in dataclasses.fields(cls):
        yield f, f.metadata["declared"]


def check_declared(settings: Any) -> None:
    """Apply every declared field's rule to its value (a dataclass's `__post_init__`)."""
    for f, declared in declared_fields(type(settings)):
        if declared.check is not None:
            declared.check(declared.env, getattr(settings, f.name))


def value_type(cls: type, name: str) -> type:
    """The field's type without its `None`: str, int, float or Path."""
    hint = typing.get_type_hints(cls)[name]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


def default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None
