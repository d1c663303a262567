"""Order types and time in force, on XYZ/USD (tick 1, lot 1): hand-computed events.

Matching rule: price-time priority. A taker fills against the best opposite price first and,
within a price, the oldest resting order first; every fill is at the maker's price.
"""

from __future__ import annotations

from .simkit import LIST_XYZ, XYZ, assert_events, buy, ev, fund, sell

SETUP = [LIST_XYZ, *fund("a", "b", "c", "d")]


def test_limit_gtc_rests_without_a_cross(sim):
    r = sim([*SETUP, sell("s1", "b", "10", "105"), buy("b1", "a", "5", "100")])
    assert_events(
        r.main(),
        [
            ev("accepted", id="s1", side="sell", type="limit", price="105", qty="10", tif="GTC"),
            ev("accepted", id="b1", side="buy", type="limit", price="100", qty="5", tif="GTC"),
        ],
    )
    assert r.book() == {"bids": [["100", "5", 1]], "asks": [["105", "10", 1]]}
    assert r.summary["best"][XYZ] == {"bid": "100", "ask": "105"}
    # Holds: a buy holds price x qty of quote (100 x 5 = 500 USD), a sell holds qty of base.
    assert r.balance("a", "USD") == ("999500.00000000", "500.00000000")
    assert r.balance("b", "XYZ") == ("9990.00000000", "10.00000000")


def test_partial_fills_across_levels_in_price_time_priority(sim):
    r = sim(
        [
            *SETUP,
            sell("s1", "b", "3", "101"),
            sell("s2", "c", "2", "100"),
            sell("s3", "d", "4", "100"),  # same price as s2, later: behind it
            sell("s4", "b", "5", "102"),
            buy("t1", "a", "7", "101"),
        ]
    )
    # 7 = 2 (s2 @100, oldest at the best price) + 4 (s3 @100) + 1 (s1 @101); 102 is beyond the limit.
    assert_events(
        r.of("t1"),
        [
            ev("accepted", id="t1"),
            ev("trade", seq=1, price="100", qty="2", maker_id="s2", taker_id="t1", taker_side="buy"),
            ev("trade", seq=2, price="100", qty="4", maker_id="s3", taker_id="t1", taker_side="buy"),
            ev("trade", seq=3, price="101", qty="1", maker_id="s1", taker_id="t1", taker_side="buy"),
        ],
    )
    assert r.book() == {"bids": [], "asks": [["101", "2", 1], ["102", "5", 1]]}
    assert r.open_order("s1")["leaves_qty"] == "2"
    assert "t1" not in r.open_ids()


def test_resting_order_partially_filled_then_rests_remainder(sim):
    r = sim([*SETUP, sell("s1", "b", "3", "100"), buy("t1", "a", "5", "101")])
    # 3 fill at 100; the remaining 2 rest at the buyer's limit 101.
    assert_events(
        r.of("t1"),
        [ev("accepted", id="t1"), ev("trade", price="100", qty="3", maker_id="s1", taker_id="t1")],
    )
    assert r.book() == {"bids": [["101", "2", 1]], "asks": []}


def test_market_buy_sweeps_levels_and_cancels_the_unfilled_remainder(sim):
    r = sim([*SETUP, sell("s1", "b", "2", "100"), sell("s2", "c", "3", "101"), buy("m1", "a", "8", type="market")])
    # 8 wanted, only 2 + 3 = 5 offered: the other 3 never rest.
    assert_events(
        r.of("m1"),
        [
            ev("accepted", id="m1", type="market", tif="IOC"),
            ev("trade", price="100", qty="2", maker_id="s1", taker_id="m1"),
            ev("trade", price="101", qty="3", maker_id="s2", taker_id="m1"),
            ev("canceled", id="m1", leaves_qty="3"),
        ],
    )
    assert r.book() == {"bids": [], "asks": []}
    assert r.open_ids() == []


def test_market_sell_sweeps_bids_best_first(sim):
    r = sim([*SETUP, buy("b1", "b", "2", "99"), buy("b2", "c", "3", "98"), sell("m1", "a", "4", type="market")])
    # 4 = 2 @99 (best bid) + 2 @98; b2 keeps 1.
    assert_events(
        r.of("m1"),
        [
            ev("accepted", id="m1"),
            ev("trade", price="99", qty="2", maker_id="b1", taker_id="m1", taker_side="sell"),
            ev("trade", price="98", qty="2", maker_id="b2", taker_id="m1", taker_side="sell"),
        ],
    )
    assert r.book() == {"bids": [["98", "1", 1]], "asks": []}


def test_market_order_into_an_empty_book_is_canceled_whole(sim):
    r = sim([*SETUP, buy("m1", "a", "3", type="market")])
    assert_events(r.of("m1"), [ev("accepted", id="m1"), ev("canceled", id="m1", leaves_qty="3")])
    assert r.open_ids() == []


def test_ioc_fills_what_it_can_and_cancels_the_rest(sim):
    r = sim([*SETUP, sell("s1", "b", "3", "100"), sell("s2", "c", "5", "102"), buy("i1", "a", "6", "101", tif="IOC")])
    # Within the limit 101 only s1's 3 are available; the remaining 3 are cancelled, not rested.
    assert_events(
        r.of("i1"),
        [
            ev("accepted", id="i1", tif="IOC"),
            ev("trade", price="100", qty="3", maker_id="s1", taker_id="i1"),
            ev("canceled", id="i1", leaves_qty="3"),
        ],
    )
    assert r.book() == {"bids": [], "asks": [["102", "5", 1]]}
    # The buyer's hold is fully released: paid 3 x 100 = 300, nothing left on hold.
    assert r.balance("a", "USD") == ("999700.00000000", "0.00000000")


def test_ioc_with_nothing_to_match_is_canceled_whole(sim):
    r = sim([*SETUP, sell("s1", "b", "3", "105"), buy("i1", "a", "2", "100", tif="IOC")])
    assert_events(r.of("i1"), [ev("accepted", id="i1"), ev("canceled", id="i1", leaves_qty="2")])
    assert r.book() == {"bids": [], "asks": [["105", "3", 1]]}


def test_fok_kills_when_the_whole_quantity_is_not_available(sim):
    r = sim(
        [
            *SETUP,
            sell("s1", "b", "3", "100"),
            sell("s2", "c", "2", "101"),
            sell("s3", "d", "5", "103"),
            buy("f1", "a", "6", "101", tif="FOK"),
        ]
    )
    # Up to 101 there are 3 + 2 = 5 < 6: nothing trades at all.
    assert_events(r.of("f1"), [ev("accepted", id="f1", tif="FOK"), ev("expired", id="f1", leaves_qty="6")])
    assert r.book() == {"bids": [], "asks": [["100", "3", 1], ["101", "2", 1], ["103", "5", 1]]}
    assert r.balance("a", "USD") == ("1000000.00000000", "0.00000000")
    assert r.state["trade_seq"] == 0


def test_fok_fills_completely_when_enough_is_available(sim):
    r = sim(
        [
            *SETUP,
            sell("s1", "b", "3", "100"),
            sell("s2", "c", "2", "101"),
            sell("s3", "d", "5", "103"),
            buy("f2", "a", "5", "101", tif="FOK"),
        ]
    )
    # Exactly 5 up to 101: 3 @100 + 2 @101.
    assert_events(
        r.of("f2"),
        [
            ev("accepted", id="f2"),
            ev("trade", price="100", qty="3", maker_id="s1", taker_id="f2"),
            ev("trade", price="101", qty="2", maker_id="s2", taker_id="f2"),
        ],
    )
    assert r.book() == {"bids": [], "asks": [["103", "5", 1]]}


def test_fok_market_sell_all_or_nothing(sim):
    r = sim(
        [
            *SETUP,
            buy("b1", "b", "2", "99"),
            sell("f1", "a", "3", type="market", tif="FOK"),  # only 2 bid: killed
            sell("f2", "a", "2", type="market", tif="FOK"),  # exactly 2: filled
        ]
    )
    assert_events(
        r.since("f1"),
        [
            ev("accepted", id="f1"),
            ev("expired", id="f1", leaves_qty="3"),
            ev("accepted", id="f2"),
            ev("trade", price="99", qty="2", maker_id="b1", taker_id="f2"),
        ],
    )


def test_gtd_expires_at_its_expire_ts_on_the_engine_clock(sim):
    j = [
        *SETUP,
        {**buy("g1", "a", "5", "100", tif="GTD", expire_ts=5000), "ts": 1000},
        {"op": "time", "ts": 4999},
        {"op": "time", "ts": 5000},
        {**sell("s1", "b", "5", "100"), "ts": 6000},
    ]
    r = sim(j)
    assert r.of(len(SETUP) + 2) == []  # 4999 < 5000: still live
    assert_events(r.of(len(SETUP) + 3), [ev("expired", id="g1", leaves_qty="5", reason="GTD")])
    # The expired bid is gone: the sell finds nothing and rests.
    assert_events(r.of("s1"), [ev("accepted", id="s1")])
    assert r.book() == {"bids": [], "asks": [["100", "5", 1]]}
    assert r.balance("a", "USD") == ("1000000.00000000", "0.00000000")
    assert r.state["now"] == 6000


def test_gtd_partially_filled_then_expired_by_a_later_command(sim):
    j = [
        *SETUP,
        {**buy("g1", "a", "5", "100", tif="GTD", expire_ts=5000), "ts": 1000},
        {**sell("s1", "b", "2", "100"), "ts": 2000},
        # Any command at or after expire_ts moves the clock: the expiry comes first.
        {**sell("s2", "c", "1", "100"), "ts": 7000},
    ]
    r = sim(j)
    assert_events(r.of("s1"), [ev("accepted", id="s1"), ev("trade", price="100", qty="2", maker_id="g1", taker_id="s1")])
    assert_events(
        r.of("s2"),
        [ev("expired", id="g1", leaves_qty="3", reason="GTD"), ev("accepted", id="s2")],
    )
    # a paid 2 x 100 = 200 and the hold for the other 3 (300) came back.
    assert r.balance("a", "USD") == ("999800.00000000", "0.00000000")
    assert r.book() == {"bids": [], "asks": [["100", "1", 1]]}


def test_post_only_rests_when_it_would_not_take(sim):
    r = sim([*SETUP, sell("s1", "b", "5", "101"), buy("p1", "a", "3", "100", post_only=True)])
    assert_events(r.of("p1"), [ev("accepted", id="p1", post_only=True)])
    assert r.book() == {"bids": [["100", "3", 1]], "asks": [["101", "5", 1]]}


def test_post_only_rejected_when_it_would_take(sim):
    r = sim(
        [
            *SETUP,
            sell("s1", "b", "5", "101"),
            buy("p1", "a", "3", "100", post_only=True),
            buy("p2", "a", "3", "101", post_only=True),  # touches the ask 101
            sell("p3", "c", "1", "100", post_only=True),  # touches the bid 100
        ]
    )
    assert_events(r.of("p2"), [ev("rejected", id="p2", reason="POST_ONLY_WOULD_TAKE")])
    assert_events(r.of("p3"), [ev("rejected", id="p3", reason="POST_ONLY_WOULD_TAKE")])
    assert r.book() == {"bids": [["100", "3", 1]], "asks": [["101", "5", 1]]}
    assert r.balance("a", "USD") == ("999700.00000000", "300.00000000")
