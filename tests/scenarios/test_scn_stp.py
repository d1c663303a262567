"""Self-trade prevention: what happens when a taker meets a resting order of its own account.

Book for every mode: b's s0 sells 2 @100 (oldest), then a's r1 sells 3 @100. a's t1 buys
4 @100: it first trades 2 with s0, then meets its own r1 with 2 left.

* cancel_newest: the incoming (taker) remainder is cancelled, the resting order stays.
* cancel_oldest: the resting order is cancelled and the taker carries on (here it rests).
* cancel_both:   both are cancelled.
* decrement:     both are reduced by the smaller remaining quantity, nothing trades.
"""

from __future__ import annotations

from .simkit import LIST_XYZ, assert_events, buy, ev, fund, sell

SETUP = [LIST_XYZ, *fund("a", "b", "c"), sell("s0", "b", "2", "100"), sell("r1", "a", "3", "100")]
FIRST_FILL = ev("trade", price="100", qty="2", maker_id="s0", taker_id="t1")


def test_cancel_newest(sim):
    r = sim([*SETUP, buy("t1", "a", "4", "100", stp="cancel_newest")])
    assert_events(
        r.of("t1"),
        [ev("accepted", id="t1", stp="cancel_newest"), FIRST_FILL, ev("canceled", id="t1", leaves_qty="2", reason="STP")],
    )
    assert r.book() == {"bids": [], "asks": [["100", "3", 1]]}
    assert r.open_ids() == ["r1"]
    # a paid 2 x 100; the hold for the cancelled 2 came back. r1 still holds 3 XYZ.
    assert r.balance("a", "USD") == ("999800.00000000", "0.00000000")
    assert r.balance("a", "XYZ")[1] == "3.00000000"


def test_cancel_oldest(sim):
    r = sim([*SETUP, buy("t1", "a", "4", "100", stp="cancel_oldest")])
    assert_events(
        r.of("t1"),
        [ev("accepted", id="t1"), FIRST_FILL, ev("canceled", id="r1", leaves_qty="3", reason="STP")],
    )
    # Nothing else at or below 100: t1's remaining 2 rest.
    assert r.book() == {"bids": [["100", "2", 1]], "asks": []}
    assert r.open_ids() == ["t1"]
    # USD: 1,000,000 - 200 paid - 200 held for the resting 2.
    assert r.balance("a", "USD") == ("999600.00000000", "200.00000000")
    assert r.balance("a", "XYZ")[1] == "0.00000000"


def test_cancel_oldest_then_trades_with_the_next_order(sim):
    r = sim([*SETUP, sell("s2", "c", "5", "100"), buy("t1", "a", "4", "100", stp="cancel_oldest")])
    # s0 2, r1 cancelled, then c's s2 gives the last 2.
    assert_events(
        r.of("t1"),
        [
            ev("accepted", id="t1"),
            FIRST_FILL,
            ev("canceled", id="r1", leaves_qty="3", reason="STP"),
            ev("trade", price="100", qty="2", maker_id="s2", taker_id="t1"),
        ],
    )
    assert r.book() == {"bids": [], "asks": [["100", "3", 1]]}


def test_cancel_both(sim):
    r = sim([*SETUP, buy("t1", "a", "4", "100", stp="cancel_both")])
    assert_events(
        r.of("t1"),
        [
            ev("accepted", id="t1"),
            FIRST_FILL,
            ev("canceled", id="r1", leaves_qty="3", reason="STP"),
            ev("canceled", id="t1", leaves_qty="2", reason="STP"),
        ],
    )
    assert r.book() == {"bids": [], "asks": []}
    assert r.open_ids() == []
    assert r.balance("a", "USD") == ("999800.00000000", "0.00000000")
    assert r.balance("a", "XYZ")[1] == "0.00000000"


def test_decrement_smaller_taker(sim):
    r = sim([*SETUP, buy("t1", "a", "4", "100", stp="decrement")])
    # After s0, t1 has 2 left and r1 has 3: both lose 2 -> t1 done, r1 keeps 1. No self-trade.
    assert_events(
        r.of("t1"),
        [
            ev("accepted", id="t1"),
            FIRST_FILL,
            ev("decremented", id="r1", qty="2", leaves_qty="1"),
            ev("decremented", id="t1", qty="2", leaves_qty="0"),
        ],
    )
    assert r.book() == {"bids": [], "asks": [["100", "1", 1]]}
    assert r.open_ids() == ["r1"]
    assert r.state["trade_seq"] == 1
    # XYZ: 10000 - 3 held by r1 + (2 bought - 0.002 fee) + 2 released by the decrement.
    assert r.balance("a", "XYZ") == ("10000.99800000", "1.00000000")
    assert r.balance("a", "USD") == ("999800.00000000", "0.00000000")


def test_decrement_smaller_maker_then_continue(sim):
    j = [*SETUP, sell("s2", "c", "5", "101"), buy("t1", "a", "6", "101", stp="decrement")]
    r = sim(j)
    # 6: s0 gives 2 -> 4 left; r1 (3) and t1 both lose 3 -> r1 gone, t1 has 1; s2 gives 1 @101.
    assert_events(
        r.of("t1"),
        [
            ev("accepted", id="t1"),
            FIRST_FILL,
            ev("decremented", id="r1", qty="3", leaves_qty="0"),
            ev("decremented", id="t1", qty="3", leaves_qty="1"),
            ev("trade", price="101", qty="1", maker_id="s2", taker_id="t1"),
        ],
    )
    assert r.book() == {"bids": [], "asks": [["101", "4", 1]]}
    assert r.open_ids() == ["s2"]
    # a: USD 1,000,000 - 200 - 101; no holds left anywhere.
    assert r.balance("a", "USD") == ("999699.00000000", "0.00000000")
    assert r.balance("a", "XYZ")[1] == "0.00000000"


def test_account_default_stp_mode(sim):
    j = [LIST_XYZ, *fund("a", "b"), {"op": "account", "account": "a", "stp": "cancel_newest"}]
    j += [sell("r1", "a", "3", "100"), buy("t1", "a", "2", "100")]
    r = sim(j)
    assert_events(
        r.since(j[-3], drop=()),
        [
            ev("account_set", account="a", stp="cancel_newest"),
            ev("accepted", id="r1"),
            ev("accepted", id="t1", stp="cancel_newest"),
            ev("canceled", id="t1", leaves_qty="2", reason="STP"),
        ],
    )
    assert r.open_ids() == ["r1"]


def test_order_stp_overrides_the_account_default(sim):
    j = [LIST_XYZ, *fund("a", "b"), {"op": "account", "account": "a", "stp": "cancel_newest"}]
    j += [sell("r1", "a", "3", "100"), buy("t1", "a", "2", "100", stp="cancel_oldest")]
    r = sim(j)
    assert_events(
        r.of("t1"),
        [ev("accepted", id="t1", stp="cancel_oldest"), ev("canceled", id="r1", leaves_qty="3", reason="STP")],
    )
    assert r.book() == {"bids": [["100", "2", 1]], "asks": []}


def test_stp_only_between_orders_of_one_account(sim):
    r = sim([LIST_XYZ, *fund("a", "b"), sell("r1", "b", "3", "100"), buy("t1", "a", "2", "100", stp="cancel_both")])
    assert_events(r.of("t1"), [ev("accepted", id="t1"), ev("trade", qty="2", maker_id="r1", taker_id="t1")])


def test_fok_with_cancel_newest_is_all_or_nothing(sim):
    # Besides s0 (2) and a's own r1 (3), c's s2 offers 5 at 100. Under cancel_newest, t1 is
    # cancelled when it reaches r1 after only 2, so it cannot fill 4: FOK means nothing trades.
    j = [*SETUP, sell("s2", "c", "5", "100"), buy("t1", "a", "4", "100", tif="FOK", stp="cancel_newest")]
    r = sim(j)
    assert_events(r.of("t1"), [ev("accepted", id="t1"), ev("expired", id="t1", leaves_qty="4")])
    assert r.state["trade_seq"] == 0
    assert r.book() == {"bids": [], "asks": [["100", "10", 3]]}
