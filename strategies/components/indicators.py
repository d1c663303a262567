"""Technical indicators through ta-lib (batch functions and bit-identical stream handles),
plus the few composites ta-lib lacks in the form traders expect (rolling VWAP).

Each entry maps friendly parameter names (``period``) to ta-lib's (``timeperiod``), declares
the ranges the UI offers and the validator enforces, and names its outputs so a spec can wire
``macd.signal`` or ``bb.upper``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from strategies.components.base import (
    Component,
    Context,
    Port,
    choice_param,
    float_param,
    int_param,
    params_model,
)
from strategies.components.talib_wrap import TalibStream, run_batch
from strategies.signals import Bar

MA_TYPES = ("sma", "ema", "wma", "dema", "tema", "trima", "kama", "mama", "t3")

SRC = (Port("source", "float", "input series", default="close"),)
HL = tuple(Port(f, "float", f"bar {f}", default=f) for f in ("high", "low"))
HLC = tuple(Port(f, "float", f"bar {f}", default=f) for f in ("high", "low", "close"))
HLCV = (*HLC, Port("volume", "float", "bar volume", default="volume"))
CV = (Port("source", "float", "price series", default="close"), Port("volume", "float", "bar volume", default="volume"))


def period(default: int, lo: int = 2, hi: int = 1000, doc: str = "look-back period in bars") -> Any:
    return int_param(default, lo, hi, doc)


def ma_type(default: str = "sma") -> Any:
    return choice_param(default, MA_TYPES, "moving-average type")


def _ta_params(p: Any, rename: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ours, theirs in rename.items():
        value = getattr(p, ours)
        out[theirs] = MA_TYPES.index(value) if isinstance(value, str) else value
    return out


def ta(kind: str, func: str, title: str, doc: str, inputs: tuple[Port, ...] = SRC,
       outputs: tuple[str, ...] | tuple[tuple[str, str], ...] = ("value",),
       **params: tuple[str, Any]) -> Component:
    """A component over ``talib.<func>``. ``params`` maps our name -> (ta-lib name, field)."""
    rename = {ours: theirs for ours, (theirs, _) in params.items()}
    model = params_model(kind, **{ours: field for ours, (_, field) in params.items()})
    ports = tuple(
        Port(o, "float") if isinstance(o, str) else Port(o[0], "float", o[1]) for o in outputs
    )

    def batch(p: Any, ctx: Context, *xs: np.ndarray) -> tuple[np.ndarray, ...]:
        return run_batch(func, _ta_params(p, rename), *xs)

    def stream(p: Any, bar_ms: int) -> TalibStream:
        return TalibStream(func, _ta_params(p, rename))

    return Component(kind, "indicator", title, doc, model, inputs, ports, batch, stream, talib=func)


# ------------------------------------------------------------------ rolling VWAP (composite)

_VWAP_PARAMS = params_model("vwap", period=period(20, 2, 10000, "bars in the rolling window"))


def _vwap_div(pv: float, v: float) -> float:
    return pv / v if v != 0.0 else np.nan


def _vwap_batch(p: Any, ctx: Context, h: np.ndarray, low: np.ndarray, c: np.ndarray, v: np.ndarray):
    tp = run_batch("TYPPRICE", {}, h, low, c)[0]
    pv_sum = run_batch("SUM", {"timeperiod": p.period}, tp * v)[0]
    v_sum = run_batch("SUM", {"timeperiod": p.period}, v)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(v_sum != 0.0, pv_sum / np.where(v_sum != 0.0, v_sum, 1.0), np.nan)
    return (out,)


class _VwapStream:
    """SUM(tp*v)/SUM(v) with ta-lib SUM handles, so the sums match the batch ones bit for bit."""

    def __init__(self, p: Any, bar_ms: int) -> None:
        self.tp = TalibStream("TYPPRICE", {})
        self.pv = TalibStream("SUM", {"timeperiod": p.period})
        self.v = TalibStream("SUM", {"timeperiod": p.period})

    def update(self, bar: Bar, h: float, low: float, c: float, v: float) -> tuple[float, ...]:
        (tp,) = self.tp.update(bar, h, low, c)
        return (_vwap_div(self.pv.update(bar, tp * v)[0], self.v.update(bar, v)[0]),)

    def peek(self, bar: Bar, h: float, low: float, c: float, v: float) -> tuple[float, ...]:
        (tp,) = self.tp.peek(bar, h, low, c)
        return (_vwap_div(self.pv.peek(bar, tp * v)[0], self.v.peek(bar, v)[0]),)


def components() -> list[Component]:
    return [
        ta("sma", "SMA", "Simple moving average",
           "The arithmetic mean of the last `period` values. The plainest trend filter: slow to "
           "turn, which makes crossovers late but robust. Undefined for the first period-1 bars.",
           period=("timeperiod", period(30))),
        ta("ema", "EMA", "Exponential moving average",
           "A moving average weighting recent values more (alpha = 2/(period+1)), seeded with "
           "the SMA of the first `period` values. Turns faster than the SMA of the same period.",
           period=("timeperiod", period(30))),
        ta("wma", "WMA", "Weighted moving average",
           "A linearly weighted average (the newest value has weight `period`, the oldest 1). "
           "Between SMA and EMA in responsiveness; its window is finite like the SMA's.",
           period=("timeperiod", period(30))),
        ta("dema", "DEMA", "Double exponential MA",
           "2*EMA - EMA(EMA): cancels most of the EMA's lag at the cost of overshoot on "
           "reversals. Needs about 2*period bars to warm up.",
           period=("timeperiod", period(30))),
        ta("tema", "TEMA", "Triple exponential MA",
           "3*EMA - 3*EMA(EMA) + EMA(EMA(EMA)): even less lag than DEMA, and noisier. Needs "
           "about 3*period bars to warm up.",
           period=("timeperiod", period(30))),
        ta("kama", "KAMA", "Kaufman adaptive MA",
           "A moving average whose speed follows the efficiency ratio: it tracks closely in "
           "clean trends and nearly stops in chop, which reduces whipsaw crossovers.",
           period=("timeperiod", period(30))),
        ta("trima", "TRIMA", "Triangular moving average",
           "An SMA of an SMA: the weights form a triangle centred on the middle of the window. "
           "Very smooth, and lags by about half the period.",
           period=("timeperiod", period(30))),
        ta("hma", "HMA", "Hull moving average",
           "WMA(2*WMA(n/2) - WMA(n), sqrt(n)): a fast, smooth average popular for trend "
           "direction; overshoots on sharp reversals.",
           period=("timeperiod", period(20))),
        ta("zlema", "ZLEMA", "Zero-lag EMA",
           "An EMA of the series plus its momentum over half the period, removing most of the "
           "lag of a plain EMA.",
           period=("timeperiod", period(30))),
        ta("rsi", "RSI", "Relative strength index",
           "Wilder's RSI, 0..100: the share of recent up-moves in all moves, smoothed. Readings "
           "under 30 / over 70 are the classic oversold / overbought levels; in strong trends it "
           "stays extreme for long, which is where mean-reversion on it fails.",
           period=("timeperiod", period(14))),
        ta("macd", "MACD", "MACD (line, signal, histogram)",
           "EMA(fast) - EMA(slow) of the source (the MACD line), its EMA (the signal line) and "
           "their difference (the histogram). Line crossing signal is the classic trend trigger.",
           outputs=(("macd", "MACD line"), ("signal", "signal line"), ("hist", "histogram")),
           fast=("fastperiod", period(12)), slow=("slowperiod", period(26)),
           signal=("signalperiod", period(9, 1))),
        ta("bbands", "BBANDS", "Bollinger bands",
           "A moving average (middle) with bands `dev_up`/`dev_dn` population standard "
           "deviations above and below. Closes outside the bands mark unusual moves: breakouts "
           "in trends, reversal candidates in ranges.",
           outputs=(("upper", "upper band"), ("middle", "middle band"), ("lower", "lower band")),
           period=("timeperiod", period(20)), dev_up=("nbdevup", float_param(2.0, 0.1, 10.0, "upper band width in deviations")),
           dev_dn=("nbdevdn", float_param(2.0, 0.1, 10.0, "lower band width in deviations")),
           ma=("matype", ma_type())),
        ta("atr", "ATR", "Average true range",
           "Wilder-smoothed true range (the bar range extended to the previous close): the "
           "volatility unit for stops, position sizing and breakout thresholds. In price units.",
           inputs=HLC, period=("timeperiod", period(14, 1))),
        ta("natr", "NATR", "Normalized ATR (%)",
           "ATR as a percentage of the close, comparable across price levels and assets.",
           inputs=HLC, period=("timeperiod", period(14, 1))),
        ta("adx", "ADX", "Average directional index",
           "Trend strength 0..100 regardless of direction (Wilder). Above about 25 the market "
           "trends; below about 20 it ranges. Slow: needs about 2*period bars.",
           inputs=HLC, period=("timeperiod", period(14))),
        ta("plus_di", "PLUS_DI", "+DI (plus directional indicator)",
           "The smoothed share of true range made by up-moves; +DI above -DI means buyers lead.",
           inputs=HLC, period=("timeperiod", period(14, 1))),
        ta("minus_di", "MINUS_DI", "-DI (minus directional indicator)",
           "The smoothed share of true range made by down-moves; -DI above +DI means sellers lead.",
           inputs=HLC, period=("timeperiod", period(14, 1))),
        ta("stoch", "STOCH", "Stochastic oscillator (slow)",
           "Where the close sits in the high-low range of the last `k_period` bars (0..100), "
           "smoothed (%K) and smoothed again (%D). %K crossing %D under 20 / over 80 is the "
           "classic reversal trigger.",
           inputs=HLC, outputs=(("k", "slow %K"), ("d", "slow %D")),
           k_period=("fastk_period", period(14, 1)), k_smooth=("slowk_period", period(3, 1)),
           d_period=("slowd_period", period(3, 1))),
        ta("stochrsi", "STOCHRSI", "Stochastic RSI",
           "The stochastic formula applied to RSI instead of price: how close RSI is to its own "
           "recent extremes (0..100). Reacts faster than RSI and is noisier.",
           outputs=(("k", "fast %K"), ("d", "fast %D")),
           period=("timeperiod", period(14)), k_period=("fastk_period", period(5, 1)),
           d_period=("fastd_period", period(3, 1)), ma=("fastd_matype", ma_type())),
        ta("cci", "CCI", "Commodity channel index",
           "The typical price's distance from its SMA in units of mean absolute deviation "
           "(x0.015). Beyond +-100 marks an unusually strong move.",
           inputs=HLC, period=("timeperiod", period(20))),
        ta("mfi", "MFI", "Money flow index",
           "A volume-weighted RSI on the typical price (0..100); divergences between MFI and "
           "price hint at exhaustion.",
           inputs=HLCV, period=("timeperiod", period(14))),
        ta("obv", "OBV", "On-balance volume",
           "A running total adding the bar's volume on up-closes and subtracting it on "
           "down-closes. Its level is arbitrary; its direction confirms or contradicts price.",
           inputs=CV),
        ta("roc", "ROC", "Rate of change (%)",
           "100 * (x / x[period bars ago] - 1): momentum as a percentage.",
           period=("timeperiod", period(10, 1))),
        ta("mom", "MOM", "Momentum",
           "x - x[period bars ago]: momentum in price units.",
           period=("timeperiod", period(10, 1))),
        ta("willr", "WILLR", "Williams %R",
           "Where the close sits in the last `period` bars' range, from 0 (at the high) to -100 "
           "(at the low). Above -20 is overbought, below -80 oversold.",
           inputs=HLC, period=("timeperiod", period(14))),
        Component("vwap", "indicator", "Rolling VWAP",
                  "The volume-weighted average typical price of the last `period` bars: "
                  "sum(typical*volume)/sum(volume). ta-lib's VWAP is anchored at the first bar "
                  "(see vwap_anchored); a rolling window is what intraday reversion needs on a "
                  "continuous crypto market. NaN when the window has no volume.",
                  _VWAP_PARAMS, HLCV, (Port("value", "float"),), _vwap_batch, _VwapStream),
        ta("vwap_anchored", "VWAP", "Anchored VWAP (ta-lib)",
           "ta-lib's VWAP: cumulative from the first bar of the data, so its value depends on "
           "where the data starts. Prefer the rolling vwap for signals.",
           inputs=HLCV),
        ta("donchian", "DONCHIAN", "Donchian channel",
           "The highest high and lowest low of the last `period` bars (including the current "
           "one) and their midpoint. The turtle breakout compares the close with the previous "
           "bar's channel (wire it through lag 1).",
           inputs=HL, outputs=(("upper", "highest high"), ("middle", "midpoint"), ("lower", "lowest low")),
           period=("timeperiod", period(20))),
        ta("keltner", "KC", "Keltner channel",
           "An EMA of the close with bands `mult` ATRs above and below. Tighter and smoother "
           "than Bollinger bands; Bollinger inside Keltner is the 'squeeze'.",
           inputs=HLC, outputs=(("upper", "upper band"), ("middle", "middle (EMA)"), ("lower", "lower band")),
           period=("timeperiod", period(20)), atr_period=("atrperiod", period(10, 1)),
           mult=("nbdev", float_param(2.0, 0.1, 10.0, "band width in ATRs"))),
        ta("sar", "SAR", "Parabolic SAR",
           "Wilder's stop-and-reverse: a trailing level below price in up-trends and above in "
           "down-trends that accelerates with the trend. Whipsaws badly in ranges.",
           inputs=HL, acceleration=("acceleration", float_param(0.02, 0.001, 1.0, "acceleration step")),
           maximum=("maximum", float_param(0.2, 0.01, 1.0, "maximum acceleration"))),
        ta("supertrend", "SUPERTREND", "SuperTrend",
           "An ATR band that flips sides when the close crosses it; `trend` is +1 in up-trends "
           "and -1 in down-trends. A popular trailing trend filter.",
           inputs=HLC, outputs=(("line", "the SuperTrend level"), ("trend", "+1 up, -1 down")),
           period=("timeperiod", period(10)), mult=("multiplier", float_param(3.0, 0.1, 20.0, "band width in ATRs"))),
        ta("stddev", "STDDEV", "Standard deviation",
           "The population standard deviation of the last `period` values, times `dev`.",
           period=("timeperiod", period(20)), dev=("nbdev", float_param(1.0, 0.01, 100.0, "multiplier"))),
        ta("linreg_slope", "LINEARREG_SLOPE", "Linear regression slope",
           "The slope of the least-squares line through the last `period` values, in units per "
           "bar: a smoothed direction and speed.",
           period=("timeperiod", period(14))),
        ta("cmo", "CMO", "Chande momentum oscillator",
           "(ups - downs)/(ups + downs) over the period, -100..100: RSI's unsmoothed cousin.",
           period=("timeperiod", period(14))),
        ta("trix", "TRIX", "TRIX",
           "The 1-bar rate of change of a triple EMA (in %): a heavily smoothed momentum "
           "oscillator; its zero crossings are trend signals.",
           period=("timeperiod", period(30, 1))),
        ta("aroon", "AROON", "Aroon (down, up)",
           "How recently (0..100) the period's lowest low (down) and highest high (up) occurred. "
           "Up near 100 with down near 0 marks a fresh up-trend.",
           inputs=HL, outputs=(("down", "Aroon down"), ("up", "Aroon up")), period=("timeperiod", period(14))),
        ta("ultosc", "ULTOSC", "Ultimate oscillator",
           "Buying pressure averaged over three horizons (weights 4:2:1), 0..100; designed to "
           "avoid the false divergences of single-period oscillators.",
           inputs=HLC, p1=("timeperiod1", period(7, 1)), p2=("timeperiod2", period(14, 1)),
           p3=("timeperiod3", period(28, 1))),
        ta("ppo", "PPO", "Percentage price oscillator",
           "MACD expressed in percent of the slow average, comparable across price levels.",
           fast=("fastperiod", period(12)), slow=("slowperiod", period(26)), ma=("matype", ma_type("ema"))),
        ta("adosc", "ADOSC", "Chaikin A/D oscillator",
           "EMA(fast) - EMA(slow) of the accumulation/distribution line: volume-weighted "
           "buying vs selling pressure.",
           inputs=HLCV, fast=("fastperiod", period(3)), slow=("slowperiod", period(10))),
        ta("vwma", "VWMA", "Volume-weighted MA",
           "The average of the source weighted by each bar's volume over the period; high-volume "
           "bars pull it harder than in an SMA.",
           inputs=CV, period=("timeperiod", period(20))),
        ta("true_range", "TRANGE", "True range",
           "max(high, previous close) - min(low, previous close): one bar's volatility, gaps "
           "included. The un-smoothed input of ATR.",
           inputs=HLC),
    ]
