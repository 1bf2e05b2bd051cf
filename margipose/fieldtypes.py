"""Checking values read from files against a dataclass's field types (``int``, ``float``, ``bool``, ``str``,
``X | None``, ``dict[...]``), strictly: a bool is not an int, an int is not a bool, a float must be finite,
text is never converted. Used where options come from untrusted files (checkpoints)."""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

__all__ = ["describe", "matches", "mismatched_fields", "shown"]

_NAMES = {int: "an integer", float: "a finite number", bool: "true or false", str: "a string", type(None): "None",
          dict: "a dict", list: "a list"}


def matches(value: Any, hint: Any) -> bool:
    """True when ``value`` has the type ``hint`` names (unions and ``X | None`` included)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, h) for h in typing.get_args(hint))
    if hint is Any:
        return True
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:  # an integer is a fine number; a bool or nan/inf is not
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is type(None):
        return value is None
    return isinstance(value, origin or hint)


def describe(hint: Any) -> str:
    """Words for a type hint: ``int | None`` -> 'an integer or None'."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(describe(h) for h in typing.get_args(hint))
    base = typing.get_origin(hint) or hint
    return _NAMES.get(base, getattr(base, "__name__", str(base)))


def shown(value: Any, limit: int = 60) -> str:
    """``type value`` for an error message, the repr cut to ``limit`` characters (a file may hold anything)."""
    text = repr(value)
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return f"{type(value).__name__} {text}"


def mismatched_fields(obj: Any) -> list[tuple[str, Any, Any]]:
    """(name, value, hint) for every field of the dataclass instance ``obj`` whose value is not of its type."""
    hints = typing.get_type_hints(type(obj))
    out = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if not matches(value, hints[f.name]):
            out.append((f.name, value, hints[f.name]))
    return out
