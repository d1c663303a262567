"""``MarketState.publish_l2`` (an exchange feed's L2 book) and ``MarketState.reset`` (replay seeks)."""

from __future__ import annotations

from decimal import Decimal

from core.instruments import Asset, make_instrument
from core.l2book import L2Book
from core.market_state import MarketState

INS = make_instrument("BTC/USDT", "0.01", "0.00001")


def _book() -> L2Book:
    b = L2Book()
    b.replace([(6_000_000, 150_000), (5_999_999, 20_000), (5_999_990, 1)], [(6_000_001, 7), (6_000_500, 300_000)])
    return b


def test_publish_l2_snapshots_the_top_levels_exactly():
    state = MarketState(depth=2)
    view = state.publish_l2(INS, _book(), [], ts=10)
    assert [(lv.ticks, lv.lots, lv.orders, lv.price, lv.qty) for lv in view.bids] == [
        (6_000_000, 150_000, 0, "60000.00", "1.50000"),
        (5_999_999, 20_000, 0, "59999.99", "0.20000"),
    ]
    assert [(lv.price, lv.qty) for lv in view.asks] == [("60000.01", "0.00007"), ("60005.00", "3.00000")]
    assert (view.best_bid, view.best_ask, view.spread_ticks) == ("60000.00", "60000.01", 1)
    assert view.mid == Decimal("60000.005")


def test_publish_l2_version_moves_only_when_the_book_or_trades_change():
    state = MarketState()
    book = _book()
    v1 = state.publish_l2(INS, book, [], ts=1)
    assert state.publish_l2(INS, book, [], ts=2) is None
    assert state.view("BTC/USDT").version == v1.version and state.view("BTC/USDT").ts == 2
    book.set_bid(6_000_000, 0)
    v2 = state.publish_l2(INS, book, [], ts=3)
    assert v2.version == v1.version + 1 and v2.best_bid == "59999.99"
    v3 = state.publish_l2(INS, book, [{"ts": 4_000_000_000, "price": "60000.01", "qty": "0.00007", "taker_side": "buy"}], ts=4)
    assert v3.version == v2.version + 1
    assert (v3.last, v3.trade_count, v3.volume) == ("60000.01", 1, "0.00007")
    assert [(c.start, c.open, c.volume, c.trades) for c in v3.candles_1s] == [(4_000_000_000, "60000.01", "0.00007", 1)]


def test_reset_forgets_views_but_keeps_versions_monotonic():
    state = MarketState()
    book = _book()
    trade = {"ts": 1_000_000_000, "price": "60000.00", "qty": "0.10000", "taker_side": "sell"}
    before = state.publish_l2(INS, book, [trade], ts=1)
    state.reset()
    assert state.view("BTC/USDT") is None
    after = state.publish_l2(INS, book, [], ts=2)
    assert after.version > before.version
    assert (after.trade_count, after.trades, after.candles_1m, after.last) == (0, (), (), None)


def test_regrid_rescales_tape_and_forming_candles_exactly():
    state = MarketState()
    coarse = make_instrument("BTC/USDT", "0.01", "0.00001")
    fine = make_instrument("BTC/USDT", "0.001", "0.000001", assets={"USDT": Asset("USDT", 9)})
    state.publish_l2(coarse, _book(), [{"ts": 5, "price": "60000.01", "qty": "0.00007", "taker_side": "buy"}], ts=5)
    state.regrid(fine, 10, 10)
    fine_book = L2Book()
    fine_book.replace([(60_000_005, 1)], [(60_000_010, 70)])
    view = state.publish_l2(fine, fine_book, [{"ts": 6, "price": "60000.005", "qty": "0.000001", "taker_side": "sell"}], ts=6)
    assert [(t.ticks, t.lots) for t in view.trades] == [(60_000_010, 70), (60_000_005, 1)]
    assert (view.best_bid, view.volume) == ("60000.005", "0.000071")
    c = view.candles_1s[-1]
    assert (c.open, c.high, c.low, c.close, c.volume, c.trades) == ("60000.010", "60000.010", "60000.005", "60000.005", "0.000071", 2)


def test_roll_up_folds_minutes_into_five_minute_candles_exactly():
    from core.candles import roll_up
    from core.market_state import Candle

    m = 60_000_000_000
    ones = [Candle(4 * m, "10.00", "10.50", "9.90", "10.10", "1.250", 3), Candle(5 * m, "10.10", "10.20", "9.80", "10.00", "0.750", 2),
            Candle(6 * m, "10.00", "11.00", "10.00", "10.90", "0.001", 1), Candle(10 * m, "10.90", "10.90", "10.90", "10.90", "0.000", 0)]
    assert roll_up(ones, 5 * m) == [
        Candle(0, "10.00", "10.50", "9.90", "10.10", "1.250", 3),
        Candle(5 * m, "10.10", "11.00", "9.80", "10.90", "0.751", 3),
        Candle(10 * m, "10.90", "10.90", "10.90", "10.90", "0.000", 0),
    ]
    assert roll_up([], 5 * m) == []
