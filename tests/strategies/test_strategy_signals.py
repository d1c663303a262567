"""The hand-off types: Bars from candle rows, store columns and kline files; Signals shape
checks, rows, stacking and diff; the streaming evaluator's bar forms."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest

from strategies import templates
from strategies.evaluate import Streaming, as_bar, vectorized
from strategies.signals import Bar, Bars, Signals


def test_bars_from_rows_store_and_file(tmp_path: Path, klines_dir: Path) -> None:
    rows = [[60_000, 1.0, 2.0, 0.5, 1.5, 10.0], [120_000, 1.5, 2.5, 1.0, 2.0, 11.0]]
    bars = Bars.from_rows(rows)
    assert bars.ts.dtype == np.int64 and bars.ts.tolist() == [60_000, 120_000]
    assert bars.bar(1) == Bar(120_000, 1.5, 2.5, 1.0, 2.0, 11.0)
    store = {"start_ns": np.array([60_000_000_000, 120_000_000_000]), "open": bars.open, "high": bars.high,
             "low": bars.low, "close": bars.close, "volume": bars.volume, "trades": np.array([1, 2])}
    assert Bars.from_store(store).ts.tolist() == [60_000, 120_000]
    real = Bars.from_kline_file(klines_dir / "tooyipjee_binance_spot_BTC_USDT-1m_2021-04-20_2021-05-20.json.gz")
    assert len(real) == 42_915
    assert (real.low <= np.minimum(real.open, real.close)).all()
    assert (np.diff(real.ts) > 0).all()


def test_bad_bars(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected rows of"):
        Bars.from_rows([[1, 2, 3]])
    with pytest.raises(ValueError, match="Bars.close: expected 2 values"):
        Bars(np.array([1, 2]), np.ones(2), np.ones(2), np.ones(2), np.ones(3), np.ones(2))
    bad = tmp_path / "bad.json.gz"
    with gzip.open(bad, "wt") as fh:
        fh.write("not json")
    with pytest.raises(ValueError, match="bad.json.gz: not a candle file"):
        Bars.from_kline_file(bad)


def test_signals_shape_checks_rows_and_diff() -> None:
    with pytest.raises(ValueError, match="Signals.exit_long: expected 3 values"):
        Signals(3, np.zeros(3), np.zeros(2), np.zeros(3), np.zeros(3))
    sig = Signals(3, [0, 1, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0], size=[math.nan, 0.5, math.nan],
                  plots={"m": np.array([1.0, 2.0, 3.0])})
    assert sig.enter_long.dtype == bool
    row = sig.row(1)
    assert row.enter_long and not row.exit_long and row.size == 0.5 and math.isnan(row.stop_loss)
    assert row.plots == {"m": 2.0} and row.any
    again = Signals.from_rows([sig.row(i) for i in range(3)])
    assert sig.diff(again) == []
    assert again.stop_loss is None  # a level never set stacks to None
    changed = Signals(3, [0, 1, 1], [0, 0, 1], [0, 0, 0], [0, 0, 0], plots={"m": np.array([1.0, 2.0, 4.0])})
    assert sig.diff(changed) == ["enter_long", "size", "plots.m"]
    assert Signals.empty(4).diff(Signals.empty(5)) == ["n"]


def test_streaming_takes_bars_mappings_and_rows(bars_2021: Bars) -> None:
    spec = templates.load("sma_cross", {"fast": 3, "slow": 5})
    bars = bars_2021.slice(0, 40)
    forms = [
        [bars.bar(i) for i in range(40)],
        [{"ts": bars.ts[i], "open": bars.open[i], "high": bars.high[i], "low": bars.low[i],
          "close": bars.close[i], "volume": bars.volume[i]} for i in range(40)],
        [[bars.ts[i], bars.open[i], bars.high[i], bars.low[i], bars.close[i], bars.volume[i]] for i in range(40)],
    ]
    expected = vectorized(spec, bars)
    for form in forms:
        stream = Streaming(spec)
        assert expected.diff(Signals.from_rows([stream.update(b) for b in form])) == []
    assert as_bar(forms[2][7]) == bars.bar(7)
