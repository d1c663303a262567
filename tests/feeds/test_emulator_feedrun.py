"""``tickdesk feed run`` against ``tickdesk emulator`` (both real subprocesses, loopback only).

For each fault kind: after the run every book is in sync and equals the emulator's TRUE book
at the update id the consumer stopped at (compared level by level, exactly), the consumer's
health counts the fault the emulator says it injected, and nothing printed a traceback.
Faults stop a few seconds into the playback (``until=``), so the consumer ends in sync; the
run is bounded by ``--seconds`` plus ``--settle``.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from emukit import emulator, run_cli

pytestmark = pytest.mark.slow

BINANCE_REC = ("binance", "BINANCE.ws.1.0")
OKX_REC = ("okx", "OKX.ws.1.0")
FUTURES_REC = ("binance", "BINANCE_FUTURES.ws.1.0")
# The consumer's exchange when it differs from the emulator's; the WS path it uses (USD-M routes).
FEED_EXCHANGE = {"binanceusdm-drop": "binanceusdm"}
WS_PATH = {"binanceusdm-drop": ("/stream", "/public/stream")}
# USD-M snapshots stop at 1000 levels: levels deeper than that are unknown until they change
# (a documented limit of the exchange), so only the top of such books is compared.
COMPARE_DEPTH = {"binanceusdm-drop": 500}


def _levels(side):
    return [(Decimal(p), Decimal(q)) for p, q in side]


def feed_run(emu, exchange: str, symbols: str, *extra: str, seconds: float = 4.0, ws_path=None):
    ws_url = emu.ws_url.replace(*ws_path) if ws_path else emu.ws_url
    proc = run_cli(
        "feed", "run", "--exchange", exchange, "--symbols", symbols, "--ws-url", ws_url, "--rest-url", emu.rest_url,
        "--seconds", str(seconds), "--settle", "8", "--book-depth", "0", "--progress", "0", "--json", *extra,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return json.loads(proc.stdout)


# (exchange, recording, symbols, faults, extra emulator args, check(report, faults, symbol health list))
CASES = {
    "binance-clean": (BINANCE_REC, "NKN/USDT,BLZETH", None, (), lambda r, f, hs: all(h["gaps"] == 0 and h["resyncs"] == 0 for h in hs)),
    "binance-drop": (BINANCE_REC, "NKNUSDT", "drop=0.15,until=2,seed=1", (),
                     lambda r, f, hs: f["dropped_depth"] >= hs[0]["gaps"] >= 1 and hs[0]["resyncs"] >= 1),
    "binance-dup": (BINANCE_REC, "NKNUSDT", "dup=0.3,until=2,seed=2", (),
                    lambda r, f, hs: f["duplicated_depth"] >= 1 and hs[0]["dropped"] >= f["duplicated_depth"] and hs[0]["gaps"] == 0),
    "binance-reorder": (BINANCE_REC, "NKNUSDT", "reorder=0.15,until=2,seed=3", (),
                        lambda r, f, hs: f["reordered_depth"] >= hs[0]["gaps"] >= 1),
    "binance-garbage": (BINANCE_REC, "NKNUSDT", "garbage=0.2,until=2,seed=4", (),
                        lambda r, f, hs: r["connections"]["binance"]["parse_errors"] == f["garbage"] >= 1),
    "binance-disconnect": (BINANCE_REC, "NKNUSDT", "disconnect=1.2,until=3", (),
                           lambda r, f, hs: (c := r["connections"]["binance"])["disconnects"] == f["disconnects"] >= 1
                           and c["connects"] == c["disconnects"] + 1 and hs[0]["resyncs"] >= 1
                           and all("1001" in x["reason"] for x in c["reconnect_history"])),
    "binance-stall": (BINANCE_REC, "NKNUSDT", "stall=1,until=4.5", (),
                      lambda r, f, hs: f["stalls"] >= 1 and hs[0]["stale"] >= 1 and hs[0]["resubscribes"] >= 1),
    "binance-shutdown": (BINANCE_REC, "NKNUSDT,BLZETH", "shutdown=1.2,until=3.5", (),
                         lambda r, f, hs: (c := r["connections"]["binance"])["rotations"] == c["shutdown_notices"] == f["shutdowns"] >= 1
                         and c["disconnects"] == 0 and all(h["gaps"] == 0 and h["resyncs"] == 0 for h in hs)),
    "binanceusdm-drop": (FUTURES_REC, "SUSHIUSDT,AKRO/USDT:USDT", "drop=0.1,until=2,seed=10", (),
                         lambda r, f, hs: f["dropped_depth"] >= sum(h["gaps"] for h in hs) >= 1
                         and all(h["exchange"] == "binanceusdm" for h in hs)),
    "okx-clean": (OKX_REC, "BTC/USDT,BTC-USD-220527", None, (),
                  lambda r, f, hs: all(h["checksum_ok"] > 10 and h["checksum_bad"] == 0 and h["gaps"] == 0 and h["top_checked"] > 0 for h in hs)),
    "okx-corrupt": (OKX_REC, "BTC-USDT", "corrupt=0.2,until=2,seed=5", (),
                    lambda r, f, hs: f["corrupted"] >= hs[0]["checksum_bad"] >= 1 and hs[0]["resyncs"] >= 1),
    "okx-drop": (OKX_REC, "BTC-USDT", "drop=0.15,until=2,seed=6", (),
                 lambda r, f, hs: f["dropped_depth"] >= hs[0]["gaps"] >= 1),
    "okx-disconnect": (OKX_REC, "BTC-USDT", "disconnect=1.2,until=3", (),
                       lambda r, f, hs: r["connections"]["okx"]["disconnects"] == f["disconnects"] >= 1),
    "okx-stall": (OKX_REC, "BTC-USDT", "stall=1,until=4.5", (),
                  lambda r, f, hs: f["stalls"] >= 1 and hs[0]["stale"] >= 1 and hs[0]["resubscribes"] >= 1),
    "okx-2026-no-snapshot-checksum-zero": (OKX_REC, "BTC-USDT", "drop=0.1,until=2,seed=7", ("--no-okx-snapshot", "--okx-checksum", "zero"),
                                           lambda r, f, hs: hs[0]["rest_bootstraps"] >= 1 and hs[0]["checksum_ok"] == 0
                                           and hs[0]["checksum_bad"] == 0),
}


SECONDS = {"binance-stall": 6.0, "okx-stall": 6.0}

# Captures: a run with faults recorded with --record, then replayed (acceptance: same books).
CAPTURES = {
    "binance-capture": (BINANCE_REC, "NKNUSDT,LRCBTC", "drop=0.1,disconnect=1.5,until=3,seed=8", ()),
    "okx-capture": (OKX_REC, "BTC-USDT,UNI-USD-SWAP", "drop=0.1,corrupt=0.1,disconnect=1.5,until=3,seed=9", ()),
}


def run_consolidated(shared_data) -> dict:
    """Two emulators (Binance BTCUSDT, OKX BTC-USDT) and one ``feed run --exchange binance,okx``."""
    bn_files = ["--file", shared_data / "binance" / "binance_spot_btcusdt_20240808.gz"]
    with emulator("--exchange", "binance", *bn_files, "--speed", "2", "--loop") as bn, \
            emulator("--exchange", "okx", "--file", shared_data / "okx" / "OKX.ws.1.0", "--speed", "2", "--loop") as ox:
        proc = run_cli(
            "feed", "run", "--exchange", "binance,okx", "--symbols", "BTC/USDT",
            "--ws-url", f"binance={bn.ws_url},okx={ox.ws_url}", "--rest-url", f"binance={bn.rest_url},okx={ox.rest_url}",
            "--seconds", "3", "--settle", "8", "--book-depth", "0", "--progress", "0", "--taker-fee", "binance=0.001,okx=0.0008",
            "--json", timeout=90,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "Traceback" not in proc.stderr
        report = json.loads(proc.stdout)
        emus = {"binance": bn, "okx": ox}
        truth = {key: emus[h["exchange"]].book(h["symbol"], at=h["update_id"]) for key, h in report["symbols"].items()}
    return {"report": report, "truth": truth, "stderr": proc.stderr}


def run_case(case: str, shared_data, tmp) -> dict:
    """Emulator + feed run for one case; everything the assertions need, gathered while both live."""
    if case == "consolidated":
        return run_consolidated(shared_data)
    if case in CAPTURES:
        (exchange, rec), symbols, faults, emu_args = CAPTURES[case]
        capture = tmp / f"{case}.jsonl.gz"
        extra = ("--record", str(capture))
    else:
        (exchange, rec), symbols, faults, emu_args, _check = CASES[case]
        capture, extra = None, ()
    args = ["--exchange", exchange, "--file", shared_data / exchange / rec, "--speed", "4", "--loop", *emu_args]
    if faults:
        args += ["--faults", faults]
    with emulator(*args) as emu:
        report = feed_run(emu, FEED_EXCHANGE.get(case, exchange), symbols, *extra, seconds=SECONDS.get(case, 4.0),
                          ws_path=WS_PATH.get(case))
        truth = {key: emu.book(h["symbol"], at=h["update_id"]) if h.get("update_id") is not None else None
                 for key, h in report["symbols"].items()}
        state = emu.state()
    out = {"report": report, "truth": truth, "faults": state["faults"], "emulator_stderr": emu.stderr}
    if capture is not None:
        proc = run_cli("feed", "replay", capture, "--json", timeout=120)
        out["replay"] = (proc.returncode, proc.stdout, proc.stderr, capture)
    return out


@pytest.fixture(scope="module")
def runs(request, shared_data, tmp_path_factory):
    """Run the selected cases concurrently (each is two mostly idle subprocesses), 4 at a time."""
    from concurrent.futures import ThreadPoolExecutor

    wanted = [item.callspec.params["case"] for item in request.session.items
              if item.module is request.module and hasattr(item, "callspec") and "case" in item.callspec.params]
    results: dict = {}
    tmp = tmp_path_factory.mktemp("captures")
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {case: pool.submit(run_case, case, shared_data, tmp) for case in wanted}
        for case, fut in futures.items():
            try:
                results[case] = fut.result(timeout=300)
            except BaseException as exc:  # reported by that case's test
                results[case] = exc
    return results


def check_synced_and_true(report: dict, truth: dict, depth: int | None = None) -> None:
    assert report["symbols"]
    for key, h in report["symbols"].items():
        assert h["state"] == "synced", (key, h.get("last_resync_reason"))
        true = truth[key]
        assert true["id"] == h["update_id"]
        mine = h["book"]
        assert mine["bids"] and mine["asks"]
        assert _levels(mine["bids"][:depth]) == _levels(true["bids"][:depth]), key
        assert _levels(mine["asks"][:depth]) == _levels(true["asks"][:depth]), key
        best = report["top"][key]
        assert Decimal(best["bid"]) == Decimal(true["bids"][0][0]) and Decimal(best["ask"]) == Decimal(true["asks"][0][0])
        assert h["crossed"] == 0 and h["top_mismatch"] == 0
        assert h["messages"] > 0 and h["lag_ms"] is not None and h["last_update_age_ms"] is not None


@pytest.mark.parametrize("case", list(CASES))
def test_feed_run_against_emulator(case, runs):
    got = runs[case]
    if isinstance(got, BaseException):
        raise got
    report, truth, faults_done = got["report"], got["truth"], got["faults"]
    check = CASES[case][-1]
    check_synced_and_true(report, truth, COMPARE_DEPTH.get(case))
    healths = list(report["symbols"].values())
    assert check(report, faults_done, healths), (faults_done, [
        {k: h.get(k) for k in ("gaps", "resyncs", "dropped", "stale", "resubscribes", "checksum_ok", "checksum_bad",
                               "rest_bootstraps")} for h in healths], report["connections"])


REPLAYED_SAME = ("events", "applied", "dropped", "gaps", "resyncs", "crossed", "snapshots", "checksum_ok", "checksum_bad",
                 "top_checked", "top_mismatch", "last_update_id", "best", "depth", "state")


@pytest.mark.parametrize("case", list(CAPTURES))
def test_capture_replays_to_the_same_books(case, runs):
    """``feed run --record`` under faults, then ``feed replay`` of the capture: the same books, the same
    counters (the replay goes through the same session as the live run); and the full books rebuilt
    in-process from the capture equal the emulator's true books."""
    got = runs[case]
    if isinstance(got, BaseException):
        raise got
    report, truth = got["report"], got["truth"]
    check_synced_and_true(report, truth)
    assert sum(h["gaps"] + h["resyncs"] for h in report["symbols"].values()) >= 1  # the faults did something
    code, out, err, capture = got["replay"]
    assert code == 0, err[-2000:]
    replayed = json.loads(out)["symbols"]
    for key, h in report["symbols"].items():
        r = replayed[key]
        for field in REPLAYED_SAME:
            assert r[field] == h[field], (key, field, r[field], h[field])
    from feeds.recordings import read_records
    from feeds.session import replay

    session = replay(read_records(capture))
    for key, h in report["symbols"].items():
        ex, sym = key.split(":", 1)
        grid = session.parser(ex).symbols[sym].grid
        bids, asks = session.syncs[key].book.levels()
        assert [(grid.fmt_price(t), grid.fmt_qty(q)) for t, q in bids] == [tuple(x) for x in h["book"]["bids"]]
        assert [(grid.fmt_price(t), grid.fmt_qty(q)) for t, q in asks] == [tuple(x) for x in h["book"]["asks"]]


@pytest.mark.parametrize("case", ["consolidated"])
def test_two_exchanges_consolidated_spread_and_arbitrage(case, runs):
    got = runs[case]
    if isinstance(got, BaseException):
        raise got
    report = got["report"]
    check_synced_and_true(report, got["truth"])
    assert set(report["connections"]) == {"binance", "okx"}
    cons = report["consolidated"]
    (row,) = cons["spreads"]
    assert row["symbol"] == "BTC/USDT" and set(row["venues"]) == {"binance", "okx"}
    tops = {h["exchange"]: report["top"][key] for key, h in report["symbols"].items()}
    for venue, top in tops.items():
        assert Decimal(row["venues"][venue]["bid"]) == Decimal(top["bid"])
        assert Decimal(row["venues"][venue]["ask"]) == Decimal(top["ask"])
    best_bid = max(Decimal(t["bid"]) for t in tops.values())
    best_ask = min(Decimal(t["ask"]) for t in tops.values())
    assert Decimal(row["spread"]) == best_ask - best_bid
    fee = {"binance": Decimal("0.001"), "okx": Decimal("0.0008")}
    edge_now = any(
        Decimal(tops[s]["bid"]) * (1 - fee[s]) - Decimal(tops[b]["ask"]) * (1 + fee[b]) > 0
        for b in tops for s in tops if b != s
    )
    assert (cons["open_now"] >= 1) == edge_now
    if edge_now:
        assert cons["opportunities"] >= 1 and cons["events"][0]["event"] == "arbitrage_open"
        assert "arbitrage" in got["stderr"]
