"""Property: the streaming evaluator produces exactly the vectorized evaluator's signals (flags,
levels and plots) on random windows of real candles, for random templates with random
parameters inside their declared ranges; a peek on each bar before its update answers the same
as the update and changes nothing."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as hst

from strategies import templates
from strategies.errors import SpecError
from strategies.evaluate import Streaming, vectorized
from strategies.signals import Bars, Signals

NAMES = templates.names()


def draw_params(draw, name: str) -> dict:
    """A value for every declared parameter, inside its range (periods kept modest so a short
    window still warms up sometimes)."""
    values = {}
    for pname, decl in templates.load(name).params.items():
        if decl.type == "int":
            hi = min(int(decl.max if decl.max is not None else 200), int(decl.min or 1) + 120)
            values[pname] = draw(hst.integers(int(decl.min if decl.min is not None else 1), hi))
        elif decl.type == "float":
            lo = decl.min if decl.min is not None else 0.0
            hi = decl.max if decl.max is not None else lo + 10.0
            values[pname] = draw(hst.floats(lo, hi, allow_nan=False))
        elif decl.type == "choice":
            values[pname] = draw(hst.sampled_from(decl.choices))
        else:
            values[pname] = draw(hst.booleans())
    return values


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=hst.data())
def test_streaming_equals_vectorized_on_random_windows(data, bars_2021: Bars, bars_2023: Bars) -> None:
    name = data.draw(hst.sampled_from(NAMES), label="template")
    params = draw_params(data.draw, name)
    try:
        spec = templates.load(name, params)
    except SpecError:
        assume(False)  # a constraint such as fast < slow rejects the draw
    source = data.draw(hst.sampled_from([bars_2021, bars_2023]), label="file")
    length = data.draw(hst.integers(50, 1500), label="length")
    start = data.draw(hst.integers(0, len(source) - length), label="start")
    bars = source.slice(start, start + length)
    note(f"{name} {params} bars[{start}:{start + length}]")

    sig = vectorized(spec, bars)
    stream = Streaming(spec)
    rows = []
    for i in range(len(bars)):
        bar = bars.bar(i)
        peeked = stream.peek(bar)
        row = stream.update(bar)
        assert _same_row(peeked, row), f"peek != update at bar {i}"
        rows.append(row)
    assert sig.diff(Signals.from_rows(rows)) == []


def _same_row(a, b) -> bool:
    def norm(x):
        return "nan" if isinstance(x, float) and math.isnan(x) else x

    return all(norm(getattr(a, f)) == norm(getattr(b, f)) for f in
               ("enter_long", "exit_long", "enter_short", "exit_short", "size", "stop_loss",
                "take_profit", "trailing_stop", "exit_size")) and {
        k: norm(v) for k, v in a.plots.items()} == {k: norm(v) for k, v in b.plots.items()}


def test_warm_then_continue_equals_one_pass(bars_2023: Bars) -> None:
    """History fed through ``warm`` then live bars: the same as evaluating everything at once."""
    spec = templates.load("keltner_squeeze")
    bars = bars_2023.slice(10_000, 13_000)
    sig = vectorized(spec, bars)
    stream = Streaming(spec, history=bars.slice(0, 2000))
    rows = [stream.update(bars.bar(i)) for i in range(2000, 3000)]
    assert np.array_equal([r.enter_long for r in rows], sig.enter_long[2000:])
    assert np.array_equal([r.exit_long for r in rows], sig.exit_long[2000:])


def _draw_component_params(draw, comp) -> dict:
    import typing

    values = {}
    for name, field in comp.params.model_fields.items():
        lo = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)
        hi = next((m.le for m in field.metadata if hasattr(m, "le")), None)
        if typing.get_origin(field.annotation) is typing.Literal:
            values[name] = draw(hst.sampled_from(typing.get_args(field.annotation)))
        elif field.annotation is int:
            values[name] = draw(hst.integers(lo, min(hi, lo + 100)))
        elif field.annotation is float and lo is not None:
            values[name] = draw(hst.floats(lo, min(hi, lo + 10.0), allow_nan=False))
    if "tf" in comp.params.model_fields:
        values["tf"] = draw(hst.sampled_from(["5m", "15m", "1h"]))
    if "interval" in comp.params.model_fields:
        values["interval"] = draw(hst.sampled_from(["5m", "1h", "1d"]))
    return values


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=hst.data())
def test_any_component_with_random_params_streams_like_batch(data, bars_2023: Bars) -> None:
    import talib

    from strategies.components import REGISTRY
    from strategies.components.base import Context

    kind = data.draw(hst.sampled_from(sorted(REGISTRY)), label="kind")
    comp = REGISTRY[kind]
    params = comp.params.model_validate(_draw_component_params(data.draw, comp))
    length = data.draw(hst.integers(20, 800), label="length")
    start = data.draw(hst.integers(0, len(bars_2023) - length), label="start")
    bars = bars_2023.slice(start, start + length)
    ma = talib.EMA(bars.close, 10)
    with np.errstate(invalid="ignore"):
        conds = iter([bars.close > ma, bars.close > bars.open, bars.volume > np.median(bars.volume), bars.close < ma])
    floats = iter([bars.close, ma, bars.open])
    inputs = [getattr(bars, p.default) if isinstance(p.default, str)
              else next(conds) if p.type == "bool" else next(floats) for p in comp.inputs]
    note(f"{kind} {params!r} bars[{start}:{start + length}]")
    batch = comp.batch(params, Context(bars, 60_000), *inputs)
    node = comp.stream(params, 60_000)
    for i in range(length):
        args = [x[i].item() for x in inputs]
        row = node.update(bars.bar(i), *args)
        for k, value in enumerate(row):
            expected = batch[k][i]
            assert value == expected or (value != value and expected != expected), (kind, i, k, value, expected)
