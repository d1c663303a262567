"""Metrics against values computed by hand (and by the standard library, not numpy)."""

from __future__ import annotations

import math
import statistics
from decimal import Decimal

import numpy as np
import pytest

from strategies import metrics as M
from strategies.backtest import BacktestConfig, run_backtest
from tests.backtest.conftest import make_bars, make_signals


def test_periods_per_year_from_the_bar_spacing():
    assert M.periods_per_year(np.arange(10) * 60_000) == 525_600
    assert M.periods_per_year(np.arange(10) * 3_600_000) == 8_760
    assert M.periods_per_year(np.array([0, 60_000, 120_000, 3_720_000])) == 525_600  # median spacing: a gap does not count


def test_returns_start_from_the_cash():
    r = M.returns(np.array([110.0, 99.0, 121.0]), 100.0)
    np.testing.assert_allclose(r, [0.1, -0.1, 121 / 99 - 1])


def test_sharpe_and_sortino_by_hand():
    r = [0.1, -0.1, 121 / 99 - 1]
    arr = np.array(r)
    assert M.sharpe(arr, 525_600) == pytest.approx(statistics.mean(r) / statistics.stdev(r) * math.sqrt(525_600))
    downside = math.sqrt((0 + 0.01 + 0) / 3)
    assert M.sortino(arr, 8_760) == pytest.approx(statistics.mean(r) / downside * math.sqrt(8_760))
    assert M.sortino(np.array([0.01, 0.02]), 8_760) is None  # no losing period
    assert M.sharpe(np.array([0.01, 0.01]), 8_760) == 0.0  # no variance


def test_max_drawdown_and_its_duration():
    # peak 110 at bar 0, trough 99 (10 %), back above 110 at bar 2: two bars from peak to recovery
    assert M.drawdown(np.array([110.0, 99.0, 121.0]), 100.0) == (pytest.approx(0.1), 2)
    # never recovers: from the starting cash (the first peak) to the last bar
    assert M.drawdown(np.array([90.0, 95.0]), 100.0) == (pytest.approx(0.1), 2)
    assert M.drawdown(np.array([100.0, 101.0]), 100.0) == (0.0, 0)
    # the deepest drawdown is measured, not the longest
    depth, bars = M.drawdown(np.array([99.0, 99.0, 99.0, 101.0, 80.0, 102.0]), 100.0)
    assert depth == pytest.approx(1 - 80 / 101) and bars == 2


def test_cagr_over_one_year_and_half_a_year():
    assert M.cagr(121.0, 100.0, 525_600, 525_600) == pytest.approx(0.21)
    assert M.cagr(121.0, 100.0, 262_800, 525_600) == pytest.approx(1.21**2 - 1)
    assert M.cagr(0.0, 100.0, 10, 525_600) == -1.0
    assert M.cagr(2.0, 1.0, 1, 525_600) is None  # a minute's doubling annualised overflows


def test_trade_statistics():
    s = M.trade_stats(np.array([10.0, -5.0, 20.0, -5.0]))
    assert s == {"win_rate": 0.5, "profit_factor": 3.0, "expectancy": 5.0}
    assert M.trade_stats(np.array([3.0]))["profit_factor"] is None
    assert M.trade_stats(np.array([])) == {"win_rate": None, "profit_factor": None, "expectancy": None}


def test_metrics_of_a_hand_built_backtest():
    bars = make_bars([(100, 101, 99, 100), (100, 102, 99, 101), (102, 103, 101, 102), (104, 105, 103, 104),
                      (103, 104, 102, 103)])
    res = run_backtest(bars, make_signals(5, enter_long=[0], exit_long=[2]),
                       BacktestConfig(cash=Decimal("1000"), fee=Decimal("0.001")))
    m = res.metrics
    assert m["total_return"] == pytest.approx(0.03792204)
    assert m["trades"] == 1 and m["win_rate"] == 1.0 and m["profit_factor"] is None
    assert m["expectancy"] == pytest.approx(37.92204)
    assert m["fees_paid"] == pytest.approx(2.03796)
    assert m["exposure"] == pytest.approx(2 / 5)  # held at the closes of bars 1 and 2
    assert m["max_drawdown"] == 0.0 and m["calmar"] is None
    eq = [1000, 1008.991, 1018.981, 1037.92204, 1037.92204]
    r = [eq[0] / 1000 - 1] + [eq[i] / eq[i - 1] - 1 for i in range(1, 5)]
    assert m["sharpe"] == pytest.approx(statistics.mean(r) / statistics.stdev(r) * math.sqrt(525_600))
