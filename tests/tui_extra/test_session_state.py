"""SessionPublisher: the display tick (coarsest power of ten dividing every price seen; refined
exactly when a finer price shows up), bounded publishing, and feed events for gaps."""

from __future__ import annotations

from decimal import Decimal

import orjson

from core.market_state import MarketState
from feeds.recordings import REST, WS, RawRecord
from feeds.session import FeedSession
from tui.sources.session_state import SessionPublisher, pow10_divisor

URL = "http://emu/api/v3/depth?symbol=TESTUSDT&limit=1000"


def _depth(first: int, last: int, bids=(), asks=()) -> RawRecord:
    data = {"e": "depthUpdate", "E": 1_000 + last, "s": "TESTUSDT", "U": first, "u": last,
            "b": [list(b) for b in bids], "a": [list(a) for a in asks]}
    return RawRecord(last, WS, None, orjson.dumps({"stream": "testusdt@depth@100ms", "data": data}).decode(), "binance")


def _trade(tid: int, price: str, qty: str, t_ms: int) -> RawRecord:
    data = {"e": "trade", "E": t_ms, "s": "TESTUSDT", "t": tid, "p": price, "q": qty, "T": t_ms, "m": False, "M": True}
    return RawRecord(t_ms, WS, None, orjson.dumps({"stream": "testusdt@trade", "data": data}).decode(), "binance")


def _snapshot() -> RawRecord:
    body = {"lastUpdateId": 100, "bids": [["10.00000000", "1.00000000"], ["9.90000000", "3.00000000"]],
            "asks": [["10.10000000", "1.00000000"], ["10.30000000", "2.00000000"]]}
    return RawRecord(50, REST, URL, orjson.dumps(body).decode(), "binance")


def _publisher():
    state = MarketState(depth=10)
    session = FeedSession()
    pub = SessionPublisher(state, session, lambda: 0)
    session.on_event = pub.on_event
    return state, session, pub


def test_pow10_divisor():
    assert [pow10_divisor(v, 10**18) for v in (1, 10, 250, 1_000_000, 61_837_630_000_000)] == [1, 10, 10, 1_000_000, 10_000_000]
    assert pow10_divisor(1_000, 100) == 100


def test_display_tick_is_coarse_then_refined_exactly():
    state, session, pub = _publisher()
    session.handle(_depth(101, 101, bids=[("10.00000000", "2.00000000")]))
    session.handle(_snapshot())
    pub.flush(1)
    ins = pub.by_name["TEST/USDT"].instrument
    assert ins.tick_size == Decimal("0.1")
    view = state.view("TEST/USDT")
    assert [(lv.ticks, lv.price, lv.qty) for lv in view.bids] == [(100, "10.0", "2.00000000"), (99, "9.9", "3.00000000")]
    assert [lv.price for lv in view.asks] == ["10.1", "10.3"]

    session.handle(_trade(1, "10.10000000", "0.50000000", 2_000))
    pub.flush(2)
    assert pub.by_name["TEST/USDT"].instrument.tick_size == Decimal("0.1")

    session.handle(_trade(2, "10.05000000", "0.25000000", 2_500))  # a price off the 0.1 grid
    session.handle(_depth(102, 102, bids=[("10.02500000", "4.00000000")]))  # and off 0.01
    pub.flush(3)
    ins = pub.by_name["TEST/USDT"].instrument
    assert ins.tick_size == Decimal("0.001")
    view = state.view("TEST/USDT")
    assert [(t.ticks, t.price, t.lots) for t in view.trades] == [(10_100, "10.1", 50_000_000), (10_050, "10.050", 25_000_000)]
    assert [(lv.ticks, lv.price) for lv in view.bids] == [(10_025, "10.025"), (10_000, "10.000"), (9_900, "9.900")]
    c = view.candles_1s[-1]
    assert (c.open, c.high, c.low, c.close, c.volume, c.trades) == ("10.100", "10.100", "10.050", "10.050", "0.75000000", 2)


def test_nothing_is_published_between_flushes_and_unchanged_flushes_keep_the_version():
    state, session, pub = _publisher()
    session.handle(_depth(101, 101, bids=[("10.00000000", "2.00000000")]))
    session.handle(_snapshot())
    assert state.view("TEST/USDT") is None
    pub.flush(1)
    v1 = state.view("TEST/USDT").version
    for i in range(50):
        session.handle(_depth(102 + i, 102 + i, bids=[("9.80000000", f"{i + 1}.00000000")]))
    assert state.view("TEST/USDT").version == v1
    pub.flush(2)
    v2 = state.view("TEST/USDT")
    assert v2.version == v1 + 1 and [lv.qty for lv in v2.bids if lv.price == "9.8"] == ["50.00000000"]
    pub.flush(3)
    assert state.view("TEST/USDT").version == v2.version


def test_a_sequence_gap_becomes_feed_events_and_an_empty_book():
    state, session, pub = _publisher()
    session.handle(_depth(101, 101))
    session.handle(_snapshot())
    pub.flush(1)
    session.handle(_depth(105, 106, bids=[("9.00000000", "1.00000000")]))  # 102..104 missing
    pub.flush(2)
    _seq, events = state.events_since(0)
    assert [(e["event"], e["symbol"], e["count"]) for e in events] == [("feed_gap", "TEST/USDT", 1), ("feed_resync", "TEST/USDT", 1)]
    view = state.view("TEST/USDT")
    assert view.bids == () and view.asks == ()  # never a half-built book
    row = pub.health()["binance:TEST/USDT"]
    assert (row["state"], row["gaps"], row["resyncs"]) == ("waiting", 1, 1)
