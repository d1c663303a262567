"""Tape: newest on top, side colours, aggressor column, large-print highlight, bounded."""

from __future__ import annotations

import asyncio

from tests.widgets.harness import Harness, hand_view, sim_views
from tui.widgets.tape import ROWS_STEP, Tape, format_time

BOOK = dict(bids=[("100.00", "1")], asks=[("100.02", "1")])
TRADES = [
    ("buy", "100.02", "0.01000"),
    ("sell", "100.00", "0.02000"),
    ("buy", "100.02", "0.50000"),
    ("sell", "99.99", "0.01000"),
]


def test_newest_on_top_with_time_price_qty_and_aggressor():
    async def go():
        tape = Tape(large_qty="0.5")
        async with Harness(tape).run_test(size=(50, 8)) as pilot:
            tape.show(hand_view(**BOOK, trades=TRADES, ts=3_600_000_000_000 + 1_250_000_000))
            await pilot.pause()
            lines = [tape.row_text(y).split() for y in range(5)]
            # hand_view stamps trade i at ts + i ns: the newest (index 3) first
            assert lines[0] == [format_time(3_601_250_000_003), "99.99", "0.01000", "SELL"]
            assert lines[0][0] == "01:00:01.250"
            assert lines[1][1:] == ["100.02", "0.50000", "BUY"]
            assert lines[3][1:] == ["100.02", "0.01000", "BUY"]
            assert lines[4] == []
            # price coloured by the aggressor
            buy = tape.get_component_rich_style("tape--buy").color
            sell = tape.get_component_rich_style("tape--sell").color
            assert buy != sell
            segs = {s.text.strip(): s.style for s in tape.render_line(0) if s.text.strip()}
            assert segs["99.99"].color == sell
            segs = {s.text.strip(): s.style for s in tape.render_line(1) if s.text.strip()}
            assert segs["100.02"].color == buy
            # the 0.5 print is large (fixed threshold): highlighted; the others not
            assert segs["0.50000"].reverse and segs["0.50000"].bold
            segs = {s.text.strip(): s.style for s in tape.render_line(3) if s.text.strip()}
            assert not segs["0.01000"].reverse

    asyncio.run(go())


def test_auto_threshold_is_a_multiple_of_the_median_and_history_scrolls():
    async def go():
        state, _ = sim_views(seed=5, steps=150)
        view = state.view("BTC/USDT")
        tape = Tape()
        async with Harness(tape).run_test(size=(50, 10)) as pilot:
            tape.focus()
            tape.show(view)
            await pilot.pause()
            lots = sorted(t.lots for t in view.trades)
            n = len(lots)
            median = lots[n // 2] if n % 2 else (lots[n // 2 - 1] + lots[n // 2]) / 2
            assert tape._large_lots == int(median) * 4
            assert len(tape._trades) == len(view.trades) <= state._sizes[0]
            # The scrollable height is the print count rounded up to a step (each change of it
            # lays the screen out again), never less than the prints.
            height = tape.virtual_size.height
            assert len(view.trades) > tape.scrollable_content_region.height
            assert height % ROWS_STEP == 0 and height - ROWS_STEP < len(view.trades) <= height
            newest = view.trades[-1]
            assert tape.row_text(0).split()[1:3] == [newest.price, newest.qty]
            await pilot.press("pagedown")
            await pilot.pause()
            offset = tape.scroll_offset.y
            assert offset > 0
            t = view.trades[-1 - offset]
            assert tape.row_text(0).split()[1:3] == [t.price, t.qty]

    asyncio.run(go())


def test_a_narrow_tape_drops_milliseconds_and_shortens_the_aggressor():
    async def go():
        tape = Tape()
        async with Harness(tape).run_test(size=(30, 6)) as pilot:
            tape.show(hand_view(**BOOK, trades=TRADES, ts=1_250_000_000))
            await pilot.pause()
            # 13 + 7 + 8 + 4 = 32 columns needed for the full row; 30 (29 without the scrollbar) is not enough
            assert tape.row_text(0).split() == ["00:00:01", "99.99", "0.01000", "S"]

    asyncio.run(go())


def test_the_scrollable_height_grows_in_steps_not_per_print():
    """Each change of the virtual size lays the whole screen out again: while the prints fit
    there is no scrollbar, and once they overflow one more print within the step leaves the
    virtual size (and the layout) alone."""

    def prints(n: int) -> list[tuple[str, str, str]]:
        return [("buy" if i % 2 else "sell", "100.02", "0.01000") for i in range(n)]

    async def go():
        tape = Tape()
        async with Harness(tape).run_test(size=(50, 10)) as pilot:
            visible = tape.scrollable_content_region.height
            tape.show(hand_view(**BOOK, trades=prints(3)))
            await pilot.pause()
            assert tape.virtual_size.height == visible and tape.max_scroll_y == 0
            tape.show(hand_view(**BOOK, trades=prints(visible + 1)))
            await pilot.pause()
            assert tape.virtual_size.height == ROWS_STEP
            layouts = []
            tape.refresh = lambda *a, layout=False, **k: layouts.append(layout) or Tape.refresh(tape, *a, layout=layout, **k)
            tape.show(hand_view(**BOOK, trades=prints(visible + 2)))
            await pilot.pause()
            assert tape.virtual_size.height == ROWS_STEP and True not in layouts
            tape.show(hand_view(**BOOK, trades=prints(ROWS_STEP + 1)))
            await pilot.pause()
            assert tape.virtual_size.height == 2 * ROWS_STEP

    asyncio.run(go())
