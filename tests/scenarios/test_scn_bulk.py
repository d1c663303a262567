"""cancel_all, bulk_new and bulk_cancel: each entry succeeds or fails on its own."""

from __future__ import annotations

from .simkit import BTC, LIST_XYZ, XYZ, assert_events, buy, dep, ev, fund, sell

SETUP = [LIST_XYZ, *fund("a", "b"), dep("a", "USDT", "100000")]


def test_cancel_all_by_symbol_then_everything(sim):
    ca_xyz = {"op": "cancel_all", "account": "a", "symbol": XYZ}
    ca_all = {"op": "cancel_all", "account": "a"}
    j = [
        *SETUP,
        buy("x1", "a", "1", "90"),
        sell("x2", "a", "1", "120"),
        buy("x3", "a", "0.001", "30000", symbol=BTC),
        buy("y1", "b", "1", "95"),
        ca_xyz,
        ca_all,
    ]
    r = sim(j)
    assert_events(
        r.of(ca_xyz),
        [
            ev("canceled", id="x1", leaves_qty="1", reason="CANCEL_ALL"),
            ev("canceled", id="x2", leaves_qty="1", reason="CANCEL_ALL"),
            ev("canceled_all", account="a", symbol=XYZ, count=2),
        ],
    )
    assert_events(
        r.of(ca_all),
        [ev("canceled", id="x3", leaves_qty="0.00100", reason="CANCEL_ALL"), ev("canceled_all", account="a", count=1)],
    )
    assert r.open_ids() == ["y1"]
    assert r.balance("a", "USDT") == ("100000.00000000", "0.00000000")
    assert r.balance("a", "USD") == ("1000000.00000000", "0.00000000")


def test_cancel_all_with_nothing_open(sim):
    r = sim([*SETUP, {"op": "cancel_all", "account": "a"}])
    assert_events(r.main(), [ev("canceled_all", account="a", count=0)])


def test_bulk_new_one_bad_entry_does_not_stop_the_others(sim):
    bulk = {
        "op": "bulk_new",
        "orders": [
            {"id": "o1", "account": "a", "symbol": XYZ, "side": "buy", "type": "limit", "price": "100", "qty": "2"},
            {"id": "o2", "account": "a", "symbol": XYZ, "side": "buy", "type": "limit", "price": "100", "qty": "0"},
            {"id": "o3", "account": "b", "symbol": XYZ, "side": "sell", "type": "limit", "price": "99", "qty": "3"},
        ],
    }
    r = sim([*SETUP, bulk])
    # o3 sells 3 at 99 or better: 2 fill against o1 at o1's 100, 1 rests at 99.
    assert_events(
        r.of(bulk),
        [
            ev("accepted", id="o1"),
            ev("rejected", id="o2", reason="NON_POSITIVE_QTY"),
            ev("accepted", id="o3"),
            ev("trade", price="100", qty="2", maker_id="o1", taker_id="o3", taker_side="sell"),
        ],
    )
    assert r.book() == {"bids": [], "asks": [["99", "1", 1]]}
    # The bulk command itself applied; its bad entry is counted apart from rejected commands.
    assert r.summary["rejected"] == {}
    assert r.summary["bulk_items_rejected"] == {"NON_POSITIVE_QTY": 1}


def test_bulk_cancel_reports_each_id(sim):
    bc = {"op": "bulk_cancel", "ids": ["o1", "nope", "o1", "o2"]}
    r = sim([*SETUP, buy("o1", "a", "2", "100"), buy("o2", "a", "1", "98"), bc])
    assert_events(
        r.of(bc),
        [
            ev("canceled", id="o1", leaves_qty="2"),
            ev("rejected", id="nope", reason="UNKNOWN_ORDER"),
            ev("rejected", id="o1", reason="ORDER_NOT_OPEN"),
            ev("canceled", id="o2", leaves_qty="1"),
        ],
    )
    assert r.open_ids() == []
    assert r.summary["rejected"] == {}
    assert r.summary["bulk_items_rejected"] == {"UNKNOWN_ORDER": 1, "ORDER_NOT_OPEN": 1}
    assert r.balance("a", "USD") == ("1000000.00000000", "0.00000000")
