"""Every component: indicator outputs equal ta-lib's batch functions called directly, small
hand-computed cases for sources, transforms, logic and actions, streaming == batch on real
candles for all of them, and a catalogue a UI can use (description, typed ports, schema).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import talib

from strategies.components import REGISTRY, catalog
from strategies.components.base import Context
from strategies.signals import Bars

NAN = math.nan
N_REAL = 4000  # real candles per component (the 2021 file, crash included further on)


def same(a, b) -> bool:
    return np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float), equal_nan=True)


@pytest.fixture(scope="module")
def real(bars_2021: Bars) -> Bars:
    return bars_2021.slice(40_000 - N_REAL, 40_000)  # ends after the 2021-05-19 crash


def _run_batch(kind: str, bars: Bars, params: dict, inputs: list, bar_ms: int = 60_000) -> tuple:
    comp = REGISTRY[kind]
    return comp.batch(comp.params.model_validate(params), Context(bars, bar_ms), *inputs)


def _run_stream(kind: str, bars: Bars, params: dict, inputs: list, bar_ms: int = 60_000) -> list[tuple]:
    """Feed bar by bar; each bar is peeked twice first (peek must not change the state)."""
    comp = REGISTRY[kind]
    node = comp.stream(comp.params.model_validate(params), bar_ms)
    rows = []
    for i in range(len(bars)):
        bar = bars.bar(i)
        args = [None if x is None else x[i].item() for x in inputs]
        first = node.peek(bar, *args)
        node.peek(bar, *args)
        row = node.update(bar, *args)
        assert same(first, row), f"{kind}: peek {first} != update {row} at bar {i}"
        rows.append(row)
    return rows


# ------------------------------------------------------------------ ta-lib reference

# kind -> (our params, the direct ta-lib call on the bars)
TALIB_REFERENCE = {
    "hl2": ({}, lambda b: talib.MEDPRICE(b.high, b.low)),
    "ohlc4": ({}, lambda b: talib.AVGPRICE(b.open, b.high, b.low, b.close)),
    "typical": ({}, lambda b: talib.TYPPRICE(b.high, b.low, b.close)),
    "wclose": ({}, lambda b: talib.WCLPRICE(b.high, b.low, b.close)),
    "sma": ({"period": 17}, lambda b: talib.SMA(b.close, timeperiod=17)),
    "ema": ({"period": 17}, lambda b: talib.EMA(b.close, timeperiod=17)),
    "wma": ({"period": 17}, lambda b: talib.WMA(b.close, timeperiod=17)),
    "dema": ({"period": 17}, lambda b: talib.DEMA(b.close, timeperiod=17)),
    "tema": ({"period": 17}, lambda b: talib.TEMA(b.close, timeperiod=17)),
    "kama": ({"period": 17}, lambda b: talib.KAMA(b.close, timeperiod=17)),
    "trima": ({"period": 17}, lambda b: talib.TRIMA(b.close, timeperiod=17)),
    "hma": ({"period": 16}, lambda b: talib.HMA(b.close, timeperiod=16)),
    "zlema": ({"period": 17}, lambda b: talib.ZLEMA(b.close, timeperiod=17)),
    "rsi": ({"period": 9}, lambda b: talib.RSI(b.close, timeperiod=9)),
    "macd": ({"fast": 8, "slow": 21, "signal": 5}, lambda b: talib.MACD(b.close, fastperiod=8, slowperiod=21, signalperiod=5)),
    "bbands": ({"period": 15, "dev_up": 2.5, "dev_dn": 1.5, "ma": "ema"},
               lambda b: talib.BBANDS(b.close, timeperiod=15, nbdevup=2.5, nbdevdn=1.5, matype=1)),
    "atr": ({"period": 10}, lambda b: talib.ATR(b.high, b.low, b.close, timeperiod=10)),
    "natr": ({"period": 10}, lambda b: talib.NATR(b.high, b.low, b.close, timeperiod=10)),
    "adx": ({"period": 10}, lambda b: talib.ADX(b.high, b.low, b.close, timeperiod=10)),
    "plus_di": ({"period": 10}, lambda b: talib.PLUS_DI(b.high, b.low, b.close, timeperiod=10)),
    "minus_di": ({"period": 10}, lambda b: talib.MINUS_DI(b.high, b.low, b.close, timeperiod=10)),
    "stoch": ({"k_period": 9, "k_smooth": 4, "d_period": 2},
              lambda b: talib.STOCH(b.high, b.low, b.close, fastk_period=9, slowk_period=4, slowd_period=2)),
    "stochrsi": ({"period": 10, "k_period": 4, "d_period": 2},
                 lambda b: talib.STOCHRSI(b.close, timeperiod=10, fastk_period=4, fastd_period=2)),
    "cci": ({"period": 12}, lambda b: talib.CCI(b.high, b.low, b.close, timeperiod=12)),
    "mfi": ({"period": 12}, lambda b: talib.MFI(b.high, b.low, b.close, b.volume, timeperiod=12)),
    "obv": ({}, lambda b: talib.OBV(b.close, b.volume)),
    "roc": ({"period": 7}, lambda b: talib.ROC(b.close, timeperiod=7)),
    "mom": ({"period": 7}, lambda b: talib.MOM(b.close, timeperiod=7)),
    "willr": ({"period": 12}, lambda b: talib.WILLR(b.high, b.low, b.close, timeperiod=12)),
    "vwap_anchored": ({}, lambda b: talib.VWAP(b.high, b.low, b.close, b.volume)),
    "donchian": ({"period": 12}, lambda b: talib.DONCHIAN(b.high, b.low, timeperiod=12)),
    "keltner": ({"period": 12, "atr_period": 8, "mult": 1.5},
                lambda b: talib.KC(b.high, b.low, b.close, timeperiod=12, atrperiod=8, nbdev=1.5)),
    "sar": ({"acceleration": 0.03, "maximum": 0.25}, lambda b: talib.SAR(b.high, b.low, acceleration=0.03, maximum=0.25)),
    "supertrend": ({"period": 8, "mult": 2.5}, lambda b: talib.SUPERTREND(b.high, b.low, b.close, timeperiod=8, multiplier=2.5)),
    "stddev": ({"period": 12, "dev": 1.5}, lambda b: talib.STDDEV(b.close, timeperiod=12, nbdev=1.5)),
    "linreg_slope": ({"period": 12}, lambda b: talib.LINEARREG_SLOPE(b.close, timeperiod=12)),
    "cmo": ({"period": 12}, lambda b: talib.CMO(b.close, timeperiod=12)),
    "trix": ({"period": 12}, lambda b: talib.TRIX(b.close, timeperiod=12)),
    "aroon": ({"period": 12}, lambda b: talib.AROON(b.high, b.low, timeperiod=12)),
    "ultosc": ({"p1": 5, "p2": 10, "p3": 20}, lambda b: talib.ULTOSC(b.high, b.low, b.close, timeperiod1=5, timeperiod2=10, timeperiod3=20)),
    "ppo": ({"fast": 8, "slow": 21, "ma": "sma"}, lambda b: talib.PPO(b.close, fastperiod=8, slowperiod=21, matype=0)),
    "adosc": ({"fast": 4, "slow": 12}, lambda b: talib.ADOSC(b.high, b.low, b.close, b.volume, fastperiod=4, slowperiod=12)),
    "vwma": ({"period": 12}, lambda b: talib.VWMA(b.close, b.volume, timeperiod=12)),
    "true_range": ({}, lambda b: talib.TRANGE(b.high, b.low, b.close)),
    "rolling_max": ({"period": 12}, lambda b: talib.MAX(b.close, timeperiod=12)),
    "rolling_min": ({"period": 12}, lambda b: talib.MIN(b.close, timeperiod=12)),
    # composites, against their definitions in ta-lib terms
    "vwap": ({"period": 12}, lambda b: talib.SUM(talib.TYPPRICE(b.high, b.low, b.close) * b.volume, timeperiod=12)
             / talib.SUM(b.volume, timeperiod=12)),
    "zscore": ({"period": 12}, lambda b: (b.close - talib.SMA(b.close, timeperiod=12)) / talib.STDDEV(b.close, timeperiod=12)),
}


def _default_inputs(kind: str, bars: Bars) -> list:
    """Inputs wired to their default bar fields (every component in TALIB_REFERENCE has them)."""
    return [getattr(bars, p.default) for p in REGISTRY[kind].inputs]


@pytest.mark.parametrize("kind", sorted(TALIB_REFERENCE))
def test_indicator_equals_talib_batch(kind: str, real: Bars) -> None:
    params, reference = TALIB_REFERENCE[kind]
    expected = reference(real)
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = _run_batch(kind, real, params, _default_inputs(kind, real))
    assert len(got) == len(expected) == len(REGISTRY[kind].outputs)
    for g, e in zip(got, expected):
        assert same(g, e), kind
        assert np.isfinite(g[-100:]).all(), f"{kind}: no values on real data"


# ------------------------------------------------------------------ hand-computed cases

T = 60_000  # one-minute bars


def _bars(close: list[float], ts: list[int] | None = None, **fields: list[float]) -> Bars:
    n = len(close)
    ts = ts if ts is not None else [i * T for i in range(n)]
    get = lambda k: np.array(fields.get(k, close), dtype=float)  # noqa: E731
    return Bars(np.array(ts), get("open"), get("high"), get("low"), np.array(close, float), get("volume"))


F, TR = False, True
X = [1.0, 3.0, 2.0, 2.0, 5.0, NAN, 4.0]
Y = [2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 3.0]
CONDS = [F, TR, TR, F, TR, TR, TR]
CONDS2 = [TR, F, TR, TR, F, TR, F]

# kind -> (params, inputs, expected outputs, bars or None for close=X)
HAND_CASES = {
    "open": ({}, [], [[5, 6]], _bars([1, 2], open=[5, 6])),
    "high": ({}, [], [[7, 8]], _bars([1, 2], high=[7, 8])),
    "low": ({}, [], [[0, 1]], _bars([1, 2], low=[0, 1])),
    "close": ({}, [], [[1, 2]], _bars([1, 2])),
    "volume": ({}, [], [[9, 3]], _bars([1, 2], volume=[9, 3])),
    "constant": ({"value": 2.5}, [], [[2.5, 2.5]], _bars([1, 2])),
    "hl2": ({}, [[4.0, 6.0], [2.0, 2.0]], [[3.0, 4.0]], _bars([0, 0])),
    "hlc3": ({}, [[4.0, 6.0], [2.0, 3.0], [3.0, 3.0]], [[3.0, 4.0]], _bars([0, 0])),
    "cross_over": ({}, [X, Y], [[F, TR, F, F, TR, F, F]], None),
    "cross_under": ({}, [X, Y], [[F, F, F, TR, F, F, F]], None),
    "gt": ({}, [X, Y], [[F, TR, F, F, TR, F, TR]], None),
    "lt": ({}, [X, Y], [[TR, F, F, TR, F, F, F]], None),
    "ge": ({}, [X, Y], [[F, TR, TR, F, TR, F, TR]], None),
    "le": ({}, [X, Y], [[TR, F, TR, TR, F, F, F]], None),
    "threshold": ({"level": 2.0, "mode": "crosses_above"}, [X], [[F, TR, F, F, TR, F, F]], None),
    "slope": ({"period": 2}, [X], [[NAN, NAN, 0.5, -0.5, 1.5, NAN, -0.5]], None),
    "lag": ({"period": 1}, [X], [[NAN, 1, 3, 2, 2, 5, NAN]], None),
    "pct_change": ({"period": 1}, [[2.0, 3.0, 0.0, 1.0, 1.5]], [[NAN, 0.5, -1.0, NAN, 0.5]], _bars([0] * 5)),
    "abs": ({}, [[-1.5, 2.0, NAN]], [[1.5, 2.0, NAN]], _bars([0] * 3)),
    "add": ({}, [X, Y], [[3, 5, 4, 5, 8, NAN, 7]], None),
    "sub": ({}, [X, Y], [[-1, 1, 0, -1, 2, NAN, 1]], None),
    "mul": ({}, [X, Y], [[2, 6, 4, 6, 15, NAN, 12]], None),
    "div": ({}, [[1.0, 3.0, 2.0], [2.0, 0.0, 4.0]], [[0.5, NAN, 0.5]], _bars([0] * 3)),
    "and": ({}, [CONDS, CONDS2, None, None], [[F, F, TR, F, F, TR, F]], None),
    "or": ({}, [CONDS, CONDS2, [F] * 7, None], [[TR, TR, TR, TR, TR, TR, TR]], None),
    "not": ({}, [CONDS], [[TR, F, F, TR, F, F, F]], None),
    "for_n_bars": ({"n": 2}, [CONDS], [[F, F, TR, F, F, TR, TR]], None),
    "within_n_bars": ({"n": 2}, [[F, TR, F, F, F, TR, F]], [[F, TR, TR, F, F, TR, TR]], None),
    "bars_since": ({}, [[F, TR, F, F, TR, F, F]], [[NAN, 0, 1, 2, 0, 1, 2]], None),
    "edge": ({}, [CONDS], [[F, TR, F, F, TR, F, F]], None),
    "falling_edge": ({}, [CONDS], [[F, F, F, TR, F, F, F]], None),
    "rising": ({"n": 1}, [X], [[F, TR, F, F, TR, F, F]], None),
    "falling": ({"n": 1}, [X], [[F, F, TR, F, F, F, F]], None),
    "latch": ({}, [[F, TR, F, F, TR, TR, F], [F, F, F, TR, F, TR, F]], [[F, TR, TR, F, TR, F, F]], None),
    "grid": ({"step": 0.1}, [[100.0, 95.0, 89.0, 90.0, 98.0, 99.0, NAN, 80.0]],
             [[F, F, TR, F, F, F, F, TR], [F, F, F, F, TR, F, F, F]], _bars([0] * 8)),
    # every 3 minutes: buckets [0,3), [3,6) ... in minutes; the first bar always fires
    "every": ({"interval": "3m"}, [], [[TR, F, F, TR, F, TR, TR]],
              _bars([0] * 7, ts=[1 * T, 2 * T, 2 * T + 1, 3 * T, 5 * T, 6 * T, 12 * T])),
    # 3-minute buckets; max of each completed bucket, held; bucket [6,9) is cut by a gap and
    # completes at the bar at 12 (which also closes nothing else)
    "resample": ({"tf": "3m", "agg": "max"}, [[1.0, 5.0, 2.0, 7.0, 3.0, 4.0, 9.0, 6.0]],
                 [[NAN, NAN, 5.0, 5.0, 5.0, 7.0, 7.0, 9.0]],
                 _bars([0] * 8, ts=[0, T, 2 * T, 3 * T, 4 * T, 5 * T, 6 * T, 12 * T])),
    "enter_long": ({"size": 0.5}, [CONDS], [CONDS, [NAN, .5, .5, NAN, .5, .5, .5]], None),
    "enter_short": ({}, [CONDS], [CONDS, [NAN] * 7], None),
    "exit_long": ({}, [CONDS], [CONDS], None),
    "exit_short": ({}, [CONDS], [CONDS], None),
    "scale_in": ({"side": "short", "fraction": 0.2}, [CONDS], [[F] * 7, CONDS, [NAN, .2, .2, NAN, .2, .2, .2]], None),
    "scale_out": ({"side": "long", "fraction": 0.3}, [CONDS], [CONDS, [F] * 7, [NAN, .3, .3, NAN, .3, .3, .3]], None),
    "stop_loss": ({}, [[0.02, 0.0, NAN, -1.0]], [[0.02, NAN, NAN, NAN]], _bars([0] * 4)),
    "take_profit": ({}, [[0.05, 0.1]], [[0.05, 0.1]], _bars([0] * 2)),
    "trailing_stop": ({}, [[0.03, 0.0]], [[0.03, NAN]], _bars([0] * 2)),
    "position_size": ({}, [[0.5, 1.5, 0.0, 1.0]], [[0.5, NAN, NAN, 1.0]], _bars([0] * 4)),
}


def _case_inputs(kind: str, inputs: list) -> list:
    ports = REGISTRY[kind].inputs
    return [None if x is None else np.array(x, dtype=bool if p.type == "bool" else float)
            for p, x in zip(ports, inputs)]


@pytest.mark.parametrize("kind", sorted(HAND_CASES))
def test_hand_computed_case(kind: str) -> None:
    params, inputs, expected, bars = HAND_CASES[kind]
    bars = bars if bars is not None else _bars(X)
    arrays = _case_inputs(kind, inputs)
    got = _run_batch(kind, bars, params, arrays)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert same(g, e), f"{kind} batch: {np.asarray(g).tolist()} != {e}"
    rows = _run_stream(kind, bars, params, arrays)
    for k, e in enumerate(expected):
        assert same([r[k] for r in rows], e), f"{kind} stream: {[r[k] for r in rows]} != {e}"


# ------------------------------------------------------------------ streaming == batch on real data


def _generic_inputs(kind: str, bars: Bars) -> list:
    """Real-data inputs: bar fields where the port has one, else close / an SMA for floats and
    close-vs-SMA conditions for bools."""
    sma20, sma50 = talib.SMA(bars.close, 20), talib.SMA(bars.close, 50)
    floats = iter([bars.close, sma20, sma50])
    with np.errstate(invalid="ignore"):
        bools = iter([bars.close > sma20, bars.close < sma50, sma20 > sma50, bars.close > bars.open])
    out = []
    for port in REGISTRY[kind].inputs:
        if isinstance(port.default, str):
            out.append(getattr(bars, port.default))
        elif port.type == "bool":
            out.append(next(bools))
        elif port.name in ("distance", "fraction"):
            out.append(talib.NATR(bars.high, bars.low, bars.close, 14) / 10.0)
        else:
            out.append(next(floats))
    return out


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_streaming_equals_batch_on_real_candles(kind: str, real: Bars) -> None:
    params = TALIB_REFERENCE.get(kind, ({},))[0]
    if kind == "resample":
        params = {"tf": "15m", "agg": "min", "smooth": 4}
    if kind == "every":
        params = {"interval": "1h"}
    inputs = _generic_inputs(kind, real)
    batch = _run_batch(kind, real, params, inputs)
    rows = _run_stream(kind, real, params, inputs)
    for k, series in enumerate(batch):
        assert same([r[k] for r in rows], series), f"{kind} output {k}"


def test_every_component_has_a_reference_or_hand_case() -> None:
    covered = set(TALIB_REFERENCE) | set(HAND_CASES)
    assert sorted(set(REGISTRY) - covered) == []
    assert len(REGISTRY) >= 50


def test_ta_lib_wrappers_name_the_function_they_wrap() -> None:
    wrapped = {k for k, c in REGISTRY.items() if c.talib}
    assert wrapped <= set(TALIB_REFERENCE)


# ------------------------------------------------------------------ catalogue for UIs


def test_catalogue_is_machine_readable() -> None:
    items = json.loads(json.dumps(catalog()))
    assert {i["kind"] for i in items} == set(REGISTRY)
    for item in items:
        assert len(item["description"]) >= 40, item["kind"]
        assert item["title"]
        assert item["outputs"], item["kind"]
        assert all(p["type"] in ("float", "bool", "action") for p in item["inputs"] + item["outputs"])
        for name, prop in item["params"].get("properties", {}).items():
            assert prop.get("description"), f"{item['kind']}.{name} has no description"
    categories = {i["category"] for i in items}
    assert categories == {"source", "indicator", "transform", "logic", "action"}


def test_action_outputs_name_signals_fields() -> None:
    from strategies.signals import SIGNAL_FLAGS, SIGNAL_LEVELS

    for comp in REGISTRY.values():
        for port in comp.outputs:
            if port.type == "action":
                assert port.name in SIGNAL_FLAGS + SIGNAL_LEVELS
            assert (port.type == "action") == (comp.category == "action")


def _bound_values(comp, side: str) -> dict:
    values = {}
    for name, field in comp.params.model_fields.items():
        for meta in field.metadata:
            if side == "lo" and hasattr(meta, "ge"):
                values[name] = meta.ge
            if side == "hi" and hasattr(meta, "le"):
                values[name] = meta.le
    return values


@pytest.mark.parametrize("side", ["lo", "hi"])
def test_every_declared_parameter_bound_is_accepted_by_the_implementation(side: str, real: Bars) -> None:
    """The ranges the validator allows are ranges the implementation (ta-lib) accepts."""
    for kind, comp in REGISTRY.items():
        params = _bound_values(comp, side)
        if not params:
            continue
        inputs = _generic_inputs(kind, real)
        out = _run_batch(kind, real, params, inputs)
        assert len(out) == len(comp.outputs), kind
        node = comp.stream(comp.params.model_validate(params), 60_000)
        for i in range(30):
            node.update(real.bar(i), *[None if x is None else x[i].item() for x in inputs])


def test_resample_two_buckets_completing_on_one_bar_with_smoothing() -> None:
    """After a gap, the first bar back completes the cut bucket and, being its own bucket's
    last bar, that bucket too; the SMA over completed buckets takes both, in order (and a
    peek on that bar must not commit either)."""
    bars = _bars([0] * 5, ts=[0, T, 5 * T, 6 * T, 8 * T])
    x = [10.0, 20.0, 40.0, 7.0, 9.0]
    # buckets of 3m: [0,3) = {10, 20} cut by the gap, last = 20; [3,6) = {40} ends at 5T;
    # [6,9) = {7, 9} ends at 8T. SMA(2) over completed: at 5T (20+40)/2, at 8T (40+9)/2
    expected = [NAN, NAN, 30.0, 30.0, 24.5]
    params = {"tf": "3m", "agg": "last", "smooth": 2}
    (got,) = _run_batch("resample", bars, params, [np.array(x)])
    assert same(got, expected)
    rows = _run_stream("resample", bars, params, [np.array(x)])
    assert same([r[0] for r in rows], expected)


def test_non_finite_inside_a_series_is_held_before_ta_lib() -> None:
    """A NaN inside an indicator's input (here a division by zero volume) is replaced by the
    previous value in both evaluators, instead of ta-lib's undefined behaviour."""
    x = np.array([NAN, 1.0, 2.0, NAN, 4.0, np.inf, 6.0])
    held = [NAN, 1.0, 2.0, 2.0, 4.0, 4.0, 6.0]
    bars = _bars([0.0] * 7)
    (got,) = _run_batch("sma", bars, {"period": 2}, [x])
    expected = talib.SMA(np.array(held), 2)
    assert same(got, expected)
    assert same(got, [NAN, NAN, 1.5, 2.0, 3.0, 4.0, 5.0])
    rows = _run_stream("sma", bars, {"period": 2}, [x])
    assert same([r[0] for r in rows], expected)


def test_chain_through_zero_volume_bars_streams_like_batch(bars_2023: Bars) -> None:
    """The 2023 file has 72 zero-volume bars: EMA(close / volume) meets NaNs mid-series."""
    from strategies.evaluate import Streaming, vectorized
    from strategies.spec import StrategySpec

    zero = np.flatnonzero(bars_2023.volume == 0)
    assert len(zero) > 0
    start = max(0, int(zero[0]) - 300)
    bars = bars_2023.slice(start, start + 1500)
    spec = StrategySpec.from_dict({
        "name": "z",
        "nodes": [
            {"id": "r", "kind": "div", "inputs": {"a": "close", "b": "volume"}},
            {"id": "e", "kind": "ema", "params": {"period": 10}, "inputs": {"source": "r"}},
            {"id": "m", "kind": "sma", "params": {"period": 30}, "inputs": {"source": "r"}},
            {"id": "x", "kind": "cross_over", "inputs": {"a": "e", "b": "m"}},
        ],
        "outputs": {"enter_long": "x"},
    })
    sig = vectorized(spec, bars)
    assert np.isfinite(sig.plots["e"][-100:]).all()  # not NaN for good after the first zero
    assert sig.diff(Streaming(spec).run(bars)) == []
