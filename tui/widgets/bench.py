"""What one pump tick costs each trade-screen widget: ``show(view)`` and a full-frame render.

A seeded simulated market advances one step between frames (so the book, the tape and the
forming candle change like a live market); each widget sits alone in a headless app at a
typical size. ``show`` is timed apart from the render of every line (``render_line`` for all
rows: the full frame a resize or a scroll costs; a pump tick usually repaints less).
Imported only by ``tickdesk bench widgets``: it pulls in textual.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from textual.app import App, ComposeResult
from textual.widget import Widget

from core.market_state import MarketState
from core.simmarket.market import SimMarket
from tui.themes import DARK, THEMES
from tui.widgets.candles import CandleChart
from tui.widgets.depth import DepthChart
from tui.widgets.ladder import Ladder
from tui.widgets.tape import Tape
from tui.widgets.ticker import TickerBar

SYMBOLS = ("BTC/USDT", "ETH/USDT")


class _Solo(App):
    def __init__(self, widget: Widget) -> None:
        super().__init__()
        self.widget = widget
        for theme in THEMES:
            self.register_theme(theme)
        self.theme = DARK

    def compose(self) -> ComposeResult:
        yield self.widget


def _cases(state: MarketState) -> list[tuple[str, Callable[[], Widget], tuple[int, int], Callable[[Any], None]]]:
    def view():
        return state.view(SYMBOLS[0])

    return [
        ("ladder", Ladder, (40, 50), lambda w: w.show(view(), {})),
        ("tape", Tape, (40, 50), lambda w: w.show(view())),
        ("candles_1s", lambda: CandleChart("1s"), (140, 40), lambda w: w.show(view())),
        ("depth", DepthChart, (60, 15), lambda w: w.show(view())),
        ("ticker", TickerBar, (200, 1), lambda w: w.show([state.view(s) for s in SYMBOLS])),
    ]


def _advance(market: SimMarket, state: MarketState) -> None:
    events = market.step()
    for sym in market.symbols:
        trades = [e for e in events if e["event"] == "trade" and e["symbol"] == sym]
        state.publish(market.engine.instruments[sym], market.engine.books[sym], trades, market.now_ns)


async def _measure(widget: Widget, size: tuple[int, int], show, frames: int, market, state) -> dict:
    async with _Solo(widget).run_test(size=size) as pilot:
        show(widget)
        await pilot.pause()
        shows, renders = [], []
        for _ in range(frames):
            _advance(market, state)
            t0 = time.perf_counter()
            show(widget)
            t1 = time.perf_counter()
            for y in range(widget.size.height):
                widget.render_line(y)
            renders.append(time.perf_counter() - t1)
            shows.append(t1 - t0)
        lines = widget.size.height
        frame = statistics.median(renders)
        return {
            "size": f"{size[0]}x{size[1]}",
            "lines": lines,
            "show_median_ms": round(statistics.median(shows) * 1e3, 3),
            "frame_median_ms": round(frame * 1e3, 3),
            "frame_max_ms": round(max(renders) * 1e3, 3),
            "per_line_us": round(frame / max(1, lines) * 1e6, 1),
        }


def run(seed: int = 1, warmup_steps: int = 3000, frames: int = 60) -> dict:
    """Median costs per widget after ``warmup_steps`` of simulated market (100 ms steps)."""
    market = SimMarket(seed=seed, symbols=SYMBOLS)
    state = MarketState()
    for _ in range(warmup_steps):
        _advance(market, state)
    out: dict[str, Any] = {"seed": seed, "warmup_steps": warmup_steps, "frames": frames, "widgets": {}}
    for name, make, size, show in _cases(state):
        out["widgets"][name] = asyncio.run(_measure(make(), size, show, frames, market, state))
    return out
