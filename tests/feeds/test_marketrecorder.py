"""feeds.marketrecorder.MarketRecorder on a real DuckDB file, and feeds.feedevents fan-out.

The recorder's bars from trades are checked against a plain Decimal aggregation written here;
exchange bars are stored closed only, with OKX interval names mapped to the store's; what is
queued is written on stop; a refined grid keeps a forming bar exact.
"""

from __future__ import annotations

import io
import json
import threading
from decimal import Decimal

import pytest

from core.l2book import BookGrid
from core.market_state import MarketState
from core.marketdata import Bar, Trade
from core.store import MarketStore
from feeds.feedevents import EventStream, HealthEvents
from feeds.marketrecorder import MarketRecorder, store_tf

GRID = BookGrid(Decimal("0.01"), Decimal("0.001"))
S = 1_000_000_000


@pytest.fixture
def store(tmp_path):
    s = MarketStore(tmp_path / "market.duckdb")
    yield s
    s.close()


def _trades() -> list[Trade]:
    # (exchange second offset, price ticks, lots, side); two minutes, several trades per second
    spec = [(0.1, 10000, 5, "buy"), (0.5, 10010, 1, "sell"), (0.9, 9990, 2, "buy"), (1.2, 10005, 3, "buy"),
            (1.3, 10001, 4, "sell"), (3.0, 10100, 1, "buy"), (59.9, 10200, 7, "sell"), (60.0, 10300, 1, "buy"),
            (61.5, 10250, 2, "buy"), (125.0, 10400, 1, "sell")]
    base = 1_700_000_000 * S
    return [Trade("binance:BTCUSDT", base + int(dt * S), base + int(dt * S) + 5_000_000, i + 1, p, q, side)
            for i, (dt, p, q, side) in enumerate(spec)]


def _reference(trades: list[Trade], width: int) -> dict[int, tuple]:
    out: dict[int, list] = {}
    for t in trades:
        k = t.ts_ex_ns - t.ts_ex_ns % width
        p, q = GRID.tick * t.price, GRID.lot * t.qty
        b = out.get(k)
        if b is None:
            out[k] = [p, p, p, p, q, 1]
        else:
            b[1], b[2], b[3] = max(b[1], p), min(b[2], p), p
            b[4] += q
            b[5] += 1
    return {k: tuple(v) for k, v in out.items()}


def _stored_bars(store, tf: str) -> dict[int, tuple]:
    rows = store.con.execute("SELECT start_ns, open, high, low, close, volume, trades FROM bars WHERE tf = ? "
                             "ORDER BY start_ns", [tf]).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_bars_from_trades_equal_a_plain_aggregation(store):
    rec = MarketRecorder(store, flush_every=3600)  # flushed by hand (not started)
    trades = _trades()
    for t in trades:
        rec.trade("binance", "BTC/USDT", GRID, t)
    rec.flush(now_ns=trades[-1].ts_ns)  # the venue clock is at the last trade: its bars still form
    ref_1s, ref_1m = _reference(trades, S), _reference(trades, 60 * S)
    last_1s, last_1m = max(ref_1s), max(ref_1m)
    assert _stored_bars(store, "1s") == {k: v for k, v in ref_1s.items() if k != last_1s}
    assert _stored_bars(store, "1m") == {k: v for k, v in ref_1m.items() if k != last_1m}
    # 3 s later (venue clock, grace 2 s) the last 1s bar is closed; the minute is not.
    rec.flush(now_ns=trades[-1].ts_ns + 3 * S)
    assert _stored_bars(store, "1s") == ref_1s
    assert last_1m not in _stored_bars(store, "1m")
    got = store.trades("binance", "BTC/USDT").to_pylist()
    assert [(r["trade_id"], r["price"], r["qty"], r["side"], r["ts_ns"], r["recv_ns"]) for r in got] == [
        (str(t.trade_id), GRID.tick * t.price, GRID.lot * t.qty, t.taker_side, t.ts_ex_ns, t.ts_ns) for t in trades]
    assert rec.stats.batches == 2 and rec.stats.trades == len(trades)


def test_exchange_bars_closed_only_and_timeframes_mapped(store):
    rec = MarketRecorder(store, flush_every=3600)
    rec.exchange_bars.add("okx")
    t0 = 1_700_000_040_000
    rec.bar("okx", "BTC/USDT", GRID, Bar("okx:BTC-USDT", 1, "1m", t0, 100, 110, 90, 105, 7, False))
    rec.bar("okx", "BTC/USDT", GRID, Bar("okx:BTC-USDT", 2, "1m", t0, 100, 112, 90, 106, 9, True))
    rec.bar("okx", "BTC/USDT", GRID, Bar("okx:BTC-USDT", 3, "1H", t0, 1, 2, 1, 2, 1, True))
    rec.bar("okx", "BTC/USDT", GRID, Bar("okx:BTC-USDT", 4, "3m", t0, 1, 2, 1, 2, 1, True))
    rec.trade("okx", "BTC/USDT", GRID, Trade("okx:BTC-USDT", t0 * 10**6, t0 * 10**6, 1, 100, 1, "buy"))
    rec.flush(now_ns=t0 * 10**6 + 3600 * S)
    rows = store.con.execute("SELECT tf, start_ns, open, high, close, volume, trades FROM bars ORDER BY tf").fetchall()
    assert rows == [("1h", t0 * 10**6, Decimal("0.01"), Decimal("0.02"), Decimal("0.02"), Decimal("0.001"), None),
                    ("1m", t0 * 10**6, Decimal("1.00"), Decimal("1.12"), Decimal("1.06"), Decimal("0.009"), None)]
    assert rec.stats.skipped_bars == 1 and rec.stats.exchange_bars == 2
    assert store.con.execute("SELECT count(*) FROM trades").fetchone() == (1,)
    assert (store_tf("1D"), store_tf("4H"), store_tf("1s"), store_tf("2H")) == ("1d", "4h", "1s", None)


def test_stop_flushes_what_is_queued_from_other_threads(store):
    rec = MarketRecorder(store, flush_every=3600, batch_rows=10**9).start()
    trades = _trades()
    feeders = [threading.Thread(target=lambda ts=trades[i::2]: [rec.trade("binance", "BTC/USDT", GRID, t) for t in ts])
               for i in range(2)]
    for f in feeders:
        f.start()
    for f in feeders:
        f.join()
    rec.stop()
    assert store.con.execute("SELECT count(*) FROM trades").fetchone() == (len(trades),)
    assert rec.report()["trades"] == len(trades) and rec.report()["errors"] == 0


def test_full_queue_drops_and_counts_instead_of_blocking(store):
    rec = MarketRecorder(store, flush_every=3600, max_pending=3)
    for t in _trades()[:5]:
        rec.trade("binance", "BTC/USDT", GRID, t)
    assert rec.stats.dropped == 2
    rec.flush()
    assert store.con.execute("SELECT count(*) FROM trades").fetchone() == (3,)


def test_a_refined_grid_keeps_the_forming_bar_exact(store):
    rec = MarketRecorder(store, flush_every=3600, trade_bar_tfs=("1m",))
    fine = BookGrid(Decimal("0.0001"), Decimal("0.00001"))
    base = 1_700_000_040 * S
    rec.trade("binance", "X/USDT", GRID, Trade("binance:XUSDT", base, base, 1, 150, 3, "buy"))  # 1.50 x 0.003
    rec.trade("binance", "X/USDT", fine, Trade("binance:XUSDT", base + S, base + S, 2, 14999, 7, "sell"))  # 1.4999 x 0.00007
    rec.trade("binance", "X/USDT", fine, Trade("binance:XUSDT", base + 61 * S, base + 61 * S, 3, 15000, 1, "buy"))
    rec.flush(now_ns=base + 63 * S)  # the venue clock is past the first minute's end + grace
    assert store.con.execute("SELECT open, high, low, close, volume, trades FROM bars").fetchall() == [
        (Decimal("1.5"), Decimal("1.5"), Decimal("1.4999"), Decimal("1.4999"), Decimal("0.00307"), 2)]


def test_trades_arriving_out_of_order_land_in_their_bar_until_it_is_written(store):
    rec = MarketRecorder(store, flush_every=3600, trade_bar_tfs=("1s",))
    base = 1_700_000_000 * S

    def trade(tid: int, dt: float, price: int) -> None:
        ts = base + int(dt * S)
        rec.trade("binance", "BTC/USDT", GRID, Trade("binance:BTCUSDT", ts, ts, tid, price, 1, "buy"))

    trade(2, 0.5, 200)
    trade(3, 1.2, 300)  # a trade of the next second first...
    trade(1, 0.5, 100)  # ...then an earlier one (same ms as #2, lower id): it opens second 0
    rec.flush(now_ns=base + int(1.2 * S))
    assert store.con.execute("SELECT count(*) FROM bars").fetchone() == (0,)  # within the grace
    rec.flush(now_ns=base + int(3.1 * S))
    trade(4, 0.9, 400)  # second 0 is written now: this one no longer changes it
    rec.flush(now_ns=base + int(3.1 * S))
    assert store.con.execute("SELECT start_ns, open, high, low, close, trades FROM bars").fetchall() == [
        (base, Decimal("1.00"), Decimal("2.00"), Decimal("1.00"), Decimal("2.00"), 2)]
    assert rec.stats.late_trades == 1


def test_event_stream_fans_out_to_market_state_subscribers_and_a_jsonl_sink():
    sink = io.StringIO()
    stream = EventStream(sink)
    state = MarketState()
    seen: list[dict] = []
    stream.attach_state(state)
    unsubscribe = stream.subscribe(seen.append)
    stream.emit({"event": "gap", "venue": "binance", "symbol": "BTC/USDT", "count": 1, "total": 1})
    unsubscribe()
    stream.emit({"event": "arbitrage_open", "symbol": "BTC/USDT", "buy_venue": "okx", "sell_venue": "binance"})
    lines = [json.loads(x) for x in sink.getvalue().splitlines()]
    assert [e["event"] for e in lines] == ["gap", "arbitrage_open"] and all(e["ts_ns"] > 0 for e in lines)
    assert [e["event"] for e in seen] == ["gap"]
    _, posted = state.events_since(0)
    assert posted == lines
    assert stream.by_kind == {"gap": 1, "arbitrage_open": 1} and stream.count == 2


class _Health:
    def __init__(self) -> None:
        self.gaps = self.resyncs = self.checksum_bad = 0


class _Sync:
    def __init__(self) -> None:
        self.health = _Health()
        self.last_resync_reason = None


class _Sym:
    key, unified, stale = "okx:BTC-USDT", "BTC/USDT", 0


class _Consumer:
    """The counters HealthEvents reads (a consumer without its connection)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sym = _Sym()
        self.sync = _Sync()
        self.symbols = {"BTC-USDT": self.sym}
        self.session = type("S", (), {"syncs": {"okx:BTC-USDT": self.sync}})()
        self.conn_stale = self.disconnects = self.connect_failures = self.rotations = 0
        self.connects = 1
        self.history: list = []
        self.ws_url = "ws://x/ws/v5/public"
        self.business = type("B", (), {"disconnects": 0, "connect_failures": 0, "connects": 1, "last_error": None,
                                        "url": "ws://x/ws/v5/business"})()


def test_health_events_report_each_change_once():
    out: list[dict] = []
    c = _Consumer()
    ev = HealthEvents("okx", out.append)
    ev.poll(c)
    assert out == []
    c.sync.health.checksum_bad, c.sync.health.resyncs = 2, 1
    c.sync.last_resync_reason = "checksum mismatch"
    c.sym.stale = 1
    c.disconnects, c.connects = 1, 2
    c.history.append({"reason": "closed by server: 1001", "retry_in": 0.4, "connected_for": 3.0})
    c.business.connect_failures, c.business.last_error = 1, "ConnectionRefusedError: refused"
    ev.poll(c)
    ev.poll(c)
    assert [(e["event"], e.get("count"), e.get("reason"), e.get("scope")) for e in out] == [
        ("resync", 1, "checksum mismatch", None), ("checksum_failure", 2, None, None), ("stale", 1, None, None),
        ("disconnect", None, "closed by server: 1001", None), ("reconnect", None, None, None),
        ("disconnect", None, "ConnectionRefusedError: refused", "business")]


@pytest.mark.slow
def test_feed_events_reach_a_market_state_in_process(shared_data):
    """What the TUI does: a FeedRunner whose discrete events go to MarketState.post_event, against
    an in-process emulator dropping depth frames: the gaps and resyncs arrive as events that add
    up to the runner's health."""
    import time

    from feeds.emulator import Emulator, EmulatorConfig, EmulatorThread, load_timeline, parse_faults
    from feeds.live import FeedConfig, FeedRunner

    timeline = load_timeline([shared_data / "binance" / "BINANCE.ws.1.0"], "binance")
    emu = EmulatorThread(Emulator(timeline, EmulatorConfig(speed=2, loop=True,
                                                           faults=parse_faults("drop=0.2,until=2,seed=3"))))
    urls = emu.start()
    state = MarketState()
    pushed: list[dict] = []
    state.subscribe(pushed.append)
    runner = FeedRunner(FeedConfig("binance", ["NKNUSDT"], ws_url=urls["ws_url"], rest_url=urls["rest_url"],
                                   on_feed_event=state.post_event)).start()
    try:
        deadline = time.monotonic() + 60
        while not any(e["event"] == "gap" for e in pushed) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        runner.stop(settle=8)
        emu.stop()
    h = runner.health()["symbols"]["binance:NKNUSDT"]
    _, events = state.events_since(0)
    assert events == pushed
    assert sum(e["count"] for e in events if e["event"] == "gap") == h["gaps"] >= 1
    assert sum(e["count"] for e in events if e["event"] == "resync") == h["resyncs"] >= 1
    assert all(e["venue"] == "binance" and e["symbol"] == "NKN/USDT" for e in events if e["event"] in ("gap", "resync"))
