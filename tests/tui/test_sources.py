"""``open_source`` specs and the simulated-market source (no textual involved)."""

from __future__ import annotations

import threading

import pytest

from core.config import load_config
from tui.sources.base import MarketSource, open_source, parse_spec


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "empty source; expected one of: sim, binance, okx, emulator:URL, replay:FILE"),
        ("kraken", "unknown source 'kraken'; expected one of: sim, binance, okx, emulator:URL, replay:FILE"),
        ("emulator:", "source 'emulator:': emulator needs a URL"),
        ("replay:", "source 'replay:': replay needs a FILE"),
        ("sim:fast", "source 'sim:fast': sim takes no argument"),
    ],
)
def test_bad_specs_are_one_line_value_errors(spec, message):
    with pytest.raises(ValueError) as err:
        open_source(spec, load_config(env={}))
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_missing_replay_file_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"no such file: .*nope\.jsonl"):
        open_source(f"replay:{tmp_path / 'nope.jsonl'}", load_config(env={}))


def test_specs_parse():
    assert parse_spec("SIM") == ("sim", None)
    assert parse_spec("emulator:ws://127.0.0.1:9001") == ("emulator", "ws://127.0.0.1:9001")


def test_unknown_sim_symbol_is_a_value_error():
    with pytest.raises(ValueError, match="unknown symbol 'DOGE/USDT'"):
        open_source("sim", load_config(env={}), ["DOGE/USDT"])


@pytest.fixture
def sim():
    src = open_source("sim", load_config(env={}), paused=True)
    src.start()
    yield src
    src.stop()


def test_sim_source_is_a_market_source_and_trades_for_me(sim):
    assert isinstance(sim, MarketSource)
    assert sim.can_trade and sim.replay is None and sim.symbols == ["BTC/USDT", "ETH/USDT"]
    sim.step(30).result(10)
    assert sim.clock_ns() == 3_000_000_000
    view = sim.state.view("BTC/USDT")
    assert view is not None and view.best_bid is not None
    acct = sim.account()
    assert acct.account == "me"
    assert {b.asset: b.available for b in acct.balances} == {"BTC": "2.00000000", "ETH": "20.00000000", "USDT": "100000.00000000"}
    events = sim.submit({"op": "new", "symbol": "BTC/USDT", "side": "sell", "type": "limit", "price": "40000.00",
                         "qty": "0.01000"}).result(10)
    assert events[0]["event"] == "accepted" and events[0]["id"] == "me-1" and events[0]["account"] == "me"
    assert [o.id for o in sim.account().orders] == ["me-1"]
    health = sim.health()
    assert set(health) == {"sim:BTC/USDT", "sim:ETH/USDT"} and health["sim:BTC/USDT"]["state"] == "live"


def test_precheck_changes_nothing_and_reports_the_fee(sim):
    sim.step(10).result(10)
    before = sim.market.engine.state_snapshot()
    res = sim.precheck({"op": "new", "symbol": "BTC/USDT", "side": "buy", "type": "market", "qty": "0.01000"}).result(10)
    assert res == {"ok": True, "rejects": [], "fee_rate": "0.001", "tier": "VIP0", "liquidity": "taker"}
    too_big = sim.precheck({"op": "new", "symbol": "BTC/USDT", "side": "buy", "type": "limit", "price": "30000.00",
                            "qty": "100.00000"}).result(10)
    assert too_big["ok"] is False and too_big["liquidity"] == "maker"
    assert too_big["rejects"] == [{"reason": "INSUFFICIENT_BALANCE",
                                   "message": "needs 3000000.00000000 USDT, 100000.00000000 available"}]
    assert sim.market.engine.state_snapshot() == before
    # The next real order still gets id me-1: a pre-check does not use up ids.
    ev = sim.submit({"op": "new", "symbol": "BTC/USDT", "side": "buy", "type": "limit", "price": "1000.00",
                     "qty": "0.01000"}).result(10)
    assert ev[0]["id"] == "me-1"


def test_precheck_judges_gtd_at_the_instant_submit_will(sim):
    """A GTD order expiring one nanosecond after the sim clock is valid now: the pre-check and
    the real command must agree (the command is stamped with the sim time, not a later one)."""
    sim.step(5).result(10)
    now = sim.clock_ns()
    cmd = {"op": "new", "symbol": "BTC/USDT", "side": "buy", "type": "limit", "price": "1000.00",
           "qty": "0.01000", "tif": "GTD", "expire_ts": now + 1}
    assert sim.precheck(cmd).result(10)["rejects"] == []
    assert sim.submit(cmd).result(10)[0]["event"] == "accepted"
    past = {**cmd, "expire_ts": now}
    verdict = sim.precheck(past).result(10)["rejects"]
    assert verdict == [{"reason": "EXPIRE_IN_PAST", "message": f"expire_ts {now} is not after the engine clock {now}"}]
    assert sim.submit(past).result(10)[0]["reason"] == "EXPIRE_IN_PAST"


def test_stop_leaves_no_thread():
    before = set(threading.enumerate())
    src = open_source("sim", load_config(env={}))
    src.start()
    src.stop()
    assert not src.worker.alive
    assert [t for t in threading.enumerate() if t not in before] == []
