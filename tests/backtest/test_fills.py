"""Bar-mode fills against hand-computed trades: the pinned convention, fees, lots, stops."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

import numpy as np
import pytest

from strategies.backtest import BacktestConfig, run_backtest
from tests.backtest.conftest import make_bars, make_signals

CFG = BacktestConfig(cash=Decimal("1000"), fee=Decimal("0.001"))
FLAT = [(100, 101, 99, 100), (100, 102, 99, 101), (102, 103, 101, 102), (104, 105, 103, 104), (103, 104, 102, 103)]


def test_long_round_trip_fills_at_next_open_with_fees_on_both_sides():
    bars = make_bars(FLAT)
    res = run_backtest(bars, make_signals(5, enter_long=[0], exit_long=[2]), CFG)
    (t,) = res.trades
    # all cash: floor(1000 / (100 * 1.001) / 0.00001) lots = 9.99 BTC at bar 1's open
    assert (t.entry_bar, t.exit_bar, res.grid.qty(t.qty)) == (1, 3, "9.99000")
    assert res.grid.price(t.entry_price) == "100.00" and res.grid.price(t.exit_price) == "104.00"
    assert res.grid.cash(t.entry_fee) == "0.99900000"  # 999.00 notional * 0.001
    assert res.grid.cash(t.exit_fee) == "1.03896000"  # 1038.96 notional * 0.001
    # 1000 - 999 - 0.999 + 1038.96 - 1.03896
    assert res.final_equity == Decimal("1037.92204")
    assert res.metrics["fees_paid"] == pytest.approx(2.03796)
    # marked at each close: flat, then 0.001 cash + 9.99 BTC at 101 and 102, then flat
    np.testing.assert_allclose(res.equity, [1000, 1008.991, 1018.981, 1037.92204, 1037.92204])
    assert res.position.tolist() == [0, 999000, 999000, 0, 0]


def test_short_round_trip_mirrors_the_long():
    res = run_backtest(make_bars(FLAT), make_signals(5, enter_short=[0], exit_short=[2]), CFG)
    (t,) = res.trades
    assert t.side == -1 and res.grid.qty(t.qty) == "9.99000"
    # sells 9.99 at 100 (+999 - 0.999), buys back at 104 (-1038.96 - 1.03896)
    assert res.final_equity == Decimal("958.00204")
    assert res.trade_rows()[0]["pnl"] == "-41.99796000"


def test_quantity_rounds_down_to_the_lot_including_the_fee():
    bars = make_bars([(123.45, 124, 123, 123.5)] * 4)
    for lot in (Decimal("0.00001"), Decimal("0.001"), Decimal("0.1")):
        cfg = BacktestConfig(cash=Decimal("1000"), fee=Decimal("0.001"), lot=lot)
        res = run_backtest(bars, make_signals(4, enter_long=[0]), cfg)
        expected = (Decimal(1000) / (Decimal("123.45") * Decimal("1.001")) / lot).to_integral_value(ROUND_FLOOR)
        assert res.open_trade.qty == int(expected)
        cost = Decimal(res.grid.qty(res.open_trade.qty)) * Decimal("123.45") * Decimal("1.001")
        assert cost <= 1000 < cost + lot * Decimal("123.45") * Decimal("1.001")


def test_size_fraction_spends_that_share_of_the_cash():
    res = run_backtest(make_bars(FLAT), make_signals(5, enter_long=[0], size=0.5), CFG)
    assert res.grid.qty(res.open_trade.qty) == "4.99500"  # floor(500 / 100.1 / 0.00001) lots


def test_signal_on_the_last_bar_never_fills_and_open_position_is_marked_at_last_close():
    res = run_backtest(make_bars(FLAT), make_signals(5, enter_long=[1, 4], exit_long=[4]), CFG)
    assert res.trades == [] and res.open_trade.entry_bar == 2
    assert (res.entries, res.exits) == (1, 0)
    # 9.99 lots at 102 costs 1019.999...: fewer lots; equity = cash + qty * 103 (last close)
    qty = Decimal(res.grid.qty(res.open_trade.qty))
    cash = Decimal(1000) - qty * 102 - Decimal(res.grid.cash(res.open_trade.entry_fee))
    assert res.final_equity == cash + qty * 103


def test_reversal_closes_the_long_and_opens_the_short_at_the_same_open():
    res = run_backtest(make_bars(FLAT), make_signals(5, enter_long=[0], enter_short=[2]), CFG)
    (long_,) = res.trades
    assert (long_.exit_bar, long_.reason) == (3, "signal")
    short = res.open_trade
    assert (short.side, short.entry_bar, short.entry_price) == (-1, 3, 10400)


def test_conflicting_entries_on_one_bar_are_ignored():
    res = run_backtest(make_bars(FLAT), make_signals(5, enter_long=[0], enter_short=[0]), CFG)
    assert res.entries == 0


def _stop_run(second_bar, **levels):
    bars = make_bars([(100, 101, 99, 100), (100, 101, 99.5, 100), second_bar, (100, 101, 99, 100)])
    return run_backtest(bars, make_signals(4, enter_long=[0], **levels), CFG)


def test_stop_loss_inside_the_bar_fills_at_the_level():
    (t,) = _stop_run((99, 99.5, 98, 98.8), stop_loss=0.015).trades
    assert (t.exit_bar, t.exit_price, t.reason) == (2, 9850, "stop_loss")  # 100 * (1 - 0.015)


def test_gap_through_the_stop_fills_at_the_open():
    (t,) = _stop_run((97, 99, 96, 98), stop_loss=0.015).trades
    assert (t.exit_bar, t.exit_price, t.reason) == (2, 9700, "stop_loss")


def test_stop_and_take_profit_in_one_bar_take_the_stop():
    (t,) = _stop_run((100, 102.5, 98, 101), stop_loss=0.015, take_profit=0.02).trades
    assert (t.exit_price, t.reason) == (9850, "stop_loss")


def test_take_profit_fills_at_the_level_or_at_a_gapped_open():
    (t,) = _stop_run((100, 102.5, 99, 101), take_profit=0.02).trades
    assert (t.exit_price, t.reason) == (10200, "take_profit")
    (t,) = _stop_run((103, 104, 102.5, 103), take_profit=0.02).trades
    assert (t.exit_price, t.reason) == (10300, "take_profit")


def test_trailing_stop_follows_the_high_and_fills_at_its_level():
    # entry 100; bar 1 high 103 -> level 103 - 1.03 = 101.97; bar 2 dips to 101.5
    bars = make_bars([(100, 101, 99, 100), (100, 103, 99.5, 102), (102.5, 103, 101.5, 102), (100, 101, 99, 100)])
    (t,) = run_backtest(bars, make_signals(4, enter_long=[0], trailing_stop=0.01), CFG).trades
    assert (t.exit_bar, t.exit_price, t.reason) == (2, 10197, "trailing_stop")


def test_trailing_stop_hit_on_the_way_from_the_high_to_the_close():
    bars = make_bars([(100, 101, 99, 100), (100, 103, 99.5, 101.5), (100, 101, 99, 100)])
    (t,) = run_backtest(bars, make_signals(3, enter_long=[0], trailing_stop=0.01), CFG).trades
    assert (t.exit_bar, t.exit_price, t.reason) == (1, 10197, "trailing_stop")


def test_short_stop_is_above_and_take_profit_below():
    bars = make_bars([(100, 101, 99, 100), (100, 100.5, 99.5, 100), (100, 102, 99, 101), (100, 101, 99, 100)])
    (t,) = run_backtest(bars, make_signals(4, enter_short=[0], stop_loss=0.015, take_profit=0.02), CFG).trades
    assert (t.exit_price, t.reason) == (10150, "stop_loss")
    bars = make_bars([(100, 101, 99, 100), (100, 100.5, 99.5, 100), (100, 100.5, 97.5, 99), (100, 101, 99, 100)])
    (t,) = run_backtest(bars, make_signals(4, enter_short=[0], stop_loss=0.015, take_profit=0.02), CFG).trades
    assert (t.exit_price, t.reason) == (9800, "take_profit")


def test_after_a_stop_a_new_entry_signal_fills_at_the_next_open():
    bars = make_bars([(100, 101, 99, 100), (100, 101, 99.5, 100), (99, 99.5, 98, 98.8), (99, 100, 98.5, 99.5)])
    res = run_backtest(bars, make_signals(4, enter_long=[0, 2], stop_loss=0.015), CFG)
    assert [t.exit_bar for t in res.trades] == [2] and res.open_trade.entry_bar == 3


def test_slippage_in_bps_moves_every_fill_against_the_trader():
    cfg = BacktestConfig(cash=Decimal("1000"), fee=Decimal("0.001"), slippage_bps=Decimal("10"))
    (t,) = run_backtest(make_bars(FLAT), make_signals(5, enter_long=[0], exit_long=[2]), cfg).trades
    assert (t.entry_price, t.exit_price) == (10010, 10389)  # 100 + 0.10; 104 - ceil(10.4 ticks)


def test_slippage_as_a_fraction_of_the_bar_range():
    cfg = BacktestConfig(cash=Decimal("1000"), fee=Decimal("0"), slippage_range=Decimal("0.25"))
    (t,) = run_backtest(make_bars(FLAT), make_signals(5, enter_long=[0], exit_long=[2]), cfg).trades
    assert (t.entry_price, t.exit_price) == (10075, 10350)  # bar 1 range 3.00, bar 3 range 2.00


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"mode": "tick"}, "mode must be one of"), ({"fee": Decimal("0.000000001")}, "at most 8 decimals"),
     ({"cash": Decimal(0)}, "cash must be positive"), ({"symbol": "FOO/BAR"}, "unknown symbol"),
     ({"mode": "exact", "slippage_bps": Decimal(5)}, "exact mode takes no slippage")],
)
def test_bad_settings_are_refused_with_a_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BacktestConfig(**kwargs)


def test_signals_must_cover_the_bars():
    with pytest.raises(ValueError, match="signals cover 3 bars but the data has 5"):
        run_backtest(make_bars(FLAT), make_signals(3), CFG)


def test_scale_in_adds_a_sized_lot_and_scale_out_closes_the_oldest_first():
    # enter 50 % at bar 1's open (100), add 50 % of equity at bar 2's open (102, capped by the
    # cash left), then sell half the position at bar 3's open (104), FIFO
    sig = make_signals(5, enter_long=[0, 1], exit_long=[2], size=0.5, exit_size=0.5)
    res = run_backtest(make_bars(FLAT), sig, CFG)
    lot, fee = Decimal("0.00001"), Decimal("0.001")
    q1 = (Decimal(500) / (100 * (1 + fee)) / lot).to_integral_value(ROUND_FLOOR)
    cash = Decimal(1000) - q1 * lot * 100 * (1 + fee)
    q2 = (cash / (102 * (1 + fee)) / lot).to_integral_value(ROUND_FLOOR)  # free cash < 50 % of equity
    half = (q1 + q2) // 2
    assert [(t.entry_bar, t.qty) for t in res.open_trades] == [(1, int(q1 - half)), (2, int(q2))]
    (closed,) = res.trades
    assert (closed.entry_bar, closed.qty, closed.exit_bar, closed.exit_price) == (1, int(half), 3, 10400)
    assert (res.entries, res.exits) == (2, 1)
    # entry fees split pro rata; cash and position add up to the final equity at the last close
    assert sum(t.entry_fee for t in res.trades + res.open_trades) == sum(
        -(-int(q * p) * 100_000 // 100_000_000) for q, p in ((q1, 100 * 1000), (q2, 102 * 1000)))
    held = sum(t.qty for t in res.open_trades)
    assert res.final_position == held == int(q1 + q2 - half)


def test_entry_without_a_size_while_in_position_is_ignored():
    res = run_backtest(make_bars(FLAT), make_signals(5, enter_long=[0, 1]), CFG)
    assert res.entries == 1 and len(res.open_trades) == 1


def test_fast_path_equals_the_general_loop_on_random_signals():
    from strategies.backtest import Ticks, _simulate, _simulate_plain
    from strategies.backtest_bar import BarFills
    from strategies.backtest_ledger import Ledger, fee_rate_e8
    from strategies.signals import Signals

    rng = np.random.default_rng(11)
    n = 3000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
    bars = make_bars([(c, c * 1.002, c * 0.998, c) for c in close])
    grid = CFG.grid()
    ticks = Ticks.from_bars(bars, grid)
    for _ in range(5):
        flags = [rng.random(n) < p for p in (0.03, 0.03, 0.02, 0.02)]
        sig = Signals(n, *flags)
        runs = []
        for sim in ("plain", "general"):
            ledger = Ledger(grid, grid.cash_units(CFG.cash), fee_rate_e8(CFG.fee))
            out = _simulate_plain(sig, ticks, ledger) if sim == "plain" else _simulate(sig, ticks, ledger, BarFills(grid, ticks))
            runs.append((out, ledger.cash, ledger.position))
        (a, cash_a, pos_a), (b, cash_b, pos_b) = runs
        assert a[0] == b[0] and a[1] == b[1] and (cash_a, pos_a) == (cash_b, pos_b)
        assert {t.side for t in a[0]} == {1, -1}
