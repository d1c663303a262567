"""Fees and balances. VIP0: 0.1% maker and 0.1% taker, charged in the asset the trader
receives (base for the buyer, quote for the seller), rounded up to the asset's smallest unit
(1e-8); the venue account collects them. Holds: a buy holds price x qty of quote at its limit,
a sell holds qty of base; fills and cancels release what is no longer needed."""

from __future__ import annotations

from .simkit import BTC, LIST_XYZ, assert_events, buy, dep, ev, sell


def test_xyz_fill_fees_holds_and_cancel(sim):
    j = [
        LIST_XYZ,
        dep("a", "USD", "10000"),
        dep("b", "XYZ", "100"),
        sell("s1", "b", "10", "100"),
        buy("b1", "a", "4", "101"),
    ]
    r = sim(j)
    # 4 @100 (the maker's price): notional 400 USD.
    # seller b (maker) gets USD, fee 400 x 0.001 = 0.4 USD; buyer a (taker) gets XYZ, fee 4 x 0.001 = 0.004.
    assert_events(
        r.of("b1"),
        [
            ev("accepted", id="b1"),
            ev(
                "trade",
                price="100",
                qty="4",
                maker_id="s1",
                taker_id="b1",
                maker_fee="0.40000000",
                maker_fee_asset="USD",
                taker_fee="0.00400000",
                taker_fee_asset="XYZ",
            ),
        ],
    )
    # a held 4 x 101 = 404, paid 400, got 4 back; no hold left.
    assert r.balance("a", "USD") == ("9600.00000000", "0.00000000")
    assert r.balance("a", "XYZ") == ("3.99600000", "0.00000000")
    # b: 400 - 0.4 = 399.6 USD; XYZ 100 - 10 on hold, 4 of the hold delivered -> 90 / 6.
    assert r.balance("b", "USD") == ("399.60000000", "0.00000000")
    assert r.balance("b", "XYZ") == ("90.00000000", "6.00000000")
    assert r.balance("venue", "USD") == ("0.40000000", "0.00000000")
    assert r.balance("venue", "XYZ") == ("0.00400000", "0.00000000")
    assert r.summary["conservation"] == {"USD": True, "XYZ": True}

    r = sim([*j, {"op": "cancel", "id": "s1"}])
    assert_events(r.of(len(j) + 1), [ev("canceled", id="s1", leaves_qty="6")])
    assert r.balance("b", "XYZ") == ("96.00000000", "0.00000000")


def test_btc_fees_round_up_and_balances_add_up(sim):
    j = [
        dep("t", "USDT", "1000"),
        dep("m", "BTC", "1"),
        sell("ask", "m", "0.00123", "30000.01", symbol=BTC),
        buy("t1", "t", "0.00123", "30100.00", symbol=BTC),
        buy("bid", "m", "0.00077", "29999.99", symbol=BTC),
        sell("t2", "t", "0.00077", type="market", symbol=BTC),
    ]
    r = sim(j)
    # Trade 1: 0.00123 @30000.01 = 36.9000123 USDT.
    #   maker m (seller) fee: 36.9000123 x 0.001 = 0.0369000123 -> up to 1e-8: 0.03690002 USDT
    #   taker t (buyer) fee: 0.00123 x 0.001 = 0.00000123 BTC
    assert_events(
        r.of("t1"),
        [
            ev("accepted", id="t1"),
            ev("trade", price="30000.01", qty="0.00123", maker_fee="0.03690002", maker_fee_asset="USDT",
               taker_fee="0.00000123", taker_fee_asset="BTC"),
        ],
    )
    # Trade 2: 0.00077 @29999.99 = 23.0999923 USDT.
    #   taker t (seller) fee: 0.0230999923 -> 0.02310000 USDT; maker m (buyer) fee: 0.00000077 BTC
    assert_events(
        r.of("t2"),
        [
            ev("accepted", id="t2"),
            ev("trade", price="29999.99", qty="0.00077", maker_id="bid", taker_id="t2", taker_side="sell",
               maker_fee="0.00000077", maker_fee_asset="BTC", taker_fee="0.02310000", taker_fee_asset="USDT"),
        ],
    )
    # t USDT: 1000 - 36.9000123 + 23.0999923 - 0.0231 = 986.17688
    # t BTC:  0.00123 - 0.00000123 - 0.00077 = 0.00045877
    # m USDT: 36.9000123 - 0.03690002 - 23.0999923 = 13.76311998
    # m BTC:  1 - 0.00123 + 0.00077 - 0.00000077 = 0.99953923
    # venue:  0.03690002 + 0.0231 = 0.06000002 USDT; 0.00000123 + 0.00000077 = 0.000002 BTC
    assert r.balance("t", "USDT") == ("986.17688000", "0.00000000")
    assert r.balance("t", "BTC") == ("0.00045877", "0.00000000")
    assert r.balance("m", "USDT") == ("13.76311998", "0.00000000")
    assert r.balance("m", "BTC") == ("0.99953923", "0.00000000")
    assert r.balance("venue", "USDT") == ("0.06000002", "0.00000000")
    assert r.balance("venue", "BTC") == ("0.00000200", "0.00000000")
    assert r.summary["conservation"] == {"BTC": True, "USDT": True}


def test_buy_hold_at_limit_and_refund_of_price_improvement(sim):
    j = [
        dep("t", "USDT", "1000"),
        dep("m", "BTC", "1"),
        sell("ask", "m", "0.001", "30000.00", symbol=BTC),
        buy("t1", "t", "0.003", "30100.00", symbol=BTC),
    ]
    r = sim(j)
    # Hold 0.003 x 30100 = 90.3; 0.001 fills at 30000 (30 paid, 0.1 refunded); 0.002 rest at
    # 30100 holding 60.2. Available: 1000 - 30 - 60.2 = 909.8.
    assert r.balance("t", "USDT") == ("909.80000000", "60.20000000")
    assert r.book(BTC) == {"bids": [["30100.00", "0.00200", 1]], "asks": []}
    r = sim([*j, {"op": "cancel", "id": "t1"}])
    assert r.balance("t", "USDT") == ("970.00000000", "0.00000000")


def test_partial_maker_sell_fills_release_only_what_was_delivered(sim):
    j = [
        LIST_XYZ,
        dep("a", "USD", "10000"),
        dep("b", "XYZ", "100"),
        sell("s1", "b", "10", "100", display_qty="4"),
        buy("b1", "a", "6", "100"),
    ]
    r = sim(j)
    # b's whole 10 was held (hidden part too); 6 delivered: 90 available, 4 held.
    assert r.balance("b", "XYZ") == ("90.00000000", "4.00000000")
    # b: 600 - 0.6 fee.
    assert r.balance("b", "USD") == ("599.40000000", "0.00000000")
