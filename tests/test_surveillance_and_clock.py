"""Surveillance flags (wash trades, spoofing, layering) and the clocks, in-process."""

from __future__ import annotations

import pytest

from core.clock import FakeClock, LiveClock, ReplayClock
from core.engine import Engine
from core.surveillance import SurveillanceConfig

XYZ = {"op": "instrument", "symbol": "XYZ/USD", "tick_size": "1", "lot_size": "1", "min_qty": "1", "min_notional": "0"}


def _engine(**surv) -> Engine:
    from core.engine import EngineConfig

    eng = Engine(EngineConfig(surveillance=SurveillanceConfig(**surv)))
    eng.process(XYZ, 0)
    for acct in ("a", "b", "c"):
        for asset in ("XYZ", "USD"):
            eng.process({"op": "deposit", "account": acct, "asset": asset, "amount": "1000000"}, 0)
    return eng


def _new(oid, acct, side, price=None, qty="1", typ="limit", ts=None):
    cmd = {"op": "new", "id": oid, "account": acct, "symbol": "XYZ/USD", "side": side, "type": typ, "qty": qty}
    if price is not None:
        cmd["price"] = price
    if ts is not None:
        cmd["ts"] = ts
    return cmd


def _flags(events):
    return [e for e in events if e["event"] == "surveillance"]


def test_wash_trade_between_linked_accounts_is_flagged_not_blocked():
    eng = _engine()
    eng.process({"op": "link", "accounts": ["a", "b"]}, 1)
    eng.process(_new("s", "a", "sell", "100"), 2)
    events = eng.process(_new("t", "b", "buy", "100"), 3)
    assert [e["event"] for e in events if e["event"] in ("trade", "surveillance")] == ["trade", "surveillance"]
    flag = _flags(events)[0]
    assert flag["kind"] == "WASH_TRADE" and flag["accounts"] == ["a", "b"] and flag["trade_seq"] == 1


def test_trade_between_unlinked_accounts_is_not_flagged():
    eng = _engine()
    eng.process(_new("s", "a", "sell", "100"), 1)
    assert _flags(eng.process(_new("t", "c", "buy", "100"), 2)) == []


def test_spoofing_large_orders_near_touch_cancelled_within_ms_three_times():
    # Large = notional >= 1000 USD; near = within 2 ticks of the touch; cancelled within 5 ms.
    eng = _engine(spoof_min_notional=1000 * 10**8, spoof_near_ticks=2, spoof_cancel_ns=5_000_000, spoof_count=3)
    eng.process(_new("bid", "c", "buy", "99", ts=1), 1)
    flags = []
    ts = 1_000
    for i in range(3):
        eng.process(_new(f"sp{i}", "a", "buy", "99", qty="20", ts=ts), 2 + i)  # 1980 USD at the touch
        flags += _flags(eng.process({"op": "cancel", "id": f"sp{i}", "ts": ts + 1_000_000}, 10 + i))
        ts += 1_000_000_000
    assert [f["kind"] for f in flags] == ["SPOOFING"]
    assert flags[0]["accounts"] == ["a"] and flags[0]["order_id"] == "sp2"


def test_slow_or_small_cancels_are_not_spoofing():
    eng = _engine(spoof_min_notional=1000 * 10**8, spoof_near_ticks=2, spoof_cancel_ns=5_000_000, spoof_count=3)
    flags = []
    ts = 1_000
    for i in range(3):
        eng.process(_new(f"sm{i}", "a", "buy", "99", qty="2", ts=ts), i)  # small
        flags += _flags(eng.process({"op": "cancel", "id": f"sm{i}", "ts": ts + 1_000}, i))
        eng.process(_new(f"sl{i}", "a", "buy", "99", qty="20", ts=ts + 2_000), i)  # large, cancelled late
        flags += _flags(eng.process({"op": "cancel", "id": f"sl{i}", "ts": ts + 100_000_000}, i))
        ts += 1_000_000_000
    assert flags == []


def test_layering_cancel_of_several_levels_after_trading_the_other_side():
    eng = _engine(layer_levels=3, layer_window_ns=1_000_000_000)
    for i, px in enumerate(("95", "96", "97")):
        eng.process(_new(f"L{i}", "a", "buy", px, ts=10 + i), i)
    eng.process(_new("bid", "c", "buy", "98", ts=20), 5)
    eng.process(_new("sell", "a", "sell", "98", ts=30), 6)  # a sells into c's bid
    flags = []
    for i in range(3):
        flags += _flags(eng.process({"op": "cancel", "id": f"L{i}", "ts": 40 + i}, 7 + i))
    assert [f["kind"] for f in flags] == ["LAYERING"]
    assert flags[0]["levels"] == 3


def test_fake_and_replay_clocks_only_move_forward():
    fake = FakeClock(10)
    assert fake.tick(5) == 15
    with pytest.raises(ValueError):
        fake.set(3)
    replay = ReplayClock()
    replay.advance_to(100)
    assert replay.now_ns() == 100
    with pytest.raises(ValueError):
        replay.advance_to(99)


def test_live_clock_is_strictly_increasing():
    clock = LiveClock()
    stamps = [clock.now_ns() for _ in range(1000)]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))
