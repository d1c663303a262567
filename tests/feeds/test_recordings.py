"""Recording readers: the three formats into one record stream, and the capture round trip."""

from __future__ import annotations

import gzip

import orjson
import pytest

from feeds.recordings import (
    CaptureWriter,
    RawRecord,
    RecordingError,
    companion_files,
    merge_records,
    read_many,
    read_records,
    seconds_to_ns,
    sniff_format,
)


def test_seconds_to_ns_is_exact():
    assert seconds_to_ns("1617647603.4249449") == 1617647603424944900
    assert seconds_to_ns("1617647603") == 1617647603000000000
    assert seconds_to_ns("1.000000001999") == 1000000001
    with pytest.raises(RecordingError):
        seconds_to_ns("1e9")


def test_hftbacktest_lines(tmp_path):
    p = tmp_path / "x.gz"
    lines = [
        '100 {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}}',
        '200 {"lastUpdateId":1,"bids":[],"asks":[]}',
        '300 {"stream":"btcusdt@bookTicker","data":{"u":2,"s":"BTCUSDT","b":"1.00","B":"1.00","a":"2.00","A":"1.00"}}',
    ]
    with gzip.open(p, "wt") as f:
        f.write("\n".join(lines) + "\n")
    assert sniff_format(p) == "hftbacktest"
    recs = list(read_records(p))
    assert [r.kind for r in recs] == ["ws", "rest", "ws"]
    assert [r.ts_ns for r in recs] == [100, 200, 300]
    assert recs[1].url is None and recs[1].raw == lines[1].split(" ", 1)[1]
    assert {r.exchange for r in recs} == {"binance"}


def test_cryptofeed_lines(tmp_path):
    p = tmp_path / "EX.ws.1.0"
    p.write_text(
        "wss://stream.binance.com:9443/stream?streams=a@depth <-> 10.5\n"
        'wss://stream.binance.com:9443/stream?streams=a@depth <- 10.6: {"method":"SUBSCRIBE"}\n'
        '11.25: {"stream":"a@depth","data":{}}\n'
        'https://api.binance.com/api/v3/depth?symbol=A&limit=10 -> 12: {"lastUpdateId":5}\n'
        'configuration: {"l2_book":["A"]}\n'
    )
    (tmp_path / "EX.http.0.0").write_text('https://api.binance.com/api/v3/depth?symbol=B -> 11.0: {"lastUpdateId":6}\n')
    (tmp_path / "EX.0.gz").write_bytes(gzip.compress(b'https://api.binance.com/api/v3/exchangeInfo -> 9: {}\n'))
    (tmp_path / "OTHER.ws.1.0").write_text("")
    recs = list(read_records(p))
    assert [r.kind for r in recs] == ["open", "sent", "ws", "rest", "meta"]
    assert recs[2].ts_ns == 11_250_000_000 and recs[2].url.startswith("wss://")
    assert recs[3].url.endswith("limit=10") and recs[3].raw == '{"lastUpdateId":5}'
    assert recs[4].ts_ns == recs[3].ts_ns
    assert [q.name for q in companion_files(p)] == ["EX.0.gz", "EX.http.0.0"]
    merged = list(read_many([p]))
    assert [r.ts_ns for r in merged] == sorted(r.ts_ns for r in merged)
    assert merged[0].raw == "{}" and merged[0].kind == "rest"
    assert len(list(read_many([p], companions=False))) == 5


def test_capture_round_trip(tmp_path):
    for name in ("cap.jsonl", "cap.jsonl.gz"):
        p = tmp_path / name
        raw = '{"stream":"x@trade","data":{"p":"1.10","q":"\\u00e9"}}'
        with CaptureWriter(p, source="test") as w:
            w.write(5, "open", "", url="wss://stream.binance.com/stream")
            w.write(6, "ws", raw, url="wss://stream.binance.com/stream", exchange="binance")
            w.write(7, "rest", '{"lastUpdateId":1}', url="https://api.binance.com/api/v3/depth?symbol=X")
        assert sniff_format(p) == "tickdesk"
        recs = list(read_records(p))
        assert recs[1] == RawRecord(6, "ws", "wss://stream.binance.com/stream", raw, "binance")
        assert recs[2].exchange == "binance"  # from the URL
        assert w.count == 3


def test_bad_files(tmp_path):
    p = tmp_path / "junk.txt"
    p.write_text("hello world\n")
    with pytest.raises(RecordingError, match="not a known recording format"):
        sniff_format(p)
    q = tmp_path / "cap.jsonl"
    q.write_bytes(orjson.dumps({"tickdesk_capture": 99}) + b"\n")
    with pytest.raises(RecordingError, match="version"):
        list(read_records(q))


def test_merge_is_stable():
    a = [RawRecord(1, "ws", None, "a1"), RawRecord(3, "ws", None, "a3")]
    b = [RawRecord(1, "ws", None, "b1"), RawRecord(2, "ws", None, "b2")]
    assert [r.raw for r in merge_records([a, b])] == ["a1", "b1", "b2", "a3"]


def test_real_recordings_read(shared_data):
    counts = {}
    for p in sorted((shared_data / "binance").iterdir()) + sorted((shared_data / "okx").iterdir()):
        recs = list(read_records(p))
        assert recs, p
        ts = [r.ts_ns for r in recs]
        assert ts == sorted(ts), f"{p.name}: records out of time order"
        counts[p.name] = sum(r.kind == "ws" for r in recs)
    # Frame counts from the data README (depth + bookTicker + trade for BTCUSDT 2024).
    assert counts["binance_spot_btcusdt_20240808.gz"] + counts["binance_spot_btcusdt_20240809.gz"] == 6495 + 73174 + 19904
