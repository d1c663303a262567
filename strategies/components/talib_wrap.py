"""ta-lib functions as components: batch through ``talib.<F>``, streaming through
``talib.stream.<F>`` handles.

A handle needs some history before it opens (``talib.InsufficientHistory``), and ta-lib skips
leading bars that are NaN in any input (an indicator fed by another indicator starts with
NaNs). While the handle cannot open, ``TalibStream`` keeps the (non-leading-NaN) inputs and
answers with the last value of the batch function over them, which is what the batch
function reports for that bar on the whole series; once the handle opens it drops the buffer
and every bar costs one O(1) ``update``. Values are bit-identical to batch either way.

A value that is not finite *inside* a series (a division by zero upstream, a flat z-score
window) is undefined behaviour for ta-lib (its batch SMA turns NaN for good, its handles refuse
the bar). Both evaluators therefore clean a ta-lib node's inputs the same way first: bars before
the first bar where every input is finite are "no history yet" (NaN), and after it a
non-finite value is replaced by that input's previous value (held).
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
    """The batch function on cleaned inputs (see the module docstring), always as a tuple of
    float64 arrays (NaN before warm-up; all NaN when no bar has every input finite)."""
    arrays, begin = clean_inputs([np.asarray(x, dtype=np.float64) for x in inputs])
    n_out = len(abstract.Function(func).output_names)
    n = len(arrays[0]) if arrays else 0
    if arrays and begin >= n:
        return tuple(np.full(n, NAN) for _ in range(n_out))
    out = getattr(talib, func)(*arrays, **params)
    if not isinstance(out, tuple):
        out = (out,)
    return tuple(np.asarray(o, dtype=np.float64) for o in out)


def clean_inputs(arrays: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Inputs with NaN before the first all-finite bar and held values after it; that bar."""
    if not arrays:
        return arrays, 0
    n = len(arrays[0])
    finite = [np.isfinite(a) for a in arrays]
    good = np.logical_and.reduce(finite)
    begin = int(np.argmax(good)) if good.any() else n
    if all(f[begin:].all() for f in finite) and (begin == 0 or all(not f[:begin].any() for f in finite)):
        return [np.ascontiguousarray(a) for a in arrays], begin  # the usual case: nothing to do
    cleaned = []
    index = np.arange(n)
    for a, f in zip(arrays, finite):
        held = np.maximum.accumulate(np.where(f, index, 0))
        out = a[held]
        out[:begin] = NAN
        cleaned.append(np.ascontiguousarray(out))
    return cleaned, begin


class TalibStream:
    """Streaming node over one ta-lib function (see the module docstring)."""

    __slots__ = ("func", "params", "n_out", "need", "handle", "buf", "started", "nan_out", "last")

    def __init__(self, func: str, params: dict[str, Any]) -> None:
        self.func = func
        self.params = params
        self.n_out = len(abstract.Function(func).output_names)
        self.need = lookback(func, params) + 1
        self.handle: Any = None
        self.buf: list[list[float]] | None = None
        self.started = False
        self.nan_out = (NAN,) * self.n_out
        self.last: tuple[float, ...] = ()

    def _tuple(self, value: Any) -> tuple[float, ...]:
        if self.n_out == 1:
            return (float(value),)
        return tuple(float(v) for v in value)

    def _clean(self, xs: tuple[float, ...]) -> tuple[float, ...] | None:
        """``xs`` as ``clean_inputs`` treats them: None before the first all-finite bar,
        afterwards a non-finite input replaced by that input's previous value."""
        if not self.started:
            return xs if all(math.isfinite(x) for x in xs) else None
        return tuple(x if math.isfinite(x) else last for x, last in zip(xs, self.last))

    def update(self, bar: Bar, *xs: float) -> tuple[float, ...]:
        cx = self._clean(xs)
        if cx is None:
            return self.nan_out
        self.started, self.last = True, cx
        if self.handle is not None:
            return self._tuple(self.handle.update(*cx))
        if self.buf is None:
            self.buf = [[] for _ in cx]
        for column, x in zip(self.buf, cx):
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
        clone.started, clone.last = self.started, self.last
        clone.buf = None if self.buf is None else [list(c) for c in self.buf]
        clone.handle = None if self.handle is None else self.handle.copy()
        return clone

    def peek(self, bar: Bar, *xs: float) -> tuple[float, ...]:
        cx = self._clean(xs)
        if cx is None:
            return self.nan_out
        if self.handle is not None:
            return self._tuple(self.handle.peek(*cx))
        columns = self.buf or [[] for _ in cx]
        arrays = [np.array([*c, x], dtype=np.float64) for c, x in zip(columns, cx)]
        return tuple(float(o[-1]) for o in run_batch(self.func, self.params, *arrays))
