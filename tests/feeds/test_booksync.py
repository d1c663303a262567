"""Book sync state machines on hand-built sequences, and gap detection on real data."""

from __future__ import annotations

from decimal import Decimal

import orjson

from core.marketdata import DepthDiff, DepthSnapshot, TopOfBook
from feeds.booksync import BinanceSpotSync, BinanceUsdmSync, OkxSync
from feeds.okx import okx_checksum
from feeds.recordings import RawRecord, read_many
from feeds.session import FeedSession, replay


def diff(U, u, bids=(), asks=(), pu=None, key="binance:X"):
    return DepthDiff(key, 0, 0, U, u, pu, [t for t, _ in bids], [q for _, q in bids], [t for t, _ in asks],
                     [q for _, q in asks])


def snap(uid, bids, asks, key="binance:X"):
    return DepthSnapshot(key, 0, 0, uid, list(bids), list(asks))


def test_spot_official_procedure():
    s = BinanceSpotSync("binance:X")
    assert s.needs_snapshot
    s.on_diff(diff(90, 95, [(10, 1)]))  # older than the snapshot: dropped
    s.on_diff(diff(96, 101, [(11, 2)]))  # straddles 100+1
    s.on_diff(diff(102, 104, [(10, 0)], [(20, 5)]))
    s.on_snapshot(snap(100, [(10, 3), (9, 1)], [(21, 1)]))
    assert s.synced and s.book.update_id == 104
    assert s.book.bids == {11: 2, 9: 1} and s.book.asks == {20: 5, 21: 1}
    h = s.health
    assert (h.events, h.applied, h.dropped, h.gaps, h.snapshots) == (3, 2, 1, 0, 1)
    s.on_diff(diff(103, 104))  # old: ignored
    assert h.dropped == 2
    s.on_diff(diff(106, 107, [(12, 1)]))  # 105 missing: gap -> resync, book not touched
    assert h.gaps == 1 and h.resyncs == 1 and not s.synced and 12 not in s.book.bids
    assert len(s.buffer) == 1  # kept: it may straddle the next snapshot
    s.on_diff(diff(108, 110, [(13, 1)]))
    s.on_snapshot(snap(109, [(1, 1)], [(30, 1)]))  # replaces, never merges
    assert s.synced and s.book.bids == {1: 1, 13: 1} and s.book.asks == {30: 1}
    assert h.dropped == 3  # 106..107 was older than the new snapshot


def test_spot_stale_snapshot_and_bad_first_event():
    s = BinanceSpotSync("binance:X")
    s.on_diff(diff(200, 210))
    s.on_snapshot(snap(150, [(1, 1)], [(2, 1)]))  # 151 < 200: too old
    assert s.health.stale_snapshots == 1 and not s.synced and len(s.buffer) == 1
    s.on_snapshot(snap(199, [(1, 1)], [(2, 1)]))  # 200 == 199 + 1: contiguous
    assert s.synced and s.book.update_id == 210
    t = BinanceSpotSync("binance:X")
    t.on_snapshot(snap(100, [(1, 1)], [(2, 1)]))
    t.on_diff(diff(105, 110))  # the first event must contain 101
    assert t.health.gaps == 1 and not t.synced


def test_crossed_book_resyncs():
    s = BinanceSpotSync("binance:X")
    s.on_snapshot(snap(1, [(10, 1)], [(12, 1)]))
    s.on_diff(diff(2, 2, [(12, 1)]))
    assert s.health.crossed == 1 and s.health.resyncs == 1 and not s.synced


def test_top_checks_wait_for_the_update_id():
    s = BinanceSpotSync("binance:X")
    s.on_top(TopOfBook("binance:X", 0, 0, 3, 11, 2, 20, 5))  # arrives before its depth event
    s.on_top(TopOfBook("binance:X", 0, 0, 4, 11, 2, 20, 5))  # no depth event ends at 4
    s.on_snapshot(snap(1, [(10, 1)], [(20, 5)]))
    s.on_diff(diff(2, 3, [(11, 2)]))
    assert (s.health.top_checked, s.health.top_mismatch) == (1, 0)
    s.on_diff(diff(4, 6, [(11, 1)]))
    s.on_top(TopOfBook("binance:X", 0, 0, 6, 11, 9, 20, 5))  # same id, wrong quantity
    assert (s.health.top_checked, s.health.top_mismatch, s.health.book_tickers) == (2, 1, 3)


def test_usdm_pu_chain():
    s = BinanceUsdmSync("binanceusdm:X")
    s.on_diff(diff(90, 99, [(1, 1)], pu=80))
    s.on_diff(diff(100, 130, [(2, 1)], pu=99))  # U <= 120 <= u
    s.on_diff(diff(135, 140, [(3, 1)], pu=130))  # U != prev u + 1 is normal on futures
    s.on_snapshot(snap(120, [(5, 1)], [(50, 1)], key="binanceusdm:X"))
    assert s.synced and s.book.update_id == 140 and s.health.dropped == 1 and s.health.gaps == 0
    s.on_diff(diff(141, 150, [(4, 1)], pu=139))
    assert s.health.gaps == 1 and not s.synced


def okx_snapshot(seq, bids, asks, checksum=None, prev=-1):
    return DepthSnapshot("okx:X", 0, 0, seq, [(int(p.replace(".", "")), int(q)) for p, q in bids],
                         [(int(p.replace(".", "")), int(q)) for p, q in asks], False, prev, checksum,
                         ([[p, q, "0", "1"] for p, q in bids], [[p, q, "0", "1"] for p, q in asks]))


def okx_diff(prev, seq, bids=(), asks=(), checksum=None):
    return DepthDiff("okx:X", 0, 0, None, seq, prev, [int(p.replace(".", "")) for p, _ in bids], [int(q) for _, q in bids],
                     [int(p.replace(".", "")) for p, _ in asks], [int(q) for _, q in asks], checksum,
                     ([[p, q, "0", "1"] for p, q in bids], [[p, q, "0", "1"] for p, q in asks]))


def test_okx_seq_chain_heartbeat_reset_and_checksum():
    s = OkxSync("okx:X")
    bids, asks = [("3366.1", "7"), ("3366.0", "6")], [("3366.8", "9"), ("3368.0", "8")]
    s.on_snapshot(okx_snapshot(10, bids, asks, okx_checksum(bids, asks)), "ws")
    assert s.synced and s.health.checksum_ok == 1
    new_bids = [("3366.1", "5"), ("3366.0", "6")]
    s.on_diff(okx_diff(10, 15, [("3366.1", "5")], checksum=okx_checksum(new_bids, asks)))
    s.on_diff(okx_diff(15, 15))  # heartbeat
    s.on_diff(okx_diff(15, 3, [("3366.0", "0")]))  # sequence reset after maintenance
    s.on_diff(okx_diff(3, 5, checksum=0))  # checksum 0 (OKX since 2026): not checked
    h = s.health
    assert (h.applied, h.gaps, h.heartbeats, h.seq_resets, h.checksum_ok, h.checksum_bad) == (4, 0, 1, 1, 2, 0)
    s.on_diff(okx_diff(6, 8))  # prevSeqId 6 != 5
    assert h.gaps == 1 and not s.synced
    s.on_snapshot(okx_snapshot(20, bids, asks), "ws")
    s.on_diff(okx_diff(20, 21, [("3366.1", "1")], checksum=12345))  # wrong checksum
    assert h.checksum_bad == 1 and not s.synced and h.resyncs == 2


def test_okx_rest_bootstrap():
    s = OkxSync("okx:X")
    s.on_diff(okx_diff(4, 8, [("1.0", "1")]))
    s.on_diff(okx_diff(8, 12, [("1.1", "2")]))
    s.on_diff(okx_diff(12, 13, [("1.2", "3")]))
    # REST snapshot at seqId 10: drop seqId <= 10; the first kept has prevSeqId 8 <= 10 < 12.
    s.on_snapshot(okx_snapshot(10, [("0.9", "1")], [("2.0", "1")], prev=None), "rest")
    assert s.synced and s.book.update_id == 13 and s.health.dropped == 1 and s.health.gaps == 0
    assert s.book.bids == {9: 1, 11: 2, 12: 3}


def test_deleting_a_depth_event_is_detected_and_only_that_symbol_resyncs(shared_data):
    """Drop one depthUpdate of ZILUSDT from the 10-symbol recording: ZILUSDT sees a gap and
    waits for a snapshot; every other symbol stays in sync with no gap."""
    records = list(read_many([shared_data / "binance" / "BINANCE-b38f7c.0"]))
    depth_idx = [i for i, r in enumerate(records) if r.kind == "ws" and '"zilusdt@depth' in r.raw[:40]]
    victim = depth_idx[len(depth_idx) // 2]
    session = replay(r for i, r in enumerate(records) if i != victim)
    rep = session.report()["symbols"]
    assert rep["binance:ZILUSDT"]["gaps"] == 1 and rep["binance:ZILUSDT"]["resyncs"] == 1
    assert rep["binance:ZILUSDT"]["state"] == "waiting"
    assert session.snapshot_requests() == [("binance", "ZILUSDT")]
    others = {k: v for k, v in rep.items() if k != "binance:ZILUSDT" and v["events"]}
    assert others and all(v["gaps"] == 0 and v["synced"] and v["top_mismatch"] == 0 for v in others.values())


def test_new_connection_resyncs_and_off_grid_refines(shared_data):
    s = FeedSession()
    s.handle(RawRecord(1, "rest", "https://api.binance.com/api/v3/depth?symbol=ABCUSDT",
                       '{"lastUpdateId":10,"bids":[["1.00","5.0"]],"asks":[["1.10","1.0"]]}', "binance"))
    assert s.syncs["binance:ABCUSDT"].synced and s.parsers["binance"].symbols["ABCUSDT"].grid.tick == Decimal("0.01")
    # A finer price than the derived grid: the grid becomes finer, the book is rescaled exactly.
    s.handle(RawRecord(2, "ws", None, orjson.dumps({"e": "depthUpdate", "E": 1, "s": "ABCUSDT", "U": 11, "u": 11,
                                                    "b": [["1.005", "1.0"]], "a": []}).decode(), "binance"))
    sync = s.syncs["binance:ABCUSDT"]
    rep = s.report()["symbols"]["binance:ABCUSDT"]
    assert sync.synced and rep["best"]["bid"].rstrip("0") == "1.005" and rep["gaps"] == 0
    assert s.counts["grid_refinements"] == 1
    assert len(sync.book.bids) == 2
    s.handle(RawRecord(3, "open", "wss://stream.binance.com:9443/stream", "", "binance"))
    assert not sync.synced and rep["resyncs"] == 0 and sync.health.resyncs == 1
    s.handle(RawRecord(4, "ws", None, "garbage{", "binance"))
    assert s.counts["parse_errors"] == 1
