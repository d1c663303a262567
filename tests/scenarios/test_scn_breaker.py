"""Circuit breaker: a trade that would move the price more than ``move_pct`` from any trade of
the last ``window_ms`` halts the symbol instead of printing; new orders are then rejected with
SYMBOL_HALTED until ``cooldown_ms`` has passed on the engine clock (commands' ``ts``, in ns).

Band after a trade at 100 with move_pct 10: [90, 110] (exactly 10% is still allowed).
"""

from __future__ import annotations

from .simkit import LIST_XYZ, XYZ, assert_events, buy, ev, fund, sell

MS = 1_000_000
T0 = 1_000_000_000  # 1 s
COOLDOWN = 500 * MS
BREAKER = {"op": "breaker", "symbol": XYZ, "move_pct": "10", "window_ms": 1000, "cooldown_ms": 500}


def at(ts: int, cmd: dict) -> dict:
    return {**cmd, "ts": ts}


SETUP = [
    LIST_XYZ,
    *fund("a", "b", "c"),
    BREAKER,
    at(T0, buy("p1", "c", "1", "100")),
    at(T0 + 1, sell("p2", "b", "1", "100")),  # the reference trade: 100 at T0 + 1
]


def test_move_beyond_the_band_halts_then_rejects_then_resumes(sim):
    trip_ts = T0 + 3
    j = [
        *SETUP,
        at(T0 + 2, sell("s115", "b", "5", "115")),  # resting: no trade, no halt
        at(trip_ts, buy("m1", "a", "1", type="market")),  # would print 115: +15%
        at(T0 + 4, buy("n1", "a", "1", "100")),
        {"op": "time", "ts": trip_ts + COOLDOWN - 1},
        {"op": "time", "ts": trip_ts + COOLDOWN},
        at(trip_ts + COOLDOWN + 1, buy("m2", "a", "1", type="market")),
    ]
    r = sim(j)
    assert_events(r.of("s115"), [ev("accepted", id="s115")])
    assert_events(
        r.of("m1"),
        [
            ev("accepted", id="m1"),
            ev("halted", scope="symbol", symbol=XYZ, reason="CIRCUIT_BREAKER", price="115", until_ts=trip_ts + COOLDOWN),
            ev("canceled", id="m1", leaves_qty="1"),
        ],
    )
    assert_events(r.of("n1"), [ev("rejected", id="n1", reason="SYMBOL_HALTED")])
    assert r.of(len(j) - 2) == []  # one ns before the end of the cooldown: still halted
    assert_events(r.of(len(j) - 1), [ev("resumed", scope="symbol", symbol=XYZ)])
    # The halt reset the breaker's history: 115 now prints.
    assert_events(r.of("m2"), [ev("accepted", id="m2"), ev("trade", price="115", qty="1", maker_id="s115", taker_id="m2")])
    assert r.state["states"]["breakers"] == {}


def test_state_while_halted(sim):
    j = [*SETUP, at(T0 + 2, sell("s115", "b", "5", "115")), at(T0 + 3, buy("m1", "a", "1", type="market"))]
    r = sim(j)
    assert r.state["states"]["breakers"] == {XYZ: T0 + 3 + COOLDOWN}
    assert r.book() == {"bids": [], "asks": [["115", "5", 1]]}  # resting orders stay
    assert r.state["last_price"] == {XYZ: "100"}
    assert r.state["trade_seq"] == 1
    assert r.balance("a", "USD") == ("1000000.00000000", "0.00000000")


def test_a_move_of_exactly_move_pct_is_allowed(sim):
    j = [*SETUP, at(T0 + 2, sell("s110", "b", "1", "110")), at(T0 + 3, buy("m1", "a", "1", type="market"))]
    r = sim(j)
    assert_events(r.of("m1"), [ev("accepted", id="m1"), ev("trade", price="110", qty="1", maker_id="s110")])
    j = [*SETUP, at(T0 + 2, buy("b90", "c", "1", "90")), at(T0 + 3, sell("m1", "a", "1", type="market"))]
    r = sim(j)
    assert_events(r.of("m1"), [ev("accepted", id="m1"), ev("trade", price="90", qty="1", maker_id="b90")])


def test_downward_move_halts_too(sim):
    j = [*SETUP, at(T0 + 2, buy("b89", "c", "1", "89")), at(T0 + 3, sell("m1", "a", "1", type="market"))]
    r = sim(j)
    assert_events(
        r.of("m1"),
        [ev("accepted", id="m1"), ev("halted", reason="CIRCUIT_BREAKER", price="89"), ev("canceled", id="m1", leaves_qty="1")],
    )


def test_sweep_fills_inside_the_band_then_halts(sim):
    j = [
        *SETUP,
        at(T0 + 2, sell("s105", "c", "2", "105")),
        at(T0 + 3, sell("s115", "b", "5", "115")),
        at(T0 + 4, buy("m1", "a", "4", type="market")),
    ]
    r = sim(j)
    # 2 print at 105 (inside [90, 110]); the next 2 would print 115: halt, the rest is cancelled.
    assert_events(
        r.of("m1"),
        [
            ev("accepted", id="m1"),
            ev("trade", price="105", qty="2", maker_id="s105", taker_id="m1"),
            ev("halted", reason="CIRCUIT_BREAKER", price="115", until_ts=T0 + 4 + COOLDOWN),
            ev("canceled", id="m1", leaves_qty="2"),
        ],
    )
    # a paid 2 x 105 = 210 and holds nothing.
    assert r.balance("a", "USD") == ("999790.00000000", "0.00000000")


def test_limit_order_that_would_not_reach_beyond_the_band_rests(sim):
    j = [
        *SETUP,
        at(T0 + 2, sell("s105", "c", "2", "105")),
        at(T0 + 3, sell("s115", "b", "5", "115")),
        at(T0 + 4, buy("l1", "a", "4", "112")),  # 115 is beyond its own limit anyway
    ]
    r = sim(j)
    assert_events(r.of("l1"), [ev("accepted", id="l1"), ev("trade", price="105", qty="2", maker_id="s105")])
    assert r.book() == {"bids": [["112", "2", 1]], "asks": [["115", "5", 1]]}
    assert r.state["states"]["breakers"] == {}


def test_trades_older_than_the_window_do_not_count(sim):
    j = [*SETUP, at(T0 + 2, sell("s115", "b", "5", "115")), at(T0 + 2000 * MS, buy("m1", "a", "1", type="market"))]
    r = sim(j)
    assert_events(r.of("m1"), [ev("accepted", id="m1"), ev("trade", price="115", qty="1", maker_id="s115")])
