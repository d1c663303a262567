"""Validation errors that name the path of the bad field and what would have been allowed.

A spec is edited by people (a TOML file, the composer, ``--param k=v``), so every error reads
``nodes[2].params.period: must be an integer 2..1000, got 'x'``: where, what is allowed, what
was given. ``SpecError`` carries all issues found, not just the first.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo


class SpecError(ValueError):
    """One or more spec problems, each ``(path, message)``."""

    def __init__(self, issues: list[tuple[str, str]]) -> None:
        self.issues = issues
        super().__init__("\n".join(f"{p}: {m}" if p else m for p, m in issues))

    def one_line(self) -> str:
        """All issues on one line (for a CLI error)."""
        return "; ".join(f"{p}: {m}" if p else m for p, m in self.issues)


def path_str(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("nodes", 2, "params", "period")`` -> ``nodes[2].params.period``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _bounds(info: FieldInfo) -> tuple[Any, Any]:
    """(lower, upper) from the field's Ge/Gt/Le/Lt constraints (None where absent)."""
    lo = hi = None
    for meta in info.metadata:
        lo = getattr(meta, "ge", getattr(meta, "gt", lo))
        hi = getattr(meta, "le", getattr(meta, "lt", hi))
    return lo, hi


def _num(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def describe(info: FieldInfo) -> str:
    """What a field accepts, in words: ``an integer 2..1000``, ``one of 'sma', 'ema'``."""
    annotation = info.annotation
    optional = False
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        optional = True
        annotation = next(a for a in args if a is not type(None))
    lo, hi = _bounds(info)
    rng = f" {_num(lo)}..{_num(hi)}" if lo is not None and hi is not None else (
        f" >= {_num(lo)}" if lo is not None else (f" <= {_num(hi)}" if hi is not None else ""))
    if typing.get_origin(annotation) is typing.Literal:
        text = "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    elif annotation is bool:
        text = "true or false"
    elif annotation is int:
        text = "an integer" + rng
    elif annotation is float:
        text = "a number" + rng
    elif annotation is str:
        pattern = next((m.pattern for m in info.metadata if hasattr(m, "pattern")), None)
        text = "a timeframe like 15m, 1h, 4h, 1d" if pattern and "smhdw" in pattern else "a string"
    else:
        text = f"a {getattr(annotation, '__name__', annotation)}"
    return text + (" or empty" if optional else "")


def model_issues(model: type[BaseModel], exc: ValidationError, prefix: tuple[Any, ...]) -> list[tuple[str, str]]:
    """Pydantic errors of ``model`` as path-naming issues with the allowed values."""
    issues = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        field = model.model_fields.get(loc[0]) if loc and isinstance(loc[0], str) else None
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(model.model_fields) or "none"
            issues.append((path_str(prefix + loc), f"unknown field; allowed: {allowed}"))
        elif err["type"] == "missing":
            what = f" ({describe(field)})" if field is not None else ""
            issues.append((path_str(prefix + loc), f"required{what}"))
        elif field is not None and len(loc) == 1:
            issues.append((path_str(prefix + loc), f"must be {describe(field)}, got {err['input']!r}"))
        else:
            issues.append((path_str(prefix + loc), f"{err['msg']}, got {err['input']!r}"))
    return issues
