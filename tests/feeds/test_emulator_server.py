"""``tickdesk emulator`` as a real subprocess on loopback: protocol, REST consistency, faults, errors.

A small client here speaks the exchange protocols directly (websockets + urllib), so these
tests check the emulator on its own; the consumers are tested against it elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import zlib

import pytest
import websockets
from emukit import emulator, run_cli

pytestmark = pytest.mark.slow


def _recv_json(ws, timeout: float = 10.0):
    return asyncio.wait_for(ws.recv(), timeout)


def test_cli_errors_are_one_line(tmp_path, shared_data):
    rec = shared_data / "binance" / "BINANCE.ws.1.0"
    cases = [
        (["--exchange", "binance", "--file", tmp_path / "missing.gz"], "does not exist"),
        (["--exchange", "binance", "--file", rec, "--faults", "drop=2"], "--faults"),
        (["--exchange", "binance", "--file", rec, "--faults", "boom=1"], "unknown fault"),
        (["--exchange", "okx", "--file", rec], "not okx"),
        (["--exchange", "binance", "--file", rec, "--speed", "-1"], "--speed"),
        (["--exchange", "binance", "--file", rec, "--port", "70000"], "--port"),
    ]
    for args, words in cases:
        proc = run_cli("emulator", *args, timeout=60)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], (args, proc.stderr)
        assert proc.stdout == ""


def test_binance_streams_control_and_consistent_snapshot(shared_data):
    rec = shared_data / "binance" / "BINANCE.ws.1.0"

    async def client(emu):
        url = emu.ws_url + "?streams=nknusdt@depth@100ms"
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["nknusdt@bookTicker"], "id": 1}))
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
            await ws.send(json.dumps({"method": "NOPE", "id": 3}))
            replies, depth = {}, []
            while len(replies) < 3 or len(depth) < 5:
                msg = json.loads(await _recv_json(ws))
                if "stream" in msg:
                    if msg["stream"] == "nknusdt@depth@100ms":
                        depth.append(msg["data"])
                else:
                    replies[msg.get("id")] = msg
            assert replies[1] == {"result": None, "id": 1}
            assert replies[2] == {"result": ["nknusdt@bookTicker", "nknusdt@depth@100ms"], "id": 2}
            assert replies[3]["code"] == 2 and "unknown variant NOPE" in replies[3]["msg"]
            # A REST snapshot now must be continued by the stream: the next event past its id
            # straddles it, and the debug true book at that id is the snapshot.
            status, snap = await asyncio.to_thread(emu.get, "/api/v3/depth?symbol=NKNUSDT&limit=5000")
            assert status == 200
            last = snap["lastUpdateId"]
            true_then = await asyncio.to_thread(emu.book, "NKNUSDT", last)
            assert true_then["bids"] == snap["bids"] and true_then["asks"] == snap["asks"]
            while True:
                msg = json.loads(await _recv_json(ws))
                if msg.get("stream") == "nknusdt@depth@100ms" and msg["data"]["u"] > last:
                    assert msg["data"]["U"] <= last + 1
                    break

    with emulator("--exchange", "binance", "--file", rec, "--speed", "4", "--loop") as emu:
        status, body = emu.get("/api/v3/depth?symbol=NOPE")
        assert status == 400 and body["code"] == -1121
        status, info = emu.get("/api/v3/exchangeInfo")
        assert status == 200 and {"NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"} <= {s["symbol"] for s in info["symbols"]}
        status, klines = emu.get("/api/v3/klines?symbol=NKNUSDT&interval=1m&limit=5")
        assert status == 200 and klines and all(len(row) == 12 for row in klines)
        asyncio.run(asyncio.wait_for(client(emu), 30))
        assert emu.state()["clients_total"] == 1


def _crc(bids, asks):
    parts = []
    for i in range(25):
        if i < len(bids):
            parts.append(f"{bids[i][0]}:{bids[i][1]}")
        if i < len(asks):
            parts.append(f"{asks[i][0]}:{asks[i][1]}")
    c = zlib.crc32(":".join(parts).encode())
    return c - (1 << 32) if c & 0x80000000 else c


class _Book:
    """A plain string book for the test's own OKX client (independent of feeds/)."""

    def __init__(self, bids, asks):
        self.sides = [{float(p): [p, s] for p, s, *_ in bids}, {float(p): [p, s] for p, s, *_ in asks}]

    def apply(self, bids, asks):
        for side, levels in zip(self.sides, (bids, asks)):
            for p, s, *_ in levels:
                if float(s) == 0:
                    side.pop(float(p), None)
                else:
                    side[float(p)] = [p, s]

    def top(self):
        b, a = self.sides
        return [b[k] for k in sorted(b, reverse=True)], [a[k] for k in sorted(a)]


def test_okx_subscribe_seq_chain_and_checksums(shared_data):
    rec = shared_data / "okx" / "OKX.ws.1.0"

    async def client(emu):
        async with websockets.connect(emu.ws_url) as ws:
            await ws.send("ping")
            assert await _recv_json(ws) == "pong"
            await ws.send(json.dumps({"id": "7", "op": "subscribe", "args": [
                {"channel": "books", "instId": "BTC-USDT"}, {"channel": "books", "instId": "NOPE-USDT"}]}))
            ack = json.loads(await _recv_json(ws))
            assert ack["event"] == "subscribe" and ack["id"] == "7" and ack["arg"] == {"channel": "books", "instId": "BTC-USDT"}
            assert ack["connId"]
            err = json.loads(await _recv_json(ws))
            assert err["event"] == "error" and err["code"] == "60018"
            book, prev, updates = None, None, 0
            while updates < 40:
                msg = json.loads(await _recv_json(ws))
                d = msg["data"][0]
                if msg["action"] == "snapshot":
                    assert book is None and d["prevSeqId"] == -1
                    book = _Book(d["bids"], d["asks"])
                else:
                    assert book is not None and d["prevSeqId"] == prev
                    book.apply(d["bids"], d["asks"])
                    updates += 1
                assert d["seqId"] >= 0
                prev = d["seqId"]
                assert _crc(*[[lvl[:2] for lvl in side] for side in book.top()]) == d["checksum"]
            true = await asyncio.to_thread(emu.book, "BTC-USDT", prev)
            mine = book.top()
            assert true["bids"] == [lvl[:2] for lvl in mine[0]] and true["asks"] == [lvl[:2] for lvl in mine[1]]
            status, rest = await asyncio.to_thread(emu.get, "/api/v5/market/books?instId=BTC-USDT&sz=400")
            assert status == 200 and rest["code"] == "0" and rest["data"][0]["seqId"] >= prev

    with emulator("--exchange", "okx", "--file", rec, "--speed", "3", "--loop") as emu:
        status, inst = emu.get("/api/v5/public/instruments?instType=SPOT")
        assert status == 200 and any(i["instId"] == "BTC-USDT" for i in inst["data"])
        asyncio.run(asyncio.wait_for(client(emu), 40))


def test_faults_are_applied_and_counted(shared_data):
    rec = shared_data / "binance" / "BINANCE.ws.1.0"

    async def client(emu):
        got, garbage, closed = 0, 0, False
        async with websockets.connect(emu.ws_url + "?streams=nknusdt@depth@100ms") as ws:
            try:
                while True:
                    text = await _recv_json(ws)
                    try:
                        json.loads(text)["data"]["u"]
                        got += 1
                    except (ValueError, KeyError, TypeError):
                        garbage += 1
            except websockets.ConnectionClosed as exc:
                closed = exc.rcvd is not None and exc.rcvd.code == 1001
        return got, garbage, closed

    with emulator("--exchange", "binance", "--file", rec, "--speed", "4", "--loop",
                  "--faults", "drop=0.2,dup=0.2,garbage=0.2,reorder=0.1,disconnect=2,seed=3") as emu:
        got, garbage, closed = asyncio.run(asyncio.wait_for(client(emu), 30))
        faults = emu.state()["faults"]
    assert closed and faults["disconnects"] == 1
    assert faults["dropped"] > 0 and faults["duplicated"] > 0 and faults["reordered"] > 0
    assert garbage == faults["garbage"] > 0
    assert emu.final is not None and emu.final["faults"]["garbage"] == garbage
