"""The simulated market: fair value, agents' decisions, published state, worker, CLI.

The end-to-end bounds (checked on a real ``tickdesk sim market`` subprocess) and why:

* depth: >= 20 price levels per side at every step and at the end, because the ladder widget
  shows 20 levels and a real BTC/USDT book always has far more than that;
* a trade in every simulated second: takers arrive at ~10/s (Poisson), so an empty second has
  probability ~e^-10 and seeing one means the flow is broken, not unlucky;
* spread: at least 2 ticks on average (makers quote a half-spread, never touching) and at most
  5 bps on average and 10 bps at the 95th percentile (BTC/USDT trades at a few ticks to a few
  bps; wider means the makers stopped quoting);
* no rejects at all: every agent sends on-grid numbers, checks crossing before posting
  post-only orders, sizes above the minimum notional and is funded for its worst case, so any
  reject is a bug in an agent or the engine;
* conservation: per asset, the sum of all balances (venue fee account included) equals deposits.
"""

from __future__ import annotations

import json
import math
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import Future

import numpy as np
import pytest

from core.book import OrderBook
from core.engine import Engine, EngineConfig
from core.instruments import default_instruments
from core.market_state import MarketState
from core.orders import BUY, SELL, Order
from core.risk import RiskLimits
from core.simmarket import FairValueParams, FairValueProcess, SimMarket, SimMarketWorker, WorkerStopped
from core.simmarket.agent import OrderIds, lots_for_usd
from core.simmarket.makers import ladder_prices, nice_step
from core.simmarket.takers import MomentumParams, MomentumTrader, NoiseParams, NoiseTaker

BTC = default_instruments()["BTC/USDT"]
TIMING_KEYS = ("timing",)


# --- fair value ----------------------------------------------------------------------------
def _path(seed: int, n: int, **kw) -> np.ndarray:
    proc = FairValueProcess(FairValueParams(start=30_000.0, **kw), 0.1, np.random.default_rng(seed))
    return np.array([proc.step() for _ in range(n)])


def test_fair_value_is_seeded():
    assert np.array_equal(_path(7, 500), _path(7, 500))
    assert not np.array_equal(_path(7, 500), _path(8, 500))


def test_fair_value_calm_volatility_matches_its_parameter():
    prices = _path(3, 50_000, vol=0.5, burst_rate_per_hour=0.0, jump_rate_per_hour=0.0)
    rets = np.diff(np.log(prices))
    annualised = rets.std() * math.sqrt(365 * 86400 / 0.1)
    assert annualised == pytest.approx(0.5, rel=0.05)


def test_bursts_and_jumps_fatten_the_tails():
    calm = np.diff(np.log(_path(4, 50_000, burst_rate_per_hour=0.0, jump_rate_per_hour=0.0)))
    wild = np.diff(np.log(_path(4, 50_000, burst_rate_per_hour=60.0, jump_rate_per_hour=30.0)))

    def kurtosis(x):
        return float(((x - x.mean()) ** 4).mean() / x.var() ** 2)

    assert kurtosis(calm) < 3.5 < kurtosis(wild)


def test_flow_impact_moves_fair_value_in_the_flow_direction():
    up = FairValueProcess(FairValueParams(start=100.0, vol=1e-9, impact_bps_per_unit=2.0), 0.1, np.random.default_rng(1))
    down = FairValueProcess(FairValueParams(start=100.0, vol=1e-9, impact_bps_per_unit=2.0), 0.1, np.random.default_rng(1))
    assert up.step(flow=1.0) > 100.0 > down.step(flow=-1.0)


# --- makers' and takers' decisions ---------------------------------------------------------
def test_ladder_is_strictly_monotone_and_never_crossed():
    for center, half, spacing in ((3_000_000.4, 30.0, 120.0), (2500.5, 0.1, 0.2), (10.0, 0.0, 1.0)):
        bids, asks = ladder_prices(center, half, spacing, 12)
        assert all(a > b for a, b in zip(bids, bids[1:]))
        assert all(b > a for a, b in zip(asks, asks[1:]))
        assert bids[0] < asks[0]
        assert bids[0] <= center - half and asks[0] >= center + half  # never tighter than asked


def test_nice_step_is_a_1_2_5_number():
    # nearest by ratio: 1500 is 1.33x from 2000 but 1.5x from 1000
    assert [nice_step(x) for x in (0.3, 1, 3, 4, 300, 700, 1500)] == [1, 1, 2, 5, 200, 500, 2000]


def test_sizes_respect_the_minimum_notional():
    ticks = BTC.price_to_ticks("30000.00")
    lots = lots_for_usd(BTC, 0.01, ticks, 1.0)
    assert BTC.notional_units(ticks, lots) >= BTC.min_notional_units
    assert lots_for_usd(BTC, 3_000.0, ticks, 1.0) == 10_000  # 0.1 BTC


def _agent(cls, params):
    return cls("x1", "BTC/USDT", BTC, np.random.default_rng(0), OrderIds("x1"), params=params)


def test_noise_taker_leans_against_its_inventory():
    noise = _agent(NoiseTaker, NoiseParams(rate_per_s=1.0, median_usd=100.0, max_position_usd=1000.0))
    assert noise.buy_probability(0.0) == 0.5
    assert noise.buy_probability(1000.0) < 0.5 < noise.buy_probability(-1000.0)


def test_momentum_follows_the_trend_with_cooldown_and_limit():
    mom = _agent(MomentumTrader, MomentumParams(fast_s=2.0, slow_s=20.0, threshold_bps=1.0, size_usd=1000.0, max_position_usd=2000.0))
    for i in range(50):  # a steady rise of 0.5 bps per 100 ms
        mom.observe(30_000.0 * (1 + 0.5e-4 * i), i * 100_000_000)
    assert mom.signal_bps() > 1.0
    assert mom.decide(now_ns=5_000_000_000, inv_usd=0.0) == BUY
    assert mom.decide(now_ns=5_000_000_000, inv_usd=1500.0) == 0  # would breach the limit
    mom.next_ok_ns = 6_000_000_000
    assert mom.decide(now_ns=5_500_000_000, inv_usd=0.0) == 0  # cooling down
    for i in range(50, 200):  # then a fall
        mom.observe(30_000.0 * (1 + 0.5e-4 * 49 - 0.5e-4 * (i - 49)), i * 100_000_000)
    assert mom.decide(now_ns=20_000_000_000, inv_usd=0.0) == SELL


def test_order_ids_are_account_prefixed_counters():
    ids = OrderIds("mm1")
    assert [ids.next(), ids.next()] == ["mm1-1", "mm1-2"]


# --- market state ----------------------------------------------------------------------------
def _book() -> OrderBook:
    book = OrderBook("BTC/USDT")
    for i, (side, price, lots) in enumerate([(BUY, 3_000_000, 5), (BUY, 2_999_990, 7), (SELL, 3_000_010, 3)]):
        book.rest(Order(f"o{i}", "a", side, price, lots))
    return book


def _trade(ts: int, price: str, qty: str, seq: int) -> dict:
    return {"event": "trade", "ts": ts, "seq": seq, "price": price, "qty": qty, "taker_side": "buy"}


def test_market_state_snapshot_and_versions():
    state, book = MarketState(depth=5, tape=2), _book()
    assert state.view("BTC/USDT") is None
    v1 = state.publish(BTC, book, [], 0)
    assert v1.best_bid == "30000.00" and v1.best_ask == "30000.10" and v1.spread_ticks == 10
    assert [(lv.price, lv.qty, lv.orders) for lv in v1.bids] == [("30000.00", "0.00005", 1), ("29999.90", "0.00007", 1)]
    assert state.publish(BTC, book, [], 100) is None  # nothing changed: same version...
    same = state.view("BTC/USDT")
    assert same.version == v1.version and same.bids == v1.bids and same.ts == 100  # ...but current
    trades = [_trade(1_000_000_000 + i, "30000.10", "0.00001", i + 1) for i in range(3)]
    v2 = state.publish(BTC, book, trades, 200)
    assert v2.version == v1.version + 1 and v2.last == "30000.10" and v2.trade_count == 3
    assert [t.seq for t in v2.trades] == [2, 3]  # bounded tape keeps the newest
    with pytest.raises(AttributeError):
        v2.version = 99  # immutable


def test_candles_cover_time_including_quiet_seconds():
    state, book = MarketState(), _book()
    s = 1_000_000_000
    state.publish(BTC, book, [_trade(0, "100.00", "1.00000", 1), _trade(s // 2, "101.00", "2.00000", 2)], 0)
    view = state.publish(BTC, book, [_trade(3 * s + 1, "99.00", "1.00000", 3)], 3 * s)
    c = view.candles_1s
    assert [x.start for x in c] == [0, s, 2 * s, 3 * s]
    assert (c[0].open, c[0].high, c[0].low, c[0].close, c[0].volume, c[0].trades) == ("100.00", "101.00", "100.00", "101.00", "3.00000", 2)
    assert c[1].close == c[1].open == "101.00" and c[1].trades == 0  # flat, carried forward
    assert len(view.candles_1m) == 1 and view.candles_1m[0].volume == "4.00000"


def test_events_buffer_and_subscribers():
    state = MarketState(events=2)
    got: list[dict] = []
    unsubscribe = state.subscribe(got.append)
    for i in range(3):
        state.post_event({"event": "rejected", "n": i})
    unsubscribe()
    state.post_event({"event": "rejected", "n": 3})
    seq, events = state.events_since(0)
    assert seq == 4 and [e["n"] for e in events] == [2, 3]
    assert [e["n"] for e in got] == [0, 1, 2]
    assert state.events_since(seq) == (4, [])


# --- determinism -------------------------------------------------------------------------------
def _stream(seed: int, steps: int = 60) -> list:
    log: list = []
    market = SimMarket(seed, recorder=lambda cmd, events: log.append((cmd, events)))
    market.run(steps)
    return log


def test_same_seed_same_command_and_event_stream():
    a, b = _stream(11), _stream(11)
    assert len(a) > 500
    assert a == b


def test_different_seed_different_stream():
    assert _stream(11, 20) != _stream(12, 20)


def test_commands_are_stamped_with_the_simulated_clock():
    log = _stream(5, 30)
    stamps = [cmd["ts"] for cmd, _ in log]
    assert stamps == sorted(stamps) and stamps[-1] == 30 * 100 * 1_000_000
    assert all(cmd["id"].startswith(cmd["account"] + "-") for cmd, _ in log if cmd["op"] == "new")
    new_ids = [cmd["id"] for cmd, _ in log if cmd["op"] == "new"]
    assert len(new_ids) == len(set(new_ids))


def test_agents_send_exact_grid_strings():
    for cmd, _ in _stream(6, 40):
        for key in ("price", "qty"):
            if key in cmd:
                assert isinstance(cmd[key], str)
                (BTC.price_to_ticks if key == "price" else BTC.qty_to_lots)(cmd[key])  # raises off-grid


def test_makers_requote_with_modify_and_replace_alike():
    """Re-pricing by modify (default) keeps ids; "replace" (cancel + new) is the fallback mode.
    Both must leave a clean run: no rejects."""
    for mode in ("modify", "replace"):
        ops: Counter = Counter()
        market = SimMarket(9, requote=mode, recorder=lambda cmd, _ev: ops.update([cmd["op"]]))
        market.run(100)
        assert market.rejected == {}, mode
        assert (ops["modify"] > 100) == (mode == "modify") and ops["cancel"] > 0


def test_agents_are_exempt_from_the_users_risk_limits():
    strict = RiskLimits(band_bps=50, max_order_notional=1_000 * 10**8, max_open_orders=5, rate_limit_orders=10)
    market = SimMarket(1, engine=Engine(EngineConfig(limits=strict)))
    market.run(50)
    assert market.rejected == {}
    market.submit({"op": "deposit", "account": "me", "asset": "USDT", "amount": "100000"})
    events = market.submit({"op": "new", "id": "me-1", "account": "me", "symbol": "BTC/USDT", "side": "buy", "type": "market", "qty": "0.1"})
    assert events[0]["reason"] == "MAX_ORDER_NOTIONAL"


# --- the worker --------------------------------------------------------------------------------
def _sim_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("simmarket")]


def test_worker_stops_cleanly_even_mid_sleep():
    worker = SimMarketWorker(SimMarket(2), rate=0.01)  # one step per 10 wall seconds
    worker.start()
    time.sleep(0.2)
    started = time.monotonic()
    worker.stop()
    assert time.monotonic() - started < 2.0
    assert not worker.alive and not _sim_threads() and worker.error is None


def test_worker_runs_max_steps_and_publishes():
    state = MarketState()
    worker = SimMarketWorker(SimMarket(2), rate=0, state=state, max_steps=30).start()
    assert worker.join(60)
    view = state.view("BTC/USDT")
    assert view is not None and view.ts == 30 * 100_000_000 and len(view.bids) >= 20 and view.trade_count > 0
    assert not _sim_threads()


def test_user_command_through_the_inbox_gets_its_events():
    state = MarketState()
    user_events: list[dict] = []
    state.subscribe(user_events.append)
    with SimMarketWorker(SimMarket(3), rate=5.0, state=state) as worker:
        dep: Future = worker.submit({"op": "deposit", "account": "me", "asset": "USDT", "amount": "100000"})
        assert dep.result(10)[0]["event"] == "deposited"
        events = worker.submit(
            {"op": "new", "id": "me-1", "account": "me", "symbol": "BTC/USDT", "side": "buy", "type": "market", "qty": "0.01"}
        ).result(10)
        kinds = [e["event"] for e in events]
        assert kinds[0] == "accepted" and "trade" in kinds
        assert sum(BTC.qty_to_lots(e["qty"]) for e in events if e["event"] == "trade") == 1000
        bad = worker.submit({"op": "new", "id": "me-2", "account": "me", "symbol": "BTC/USDT", "side": "buy", "type": "limit", "price": "1.001", "qty": "1"})
        assert bad.result(10)[0]["reason"] == "OFF_GRID_PRICE"
        with pytest.raises(ValueError):
            worker.submit({"op": "cancel", "id": "mm1-1"}).result(10)  # agents' ids are off limits
    assert any(e.get("reason") == "OFF_GRID_PRICE" for e in user_events)
    assert any(e["event"] == "trade" and e["taker_account"] == "me" for e in user_events)
    late = worker.submit({"op": "deposit", "account": "me", "asset": "USDT", "amount": "1"})
    with pytest.raises(WorkerStopped):
        late.result(1)
    assert not _sim_threads()


def test_resting_user_order_fills_arrive_as_events():
    """A post-only bid one tick above the published best bid rests at the top of the book;
    the noise takers' sells (several a second) hit it, and the fill reaches subscribers."""
    state = MarketState()
    fills: queue.SimpleQueue = queue.SimpleQueue()
    state.subscribe(lambda e: fills.put(e) if e["event"] == "trade" else None)
    with SimMarketWorker(SimMarket(4), rate=2.0, state=state) as worker:
        worker.submit({"op": "deposit", "account": "me", "asset": "USDT", "amount": "100000"}).result(10)
        for n in range(1, 6):
            view = state.view("BTC/USDT")
            price = BTC.fmt_price(view.bids[0].ticks + 1)
            events = worker.submit(
                {"op": "new", "id": f"me-{n}", "account": "me", "symbol": "BTC/USDT", "side": "buy",
                 "type": "limit", "price": price, "qty": "0.001", "post_only": True}
            ).result(10)
            if events[0]["event"] == "accepted":
                break
        else:
            pytest.fail("could not rest a bid inside the spread in five tries")
        oid = events[0]["id"]
        fill = fills.get(timeout=30)
        assert fill["maker_id"] == oid and fill["maker_account"] == "me"


# --- the command -------------------------------------------------------------------------------
def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``tickdesk ARGS`` as a real subprocess (module-scoped fixtures cannot use ``run_cli``)."""
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def _summary(*args: str) -> dict:
    proc = _cli("sim", "market", *args)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1  # one object, nothing else on stdout
    return json.loads(lines[0])


@pytest.fixture(scope="module")
def fast_summary() -> dict:
    return _summary("--seconds", "10", "--fast", "--json", "--seed", "1")


@pytest.mark.slow
def test_cli_summary_looks_like_a_real_market(fast_summary):
    s = fast_summary
    assert s["steps"] == 100 and s["seconds"] == 10
    for side in ("bids", "asks"):
        d = s["depth"][side]
        assert d["levels_min"] >= 20 and d["levels_mean"] >= 20 and d["levels_final"] >= 20
    assert s["seconds_without_trade"] == 0 and s["trades_per_second"]["min"] >= 1
    assert s["spread"]["one_sided_samples"] == 0
    assert s["spread"]["ticks"]["mean"] >= 2
    assert s["spread"]["bps"]["mean"] <= 5 and s["spread"]["bps"]["p95"] <= 10
    assert s["rejected"] == {}
    assert s["conservation"]["ok"] and set(s["conservation"]["assets"]) == {"BTC", "USDT"}
    assert all(a["deposited"] == a["balances"] for a in s["conservation"]["assets"].values())
    bid, ask = BTC.price_to_ticks(s["final"]["bid"]), BTC.price_to_ticks(s["final"]["ask"])
    assert bid < ask
    low, high = BTC.price_to_ticks(s["price"]["low"]), BTC.price_to_ticks(s["price"]["high"])
    assert low <= BTC.price_to_ticks(s["price"]["last"]) <= high
    assert BTC.qty_to_lots(s["volume"]) > 0 and s["trades"] >= 10


@pytest.mark.slow
def test_cli_summary_is_deterministic(fast_summary):
    again = _summary("--seconds", "10", "--fast", "--json", "--seed", "1")
    other = _summary("--seconds", "10", "--fast", "--json", "--seed", "2")

    def strip(s: dict) -> dict:
        return {k: v for k, v in s.items() if k not in TIMING_KEYS}

    assert strip(again) == strip(fast_summary)
    assert strip(other) != strip(fast_summary)


@pytest.mark.slow
def test_cli_live_lines_one_per_simulated_second():
    proc = _cli("sim", "market", "--seconds", "3", "--fast")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    pattern = re.compile(r"^00:00:0(\d)  BTC/USDT  bid \d+\.\d{2} x \d+\.\d{5}  ask \d+\.\d{2} x \d+\.\d{5}  last \d+\.\d{2}  trades (\d+)$")
    matches = [pattern.match(line) for line in lines]
    assert all(matches), lines
    assert [int(m.group(1)) for m in matches] == [1, 2, 3]
    assert all(int(m.group(2)) > 0 for m in matches)


@pytest.mark.slow
def test_live_run_stops_cleanly_on_ctrl_c():
    """Paced and open-ended (what bare ``tickdesk`` runs for now): Ctrl+C is a normal exit."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "sim", "market", "--rate", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )
    try:
        first = proc.stdout.readline()  # one simulated second = 0.25 s at 4x
        assert first.startswith("00:00:01  BTC/USDT  bid "), first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_run_live_prints_every_configured_symbol_each_second():
    import io

    from tui.commands.simmarket import run_live

    out = io.StringIO()
    run_live(seed=1, rate=0, seconds=2, symbols=["BTC/USDT", "ETH/USDT"], out=out)
    heads = [line.split("  bid")[0] for line in out.getvalue().splitlines()]
    assert heads == ["00:00:01  BTC/USDT", "00:00:01  ETH/USDT", "00:00:02  BTC/USDT", "00:00:02  ETH/USDT"]
    assert not _sim_threads()


def test_cli_errors_are_one_line():
    for args in (("--symbol", "DOGE/EUR", "--seconds", "1", "--json"), ("--json",), ("--rate", "0", "--seconds", "1")):
        proc = _cli("sim", "market", *args)
        assert proc.returncode != 0 and proc.stdout == ""
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_simmarket_keeps_core_free_of_ui_imports():
    code = "import sys, core.simmarket, core.market_state; bad = [m for m in ('tui', 'textual', 'rich', 'feeds', 'strategies') if m in sys.modules]; print(bad)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stderr
