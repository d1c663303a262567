"""A feed source opens with candle history: against real ``tickdesk emulator`` processes on
loopback serving real recordings and a real 1-minute candle file.

The seeded 1m candles equal both the candle file's last 720 rows (read here independently, as
Decimals) and ``feeds.backfill.recent_klines`` asked directly; the live series continues after
the history; counts respect the state's bounds; an unknown symbol or a closed REST port shows as
``history: failed: ...`` in ``health()`` while the live book keeps working.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import socket
from decimal import Decimal

import pytest
from emukit import emulator, wait_until

from core.config import load_config
from feeds.backfill import recent_klines
from feeds.gateway import ExchangeGateway
from tui.sources.base import open_source
from tui.sources.feed import FeedSource, FeedSpec

pytestmark = pytest.mark.slow

KLINES = "tooyipjee_binance_spot_BTC_USDT-1m_2021-04-20_2021-05-20.json.gz"
BTC_2024 = ("binance_spot_btcusdt_20240808.gz", "binance_spot_btcusdt_20240809.gz")
NS_PER_MS = 1_000_000


def _file_tail(shared_data, n: int) -> list[tuple]:
    rows = json.loads(gzip.decompress((shared_data / "klines" / KLINES).read_bytes()), parse_float=Decimal)
    return [(int(r[0]) * NS_PER_MS, *(Decimal(str(x)) for x in r[1:6])) for r in rows[-n:]]


def _decimals(candles) -> list[tuple]:
    return [(c.start, Decimal(c.open), Decimal(c.high), Decimal(c.low), Decimal(c.close), Decimal(c.volume)) for c in candles]


def _direct(exchange: str, rest_url: str, symbol: str) -> list[tuple]:
    async def go():
        async with ExchangeGateway(exchange, rest_url=rest_url) as gw:
            return await recent_klines(gw, symbol, "1m", 720)

    return [(r[0], *(Decimal(x) for x in r[1:6])) for r in asyncio.run(go())]


def _history_done(src, key: str):
    row = src.health().get(key, {})
    return row.get("history_state") not in (None, "loading") and row


def test_binance_source_opens_with_the_last_720_minutes_and_live_continues(shared_data):
    want = _file_tail(shared_data, 720)
    assert all(b[0] - a[0] == 60_000 * NS_PER_MS for a, b in zip(want, want[1:]))  # no hole: nothing to fill
    files = [a for f in BTC_2024 for a in ("--file", shared_data / "binance" / f)]
    with emulator("--exchange", "binance", *files, "--klines", shared_data / "klines" / KLINES, seconds=90) as emu:
        direct = _direct("binance", emu.rest_url, "BTC/USDT")
        src = open_source(f"emulator:{emu.ws_url}", load_config(None), ["BTCUSDT"])
        src.start()
        try:
            row = wait_until(lambda: _history_done(src, "binance:BTC/USDT"), timeout=60, what="the history")
            view = wait_until(lambda: (v := src.state.view("BTC/USDT")) and v.bids and v.trade_count > 20 and v,
                              timeout=60, what="a live book with trades")
        finally:
            src.stop()
    assert direct == want
    assert row["history_state"] == "ok" and row["history_candles"] == {"1m": 720}
    assert row["history"].startswith("720 1m candles (1s: ") and "Invalid interval" in row["history"]  # no 1s here
    assert row["state"] in ("synced", "down") and row["gaps"] == 0
    history, live = view.candles_1m[:720], view.candles_1m[720:]
    assert _decimals(history) == want
    # The live series (send-time stamps, years after the file) follows the history, unfilled:
    # the gap is longer than the 720 candles the state keeps.
    assert live and live[0].start > want[-1][0] and live[-1].close == view.last
    assert sum(c.trades for c in live) == view.trade_count
    assert len(view.candles_1m) <= 721 and len(view.candles_1s) <= 601


def test_okx_source_pages_back_for_720_minutes_and_asks_no_1s(shared_data):
    want = _file_tail(shared_data, 720)
    with emulator("--exchange", "okx", "--file", shared_data / "okx" / "OKX.ws.1.0",
                  "--klines", shared_data / "klines" / KLINES, seconds=90) as emu:
        direct = _direct("okx", emu.rest_url, "BTC/USDT")
        src = open_source(f"emulator:{emu.ws_url}", load_config(None), ["BTC-USDT"])
        src.start()
        try:
            row = wait_until(lambda: _history_done(src, "okx:BTC/USDT"), timeout=60, what="the history")
            view = src.state.view("BTC/USDT")
        finally:
            src.stop()
    assert direct == want
    assert (row["history"], row["history_candles"], row["history_errors"]) == ("720 1m candles", {"1m": 720}, {})
    assert _decimals(view.candles_1m[:720]) == want
    assert all(c.start > want[-1][0] for c in view.candles_1s)  # 1s: live only (OKX history has none)


def test_an_unknown_symbol_fails_its_history_and_the_other_symbol_stays_live(shared_data, caplog):
    files = [a for f in BTC_2024 for a in ("--file", shared_data / "binance" / f)]
    with emulator("--exchange", "binance", *files, seconds=90) as emu:
        host = emu.ws_url.split("//", 1)[1].split("/", 1)[0]
        src = open_source(f"emulator:binance@{host}", load_config(None), ["BTCUSDT", "DOGEUSDT"])
        with caplog.at_level(logging.WARNING, logger="tui.sources.feed_history"):
            src.start()
            try:
                wait_until(lambda: _history_done(src, "binance:DOGEUSDT"), timeout=60, what="DOGEUSDT's history")
                view = wait_until(lambda: (v := src.state.view("BTC/USDT")) and v.bids and v.trade_count > 5 and v,
                                  timeout=60, what="a live BTC/USDT book")
                wait_until(lambda: _history_done(src, "binance:BTC/USDT"), timeout=60, what="BTC/USDT's history")
                health = src.health()
            finally:
                src.stop()
    doge, btc = health["binance:DOGEUSDT"], health["binance:BTC/USDT"]
    assert doge["history_state"] == "failed" and doge["history"] == "failed: 1m: binance: unknown symbol 'DOGEUSDT'; " \
        "1s: binance: unknown symbol 'DOGEUSDT'"
    assert doge["state"] == "waiting"  # the feed never named it
    # BTC/USDT: the emulator builds 1m klines from the recording's own trades (11 minutes).
    assert btc["history_state"] == "ok" and btc["history_candles"]["1m"] >= 10 and view.bids and view.asks
    assert any("binance DOGEUSDT: no candle history (binance: unknown symbol 'DOGEUSDT'" in r.getMessage()
               for r in caplog.records)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rest_down_fails_the_history_and_the_okx_book_still_syncs(shared_data):
    with emulator("--exchange", "okx", "--file", shared_data / "okx" / "OKX.ws.1.0", "--speed", "4", seconds=90) as emu:
        rest = f"http://127.0.0.1:{_closed_port()}"
        src = FeedSource(FeedSpec(f"emulator:{emu.ws_url}", "okx", emu.ws_url, rest), ["BTC-USDT"])
        src.start()
        try:
            view = wait_until(lambda: (v := src.state.view("BTC-USDT") or src.state.view("BTC/USDT")) and v.bids and v,
                              timeout=60, what="a synced book over the websocket alone")
            row = wait_until(lambda: next((r for r in src.health().values() if r.get("history_state") == "failed"), None),
                             timeout=90, what="the history to fail")
        finally:
            src.stop()
    assert view.bids and view.asks and 1 <= len(view.candles_1m) <= 2  # live only: an 11 s recording
    assert row["history"].startswith("failed: 1m: okx load_markets: ") and "after 4 attempts" in row["history"]
    assert row["history_candles"] == {}


def test_plan_grid_and_health_text():
    from tui.sources.feed_history import SymbolHistory, history_instrument, history_plan
    from tui.sources.session_state import instrument_for

    assert history_plan("binance") == (("1m", 60, 720), ("1s", 1, 600))
    assert history_plan("binanceusdm") == history_plan("okx") == (("1m", 60, 720),)
    rows = [(0, "61837.63000000", "61855.37000000", "61824.00000000", "61828.00000000", "12.43238000", 875),
            (60, "61828.10", "61860.80", "61780", "61782.2", "0", 0)]
    ins = history_instrument("BTC/USDT", rows, None)
    assert (ins.tick_size, ins.lot_size) == (Decimal("0.01"), Decimal("0.00001"))
    live = instrument_for("BTC/USDT", Decimal("0.001"), Decimal("0.1"))
    assert (history_instrument("BTC/USDT", rows, live).tick_size, history_instrument("BTC/USDT", rows, live).lot_size) \
        == (Decimal("0.001"), Decimal("0.00001"))
    h = SymbolHistory("BTCUSDT")
    assert h.text() == "loading"
    h.state, h.counts, h.errors = "ok", {"1m": 720, "1s": 600}, {}
    assert h.text() == "720 1m + 600 1s candles"
    h.counts, h.errors = {"1m": 12}, {"1s": "no 1s klines"}
    assert h.text() == "12 1m candles (1s: no 1s klines)"
    h.state, h.counts, h.errors = "failed", {}, {"1m": "REST down"}
    assert h.row() == {"history": "failed: 1m: REST down", "history_state": "failed", "history_candles": {},
                       "history_errors": {"1m": "REST down"}}
