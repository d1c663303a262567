"""Every reject reason of core/reasons.py, each provoked by exactly one journal line.

For each reason: the journal ``BASE + setup`` is run once as is and once followed by the bad
line. The bad line must produce exactly one ``rejected`` event with that reason, the events
before it must be identical, and the final venue state must be identical (the engine clock,
which every command moves, aside): a rejected command changes nothing.

BASE: b sold 1 @100 to a (last price 100, a long 1); then b's s1 sells 5 @101 and a's b1
buys 3 @99, both resting.
"""

from __future__ import annotations

import pytest

from core.reasons import REASONS

from .simkit import BTC, LIST_XYZ, XYZ, assert_events, buy, dep, ev, fund, new, sell

BASE = [
    LIST_XYZ,
    *fund("a", "b"),
    sell("s0", "b", "1", "100"),
    buy("p0", "a", "1", "100"),
    sell("s1", "b", "5", "101"),
    buy("b1", "a", "3", "99"),
]


def limits(**fields) -> dict:
    return {"op": "limits", **fields}


def modify(oid: str, **fields) -> dict:
    return {"op": "modify", "id": oid, **fields}


#: reason -> (extra set-up lines, the one bad line)
CASES: dict[str, tuple[list, object]] = {
    # malformed input
    "MALFORMED_JSON": ([], '{"op": "new", "id": "x", '),
    "UNKNOWN_OP": ([], {"op": "teleport", "account": "a"}),
    "UNKNOWN_FIELD": ([], buy("x", "a", "1", "98", colour="red")),
    "MISSING_FIELD": ([], {"op": "new", "id": "x", "account": "a", "symbol": XYZ, "side": "buy", "type": "limit", "price": "98"}),
    "INVALID_VALUE": ([], new("x", "a", "long", "1", "98")),
    "INVALID_NUMBER": ([], buy("x", "a", "1e2", "98")),
    "TIME_WENT_BACKWARDS": ([{"op": "time", "ts": 10**9}], {**buy("x", "a", "1", "98"), "ts": 5}),
    # reference data
    "UNKNOWN_SYMBOL": ([], buy("x", "a", "1", "98", symbol="NOPE/USD")),
    "UNKNOWN_ASSET": ([], dep("a", "DOGE", "1")),
    "UNKNOWN_ACCOUNT": ([], buy("x", "ghost", "1", "98")),
    "DUPLICATE_ID": ([], buy("b1", "a", "1", "98")),
    "UNKNOWN_ORDER": ([], {"op": "cancel", "id": "nope"}),
    "ORDER_NOT_OPEN": ([], {"op": "cancel", "id": "p0"}),  # p0 filled
    "DUPLICATE_SYMBOL": ([], {**LIST_XYZ, "tick_size": "2"}),
    # grid and size
    "OFF_GRID_PRICE": ([dep("a", "USDT", "100000")], buy("x", "a", "0.001", "30000.001", symbol=BTC)),
    "OFF_GRID_QTY": ([dep("a", "USDT", "100000")], buy("x", "a", "0.000001", "30000", symbol=BTC)),
    "OFF_GRID_AMOUNT": ([], dep("a", "USDT", "1.000000001")),
    "NON_POSITIVE_PRICE": ([], buy("x", "a", "1", "0")),
    "NON_POSITIVE_QTY": ([], buy("x", "a", "0", "98")),
    "NON_POSITIVE_AMOUNT": ([], dep("a", "USD", "0")),
    "QTY_TOO_LARGE": ([], buy("x", "a", "9001", "1")),  # default max_qty 9000
    "PRICE_TOO_LARGE": ([], sell("x", "a", "1", "10000001")),  # default max_price 10000000
    "BELOW_MIN_QTY": (
        [{"op": "instrument", "symbol": "ABC/USD", "tick_size": "1", "lot_size": "1", "min_qty": "5", "min_notional": "0"}],
        buy("x", "a", "4", "10", symbol="ABC/USD"),
    ),
    "BELOW_MIN_NOTIONAL": ([dep("a", "USDT", "100000")], buy("x", "a", "0.0001", "30000", symbol=BTC)),  # 3 < 5
    "INVALID_DISPLAY_QTY": ([], sell("x", "a", "5", "120", display_qty="5")),
    "INVALID_TRAIL": ([], new("x", "a", "sell", "1", type="trailing_stop_market", trail="0")),
    "INVALID_TIF": ([], buy("x", "a", "1", type="market", tif="GTC")),
    "EXPIRE_IN_PAST": ([{"op": "time", "ts": 1000}], buy("x", "a", "1", "98", tif="GTD", expire_ts=1000)),
    "QTY_BELOW_FILLED": ([sell("hit", "b", "2", "99")], modify("b1", qty="2")),  # b1: 2 of 3 filled
    "NOT_MODIFIABLE": ([new("st", "a", "sell", "1", type="stop_market", stop_price="90")], modify("st", qty="2")),
    "NO_CHANGE": ([], modify("s1", price="101", qty="5")),
    # risk
    "INSUFFICIENT_BALANCE": ([], buy("x", "a", "9000", "200")),  # 1,800,000 > 1,000,000 USD
    "PRICE_OUT_OF_BAND": ([limits(symbol=XYZ, band_pct="5")], buy("x", "a", "1", "106")),  # 6% from 100
    "MAX_ORDER_NOTIONAL": ([limits(symbol=XYZ, max_order_notional="1000")], buy("x", "a", "11", "98")),  # 1078
    "MAX_OPEN_ORDERS": ([limits(account="a", max_open_orders=1)], buy("x", "a", "1", "98")),  # b1 is open
    "RATE_LIMITED": (
        [limits(account="a", rate_limit_orders=2, rate_limit_window_ms=1000), buy("r1", "a", "1", "90"), buy("r2", "a", "1", "90")],
        buy("x", "a", "1", "90"),
    ),
    "POSITION_LIMIT": ([limits(symbol=XYZ, max_position="5")], buy("x", "a", "2", "98")),  # 1 + 3 open + 2 = 6
    "SYMBOL_HALTED": ([{"op": "state", "symbol": XYZ, "state": "HALTED"}], buy("x", "a", "1", "98")),
    "ACCOUNT_HALTED": ([{"op": "state", "account": "a", "state": "HALTED"}], buy("x", "a", "1", "98")),
    "REDUCE_ONLY": ([{"op": "state", "account": "a", "state": "REDUCING"}], buy("x", "a", "1", "98")),  # a is long
    "POST_ONLY_WOULD_TAKE": ([], buy("x", "a", "1", "101", post_only=True)),
    "WOULD_TRIGGER_IMMEDIATELY": ([], new("x", "a", "sell", "1", type="stop_market", stop_price="100")),  # last 100
}


def test_every_reason_has_a_scenario():
    assert set(CASES) == set(REASONS)


def _state_without_clock(state: dict) -> dict:
    return {k: v for k, v in state.items() if k != "now"}


@pytest.mark.parametrize("reason", sorted(CASES))
def test_reject_reason(sim, reason):
    setup, bad = CASES[reason]
    journal = [*BASE, *setup]
    before = sim(journal)
    assert before.summary["rejected"] == {}, "the set-up itself must be clean"
    after = sim([*journal, bad])
    assert_events(after.of(len(journal) + 1), [ev("rejected", reason=reason)])
    assert after.events[: len(before.events)] == before.events
    assert len(after.events) == len(before.events) + 1
    assert after.summary["rejected"] == {reason: 1}
    assert _state_without_clock(after.state) == _state_without_clock(before.state)


def test_reject_carries_the_order_id(sim):
    r = sim([*BASE, buy("x9", "a", "0", "98")])
    assert_events(r.of("x9"), [ev("rejected", id="x9", reason="NON_POSITIVE_QTY", op="new")])


def test_the_run_goes_on_after_rejects(sim):
    r = sim([*BASE, "not json", {"op": "teleport"}, buy("ok", "a", "1", "101")])
    assert_events(
        r.since(len(BASE) + 1),
        [
            ev("rejected", reason="MALFORMED_JSON"),
            ev("rejected", reason="UNKNOWN_OP"),
            ev("accepted", id="ok"),
            ev("trade", price="101", qty="1", maker_id="s1", taker_id="ok"),
        ],
    )
    assert r.summary["rejected"] == {"MALFORMED_JSON": 1, "UNKNOWN_OP": 1}


# Odd inputs outside the one-per-reason table: whatever the engine answers, the reason must
# come from the shared vocabulary ("every rejected command carries exactly one of these").
ODD_LINES = [
    limits(symbol=XYZ, max_position="0.5"),  # off the lot grid
    limits(symbol=XYZ, band_pct="0.001"),  # more than two decimals of a percent
    {"op": "breaker", "symbol": XYZ, "move_pct": "1.234", "window_ms": 1000, "cooldown_ms": 0},
    {"op": "instrument", "symbol": "QQ/USD", "tick_size": "0.000000001", "lot_size": "0.1"},
    {"op": "instrument", "symbol": "QQ/USD", "tick_size": 1, "lot_size": "1"},
    dep("a", "USD", 1.5),
    buy("odd1", "a", "1", 98.5),
    {"op": "deposit", "account": "a", "asset": "USD", "amount": "-5"},
    {"op": "withdraw", "account": "a", "asset": "USD", "amount": "99999999"},
    {"op": "bulk_new", "orders": []},
    {"op": "bulk_cancel", "ids": [1]},
    {"op": "state", "state": "ASLEEP", "account": "a"},
    {"op": "account", "account": "a", "stp": "sometimes"},
    {"op": "link", "accounts": ["a"]},
    modify("b1", price="99.5"),
    modify("b1", qty="-1"),
    buy("odd2", "a", "1", "98", tif="GTD"),
    buy("odd3", "a", "1", "98", expire_ts=5000),
    buy("odd4", "a", "1", "98", post_only="yes"),
    "[1, 2, 3]",
]


@pytest.mark.parametrize("line", ODD_LINES, ids=[str(i) for i in range(len(ODD_LINES))])
def test_odd_input_rejects_with_a_known_reason(sim, line):
    r = sim([*BASE, line])
    evs = r.of(len(BASE) + 1)
    assert [e["event"] for e in evs] == ["rejected"]
    assert evs[0]["reason"] in REASONS, f"{evs[0]['reason']} is not in core.reasons.REASONS"


def test_limits_amount_finer_than_the_quote_unit_is_off_grid_amount(sim):
    # The vocabulary's name for "finer than the asset's smallest unit" is OFF_GRID_AMOUNT.
    r = sim([*BASE, limits(symbol=XYZ, max_order_notional="0.000000001")])
    assert_events(r.of(len(BASE) + 1), [ev("rejected", reason="OFF_GRID_AMOUNT")])


def test_reject_after_an_expiry_is_still_counted_as_a_reject(sim):
    # The command at ts 6000 first moves the clock (g1 expires), then is rejected: the summary
    # counts rejects by reason, so it must count this one.
    j = [*BASE, {**buy("g1", "a", "1", "90", tif="GTD", expire_ts=5000), "ts": 1000}, {**buy("bad", "a", "0", "90"), "ts": 6000}]
    r = sim(j)
    assert_events(r.of(len(j)), [ev("expired", id="g1", reason="GTD"), ev("rejected", id="bad", reason="NON_POSITIVE_QTY")])
    assert r.summary["rejected"] == {"NON_POSITIVE_QTY": 1}
    assert r.summary["rejected_total"] == 1


def test_a_rejected_order_does_not_use_up_the_rate_limit(sim):
    # A rejected command changes nothing, so it is not one of the 2 orders allowed per window.
    j = [
        *BASE,
        limits(account="a", rate_limit_orders=2, rate_limit_window_ms=1000),
        buy("x1", "a", "9000", "200"),  # INSUFFICIENT_BALANCE
        buy("x2", "a", "1", "90"),
        buy("x3", "a", "1", "90"),
        buy("x4", "a", "1", "90"),
    ]
    r = sim(j)
    assert_events(
        r.since("x1"),
        [
            ev("rejected", id="x1", reason="INSUFFICIENT_BALANCE"),
            ev("accepted", id="x2"),
            ev("accepted", id="x3"),
            ev("rejected", id="x4", reason="RATE_LIMITED"),
        ],
    )
