"""Kill switch and trading states (HALTED, REDUCING) by account and by symbol."""

from __future__ import annotations

from .simkit import BTC, LIST_XYZ, XYZ, assert_events, buy, dep, ev, fund, new, sell

SETUP = [LIST_XYZ, *fund("a", "b", "c"), dep("a", "USDT", "100000")]


def state(state: str, **scope) -> dict:
    return {"op": "state", "state": state, **scope}


def test_kill_switch_cancels_everything_including_pending_stops_then_halts(sim):
    kill = {"op": "kill", "account": "a"}
    j = [
        *SETUP,
        buy("k1", "a", "5", "100"),
        sell("k2", "a", "3", "110"),
        new("k3", "a", "sell", "2", type="stop_market", stop_price="90"),
        buy("k4", "a", "0.001", "30000", symbol=BTC),
        buy("o1", "b", "1", "99"),
        kill,
        buy("k5", "a", "1", "100"),
        buy("o2", "b", "1", "98"),
    ]
    r = sim(j)
    assert_events(
        r.of(kill),
        [
            ev("canceled", id="k1", leaves_qty="5", reason="KILL_SWITCH"),
            ev("canceled", id="k2", leaves_qty="3", reason="KILL_SWITCH"),
            ev("canceled", id="k3", leaves_qty="2", reason="KILL_SWITCH"),
            ev("canceled", id="k4", leaves_qty="0.00100", reason="KILL_SWITCH"),
            ev("halted", scope="account", account="a", reason="KILL_SWITCH"),
        ],
    )
    assert_events(r.of("k5"), [ev("rejected", id="k5", reason="ACCOUNT_HALTED")])
    assert_events(r.of("o2"), [ev("accepted", id="o2")])  # other accounts trade on
    assert r.open_ids() == ["o1", "o2"]
    assert r.state["states"]["accounts"] == {"a": "HALTED"}
    # Every hold of a is back.
    assert r.balance("a", "USD") == ("1000000.00000000", "0.00000000")
    assert r.balance("a", "XYZ") == ("10000.00000000", "0.00000000")
    assert r.balance("a", "USDT") == ("100000.00000000", "0.00000000")


def test_account_reactivated_after_kill(sim):
    j = [*SETUP, {"op": "kill", "account": "a"}, state("ACTIVE", account="a"), buy("k1", "a", "1", "100")]
    r = sim(j)
    assert_events(r.of("k1"), [ev("accepted", id="k1")])


def test_symbol_halted_rejects_new_orders_and_keeps_resting_ones(sim):
    j = [
        *SETUP,
        sell("s1", "b", "2", "100"),
        state("HALTED", symbol=XYZ),
        buy("h1", "a", "1", "100"),
        state("ACTIVE", symbol=XYZ),
        buy("h2", "a", "1", "100"),
    ]
    r = sim(j)
    assert_events(r.of(j[-4]), [ev("state", scope="symbol", symbol=XYZ, state="HALTED")])
    assert_events(r.of("h1"), [ev("rejected", id="h1", reason="SYMBOL_HALTED")])
    assert_events(r.of("h2"), [ev("accepted", id="h2"), ev("trade", price="100", qty="1", maker_id="s1", taker_id="h2")])


def test_symbol_halt_leaves_other_symbols_alone(sim):
    j = [*SETUP, state("HALTED", symbol=XYZ), buy("b1", "a", "0.001", "30000", symbol=BTC)]
    r = sim(j)
    assert_events(r.of("b1"), [ev("accepted", id="b1")])


def test_account_halted_state(sim):
    j = [*SETUP, state("HALTED", account="a"), buy("h1", "a", "1", "100"), buy("h2", "b", "1", "100")]
    r = sim(j)
    assert_events(r.of("h1"), [ev("rejected", id="h1", reason="ACCOUNT_HALTED")])
    assert_events(r.of("h2"), [ev("accepted", id="h2")])


def test_reducing_accepts_only_orders_that_reduce_the_position(sim):
    j = [
        *SETUP,
        sell("s1", "b", "5", "100"),
        buy("long", "a", "5", "100"),  # a is long 5
        state("REDUCING", account="a"),
        sell("r1", "a", "3", "120"),  # reduces: 3 <= 5
        buy("r2", "a", "1", "90"),  # adds to the long
        sell("r3", "a", "3", "120"),  # 3 open + 3 = 6 > 5: could flip short
        sell("r4", "a", "2", "120"),  # 3 + 2 = 5: ok
    ]
    r = sim(j)
    assert_events(
        r.since("r1"),
        [
            ev("accepted", id="r1"),
            ev("rejected", id="r2", reason="REDUCE_ONLY"),
            ev("rejected", id="r3", reason="REDUCE_ONLY"),
            ev("accepted", id="r4"),
        ],
    )
    assert r.state["positions"] == {f"a|{XYZ}": "5", f"b|{XYZ}": "-5"}


def test_symbol_reducing_applies_to_every_account(sim):
    j = [*SETUP, state("REDUCING", symbol=XYZ), buy("r1", "c", "1", "100"), sell("r2", "c", "1", "100")]
    r = sim(j)
    # c has no position: nothing it sends can reduce one.
    assert_events(
        r.since("r1"),
        [ev("rejected", id="r1", reason="REDUCE_ONLY"), ev("rejected", id="r2", reason="REDUCE_ONLY")],
    )


def test_stop_of_a_halted_account_is_cancelled_as_account_halted(sim):
    j = [
        *SETUP,
        buy("p1", "c", "1", "100"),
        sell("p2", "b", "1", "100"),
        new("st", "a", "sell", "2", type="stop_market", stop_price="95"),
        buy("b90", "c", "5", "90"),
        state("HALTED", account="a"),
        buy("p3", "c", "1", "95"),
        sell("p4", "b", "1", "95"),
    ]
    r = sim(j)
    # The symbol trades on; it is a's account that is halted, so that is the reason given.
    assert_events(
        r.of("p4"),
        [
            ev("accepted", id="p4"),
            ev("trade", price="95", qty="1"),
            ev("triggered", id="st"),
            ev("canceled", id="st", leaves_qty="2", reason="ACCOUNT_HALTED"),
        ],
    )
