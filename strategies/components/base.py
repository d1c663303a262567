"""What a strategy component is: typed ports, a parameter schema, two implementations.

Every component has a *batch* implementation (whole numpy arrays, for backtests and the
composer's preview) and a *streaming* one (one bar at a time, O(1) after warm-up, for live).
Both must produce bit-identical values on the same bars, so the streaming code only uses
operations whose floating-point result cannot differ from the batch code: ta-lib functions
(whose stream handles are bit-identical to the batch functions) and element-wise IEEE
arithmetic/comparisons. Never a running sum that batch code computes another way.

Ports are typed so a UI can offer only valid wiring: ``float`` (a numeric series), ``bool``
(a condition series) and ``action`` (a signal written into ``Signals``; nothing consumes it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, create_model

from strategies.signals import Bar, Bars

PortType = Literal["float", "bool", "action"]
Category = Literal["source", "indicator", "transform", "logic", "action"]
CATEGORIES: tuple[str, ...] = ("source", "indicator", "transform", "logic", "action")

NAN = math.nan


@dataclass(frozen=True)
class Port:
    """A typed input or output. ``default`` is the reference used when a spec leaves an input
    unwired (``"close"``, ``"high"``...); ``optional`` inputs may stay unwired (``None``)."""

    name: str
    type: PortType
    doc: str = ""
    default: str | float | None = None
    optional: bool = False

    def schema(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "doc": self.doc, "default": self.default,
                "optional": self.optional}


@dataclass(frozen=True)
class Context:
    """What batch code may know besides its inputs: the bars and the bar length."""

    bars: Bars
    bar_ms: int

    @property
    def n(self) -> int:
        return len(self.bars)


class StreamNode(Protocol):
    """One node's streaming state. ``update`` commits a closed bar; ``peek`` answers for a
    forming bar and commits nothing (it may be called any number of times)."""

    def update(self, bar: Bar, *xs: Any) -> tuple[Any, ...]: ...

    def peek(self, bar: Bar, *xs: Any) -> tuple[Any, ...]: ...


BatchFn = Callable[..., tuple[np.ndarray, ...]]
StreamFactory = Callable[[Any, int], StreamNode]


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Component:
    """A registered building block. ``batch(params, ctx, *inputs)`` returns one array per
    output; ``stream(params, bar_ms)`` returns a fresh ``StreamNode``. ``talib`` names the
    wrapped ta-lib function (tests compare against it)."""

    kind: str
    category: Category
    title: str
    description: str
    params: type[BaseModel]
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    batch: BatchFn
    stream: StreamFactory
    talib: str | None = None

    def output_index(self, name: str) -> int | None:
        for i, port in enumerate(self.outputs):
            if port.name == name:
                return i
        return None

    def schema(self) -> dict[str, Any]:
        """Machine-readable description for UIs and ``strategy components --json``."""
        return {
            "kind": self.kind,
            "category": self.category,
            "title": self.title,
            "description": self.description,
            "params": self.params.model_json_schema(),
            "inputs": [p.schema() for p in self.inputs],
            "outputs": [p.schema() for p in self.outputs],
            "talib": self.talib,
        }


# ----------------------------------------------------------------- parameter declarations


def int_param(default: int, lo: int, hi: int, doc: str) -> Any:
    return (int, Field(default, ge=lo, le=hi, description=doc, strict=False))


def float_param(default: float | None, lo: float, hi: float, doc: str, *, optional: bool = False) -> Any:
    annotation: Any = float | None if optional else float
    return (annotation, Field(default, ge=lo, le=hi, description=doc))


def choice_param(default: str, choices: tuple[str, ...], doc: str) -> Any:
    return (Literal[choices], Field(default, description=doc))  # type: ignore[valid-type]


def params_model(kind: str, **fields: Any) -> type[BaseModel]:
    """A strict pydantic model for a component's parameters (unknown keys rejected)."""
    if not fields:
        return NoParams
    name = "".join(part.title() for part in kind.split("_")) + "Params"
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


# ----------------------------------------------------------------- small streaming helpers


class Ring:
    """The last ``size`` values, oldest first; ``ago(k)`` is the value k bars back (k>=1
    relative to the value about to be pushed). NaN until that many values were pushed."""

    __slots__ = ("buf", "pos", "count", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.buf = [NAN] * size
        self.pos = 0
        self.count = 0

    def ago(self, k: int) -> Any:
        if k > self.count:
            return NAN
        return self.buf[(self.pos - k) % self.size]

    def push(self, value: Any) -> None:
        self.buf[self.pos] = value
        self.pos = (self.pos + 1) % self.size
        self.count += 1


class Stateless:
    """A streaming node for element-wise functions (no state: update == peek)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[..., tuple[Any, ...]]) -> None:
        self.fn = fn

    def update(self, bar: Bar, *xs: Any) -> tuple[Any, ...]:
        return self.fn(bar, *xs)

    def peek(self, bar: Bar, *xs: Any) -> tuple[Any, ...]:
        return self.fn(bar, *xs)


def shift(x: np.ndarray, k: int, fill: Any = NAN) -> np.ndarray:
    """``x`` delayed by ``k`` bars (the first ``k`` entries are ``fill``)."""
    out = np.empty_like(x)
    if k >= len(x):
        out[:] = fill
        return out
    out[:k] = fill
    out[k:] = x[: len(x) - k]
    return out
