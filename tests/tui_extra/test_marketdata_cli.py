"""``tickdesk replay --headless``, ``book``, ``trades``, ``candles`` as real subprocesses: values equal
independent references (the session replay, the raw trade frames, an in-process simulated market),
bad inputs give one-line errors with exit 2, and none of them imports textual."""

from __future__ import annotations

import gzip
import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "feeds"))
from emukit import emulator  # noqa: E402
from test_architecture import imported_top_level  # noqa: E402

from core.candles import roll_up  # noqa: E402
from core.config import load_config  # noqa: E402
from feeds.recordings import read_many  # noqa: E402
from feeds.session import replay as session_replay  # noqa: E402
from tui.sources.base import open_source  # noqa: E402

BTC = ("binance/binance_spot_btcusdt_20240808.gz", "binance/binance_spot_btcusdt_20240809.gz")


def _ok(result) -> dict:
    code, out, err = result
    assert code == 0, err[-2000:]
    assert "Traceback" not in err
    return json.loads(out)


def _trade_frames(path: Path) -> list[dict]:
    with gzip.open(path, "rt") as f:
        return [json.loads(line.partition(" ")[2])["data"] for line in f if '"e":"trade"' in line]


def test_headless_replay_summary_matches_the_session_replay(run_cli, shared_data):
    files = [shared_data / f for f in BTC]
    r = _ok(run_cli("replay", *files, "--headless", "--json"))
    ref = session_replay(read_many(files)).report()["symbols"]["binance:BTCUSDT"]
    s = r["symbols"]["BTC/USDT"]
    assert {k: s[k] for k in ("events", "applied", "gaps", "resyncs", "crossed")} == {
        k: ref[k] for k in ("events", "applied", "gaps", "resyncs", "crossed")}
    assert s["top"] == ref["best"]
    trades = [t for f in files for t in _trade_frames(f)]
    assert s["trades"] == len(trades)
    first, last = trades[0]["T"] * 10**6, trades[-1]["T"] * 10**6
    assert s["candles_1m"] == last // 60_000_000_000 - first // 60_000_000_000 + 1
    assert r["records"] == sum(1 for _ in read_many(files))
    assert r["recorded_seconds"] == round((r["end_ns"] - r["start_ns"]) / 1e9, 3)


def test_headless_replay_until_stops_early(run_cli, shared_data):
    path = shared_data / "binance/BINANCE.ws.1.0"
    full = _ok(run_cli("replay", path, "--headless", "--json"))
    part = _ok(run_cli("replay", path, "--headless", "--json", "--until", "+10"))
    assert part["end_ns"] == part["start_ns"] + 10 * 10**9
    records = list(read_many([path]))
    assert part["records"] == sum(1 for rec in records if rec.ts_ns <= part["end_ns"])
    assert part["records"] < full["records"]


def test_headless_replay_text_output(run_cli, shared_data):
    code, out, err = run_cli("replay", shared_data / "okx/OKX.ws.1.0", "--headless", "--symbols", "BTC/USDT")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("replayed 440 records")
    assert [ln.split()[0] for ln in lines[2:]] == ["BTC/USDT"]


def test_replaying_a_file_without_market_data_is_refused(run_cli, shared_data):
    """OKX.0.gz is a REST instruments dump: the Replay screen would wait for market data
    forever, so both modes refuse it with one line naming the file."""
    path = shared_data / "okx/OKX.0.gz"
    for args in (("--headless", "--json"), ()):
        code, out, err = run_cli("replay", path, *args)
        assert code == 2 and out == ""
        assert err.strip() == f"tickdesk: error: cannot replay {path}: no market data in it (no book, trade or candle stream; a REST capture such as instruments?)"


def test_trades_from_a_replay_are_the_last_prints_of_the_file(run_cli, shared_data):
    path = shared_data / BTC[0]
    r = _ok(run_cli("trades", "BTC/USDT", "--source", f"replay:{path}", "--limit", "7", "--json"))
    ref = _trade_frames(path)[-7:]
    assert [(t["ts_ns"], Decimal(t["price"]), Decimal(t["qty"]), t["side"]) for t in r["trades"]] == [
        (d["T"] * 10**6, Decimal(d["p"]), Decimal(d["q"]), "sell" if d["m"] else "buy") for d in ref]
    assert all(len(t["price"].partition(".")[2]) == 2 for t in r["trades"])  # shown on BTCUSDT's 0.01 tick
    assert r["trade_count"] == len(_trade_frames(path))


def test_book_and_candles_from_the_sim_equal_an_in_process_run(run_cli):
    book = _ok(run_cli("book", "ETH/USDT", "--warmup", "20", "--depth", "5", "--json"))
    candles = _ok(run_cli("candles", "ETH/USDT", "--tf", "1m", "--warmup", "130", "--limit", "10", "--json"))
    src = open_source("sim", load_config(None), ["ETH/USDT"], paused=True, rate=0)
    src.start()
    try:
        src.step(200).result(60)
        view = src.state.view("ETH/USDT")
        assert book["bids"] == [[lv.price, lv.qty] for lv in view.bids[:5]]
        assert book["asks"] == [[lv.price, lv.qty] for lv in view.asks[:5]]
        assert book["ts_ns"] == 20 * 10**9 and book["source"] == "sim"
        src.step(1300 - 200).result(120)
        view = src.state.view("ETH/USDT")
    finally:
        src.stop()
    assert [(c["start_ns"], c["open"], c["high"], c["low"], c["close"], c["volume"], c["trades"]) for c in candles["candles"]] == [
        (c.start, c.open, c.high, c.low, c.close, c.volume, c.trades) for c in view.candles_1m]
    assert len(candles["candles"]) == 3  # 0-1 min, 1-2 min, and the forming one at 2 min


def test_five_minute_candles_from_a_replay_roll_up_the_raw_trades(run_cli, shared_data):
    path = shared_data / BTC[1]
    r = _ok(run_cli("candles", "BTC/USDT", "--tf", "5m", "--source", f"replay:{path}", "--json"))
    m5 = 300 * 10**9
    by: dict[int, list] = {}
    for d in _trade_frames(path):
        by.setdefault(d["T"] * 10**6 // m5 * m5, []).append(d)
    from decimal import Decimal

    ref = [(start, Decimal(ts[0]["p"]), max(Decimal(t["p"]) for t in ts), min(Decimal(t["p"]) for t in ts), Decimal(ts[-1]["p"]),
            sum(Decimal(t["q"]) for t in ts), len(ts)) for start, ts in sorted(by.items())]
    got = [(c["start_ns"], Decimal(c["open"]), Decimal(c["high"]), Decimal(c["low"]), Decimal(c["close"]), Decimal(c["volume"]), c["trades"])
           for c in r["candles"]]
    assert got == ref


def test_book_from_an_emulator(run_cli, shared_data):
    with emulator("--exchange", "okx", "--file", shared_data / "okx/OKX.ws.1.0", "--speed", "4", seconds=60) as emu:
        r = _ok(run_cli("book", "BTC-USDT", "--source", f"emulator:{emu.ws_url}", "--depth", "3", "--json", "--timeout", "30"))
    assert r["symbol"] == "BTC/USDT" and r["source"] == f"emulator:{emu.ws_url}"
    assert len(r["bids"]) == 3 and len(r["asks"]) == 3
    from decimal import Decimal

    bids = [Decimal(p) for p, _ in r["bids"]]
    asks = [Decimal(p) for p, _ in r["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]


@pytest.mark.parametrize(
    "args,message",
    [
        (("book", "DOGE/USDT"), "DOGE/USDT"),
        (("book", "BTC/USDT", "--source", "kraken"), "unknown source 'kraken'"),
        (("book", "BTC/USDT", "--source", "replay:/nonexistent/x.gz"), "cannot replay /nonexistent/x.gz: no such file"),
        (("book", "BTC/USDT", "--source", "emulator:127.0.0.1:9", "--timeout", "2"), "no tickdesk emulator answered"),
        (("book", "BTC/USDT", "--depth", "0"), "--depth must be between 1 and 25, got 0"),
        (("trades", "BTC/USDT", "--limit", "0"), "--limit must be between 1 and 200"),
        (("candles", "BTC/USDT", "--tf", "2m"), "--tf must be one of 1s, 1m, 5m, 15m, 1h, got '2m'"),
        (("replay", "/nonexistent/x.gz", "--headless"), "cannot replay /nonexistent/x.gz: no such file"),
        (("replay", "FILE", "--json"), "--json needs --headless"),
        (("replay", "FILE", "--headless", "--speed", "100"), "--speed: speed must be 0 (as fast as possible) or between 0.25 and 64"),
        (("replay", "FILE", "--headless", "--until", "yesterday"), "--until 'yesterday' is not an ISO 8601 time"),
        (("replay", "BAD", "--headless"), "not a known recording format"),
    ],
)
def test_bad_inputs_are_one_line_errors(run_cli, shared_data, tmp_path, args, message):
    bad = tmp_path / "bad.txt"
    bad.write_text("not a recording\n")
    real = str(shared_data / "okx/OKX.ws.1.0")
    args = tuple(real if a == "FILE" else str(bad) if a == "BAD" else a for a in args)
    code, out, err = run_cli(*args)
    assert code == 2, (code, out, err)
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("tickdesk: error: ")
    assert message in err


def test_unreadable_file(run_cli, tmp_path):
    f = tmp_path / "locked.gz"
    f.write_bytes(b"\x1f\x8b\x08\x00garbage")
    code, out, err = run_cli("replay", f, "--headless")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert f"cannot replay {f}" in err


@pytest.mark.parametrize("which", ["replay", "book"])
def test_one_shot_commands_do_not_import_textual(shared_data, which):
    args = (["replay", str(shared_data / "okx/OKX.ws.1.0"), "--headless", "--json"] if which == "replay"
            else ["book", "BTC/USDT", "--warmup", "1", "--json"])
    proc, modules = imported_top_level(args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {"tui", "core"} <= modules
    assert "textual" not in modules
