"""Logic over conditions: and/or/not, persistence (for N bars), memory (within N bars, latch,
bars since), edges, periodic triggers, and the grid ratchet.

Batch versions are numpy index arithmetic (exact integers); streaming versions keep a counter
or the last bar index, so both agree bit for bit. The grid is path-dependent, so both
evaluators run the same scalar step function.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import Field

from strategies.components.base import (
    Component,
    Context,
    Port,
    Ring,
    Stateless,
    float_param,
    int_param,
    params_model,
    shift,
)
from strategies.components.transforms import TF_PATTERN, tf_ms
from strategies.signals import Bar

NAN = math.nan
C = Port("cond", "bool", "condition")
B_OUT = (Port("value", "bool"),)
_NONE = params_model("none")
_N = params_model("n", n=int_param(3, 1, 100000, "number of bars"))


def _variadic(kind: str, title: str, is_and: bool) -> Component:
    ports = (Port("a", "bool"), Port("b", "bool"), Port("c", "bool", optional=True), Port("d", "bool", optional=True))

    def batch(p: Any, ctx: Context, *xs: np.ndarray | None) -> tuple[np.ndarray, ...]:
        out = np.full(ctx.n, is_and)
        for x in xs:
            if x is not None:
                out = (out & x) if is_and else (out | x)
        return (out,)

    def step(bar: Bar, *xs: bool | None) -> tuple[bool]:
        given = [bool(x) for x in xs if x is not None]
        return (all(given) if is_and else any(given),)

    doc = (("True when all" if is_and else "True when any")
           + " of its inputs (two to four conditions; c and d are optional) are true on the bar.")
    return Component(kind, "logic", title, doc, _NONE, ports, B_OUT, batch, lambda p, bar_ms: Stateless(step))


def _not_batch(p: Any, ctx: Context, x: np.ndarray) -> tuple[np.ndarray, ...]:
    return (~x,)


# ------------------------------------------------------------------ persistence and memory


def _for_n_batch(p: Any, ctx: Context, x: np.ndarray) -> tuple[np.ndarray, ...]:
    idx = np.arange(ctx.n)
    last_false = np.maximum.accumulate(np.where(~x, idx, -1))
    return (idx - last_false >= p.n,)


class _ForNStream:
    def __init__(self, p: Any, bar_ms: int) -> None:
        self.n, self.run = p.n, 0

    def peek(self, bar: Bar, x: bool) -> tuple[bool]:
        return ((self.run + 1 if x else 0) >= self.n,)

    def update(self, bar: Bar, x: bool) -> tuple[bool]:
        self.run = self.run + 1 if x else 0
        return (self.run >= self.n,)


def _since_last(x: np.ndarray) -> np.ndarray:
    """Bars since x was last true (0 on a true bar), -1 before the first true."""
    idx = np.arange(len(x))
    last = np.maximum.accumulate(np.where(x, idx, -1))
    return np.where(last >= 0, idx - last, -1)


def _within_batch(p: Any, ctx: Context, x: np.ndarray) -> tuple[np.ndarray, ...]:
    since = _since_last(x)
    return ((since >= 0) & (since < p.n),)


class _SinceStream:
    """Tracks bars since the condition was last true; ``out`` maps that count to outputs."""

    def __init__(self, p: Any, bar_ms: int) -> None:
        self.p, self.since = p, -1

    def _next(self, x: bool) -> int:
        return 0 if x else (self.since + 1 if self.since >= 0 else -1)

    def peek(self, bar: Bar, x: bool) -> tuple[Any]:
        return self.out(self._next(x))

    def update(self, bar: Bar, x: bool) -> tuple[Any]:
        self.since = self._next(x)
        return self.out(self.since)

    def out(self, since: int) -> tuple[Any]:
        raise NotImplementedError


class _WithinStream(_SinceStream):
    def out(self, since: int) -> tuple[bool]:
        return (0 <= since < self.p.n,)


class _BarsSinceStream(_SinceStream):
    def out(self, since: int) -> tuple[float]:
        return (float(since) if since >= 0 else NAN,)


def _bars_since_batch(p: Any, ctx: Context, x: np.ndarray) -> tuple[np.ndarray, ...]:
    since = _since_last(x)
    return (np.where(since >= 0, since.astype(np.float64), NAN),)


# ------------------------------------------------------------------ edges and direction


def _edge(kind: str, rising: bool) -> Component:
    def batch(p: Any, ctx: Context, x: np.ndarray) -> tuple[np.ndarray, ...]:
        prev = shift(x, 1, False)
        return ((x & ~prev) if rising else (~x & prev),)

    class _Stream:
        def __init__(self, p: Any, bar_ms: int) -> None:
            self.prev = False

        def peek(self, bar: Bar, x: bool) -> tuple[bool]:
            return ((x and not self.prev) if rising else (not x and self.prev),)

        def update(self, bar: Bar, x: bool) -> tuple[bool]:
            out = self.peek(bar, x)
            self.prev = x
            return out

    what = "false to true" if rising else "true to false"
    doc = (f"True on the bar where the condition turns from {what} (the bar before the "
           "first bar counts as false). Turns a state into a one-bar trigger.")
    title = "Rising edge" if rising else "Falling edge"
    return Component(kind, "logic", title, doc, _NONE, (C,), B_OUT, batch, _Stream)


def _direction(kind: str, up: bool) -> Component:
    model = params_model(kind, n=int_param(1, 1, 10000, "compare with the value n bars ago"))
    word = "rising" if up else "falling"

    def batch(p: Any, ctx: Context, x: np.ndarray) -> tuple[np.ndarray, ...]:
        old = shift(x, p.n)
        with np.errstate(invalid="ignore"):
            return ((x > old) if up else (x < old),)

    class _Stream:
        def __init__(self, p: Any, bar_ms: int) -> None:
            self.n, self.ring = p.n, Ring(p.n)

        def peek(self, bar: Bar, x: float) -> tuple[bool]:
            old = self.ring.ago(self.n)
            return ((x > old) if up else (x < old),)

        def update(self, bar: Bar, x: float) -> tuple[bool]:
            out = self.peek(bar, x)
            self.ring.push(x)
            return out

    doc = (f"True when the series is {word}: x {'>' if up else '<'} x[n bars ago] (false while "
           "either is undefined).")
    return Component(kind, "logic", word.title(), doc, model,
                     (Port("source", "float", "input series", default="close"),), B_OUT, batch, _Stream)


# ------------------------------------------------------------------ periodic, latch, grid

_EVERY = params_model("every", interval=(str, Field("1d", pattern=TF_PATTERN, description="period, e.g. 4h, 1d, 1w")))


def _every_batch(p: Any, ctx: Context) -> tuple[np.ndarray, ...]:
    bucket = ctx.bars.ts // tf_ms(p.interval)
    return (np.r_[True, bucket[1:] != bucket[:-1]][: ctx.n],)


class _EveryStream:
    def __init__(self, p: Any, bar_ms: int) -> None:
        self.period, self.bucket = tf_ms(p.interval), None

    def peek(self, bar: Bar) -> tuple[bool]:
        return (bar.ts // self.period != self.bucket,)

    def update(self, bar: Bar) -> tuple[bool]:
        out = self.peek(bar)
        self.bucket = bar.ts // self.period
        return out


def _latch_batch(p: Any, ctx: Context, s: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, ...]:
    idx = np.arange(ctx.n)
    last_set = np.maximum.accumulate(np.where(s & ~r, idx, -1))
    last_reset = np.maximum.accumulate(np.where(r, idx, -1))
    return (last_set > last_reset,)


class _LatchStream:
    def __init__(self, p: Any, bar_ms: int) -> None:
        self.state = False

    def peek(self, bar: Bar, s: bool, r: bool) -> tuple[bool]:
        return (False if r else (True if s else self.state),)

    def update(self, bar: Bar, s: bool, r: bool) -> tuple[bool]:
        (self.state,) = self.peek(bar, s, r)
        return (self.state,)


_GRID = params_model("grid", step=float_param(0.01, 0.0001, 0.5, "grid spacing as a fraction (0.01 = 1 %)"))


def grid_step(ref: float, x: float, step: float) -> tuple[bool, bool, float]:
    """One bar of the grid ratchet: (buy, sell, new reference)."""
    if x != x:
        return False, False, ref
    if ref != ref:
        return False, False, x
    if x <= ref * (1.0 - step):
        return True, False, x
    if x >= ref * (1.0 + step):
        return False, True, x
    return False, False, ref


def _grid_batch(p: Any, ctx: Context, x: np.ndarray) -> tuple[np.ndarray, ...]:
    buy = np.zeros(ctx.n, dtype=bool)
    sell = np.zeros(ctx.n, dtype=bool)
    ref, step = NAN, float(p.step)
    for i, value in enumerate(x.tolist()):
        buy[i], sell[i], ref = grid_step(ref, value, step)
    return buy, sell


class _GridStream:
    def __init__(self, p: Any, bar_ms: int) -> None:
        self.step, self.ref = float(p.step), NAN

    def peek(self, bar: Bar, x: float) -> tuple[bool, bool]:
        return grid_step(self.ref, x, self.step)[:2]

    def update(self, bar: Bar, x: float) -> tuple[bool, bool]:
        buy, sell, self.ref = grid_step(self.ref, x, self.step)
        return buy, sell


def components() -> list[Component]:
    return [
        _variadic("and", "And", True),
        _variadic("or", "Or", False),
        Component("not", "logic", "Not", "True where the condition is false: turns an entry "
                  "condition into its opposite, e.g. exit when not above the average.", _NONE, (C,), B_OUT,
                  _not_batch, lambda p, bar_ms: Stateless(lambda bar, x: (not x,))),
        Component("for_n_bars", "logic", "For N bars",
                  "True when the condition has been true on each of the last n bars (this one "
                  "included): a persistence filter against one-bar noise.",
                  _N, (C,), B_OUT, _for_n_batch, _ForNStream),
        Component("within_n_bars", "logic", "Within N bars",
                  "True when the condition was true on at least one of the last n bars (this one "
                  "included): lets two triggers that rarely coincide on the same bar combine.",
                  _N, (C,), B_OUT, _within_batch, _WithinStream),
        Component("bars_since", "logic", "Bars since",
                  "How many bars ago the condition was last true (0 on a true bar; NaN before "
                  "the first). Compare it with a number for time-based exits.",
                  _NONE, (C,), (Port("value", "float"),), _bars_since_batch, _BarsSinceStream),
        _edge("edge", rising=True),
        _edge("falling_edge", rising=False),
        _direction("rising", up=True),
        _direction("falling", up=False),
        Component("every", "logic", "Every interval",
                  "True on the first bar of each UTC-aligned interval (every day, every 4h...), "
                  "and on the very first bar. Drives periodic entries such as DCA.",
                  _EVERY, (), B_OUT, _every_batch, _EveryStream),
        Component("latch", "logic", "Latch (set/reset)",
                  "Remembers a state: true from a bar where `set` is true until a bar where "
                  "`reset` is true (reset wins when both are). Builds regimes from triggers.",
                  _NONE, (Port("set", "bool"), Port("reset", "bool")), B_OUT, _latch_batch, _LatchStream),
        Component("grid", "logic", "Grid ratchet",
                  "Buy and sell triggers of a grid with spacing `step`: a reference starts at the "
                  "first price; a close at or below reference*(1-step) fires `buy`, at or above "
                  "reference*(1+step) fires `sell`, and the reference moves to that close. In a "
                  "range this buys dips and sells rips; in a trend it sells too early (up) or "
                  "keeps buying a falling market (down).",
                  _GRID, (Port("source", "float", "price", default="close"),),
                  (Port("buy", "bool"), Port("sell", "bool")), _grid_batch, _GridStream),
    ]
