"""Transforms: comparisons and crosses (float -> bool), and series arithmetic (float -> float).

Conventions shared by both evaluators: a comparison involving NaN is false; a cross needs
both series defined on both bars; division by zero and percent change from zero give NaN.
Rolling windows use ta-lib (MAX, MIN, SMA, STDDEV) so batch and streaming agree exactly.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import Field

from strategies.components.base import (
    Component,
    Context,
    Port,
    Ring,
    Stateless,
    choice_param,
    float_param,
    int_param,
    params_model,
    shift,
)
from strategies.components.talib_wrap import TalibStream, run_batch
from strategies.signals import Bar

NAN = math.nan
A = Port("a", "float", "left series")
B = Port("b", "float", "right series (a node, a bar field or a number)")
X = Port("source", "float", "input series", default="close")
F_OUT = (Port("value", "float"),)
B_OUT = (Port("value", "bool"),)
_NONE = params_model("none")


# ------------------------------------------------------------------ comparisons


def _compare(kind: str, op: Callable[[Any, Any], Any], symbol: str, title: str) -> Component:
    def batch(p: Any, ctx: Context, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
        with np.errstate(invalid="ignore"):
            return (op(a, b),)  # IEEE: any comparison with NaN is False

    def stream(p: Any, bar_ms: int) -> Stateless:
        return Stateless(lambda bar, a, b: (op(a, b),))

    doc = (f"True on bars where a {symbol} b. A NaN on either side (an indicator still warming "
           "up) gives false. Use it as a state filter (fast above slow) rather than a trigger; "
           "cross_over/cross_under fire once per change.")
    return Component(kind, "transform", title, doc, _NONE, (A, B), B_OUT, batch, stream)


def _cross(kind: str, up: bool) -> Component:
    now, before = (operator.gt, operator.le) if up else (operator.lt, operator.ge)

    def batch(p: Any, ctx: Context, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
        pa, pb = shift(a, 1), shift(b, 1)
        with np.errstate(invalid="ignore"):
            return (now(a, b) & before(pa, pb),)  # NaN anywhere -> False

    class _Stream:
        __slots__ = ("pa", "pb")

        def __init__(self, p: Any = None, bar_ms: int = 0) -> None:
            self.pa = self.pb = NAN

        def peek(self, bar: Bar, a: float, b: float) -> tuple[bool]:
            return (bool(now(a, b) and before(self.pa, self.pb)),)

        def update(self, bar: Bar, a: float, b: float) -> tuple[bool]:
            out = self.peek(bar, a, b)
            self.pa, self.pb = a, b
            return out

    direction = "above" if up else "below"
    rule = "a > b now and a <= b on the previous bar" if up else "a < b now and a >= b on the previous bar"
    doc = (f"True on the bar where a crosses {direction} b: {rule}, all four values defined. "
           "It fires once per crossing, at the crossing bar's close (the sma_cross rule).")
    title = f"Cross {'over' if up else 'under'}"
    return Component(kind, "transform", title, doc, _NONE, (A, B), B_OUT, batch, _Stream)


_THRESHOLD = params_model(
    "threshold",
    level=float_param(50.0, -1e12, 1e12, "the level"),
    mode=choice_param("above", ("above", "below", "crosses_above", "crosses_below"), "what to test"),
)


def _threshold_batch(p: Any, ctx: Context, x: np.ndarray) -> tuple[np.ndarray, ...]:
    level = np.full(ctx.n, float(p.level))
    if p.mode == "above":
        return (_compare_arrays(x, level, operator.gt),)
    if p.mode == "below":
        return (_compare_arrays(x, level, operator.lt),)
    comp = _CROSS_OVER if p.mode == "crosses_above" else _CROSS_UNDER
    return comp.batch(None, ctx, x, level)


def _compare_arrays(a: np.ndarray, b: np.ndarray, op: Callable[[Any, Any], Any]) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return op(a, b)


class _ThresholdStream:
    def __init__(self, p: Any, bar_ms: int) -> None:
        self.level = float(p.level)
        self.mode = p.mode
        self.cross = _CROSS_OVER.stream(None, bar_ms) if p.mode == "crosses_above" else _CROSS_UNDER.stream(None, bar_ms)

    def _step(self, bar: Bar, x: float, commit: bool) -> tuple[bool]:
        if self.mode == "above":
            return (x > self.level,)
        if self.mode == "below":
            return (x < self.level,)
        return self.cross.update(bar, x, self.level) if commit else self.cross.peek(bar, x, self.level)

    def update(self, bar: Bar, x: float) -> tuple[bool]:
        return self._step(bar, x, True)

    def peek(self, bar: Bar, x: float) -> tuple[bool]:
        return self._step(bar, x, False)


# ------------------------------------------------------------------ windowed by lag


def _lagged(kind: str, title: str, doc: str, fn: Callable[[Any, Any, int], Any], np_fn: Callable[..., np.ndarray],
            default: int, lo: int = 1) -> Component:
    """A component f(x[i], x[i-n], n) over a ring of the last n values."""
    model = params_model(kind, period=int_param(default, lo, 10000, "bars back"))

    def batch(p: Any, ctx: Context, x: np.ndarray) -> tuple[np.ndarray, ...]:
        with np.errstate(divide="ignore", invalid="ignore"):
            return (np_fn(x, shift(x, p.period), p.period),)

    class _Stream:
        __slots__ = ("ring", "n")

        def __init__(self, p: Any, bar_ms: int) -> None:
            self.n = p.period
            self.ring = Ring(p.period)

        def peek(self, bar: Bar, x: float) -> tuple[float]:
            return (fn(x, self.ring.ago(self.n), self.n),)

        def update(self, bar: Bar, x: float) -> tuple[float]:
            out = self.peek(bar, x)
            self.ring.push(x)
            return out

    return Component(kind, "transform", title, doc, model, (X,), F_OUT, batch, _Stream)


def _np_pct(x: np.ndarray, old: np.ndarray, n: int) -> np.ndarray:
    return np.where(old != 0.0, x / np.where(old != 0.0, old, 1.0) - 1.0, NAN)


def _py_pct(x: float, old: float, n: int) -> float:
    return x / old - 1.0 if old != 0.0 else NAN  # NaN old: the comparison is True, NaN result


# ------------------------------------------------------------------ ta-lib windows


def _windowed(kind: str, func: str, title: str, doc: str) -> Component:
    model = params_model(kind, period=int_param(20, 2, 10000, "window length in bars"))

    def batch(p: Any, ctx: Context, x: np.ndarray) -> tuple[np.ndarray, ...]:
        return run_batch(func, {"timeperiod": p.period}, x)

    def stream(p: Any, bar_ms: int) -> TalibStream:
        return TalibStream(func, {"timeperiod": p.period})

    return Component(kind, "transform", title, doc, model, (X,), F_OUT, batch, stream, talib=func)


_ZSCORE = params_model("zscore", period=int_param(20, 2, 10000, "window length in bars"))


def _z(x: Any, mean: Any, sd: Any) -> Any:
    return (x - mean) / sd if sd != 0.0 else NAN


def _zscore_batch(p: Any, ctx: Context, x: np.ndarray) -> tuple[np.ndarray, ...]:
    mean = run_batch("SMA", {"timeperiod": p.period}, x)[0]
    sd = run_batch("STDDEV", {"timeperiod": p.period, "nbdev": 1.0}, x)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.where(sd != 0.0, (x - mean) / np.where(sd != 0.0, sd, 1.0), NAN),)


class _ZscoreStream:
    def __init__(self, p: Any, bar_ms: int) -> None:
        self.mean = TalibStream("SMA", {"timeperiod": p.period})
        self.sd = TalibStream("STDDEV", {"timeperiod": p.period, "nbdev": 1.0})

    def update(self, bar: Bar, x: float) -> tuple[float]:
        return (_z(x, self.mean.update(bar, x)[0], self.sd.update(bar, x)[0]),)

    def peek(self, bar: Bar, x: float) -> tuple[float]:
        return (_z(x, self.mean.peek(bar, x)[0], self.sd.peek(bar, x)[0]),)


# ------------------------------------------------------------------ arithmetic


def _py_div(a: float, b: float) -> float:
    return a / b if b != 0.0 else NAN


def _np_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b != 0.0, a / np.where(b != 0.0, b, 1.0), NAN)


def _binary(kind: str, title: str, symbol: str, np_fn: Callable[..., np.ndarray], py_fn: Callable[..., float]) -> Component:
    def batch(p: Any, ctx: Context, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
        return (np_fn(a, b),)

    def stream(p: Any, bar_ms: int) -> Stateless:
        return Stateless(lambda bar, a, b: (py_fn(a, b),))

    doc = (f"a {symbol} b on every bar (either input may be a number). NaN propagates"
           + (", and division by zero gives NaN." if kind == "div" else "."))
    return Component(kind, "transform", title, doc, _NONE, (A, B), F_OUT, batch, stream)


def _abs_batch(p: Any, ctx: Context, x: np.ndarray) -> tuple[np.ndarray, ...]:
    return (np.abs(x),)


# ------------------------------------------------------------------ resample (no lookahead)

TF_PATTERN = r"^[1-9][0-9]*[smhdw]$"
_RESAMPLE = params_model(
    "resample",
    tf=(str, Field("1h", pattern=TF_PATTERN, description="higher timeframe, e.g. 15m, 1h, 4h, 1d")),
    agg=choice_param("last", ("last", "first", "max", "min"), "how bars combine into a bucket"),
    smooth=int_param(1, 1, 1000, "SMA over this many completed buckets (1 = none)"),
)

TF_UNITS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def tf_ms(tf: str) -> int:
    """``"15m"`` -> 900000. The caller validated the pattern."""
    return int(tf[:-1]) * TF_UNITS[tf[-1]]


_AGG_PY: dict[str, Callable[[float, float], float]] = {
    "last": lambda acc, x: x,
    "first": lambda acc, x: acc,
    "max": lambda acc, x: x if x > acc or acc != acc else acc,
    "min": lambda acc, x: x if x < acc or acc != acc else acc,
}


def _resample_batch(p: Any, ctx: Context, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """Value at bar i = the aggregate of the latest bucket complete at bar i's close.

    A bucket completes at its last bar (the bar's end is the bucket's end) or, after a data
    gap, at the first bar of a later bucket."""
    n, period = ctx.n, tf_ms(p.tf)
    out = np.full(n, NAN)
    if n == 0:
        return (out,)
    ts = ctx.bars.ts
    bucket = ts // period
    ends = (ts + ctx.bar_ms) // period != bucket
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    stops = np.r_[starts[1:], n]
    values = np.array([_agg_slice(x[a:b], p.agg) for a, b in zip(starts, stops)])
    done_at = np.where(ends[stops - 1], stops - 1, np.minimum(stops, n))  # n = never completes
    keep = done_at < n
    values, done_at = values[keep], done_at[keep]
    if p.smooth > 1 and len(values):
        values = run_batch("SMA", {"timeperiod": p.smooth}, values)[0]
    idx = np.full(n, -1)
    np.maximum.at(idx, done_at, np.arange(len(done_at)))  # two completions on one bar: the later
    idx = np.maximum.accumulate(idx)
    has = idx >= 0
    out[has] = values[idx[has]]
    return (out,)


def _agg_slice(seg: np.ndarray, agg: str) -> float:
    acc = NAN
    fn = _AGG_PY[agg]
    for i, x in enumerate(seg.tolist()):
        acc = x if i == 0 else fn(acc, x)
    return acc


class _ResampleStream:
    def __init__(self, p: Any, bar_ms: int) -> None:
        self.period, self.bar_ms = tf_ms(p.tf), bar_ms
        self.agg = _AGG_PY[p.agg]
        self.smooth = TalibStream("SMA", {"timeperiod": p.smooth}) if p.smooth > 1 else None
        self.bucket: int | None = None
        self.acc = NAN
        self.open = False  # the current bucket has bars and has not completed yet
        self.value = NAN

    def _complete(self, raw: float, commit: bool, bar: Bar) -> float:
        if self.smooth is None:
            return raw
        return (self.smooth.update(bar, raw) if commit else self.smooth.peek(bar, raw))[0]

    def _step(self, bar: Bar, x: float, commit: bool) -> tuple[float]:
        bucket = bar.ts // self.period
        value, acc, is_open = self.value, self.acc, self.open
        pending: float | None = None
        if bucket != self.bucket:
            if is_open:
                pending = acc  # a gap: the previous bucket completes now
            acc, is_open = x, True
        else:
            acc = self.agg(acc, x)
        if pending is not None:
            value = self._complete(pending, commit, bar)
        if (bar.ts + self.bar_ms) // self.period != bucket:
            if pending is not None and not commit:
                # two completions on one peeked bar: ta-lib peek cannot chain; fork the handle
                value = self._complete_after(pending, acc, bar)
            else:
                value = self._complete(acc, commit, bar)
            is_open = False
        if commit:
            self.bucket, self.acc, self.open, self.value = bucket, acc, is_open, value
        return (value,)

    def _complete_after(self, first: float, second: float, bar: Bar) -> float:
        if self.smooth is None:
            return second
        fork = self.smooth.copy()
        fork.update(bar, first)
        return fork.peek(bar, second)[0]

    def update(self, bar: Bar, x: float) -> tuple[float]:
        return self._step(bar, x, True)

    def peek(self, bar: Bar, x: float) -> tuple[float]:
        return self._step(bar, x, False)


# ------------------------------------------------------------------ registry

_CROSS_OVER = _cross("cross_over", up=True)
_CROSS_UNDER = _cross("cross_under", up=False)


def components() -> list[Component]:
    return [
        _CROSS_OVER,
        _CROSS_UNDER,
        _compare("gt", operator.gt, ">", "Greater than"),
        _compare("lt", operator.lt, "<", "Less than"),
        _compare("ge", operator.ge, ">=", "Greater or equal"),
        _compare("le", operator.le, "<=", "Less or equal"),
        Component("threshold", "transform", "Threshold",
                  "Compares a series with a fixed level: above, below, or crossing it (a cross "
                  "needs the series defined on both bars). The level is a parameter, so a sweep "
                  "can vary it (RSI crossing above 30, for example).",
                  _THRESHOLD, (X,), B_OUT, _threshold_batch, _ThresholdStream),
        _lagged("slope", "Slope", "(x - x[period bars ago]) / period: the average change per bar over "
                "the window. Positive means rising. NaN until period+1 values exist.",
                lambda x, old, n: (x - old) / n, lambda x, old, n: (x - old) / n, 1),
        _lagged("lag", "Lag", "The series delayed by `period` bars (x[i - period]). Use it to compare "
                "with the previous bar's channel, for example, without lookahead.",
                lambda x, old, n: old, lambda x, old, n: old, 1),
        _lagged("pct_change", "Percent change", "x / x[period bars ago] - 1 (0.01 = +1 %). NaN when the "
                "old value is zero or undefined.", _py_pct, _np_pct, 1),
        _windowed("rolling_max", "MAX", "Rolling maximum",
                  "The highest value of the last `period` bars, the current one included."),
        _windowed("rolling_min", "MIN", "Rolling minimum",
                  "The lowest value of the last `period` bars, the current one included."),
        Component("zscore", "transform", "Z-score",
                  "(x - SMA(x, period)) / STDDEV(x, period): how many (population) standard "
                  "deviations x sits from its rolling mean. NaN when the window is flat. Mean "
                  "reversion buys far below zero; in a trend the score can stay extreme.",
                  _ZSCORE, (X,), F_OUT, _zscore_batch, _ZscoreStream),
        _binary("add", "Add", "+", np.add, operator.add),
        _binary("sub", "Subtract", "-", np.subtract, operator.sub),
        _binary("mul", "Multiply", "*", np.multiply, operator.mul),
        _binary("div", "Divide", "/", _np_div, _py_div),
        Component("abs", "transform", "Absolute value", "|x| on every bar (NaN stays NaN): the size of a move or a "
                  "distance regardless of its sign, e.g. |close - vwap|.",
                  _NONE, (X,), F_OUT, _abs_batch, lambda p, bar_ms: Stateless(lambda bar, x: (abs(x),))),
        Component("resample", "transform", "Resample to a higher timeframe",
                  "The series on a higher timeframe without lookahead: on each bar, the "
                  "aggregate (last/first/max/min) of the most recent higher-timeframe bucket "
                  "that is complete at this bar's close, optionally smoothed by an SMA over "
                  "`smooth` completed buckets (an hourly SMA(50) on minute bars is resample "
                  "tf=1h smooth=50). Buckets are aligned to UTC epoch multiples of tf; a bucket "
                  "cut by a data gap completes at the next bar.",
                  _RESAMPLE, (X,), F_OUT, _resample_batch, _ResampleStream),
    ]
