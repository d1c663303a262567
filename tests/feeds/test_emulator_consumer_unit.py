"""The live consumer's pieces without a network (backoff, cadence, health figures), the
consolidated cross-venue view, and ``tickdesk feed run`` input errors (subprocesses)."""

from __future__ import annotations

import json
import random
import socket
from decimal import Decimal

import pytest
from emukit import run_cli

from feeds.consolidated import Consolidator, Quote, consolidate, group_quotes
from feeds.live import Backoff, Cadence, FeedConfig, SymbolLive, _guess_id, _percentiles


def test_backoff_is_bounded_jittered_and_resets_after_a_stable_connection():
    b = Backoff(base=0.5, cap=8.0, stable_after=30.0, rng=random.Random(1))
    delays = [b.next(connected_for=1.0) for _ in range(10)]
    for i, d in enumerate(delays):
        ceiling = min(8.0, 0.5 * 2**i)
        assert ceiling / 2 <= d <= ceiling
    assert max(delays) <= 8.0 and delays[-1] >= 4.0
    assert b.next(connected_for=31.0) <= 0.5  # stable for long enough: back to the base
    assert b.next(connected_for=None) <= 1.0  # a failed attempt keeps counting up


def test_cadence_needs_history_then_scales_with_the_usual_gap():
    cfg = FeedConfig("binance", ["BTCUSDT"], stale_factor=10, stale_min=2.0, stale_max=60.0)
    c = Cadence()
    for i in range(10):
        c.tick(i * 0.1)
    assert c.stale_after(cfg) is None  # too little history to judge
    for i in range(10, 100):
        c.tick(i * 0.1)
    assert c.stale_after(cfg) == pytest.approx(2.0)  # 10 x 0.1 s, raised to the 2 s floor
    slow = Cadence()
    for i in range(50):
        slow.tick(i * 1.0)
    assert slow.stale_after(cfg) == pytest.approx(10.0)
    glacial = Cadence()
    for i in range(50):
        glacial.tick(i * 100.0)
    assert glacial.stale_after(cfg) == 60.0  # capped


def test_rates_and_lag_percentiles():
    s = SymbolLive("binance:BTCUSDT", "BTCUSDT", "BTC/USDT")
    for sec in range(100, 112):
        for _ in range(5):
            s.count(sec + 0.5)
    assert s.messages == 60
    assert s.rate(112.2) == 5.0
    assert _percentiles([]) is None
    p = _percentiles([i * 1_000_000 for i in range(1, 101)])  # 1..100 ms
    assert p["n"] == 100 and p["max"] == 100.0 and 49 <= p["p50"] <= 51 and 89 <= p["p90"] <= 91


def test_symbol_ids_without_markets():
    assert _guess_id("binance", "BTC/USDT") == "BTCUSDT"
    assert _guess_id("okx", "BTC/USDT") == "BTC-USDT"
    assert _guess_id("okx", "BTC-USDT") == "BTC-USDT"
    assert _guess_id("binance", "ethbtc") == "ETHBTC"
    with pytest.raises(ValueError):
        FeedConfig("kraken", ["BTC/USD"])
    with pytest.raises(ValueError):
        FeedConfig("binance", [])


def _q(venue, bid, ask, bq="1", aq="2"):
    return Quote(venue, f"{venue}:X", Decimal(bid), Decimal(bq), Decimal(ask), Decimal(aq))


def test_consolidator_opens_and_closes_opportunities_net_of_fees():
    c = Consolidator(fees={"binance": Decimal("0.001"), "okx": Decimal("0.001")})
    # No edge: okx ask 100.05 vs binance bid 100.10 -> 100.10*0.999 - 100.05*1.001 < 0
    assert c.update({"BTC/USDT": [_q("binance", "100.10", "100.11"), _q("okx", "100.00", "100.05")]}, now=1.0) == []
    view = c.view()[0]
    assert view["best_bid"] == "100.10" and view["bid_venue"] == "binance"
    assert view["best_ask"] == "100.05" and view["ask_venue"] == "okx" and view["crossed"] is True
    # A real edge: buy okx at 99.50, sell binance at 100.10.
    evs = c.update({"BTC/USDT": [_q("binance", "100.10", "100.11", bq="0.3"), _q("okx", "99.40", "99.50", aq="0.7")]}, now=2.0)
    assert len(evs) == 1 and evs[0]["event"] == "arbitrage_open"
    ev = evs[0]
    assert (ev["buy_venue"], ev["sell_venue"], ev["qty"]) == ("okx", "binance", "0.3")
    assert Decimal(ev["net_per_unit"]) == Decimal("100.10") * Decimal("0.999") - Decimal("99.50") * Decimal("1.001")
    # Still open: no new event; then it closes.
    assert c.update({"BTC/USDT": [_q("binance", "100.10", "100.11"), _q("okx", "99.40", "99.45")]}, now=2.5) == []
    evs = c.update({"BTC/USDT": [_q("binance", "100.00", "100.01"), _q("okx", "99.99", "100.02")]}, now=3.0)
    assert [e["event"] for e in evs] == ["arbitrage_close"] and evs[0]["lasted_s"] == 1.0
    assert c.report()["opportunities"] == 1 and c.report()["open_now"] == 0


def test_group_quotes_and_one_shot_consolidate_use_synced_books_only():
    tops = [
        {"venue": "binance", "key": "binance:BTCUSDT", "unified": "BTC/USDT", "synced": True, "bid": "10", "bid_qty": "1", "ask": "11", "ask_qty": "1"},
        {"venue": "okx", "key": "okx:BTC-USDT", "unified": "BTC/USDT", "synced": False, "bid": "20", "bid_qty": "1", "ask": "21", "ask_qty": "1"},
        {"venue": "okx", "key": "okx:ETH-USDT", "unified": "ETH/USDT", "synced": True, "bid": "1", "bid_qty": "1", "ask": "2", "ask_qty": "1"},
    ]
    assert group_quotes(tops) == {}  # BTC: one synced venue only; ETH: one venue only
    tops[1]["synced"] = True
    assert list(group_quotes(tops)) == ["BTC/USDT"]
    symbols = {t["key"]: {"exchange": t["venue"], "unified": t["unified"], "synced": t["synced"],
                          "best": {k: t[k] for k in ("bid", "bid_qty", "ask", "ask_qty")}} for t in tops}
    rep = consolidate(symbols)
    assert rep["opportunities"] == 1 and rep["events"][0]["buy_venue"] == "binance"


@pytest.mark.parametrize(
    "args, words",
    [
        (["--exchange", "kraken", "--symbols", "BTC/USD"], "--exchange"),
        (["--exchange", "binance", "--symbols", " , "], "--symbols"),
        (["--exchange", "binance", "--symbols", "BTCUSDT", "--ws-url", "http://x"], "--ws-url"),
        (["--exchange", "binance", "--symbols", "BTCUSDT", "--rest-url", "ftp://x"], "--rest-url"),
        (["--exchange", "binance,okx", "--symbols", "BTC/USDT", "--ws-url", "ws://127.0.0.1:1/stream"], "exchange=URL"),
        (["--exchange", "binance", "--symbols", "BTCUSDT", "--seconds", "0"], "--seconds"),
        (["--exchange", "binance", "--symbols", "BTCUSDT", "--taker-fee", "2"], "--taker-fee"),
        (["--exchange", "binance", "--symbols", "BTCUSDT", "--depth-limit", "9000"], "--depth-limit"),
        (["--exchange", "binance", "--symbols", "BTCUSDT", "--record", "/nonexistent/dir/cap.jsonl"], "--record"),
    ],
)
def test_feed_run_input_errors_are_one_line(args, words):
    proc = run_cli("feed", "run", *args, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], proc.stderr
    assert proc.stdout == ""


def test_feed_run_against_a_dead_endpoint_backs_off_and_ends_cleanly():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed
    proc = run_cli("feed", "run", "--exchange", "okx", "--symbols", "BTC/USDT", "--ws-url", f"ws://127.0.0.1:{port}/ws/v5/public",
                   "--rest-url", f"http://127.0.0.1:{port}", "--seconds", "2", "--progress", "0", "--json", timeout=90)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    conn = report["connections"]["okx"]
    assert conn["connects"] == 0 and conn["connect_failures"] >= 1 and conn["markets_error"]
    retry = [h["retry_in"] for h in conn["reconnect_history"]]
    assert retry and all(0 < r <= 30 for r in retry)
    assert report["symbols"]["okx:BTC-USDT"]["messages"] == 0 and report["top"]["okx:BTC-USDT"] is None
