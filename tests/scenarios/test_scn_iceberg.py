"""Iceberg orders: only ``display_qty`` shows; when the shown slice is filled, the next slice
(display_qty, or what is left if less) shows at the back of its price level's queue."""

from __future__ import annotations

from .simkit import LIST_XYZ, assert_events, buy, ev, fund, sell

SETUP = [LIST_XYZ, *fund("a", "b", "c"), sell("ice", "b", "10", "100", display_qty="3"), sell("s2", "c", "4", "100")]


def test_only_the_display_qty_shows(sim):
    r = sim(SETUP)
    assert_events(r.of("ice"), [ev("accepted", id="ice", qty="10", display_qty="3")])
    # Level 100 shows 3 (iceberg slice) + 4 (s2) = 7 in 2 orders.
    assert r.book() == {"bids": [], "asks": [["100", "7", 2]]}
    # The whole 10 is on hold, not just the visible 3.
    assert r.balance("b", "XYZ")[1] == "10.00000000"


def test_refill_goes_behind_orders_already_waiting(sim):
    r = sim([*SETUP, buy("t1", "a", "5", "100")])
    # ice shows 3 and is first: 3 fill; the next 3 go behind s2, which gives the last 2.
    assert_events(
        r.of("t1"),
        [
            ev("accepted", id="t1"),
            ev("trade", price="100", qty="3", maker_id="ice", taker_id="t1"),
            ev("refilled", id="ice", visible_qty="3", leaves_qty="7"),
            ev("trade", price="100", qty="2", maker_id="s2", taker_id="t1"),
        ],
    )
    # Queue now: s2 (2 left), ice (3 visible of 7).
    assert r.open_ids() == ["s2", "ice"]
    assert r.book() == {"bids": [], "asks": [["100", "5", 2]]}
    assert r.open_order("ice")["visible_qty"] == "3"
    assert r.open_order("ice")["leaves_qty"] == "7"


def test_refills_until_exhausted_last_slice_smaller(sim):
    j = [*SETUP, buy("t1", "a", "5", "100"), buy("t2", "a", "6", "100"), buy("t3", "a", "3", "100")]
    r = sim(j)
    # t2 (6): s2 2, ice 3 -> refill 3 of 4 left, ice again 1 -> ice leaves 3, visible 2.
    assert_events(
        r.of("t2"),
        [
            ev("accepted", id="t2"),
            ev("trade", qty="2", maker_id="s2", taker_id="t2"),
            ev("trade", qty="3", maker_id="ice", taker_id="t2"),
            ev("refilled", id="ice", visible_qty="3", leaves_qty="4"),
            ev("trade", qty="1", maker_id="ice", taker_id="t2"),
        ],
    )
    # t3 (3): ice's visible 2, then the last slice of 1 (less than display_qty 3).
    assert_events(
        r.of("t3"),
        [
            ev("accepted", id="t3"),
            ev("trade", qty="2", maker_id="ice", taker_id="t3"),
            ev("refilled", id="ice", visible_qty="1", leaves_qty="1"),
            ev("trade", qty="1", maker_id="ice", taker_id="t3"),
        ],
    )
    assert r.book() == {"bids": [], "asks": []}
    assert r.open_ids() == []
    # b sold all 10 XYZ: nothing held, 10000 - 10 available.
    assert r.balance("b", "XYZ") == ("9990.00000000", "0.00000000")


def test_fok_sees_the_hidden_quantity(sim):
    # FOK is all-or-nothing on what can fill: the iceberg's hidden part fills too.
    r = sim([LIST_XYZ, *fund("a", "b"), sell("ice", "b", "10", "100", display_qty="3"), buy("f", "a", "8", "100", tif="FOK")])
    assert_events(
        r.of("f"),
        [
            ev("accepted", id="f"),
            ev("trade", qty="3", maker_id="ice"),
            ev("refilled", id="ice", visible_qty="3", leaves_qty="7"),
            ev("trade", qty="3", maker_id="ice"),
            ev("refilled", id="ice", visible_qty="3", leaves_qty="4"),
            ev("trade", qty="2", maker_id="ice"),
        ],
    )
    assert r.open_order("ice")["leaves_qty"] == "2"
    assert r.open_order("ice")["visible_qty"] == "1"
