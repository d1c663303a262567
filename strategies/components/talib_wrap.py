"""ta-lib functions as components: batch through ``talib.<F>``, streaming through
``talib.stream.<F>`` handles.

A handle needs some history before it opens (``talib.InsufficientHistory``), and ta-lib skips
leading bars that are NaN in any input (an indicator fed by another indicator starts with
NaNs). While the handle cannot open, ``TalibStream`` keeps the (non-leading-NaN) inputs and
answers with the last value of the batch function over them, which is what the batch
function reports for that bar on the whole series; once the handle opens it drops the buffer
and every bar costs one O(1) ``update``. Values are bit-identical to batch either way.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import talib
from talib import abstract
from talib import stream as ta_stream

from strategies.signals import Bar

NAN = math.nan


def lookback(func: str, params: dict[str, Any]) -> int:
    fn = abstract.Function(func)
    fn.set_parameters(params)
    return int(fn.lookback)


def run_batch(func: str, params: dict[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
    """The batch function, always as a tuple of float64 arrays (NaN before warm-up).

    ta-lib rejects input that is NaN all the way through; that is "no value yet" here."""
    arrays = [np.ascontiguousarray(x, dtype=np.float64) for x in inputs]
    n_out = len(abstract.Function(func).output_names)
    if arrays and len(arrays[0]) and _first_valid(arrays) >= len(arrays[0]):
        return tuple(np.full(len(arrays[0]), NAN) for _ in range(n_out))
    try:
        out = getattr(talib, func)(*arrays, **params)
    except Exception as exc:  # ta-lib raises a bare Exception for all-NaN input
        if "inputs are all NaN" not in str(exc):
            raise
        return tuple(np.full(len(arrays[0]), NAN) for _ in range(n_out))
    if not isinstance(out, tuple):
        out = (out,)
    return tuple(np.asarray(o, dtype=np.float64) for o in out)


def _first_valid(arrays: list[np.ndarray]) -> int:
    bad = np.zeros(len(arrays[0]), dtype=bool)
    for a in arrays:
        bad |= np.isnan(a)
    good = np.flatnonzero(~bad)
    return int(good[0]) if len(good) else len(arrays[0])


class TalibStream:
    """Streaming node over one ta-lib function (see the module docstring)."""

    __slots__ = ("func", "params", "n_out", "need", "handle", "buf", "started", "nan_out")

    def __init__(self, func: str, params: dict[str, Any]) -> None:
        self.func = func
        self.params = params
        self.n_out = len(abstract.Function(func).output_names)
        self.need = lookback(func, params) + 1
        self.handle: Any = None
        self.buf: list[list[float]] | None = None
        self.started = False
        self.nan_out = (NAN,) * self.n_out

    def _tuple(self, value: Any) -> tuple[float, ...]:
        if self.n_out == 1:
            return (float(value),)
        return tuple(float(v) for v in value)

    def _leading_nan(self, xs: tuple[float, ...]) -> bool:
        return not self.started and any(x != x for x in xs)

    def update(self, bar: Bar, *xs: float) -> tuple[float, ...]:
        if self.handle is not None:
            if all(math.isfinite(x) for x in xs):
                return self._tuple(self.handle.update(*xs))
            # ta-lib's batch result is undefined after a NaN inside the series; the handle
            # refuses the bar, so count it and report no value for it.
            self.handle.advance()
            return self.nan_out
        if self._leading_nan(xs):
            return self.nan_out
        if self.buf is None:
            self.buf = [[] for _ in xs]
            self.started = True
        for column, x in zip(self.buf, xs):
            column.append(x)
        arrays = [np.array(c, dtype=np.float64) for c in self.buf]
        if len(self.buf[0]) >= self.need:
            try:
                self.handle = getattr(ta_stream, self.func)(*arrays, **self.params)
            except talib.InsufficientHistory:
                pass
            else:
                self.buf = None
                return self._tuple(self.handle.value)
        return tuple(float(o[-1]) for o in run_batch(self.func, self.params, *arrays))

    def copy(self) -> TalibStream:
        """An independent node at the same bar (ta-lib ``Stream.copy`` once open)."""
        clone = TalibStream(self.func, self.params)
        clone.started = self.started
        clone.buf = None if self.buf is None else [list(c) for c in self.buf]
        clone.handle = None if self.handle is None else self.handle.copy()
        return clone

    def peek(self, bar: Bar, *xs: float) -> tuple[float, ...]:
        if self.handle is not None:
            if all(math.isfinite(x) for x in xs):
                return self._tuple(self.handle.peek(*xs))
            return self.nan_out
        if self._leading_nan(xs):
            return self.nan_out
        columns = self.buf or [[] for _ in xs]
        arrays = [np.array([*c, x], dtype=np.float64) for c, x in zip(columns, xs)]
        return tuple(float(o[-1]) for o in run_batch(self.func, self.params, *arrays))
