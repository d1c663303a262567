"""Binance and OKX parsers: exact ticks/lots on every recorded frame, field mapping, errors."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from core.marketdata import Bar, DepthDiff, DepthSnapshot, Ticker, TopOfBook, Trade
from feeds.binance import SPOT, USDM, BinanceParser, Control, FeedParseError, rest_kind
from feeds.okx import OkxParser, okx_checksum
from feeds.okx import rest_kind as okx_rest_kind
from feeds.recordings import read_many


def units(text: str, step: Decimal) -> int:
    """Independent exact conversion for the checks (Decimal, not the code under test)."""
    q = Decimal(text) / step
    assert q == q.to_integral_value(), (text, step)
    return int(q)


def test_binance_spot_frames():
    p = BinanceParser(SPOT)
    d = p.parse('{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161258209,"s":"BTCUSDT",'
                '"U":50093241262,"u":50093241266,"b":[["61824.00000000","0.32726000"]],'
                '"a":[["61840.18000000","0.04959000"],["61840.19000000","0.00000000"]]}}', ts_ns=7)
    assert type(d) is DepthDiff and d.key == "binance:BTCUSDT" and d.ts_ns == 7
    assert (d.first_id, d.last_id, d.prev_id, d.ts_ex_ns) == (50093241262, 50093241266, None, 1723161258209 * 10**6)
    g = p.symbols["BTCUSDT"].grid
    assert g.source == "derived" and g.tick == Decimal("1e-8")
    assert d.bid_ticks == [units("61824", g.tick)] and d.ask_lots == [units("0.04959", g.lot), 0]
    t = p.parse('{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}')
    assert type(t) is TopOfBook and t.update_id == 50093239212 and t.bid == units("61837.63", g.tick)
    tr = p.parse('{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000",'
                 '"q":"0.02000000","T":1723161255342,"m":true,"M":true}}')
    assert type(tr) is Trade and tr.taker_side == "sell" and tr.trade_id == 3735683259 and tr.count == 1
    agg = p.parse('{"e":"aggTrade","E":1,"s":"BTCUSDT","a":5,"p":"1.00000000","q":"2.00000000","f":100,"l":105,'
                  '"T":1,"m":false,"M":true}')
    assert agg.count == 6 and agg.taker_side == "buy"
    k = p.parse('{"stream":"nknusdt@kline_1m","data":{"e":"kline","E":1633998523963,"s":"NKNUSDT","k":{"t":1633998480000,'
                '"T":1633998539999,"s":"NKNUSDT","i":"1m","f":1,"L":2,"o":"0.35270000","c":"0.35280000","h":"0.35280000",'
                '"l":"0.35220000","v":"25877.00000000","n":30,"x":false,"q":"9116.04600000","V":"58","Q":"20","B":"0"}}}')
    assert type(k) is Bar and k.interval == "1m" and not k.closed and k.high == k.close and k.quote_volume == "9116.04600000"
    part = p.parse('{"stream":"btcusdt@depth5@100ms","data":{"lastUpdateId":160,"bids":[["1.00000000","2.00000000"]],"asks":[]}}')
    assert type(part) is DepthSnapshot and part.partial and part.update_id == 160
    assert p.parse('{"result":null,"id":1}') == Control("ack", {"result": None, "id": 1})
    assert p.parse('{"e":"serverShutdown","E":1770123456789}').kind == "server_shutdown"
    assert p.parse('{"e":"somethingNew"}') is None


def test_binance_usdm_frames_and_exchange_info(shared_data):
    p = BinanceParser(USDM)
    info = next(r for r in read_many([shared_data / "binance" / "BINANCE_FUTURES.0"]) if r.kind == "rest")
    assert p.load_exchange_info(info.raw) > 0
    m = p.symbols["CTKUSDT"]
    raw = orjson.loads(info.raw)
    spec = next(s for s in raw["symbols"] if s["symbol"] == "CTKUSDT")
    assert m.grid.tick == Decimal(1).scaleb(-spec["pricePrecision"]) and m.grid.source == "exchangeInfo"
    assert m.unified == "CTK/USDT:USDT" and m.order_tick == Decimal(
        next(f for f in spec["filters"] if f["filterType"] == "PRICE_FILTER")["tickSize"])
    d = p.parse('{"e":"depthUpdate","E":1,"T":2,"s":"CTKUSDT","U":10,"u":12,"pu":7,"b":[["0.50579","3"]],"a":[]}')
    assert (d.first_id, d.last_id, d.prev_id) == (10, 12, 7) and d.bid_ticks == [units("0.50579", m.grid.tick)]
    bt = p.parse('{"e":"bookTicker","u":5,"s":"CTKUSDT","b":"0.50500","B":"2","a":"0.50600","A":"3","T":1,"E":2}')
    assert bt.ts_ex_ns == 2 * 10**6 and bt.ask_qty == units("3", m.grid.lot)


def test_binance_errors_name_the_symbol():
    p = BinanceParser(SPOT)
    for bad in ("not json", "[1,2]", '{"e":"trade","s":"X"}'):
        with pytest.raises(FeedParseError):
            p.parse(bad)
    p.parse('{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1.00000000","1.00000000"]],"a":[]}')
    with pytest.raises(FeedParseError) as e:
        p.parse('{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":3,"u":4,"b":[["1.000000001","1.00000000"]],"a":[]}')
    assert e.value.key == "binance:BTCUSDT" and e.value.number_code == "OFF_GRID"
    with pytest.raises(FeedParseError) as e:
        p.parse('{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":3,"u":4,"b":[["-1.00000000","1.00000000"]],"a":[]}')
    assert e.value.number_code == "INVALID_NUMBER"
    with pytest.raises(ValueError):
        BinanceParser("kraken")


def test_rest_url_classification():
    assert rest_kind("https://api.binance.com/api/v3/depth?symbol=btcusdt&limit=1000") == ("depth", "BTCUSDT")
    assert rest_kind("https://fapi.binance.com/fapi/v1/exchangeInfo") == ("exchangeInfo", None)
    assert rest_kind(None) == ("depth", None)
    assert okx_rest_kind("https://www.okx.com/api/v5/market/books?instId=BTC-USDT&sz=400") == ("books", "BTC-USDT")
    assert okx_rest_kind("https://www.okx.com/api/v5/public/instruments?instType=SPOT") == ("instruments", None)


def test_every_recorded_binance_frame_parses_exactly(shared_data):
    """Each depth/bookTicker/trade frame: the parsed integers equal an independent Decimal
    conversion of the frame's strings on the parser's grid."""
    files = {
        SPOT: [shared_data / "binance" / n for n in ("binance_spot_btcusdt_20240808.gz", "BINANCE-b38f7c.0", "BINANCE.ws.1.0")],
        USDM: [shared_data / "binance" / "BINANCE_FUTURES.ws.1.0"],
    }
    seen = {DepthDiff: 0, TopOfBook: 0, Trade: 0, Bar: 0}
    for exchange, paths in files.items():
        p = BinanceParser(exchange)
        for rec in read_many(paths, companions=False):
            if rec.kind != "ws":
                continue
            out = p.parse(rec.raw, rec.ts_ns)
            obj = orjson.loads(rec.raw)
            d = obj.get("data", obj)
            if out is None or isinstance(out, Control):
                continue
            g = p.symbols[d["s"]].grid
            seen[type(out)] = seen.get(type(out), 0) + 1
            if type(out) is DepthDiff:
                assert out.bid_ticks == [units(x[0], g.tick) for x in d["b"]]
                assert out.bid_lots == [units(x[1], g.lot) for x in d["b"]]
                assert out.ask_ticks == [units(x[0], g.tick) for x in d["a"]]
                assert out.ask_lots == [units(x[1], g.lot) for x in d["a"]]
                assert (out.first_id, out.last_id) == (d["U"], d["u"]) and out.prev_id == d.get("pu")
            elif type(out) is TopOfBook:
                assert (out.bid, out.bid_qty, out.ask, out.ask_qty) == (
                    units(d["b"], g.tick), units(d["B"], g.lot), units(d["a"], g.tick), units(d["A"], g.lot))
            elif type(out) is Trade:
                assert (out.price, out.qty) == (units(d["p"], g.tick), units(d["q"], g.lot))
                assert out.taker_side == ("sell" if d["m"] else "buy")
    assert all(seen[t] > 0 for t in (DepthDiff, TopOfBook, Trade, Bar)), seen


def test_okx_frames_and_checksum(shared_data):
    # The documentation's own example (OKX v5 docs, checksum section).
    bids = [["3366.1", "7"], ["3366", "6"]]
    asks = [["3366.8", "9"], ["3368", "8"]]
    import zlib

    text = "3366.1:7:3366.8:9:3366:6:3368:8"
    c = zlib.crc32(text.encode())
    assert okx_checksum(bids, asks) == (c - (1 << 32) if c & 0x80000000 else c)

    p = OkxParser()
    inst = [r for r in read_many([shared_data / "okx" / "OKX.0.gz"]) if r.kind == "rest"]
    for r in inst:
        p.load_instruments(r.raw)
    assert p.symbols["BTC-USDT"].grid.source == "instruments" and p.symbols["BTC-USDT"].unified == "BTC/USDT"
    assert p.symbols["UNI-USD-SWAP"].unified == "UNI/USD:UNI"
    assert p.symbols["BTC-USD-220527"].unified == "BTC/USD:BTC-220527"
    n_books = 0
    for rec in read_many([shared_data / "okx" / "OKX.ws.1.0"], companions=False):
        if rec.kind != "ws":
            continue
        out = p.parse(rec.raw, rec.ts_ns)
        obj = orjson.loads(rec.raw)
        if "event" in obj:
            assert [type(o) for o in out] == [Control]
            continue
        ch = obj["arg"]["channel"]
        for o, d in zip(out, obj["data"]):
            g = p.symbols[obj["arg"]["instId"]].grid
            if ch == "books":
                n_books += 1
                assert o.checksum == d["checksum"] and o.raw == (d["bids"], d["asks"])
                ticks = o.bid_ticks if type(o) is DepthDiff else [t for t, _ in o.bids]
                assert ticks == [units(x[0], g.tick) for x in d["bids"]]
                if type(o) is DepthSnapshot:
                    assert o.checksum == okx_checksum(d["bids"], d["asks"])  # a snapshot is its own top 25
            elif ch == "trades":
                assert type(o) is Trade and o.taker_side == d["side"] and o.price == units(d["px"], g.tick)
            elif ch == "tickers":
                assert type(o) is Ticker and o.bid == units(d["bidPx"], g.tick)
    assert n_books == 290
    assert p.parse("pong") == [Control("pong", None)]
    bbo = p.parse('{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT"},"data":[{"asks":[["30243.5","1.4","0","6"]],'
                  '"bids":[["30243.4","0.2","0","1"]],"ts":"1","seqId":9}]}')
    assert type(bbo[0]) is TopOfBook and bbo[0].update_id == 9
    b5 = p.parse('{"arg":{"channel":"books5","instId":"BTC-USDT"},"data":[{"asks":[["30243.5","1.4","0","6"]],'
                 '"bids":[],"ts":"1","seqId":9}]}')
    assert b5[0].partial and b5[0].bids == []
    c = p.parse('{"arg":{"channel":"candle1m","instId":"BTC-USDT"},"data":[["1597026383085","8533.0","8553.7",'
                '"8527.1","8548.2","45247","529.5858061","5529.5858061","1"]]}')
    assert type(c[0]) is Bar and c[0].closed and c[0].interval == "1m"
    with pytest.raises(FeedParseError) as e:
        p.parse('{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["1.05","1","0","1"]],'
                '"bids":[],"ts":"1","checksum":0}]}')
    assert e.value.key == "okx:BTC-USDT" and e.value.number_code == "OFF_GRID"
