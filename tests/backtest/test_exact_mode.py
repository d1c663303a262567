"""Acceptance 3: bar mode and exact mode (orders through core.engine) agree on real candles."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from strategies.backtest import BacktestConfig, Ticks, run_backtest
from strategies.backtest_exact import EngineFills
from strategies.backtest_ledger import make_grid
from strategies.signals import Bars, Signals
from tests.backtest.conftest import make_bars, make_signals, sma_cross_signals


def _same(bar, exact) -> None:
    key = lambda t: (t.side, t.qty, t.entry_bar, t.entry_price, t.entry_fee, t.exit_bar, t.exit_price, t.exit_fee, t.reason)  # noqa: E731
    assert [key(t) for t in exact.trades] == [key(t) for t in bar.trades]
    assert (exact.open_trade is None) == (bar.open_trade is None)
    if bar.open_trade is not None:
        assert key(exact.open_trade) == key(bar.open_trade)
    assert exact.final_equity_units == bar.final_equity_units
    assert exact.fees_paid == bar.fees_paid
    np.testing.assert_array_equal(exact.equity, bar.equity)


@pytest.fixture(scope="module")
def candles(kline_path) -> Bars:
    return Bars.from_kline_file(kline_path)


def test_market_order_strategy_agrees_on_a_real_candle_file(candles):
    signals = sma_cross_signals(candles, 10, 30)
    bar = run_backtest(candles, signals, BacktestConfig(fee=Decimal("0.001")))
    exact = run_backtest(candles, signals, BacktestConfig(fee=Decimal("0.001"), mode="exact"))
    assert bar.entries > 1000  # a real workload, not a trivial one
    _same(bar, exact)


def test_long_and_short_with_reversals_agree(candles):
    part = candles.slice(0, 20_000)
    s = sma_cross_signals(part, 20, 60)
    # long on the cross up, short on the cross down: every signal reverses the position
    sig = Signals(s.n, s.enter_long, np.zeros(s.n, bool), s.exit_long, np.zeros(s.n, bool))
    bar = run_backtest(part, sig, BacktestConfig())
    exact = run_backtest(part, sig, BacktestConfig(mode="exact"))
    assert {t.side for t in bar.trades} == {1, -1}
    _same(bar, exact)


@pytest.mark.parametrize(
    "levels",
    [{"stop_loss": 0.003}, {"take_profit": 0.004}, {"stop_loss": 0.003, "take_profit": 0.003},
     {"trailing_stop": 0.002}, {"stop_loss": 0.004, "take_profit": 0.006, "trailing_stop": 0.0025}],
    ids=["stop", "take_profit", "stop+tp", "trailing", "all"],
)
@pytest.mark.parametrize("side", ["long", "short"])
def test_protective_orders_agree_with_the_engines_triggers(candles, levels, side):
    part = candles.slice(0, 8_000)
    s = sma_cross_signals(part, 10, 30)
    n = s.n
    flags = (s.enter_long, s.exit_long) if side == "long" else (s.exit_long, s.enter_long)
    z = np.zeros(n, bool)
    arrays = {k: np.full(n, v) for k, v in levels.items()}
    sig = Signals(n, *((flags[0], flags[1], z, z) if side == "long" else (z, z, flags[0], flags[1])), **arrays)
    bar = run_backtest(part, sig, BacktestConfig())
    exact = run_backtest(part, sig, BacktestConfig(mode="exact"))
    reasons = {t.reason for t in bar.trades}
    assert reasons - {"signal"}, f"no protective exit fired: {reasons}"
    _same(bar, exact)


def test_exact_mode_fills_come_from_the_engine():
    bars = make_bars([(100, 101, 99, 100), (100, 102, 99, 101), (99, 99.5, 98, 98.8), (100, 101, 99, 100)])
    grid = make_grid()
    fills = EngineFills(grid, Ticks.from_bars(bars, grid))
    from strategies.backtest import Position
    from strategies.backtest_ledger import Trade

    price = fills.market(1, 1, 100)
    assert price == 10000 and fills.engine.positions[("bt", "BTC/USDT")] == 100
    pos = Position(1, [Trade(1, 100, 1, price, 0)], stop=9850, start=1, anchor=price)
    assert fills.arm(pos, 1) is None
    assert [o.type for o in fills.engine.orders.values() if o.account == "bt"] == ["stop_market"]
    hit = fills.watch(pos, 3)
    assert (hit.bar, hit.price, hit.reason) == (2, 9850, "stop_loss")
    assert fills.engine.positions[("bt", "BTC/USDT")] == 0  # the engine's own position record
    assert fills.engine.orders == {}  # the stop filled; no stray maker or strategy orders rest


def test_exact_and_bar_agree_on_hand_built_gaps():
    bars = make_bars([(100, 101, 99, 100), (100, 101, 99.5, 100), (97, 99, 96, 98), (100, 101, 99, 100)])
    sig = make_signals(4, enter_long=[0], stop_loss=0.015)
    bar = run_backtest(bars, sig, BacktestConfig())
    exact = run_backtest(bars, sig, BacktestConfig(mode="exact"))
    assert bar.trades[0].exit_price == 9700
    _same(bar, exact)


@pytest.mark.parametrize(("template", "params"), [
    ("grid", {"step": "0.003"}), ("dca", {}), ("rsi_guarded", {}), ("volatility_breakout", {}),
    ("bollinger_reversion", {}),
])
def test_templates_agree_between_modes(candles, template, params):
    """Scale-in/out, sized entries and protective levels from real templates, through both modes."""
    from strategies.evaluate import vectorized
    from strategies.spec import load_spec

    part = candles.slice(0, 6_000)
    sig = vectorized(load_spec(template, params), part)
    bar = run_backtest(part, sig, BacktestConfig())
    exact = run_backtest(part, sig, BacktestConfig(mode="exact"))
    assert bar.entries > 0
    _same(bar, exact)
