"""Actions: the sinks that write a strategy's decisions into ``Signals``.

An action's outputs are typed ``action`` and named after the ``Signals`` field they write
(``enter_long``, ``size``...). The evaluators OR the flags of every action (and of the spec's
``outputs`` table) and, for levels, let a later node override an earlier one on the bars where
it sets a value (NaN = "not set here").

Executing through an execution algorithm (TWAP, iceberg) is not offered: ``core`` has no
execution algorithm yet, and an action must not promise what nothing performs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from strategies.components.base import (
    Component,
    Context,
    Port,
    Stateless,
    choice_param,
    float_param,
    params_model,
)

NAN = math.nan
WHEN = Port("when", "bool", "the condition that triggers the action")


def _act(name: str) -> Port:
    return Port(name, "action", f"writes Signals.{name}")


def _entry(side: str) -> Component:
    flag = f"enter_{side}"
    model = params_model(flag, size=float_param(None, 0.0001, 1.0, "fraction of equity (empty = all cash)", optional=True))

    def batch(p: Any, ctx: Context, when: np.ndarray) -> tuple[np.ndarray, ...]:
        size = np.where(when, p.size, NAN) if p.size is not None else np.full(ctx.n, NAN)
        return when, size

    def stream(p: Any, bar_ms: int) -> Stateless:
        size = NAN if p.size is None else float(p.size)
        return Stateless(lambda bar, when: (bool(when), size if when else NAN))

    doc = (f"Open a {side} position when the condition is true at the bar's close (the "
           "backtester fills at the next bar's open). `size` is the fraction of equity to use; "
           "empty means all available cash. Entering while already in a position adds to it.")
    return Component(flag, "action", f"Enter {side}", doc, model, (WHEN,), (_act(flag), _act("size")),
                     batch, stream)


def _exit(side: str) -> Component:
    flag = f"exit_{side}"
    model = params_model("none")

    def batch(p: Any, ctx: Context, when: np.ndarray) -> tuple[np.ndarray, ...]:
        return (when,)

    doc = (f"Close the whole {side} position when the condition is true at the bar's close "
           "(filled at the next bar's open). Ignored by the backtester when flat.")
    return Component(flag, "action", f"Exit {side}", doc, model, (WHEN,), (_act(flag),), batch,
                     lambda p, bar_ms: Stateless(lambda bar, when: (bool(when),)))


_SIDE = choice_param("long", ("long", "short"), "position side")
_SCALE_IN = params_model("scale_in", side=_SIDE, fraction=float_param(0.1, 0.0001, 1.0, "fraction of equity to add"))
_SCALE_OUT = params_model("scale_out", side=_SIDE, fraction=float_param(0.5, 0.0001, 1.0, "fraction of the position to close"))


def _scale_in_batch(p: Any, ctx: Context, when: np.ndarray) -> tuple[np.ndarray, ...]:
    none = np.zeros(ctx.n, dtype=bool)
    size = np.where(when, p.fraction, NAN)
    return (when, none, size) if p.side == "long" else (none, when, size)


def _scale_stream(p: Any, bar_ms: int) -> Stateless:
    size, long = float(p.fraction), p.side == "long"
    return Stateless(lambda bar, w: (bool(w) and long, bool(w) and not long, size if w else NAN))


def _scale_out_batch(p: Any, ctx: Context, when: np.ndarray) -> tuple[np.ndarray, ...]:
    none = np.zeros(ctx.n, dtype=bool)
    frac = np.where(when, p.fraction, NAN)
    return (when, none, frac) if p.side == "long" else (none, when, frac)


def _level(name: str, title: str, doc: str) -> Component:
    def batch(p: Any, ctx: Context, distance: np.ndarray) -> tuple[np.ndarray, ...]:
        return (np.where(distance > 0.0, distance, NAN),)

    def step(bar: Any, d: float) -> tuple[float]:
        return (d if d > 0.0 else NAN,)

    port = Port("distance", "float", "fractional distance from the entry price (0.02 = 2 %), a number or a series")
    return Component(name, "action", title, doc, params_model("none"), (port,), (_act(name),), batch,
                     lambda p, bar_ms: Stateless(step))


def _size_batch(p: Any, ctx: Context, fraction: np.ndarray) -> tuple[np.ndarray, ...]:
    with np.errstate(invalid="ignore"):
        return (np.where((fraction > 0.0) & (fraction <= 1.0), fraction, NAN),)


def components() -> list[Component]:
    return [
        _entry("long"),
        _entry("short"),
        _exit("long"),
        _exit("short"),
        Component("scale_in", "action", "Scale in",
                  "Add `fraction` of equity to a position on the given side when the condition "
                  "is true (an entry with a size; the first one opens the position).",
                  _SCALE_IN, (WHEN,), (_act("enter_long"), _act("enter_short"), _act("size")),
                  _scale_in_batch, _scale_stream),
        Component("scale_out", "action", "Scale out",
                  "Close `fraction` of the open position on the given side when the condition "
                  "is true (writes the exit flag and Signals.exit_size).",
                  _SCALE_OUT, (WHEN,), (_act("exit_long"), _act("exit_short"), _act("exit_size")),
                  _scale_out_batch, _scale_stream),
        _level("stop_loss", "Stop-loss",
               "A protective stop at this fractional distance from the entry price (0.02 = 2 % "
               "below a long's entry). Wire a number, or a series such as 2*ATR/close for a "
               "volatility stop; the value on the entry bar is the one that applies."),
        _level("take_profit", "Take-profit",
               "A profit target at this fractional distance from the entry price. Targets cap "
               "the winners, so they suit mean reversion more than trend following."),
        _level("trailing_stop", "Trailing stop",
               "A stop that follows the best price since entry at this fractional distance: "
               "lets trends run and gives back at most that much from the peak."),
        Component("position_size", "action", "Position size",
                  "The fraction of equity (0..1] each entry uses, as a series: wire a number, or "
                  "e.g. target_risk / NATR for volatility-scaled sizing. Values outside (0, 1] "
                  "are ignored.",
                  params_model("none"), (Port("fraction", "float", "fraction of equity"),), (_act("size"),),
                  _size_batch, lambda p, bar_ms: Stateless(lambda bar, f: (f if 0.0 < f <= 1.0 else NAN,))),
    ]
