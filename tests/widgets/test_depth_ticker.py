"""DepthChart (cumulative depth columns, axis) and TickerBar (last, change, spread, sparkline)."""

from __future__ import annotations

import asyncio
import dataclasses

from core.market_state import Candle
from tests.marketviews import hand_view, sim_views
from tests.widgets.harness import Harness
from tui.widgets.common import sparkline
from tui.widgets.depth import DepthChart
from tui.widgets.ticker import TickerBar

BOOK = dict(
    bids=[("100.00", "1.00000"), ("99.96", "2.00000")],
    asks=[("100.02", "3.00000"), ("100.08", "1.00000")],
)


def test_depth_columns_are_cumulative_from_the_touch_outwards():
    async def go():
        depth = DepthChart()
        async with Harness(depth).run_test(size=(10, 6)) as pilot:
            depth.show(hand_view(**BOOK))
            await pilot.pause()
            # mid 100.01; span = max(100.01-99.96, 100.08-100.01) = 7 ticks; 5 columns a side
            # bid edges (mid - k*7/5 ticks, k=5..1): 99.94 99.954 99.968 99.982 99.996 -> 3 3 1 1 1
            # ask edges (mid + k*7/5): 100.024 100.038 100.052 100.066 100.08 -> 3 3 3 3 4
            assert [c[1] for c in depth.columns] == [300000, 300000, 100000, 100000, 100000, 300000, 300000, 300000, 300000, 400000]
            assert [c[0] for c in depth.columns] == ["bid"] * 5 + ["ask"] * 5
            assert depth.max_lots == 400000
            # 4 plot rows = 32 eighths: 3.0 of 4.0 -> 24 eighths = 3 full rows; 1.0 -> 8 = 1 row
            assert depth.row_text(1) == "         █"
            assert depth.row_text(2) == "██   █████"
            assert depth.row_text(4) == "██████████"
            assert depth._title() == "depth  bids 3.00000 | asks 4.00000"
            assert depth.row_text(0) == depth._title()[:10]
            assert depth.row_text(5) == "  100.01  "  # too narrow for the edges: the mid only
            bid = depth.get_component_rich_style("depth--bid").color
            assert next(iter(depth.render_line(4))).style.color == bid

    async def wide():
        depth = DepthChart()
        async with Harness(depth).run_test(size=(30, 6)) as pilot:
            depth.show(hand_view(**BOOK))
            await pilot.pause()
            assert depth.row_text(5) == "99.94" + " " * 7 + "100.01" + " " * 6 + "100.08"

    asyncio.run(go())
    asyncio.run(wide())


def test_ticker_shows_each_symbol_with_change_spread_and_sparkline():
    async def go():
        state, _ = sim_views(seed=4, steps=300, symbols=("BTC/USDT", "ETH/USDT"))
        views = {s: state.view(s) for s in ("BTC/USDT", "ETH/USDT")}
        bar = TickerBar(selected="ETH/USDT")
        async with Harness(bar).run_test(size=(160, 1)) as pilot:
            bar.show(views)
            await pilot.pause()
            text = bar.row_text()
            for sym, v in views.items():
                closes = [float(c.close) for c in v.candles_1s[-16:]]
                assert f"{sym} {v.last} " in text
                assert sparkline(closes, 16) in text
                spread = bar.figures(v)["spread"]
                ins_tick = {"BTC/USDT": "0.01", "ETH/USDT": "0.01"}[sym]
                assert spread == f"{v.spread_ticks * float(ins_tick):.2f}"
                assert f"spr {spread}" in text
            sel = bar.get_component_rich_style("ticker--selected").bgcolor
            eth_seg = [s for s in bar.render_line(0) if s.text.startswith("ETH/USDT")][0]
            btc_seg = [s for s in bar.render_line(0) if s.text.startswith("BTC/USDT")][0]
            assert eth_seg.style.bgcolor == sel and btc_seg.style.bgcolor != sel

    asyncio.run(go())


def test_ticker_change_is_against_the_oldest_1m_open():
    view = dataclasses.replace(
        hand_view(**BOOK, trades=[("buy", "100.02", "0.10000")]),
        candles_1m=(Candle(0, "98.00", "101.00", "97.00", "100.00", "1", 1),),
    )
    # (100.02 - 98.00) / 98.00 = 2.0612..% -> +2.06%
    assert TickerBar.figures(view) == {"last": "100.02", "change": "+2.06%", "spread": "0.02"}
    assert sparkline([1.0, 2.0, 3.0], 8) == "▁▅█"
    assert sparkline([5.0, 5.0], 8) == "▄▄"  # flat: mid-height
