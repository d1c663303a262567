"""``feed run --record`` into the market store and ``--events``, against the emulator on loopback.

* The trades in the store are exactly the trades the capture replays to (same ids, prices,
  quantities, sides, exchange and receive times), and every 1s/1m bar aggregated from them
  equals the same aggregation done in SQL over the stored trades.
* ``--events -`` with ``--json``: stdout is JSON Lines, the event lines then the summary line.
* ``--events FILE`` with faults: the gap / resync / disconnect / reconnect events add up to the
  health counters of the same run.
"""

from __future__ import annotations

import json
from decimal import Decimal

import duckdb
import pytest
from emukit import emulator, run_cli

from core.marketdata import Trade
from feeds.recordings import read_records
from feeds.session import FeedSession

pytestmark = pytest.mark.slow

BTC_2024 = ("binance", "binance_spot_btcusdt_20240808.gz")


def _feed_run(emu, *extra: str, seconds: float = 6.0):
    return run_cli(
        "feed", "run", "--exchange", emu.info["exchange"] if emu.info["exchange"] != "binanceusdm" else "binance",
        "--ws-url", emu.ws_url, "--rest-url", emu.rest_url, "--seconds", str(seconds), "--settle", "8",
        "--progress", "0", *extra, timeout=120,
    )


def _replayed_trades(capture) -> list[tuple]:
    """Trades of a capture through a fresh session, formatted with the session's grids."""
    got: list[Trade] = []
    session = FeedSession(on_event=lambda r: got.append(r) if type(r) is Trade else None)
    for rec in read_records(capture):
        session.handle(rec)
    out = []
    for t in got:
        ex, sym = t.key.split(":", 1)
        g = session.parser(ex).symbols[sym].grid
        out.append((str(t.trade_id), t.taker_side, Decimal(g.fmt_price(t.price)), Decimal(g.fmt_qty(t.qty)),
                    t.ts_ex_ns, t.ts_ns))
    return sorted(out, key=lambda r: (r[4], int(r[0])))


SQL_BARS_FROM_TRADES = """
    SELECT start_ns, arg_min(price, (ts_ns, CAST(trade_id AS BIGINT))) AS open, max(price) AS high,
           min(price) AS low, arg_max(price, (ts_ns, CAST(trade_id AS BIGINT))) AS close,
           sum(qty) AS volume, count(*) AS trades
    FROM (SELECT *, ts_ns - ts_ns % ? AS start_ns FROM trades WHERE venue = ? AND symbol = ?)
    GROUP BY start_ns
"""


def _bars_match_trades(con, venue: str, symbol: str, tf: str, width_ns: int, count_trades: bool = True) -> int:
    """Every stored bar equals the SQL aggregation of the stored trades of its bucket; returns how many."""
    stored = con.execute(
        "SELECT start_ns, open, high, low, close, volume, trades FROM bars WHERE venue = ? AND symbol = ? AND tf = ? "
        "ORDER BY start_ns", [venue, symbol, tf]).fetchall()
    ref = {r[0]: r for r in con.execute(SQL_BARS_FROM_TRADES, [width_ns, venue, symbol]).fetchall()}
    for bar in stored:
        want = ref[bar[0]]
        assert bar[1:6] == want[1:6], (tf, bar, want)
        if count_trades:
            assert bar[6] == want[6], (tf, bar, want)
    return len(stored)


def test_record_stores_the_captured_trades_and_bars_and_events_share_stdout(tmp_path, shared_data):
    cap, db = tmp_path / "cap.jsonl", tmp_path / "market.duckdb"
    with emulator("--exchange", "binance", "--file", shared_data / "binance" / BTC_2024[1], "--speed", "4") as emu:
        proc = _feed_run(emu, "--symbols", "BTC/USDT", "--record", cap, "--store", db, "--events", "-", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    summary = json.loads(lines[-1])
    events = [json.loads(x) for x in lines[:-1]]
    assert "event" not in summary and all("event" in e for e in events)
    assert summary["events"]["total"] == len(events) and summary["events"]["written_to"] == "stdout"
    store = summary["store"]
    assert store["errors"] == 0 and store["dropped"] == 0 and store["bars_from"] == {"binance": "trades"}

    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT trade_id, side, price, qty, ts_ns, recv_ns FROM trades WHERE venue = 'binance' "
                       "AND symbol = 'BTC/USDT' ORDER BY ts_ns, CAST(trade_id AS BIGINT)").fetchall()
    assert len(rows) == store["trades"] == summary["symbols"]["binance:BTCUSDT"]["trades"] > 100
    assert rows == _replayed_trades(cap)
    n1s = _bars_match_trades(con, "binance", "BTC/USDT", "1s", 1_000_000_000)
    _bars_match_trades(con, "binance", "BTC/USDT", "1m", 60_000_000_000)
    assert n1s >= 3
    (total,) = con.execute("SELECT count(*) FROM bars").fetchone()
    assert total == store["bars"]
    con.close()


def test_events_file_adds_up_to_the_health_counters(tmp_path, shared_data):
    events_path = tmp_path / "events.jsonl"
    with emulator("--exchange", "binance", "--file", shared_data / "binance" / "BINANCE.ws.1.0",
                  "--faults", "drop=0.15,disconnect=1.5,until=3,seed=1") as emu:
        proc = _feed_run(emu, "--symbols", "NKNUSDT", "--events", events_path, "--json", seconds=5)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)  # stdout is only the summary when the events go to a file
    events = [json.loads(x) for x in events_path.read_text().splitlines()]
    kinds = [e["event"] for e in events]
    h = summary["symbols"]["binance:NKNUSDT"]
    c = summary["connections"]["binance"]
    assert sum(e["count"] for e in events if e["event"] == "gap") == h["gaps"] >= 1
    assert sum(e["count"] for e in events if e["event"] == "resync") == h["resyncs"] >= 1
    assert kinds.count("disconnect") == c["disconnects"] + c["connect_failures"] >= 1
    assert kinds.count("reconnect") == c["reconnects"] >= 1
    assert summary["events"]["total"] == len(events)
    assert all(e["venue"] == "binance" and e["ts_ns"] > 0 for e in events)
    assert all(e["symbol"] == "NKN/USDT" for e in events if e["event"] in ("gap", "resync"))
    ts = [e["ts_ns"] for e in events]
    assert ts == sorted(ts)


def _holder(tmp_path, db):
    """A process that opens the store, says "ready", closes it on its first stdin line, and exits
    on the second."""
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "holder.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from core.store import MarketStore
        s = MarketStore({str(db)!r})
        print("ready", flush=True)
        sys.stdin.readline()
        s.close()
        print("released", flush=True)
        sys.stdin.readline()
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc, f"pid {proc.pid}: {sys.executable} {script}"


def test_a_store_held_by_another_process_is_waited_for(tmp_path, shared_data):
    """Held during part of the run: batches wait and are retried, nothing is lost. Held during the
    whole run (and the stop wait): the run says which rows were not stored and who held the file."""
    import subprocess
    import sys
    import time

    db = tmp_path / "market.duckdb"
    with emulator("--exchange", "binance", "--file", shared_data / "binance" / BTC_2024[1], "--speed", "4",
                  "--loop", seconds=200) as emu:
        holder, who = _holder(tmp_path, db)
        run = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "feed", "run", "--exchange", "binance", "--symbols", "BTC/USDT",
             "--ws-url", emu.ws_url, "--rest-url", emu.rest_url, "--seconds", "6", "--progress", "0",
             "--record", tmp_path / "a.jsonl", "--store", db, "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        cap = tmp_path / "a.jsonl"
        deadline = time.monotonic() + 60
        while not (cap.exists() and b'"e\\":\\"trade' in cap.read_bytes()) and time.monotonic() < deadline:
            time.sleep(0.1)  # wait for trades to flow...
        time.sleep(2.5)  # ...and for the writer's next batches (every second) to find the store held
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        out, err = run.communicate(timeout=120)
        holder.communicate("\n", timeout=30)
        assert run.returncode == 0, err[-3000:]
        assert f"feed: market store busy: {db} is owned by another process ({who})" in err
        summary = json.loads(out)
        store = summary["store"]
        assert store["busy"] >= 1 and store["unwritten"] == 0 and store["owner"] is None and store["errors"] == 0
        con = duckdb.connect(str(db), read_only=True)
        assert con.execute("SELECT count(*) FROM trades").fetchone() == (store["trades"],)
        assert store["trades"] == summary["symbols"]["binance:BTCUSDT"]["trades"] > 0
        con.close()

        holder, who = _holder(tmp_path, db)
        try:
            proc = _feed_run(emu, "--symbols", "BTC/USDT", "--record", tmp_path / "b.jsonl", "--store", db, "--json",
                             seconds=3)
        finally:
            holder.communicate("\n\n", timeout=30)
    assert proc.returncode == 1
    summary = json.loads(proc.stdout)
    unwritten = summary["store"]["unwritten"]
    assert unwritten > 0 and summary["store"]["trades"] == 0
    assert proc.stderr.strip().splitlines()[-1] == (
        f"tickdesk: error: --record: {unwritten} trades/bars not stored: {db} is owned by another process ({who}); "
        "one process owns a tickdesk store")
    assert (tmp_path / "b.jsonl").stat().st_size > 0  # the raw capture is complete regardless


@pytest.mark.parametrize(
    "args, message",
    [
        (["--store", "X.duckdb"], "--store needs --record (the store receives the recorded trades and bars)"),
        (["--events", "/no/such/dir/ev.jsonl"], "--events: directory /no/such/dir does not exist"),
    ],
)
def test_store_and_events_input_errors(args, message):
    proc = run_cli("feed", "run", "--exchange", "binance", "--symbols", "BTCUSDT", *args, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"tickdesk: error: {message}"]


def test_binance_kline_streams_become_the_stored_bars(tmp_path, shared_data):
    """USD-M recording with ``@kline_1m``: the closed klines are the venue's bars (no bars from trades)."""
    db = tmp_path / "market.duckdb"
    rec = shared_data / "binance" / "BINANCE_FUTURES.ws.1.0"
    closed = {}
    for line in rec.read_text().splitlines():
        if '"x":true' in line:
            k = json.loads(line[line.index("{"):])["data"]["k"]
            closed[k["s"]] = (k["t"] * 1_000_000, *(Decimal(k[f]) for f in "ohlcv"))
    assert set(closed) == {"SUSHIUSDT", "CTKUSDT", "AKROUSDT", "KEEPUSDT"}
    with emulator("--exchange", "binance", "--file", rec, "--speed", "4") as emu:
        proc = run_cli("feed", "run", "--exchange", "binanceusdm", "--symbols", "SUSHIUSDT,CTKUSDT", "--ws-url",
                       emu.ws_url, "--rest-url", emu.rest_url, "--seconds", "9", "--progress", "0", "--channels",
                       "depth@100ms,aggTrade,kline_1m", "--record", tmp_path / "cap.jsonl", "--store", db, "--json",
                       timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    store = json.loads(proc.stdout)["store"]
    assert store["bars_from"] == {"binanceusdm": "exchange"} and store["exchange_bars"] == 2
    con = duckdb.connect(str(db), read_only=True)
    got = con.execute("SELECT symbol, tf, start_ns, open, high, low, close, volume, trades FROM bars ORDER BY symbol").fetchall()
    con.close()
    assert got == [("CTK/USDT:USDT", "1m", *closed["CTKUSDT"], None), ("SUSHI/USDT:USDT", "1m", *closed["SUSHIUSDT"], None)]


def test_arbitrage_events_are_pushed_as_they_open(tmp_path, shared_data):
    """Binance 2024 and OKX 2022 BTC/USDT are far apart: an opportunity net of fees opens at once."""
    events_path = tmp_path / "events.jsonl"
    with emulator("--exchange", "binance", "--file", shared_data / "binance" / BTC_2024[1], "--speed", "2", "--loop") as bn, \
            emulator("--exchange", "okx", "--file", shared_data / "okx" / "OKX.ws.1.0", "--speed", "2", "--loop") as ox:
        proc = run_cli(
            "feed", "run", "--exchange", "binance,okx", "--symbols", "BTC/USDT",
            "--ws-url", f"binance={bn.ws_url},okx={ox.ws_url}", "--rest-url", f"binance={bn.rest_url},okx={ox.rest_url}",
            "--seconds", "3", "--progress", "0", "--taker-fee", "binance=0.001,okx=0.0008", "--events", events_path,
            "--json", timeout=90,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    cons = json.loads(proc.stdout)["consolidated"]
    events = [json.loads(x) for x in events_path.read_text().splitlines()]
    arb = [{k: v for k, v in e.items() if k != "ts_ns"} for e in events if e["event"].startswith("arbitrage")]
    assert cons["opportunities"] >= 1 and arb == cons["events"]
    first = arb[0]
    assert first["event"] == "arbitrage_open" and first["buy_venue"] == "okx" and first["sell_venue"] == "binance"
    net = Decimal(first["sell_price"]) * (1 - Decimal("0.001")) - Decimal(first["buy_price"]) * (1 + Decimal("0.0008"))
    assert Decimal(first["net_per_unit"]) == net > 0


def test_binance_klines_derived_by_the_emulator_match_the_stored_trades(tmp_path, shared_data):
    """The 2024 recording has no kline stream: the emulator builds ``@kline_1s`` from the trades it
    serves; the consumer stores those closed klines, each equal to SQL over the stored trades."""
    db = tmp_path / "market.duckdb"
    with emulator("--exchange", "binance", "--file", shared_data / "binance" / BTC_2024[1], "--speed", "4") as emu:
        proc = _feed_run(emu, "--symbols", "BTC/USDT", "--channels", "depth@100ms,trade,kline_1s", "--record",
                         tmp_path / "cap.jsonl", "--store", db, "--json")
        state = emu.state()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert state["symbols"]["BTCUSDT"]["derived_klines"] == ["btcusdt@kline_1s"]
    store = json.loads(proc.stdout)["store"]
    assert store["bars_from"] == {"binance": "exchange"} and store["exchange_bars"] == store["bars"] >= 3
    con = duckdb.connect(str(db), read_only=True)
    n = _bars_match_trades(con, "binance", "BTC/USDT", "1s", 1_000_000_000, count_trades=False)
    con.close()
    assert n == store["bars"]
