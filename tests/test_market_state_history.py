"""``MarketState.seed_candles``: closed candles from history (an exchange's klines) merged with
the candles the live series builds from trades -- overlap, gap fill, bound, exact grids."""

from __future__ import annotations

import pytest

from core.instruments import make_instrument
from core.l2book import L2Book
from core.market_state import Candle, MarketState

INS = make_instrument("BTC/USDT", "0.01", "0.00001")
M = 60_000_000_000  # one minute in ns
T0 = 1_723_161_600 * 1_000_000_000  # 2024-08-09T00:00Z, a minute boundary


def _row(i: int, o: str, h: str, lo: str, c: str, v: str = "1.5", n: int = 3) -> tuple:
    return (T0 + i * M, o, h, lo, c, v, n)


def _trade(ts: int, price: str, qty: str = "0.10000") -> dict:
    return {"ts": ts, "seq": 1, "taker_side": "buy", "price": price, "qty": qty}


def _book() -> L2Book:
    b = L2Book()
    b.replace([(6_000_000, 100_000)], [(6_000_001, 100_000)])
    return b


def _ohlcv(candles) -> list[tuple]:
    return [((c.start - T0) // M, c.open, c.high, c.low, c.close, c.volume, c.trades) for c in candles]


def test_history_before_the_first_book_makes_a_view_and_is_formatted_by_the_instrument():
    state = MarketState()
    kept = state.seed_candles(INS, 60, [_row(1, "60001.5", "60010", "60000.00", "60002.10000000", "0.12300000", 7),
                                        _row(0, "60000", "60001.5", "59999.99", "60001.5")])
    assert kept == 2
    view = state.view("BTC/USDT")
    assert view.version == 1 and view.bids == () and view.last is None and view.candles_1s == ()
    assert _ohlcv(view.candles_1m) == [(0, "60000.00", "60001.50", "59999.99", "60001.50", "1.50000", 3),
                                       (1, "60001.50", "60010.00", "60000.00", "60002.10", "0.12300", 7)]


def test_live_bucket_wins_history_after_it_is_dropped_and_the_forming_candle_continues():
    state = MarketState()
    state.publish_l2(INS, _book(), [_trade(T0 + 2 * M + 5, "60003.00")], ts=1)  # live forms minute 2
    v1 = state.view("BTC/USDT").version
    kept = state.seed_candles(INS, 60, [_row(0, "60000", "60001", "60000", "60001"),
                                        _row(1, "60001", "60002", "60001", "60002"),
                                        _row(2, "60002", "60009", "60002", "60009"),  # the forming bucket: live's
                                        _row(3, "60009", "60009", "60009", "60009")])  # after it: not history
    view = state.view("BTC/USDT")
    assert kept == 2 and view.version == v1 + 1
    assert _ohlcv(view.candles_1m) == [(0, "60000.00", "60001.00", "60000.00", "60001.00", "1.50000", 3),
                                       (1, "60001.00", "60002.00", "60001.00", "60002.00", "1.50000", 3),
                                       (2, "60003.00", "60003.00", "60003.00", "60003.00", "0.10000", 1)]
    state.publish_l2(INS, _book(), [_trade(T0 + 2 * M + 9, "60004.00"), _trade(T0 + 3 * M + 1, "60005.00")], ts=2)
    assert _ohlcv(state.view("BTC/USDT").candles_1m)[2:] == [(2, "60003.00", "60004.00", "60003.00", "60004.00", "0.20000", 2),
                                                            (3, "60005.00", "60005.00", "60005.00", "60005.00", "0.10000", 1)]


def test_a_candle_the_live_series_closed_wins_over_history():
    state = MarketState()
    state.publish_l2(INS, _book(), [_trade(T0 + M + 1, "60100.00"), _trade(T0 + 2 * M + 1, "60200.00")], ts=1)
    state.seed_candles(INS, 60, [_row(0, "60000", "60000", "60000", "60000"), _row(1, "1", "99999", "1", "5")])
    assert _ohlcv(state.view("BTC/USDT").candles_1m) == [
        (0, "60000.00", "60000.00", "60000.00", "60000.00", "1.50000", 3),
        (1, "60100.00", "60100.00", "60100.00", "60100.00", "0.10000", 1),  # live's, not history's
        (2, "60200.00", "60200.00", "60200.00", "60200.00", "0.10000", 1)]


def test_gaps_are_filled_flat_at_the_previous_close_up_to_the_live_series():
    state = MarketState()
    state.seed_candles(INS, 60, [_row(0, "100", "101", "99", "100.5"), _row(3, "100.5", "102", "100", "101")])
    state.publish_l2(INS, _book(), [_trade(T0 + 6 * M + 1, "101.50")], ts=1)  # the first live trade, 3 min later
    flat = lambda i, p: (i, p, p, p, p, "0.00000", 0)  # noqa: E731
    assert _ohlcv(state.view("BTC/USDT").candles_1m) == [
        (0, "100.00", "101.00", "99.00", "100.50", "1.50000", 3), flat(1, "100.50"), flat(2, "100.50"),
        (3, "100.50", "102.00", "100.00", "101.00", "1.50000", 3), flat(4, "101.00"), flat(5, "101.00"),
        (6, "101.50", "101.50", "101.50", "101.50", "0.10000", 1)]


def test_seeding_after_live_fills_the_gap_to_the_forming_candle():
    state = MarketState()
    state.publish_l2(INS, _book(), [_trade(T0 + 3 * M, "50.00")], ts=1)
    state.seed_candles(INS, 60, [_row(0, "40", "41", "39", "40")])
    assert [(i, c) for i, _, _, _, c, _, _ in _ohlcv(state.view("BTC/USDT").candles_1m)] == [
        (0, "40.00"), (1, "40.00"), (2, "40.00"), (3, "50.00")]


def test_the_bound_keeps_the_newest_and_1s_history_uses_its_own_series():
    state = MarketState(candles_1s=5, candles_1m=3)
    rows = [_row(i, str(100 + i), str(100 + i), str(100 + i), str(100 + i)) for i in range(10)]
    assert state.seed_candles(INS, 60, rows) == 3
    assert [c for _, _, _, _, c, _, _ in _ohlcv(state.view("BTC/USDT").candles_1m)] == ["107.00", "108.00", "109.00"]
    secs = [(T0 + i * 1_000_000_000, "7", "7", "7", "7", "0.1") for i in range(8)]
    assert state.seed_candles(INS, 1, secs) == 5
    view = state.view("BTC/USDT")
    assert [c.start - T0 for c in view.candles_1s] == [3_000_000_000 + i * 1_000_000_000 for i in range(5)]
    assert len(view.candles_1m) == 3


def test_a_gap_longer_than_the_bound_is_not_filled():
    state = MarketState(candles_1m=4)
    state.seed_candles(INS, 60, [_row(0, "10", "10", "10", "10"), _row(1, "11", "11", "11", "11")])
    state.publish_l2(INS, _book(), [_trade(T0 + 100 * M, "12.00")], ts=1)  # 98 quiet minutes > 4
    assert [(i, c) for i, _, _, _, c, _, _ in _ohlcv(state.view("BTC/USDT").candles_1m)] == [
        (0, "10.00"), (1, "11.00"), (100, "12.00")]


@pytest.mark.parametrize("row, message", [
    (_row(0, "100.005", "101", "99", "100"), r"BTC/USDT candle at \d+ ns: .*open.*100\.005.*tick 0\.01"),
    (_row(0, "100", "101", "99", "100", "0.000001"), r"volume.*0\.000001.*lot 0\.00001"),
    (_row(0, "100", "99", "98", "100"), "low 98 / high 99 do not bound open 100 and close 100"),
    ((T0 + 1, "1", "1", "1", "1", "1"), "start is not on a 60 s boundary"),
    ((T0, "1", "1", "1", "1"), r"got 5 fields"),
    (_row(0, "abc", "1", "1", "1"), "open"),
])
def test_bad_history_is_refused_with_the_candle_named_and_nothing_changes(row, message):
    state = MarketState()
    state.seed_candles(INS, 60, [_row(5, "1", "1", "1", "1")])
    before = state.view("BTC/USDT")
    with pytest.raises(ValueError, match=message):
        state.seed_candles(INS, 60, [_row(6, "1", "1", "1", "1"), row])
    assert state.view("BTC/USDT") is before


def test_interval_must_be_one_second_or_one_minute():
    with pytest.raises(ValueError, match="candle interval must be 1 or 60 seconds, got 300"):
        MarketState().seed_candles(INS, 300, [])


def test_the_first_live_publish_takes_the_grid_from_history_only_state():
    coarse = make_instrument("BTC/USDT", "0.1", "0.00001")
    state = MarketState()
    state.seed_candles(coarse, 60, [_row(0, "60000.1", "60000.1", "60000.1", "60000.1")])
    state.publish_l2(INS, _book(), [_trade(T0 + M + 1, "60000.05")], ts=1)  # off the history's 0.1 grid: fine
    assert state.view("BTC/USDT").candles_1m[-1] == Candle(T0 + M, "60000.05", "60000.05", "60000.05", "60000.05",
                                                            "0.10000", 1)
