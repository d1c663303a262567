"""CandleChart: half-cell glyphs, axis labels, roll-up timeframes, live forming candle, scroll,
overlays and markers."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from core.market_state import Candle
from tests.marketviews import hand_view, sim_views
from tests.widgets.harness import Harness
from tui.widgets.candles import Bars, CandleChart, CandleParser, roll_up

M = 60 * 1_000_000_000


def c(i: int, o: str, h: str, lo: str, cl: str, v: str = "1.00000", step: int = M) -> Candle:
    return Candle(i * step, o, h, lo, cl, v, 1)


def view_with(c1m=(), c1s=(), version=1):
    base = hand_view(bids=[("100.00", "1")], asks=[("100.02", "1")], trades=[("buy", "100.02", "0.10000")], version=version)
    return dataclasses.replace(base, candles_1m=tuple(c1m), candles_1s=tuple(c1s))


def column(chart: CandleChart, bar: int) -> list[str]:
    """The price-pane glyphs of bar index ``bar`` (bars are right-aligned: see ``x0``)."""
    price_rows, _, _ = chart._panes()
    x = chart.x0 + bar - chart.first_visible
    return [chart._lines[1 + r][x][0] for r in range(price_rows)]


def cell(chart: CandleChart, row: int, bar: int):
    return chart._lines[row][chart.x0 + bar - chart.first_visible]


def test_half_cell_glyphs_and_nice_price_labels():
    async def go():
        chart = CandleChart(timeframe="1m")
        async with Harness(chart).run_test(size=(40, 9)) as pilot:  # 7 price rows, no volume pane
            chart.show(view_with([c(0, "100.00", "110.00", "90.00", "105.00"), c(1, "105.00", "106.00", "104.00", "104.00")]))
            await pilot.pause()
            assert chart._panes()[:2] == (7, 0)
            # 14 half-rows over 90..110: low 0, open 7, close 10, high 13 (see the module's glyph table)
            assert column(chart, 0) == ["│", "╽", "┃", "╿", "│", "│", "│"]
            up = chart.get_component_rich_style("candles--up").color
            down = chart.get_component_rich_style("candles--down").color
            styles = {seg.text.strip(): seg.style.color for seg in chart.render_line(2) if seg.text.strip()}
            assert styles["╽"] == up
            # the second candle closes lower: drawn in the down colour
            assert cell(chart, 3, 1)[1] == "candles--down"
            assert chart.x0 == 40 - chart._panes()[2] - 2  # two bars, right-aligned
            assert down != up
            # 1-2-5 labels: step 10 over 90..110, at the rows of 110, 100 and 90
            assert chart._labels() == {1: " 110.00", 4: " 100.00", 7: " 90.00"}
            assert chart.row_text(1).endswith("110.00") and chart.row_text(7).endswith("90.00")
            assert chart.header_text() == "BTC/USDT 1m  O 105.00 H 106.00 L 104.00 C 104.00 V 1"
            assert chart.row_text(0) == chart.header_text()[:40]

    asyncio.run(go())


def test_roll_up_and_the_forming_candle_updates_live():
    candles = [
        c(0, "10.00", "12.00", "9.00", "11.00", "1.00000"),
        c(1, "11.00", "15.00", "10.00", "14.00", "2.00000"),
        c(4, "14.00", "14.50", "8.00", "8.50", "0.50000"),
        c(5, "8.50", "9.00", "7.00", "7.50", "3.00000"),
        c(7, "7.50", "8.00", "7.25", "8.00", "1.00000"),
    ]
    bars = roll_up(CandleParser().bars(candles), 300)
    assert bars.start.tolist() == [0, 5 * M]
    assert bars.open.tolist() == [10.0, 8.5]
    assert bars.high.tolist() == [15.0, 9.0]
    assert bars.low.tolist() == [8.0, 7.0]
    assert bars.close.tolist() == [8.5, 8.0]
    assert bars.volume.tolist() == [3.5, 4.0]

    async def go():
        chart = CandleChart(timeframe="5m")
        async with Harness(chart).run_test(size=(60, 20)) as pilot:
            chart.show(view_with(candles))
            await pilot.pause()
            assert chart.bars.close[-1] == 8.0
            forming = candles[:-1] + [c(7, "7.50", "9.50", "7.25", "9.25", "1.50000")]
            chart.show(view_with(forming, version=2))
            assert (chart.bars.high[-1], chart.bars.close[-1], chart.bars.volume[-1]) == (9.5, 9.25, 4.5)
            assert "C 9.25" in chart.row_text(0)

    asyncio.run(go())


def test_parser_reuses_rows_of_unchanged_candles():
    parser = CandleParser()
    first = [c(0, "1.00", "2.00", "0.50", "1.50"), c(1, "1.50", "1.60", "1.40", "1.55")]
    parser.bars(first)
    row0 = parser._rows[0]
    parser.bars([first[0], c(1, "1.50", "1.70", "1.40", "1.65")])
    assert parser._rows[0] is row0  # the same closed candle object is not parsed again
    assert parser._rows[M][1][1] == 1.7


def test_timeframe_keys_scroll_and_live():
    async def go():
        state, market = sim_views(seed=11, steps=1200)
        view = state.view("BTC/USDT")
        chart = CandleChart(timeframe="1s")
        async with Harness(chart).run_test(size=(70, 24)) as pilot:
            chart.focus()
            chart.show(view)
            await pilot.pause()
            n = len(view.candles_1s)
            assert len(chart.bars) == n and chart.bars.start[-1] == view.candles_1s[-1].start
            plot_w = 70 - chart._panes()[2]
            assert chart.first_visible == max(0, n - plot_w)
            await pilot.press("left", "left", "left")
            assert chart.bars_back == 3 and chart.row_text(0).startswith("BTC/USDT 1s ◂3  O ")
            assert chart.first_visible == max(0, n - plot_w - 3)
            await pilot.press("end")
            assert chart.bars_back == 0
            await pilot.press("t")
            assert chart.timeframe == "1m" and len(chart.bars) == len(view.candles_1m)
            await pilot.press("t", "t", "t")
            assert chart.timeframe == "1h"
            await pilot.press("t")
            assert chart.timeframe == "1s"
            with pytest.raises(ValueError, match="timeframe must be one of 1s, 1m, 5m, 15m, 1h"):
                chart.timeframe = "2m"

    asyncio.run(go())


def test_overlays_and_markers():
    async def go():
        chart = CandleChart(timeframe="1m")
        async with Harness(chart).run_test(size=(40, 9)) as pilot:
            candles = [c(0, "100.00", "102.00", "98.00", "101.00"), c(1, "101.00", "110.00", "90.00", "100.00"), c(2, "100.00", "103.00", "99.00", "102.00")]
            chart.show(view_with(candles))
            # a flat overlay at 108 over the last two bars only (right-aligned)
            chart.set_overlays({"level": np.array([108.0, 108.0])})
            await pilot.pause()
            # 7 price rows, scale 90..110: 108 -> half-row int(18/20*13+0.5)=12 -> cell 6 (top
            # row 1), its lower half: "▄"
            assert chart.scale == (90.0, 110.0)
            assert cell(chart, 1, 2) == ("▄", "candles--overlay-1")
            assert cell(chart, 1, 0)[0] == " "  # the overlay has no value for bar 0
            # Markers on bar 1, whose wick spans the whole scale: the scale opens one cell
            # (20/(7-2) = 4) under the low and over the high so both arrows fit: 86..114.
            chart.set_markers(buys=[1], sells=[-2])
            await pilot.pause()
            assert chart.scale == (86.0, 114.0)
            # low 90 -> half-row int(4/28*13+0.5)=2 (cell 1): ▲ one cell lower, row 1+7-1=7
            assert cell(chart, 7, 1) == ("▲", "candles--marker-buy")
            # high 110 -> half-row int(24/28*13+0.5)=11 (cell 5): ▼ one cell higher, row 1+7-1-5-1=1
            assert cell(chart, 1, 1) == ("▼", "candles--marker-sell")

    asyncio.run(go())


def test_fills_are_marked_on_the_bar_they_fall_in_on_every_timeframe():
    async def go():
        chart = CandleChart(timeframe="1m")
        async with Harness(chart).run_test(size=(40, 12)) as pilot:
            candles = [c(i, "100.00", "101.00", "99.00", "100.50") for i in range(10)]
            chart.show(view_with(candles))
            # a buy 30 s into bar 2, a sell in bar 7, a fill before the first bar (no bar: none)
            chart.set_fills([(2 * M + 30 * 1_000_000_000, "buy"), (7 * M, "sell"), (-M, "sell")])
            await pilot.pause()
            assert chart._marks() == {2: {"buy"}, 7: {"sell"}}
            column_2 = [cell(chart, r, 2) for r in range(1, 9)]
            assert ("▲", "candles--marker-buy") in column_2 and ("▼", "candles--marker-sell") not in column_2
            assert ("▼", "candles--marker-sell") in [cell(chart, r, 7) for r in range(1, 9)]
            # 5m bars: 0-4 and 5-9 -> the buy on bar 0, the sell on bar 1
            chart.timeframe = "5m"
            await pilot.pause()
            assert len(chart.bars) == 2 and chart._marks() == {0: {"buy"}, 1: {"sell"}}

    asyncio.run(go())


def test_show_bars_draws_fixed_history_that_a_live_view_or_timeframe_does_not_replace():
    async def go():
        chart = CandleChart(timeframe="1m")
        async with Harness(chart).run_test(size=(40, 12)) as pilot:
            live = [c(i, "100.00", "101.00", "99.00", "100.50") for i in range(3)]
            chart.show(view_with(live))
            fixed = Bars(np.array([0, M], dtype=np.int64), np.array([10.0, 11.0]), np.array([12.0, 13.0]),
                         np.array([9.0, 10.0]), np.array([11.0, 12.0]), np.array([1.0, 2.0]))
            chart.show_bars(fixed)
            await pilot.pause()
            assert chart.bars is fixed and chart.scale[0] <= 9.0 and chart.scale[1] >= 13.0
            chart.show(view_with(live, version=2))  # a live tick does not replace fixed bars
            chart.timeframe = "5m"
            await pilot.pause()
            assert chart.bars is fixed
            chart.show_bars(None)  # back to the live view, rolled up to 5m
            await pilot.pause()
            assert len(chart.bars) == 1 and chart.bars.high[0] == 101.0

    asyncio.run(go())
