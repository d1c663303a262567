"""OKX candles on the business endpoint, against the emulator on loopback.

* The emulator serves candle channels on ``/ws/v5/business`` only (60018 elsewhere, as OKX),
  derives them from the trades it serves when the recording has none, and says so.
* ``feed run --channels books,trades,candle1s,candle1m --record`` opens a second connection for
  the candles; the closed candles land in the store as OKX bars, each equal to the aggregation
  of the stored trades of its bucket (the emulator builds them from the same trades), and the
  capture replays to the same closed candles.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import duckdb
import pytest
import websockets
from emukit import emulator, run_cli
from test_feed_store import SQL_BARS_FROM_TRADES

from core.marketdata import Bar
from feeds.emulator import Emulator, EmulatorConfig, load_timeline
from feeds.emulator.candles import CandleBuilder, okx_interval
from feeds.emulator.server import EmulatorThread
from feeds.live import business_url
from feeds.recordings import read_records
from feeds.session import FeedSession

OKX_REC = ("okx", "OKX.ws.1.0")


def test_candle_builder_buckets_and_closes():
    assert okx_interval("candle1m") == (60_000, 0)
    assert okx_interval("candle1H") == (3_600_000, 0)
    assert okx_interval("candle1D") == (86_400_000, 8 * 3_600_000)  # Hong Kong days
    assert okx_interval("candle1Dutc") == (86_400_000, 0)
    assert okx_interval("candle1M") is None and okx_interval("candle7m") is None
    b = CandleBuilder(60_000)
    assert b.add(120_500, "10.5", "0.1") is None
    assert b.add(130_000, "11", "0.25") is None
    assert b.add(110_000, "9.5", "1") is None  # late trade: folded into the current candle
    closed = b.add(180_000, "12", "2")
    assert closed.okx_row(True) == ["120000", "10.5", "11", "9.5", "9.5", "1.35", "13.3", "13.3", "1"]
    assert b.current.okx_row(False) == ["180000", "12", "12", "12", "12", "2", "24", "24", "0"]
    day = CandleBuilder(*okx_interval("candle1D"))
    assert day.bucket(1_600_000_000_000) == 1_599_926_400_000  # 2020-09-13 00:00 +08:00


def test_business_url():
    assert business_url("wss://ws.okx.com:8443/ws/v5/public") == "wss://ws.okx.com:8443/ws/v5/business"
    assert business_url("ws://127.0.0.1:9/ws/v5/public/") == "ws://127.0.0.1:9/ws/v5/business"
    assert business_url("ws://127.0.0.1:9/") == "ws://127.0.0.1:9/ws/v5/business"


def test_emulator_serves_candles_on_business_only(shared_data):
    timeline = load_timeline([shared_data / "okx" / OKX_REC[1]], "okx")
    emu = Emulator(timeline, EmulatorConfig(speed=4, loop=True))
    runner = EmulatorThread(emu)
    urls = runner.start()

    async def talk() -> tuple[list, list, list]:
        async with websockets.connect(urls["ws_url"]) as pub, websockets.connect(urls["business_ws_url"]) as biz:
            await pub.send(json.dumps({"id": "1", "op": "subscribe", "args": [{"channel": "candle1m", "instId": "BTC-USDT"}]}))
            await biz.send(json.dumps({"id": "2", "op": "subscribe", "args": [
                {"channel": "books", "instId": "BTC-USDT"}, {"channel": "candle1M", "instId": "BTC-USDT"},
                {"channel": "candle1s", "instId": "BTC-USDT"}]}))
            pub_msgs = [json.loads(await asyncio.wait_for(pub.recv(), 10))]
            biz_msgs: list = []
            candles: list = []
            while len(candles) < 3:
                m = json.loads(await asyncio.wait_for(biz.recv(), 20))
                (candles if "data" in m else biz_msgs).append(m)
            return pub_msgs, biz_msgs, candles

    try:
        pub_msgs, biz_msgs, candles = asyncio.run(talk())
        state = runner.call(emu.state)
    finally:
        runner.stop()
    wrong = "Wrong URL or channel:{c},instId:BTC-USDT doesn't exist."
    assert pub_msgs == [{"id": "1", "event": "error", "code": "60018", "msg": wrong.format(c="candle1m"),
                         "connId": pub_msgs[0]["connId"]}]
    assert [(m["event"], m.get("code"), m.get("arg", {}).get("channel")) for m in biz_msgs] == [
        ("error", "60018", None), ("error", "60018", None), ("subscribe", None, "candle1s")]
    for m in candles:
        assert m["arg"] == {"channel": "candle1s", "instId": "BTC-USDT"}
        (row,) = m["data"]
        ts, o, h, lo, c, vol, ccy, quote, confirm = row
        assert int(ts) % 1000 == 0 and confirm in ("0", "1") and ccy == quote
        assert Decimal(lo) <= min(Decimal(o), Decimal(c)) <= max(Decimal(o), Decimal(c)) <= Decimal(h)
    assert state["symbols"]["BTC-USDT"]["candles"] == "derived from trades"


@pytest.mark.slow
def test_feed_run_records_okx_candles_from_the_business_connection(tmp_path, shared_data):
    cap, db = tmp_path / "cap.jsonl", tmp_path / "market.duckdb"
    with emulator("--exchange", "okx", "--file", shared_data / "okx" / OKX_REC[1], "--loop") as emu:
        assert emu.info["candles"] == "derived from trades"
        assert emu.info["business_ws_url"].endswith("/ws/v5/business")
        proc = run_cli(
            "feed", "run", "--exchange", "okx", "--symbols", "BTC/USDT", "--ws-url", emu.ws_url,
            "--rest-url", emu.rest_url, "--seconds", "7", "--progress", "0", "--channels",
            "books,trades,candle1s,candle1m", "--record", cap, "--store", db, "--json", timeout=120,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    conn = summary["connections"]["okx"]
    assert conn["business"]["connects"] == 1 and conn["business"]["frames"] > 3
    assert conn["business"]["url"] == emu.info["business_ws_url"]
    h = summary["symbols"]["okx:BTC-USDT"]
    assert h["gaps"] == 0 and h["resyncs"] == 0 and h["bars"] > 0  # candles never touch the book
    store = summary["store"]
    assert store["bars_from"] == {"okx": "exchange"} and store["exchange_bars"] == store["bars"] >= 3

    con = duckdb.connect(str(db), read_only=True)
    bars = con.execute("SELECT start_ns, open, high, low, close, volume FROM bars WHERE venue = 'okx' "
                       "AND symbol = 'BTC/USDT' AND tf = '1s' ORDER BY start_ns").fetchall()
    ref = {r[0]: r for r in con.execute(SQL_BARS_FROM_TRADES, [1_000_000_000, "okx", "BTC/USDT"]).fetchall()}
    assert len(bars) >= 3
    # The first candle may hold trades served before the trades subscription: compare the rest.
    for bar in bars[1:]:
        assert bar[1:] == ref[bar[0]][1:6], (bar, ref[bar[0]])
    con.close()

    # The capture holds the business frames: replayed, it gives the same closed candles.
    replayed: list[Bar] = []
    session = FeedSession(on_event=lambda r: replayed.append(r) if type(r) is Bar and r.closed else None)
    for rec in read_records(cap):
        session.handle(rec)
    grid = session.parser("okx").symbols["BTC-USDT"].grid
    again = sorted({(b.open_ms * 1_000_000, Decimal(grid.fmt_price(b.open)), Decimal(grid.fmt_price(b.high)),
                     Decimal(grid.fmt_price(b.low)), Decimal(grid.fmt_price(b.close)), Decimal(grid.fmt_qty(b.volume)))
                    for b in replayed if b.interval == "1s"})
    assert again == bars


def test_recorded_candles_are_served_as_recorded(tmp_path, shared_data):
    """A recording with candle frames (here: the OKX recording plus three candle frames written
    into a tickdesk capture) is served as recorded, and the emulator says so."""
    from feeds.recordings import WS, CaptureWriter, RawRecord, read_many

    records = list(read_many([shared_data / "okx" / OKX_REC[1]]))
    t0 = next(r.ts_ns for r in records if r.kind == WS)
    frames = [json.dumps({"arg": {"channel": "candle1m", "instId": "BTC-USDT"},
                          "data": [[str(1652459160000 + 60_000 * i), "30200", "30250.5", "30190", f"3021{i}", "1.5",
                                    "45300", "45300", "1" if i < 2 else "0"]]}, separators=(",", ":"))
              for i in range(3)]
    capture = tmp_path / "okx-with-candles.jsonl"
    with CaptureWriter(capture, exchange="okx") as w:
        for r in records:
            w.write_record(r)
        for i, f in enumerate(frames):
            w.write_record(RawRecord(t0 + (i + 1) * 1_000_000, WS, "wss://ws.okx.com:8443/ws/v5/business", f, "okx"))
    timeline = load_timeline([capture], "okx")
    emu = Emulator(timeline, EmulatorConfig(speed=0))
    runner = EmulatorThread(emu)
    urls = runner.start()

    async def talk() -> list[str]:
        async with websockets.connect(urls["business_ws_url"]) as biz:
            await biz.send(json.dumps({"op": "subscribe", "args": [{"channel": "candle1m", "instId": "BTC-USDT"}]}))
            got = []
            while len(got) < 4:
                got.append(await asyncio.wait_for(biz.recv(), 20))
            return got

    try:
        got = asyncio.run(talk())
        state = runner.call(emu.state)
    finally:
        runner.stop()
    assert json.loads(got[0])["event"] == "subscribe"
    assert [json.loads(m) for m in got[1:]] == [json.loads(f) for f in frames]
    assert state["symbols"]["BTC-USDT"]["candles"] == "recorded"
