"""The Trade screen on a real exchange feed (a ``tickdesk emulator`` on loopback replaying a
real Binance recording): the screen follows the source's switch from the names it was asked for
(``BTCUSDT``, the emulator's) to the unified ones (``BTC/USDT``) and shows that market."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "feeds"))
from emukit import emulator  # noqa: E402

from core.config import load_config  # noqa: E402
from tui.sources.base import open_source  # noqa: E402

pytestmark = pytest.mark.anyio
RECORDING = "binance/binance_spot_btcusdt_20240808.gz"


async def test_the_trade_screen_follows_the_feeds_unified_names_and_shows_the_book(shared_data):
    from tui.app import WorkstationApp
    from tui.widgets.ladder import Ladder

    settings = load_config(None, env={})
    with emulator("--exchange", "binance", "--file", shared_data / RECORDING, "--speed", "4", seconds=120) as emu:
        src = open_source(f"emulator:{emu.ws_url}", settings)
        assert src.symbols == ["BTCUSDT"]  # the emulator's name, until the feed has said its own
        app = WorkstationApp(src, settings)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            ladder = screen.query_one(Ladder)
            for _ in range(400):  # up to ~40 s for the feed to connect, snapshot and publish
                await pilot.pause(0.1)
                shown = ladder.view
                if screen.symbol == "BTC/USDT" and shown is not None and shown.bids and shown.asks:
                    break
            assert src.symbols == ["BTC/USDT"] and screen.symbol == "BTC/USDT"
            assert shown.symbol == "BTC/USDT" and shown.bids and shown.asks
            rows = [ladder.row_text(y) for y in range(ladder.size.height)]
            # the touch is on the ladder (the view it shows now may be newer than ``shown``)
            now = ladder.view
            assert any(now.bids[0].price in r for r in rows) or any(now.asks[0].price in r for r in rows)
            await pilot.press("right_square_bracket")  # one symbol: stays, no error
            assert screen.symbol == "BTC/USDT"
