"""The exchange feed source against real ``tickdesk emulator`` processes (loopback): the published
view equals the emulator's TRUE book at the update id the consumer reached, health rows carry
the consumer's figures, trading is refused with a clear reason, and stop joins every thread."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "feeds"))
from emukit import emulator, wait_until  # noqa: E402

from core.config import load_config  # noqa: E402
from tui.sources.base import open_source  # noqa: E402
from tui.sources.feed import FeedSpec, check_symbols, parse_feed_spec  # noqa: E402


def _true_top(emu, symbol: str, at: int, depth: int) -> tuple[list, list]:
    body = emu.book(symbol, at=at)
    return body["bids"][:depth], body["asks"][:depth]


@pytest.mark.parametrize(
    "exchange,recording,symbol,exchange_id",
    [("binance", "binance/BINANCE.ws.1.0", "NKN/USDT", "NKNUSDT"), ("okx", "okx/OKX.ws.1.0", "BTC/USDT", "BTC-USDT")],
)
def test_feed_source_publishes_the_true_book(shared_data, exchange, recording, symbol, exchange_id):
    before = set(threading.enumerate())
    with emulator("--exchange", exchange, "--file", shared_data / recording, "--speed", "4", seconds=60) as emu:
        src = open_source(f"emulator:{emu.ws_url}", load_config(None), [symbol])
        assert src.name == f"emulator:{emu.ws_url}" and src.can_trade is False
        src.start()
        try:
            view = wait_until(lambda: (v := src.state.view(symbol)) is not None and v.bids and v.asks and v.version > 3 and v,
                              timeout=40, what=f"a synced {symbol} book")
        finally:
            src.stop()
        key = f"{'okx' if exchange == 'okx' else 'binance'}:{exchange_id}"
        sync = src.runner.consumer.session.syncs[key]
        assert sync.synced
        final = src.state.view(symbol)
        bids, asks = _true_top(emu, exchange_id, sync.book.update_id, len(final.bids))
        from decimal import Decimal

        assert [(Decimal(lv.price), Decimal(lv.qty)) for lv in final.bids] == [(Decimal(p), Decimal(q)) for p, q in bids]
        assert [(Decimal(lv.price), Decimal(lv.qty)) for lv in final.asks[: len(asks)]] == [(Decimal(p), Decimal(q)) for p, q in asks]
        assert symbol in src.symbols and src.instruments[symbol].fmt_price(final.bids[0].ticks) == final.bids[0].price
        row = src.health()[f"{key.split(':')[0]}:{symbol}"]
        assert row["state"] in ("synced", "down")  # down: the connection is closed after stop
        assert row["messages"] > 0 and row["gaps"] == 0 and row["resyncs"] == 0 and row["lag_ms"]["p50"] >= 0
        with pytest.raises(Exception, match="trading needs the simulated market: no exchange keys configured"):
            src.submit({"op": "new"}).result(1)
        with pytest.raises(Exception, match="no exchange keys configured"):
            src.precheck({"op": "new"}).result(1)
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not left, f"threads left running: {left}"


def test_emulator_discovery_and_given_exchange(shared_data):
    with emulator("--exchange", "binance", "--file", shared_data / "binance/BINANCE.ws.1.0", seconds=30) as emu:
        port = emu.info["port"]
        found = parse_feed_spec(f"emulator:{emu.ws_url}")
        assert (found.exchange, found.ws_url, found.rest_url) == ("binance", emu.ws_url, f"http://127.0.0.1:{port}")
        assert set(found.served) == {"NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"}
        assert parse_feed_spec(f"emulator:http://127.0.0.1:{port}").ws_url == f"ws://127.0.0.1:{port}/stream"
        assert parse_feed_spec(f"emulator:127.0.0.1:{port}").exchange == "binance"
        assert check_symbols(found, ["NKN/USDT", "blzeth"]) == ["NKNUSDT", "BLZETH"]
        with pytest.raises(ValueError, match="unknown symbol 'DOGE/USDT': the emulator serves NKNUSDT"):
            check_symbols(found, ["DOGE/USDT"])
    given = parse_feed_spec("emulator:okx@127.0.0.1:9")  # no call: nothing listens on port 9
    assert given == FeedSpec("emulator:ws://127.0.0.1:9/ws/v5/public", "okx", "ws://127.0.0.1:9/ws/v5/public",
                             "http://127.0.0.1:9", None)
    assert parse_feed_spec("emulator:binanceusdm@ws://h:1").ws_url == "ws://h:1/public/stream"
    assert parse_feed_spec("binance") == FeedSpec("binance", "binance")


@pytest.mark.parametrize(
    "spec,message",
    [
        ("emulator:127.0.0.1:9", "no tickdesk emulator answered at http://127.0.0.1:9/debug/state"),
        ("emulator:kraken@ws://127.0.0.1:9", "exchange 'kraken' is not one of binance, binanceusdm, okx"),
        ("emulator:ftp://x:1", "is not an emulator address"),
        ("emulator:ws://nohost", "is not an emulator address"),
        ("kraken", "unknown feed source 'kraken'"),
    ],
)
def test_bad_feed_specs(spec, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_feed_spec(spec, discover_timeout=1.0)
