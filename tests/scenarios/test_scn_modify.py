"""Modify priority rules, proven by which order fills first afterwards.

Rule: a pure quantity decrease keeps the order's place in the queue; a price change or a
quantity increase loses it (the order goes to the back of the queue at its new price).
"""

from __future__ import annotations

from .simkit import LIST_XYZ, assert_events, buy, ev, fund, sell

SETUP = [LIST_XYZ, *fund("a", "b", "c", "d")]


def mod(oid: str, **fields) -> dict:
    return {"op": "modify", "id": oid, **fields}


def test_qty_decrease_keeps_priority(sim):
    j = [*SETUP, buy("m1", "a", "5", "100"), buy("m2", "c", "5", "100"), mod("m1", qty="3"), sell("t", "b", "3", "100")]
    r = sim(j)
    assert_events(r.of(j[-2]), [ev("modified", id="m1", price="100", qty="3", leaves_qty="3", priority="kept")])
    # m1 is still first at 100: it takes the whole 3.
    assert_events(r.of("t"), [ev("accepted", id="t"), ev("trade", price="100", qty="3", maker_id="m1", taker_id="t")])
    assert r.book() == {"bids": [["100", "5", 1]], "asks": []}
    # m1's hold shrank from 500 to 300 and was then spent; only m2's 500 is held.
    assert r.balance("a", "USD") == ("999700.00000000", "0.00000000")


def test_qty_increase_loses_priority(sim):
    j = [*SETUP, buy("m1", "a", "5", "100"), buy("m2", "c", "5", "100"), mod("m1", qty="8"), sell("t", "b", "6", "100")]
    r = sim(j)
    assert_events(r.of(j[-2]), [ev("modified", id="m1", price="100", qty="8", leaves_qty="8", priority="lost")])
    # m2 is now first: 5 from m2, then 1 from m1.
    assert_events(
        r.of("t"),
        [
            ev("accepted", id="t"),
            ev("trade", price="100", qty="5", maker_id="m2", taker_id="t"),
            ev("trade", price="100", qty="1", maker_id="m1", taker_id="t"),
        ],
    )
    assert r.open_order("m1")["leaves_qty"] == "7"
    # m1 holds 7 x 100 = 700 for its remainder.
    assert r.balance("a", "USD")[1] == "700.00000000"


def test_price_change_loses_priority_even_when_moved_back(sim):
    j = [
        *SETUP,
        buy("m1", "a", "5", "100"),
        buy("m2", "c", "5", "100"),
        mod("m1", price="99"),
        mod("m1", price="100"),
        sell("t", "b", "5", "100"),
    ]
    r = sim(j)
    assert_events(
        r.since(j[-3]),
        [
            ev("modified", id="m1", price="99", qty="5", leaves_qty="5", priority="lost"),
            ev("modified", id="m1", price="100", qty="5", leaves_qty="5", priority="lost"),
            ev("accepted", id="t"),
            ev("trade", price="100", qty="5", maker_id="m2", taker_id="t"),
        ],
    )
    assert r.open_ids() == ["m1"]


def test_price_change_joins_the_back_of_the_new_level(sim):
    j = [*SETUP, buy("m1", "a", "5", "100"), buy("m2", "c", "5", "101"), mod("m1", price="101"), sell("t", "b", "7", "101")]
    r = sim(j)
    # At 101: m2 (there first), then m1 (arrived by modify). 7 = 5 from m2 + 2 from m1.
    assert_events(
        r.of("t"),
        [
            ev("accepted", id="t"),
            ev("trade", price="101", qty="5", maker_id="m2", taker_id="t"),
            ev("trade", price="101", qty="2", maker_id="m1", taker_id="t"),
        ],
    )
    assert r.book() == {"bids": [["101", "3", 1]], "asks": []}
    # m1 holds its remaining 3 at 101 = 303.
    assert r.balance("a", "USD")[1] == "303.00000000"


def test_modify_of_a_partly_filled_order_counts_qty_from_the_original(sim):
    # qty is the order's total: 10 with 4 filled, modified to 8 -> 4 left, still first in line.
    j = [
        *SETUP,
        buy("m1", "a", "10", "100"),
        sell("t1", "b", "4", "100"),
        buy("m2", "c", "5", "100"),
        mod("m1", qty="8"),
        sell("t2", "b", "4", "100"),
    ]
    r = sim(j)
    assert_events(r.of(j[-2]), [ev("modified", id="m1", qty="8", leaves_qty="4", priority="kept")])
    assert_events(r.of("t2"), [ev("accepted", id="t2"), ev("trade", qty="4", maker_id="m1", taker_id="t2")])
    assert r.open_ids() == ["m2"]


def test_modify_to_a_crossing_price_trades_as_a_taker(sim):
    j = [*SETUP, sell("s1", "b", "2", "102"), buy("m1", "a", "5", "100"), mod("m1", price="102")]
    r = sim(j)
    # m1 now crosses the ask: 2 trade at the maker's 102, the other 3 rest at 102.
    assert_events(
        r.of(j[-1]),
        [
            ev("modified", id="m1", price="102", priority="lost"),
            ev("trade", price="102", qty="2", maker_id="s1", taker_id="m1", taker_side="buy"),
        ],
    )
    assert r.book() == {"bids": [["102", "3", 1]], "asks": []}


# A modify that makes an order bigger is a new commitment: the pre-trade risk rules that
# would refuse such an order on ``new`` refuse the modify too, and the order stays as it was.


def test_modify_increase_in_reducing_state_is_reduce_only(sim):
    j = [
        *SETUP,
        sell("s0", "b", "5", "100"),
        buy("long", "a", "5", "100"),  # a long 5
        {"op": "state", "account": "a", "state": "REDUCING"},
        sell("r1", "a", "3", "120"),  # reduces: accepted
        mod("r1", qty="9"),  # 9 > 5: would turn a short
    ]
    r = sim(j)
    assert_events(r.of(j[-1]), [ev("rejected", id="r1", reason="REDUCE_ONLY")])
    assert r.open_order("r1")["qty"] == "3"


def test_modify_increase_beyond_the_position_limit(sim):
    j = [*SETUP, {"op": "limits", "symbol": "XYZ/USD", "max_position": "5"}, buy("m1", "a", "3", "90"), mod("m1", qty="9")]
    r = sim(j)
    assert_events(r.of(j[-1]), [ev("rejected", id="m1", reason="POSITION_LIMIT")])
    assert r.open_order("m1")["qty"] == "3"


def test_modify_increase_beyond_the_max_order_notional(sim):
    j = [*SETUP, {"op": "limits", "symbol": "XYZ/USD", "max_order_notional": "1000"}, buy("m1", "a", "3", "90"), mod("m1", qty="50")]
    r = sim(j)
    # 50 x 90 = 4500 > 1000
    assert_events(r.of(j[-1]), [ev("rejected", id="m1", reason="MAX_ORDER_NOTIONAL")])
    assert r.open_order("m1")["qty"] == "3"
