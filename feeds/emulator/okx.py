"""OKX v5 public on the emulator: subscribe/ack, books with seqId and checksum, REST.

WebSocket ``/ws/v5/public`` and ``/ws/v5/business``: text ``ping`` -> ``pong``; ``subscribe``
/ ``unsubscribe`` answered with one ack per arg (with ``connId``); unknown channels get error
``60018``, malformed requests ``60012``; a connection with no traffic for 30 s is closed
(code 4004) as OKX does.  As on OKX, candle channels (``candle1m``...) exist only on
``/business`` and the market channels only on ``/public`` (60018 "Wrong URL or channel").

Candles: recorded ``candle*`` frames are served as recorded. A recording without any (every
real one we have) gets candles derived from the trades it serves (:mod:`feeds.emulator.candles`):
pushed at most once a second while forming (``confirm`` "0"), and once more with ``confirm``
"1" when a trade of the next bucket closes the candle; the emulator logs that it derives them
and ``/debug/state`` says ``"candles": "derived from trades"``.

``books``: on subscribe the client gets a snapshot of the TRUE book (``prevSeqId`` -1, unless
``okx_snapshot`` is off: the 2026 mode where the client bootstraps from REST), then updates.
The recording predates ``seqId``: the emulator numbers its own updates (a per-instrument chain,
``prevSeqId`` = the previous ``seqId``, steps of 1..3), and computes each update's CRC32
checksum over the true book (or sends 0, the OKX behaviour since June 2026).  ``books5`` and
``bbo-tbt`` are derived from the true book.  A recorded snapshot seen when the book is
already known (a re-subscription in the recording, or the start of a new ``--loop`` pass) is
served as the update that turns the book into it, so the stream stays continuous.

REST: ``/api/v5/market/candles`` and ``/history-candles`` (the ``--klines`` file, or candles
built from the recorded trades; newest first, ``after``/``before`` paging as OKX),
``/api/v5/market/books`` (the true book, ``sz`` up to 400, with ``seqId``),
``/api/v5/public/instruments`` (recorded, or synthesised for the recorded instruments),
``/api/v5/public/time``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import zlib
from decimal import Decimal

import orjson

from feeds.candlefiles import read_candle_file
from feeds.emulator.candles import CandleBuilder, Throttle, aggregate, is_okx_candle, okx_interval, trade_rows
from feeds.emulator.source import Item
from feeds.emulator.truebook import TrueBook, okx_checksum

log = logging.getLogger(__name__)

BOOK_CHANNELS = ("books", "books-l2-tbt", "books50-l2-tbt")
DERIVED = ("books5", "bbo-tbt")
IDLE_SECONDS = 30.0


def _now_ms_str() -> str:
    return str(time.time_ns() // 1_000_000)


class _Inst:
    __slots__ = ("name", "book", "seq_rng", "channel", "tspan", "t_min", "price_dp", "qty_dp",
                 "recorded_cs_ok", "recorded_cs_bad", "applied")

    def __init__(self, name: str, history: int, seed: int) -> None:
        self.name = name
        self.book = TrueBook(history)
        self.seq_rng = random.Random(zlib.crc32(name.encode()) ^ seed)
        self.channel = "books"
        self.tspan = 0
        self.t_min: int | None = None
        self.price_dp = 0
        self.qty_dp = 0
        self.recorded_cs_ok = 0
        self.recorded_cs_bad = 0
        self.applied = 0

    def next_seq(self) -> int:
        if self.book.id is None:
            return 10_000_000 + self.seq_rng.randrange(1_000_000)
        return self.book.id + self.seq_rng.randint(1, 3)


class OkxVenue:
    def __init__(self, emu) -> None:
        self.emu = emu
        self.insts: dict[str, _Inst] = {}
        self.routes: dict[tuple[str, str], set] = {}  # (channel, instId) -> clients
        self.recorded_candles = any(is_okx_candle(it.kind) for it in emu.timeline.items)
        self.candles: dict[tuple[str, str], CandleBuilder] = {}  # (channel, instId), derived only
        self.candle_throttle = Throttle(self._push_forming)  # OKX: at most one push a second
        self.minute_rows: dict[str, list[tuple]] = {}  # REST candles: 1-minute rows per instrument
        self._prepare()
        if not self.recorded_candles:
            log.info("okx: the recording has no candle frames: candles are derived from the recorded trades")

    def _inst(self, name: str) -> _Inst:
        i = self.insts.get(name)
        if i is None:
            i = self.insts[name] = _Inst(name, self.emu.config.history, self.emu.config.faults.seed)
        return i

    def _prepare(self) -> None:
        tids: dict[str, list[int]] = {}
        for it in self.emu.timeline.items:
            inst = self._inst(it.symbol)
            if it.kind in BOOK_CHANNELS:
                inst.channel = it.kind
                d = orjson.loads(it.raw)["data"][0]
                for lvl in d.get("bids", []) + d.get("asks", []):
                    inst.price_dp = max(inst.price_dp, _places(lvl[0]))
                    inst.qty_dp = max(inst.qty_dp, _places(lvl[1]))
            elif it.kind == "trades":
                for t in orjson.loads(it.raw)["data"]:
                    if str(t.get("tradeId", "")).isdigit():
                        tids.setdefault(it.symbol, []).append(int(t["tradeId"]))
        for name, ids in tids.items():
            self.insts[name].t_min = min(ids)
            self.insts[name].tspan = max(ids) - min(ids) + 1

    # ------------------------------------------------------------------ playback
    def publish(self, item: Item, loop_k: int) -> None:
        kind = item.kind
        if kind in BOOK_CHANNELS:
            self._book_frame(item, loop_k)
            return
        clients = self.routes.get((kind, item.symbol))
        if not clients and not (kind == "trades" and self.candles):
            return
        msg = orjson.loads(item.raw)
        rewrite = self.emu.config.rewrite_times
        if kind == "trades" and loop_k:
            span = self.insts[item.symbol].tspan
            for t in msg["data"]:
                if str(t.get("tradeId", "")).isdigit():
                    t["tradeId"] = str(int(t["tradeId"]) + loop_k * span)
        if rewrite:
            now = _now_ms_str()
            for d in msg["data"]:
                if isinstance(d, dict) and "ts" in d:
                    d["ts"] = now
        if kind == "trades" and self.candles:
            self._candles_from(item.symbol, msg["data"])
        if not clients:
            return
        text = orjson.dumps(msg).decode()
        for c in list(clients):
            c.send_data(text, False)

    # ------------------------------------------------------------------ derived candles
    def _candles_from(self, inst: str, trades: list) -> None:
        for (channel, name), builder in self.candles.items():
            if name != inst:
                continue
            key = (channel, name)
            for t in trades:
                if not isinstance(t, dict) or "px" not in t:
                    continue
                closed = builder.add(int(t["ts"]), t["px"], t["sz"])
                if closed is not None:
                    self._push_candle(key, closed.okx_row(True))
                    self.candle_throttle.reset(key)  # the new candle may go out at once
            self.candle_throttle.soon(key, 1.0)

    def _push_forming(self, key: tuple[str, str]) -> None:
        builder = self.candles.get(key)
        if builder is not None and builder.current is not None:
            self._push_candle(key, builder.current.okx_row(False))

    def _push_candle(self, key: tuple[str, str], row: list[str]) -> None:
        clients = self.routes.get(key)
        if not clients:
            return
        text = orjson.dumps({"arg": {"channel": key[0], "instId": key[1]}, "data": [row]}).decode()
        for c in list(clients):
            c.send_data(text, False)

    def _book_frame(self, item: Item, loop_k: int) -> None:
        inst = self.insts[item.symbol]
        msg = orjson.loads(item.raw)
        d = msg["data"][0]
        bids, asks = d.get("bids", []), d.get("asks", [])
        book = inst.book
        if msg.get("action") == "snapshot" or "action" not in msg:
            if not book.known:
                book.reset(bids, asks, inst.next_seq())
                self._check_recorded(inst, d)
                self._snapshot_pending(inst)
                self._derived(inst)
                return
            bids, asks = book.diff_to(bids, asks, zero="0")
            recorded_cs = None
        else:
            if not book.known:
                return  # an update before any snapshot: nothing to apply it to
            recorded_cs = d.get("checksum") if loop_k == 0 else None
        prev = book.id
        new = inst.next_seq()
        book.apply(bids, asks, new)
        inst.applied += 1
        if recorded_cs not in (None, 0):
            self._check_recorded(inst, d)
        clients = self.routes.get((inst.channel, inst.name))
        if clients:
            cs = self._checksum(book)
            frame = {
                "arg": {"channel": inst.channel, "instId": inst.name},
                "action": "update",
                "data": [{"asks": asks, "bids": bids, "ts": self._ts(d), "checksum": cs, "prevSeqId": prev, "seqId": new}],
            }
            text = orjson.dumps(frame).decode()
            corrupt = None
            if cs != 0 and self.emu.config.faults.corrupt > 0:
                frame["data"][0]["checksum"] = cs + 1 if cs < 2**31 - 1 else cs - 1
                corrupt = orjson.dumps(frame).decode()
            snap = self.emu.config.okx_snapshot
            for c in list(clients):
                if not snap or (inst.channel, inst.name) in c.ready:
                    c.send_data(text, True, corrupt, inst.name)
        self._derived(inst)

    def _ts(self, d: dict) -> str:
        return _now_ms_str() if self.emu.config.rewrite_times else str(d.get("ts", _now_ms_str()))

    def _checksum(self, book: TrueBook) -> int:
        if self.emu.config.okx_checksum == "zero":
            return 0
        bids, asks = book.levels(25)
        return okx_checksum(bids, asks)

    def _check_recorded(self, inst: _Inst, d: dict) -> None:
        """Self-check: the recorded checksum must match the true book (it does on real data)."""
        rec = d.get("checksum")
        if rec in (None, 0):
            return
        bids, asks = inst.book.levels(25)
        if okx_checksum(bids, asks) == rec:
            inst.recorded_cs_ok += 1
        else:
            inst.recorded_cs_bad += 1

    def _snapshot_frame(self, inst: _Inst) -> str:
        book = inst.book
        bids, asks = book.levels()
        return orjson.dumps({
            "arg": {"channel": inst.channel, "instId": inst.name},
            "action": "snapshot",
            "data": [{"asks": asks, "bids": bids, "ts": _now_ms_str(), "checksum": self._checksum(book),
                      "prevSeqId": -1, "seqId": book.id}],
        }).decode()

    def _snapshot_pending(self, inst: _Inst) -> None:
        key = (inst.channel, inst.name)
        if not self.emu.config.okx_snapshot:
            return
        text = None
        for c in list(self.routes.get(key, ())):
            if key not in c.ready:
                text = text or self._snapshot_frame(inst)
                c.send_data(text, True, None, inst.name)
                c.ready.add(key)

    def _derived(self, inst: _Inst) -> None:
        for channel, depth in (("books5", 5), ("bbo-tbt", 1)):
            clients = self.routes.get((channel, inst.name))
            if not clients:
                continue
            bids, asks = inst.book.levels(depth)
            text = orjson.dumps({
                "arg": {"channel": channel, "instId": inst.name},
                "data": [{"asks": asks, "bids": bids, "instId": inst.name, "ts": _now_ms_str(), "seqId": inst.book.id}],
            }).decode()
            for c in list(clients):
                c.send_data(text, False)

    def on_loop(self, loop_k: int) -> None:
        """Nothing to do: the recorded snapshot of the next pass becomes a diff update."""

    # ------------------------------------------------------------------ websocket
    def accepts_ws_path(self, path: str) -> bool:
        return path in ("/ws/v5/public", "/ws/v5/business")

    async def handle(self, client) -> None:
        from urllib.parse import urlsplit

        client.business = urlsplit(client.ws.request.path).path.rstrip("/").endswith("/business")
        client.conn_id = format(zlib.crc32(f"{id(client)}:{client.index}".encode()), "08x")
        client.last_io = client.loop.time()
        watchdog = asyncio.create_task(self._idle_watch(client))
        try:
            async for message in client.ws:
                client.last_io = client.loop.time()
                if isinstance(message, bytes):
                    continue
                if message == "ping":
                    client.send_control("pong")
                    continue
                self._control(client, message)
        finally:
            watchdog.cancel()

    async def _idle_watch(self, client) -> None:
        while not client.closed:
            await asyncio.sleep(1.0)
            if client.sent != getattr(client, "_seen_sent", -1):
                client._seen_sent = client.sent
                client.last_io = max(client.last_io, client.loop.time())
            if client.loop.time() - client.last_io > IDLE_SECONDS:
                await client.ws.close(4004, "No data received in 30s.")
                return

    def _error(self, client, code: str, msg: str, rid=None) -> None:
        body = {"event": "error", "code": code, "msg": msg, "connId": client.conn_id}
        if rid is not None:
            body = {"id": rid, **body}
        client.send_control(orjson.dumps(body).decode())

    def _control(self, client, message: str) -> None:
        try:
            req = orjson.loads(message)
        except orjson.JSONDecodeError:
            self._error(client, "60012", f"Invalid request: {message[:200]}")
            return
        if not isinstance(req, dict) or req.get("op") not in ("subscribe", "unsubscribe") or not isinstance(req.get("args"), list):
            self._error(client, "60012", f"Invalid request: {message[:200]}", req.get("id") if isinstance(req, dict) else None)
            return
        op, rid = req["op"], req.get("id")
        for arg in req["args"]:
            if not isinstance(arg, dict) or not isinstance(arg.get("channel"), str) or not isinstance(arg.get("instId"), str):
                self._error(client, "60012", f"Invalid request: {message[:200]}", rid)
                continue
            channel, inst = arg["channel"], arg["instId"]
            if is_okx_candle(channel):
                known = client.business and inst in self.insts and (
                    self.recorded_candles or okx_interval(channel) is not None)
            else:
                known = not client.business and inst in self.insts and (
                    channel in ("trades", "tickers") + DERIVED or channel == self.insts[inst].channel)
            if op == "subscribe" and not known:
                self._error(client, "60018", f"Wrong URL or channel:{channel},instId:{inst} doesn't exist.", rid)
                continue
            key = (channel, inst)
            ack = {"event": op, "arg": {"channel": channel, "instId": inst}, "connId": client.conn_id}
            if rid is not None:
                ack = {"id": rid, **ack}
            client.send_control(orjson.dumps(ack).decode())
            if op == "subscribe":
                client.subs[key] = arg
                self.routes.setdefault(key, set()).add(client)
                if is_okx_candle(channel) and not self.recorded_candles and key not in self.candles:
                    self.candles[key] = CandleBuilder(*okx_interval(channel))
                if channel == self.insts[inst].channel:
                    client.ready.discard(key)
                    book = self.insts[inst].book
                    if not self.emu.config.okx_snapshot:
                        client.ready.add(key)
                    elif book.known:
                        client.send_data(self._snapshot_frame(self.insts[inst]), True, None, inst)
                        client.ready.add(key)
                self.emu.begin()
            else:
                client.subs.pop(key, None)
                client.ready.discard(key)
                self.routes.get(key, set()).discard(client)
        client.resubscribed()

    def forget(self, client) -> None:
        for key in list(client.subs):
            self.routes.get(key, set()).discard(client)
        client.subs.clear()
        client.ready.clear()

    # ------------------------------------------------------------------ REST
    def rest(self, path: str, q: dict) -> tuple[int, object, dict]:
        if path in ("/api/v5/market/books", "/api/v5/market/books-full"):
            return self._books(q, 5000 if path.endswith("full") else 400)
        if path == "/api/v5/public/instruments":
            return self._instruments(q)
        if path in ("/api/v5/market/candles", "/api/v5/market/history-candles"):
            return self._candles(q, 300 if path.endswith("/candles") else 100)
        if path == "/api/v5/public/time":
            return 200, {"code": "0", "msg": "", "data": [{"ts": _now_ms_str()}]}, {}
        return 404, {"code": "50000", "msg": f"no such endpoint {path} on the tickdesk emulator", "data": []}, {}

    def _books(self, q: dict, max_sz: int) -> tuple[int, object, dict]:
        name = q.get("instId") or ""
        inst = self.insts.get(name)
        if inst is None:
            return 200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []}, {}
        try:
            sz = int(q.get("sz") or 1)
        except ValueError:
            return 200, {"code": "51000", "msg": "Parameter sz error", "data": []}, {}
        sz = max(1, min(sz, max_sz))
        if not inst.book.known:
            return 200, {"code": "0", "msg": "", "data": [{"asks": [], "bids": [], "ts": _now_ms_str(), "seqId": -1}]}, {}
        bids, asks = inst.book.levels(sz)
        return 200, {"code": "0", "msg": "", "data": [{"asks": asks, "bids": bids, "ts": _now_ms_str(), "seqId": inst.book.id}]}, {}

    def _candles(self, q: dict, max_limit: int) -> tuple[int, object, dict]:
        """OKX candles, newest first: ``after`` = older than, ``before`` = newer than (ms).
        From the ``--klines`` file when given, else built from the recorded trades."""
        inst = self.insts.get(q.get("instId") or "")
        if inst is None:
            return 200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []}, {}
        spec = okx_interval("candle" + (q.get("bar") or "1m"))
        if spec is None:
            return 200, {"code": "51000", "msg": "Parameter bar error", "data": []}, {}
        try:
            limit = max(1, min(max_limit, int(q.get("limit") or 100)))
            after = int(q["after"]) if q.get("after") else None
            before = int(q["before"]) if q.get("before") else None
        except ValueError:
            return 200, {"code": "51000", "msg": "Parameter after/before/limit error", "data": []}, {}
        now = time.time_ns() // 1_000_000
        out = []
        for c in reversed(aggregate(self._minute_rows(inst.name), *spec)):
            if (after is not None and c.start_ms >= after) or (before is not None and c.start_ms <= before):
                continue
            out.append(c.okx_row(c.start_ms + spec[0] <= now))
            if len(out) >= limit:
                break
        return 200, {"code": "0", "msg": "", "data": out}, {}

    def _minute_rows(self, name: str) -> list[tuple]:
        rows = self.minute_rows.get(name)
        if rows is None:
            path = self.emu.config.klines_path
            if path:
                rows = self.minute_rows["*file*"] = self.minute_rows.get("*file*") or read_candle_file(path, None)
            else:
                trades = []
                for it in self.emu.timeline.items:
                    if it.kind == "trades" and it.symbol == name:
                        trades.extend((int(t["ts"]), t["px"], t["sz"]) for t in orjson.loads(it.raw)["data"])
                rows = trade_rows(sorted(trades, key=lambda x: x[0]))
            self.minute_rows[name] = rows
        return rows

    def _instruments(self, q: dict) -> tuple[int, object, dict]:
        inst_type = (q.get("instType") or "").upper()
        if inst_type not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
            return 200, {"code": "51000", "msg": "Parameter instType error", "data": []}, {}
        key = "instruments:" + inst_type + (":" + q["uly"] if q.get("uly") else "")
        recorded = self.emu.timeline.rest.get(key)
        data = list(recorded.get("data", [])) if recorded else []
        have = {x.get("instId") for x in data}
        if inst_type != "OPTION":
            for name, inst in self.insts.items():
                if name not in have and _inst_type(name) == inst_type:
                    data.append(_synth_instrument(inst, inst_type))
        if q.get("instId"):
            data = [x for x in data if x.get("instId") == q["instId"]]
        return 200, {"code": "0", "msg": "", "data": data}, {}

    # ------------------------------------------------------------------ debug
    def true_book(self, symbol: str) -> TrueBook | None:
        inst = self.insts.get(symbol) or self.insts.get(symbol.upper())
        return inst.book if inst else None

    def book_symbols(self) -> list[str]:
        return sorted(n for n, i in self.insts.items() if i.book.known)

    def symbols_state(self) -> dict:
        out = {}
        for name, i in self.insts.items():
            bid, ask = i.book.best()
            out[name] = {
                "id": i.book.id,
                "known": i.book.known,
                "applied": i.applied,
                "bid_levels": len(i.book.bids),
                "ask_levels": len(i.book.asks),
                "best_bid": bid[:2] if bid else None,
                "best_ask": ask[:2] if ask else None,
                "candles": "recorded" if self.recorded_candles else "derived from trades",
                "recorded_checksum_ok": i.recorded_cs_ok,
                "recorded_checksum_bad": i.recorded_cs_bad,
            }
        return out


def _places(text: str) -> int:
    _, _, frac = str(text).partition(".")
    return len(frac.rstrip("0"))


def _inst_type(name: str) -> str:
    parts = name.split("-")
    if len(parts) == 3 and parts[2] == "SWAP":
        return "SWAP"
    if len(parts) == 3 and parts[2].isdigit():
        return "FUTURES"
    if len(parts) > 3:
        return "OPTION"
    return "SPOT"


def _synth_instrument(inst: _Inst, inst_type: str) -> dict:
    parts = inst.name.split("-")
    tick = format(Decimal(1).scaleb(-inst.price_dp), "f") if inst.price_dp else "1"
    lot = format(Decimal(1).scaleb(-inst.qty_dp), "f") if inst.qty_dp else "1"
    spot = inst_type == "SPOT"
    return {
        "alias": "", "baseCcy": parts[0] if spot else "", "category": "1",
        "ctMult": "" if spot else "1", "ctType": "" if spot else ("inverse" if parts[1] == "USD" else "linear"),
        "ctVal": "" if spot else "1", "ctValCcy": "" if spot else parts[0], "expTime": "",
        "instId": inst.name, "instType": inst_type, "lever": "10", "listTime": "1548133413000",
        "lotSz": lot, "maxIcebergSz": "9999999999", "maxLmtSz": "9999999999", "maxMktSz": "1000000",
        "maxStopSz": "1000000", "maxTriggerSz": "9999999999", "maxTwapSz": "9999999999", "minSz": lot,
        "optType": "", "quoteCcy": parts[1] if spot else "", "settleCcy": "" if spot else parts[0],
        "state": "live", "stk": "", "tickSz": tick, "uly": "" if spot else f"{parts[0]}-{parts[1]}",
        "instFamily": "" if spot else f"{parts[0]}-{parts[1]}",
    }
