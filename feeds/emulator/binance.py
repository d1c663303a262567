"""Binance spot (and USD-M futures) on the emulator: streams, control messages and REST.

WebSocket (``/stream?streams=a/b`` combined with ``{"stream","data"}`` envelopes, ``/ws/<s>``
raw, both accept ``SUBSCRIBE`` / ``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS`` / ``SET_PROPERTY`` /
``GET_PROPERTY``; the server pings every 20 s; more than 5 incoming messages per second
disconnects).  REST: ``/api/v3/depth`` (``/fapi/v1/depth`` for a futures recording) serving
the TRUE book with its ``lastUpdateId``, ``/api/v3/exchangeInfo`` (recorded, completed with
synthesised entries for recorded symbols it lacks), ``/api/v3/klines`` (a candle file, or
candles built from the recorded trades), ``/api/v3/ping``, ``/api/v3/time``.  A kline stream
(``<s>@kline_<i>``) the recording lacks is built from the trades it serves
(:class:`feeds.emulator.candles.BinanceKline`).

The TRUE book of a symbol starts from the recorded REST snapshot (``lastUpdateId`` L) and
applies every recorded depth event with ``u > L`` -- exactly the official procedure, run
server side.  With ``--loop``, at the end of the recording a synthetic depth event turns the
book back into the snapshot state and every id (update ids, trade ids) moves on by a fixed
offset, so a consumer sees one continuous, gap-free stream for as long as it runs.
"""

from __future__ import annotations

import time
from decimal import Decimal

import orjson

from feeds.candlefiles import read_candle_file
from feeds.emulator.candles import BinanceKline, Throttle
from feeds.emulator.source import Item
from feeds.emulator.truebook import TrueBook

QUOTES = ("USDT", "FDUSD", "BUSD", "USDC", "TUSD", "BTC", "ETH", "BNB", "EUR", "AUD", "BRL", "TRY", "GBP",
          "RUB", "UAH", "BIDR", "IDRT", "NGN", "ZAR", "PAX", "DAI", "VAI", "XRP", "TRX", "DOGE", "JPY")

INTERVALS_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
                "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000,
                "1d": 86_400_000}


KLINE_MS = {"1s": 1_000, **INTERVALS_MS}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _Sym:
    """Per-symbol playback state."""

    __slots__ = ("name", "book", "start_bids", "start_asks", "start_id", "first_chain", "offset", "tspan",
                 "aspan", "t_min", "a_min", "price_dp", "qty_dp", "applied", "skipped_pre", "last_trade_ms")

    def __init__(self, name: str, history: int) -> None:
        self.name = name
        self.book = TrueBook(history)
        self.start_bids: list = []
        self.start_asks: list = []
        self.start_id: int | None = None  # snapshot lastUpdateId (None: no snapshot recorded)
        self.first_chain: int | None = None  # U (spot) or pu (futures) of the first applied event
        self.offset = 0  # id offset of the current loop
        self.tspan = 0
        self.aspan = 0
        self.t_min: int | None = None
        self.a_min: int | None = None
        self.price_dp = 0
        self.qty_dp = 0
        self.applied = 0
        self.skipped_pre = 0
        self.last_trade_ms = 0  # trade times stay in trade-id order when rewritten


class BinanceVenue:
    def __init__(self, emu) -> None:
        self.emu = emu
        tl = emu.timeline
        self.futures = tl.exchange == "binanceusdm"
        self.syms: dict[str, _Sym] = {}
        self.routes: dict[str, dict] = {}  # recorded stream -> {client: requested name}
        self.recorded_streams: set[str] = {it.stream for it in tl.items}
        self.kline_rows: list | None = None
        self.klines: dict[str, BinanceKline] = {}  # derived kline stream -> builder
        self.klines_by_symbol: dict[str, list[str]] = {}
        self.kline_throttle = Throttle(self._push_kline)
        self.weight_used = 0
        self.weight_minute = 0
        self._prepare()

    # ------------------------------------------------------------------ setup
    def _sym(self, name: str) -> _Sym:
        s = self.syms.get(name)
        if s is None:
            s = self.syms[name] = _Sym(name, self.emu.config.history)
        return s

    def _prepare(self) -> None:
        tl = self.emu.timeline
        for name, snaps in tl.snapshots.items():
            s = self._sym(name)
            body = snaps[0][1]
            s.start_bids = [list(x) for x in body.get("bids", [])]
            s.start_asks = [list(x) for x in body.get("asks", [])]
            s.start_id = int(body["lastUpdateId"])
            s.book.reset(s.start_bids, s.start_asks, s.start_id)
            for lvl in s.start_bids + s.start_asks:
                self._grid(s, lvl[0], lvl[1])
        t_ids: dict[str, list[int]] = {}
        a_ids: dict[str, list[int]] = {}
        for it in tl.items:
            s = self._sym(it.symbol)
            if it.kind in ("depth", "trade", "aggTrade", "bookTicker"):
                d = orjson.loads(it.raw)
                if it.kind == "depth":
                    for lvl in d.get("b", []) + d.get("a", []):
                        self._grid(s, lvl[0], lvl[1])
                elif it.kind == "trade":
                    self._grid(s, d["p"], d["q"])
                    t_ids.setdefault(it.symbol, []).append(int(d["t"]))
                elif it.kind == "aggTrade":
                    self._grid(s, d["p"], d["q"])
                    a_ids.setdefault(it.symbol, []).append(int(d["a"]))
                    t_ids.setdefault(it.symbol, []).extend((int(d["f"]), int(d["l"])))
                else:
                    self._grid(s, d["b"], d["B"])
                    self._grid(s, d["a"], d["A"])
        for name, ids in t_ids.items():
            self.syms[name].t_min = min(ids)
            self.syms[name].tspan = max(ids) - min(ids) + 1
        for name, ids in a_ids.items():
            self.syms[name].a_min = min(ids)
            self.syms[name].aspan = max(ids) - min(ids) + 1
        if self.emu.config.klines_path:
            self.kline_rows = _read_kline_file(self.emu.config.klines_path)

    @staticmethod
    def _grid(s: _Sym, price: str, qty: str) -> None:
        s.price_dp = max(s.price_dp, _places(price))
        s.qty_dp = max(s.qty_dp, _places(qty))

    # ------------------------------------------------------------------ playback
    def publish(self, item: Item, loop_k: int) -> None:
        s = self.syms[item.symbol]
        routes = self.routes.get(item.stream)
        kind = item.kind
        if kind == "depth":
            data = orjson.loads(item.raw)
            if not self._apply_depth(s, data, loop_k):
                return
        else:
            derived = self.klines_by_symbol.get(item.symbol) if kind in ("trade", "aggTrade") else None
            if not routes and not derived:
                return
            data = orjson.loads(item.raw) if (loop_k or self.emu.config.rewrite_times or derived) else None
            if data is not None:
                self._shift(s, kind, data, loop_k)
            if derived:
                self._klines_from(derived, data)
        if routes:
            text = item.raw if data is None else orjson.dumps(data).decode()
            self._route(item.stream, routes, text, kind == "depth", item.symbol)

    # ------------------------------------------------------------------ derived klines
    def _klines_from(self, streams: list[str], trade: dict) -> None:
        for stream in streams:
            b = self.klines[stream]
            closed = b.add(trade)
            if closed is not None:
                self._send_kline(stream, closed)
                self.kline_throttle.reset(stream)
            self.kline_throttle.soon(stream, 1.0 if b.interval == "1s" else 2.0)

    def _push_kline(self, stream: str) -> None:
        b = self.klines.get(stream)
        if b is not None and b.k is not None:
            self._send_kline(stream, b.payload(False))

    def _send_kline(self, stream: str, k: dict) -> None:
        routes = self.routes.get(stream)
        if routes:
            event = {"e": "kline", "E": _now_ms(), "s": k["s"], "k": k}
            self._route(stream, routes, orjson.dumps(event).decode(), False, k["s"])

    def _derive_kline(self, stream: str) -> None:
        """A kline stream the recording lacks: build it from the symbol's trades (once)."""
        if stream in self.klines or stream in self.recorded_streams:
            return
        sym, _, rest = stream.partition("@kline_")
        s = self.syms.get(sym.upper())
        width = KLINE_MS.get(rest)
        if s is None or width is None:
            return
        self.klines[stream] = BinanceKline(s.name, rest, width, s.qty_dp)
        self.klines_by_symbol.setdefault(s.name, []).append(stream)

    def _apply_depth(self, s: _Sym, d: dict, loop_k: int) -> bool:
        """Update the true book with a recorded event; rewrite ids/times; False: not served."""
        u = int(d["u"])
        if loop_k == 0:
            if s.start_id is None and not s.book.known:
                # No snapshot recorded: the true book starts empty just before this event.
                s.start_id = int(d["U"]) - 1
                s.book.reset([], [], s.start_id)
            if u <= s.start_id:
                s.skipped_pre += 1
                if self.emu.config.rewrite_times:
                    self._times(d)
                return True  # served as recorded (the consumer must discard it), not applied
            if s.first_chain is None:
                s.first_chain = int(d["pu"]) if self.futures else int(d["U"])
        elif u <= s.start_id:
            return False  # pre-snapshot events are only served on the first pass
        off = s.offset
        if off:
            d["U"] = int(d["U"]) + off
            d["u"] = u + off
            if "pu" in d:
                d["pu"] = int(d["pu"]) + off
        s.book.apply(d.get("b", []), d.get("a", []), u + off)
        s.applied += 1
        if self.emu.config.rewrite_times:
            self._times(d)
        return True

    def _shift(self, s: _Sym, kind: str, d: dict, loop_k: int) -> None:
        if loop_k:
            if kind == "bookTicker" and s.offset:
                d["u"] = int(d["u"]) + s.offset
            elif kind == "trade":
                d["t"] = int(d["t"]) + loop_k * s.tspan
            elif kind == "aggTrade":
                d["a"] = int(d["a"]) + loop_k * s.aspan
                d["f"] = int(d["f"]) + loop_k * s.tspan
                d["l"] = int(d["l"]) + loop_k * s.tspan
        if self.emu.config.rewrite_times:
            self._times(d)
            if kind in ("trade", "aggTrade"):
                # Rewritten times keep the exchange's order: never earlier than the previous trade.
                d["T"] = max(d["T"], s.last_trade_ms)
                s.last_trade_ms = d["T"]

    @staticmethod
    def _times(d: dict) -> None:
        now = _now_ms()
        e = d.get("E")
        if isinstance(e, int):
            t = d.get("T")
            if isinstance(t, int):
                d["T"] = t + (now - e)
            d["E"] = now

    def on_loop(self, loop_k: int) -> None:
        """End of the recording with --loop: rewind every book to its start, continuously."""
        for s in self.syms.values():
            if not s.book.known or s.first_chain is None:
                continue
            cur = s.book.id
            bids, asks = s.book.diff_to(s.start_bids, s.start_asks, zero=_zero(s.qty_dp))
            rid = cur + 1
            event = {"e": "depthUpdate", "E": _now_ms()}
            if self.futures:
                event["T"] = event["E"]
            event.update({"s": s.name, "U": rid, "u": rid})
            if self.futures:
                event["pu"] = cur
            event["b"] = bids
            event["a"] = asks
            s.book.apply(bids, asks, rid)
            # Next loop: the first applied event chains onto the rewind event.
            s.offset = (rid - s.first_chain) if self.futures else (rid + 1 - s.first_chain)
            stream = f"{s.name.lower()}@depth@100ms"
            for name in self.recorded_streams:
                if name.startswith(s.name.lower() + "@depth"):
                    stream = name
                    break
            routes = self.routes.get(stream)
            if routes:
                self._route(stream, routes, orjson.dumps(event).decode(), True, s.name)

    def _route(self, stream: str, routes: dict, text: str, is_depth: bool, symbol: str) -> None:
        group = symbol if is_depth else None
        for client, requested in list(routes.items()):
            if client.combined:
                client.send_data('{"stream":"' + requested + '","data":' + text + "}", is_depth, None, group)
            else:
                client.send_data(text, is_depth, None, group)

    # ------------------------------------------------------------------ websocket
    def accepts_ws_path(self, path: str) -> bool:
        path = _strip_route(path)
        return path.startswith("/stream") or path.startswith("/ws")

    def shutdown_notice(self, client) -> str:
        event = '{"e":"serverShutdown","E":%d}' % _now_ms()
        return '{"stream":"!serverShutdown","data":' + event + "}" if client.combined else event

    async def handle(self, client) -> None:
        from urllib.parse import parse_qs, urlsplit

        parts = urlsplit(client.ws.request.path)
        path = _strip_route(parts.path)
        client.combined = path.startswith("/stream")
        initial: list[str] = []
        if client.combined:
            q = parse_qs(parts.query)
            if "streams" in q:
                initial = [x for x in q["streams"][0].split("/") if x]
        else:
            rest = path[len("/ws"):].strip("/")
            if rest:
                initial = [x for x in rest.split("/") if x]
        if initial:
            self._subscribe(client, initial)
        async for message in client.ws:
            if isinstance(message, bytes):
                continue
            if not client.allow_incoming():
                client.send_control(orjson.dumps({"code": 1008, "msg": "Too many requests"}).decode())
                await client.ws.close(1008, "Too many requests")
                return
            self._control(client, message)

    def _control(self, client, message: str) -> None:
        try:
            req = orjson.loads(message)
        except orjson.JSONDecodeError:
            client.send_control(orjson.dumps({"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}).decode())
            return
        if not isinstance(req, dict):
            client.send_control(orjson.dumps({"code": 3, "msg": "Invalid JSON: expected an object"}).decode())
            return
        rid = req.get("id")
        method = req.get("method")
        params = req.get("params")
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                client.send_control(orjson.dumps({"code": 2, "msg": "Invalid request: params must be a list of stream names", "id": rid}).decode())
                return
            if method == "SUBSCRIBE":
                self._subscribe(client, params)
            else:
                self._unsubscribe(client, params)
            client.resubscribed()
            client.send_control(orjson.dumps({"result": None, "id": rid}).decode())
        elif method == "LIST_SUBSCRIPTIONS":
            client.send_control(orjson.dumps({"result": sorted(client.subs.values()), "id": rid}).decode())
        elif method == "SET_PROPERTY":
            if isinstance(params, list) and len(params) == 2 and params[0] == "combined":
                client.combined = bool(params[1])
            client.send_control(orjson.dumps({"result": None, "id": rid}).decode())
        elif method == "GET_PROPERTY":
            client.send_control(orjson.dumps({"result": client.combined, "id": rid}).decode())
        else:
            client.send_control(orjson.dumps({
                "code": 2,
                "msg": f"Invalid request: unknown variant {method}, expected one of SUBSCRIBE, UNSUBSCRIBE, "
                       "LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY at line 1 column 28",
                "id": rid,
            }).decode())

    def _recorded_name(self, requested: str) -> str:
        sym, _, rest = requested.partition("@")
        sym = sym.lower()  # symbols are lower-case in stream names; the stream type keeps its case
        name = f"{sym}@{rest}"
        if name in self.recorded_streams:
            return name
        for cand in self.recorded_streams:  # a type given in another case (bookticker, aggtrade)
            if cand.lower() == name.lower():
                return cand
        if rest.startswith("depth") and not rest[5:6].isdigit():  # @depth / @depth@100ms aliases
            for cand in (f"{sym}@depth@100ms", f"{sym}@depth", f"{sym}@depth@0ms", f"{sym}@depth@250ms"):
                if cand in self.recorded_streams:
                    return cand
        return name

    def _subscribe(self, client, names: list[str]) -> None:
        for requested in names:
            rec = self._recorded_name(requested)
            if "@kline_" in rec:
                self._derive_kline(rec)
            client.subs[rec] = requested
            self.routes.setdefault(rec, {})[client] = requested
        self.emu.begin()

    def _unsubscribe(self, client, names: list[str]) -> None:
        for requested in names:
            rec = self._recorded_name(requested)
            client.subs.pop(rec, None)
            r = self.routes.get(rec)
            if r is not None:
                r.pop(client, None)

    def forget(self, client) -> None:
        for rec in list(client.subs):
            r = self.routes.get(rec)
            if r is not None:
                r.pop(client, None)
        client.subs.clear()

    # ------------------------------------------------------------------ REST
    def _weight(self, w: int) -> dict:
        minute = int(time.time() // 60)
        if minute != self.weight_minute:
            self.weight_minute, self.weight_used = minute, 0
        self.weight_used += w
        return {"X-MBX-USED-WEIGHT-1M": str(self.weight_used)}

    def rest(self, path: str, q: dict) -> tuple[int, object, dict]:
        if path in ("/api/v3/depth", "/fapi/v1/depth"):
            return self._depth(q, futures_path=path.startswith("/fapi"))
        if path in ("/api/v3/exchangeInfo", "/fapi/v1/exchangeInfo"):
            return 200, self.exchange_info(q), self._weight(20)
        if path == "/api/v3/klines" or path == "/fapi/v1/klines":
            return self._klines(q)
        if path in ("/api/v3/ping", "/fapi/v1/ping"):
            return 200, {}, self._weight(1)
        if path in ("/api/v3/time", "/fapi/v1/time"):
            return 200, {"serverTime": _now_ms()}, self._weight(1)
        return 404, {"code": -1, "msg": f"no such endpoint {path} on the tickdesk emulator"}, {}

    def _bad_symbol(self) -> tuple[int, dict, dict]:
        return 400, {"code": -1121, "msg": "Invalid symbol."}, self._weight(1)

    def _depth(self, q: dict, futures_path: bool) -> tuple[int, object, dict]:
        sym = (q.get("symbol") or "").upper()
        if not sym:
            return 400, {"code": -1102, "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."}, {}
        s = self.syms.get(sym)
        if s is None:
            return self._bad_symbol()
        try:
            limit = int(q.get("limit") or 100)
        except ValueError:
            return 400, {"code": -1100, "msg": "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'."}, {}
        if not 1 <= limit <= 5000:
            return 400, {"code": -1130, "msg": "Invalid data sent for a parameter."}, {}
        weight = 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
        if not s.book.known:
            return 200, {"lastUpdateId": 0, "bids": [], "asks": []}, self._weight(weight)
        bids, asks = s.book.levels(limit)
        body = {"lastUpdateId": s.book.id}
        if futures_path or self.futures:
            now = _now_ms()
            body.update({"E": now, "T": now})
        body["bids"] = [lvl[:2] for lvl in bids]
        body["asks"] = [lvl[:2] for lvl in asks]
        return 200, body, self._weight(weight)

    def exchange_info(self, q: dict) -> dict:
        recorded = self.emu.timeline.rest.get("exchangeInfo")
        if recorded is not None:
            info = dict(recorded)
            symbols = list(recorded.get("symbols", []))
        else:
            info = {"timezone": "UTC", "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 300000},
            ], "exchangeFilters": []}
            symbols = []
        have = {x.get("symbol") for x in symbols}
        for name, s in self.syms.items():
            if name not in have:
                symbols.append(self._synth_symbol(s))
        info["serverTime"] = _now_ms()
        want = q.get("symbol")
        if q.get("symbols"):
            try:
                wanted = set(orjson.loads(q["symbols"]))
            except orjson.JSONDecodeError:
                wanted = set()
            symbols = [x for x in symbols if x.get("symbol") in wanted]
        elif want:
            symbols = [x for x in symbols if x.get("symbol") == want.upper()]
        info["symbols"] = symbols
        return info

    def _synth_symbol(self, s: _Sym) -> dict:
        base, quote = _split_symbol(s.name)
        tick = _step(s.price_dp)
        lot = _step(s.qty_dp)
        return {
            "symbol": s.name, "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8,
            "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": True, "ocoAllowed": True, "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True, "cancelReplaceAllowed": True,
            "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000.00000000", "tickSize": tick},
                {"filterType": "LOT_SIZE", "minQty": lot, "maxQty": "9000.00000000", "stepSize": lot},
                {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
                 "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
            ],
            "permissions": ["SPOT"], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }

    def _klines(self, q: dict) -> tuple[int, object, dict]:
        sym = (q.get("symbol") or "").upper()
        if sym not in self.syms:
            return self._bad_symbol()
        interval = q.get("interval") or ""
        if interval not in INTERVALS_MS:
            return 400, {"code": -1120, "msg": "Invalid interval."}, {}
        try:
            limit = min(1000, int(q.get("limit") or 500))
            start = int(q["startTime"]) if q.get("startTime") else None
            end = int(q["endTime"]) if q.get("endTime") else None
        except ValueError:
            return 400, {"code": -1100, "msg": "Illegal characters found in a parameter."}, {}
        rows = self.kline_rows if self.kline_rows is not None else self._klines_from_trades(sym)
        rows = _aggregate(rows, INTERVALS_MS[interval])
        if start is not None:
            rows = [r for r in rows if r[0] >= start]
        if end is not None:
            rows = [r for r in rows if r[0] <= end]
        rows = rows[:limit] if start is not None else rows[-limit:]
        ms = INTERVALS_MS[interval]
        out = [[r[0], r[1], r[2], r[3], r[4], r[5], r[0] + ms - 1, r[6], r[7], r[8], r[9], "0"] for r in rows]
        return 200, out, self._weight(2)

    def _klines_from_trades(self, sym: str) -> list:
        """1-minute candles ``[t, o, h, l, c, vol, quote_vol, n, taker_buy_base, taker_buy_quote]`` (strings)."""
        buckets: dict[int, list] = {}
        for it in self.emu.timeline.items:
            if it.symbol != sym or it.kind not in ("trade", "aggTrade"):
                continue
            d = orjson.loads(it.raw)
            t = int(d["T"]) // 60_000 * 60_000
            p, qty = Decimal(d["p"]), Decimal(d["q"])
            n = 1 if it.kind == "trade" else int(d["l"]) - int(d["f"]) + 1
            b = buckets.get(t)
            if b is None:
                buckets[t] = [t, p, p, p, p, qty, p * qty, n, qty if not d["m"] else Decimal(0), p * qty if not d["m"] else Decimal(0)]
            else:
                b[2] = max(b[2], p)
                b[3] = min(b[3], p)
                b[4] = p
                b[5] += qty
                b[6] += p * qty
                b[7] += n
                if not d["m"]:
                    b[8] += qty
                    b[9] += p * qty
        return [[b[0], *(_fmt(x) for x in b[1:7]), b[7], _fmt(b[8]), _fmt(b[9])] for _, b in sorted(buckets.items())]

    # ------------------------------------------------------------------ debug
    def true_book(self, symbol: str) -> TrueBook | None:
        s = self.syms.get(symbol.upper())
        return s.book if s else None

    def book_symbols(self) -> list[str]:
        return sorted(n for n, s in self.syms.items() if s.book.known)

    def symbols_state(self) -> dict:
        out = {}
        for name, s in self.syms.items():
            bid, ask = s.book.best()
            out[name] = {
                "id": s.book.id,
                "known": s.book.known,
                "applied": s.applied,
                "skipped_before_snapshot": s.skipped_pre,
                "derived_klines": self.klines_by_symbol.get(name, []),
                "bid_levels": len(s.book.bids),
                "ask_levels": len(s.book.asks),
                "best_bid": bid[:2] if bid else None,
                "best_ask": ask[:2] if ask else None,
            }
        return out


def _strip_route(path: str) -> str:
    """USD-M futures since 2026 route by path prefix (``/public``, ``/market``): same streams here."""
    for prefix in ("/public", "/market"):
        if path.startswith(prefix + "/"):
            return path[len(prefix):]
    return path


def _places(text: str) -> int:
    _, _, frac = str(text).partition(".")
    return len(frac.rstrip("0"))


def _step(dp: int) -> str:
    return format(Decimal(1).scaleb(-dp), "f") if dp else "1"


def _zero(dp: int) -> str:
    return "0.00000000" if dp <= 8 else "0." + "0" * dp


def _fmt(x: Decimal) -> str:
    return format(x.quantize(Decimal("0.00000001")), "f")


def _split_symbol(name: str) -> tuple[str, str]:
    for q in QUOTES:
        if name.endswith(q) and len(name) > len(q):
            return name[: -len(q)], q
    return name[:-4], name[-4:]


def _read_kline_file(path: str) -> list:
    """A candle file of ``[open_ms, o, h, l, c, v]`` rows (JSON array, gzip or not) -> full rows."""
    out = []
    for t, o, h, low, c, vol in read_candle_file(path, None):
        qv = _fmt(vol * c)  # synthesised: the candle files carry no quote volume
        out.append([t, *(format(x, "f") for x in (o, h, low, c, vol)), qv, 0, "0", "0"])
    return out


def _aggregate(rows: list, ms: int) -> list:
    if ms == 60_000 or not rows:
        return rows
    out: list = []
    cur = None
    for r in rows:
        t = r[0] // ms * ms
        if cur is None or cur[0] != t:
            cur = [t, r[1], r[2], r[3], r[4], Decimal(r[5]), Decimal(r[6]), r[7], Decimal(r[8]), Decimal(r[9])]
            out.append(cur)
        else:
            cur[2] = max(cur[2], r[2], key=Decimal)
            cur[3] = min(cur[3], r[3], key=Decimal)
            cur[4] = r[4]
            cur[5] += Decimal(r[5])
            cur[6] += Decimal(r[6])
            cur[7] += r[7]
            cur[8] += Decimal(r[8])
            cur[9] += Decimal(r[9])
    return [[r[0], r[1], r[2], r[3], r[4], _fmt(r[5]), _fmt(r[6]), r[7], _fmt(r[8]), _fmt(r[9])] for r in out]
