"""Price and volume sources: the raw bar fields, the usual price blends, a constant.

A spec may reference any parameterless source by name (``"close"``, ``"hl2"``) without
declaring a node for it; the compiler adds the node.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from strategies.components.base import Component, Context, Port, Stateless, float_param, params_model
from strategies.components.talib_wrap import TalibStream, run_batch

RAW_FIELDS = ("open", "high", "low", "close", "volume")
_OUT = (Port("value", "float", "the series"),)
_NO_PARAMS = params_model("none")

_RAW_DOCS = {
    "open": "The bar's first traded price. Useful for gap logic; most indicators use close.",
    "high": "The bar's highest traded price, the input of channel highs (Donchian) and ranges.",
    "low": "The bar's lowest traded price, the input of channel lows and stop placement.",
    "close": "The bar's last traded price: the default input of almost every indicator, and "
    "the price at which signals are decided (a signal at bar i's close fills at bar i+1's open).",
    "volume": "Base-asset volume traded during the bar; feeds OBV, MFI and VWAP.",
}


def _raw(field: str) -> Component:
    def batch(p: Any, ctx: Context) -> tuple[np.ndarray, ...]:
        return (getattr(ctx.bars, field),)

    def stream(p: Any, bar_ms: int) -> Stateless:
        return Stateless(lambda bar: (float(getattr(bar, field)),))

    return Component(field, "source", f"Bar {field}", _RAW_DOCS[field], _NO_PARAMS, (), _OUT, batch, stream)


def _blend(kind: str, func: str, fields: tuple[str, ...], title: str, doc: str) -> Component:
    """A ta-lib price transform (exact in both evaluators) with bar-field inputs."""
    inputs = tuple(Port(f, "float", f"bar {f}", default=f) for f in fields)

    def batch(p: Any, ctx: Context, *xs: np.ndarray) -> tuple[np.ndarray, ...]:
        return run_batch(func, {}, *xs)

    def stream(p: Any, bar_ms: int) -> TalibStream:
        return TalibStream(func, {})

    return Component(kind, "source", title, doc, _NO_PARAMS, inputs, _OUT, batch, stream, talib=func)


def _hlc3_batch(p: Any, ctx: Context, h: np.ndarray, low: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, ...]:
    return ((h + low + c) / 3.0,)


def _hlc3_stream(p: Any, bar_ms: int) -> Stateless:
    return Stateless(lambda bar, h, low, c: ((h + low + c) / 3.0,))


_CONST_PARAMS = params_model("constant", value=float_param(0.0, -1e15, 1e15, "the constant value"))


def _const_batch(p: Any, ctx: Context) -> tuple[np.ndarray, ...]:
    return (np.full(ctx.n, float(p.value)),)


def _const_stream(p: Any, bar_ms: int) -> Stateless:
    value = (float(p.value),)
    return Stateless(lambda bar: value)


def components() -> list[Component]:
    hlc = tuple(Port(f, "float", f"bar {f}", default=f) for f in ("high", "low", "close"))
    return [
        *(_raw(f) for f in RAW_FIELDS),
        _blend("hl2", "MEDPRICE", ("high", "low"), "Median price (H+L)/2",
               "The midpoint of the bar's range, (high + low) / 2. Less noisy than close when "
               "bars have long closing wicks; a common input for channel and SuperTrend logic."),
        Component("hlc3", "source", "HLC3 (H+L+C)/3",
                  "(high + low + close) / 3, computed element-wise. Weighs the close with the "
                  "range; the usual input of VWAP and CCI-style indicators.",
                  _NO_PARAMS, hlc, _OUT, _hlc3_batch, _hlc3_stream),
        _blend("ohlc4", "AVGPRICE", ("open", "high", "low", "close"), "Average price (O+H+L+C)/4",
               "The mean of the four prices of the bar; the smoothest single-bar price, used "
               "for Heikin-Ashi-like filters."),
        _blend("typical", "TYPPRICE", ("high", "low", "close"), "Typical price (ta-lib TYPPRICE)",
               "ta-lib's typical price, (high + low + close) / 3: the same quantity as hlc3, "
               "computed by ta-lib, as used inside its CCI and MFI."),
        _blend("wclose", "WCLPRICE", ("high", "low", "close"), "Weighted close (H+L+2C)/4",
               "The close counted twice with the high and low: (high + low + 2*close) / 4. "
               "Closer to close than hlc3 while still reflecting the range."),
        Component("constant", "source", "Constant",
                  "A fixed number on every bar, for thresholds and arithmetic (a numeric literal "
                  "in an input is turned into one of these automatically).",
                  _CONST_PARAMS, (), _OUT, _const_batch, _const_stream),
    ]
