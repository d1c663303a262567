"""Core pieces behind the workstation's account panes: average-cost positions, the versioned
AccountView published by the simulated-market worker, and running code on the engine thread."""

from __future__ import annotations

import threading
from fractions import Fraction

import pytest

from core.instruments import default_instruments
from core.market_state import AccountView, Balance, MarketState
from core.positions import PositionTracker
from core.simmarket import SimMarket, SimMarketWorker, WorkerStopped

BTC = "BTC/USDT"


def tracker() -> PositionTracker:
    return PositionTracker("me", default_instruments())


def test_average_cost_adds_then_realises_on_reduce():
    t = tracker()
    t.fill(BTC, +1, 3_000_000, 100)  # buy 0.001 @ 30000.00
    t.fill(BTC, +1, 3_100_000, 300)  # buy 0.003 @ 31000.00
    assert t.lots(BTC) == 400
    assert t.avg_ticks(BTC) == Fraction(3_000_000 * 100 + 3_100_000 * 300, 400)  # 30750.00
    assert t.fmt_avg(BTC) == "30750.0000"
    t.fill(BTC, -1, 3_200_000, 200)  # sell half @ 32000: realise (32000 - 30750) * 0.002 = 2.5 USDT
    assert t.lots(BTC) == 200 and t.fmt_avg(BTC) == "30750.0000"
    ins = default_instruments()[BTC]
    assert ins.quote.fmt(t.realised_units(BTC)) == "2.50000000"
    # Unrealised at a mark of 30000.00: (30000 - 30750) * 0.002 = -1.5
    assert ins.quote.fmt(t.unrealised_units(BTC, 3_000_000)) == "-1.50000000"


def test_a_fill_through_zero_flips_at_the_fill_price():
    t = tracker()
    t.fill(BTC, +1, 3_000_000, 100)
    t.fill(BTC, -1, 2_900_000, 300)  # close 100 at a loss of 1000.00 * 0.001, open short 200 @ 29000
    assert t.lots(BTC) == -200
    assert t.fmt_avg(BTC) == "29000.0000"
    ins = default_instruments()[BTC]
    assert ins.quote.fmt(t.realised_units(BTC)) == "-1.00000000"
    assert t.fmt_lots(BTC) == "-0.00200"
    # A short gains when the mark falls: (29000 - 28000) * 0.002 = 2
    assert ins.quote.fmt(t.unrealised_units(BTC, 2_800_000)) == "2.00000000"
    t.fill(BTC, +1, 2_800_000, 200)
    assert t.lots(BTC) == 0 and t.avg_ticks(BTC) is None and t.unrealised_units(BTC, 1) == 0


def test_trade_events_fold_only_the_accounts_legs():
    t = tracker()
    other = {"event": "trade", "symbol": BTC, "price": "30000.00", "qty": "0.00100", "taker_side": "buy",
             "maker_account": "mm1", "taker_account": "n1"}
    assert t.on_trade(other) is False and t.symbols() == []
    mine = {**other, "maker_account": "me"}  # I was the maker: the taker bought, so I sold
    assert t.on_trade(mine) is True and t.lots(BTC) == -100


def view(**kw) -> AccountView:
    base = dict(version=0, account="me", balances=(Balance("USDT", "1.00", "0.00"),), orders=(), positions=(),
                trading_state="ACTIVE", fee_tier="VIP0", ts=1)
    return AccountView(**{**base, **kw})


def test_account_view_version_bumps_only_on_a_content_change():
    st = MarketState()
    assert st.account() is None
    first = st.publish_account(view(version=99))
    assert first is not None and first.version == 1
    assert st.publish_account(view(ts=5)) is None  # same content: version kept, ts moves
    assert st.account().version == 1 and st.account().ts == 5
    halted = st.publish_account(view(trading_state="HALTED", ts=6))
    assert halted is not None and halted.version == 2 and st.account().trading_state == "HALTED"


@pytest.fixture
def worker():
    market = SimMarket(7, symbols=("BTC/USDT",))
    market.submit({"op": "deposit", "account": "me", "asset": "USDT", "amount": "50000"})
    market.submit({"op": "deposit", "account": "me", "asset": "BTC", "amount": "1"})
    w = SimMarketWorker(market, rate=1.0, account="me", paused=True)
    w.start()
    yield w
    w.stop()


def test_paused_worker_steps_only_when_asked_and_call_runs_on_its_thread(worker):
    assert worker.step(20).result(10) == 20
    assert worker.market.step_count == 20  # still paused: no step of its own
    names = worker.call(lambda: threading.current_thread().name).result(10)
    assert names == "simmarket"
    with pytest.raises(ZeroDivisionError):
        worker.call(lambda: 1 / 0).result(10)
    with pytest.raises(TypeError):
        worker.call("not callable")  # type: ignore[arg-type]


def test_worker_publishes_the_user_account(worker):
    worker.step(20).result(10)
    acct = worker.state.account()
    assert acct is not None and acct.account == "me" and acct.trading_state == "ACTIVE" and acct.fee_tier == "VIP0"
    assert dict((b.asset, b.available) for b in acct.balances) == {"BTC": "1.00000000", "USDT": "50000.00000000"}
    bid = worker.state.view(BTC).bids[0]
    # A resting buy well below the touch shows as an open order with its hold.
    events = worker.submit({"op": "new", "id": "me-1", "account": "me", "symbol": BTC, "side": "buy", "type": "limit",
                            "price": "20000.00", "qty": "0.01000"}).result(10)
    assert events[0]["event"] == "accepted"
    acct = worker.state.account()
    assert [(o.id, o.price, o.leaves, o.status, o.price_ticks, o.leaves_lots) for o in acct.orders] == [
        ("me-1", "20000.00", "0.01000", "resting", 2_000_000, 1000)
    ]
    assert dict((b.asset, b.held) for b in acct.balances)["USDT"] == "200.00000000"
    # A market buy fills at the asks: the position's average is the fills' VWAP.
    events = worker.submit({"op": "new", "id": "me-2", "account": "me", "symbol": BTC, "side": "buy", "type": "market",
                            "qty": "0.00200"}).result(10)
    fills = [e for e in events if e["event"] == "trade"]
    assert fills and bid.ticks < default_instruments()[BTC].price_to_ticks(fills[0]["price"])
    ins = default_instruments()[BTC]
    notional = sum(ins.price_to_ticks(f["price"]) * ins.qty_to_lots(f["qty"]) for f in fills)
    pos = {p.symbol: p for p in worker.state.account().positions}[BTC]
    assert pos.qty == "0.00200"
    expected_avg = Fraction(notional, 200) * Fraction(1, 100)
    assert Fraction(pos.avg_price) == expected_avg
    # The kill switch cancels the resting order and halts the account.
    events = worker.submit({"op": "kill", "account": "me"}).result(10)
    assert [e["event"] for e in events] == ["canceled", "halted"]
    acct = worker.state.account()
    assert acct.trading_state == "HALTED" and acct.orders == ()


def test_calls_after_stop_fail_cleanly():
    market = SimMarket(1, symbols=("BTC/USDT",))
    w = SimMarketWorker(market, paused=True)
    w.start()
    w.stop()
    with pytest.raises(WorkerStopped):
        w.call(lambda: 1).result(1)
    assert not w.alive
