"""The two evaluators of a spec: ``vectorized`` (whole arrays, for backtests and preview) and
``Streaming`` (one bar at a time, O(1) per node after warm-up, for live trading).

Both run the same compiled ``Plan`` (``strategies.graph``), combine node outputs into signals
the same way (``_contributions``) and pass them through the same ``RiskGate``; the components
guarantee bit-identical values, so on the same bars the two produce the same ``Signals``
(the property test in ``tests/strategies/test_equivalence.py`` checks it on real candles).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from strategies.components.base import Context
from strategies.graph import Plan, compile_spec
from strategies.risk import GateIn, RiskGate
from strategies.signals import SIGNAL_FLAGS, SIGNAL_LEVELS, Bar, Bars, SignalRow, Signals
from strategies.spec import StrategySpec

NAN = math.nan


def _contributions(plan: Plan, value: Any) -> Iterator[tuple[str, Any]]:
    """(signal name, node value) in override order: the outputs table, then action nodes in
    declaration order. ``value(ref)`` reads a node output in the caller's representation."""
    for name, ref in plan.outputs.items():
        yield name, value(ref)
    for index in plan.actions:
        for slot, port in enumerate(plan.nodes[index].component.outputs):
            yield port.name, value((index, slot))


# ------------------------------------------------------------------ vectorized


def vectorized(spec: StrategySpec | Plan, bars: Bars) -> Signals:
    """Signals for every bar of ``bars`` (a signal at bar i is decided at bar i's close)."""
    plan = spec if isinstance(spec, Plan) else compile_spec(spec)
    n = len(bars)
    ctx = Context(bars, plan.bar_ms)
    values: list[tuple[np.ndarray, ...]] = []
    for node in plan.nodes:
        args = [None if ref is None else values[ref[0]][ref[1]] for ref in node.inputs]
        values.append(tuple(node.component.batch(node.params, ctx, *args)))

    flags = {name: np.zeros(n, dtype=bool) for name in SIGNAL_FLAGS}
    levels: dict[str, np.ndarray] = {name: np.full(n, value) for name, value in plan.constants.items()}
    for name, arr in _contributions(plan, lambda ref: values[ref[0]][ref[1]]):
        if name in flags:
            flags[name] |= arr
        else:
            base = levels.get(name)
            levels[name] = arr.copy() if base is None else np.where(np.isnan(arr), base, arr)

    if plan.risk.active:
        _gate_arrays(plan, bars, flags, levels)
    plots = {name: values[i][k] for name, (i, k) in plan.plots}
    return Signals(n, **flags, **{k: levels.get(k) for k in SIGNAL_LEVELS}, plots=plots)


def _gate_arrays(plan: Plan, bars: Bars, flags: dict[str, np.ndarray], levels: dict[str, np.ndarray]) -> None:
    """Run the shared risk gate over every bar, in place."""
    gate = RiskGate(plan.risk)
    n = len(bars)
    size_in = levels.get("size", np.full(n, NAN)).tolist()
    size_out = np.full(n, NAN)
    el, xl, es, xs = (flags[k].tolist() for k in SIGNAL_FLAGS)
    ts, close = bars.ts.tolist(), bars.close.tolist()
    for i in range(n):
        out = gate.step(ts[i], close[i], GateIn(el[i], xl[i], es[i], xs[i], size_in[i]))
        el[i], xl[i], es[i], xs[i], size_out[i] = (out.enter_long, out.exit_long, out.enter_short,
                                                   out.exit_short, out.size)
    for name, column in zip(SIGNAL_FLAGS, (el, xl, es, xs)):
        flags[name] = np.array(column, dtype=bool)
    if "size" in levels or not np.isnan(size_out).all():
        levels["size"] = size_out


# ------------------------------------------------------------------ streaming


def as_bar(bar: Bar | Mapping[str, Any] | Sequence[Any]) -> Bar:
    """A ``Bar`` from a Bar, a mapping with ts/open/high/low/close/volume, or a
    ``[ts, open, high, low, close, volume]`` row."""
    if isinstance(bar, Bar):
        return bar
    if isinstance(bar, Mapping):
        return Bar(int(bar["ts"]), *(float(bar[k]) for k in ("open", "high", "low", "close", "volume")))
    ts, o, h, low, c, v = bar[:6]
    return Bar(int(ts), float(o), float(h), float(low), float(c), float(v))


class Streaming:
    """Per-bar evaluation for live use.

    ``update(bar)`` commits a closed bar and returns its ``SignalRow``; ``peek(bar)`` answers
    for the still-forming bar without changing any state (call it on every tick). ``warm(bars)``
    feeds history (for example from the store) before going live."""

    def __init__(self, spec: StrategySpec | Plan, history: Bars | None = None) -> None:
        self.plan = spec if isinstance(spec, Plan) else compile_spec(spec)
        self.states = [n.component.stream(n.params, self.plan.bar_ms) for n in self.plan.nodes]
        self.gate = RiskGate(self.plan.risk) if self.plan.risk.active else None
        self.bars_seen = 0
        if history is not None:
            self.warm(history)

    def warm(self, bars: Bars) -> None:
        for i in range(len(bars)):
            self.update(bars.bar(i))

    def run(self, bars: Bars) -> Signals:
        """Feed every bar of ``bars`` and stack the rows (what ``vectorized`` would return)."""
        return Signals.from_rows([self.update(bars.bar(i)) for i in range(len(bars))])

    def update(self, bar: Bar | Mapping[str, Any] | Sequence[Any]) -> SignalRow:
        row = self._step(as_bar(bar), commit=True)
        self.bars_seen += 1
        return row

    def peek(self, bar: Bar | Mapping[str, Any] | Sequence[Any]) -> SignalRow:
        return self._step(as_bar(bar), commit=False)

    def _step(self, bar: Bar, commit: bool) -> SignalRow:
        plan = self.plan
        values: list[tuple[Any, ...]] = []
        for node, state in zip(plan.nodes, self.states):
            args = [None if ref is None else values[ref[0]][ref[1]] for ref in node.inputs]
            values.append(state.update(bar, *args) if commit else state.peek(bar, *args))

        flags = dict.fromkeys(SIGNAL_FLAGS, False)
        levels = dict(plan.constants)
        for name, value in _contributions(plan, lambda ref: values[ref[0]][ref[1]]):
            if name in flags:
                flags[name] = flags[name] or bool(value)
            elif value == value or name not in levels:
                levels[name] = float(value)
        if self.gate is not None:
            out = self.gate.step(bar.ts, bar.close, GateIn(*flags.values(), levels.get("size", NAN)), commit)
            flags = {"enter_long": out.enter_long, "exit_long": out.exit_long,
                     "enter_short": out.enter_short, "exit_short": out.exit_short}
            levels["size"] = out.size
        plots = {name: float(values[i][k]) for name, (i, k) in plan.plots}
        return SignalRow(**flags, **{k: levels.get(k, NAN) for k in SIGNAL_LEVELS}, plots=plots)
