"""Engine.precheck: the engine's own checks as a dry run.

* it never changes the venue (``state_snapshot()`` before == after);
* its verdict agrees with ``process()``: a reject exactly when ``process`` rejects, and its
  first reject has the same code and message (hypothesis over random command streams on a venue
  with every risk limit on);
* it lists every failing risk check, not only the first;
* a GTD expiry or breaker cooldown that the command's time reaches is taken into account.
"""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.engine import Engine, EngineConfig
from core.orders import ORDER_TYPES

SYM = "XYZ/USDT"


def venue() -> Engine:
    """A venue with a small XYZ/USDT book and every limit and a breaker switched on."""
    eng = Engine(EngineConfig())
    setup = [
        {"op": "instrument", "symbol": SYM, "tick_size": "0.01", "lot_size": "0.1", "min_notional": "1"},
        {"op": "deposit", "account": "a", "asset": "USDT", "amount": "2000"},
        {"op": "deposit", "account": "a", "asset": "XYZ", "amount": "20"},
        {"op": "deposit", "account": "mm", "asset": "USDT", "amount": "1000000"},
        {"op": "deposit", "account": "mm", "asset": "XYZ", "amount": "10000"},
        {"op": "limits", "account": "a", "band_pct": "5", "max_order_notional": "1500", "max_open_orders": 4,
         "rate_limit_orders": 3, "rate_limit_window_ms": 1000},
        {"op": "limits", "account": "a", "symbol": SYM, "max_position": "25"},
        {"op": "breaker", "symbol": SYM, "move_pct": "3", "window_ms": 1000, "cooldown_ms": 500},
    ]
    for i, (side, price) in enumerate([("buy", "99.90"), ("buy", "99.50"), ("sell", "100.10"), ("sell", "100.60")]):
        setup.append({"op": "new", "id": f"mm{i}", "account": "mm", "symbol": SYM, "side": side, "type": "limit",
                      "price": price, "qty": "10"})
    for cmd in setup:
        events = eng.process(cmd)
        assert events[0]["event"] != "rejected", (cmd, events)
    return eng


def agree(eng: Engine, cmd: dict, stats: bool = False) -> list[dict]:
    """Precheck, prove nothing changed, then process and prove the verdicts agree."""
    before = eng.state_snapshot()
    rejects = eng.precheck(copy.deepcopy(cmd))
    assert eng.state_snapshot() == before, f"precheck changed the venue for {cmd}"
    events = eng.process(cmd)
    # a reject comes after any expiry or breaker resumption the command's time caused
    real = next((e for e in events if e["event"] == "rejected"), None)
    if stats:  # --hypothesis-show-statistics lists which verdicts the streams reached
        event(f"{cmd['op']}: {real['reason'] if real else 'accepted'}")
    if real is None:
        assert rejects == [], f"{cmd}: process accepted it, precheck said {[(r.code, r.message) for r in rejects]}"
    else:
        assert rejects, f"{cmd}: process rejected it with {real['reason']}, precheck said nothing"
        assert (rejects[0].code, rejects[0].message) == (real["reason"], real["message"])
    return events


VALID_PRICES = ["99.00", "99.50", "99.90", "100.00", "100.10", "100.55", "101.00", "103.50", "110.00"]
PRICES = VALID_PRICES * 3 + ["100.005", "-1", "abc"]
VALID_QTYS = ["0.1", "0.5", "1", "3", "8", "14"]
QTYS = VALID_QTYS * 3 + ["40", "0.05", "0", "100000"]


@st.composite
def commands(draw, ids: list[str]) -> dict:
    kind = draw(st.sampled_from(["new"] * 10 + ["modify", "modify", "cancel", "state", "time", "withdraw", "cancel_all", "kill"]))
    cmd: dict
    if kind == "new":
        otype = draw(st.sampled_from(("limit",) * 6 + ("market",) * 2 + ORDER_TYPES + ("iceberg", "bogus")))
        fresh = f"u{len(ids)}"
        cmd = {"op": "new", "id": draw(st.sampled_from([fresh] * 8 + ids[-2:])),
               "account": draw(st.sampled_from(["a"] * 9 + ["nobody"])), "symbol": draw(st.sampled_from([SYM] * 11 + ["NOPE/USDT"])),
               "side": draw(st.sampled_from(["buy", "sell"])), "type": "limit" if otype == "iceberg" else otype,
               "qty": draw(st.sampled_from(QTYS))}
        if otype in ("limit", "iceberg", "stop_limit", "take_profit_limit") or draw(st.booleans()) and draw(st.booleans()):
            cmd["price"] = draw(st.sampled_from(PRICES))
        if otype in ("stop_market", "stop_limit", "take_profit_market", "take_profit_limit") or draw(st.integers(0, 9)) == 0:
            cmd["stop_price"] = draw(st.sampled_from(PRICES))
        if otype == "trailing_stop_market":
            cmd["trail"] = draw(st.sampled_from(["5", "1.5%", "0", "x"]))
        if otype == "iceberg":
            cmd["display_qty"] = draw(st.sampled_from(["0.5", "1", "0.05"]))
        if draw(st.integers(0, 2)) == 0:
            cmd["tif"] = draw(st.sampled_from(["GTC", "IOC", "FOK", "GTD", "GTD", "DAY"]))
            if cmd["tif"] == "GTD":
                cmd["expire_ts"] = draw(st.sampled_from([1, 10**9, 5 * 10**9, 10**11]))
        if draw(st.integers(0, 6)) == 0:
            cmd["post_only"] = True
        ids.append(cmd["id"])
    elif kind in ("modify", "cancel"):
        cmd = {"op": kind, "id": draw(st.sampled_from(ids[-6:] * 3 + ["mm0", "missing"]))}
        if kind == "modify":
            if draw(st.booleans()):
                cmd["price"] = draw(st.sampled_from(PRICES))
            if draw(st.booleans()):
                cmd["qty"] = draw(st.sampled_from(QTYS))
        if draw(st.integers(0, 3)) == 0:
            cmd["account"] = draw(st.sampled_from(["a", "mm"]))
    elif kind == "state":
        cmd = {"op": "state", "account": "a", "state": draw(st.sampled_from(["ACTIVE"] * 4 + ["REDUCING", "HALTED"]))}
    elif kind == "cancel_all":
        cmd = {"op": "cancel_all", "account": draw(st.sampled_from(["a", "", 7]))}
        if draw(st.booleans()):
            cmd["symbol"] = draw(st.sampled_from([SYM, "NOPE/USDT"]))
    elif kind == "kill":
        cmd = {"op": "kill", "account": draw(st.sampled_from(["a", "nobody", ""]))}
    elif kind == "withdraw":
        cmd = {"op": "withdraw", "account": "a", "asset": draw(st.sampled_from(["USDT", "XYZ"])), "amount": draw(st.sampled_from(["1", "500", "5000"]))}
    else:
        cmd = {"op": "time", "ts": "later"}
    if draw(st.integers(0, 3)) == 0:
        cmd["ts"] = draw(st.sampled_from(["later", "much later", "past"]))
    return cmd


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_precheck_agrees_with_process_and_changes_nothing(data):
    eng = venue()
    ids: list[str] = []
    for _ in range(data.draw(st.integers(5, 30))):
        cmd = data.draw(commands(ids))
        if "ts" in cmd:
            cmd["ts"] = {"later": eng.now + 400_000_000, "much later": eng.now + 6 * 10**9, "past": max(0, eng.now - 5)}[cmd["ts"]]
        # a taker from the market maker now and then moves the last price (breaker, triggers)
        if data.draw(st.integers(0, 5)) == 0:
            eng.process({"op": "new", "id": f"t{eng.now}", "account": "mm", "symbol": SYM, "side": data.draw(st.sampled_from(["buy", "sell"])),
                         "type": "market", "qty": data.draw(st.sampled_from(["1", "12"]))})
        agree(eng, cmd, stats=True)


def test_every_failing_risk_check_is_listed_and_the_first_is_the_real_reason():
    eng = venue()
    # 20 XYZ at 110.00: outside the 5% band, notional 2200 > 1500, above the 2000 USDT balance
    cmd = {"op": "new", "id": "big", "account": "a", "symbol": SYM, "side": "buy", "type": "limit", "price": "110.00", "qty": "20"}
    rejects = eng.precheck(cmd)
    assert [r.code for r in rejects] == ["PRICE_OUT_OF_BAND", "MAX_ORDER_NOTIONAL", "INSUFFICIENT_BALANCE"]
    assert rejects[2].message == "needs 2200.00000000 USDT, 2000.00000000 available"
    assert agree(eng, cmd)[0]["reason"] == "PRICE_OUT_OF_BAND"


def test_an_acceptable_order_prechecks_clean_and_nothing_is_held():
    eng = venue()
    cmd = {"op": "new", "id": "ok", "account": "a", "symbol": SYM, "side": "buy", "type": "limit", "price": "100.00", "qty": "5"}
    assert eng.precheck(cmd) == []
    assert eng.balances()["a"]["USDT"] == {"available": "2000.00000000", "held": "0.00000000"}
    assert agree(eng, cmd)[0]["event"] == "accepted"
    assert eng.balances()["a"]["USDT"]["held"] == "500.00000000"


def test_a_gtd_expiry_reached_by_the_command_time_frees_the_balance():
    eng = venue()
    t0 = eng.now
    gtd = {"op": "new", "id": "g", "account": "a", "symbol": SYM, "side": "buy", "type": "limit", "price": "99.00",
           "qty": "14", "tif": "GTD", "expire_ts": t0 + 10**9}
    assert agree(eng, gtd)[0]["event"] == "accepted"  # holds 1386 of the 2000 USDT
    nxt = {"op": "new", "id": "n", "account": "a", "symbol": SYM, "side": "buy", "type": "limit", "price": "99.00", "qty": "10"}
    assert [r.code for r in eng.precheck({**nxt, "ts": t0 + 10})] == ["INSUFFICIENT_BALANCE"]
    # at the expiry time the GTD order is gone: the same order fits, and the venue is unchanged
    assert eng.precheck({**nxt, "ts": t0 + 10**9}) == []
    assert eng.orders["g"].expire_ts == t0 + 10**9
    events = agree(eng, {**nxt, "ts": t0 + 10**9})
    assert [e["event"] for e in events] == ["expired", "accepted"]


def test_modify_and_cancel_prechecks():
    eng = venue()
    agree(eng, {"op": "new", "id": "r", "account": "a", "symbol": SYM, "side": "buy", "type": "limit", "price": "99.00", "qty": "5"})
    assert [r.code for r in eng.precheck({"op": "modify", "id": "r", "qty": "25"})] == ["MAX_ORDER_NOTIONAL", "INSUFFICIENT_BALANCE"]
    assert eng.precheck({"op": "modify", "id": "r", "qty": "2"}) == []  # a decrease keeps priority
    assert [r.code for r in eng.precheck({"op": "cancel", "id": "nope"})] == ["UNKNOWN_ORDER"]
    assert [r.code for r in eng.precheck({"op": "cancel", "id": "r", "account": "mm"})] == ["UNKNOWN_ORDER"]
    assert eng.precheck({"op": "cancel", "id": "r"}) == []
    agree(eng, {"op": "cancel", "id": "r"})
    assert [r.code for r in eng.precheck({"op": "cancel", "id": "r"})] == ["ORDER_NOT_OPEN"]
