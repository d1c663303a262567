"""Every widget paints exactly its width, from very narrow to wide (no torn or short lines)."""

from __future__ import annotations

import asyncio

import pytest

from tests.marketviews import sim_views
from tests.widgets.harness import Harness
from tui.widgets.candles import CandleChart
from tui.widgets.depth import DepthChart
from tui.widgets.ladder import Ladder
from tui.widgets.tape import Tape
from tui.widgets.ticker import TickerBar

STATE, _ = sim_views(seed=9, steps=200)
VIEW = STATE.view("BTC/USDT")
WIDGETS = {
    "ladder": (Ladder, lambda w: w.show(VIEW, {VIEW.bids[0].ticks: 1})),
    "tape": (Tape, lambda w: w.show(VIEW)),
    "candles": (lambda: CandleChart("1s"), lambda w: w.show(VIEW)),
    "depth": (DepthChart, lambda w: w.show(VIEW)),
    "ticker": (TickerBar, lambda w: w.show([VIEW])),
}


@pytest.mark.parametrize("name", list(WIDGETS))
@pytest.mark.parametrize("width", [12, 30, 81, 200])
def test_lines_are_exactly_the_widget_width(name, width):
    make, show = WIDGETS[name]

    async def go():
        widget = make()
        async with Harness(widget).run_test(size=(width, 20)) as pilot:
            show(widget)
            await pilot.pause()
            w = widget.scrollable_content_region.width if isinstance(widget, Tape) else widget.size.width
            for y in range(widget.size.height):
                assert widget.render_line(y).cell_length == w, (name, width, y)
            assert any(widget.render_line(y).text.strip() for y in range(widget.size.height))

    asyncio.run(go())
