"""ccxt (async) pointed at ``tickdesk emulator``: markets, instruments and depth snapshots; errors
mapped to the retry policy.  The emulator is a real subprocess on loopback."""

from __future__ import annotations

import asyncio
import gzip
import socket
from decimal import Decimal

import orjson
import pytest
from emukit import emulator

from feeds.gateway import ERROR_POLICY, ExchangeGateway, GatewayError, RetryPolicy, classify

pytestmark = pytest.mark.slow


def _recorded_rest(path, marker: str) -> dict:
    """The last REST body whose URL contains ``marker`` in a cryptofeed capture (read here, independently)."""
    opener = gzip.open if path.suffix == ".gz" else open
    body = None
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if marker in line.split(" -> ", 1)[0]:
                body = orjson.loads(line.split(": ", 1)[1])
    assert body is not None
    return body


def test_ccxt_binance_markets_and_snapshot(shared_data):
    rec = shared_data / "binance" / "BINANCE.ws.1.0"
    info = _recorded_rest(shared_data / "binance" / "BINANCE.0.gz", "exchangeInfo")
    filters = {f["filterType"]: f for s in info["symbols"] if s["symbol"] == "NKNUSDT" for f in s["filters"]}

    async def go(emu):
        # 1. plain ccxt, configured as docs/ecosystem.md says
        import ccxt.async_support as ccxt

        ex = ccxt.binance({"options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}})
        ex.urls["api"]["public"] = emu.rest_url + "/api/v3"
        try:
            markets = await ex.load_markets()
            assert markets["NKN/USDT"]["id"] == "NKNUSDT"
            ob = await ex.fetch_order_book("NKN/USDT", limit=5000)
        finally:
            await ex.close()
        true = await asyncio.to_thread(emu.book, "NKNUSDT", ob["nonce"])
        assert [[float(p), float(q)] for p, q in true["bids"]] == [lvl[:2] for lvl in ob["bids"]]
        assert [[float(p), float(q)] for p, q in true["asks"]] == [lvl[:2] for lvl in ob["asks"]]

        # 2. the gateway: exact instruments and the raw snapshot
        async with ExchangeGateway("binance", rest_url=emu.rest_url) as gw:
            instruments = await gw.instruments()
            nkn = instruments["NKN/USDT"]
            assert nkn.tick_size == Decimal(filters["PRICE_FILTER"]["tickSize"])
            assert nkn.lot_size == Decimal(filters["LOT_SIZE"]["stepSize"])
            assert nkn.min_notional == Decimal(filters["MIN_NOTIONAL"]["minNotional"])
            assert len(instruments) + len(gw.skipped) == len(info["symbols"])
            assert await gw.market_id("NKN/USDT") == "NKNUSDT"
            url, raw = await gw.depth_snapshot("NKNUSDT", 1000)
            assert url.startswith(emu.rest_url + "/api/v3/depth?") and "symbol=NKNUSDT" in url
            snap = orjson.loads(raw)
            true = await asyncio.to_thread(emu.book, "NKNUSDT", snap["lastUpdateId"])
            assert snap["bids"] == true["bids"][:1000] and snap["asks"] == true["asks"][:1000]
            with pytest.raises(GatewayError) as err:
                await gw.depth_snapshot("NOPEUSDT")
            assert err.value.kind == "bad_symbol" and err.value.attempts == 1 and "\n" not in str(err.value)
            with pytest.raises(GatewayError):
                await gw.market_id("NOPE/USDT")

    with emulator("--exchange", "binance", "--file", rec, "--speed", "4") as emu:
        asyncio.run(asyncio.wait_for(go(emu), 60))


def test_ccxt_okx_markets_and_snapshot(shared_data):
    rec = shared_data / "okx" / "OKX.ws.1.0"
    spot = _recorded_rest(shared_data / "okx" / "OKX.0.gz", "instType=SPOT")
    btc = next(i for i in spot["data"] if i["instId"] == "BTC-USDT")

    async def go(emu):
        async with ExchangeGateway("okx", rest_url=emu.rest_url) as gw:
            instruments = await gw.instruments()
            inst = instruments["BTC/USDT"]
            assert inst.tick_size == Decimal(btc["tickSz"]) and inst.lot_size == Decimal(btc["lotSz"])
            assert inst.min_qty == Decimal(btc["minSz"])
            assert any(s.endswith(":USD") or ":" in s for s in instruments)  # swaps/futures too
            url, raw = await gw.depth_snapshot(await gw.market_id("BTC/USDT"))
            d = orjson.loads(raw)["data"][0]
            true = await asyncio.to_thread(emu.book, "BTC-USDT", d["seqId"])
            assert [lvl[:2] for lvl in d["bids"]] == true["bids"][:400]
            assert [lvl[:2] for lvl in d["asks"]] == true["asks"][:400]
            with pytest.raises(GatewayError) as err:
                await gw.depth_snapshot("NOPE-USDT")
            assert err.value.kind in ("bad_symbol", "exchange") and err.value.attempts == 1

    # The OKX book is known once the recorded snapshot has been played: start at once.
    with emulator("--exchange", "okx", "--file", rec, "--speed", "4", "--no-wait") as emu:
        asyncio.run(asyncio.wait_for(go(emu), 60))


def test_unreachable_endpoint_is_retried_then_fails_cleanly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there

    async def go():
        async with ExchangeGateway("binance", rest_url=f"http://127.0.0.1:{port}",
                                   policy=RetryPolicy(attempts=3, base=0.01, cap=0.05), timeout_ms=2000) as gw:
            with pytest.raises(GatewayError) as err:
                await gw.depth_snapshot("BTCUSDT")
            assert err.value.retryable and err.value.attempts == 3 and gw.retries == 2
            assert err.value.kind in ("network", "unavailable", "timeout")

    asyncio.run(asyncio.wait_for(go(), 60))


def test_error_classes_map_to_the_policy():
    import ccxt

    assert classify(ccxt.RateLimitExceeded("x")) == ("rate_limit", True)
    assert classify(ccxt.DDoSProtection("x")) == ("rate_limit", True)
    assert classify(ccxt.RequestTimeout("x")) == ("timeout", True)
    assert classify(ccxt.NetworkError("x")) == ("network", True)
    assert classify(ccxt.ChecksumError("x"))[1] is True  # an InvalidNonce
    assert classify(ccxt.BadSymbol("x")) == ("bad_symbol", False)
    assert classify(ccxt.AuthenticationError("x")) == ("auth", False)
    assert classify(ccxt.InsufficientFunds("x")) == ("funds", False)
    assert classify(ccxt.ExchangeError("x")) == ("exchange", False)
    assert classify(ValueError("x")) == ("internal", False)
    for name in ERROR_POLICY:
        assert hasattr(ccxt, name), name
    policy = RetryPolicy(attempts=5, base=0.5, cap=4.0)
    for attempt in range(1, 10):
        d = policy.delay(attempt, "network")
        assert 0 < d <= 4.0
        assert policy.delay(attempt, "rate_limit") <= 16.0
