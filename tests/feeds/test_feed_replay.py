"""``tickdesk feed replay``: every recording in ../shared/data replays clean (issue 3, acceptance 1).

Expected counts are computed here from the raw files (independently of the code under test):
the number of depth events per symbol, the bookTickers whose update id is one the rebuilt book
passes through, the OKX books messages carrying a checksum.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import orjson
import pytest

from feeds.recordings import CaptureWriter, read_many
from feeds.session import replay

PINNED = ("events", "applied", "dropped", "gaps", "resyncs", "crossed", "top_checked", "top_mismatch",
          "checksum_ok", "checksum_bad")

RECORDINGS = {
    "btcusdt-2024": ["binance/binance_spot_btcusdt_20240808.gz", "binance/binance_spot_btcusdt_20240809.gz"],
    "btcusdt-2024-0808": ["binance/binance_spot_btcusdt_20240808.gz"],
    "btcusdt-2024-0809": ["binance/binance_spot_btcusdt_20240809.gz"],
    "binance-10-symbols": ["binance/BINANCE-b38f7c.0"],
    "binance-ws-http": ["binance/BINANCE.ws.1.0"],
    "binance-futures": ["binance/BINANCE_FUTURES.ws.1.0"],
    "okx": ["okx/OKX.ws.1.0"],
}


def expected(paths) -> dict:
    """Per symbol: depth events, the comparable bookTicker count, OKX checksummed messages."""
    depth = Counter()
    snap_ids = {}
    depth_u = defaultdict(set)
    tickers = defaultdict(list)
    checks = Counter()
    hft_symbol = None
    for rec in read_many(paths):
        if rec.kind == "rest" and rec.raw.startswith('{"lastUpdateId"'):
            sym = rec.url.split("symbol=")[1].split("&")[0] if rec.url else hft_symbol
            snap_ids[f"{rec.exchange}:{sym}"] = orjson.loads(rec.raw)["lastUpdateId"]
        if rec.kind != "ws":
            continue
        obj = orjson.loads(rec.raw)
        if "data" in obj and "arg" in obj and obj["arg"].get("channel") == "books":
            key = f"okx:{obj['arg']['instId']}"
            for d in obj["data"]:
                checks[key] += bool(d.get("checksum"))
                depth[key] += obj.get("action") == "update"
            continue
        d = obj.get("data", obj)
        if not isinstance(d, dict) or "arg" in obj:
            continue
        if d.get("e") == "depthUpdate":
            key = f"{rec.exchange}:{d['s']}"
            hft_symbol = d["s"]
            depth[key] += 1
            depth_u[key].add(d["u"])
        elif "u" in d and "b" in d and "A" in d:
            tickers[f"{rec.exchange}:{d['s']}"].append(d["u"])
    comparable = {}
    for key, ids in tickers.items():
        if key in snap_ids:
            reach = {u for u in depth_u[key] if u > snap_ids[key]} | {snap_ids[key]}
            comparable[key] = sum(1 for u in ids if u in reach)
    return {"depth": depth, "comparable": comparable, "checks": checks, "snapshots": snap_ids}


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_recording_replays_clean(name, shared_data, run_cli):
    paths = [shared_data / p for p in RECORDINGS[name]]
    code, out, err = run_cli("feed", "replay", *paths, "--json")
    assert code == 0, err
    report = orjson.loads(out)
    symbols = report["symbols"]
    exp = expected(paths)
    assert symbols, "no symbol replayed"
    assert not report["errors"], report["errors"]
    for key, h in symbols.items():
        for field in PINNED:
            assert isinstance(h[field], int), (key, field)
        assert h["gaps"] == 0 and h["crossed"] == 0 and h["resyncs"] == 0, (key, h)
        assert h["top_mismatch"] == 0 and h["checksum_bad"] == 0 and h["bad_frames"] == 0, (key, h)
        assert h["events"] == exp["depth"][key], key
        if key in exp["snapshots"] or key.startswith("okx:"):
            assert h["synced"], (key, h)
            assert h["applied"] + h["dropped"] == h["events"], key
        else:  # no snapshot in the recording (the second half of a split file): waiting, no gap
            assert h["state"] == "waiting" and h["applied"] == 0 and h["buffered"] == h["events"]
        assert h["top_checked"] == exp["comparable"].get(key, 0), key
        assert h["checksum_ok"] == exp["checks"][key], key
    for key, h in symbols.items():  # grid steps print as plain decimals, never 1E-8
        if "grid" in h:
            assert all(c.isdigit() or c == "." for c in h["grid"]["tick"] + h["grid"]["lot"]), (key, h["grid"])
    if name == "btcusdt-2024":
        assert symbols["binance:BTCUSDT"]["top_checked"] > 1000
        assert symbols["binance:BTCUSDT"]["grid"]["lot"] == "0.00000001"
    if name == "okx":
        assert sum(h["checksum_ok"] for h in symbols.values()) == sum(exp["checks"].values()) > 0


def test_metadata_only_file_and_human_output(shared_data, run_cli):
    code, out, err = run_cli("feed", "replay", shared_data / "binance" / "BINANCE.0.gz", "--json")
    assert code == 0, err
    rep = orjson.loads(out)
    assert rep["symbols"] == {} and rep["records"]["instruments_loaded"] > 0
    code, out, err = run_cli("feed", "replay", shared_data / "okx" / "OKX.ws.1.0")
    assert code == 0 and "okx:BTC-USDT" in out and "checksum_ok" in out


def test_replay_cli_errors(tmp_path, run_cli):
    code, out, err = run_cli("feed", "replay", tmp_path / "missing.gz")
    assert code != 0 and out == "" and len(err.strip().splitlines()) == 1 and "no such file" in err
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\n")
    code, out, err = run_cli("feed", "replay", junk, "--json")
    assert code != 0 and out == "" and len(err.strip().splitlines()) == 1 and "not a known recording format" in err


def test_capture_replays_to_the_same_books(shared_data, tmp_path):
    """tickdesk's own capture of a recording replays to exactly the same health and books."""
    src = [shared_data / "binance" / "BINANCE_FUTURES.ws.1.0"]
    cap = tmp_path / "capture.jsonl.gz"
    with CaptureWriter(cap, source="test") as w:
        for rec in read_many(src):
            w.write_record(rec)
    a = replay(read_many(src))
    b = replay(read_many([cap]))
    assert a.report()["symbols"] == b.report()["symbols"]
    assert all(a.syncs[k].book == b.syncs[k].book for k in a.syncs)


def test_bench_feed_json(shared_data, run_cli):
    code, out, err = run_cli("bench", "feed", "--rounds", "1", "--json")
    assert code == 0, err
    r = orjson.loads(out)
    assert r["books_equal"] is True
    assert r["workload"]["frames"] > 0 and r["workload"]["levels"] > r["workload"]["frames"]
    for part in ("tickdesk", "reference", "sync_path"):
        assert r[part]["msgs_per_s"] > 0 and r[part]["levels_per_s"] > 0
    assert r["sync_path"]["gaps"] == 0 and r["sync_path"]["crossed"] == 0
    assert "msgspec" in r["reference"]["what"]
