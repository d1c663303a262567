"""Live market-data consumers on ``websockets``: one thread and one asyncio loop per exchange.

:class:`FeedRunner` runs a :class:`Consumer` on its own thread.  The consumer

* resolves the symbols through the ccxt gateway (:mod:`feeds.gateway`; unified ``BTC/USDT`` or
  exchange ids ``BTCUSDT`` / ``BTC-USDT``) and hands the exchange's own metadata (exchangeInfo,
  OKX instruments) to the session so books use the real grids;
* connects, subscribes (Binance combined streams ``<s>@depth@100ms``, ``@bookTicker``,
  ``@trade``; OKX ``books``, ``bbo-tbt``, ``trades``) and feeds every frame, in arrival order,
  through the same :class:`feeds.session.FeedSession` (parsers + book syncs) that ``tickdesk feed
  replay`` uses -- live and replay differ only in where the frames come from;
* fetches a REST snapshot (through the gateway) whenever a book needs one (start, gap, bad
  checksum, crossed book, reconnect); OKX first re-subscribes the channel (a fresh WS snapshot),
  and bootstraps from ``/api/v5/market/books`` when no WS snapshot comes;
* reconnects with bounded exponential backoff and full jitter, reset once a connection has been
  stable for ``stable_after`` seconds;
* detects stale streams: a symbol (or the whole connection) that makes no progress for
  ``stale_factor`` times its usual cadence (the 90th percentile of its recent inter-arrival
  times, at least ``stale_min`` seconds) is reported and re-subscribed; a second stale period in a
  row reconnects;
* keeps per-symbol health (messages/s, gaps, resyncs, checksum ok/bad, exchange-to-local lag
  percentiles, age of the last book update, stale/resubscribe counts) and connection health
  (connects, disconnects, reconnect history, parse errors) as state the UI pulls with
  :meth:`FeedRunner.health` (thread-safe, cheap);
* with ``record``: writes every frame and REST body it used, with its local receive time, to a
  tickdesk capture (:class:`feeds.recordings.CaptureWriter`), so the run replays exactly;
  with ``recorder`` (:class:`feeds.marketrecorder.MarketRecorder`): hands every normalised trade
  and bar to the market-store writer thread (an O(1) append; never blocks this loop);
* with ``on_feed_event``: pushes discrete events (gap, resync, checksum failure, stale,
  disconnect, reconnect; :mod:`feeds.feedevents`) as they happen, e.g. to
  ``core.market_state.MarketState.post_event``;
* OKX candle channels (``candle1m``...) live on the business endpoint: a second connection
  (``/ws/v5/business``) carries them, through the same session and capture, without touching
  the books.

The live exchanges and the emulator differ only by URL (``ws_url`` / ``rest_url``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import orjson

from core.marketdata import Bar, Trade
from feeds.feedevents import HealthEvents
from feeds.gateway import ExchangeGateway, GatewayError
from feeds.recordings import OPEN, REST, SENT, WS, CaptureWriter, RawRecord
from feeds.session import FeedSession

log = logging.getLogger(__name__)

DEFAULT_WS = {
    "binance": "wss://stream.binance.com:9443/stream",
    "binanceusdm": "wss://fstream.binance.com/public/stream",
    "okx": "wss://ws.okx.com:8443/ws/v5/public",
}
BINANCE_CHANNELS = ("depth@100ms", "bookTicker", "trade")
OKX_CHANNELS = ("books", "bbo-tbt", "trades")


@dataclass
class FeedConfig:
    exchange: str  # binance | binanceusdm | okx
    symbols: list[str]
    ws_url: str | None = None
    rest_url: str | None = None
    channels: tuple[str, ...] | None = None
    depth_limit: int | None = None  # REST snapshot depth (binance 5000, usd-m 1000, okx 400)
    record: str | None = None
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    stable_after: float = 30.0  # a connection up this long resets the backoff
    stale_factor: float = 10.0
    stale_min: float = 2.0
    stale_max: float = 120.0
    okx_snapshot_wait: float = 1.0  # seconds to wait for a WS snapshot before REST bootstrap
    snapshot_min_interval: float = 0.2  # per symbol, grows while snapshots keep being needed
    open_timeout: float = 10.0
    okx_ping_after: float = 20.0  # idle seconds before a text ping (OKX closes after 30 s)
    rotate_after: float | None = 23.5 * 3600  # Binance closes connections at 24 h: switch before
    rotate_wait: float = 5.0  # longest a successor buffers before taking over
    rotate_quiet: float = 1.0  # a book with no event on the successor after this long is quiet
    on_event: object = None  # callable(record) run on the feed thread for every parsed record
    recorder: object = None  # feeds.marketrecorder.MarketRecorder: trades and bars into the store
    on_feed_event: object = None  # callable(dict): discrete events (gap, resync, stale, reconnect...)
    business_url: str | None = None  # OKX candles (default: ws_url with /public -> /business)
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.exchange not in DEFAULT_WS:
            raise ValueError(f"exchange must be one of {', '.join(DEFAULT_WS)}, got {self.exchange!r}")
        if not self.symbols:
            raise ValueError("at least one symbol is needed")


class Backoff:
    """Bounded exponential backoff with full jitter; reset after a stable connection."""

    def __init__(self, base: float, cap: float, stable_after: float, rng: random.Random) -> None:
        self.base, self.cap, self.stable_after, self.rng = base, cap, stable_after, rng
        self.attempt = 0

    def next(self, connected_for: float | None) -> float:
        if connected_for is not None and connected_for >= self.stable_after:
            self.attempt = 0
        ceiling = min(self.cap, self.base * (2 ** self.attempt))
        self.attempt += 1
        return ceiling / 2 + self.rng.random() * ceiling / 2


class Cadence:
    """Inter-arrival times of one stream: the usual cadence and staleness."""

    __slots__ = ("last", "gaps", "_p90", "_dirty")

    def __init__(self) -> None:
        self.last: float | None = None
        self.gaps: deque = deque(maxlen=200)
        self._p90 = 0.0
        self._dirty = False

    def tick(self, now: float) -> None:
        if self.last is not None:
            self.gaps.append(now - self.last)
            self._dirty = True
        self.last = now

    def p90(self) -> float:
        if self._dirty:
            s = sorted(self.gaps)
            self._p90 = s[int(len(s) * 0.9)] if s else 0.0
            self._dirty = False
        return self._p90

    def stale_after(self, cfg: FeedConfig) -> float | None:
        if len(self.gaps) < 20:
            return None  # not enough history to know the usual cadence
        return min(cfg.stale_max, max(cfg.stale_min, cfg.stale_factor * self.p90()))


@dataclass
class SymbolLive:
    """Live-only health of one symbol (the sync's own counters live in the session)."""

    key: str
    symbol: str  # exchange id
    unified: str
    messages: int = 0
    buckets: deque = field(default_factory=lambda: deque(maxlen=11))  # [second, count]
    lags_ns: deque = field(default_factory=lambda: deque(maxlen=2000))
    cadence: Cadence = field(default_factory=Cadence)
    stale: int = 0
    stale_now: bool = False
    resubscribes: int = 0
    snapshot_requests: int = 0
    snapshot_failures: int = 0
    rest_bootstraps: int = 0
    next_snapshot_at: float = 0.0
    snapshot_interval: float = 0.0
    resubscribed_at: float = 0.0
    snapshot_inflight: bool = False
    last_trade_id: int | None = None

    def count(self, now: float) -> None:
        self.messages += 1
        sec = int(now)
        b = self.buckets
        if b and b[-1][0] == sec:
            b[-1][1] += 1
        else:
            b.append([sec, 1])

    def rate(self, now: float) -> float:
        """Messages per second over the last complete seconds (up to 10)."""
        sec = int(now)
        full = [c for s, c in self.buckets if sec - 10 <= s < sec]
        return round(sum(full) / 10, 2) if full else 0.0


def _percentiles(samples) -> dict | None:
    if not samples:
        return None
    s = sorted(samples)
    n = len(s)

    def pick(q: float) -> float:
        return round(s[min(n - 1, int(q * n))] / 1e6, 3)

    return {"p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": round(s[-1] / 1e6, 3), "n": n}


class Consumer:
    """One exchange connection with its symbols (runs on the FeedRunner's loop)."""

    def __init__(self, config: FeedConfig, lock: threading.Lock) -> None:
        self.cfg = config
        self.ex = config.exchange
        self.lock = lock
        self.session = FeedSession(on_event=self._on_event)
        self.rng = random.Random(config.seed)
        self.backoff = Backoff(config.backoff_base, config.backoff_cap, config.stable_after, self.rng)
        self.symbols: dict[str, SymbolLive] = {}  # exchange id -> live state
        self.by_key: dict[str, SymbolLive] = {}
        self.ws = None
        self.ws_url = config.ws_url or DEFAULT_WS[self.ex]
        self.gateway: ExchangeGateway | None = None
        self.capture: CaptureWriter | None = None
        self.stopping = False
        self.settling = False
        self.started_ns = time.time_ns()
        self.t0 = time.monotonic()
        # connection health
        self.connects = 0
        self.disconnects = 0
        self.connect_failures = 0
        self.history: deque = deque(maxlen=50)
        self.frames = 0
        self.bytes = 0
        self.conn_cadence = Cadence()
        self.conn_stale = 0
        self.stale_streak = 0
        self.connected_at: float | None = None
        self.last_error: str | None = None
        self.ws_snapshots_seen = False
        self.okx_req_id = 0
        self._tasks: set[asyncio.Task] = set()
        self._stop_event = asyncio.Event()  # binds to the feed loop on first use (3.10+)
        self._finish = lambda: None
        self._main_task: asyncio.Task | None = None
        self.markets_error: str | None = None
        self.connecting = threading.Event()
        self.successor: tuple | None = None  # (ws, buffered frames, url) ready to take over
        self.rotation: asyncio.Task | None = None
        self.rotations = 0
        self.rotation_history: deque = deque(maxlen=20)
        self.shutdown_notices = 0
        self.handover_duplicates = 0
        self.last_rx = 0.0
        self.last_ping = 0.0
        self.recorder = config.recorder
        if self.recorder is not None and any(_is_bar_channel(c) for c in self._channels()):
            self.recorder.exchange_bars.add(self.ex)
        self.events = HealthEvents(self.ex, config.on_feed_event) if config.on_feed_event else None
        self.business: _Business | None = None
        if self._candle_channels():
            url = config.business_url or business_url(self.ws_url)
            if len(self._candle_channels()) == len(self._channels()):
                self.ws_url = url  # candles only: the one connection is the business one
            else:
                self.business = _Business(url)

    # ------------------------------------------------------------------ events from the session
    def _on_event(self, rec) -> None:
        key = getattr(rec, "key", None)
        if key is None:
            return
        s = self.by_key.get(key)
        if s is None:
            return
        now = time.monotonic()
        s.count(now)
        s.cadence.tick(now)
        ts_ex = getattr(rec, "ts_ex_ns", 0)
        if ts_ex:
            s.lags_ns.append(rec.ts_ns - ts_ex)
        tid = getattr(rec, "trade_id", None)
        if tid is not None and (s.last_trade_id is None or tid > s.last_trade_id):
            s.last_trade_id = tid
        recorder = self.recorder
        if recorder is not None:
            t = type(rec)
            if t is Trade or t is Bar:
                meta = self.session.parser(self.ex).symbols.get(s.symbol)
                if meta is not None:
                    (recorder.trade if t is Trade else recorder.bar)(self.ex, s.unified, meta.grid, rec)
        hook = self.cfg.on_event
        if hook is not None:
            hook(rec)

    # ------------------------------------------------------------------ recording
    def _record(self, rec: RawRecord) -> None:
        if self.capture is not None:
            self.capture.write_record(rec)

    def _handle(self, rec: RawRecord) -> None:
        with self.lock:
            self.session.handle(rec)
        self._record(rec)

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> None:
        self._main_task = asyncio.current_task()
        if self.cfg.record:
            self.capture = CaptureWriter(self.cfg.record, exchange=self.ex, symbols=self.cfg.symbols,
                                         ws_url=self.ws_url, rest_url=self.cfg.rest_url)
        self.gateway = ExchangeGateway(self.ex, rest_url=self.cfg.rest_url)
        watchdog = None
        try:
            await self._resolve_symbols()
            watchdog = asyncio.create_task(self._watchdog())
            if self.business is not None:
                self.business.task = asyncio.create_task(self._business_loop())
            await self._connect_loop()
        except asyncio.CancelledError:
            if not self.stopping:
                raise
        finally:
            if watchdog is not None:
                watchdog.cancel()
            if self.business is not None:
                await self._stop_business()
            if self.events is not None:
                self.events.poll(self)
            if self.rotation is not None:
                self.rotation.cancel()
            if self.successor is not None:
                try:
                    await asyncio.wait_for(self.successor[0].close(), 3)
                except Exception:
                    pass
            for t in list(self._tasks):
                t.cancel()
            await self.gateway.close()
            if self.capture is not None:
                self.capture.close()

    def request_stop(self, settle: float) -> None:
        """Stop: keep processing up to ``settle`` seconds until every depth book is in sync."""
        self.settling = True
        loop = asyncio.get_running_loop()

        def finish() -> None:
            if not self.stopping:
                self.stopping = True
                self._stop_event.set()
                if self.business is not None and self.business.ws is not None:
                    asyncio.ensure_future(self.business.ws.close())
                if self.ws is not None:
                    asyncio.ensure_future(self.ws.close())
                elif self._main_task is not None:
                    self._main_task.cancel()  # not connected (connecting or backing off)

        if settle <= 0 or self._all_synced():
            finish()
            return
        self._finish = finish
        loop.call_later(settle, finish)

    def _all_synced(self) -> bool:
        with self.lock:
            syncs = self.session.syncs
            for s in self.symbols.values():
                sync = syncs.get(s.key)
                if sync is not None and sync.health.events and not sync.synced:
                    return False
        return True

    # ------------------------------------------------------------------ symbols
    async def _resolve_symbols(self) -> None:
        gw = self.gateway
        markets = None
        try:
            markets = await gw.load_markets()
        except GatewayError as exc:
            self.markets_error = str(exc)
            log.warning("markets unavailable (%s): using exchange ids as given", exc)
        infos = []
        for sym in self.cfg.symbols:
            market = None
            if markets is not None:
                market = markets.get(sym) or markets.get(sym.upper())
                if market is None:
                    by_id = gw.ccxt.markets_by_id.get(sym) or gw.ccxt.markets_by_id.get(sym.upper())
                    market = by_id[0] if isinstance(by_id, list) and by_id else by_id
            if market is not None:
                mid, unified = market["id"], market["symbol"]
                infos.append(market.get("info") or {})
            else:
                mid, unified = _guess_id(self.ex, sym), sym if "/" in sym else sym
            key = f"{self.ex}:{mid}"
            s = SymbolLive(key, mid, unified)
            self.symbols[mid] = s
            self.by_key[key] = s
        if infos:
            # The exchange's own metadata, as a REST record: the session takes the grids from it
            # and a replay of the capture sees the same.
            if self.ex == "okx":
                body = {"code": "0", "msg": "", "data": infos}
                url = f"{gw.base_url()}/api/v5/public/instruments?instType=ANY"
            else:
                body = {"symbols": infos}
                path = "/fapi/v1/exchangeInfo" if self.ex == "binanceusdm" else "/api/v3/exchangeInfo"
                url = f"{gw.base_url()}{path}"
            self._handle(RawRecord(time.time_ns(), REST, url, orjson.dumps(body).decode(), self.ex))

    # ------------------------------------------------------------------ connection
    async def _open(self, url: str):
        import websockets

        return await websockets.connect(url, open_timeout=self.cfg.open_timeout, max_size=2**24,
                                        ping_interval=20, ping_timeout=20, close_timeout=2)

    async def _connect_loop(self) -> None:
        self.connecting.set()
        while not self.stopping:
            url = self._url()
            began = None
            reason = "closed"
            ws = None
            try:
                if self.successor is not None:
                    # Make-before-break: the new connection is already subscribed and has been
                    # buffering; its frames continue the books without a resync.
                    ws, buffered, url = self.successor
                    self.successor = None
                    began = time.monotonic()
                    self._start_connection(ws, began)
                    self._hand_over(buffered, url)
                else:
                    ws = await self._open(url)
                    began = time.monotonic()
                    self._start_connection(ws, began)
                    self._handle(RawRecord(time.time_ns(), OPEN, url, "", self.ex))
                    for sym in self.symbols.values():
                        sym.resubscribed_at = began
                    await self._subscribe_all(ws, initial=True)
                await self._receive(ws, url)
                if ws.close_code is not None:
                    reason = f"closed by server: {ws.close_code} {ws.close_reason or ''}".strip()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection refused, handshake, protocol, timeouts...
                reason = f"{type(exc).__name__}: {str(exc)[:200]}"
            finally:
                self.ws = None
                if ws is not None:
                    try:
                        await asyncio.wait_for(ws.close(), 3)
                    except Exception:
                        pass
            if self.stopping:
                break
            if self.rotation is not None and not self.rotation.done():
                # The server closed the old connection during a planned rotation: the successor
                # (already connecting) takes over if it comes up in time.
                try:
                    await asyncio.wait_for(asyncio.shield(self.rotation), self.cfg.rotate_wait + 1)
                except (asyncio.TimeoutError, Exception):
                    pass
            if self.successor is not None:
                continue  # a planned switch: no backoff, not a disconnect
            connected_for = None if began is None else time.monotonic() - began
            if began is None:
                self.connect_failures += 1
            else:
                self.disconnects += 1
            self.last_error = reason
            delay = self.backoff.next(connected_for)
            self.history.append({
                "t": round(time.monotonic() - self.t0, 3),
                "reason": reason,
                "connected_for": None if connected_for is None else round(connected_for, 3),
                "retry_in": round(delay, 3),
            })
            log.warning("%s %s (%s); reconnecting in %.2f s", self.ex,
                        "connect failed" if began is None else "connection lost", reason, delay)
            try:
                await asyncio.wait_for(self._stop_event.wait(), delay)
            except asyncio.TimeoutError:
                pass

    def _start_connection(self, ws, began: float) -> None:
        self.ws = ws
        self.connects += 1
        self.connected_at = began
        self.ws_snapshots_seen = False
        self.conn_cadence = Cadence()
        self.stale_streak = 0
        self.last_rx = began
        self.last_ping = began

    # ------------------------------------------------------------------ planned rotation
    def request_rotation(self, reason: str) -> None:
        """Switch to a new connection without a gap (Binance ``serverShutdown``, 24-hour limit)."""
        if self.ex == "okx" or self.stopping or (self.rotation is not None and not self.rotation.done()):
            return
        self.rotation = asyncio.create_task(self._rotate(reason))

    async def _rotate(self, reason: str) -> None:
        """Open and subscribe a successor, buffer its frames until it overlaps the current stream,
        then close the current connection; the connect loop continues on the successor."""
        old = self.ws
        url = self._url()
        log.info("%s: %s: opening a successor connection", self.ex, reason)
        try:
            new = await self._open(url)
        except Exception as exc:
            log.warning("%s: successor connection failed (%s): the normal reconnect will follow", self.ex, exc)
            return
        try:
            await self._subscribe_all(new, initial=True)
            buffered: list[tuple[int, str]] = []
            first_u: dict[str, int] = {}
            deadline = time.monotonic() + self.cfg.rotate_wait
            began = time.monotonic()
            while time.monotonic() < deadline and not self.stopping:
                try:
                    raw = await asyncio.wait_for(new.recv(), max(0.01, deadline - time.monotonic()))
                except asyncio.TimeoutError:
                    break
                if isinstance(raw, bytes):
                    raw = raw.decode("utf-8", "replace")
                buffered.append((time.time_ns(), raw))
                d = _depth_ids(raw)
                if d is not None and d[0] not in first_u:
                    first_u[d[0]] = d[1:]
                if self._overlaps(first_u, time.monotonic() - began, old):
                    break
            if self.stopping:
                await new.close()
                return
            self.rotations += 1
            self.rotation_history.append({"t": round(time.monotonic() - self.t0, 3), "reason": reason,
                                          "buffered": len(buffered)})
            self.successor = (new, buffered, url)
            if old is not None and self.ws is old:
                await old.close(1000, "rotation")
        except Exception as exc:
            log.warning("%s: rotation failed (%s)", self.ex, exc)
            try:
                await new.close()
            except Exception:
                pass

    def _overlaps(self, first_u: dict[str, tuple], waited: float, old) -> bool:
        """Has the successor caught up: for every book being kept, its first depth event is not
        newer than the book (so nothing falls between the two connections)?"""
        if old is None or old.close_code is not None:
            return True  # the old connection is gone already: switch now
        with self.lock:
            for s in self.symbols.values():
                sync = self.session.syncs.get(s.key)
                if sync is None or not sync.synced:
                    continue
                ids = first_u.get(s.symbol)
                if ids is None:
                    if waited < self.cfg.rotate_quiet:
                        return False
                    continue  # a quiet book: no event on either connection since the successor subscribed
                first, pu = ids
                local = sync.book.update_id
                if (pu > local) if pu is not None else (first > local + 1):
                    return False
        return True

    def _hand_over(self, buffered: list[tuple[int, str]], url: str) -> None:
        """Feed the successor's buffered frames; trades already seen on the old connection are skipped."""
        for ts, raw in buffered:
            t = _trade_id(raw)
            if t is not None:
                s = self.symbols.get(t[0])
                if s is not None and s.last_trade_id is not None and t[1] <= s.last_trade_id:
                    self.handover_duplicates += 1
                    continue
            self._frame(ts, raw, url)

    def _url(self) -> str:
        if self.ex == "okx":
            return self.ws_url
        parts = urlsplit(self.ws_url)
        if parts.path.rstrip("/").endswith("/stream") and not parts.query:
            return self.ws_url.rstrip("/") + "?" + urlencode({"streams": "/".join(self._streams())}, safe="/@")
        return self.ws_url

    def _streams(self, symbols=None) -> list[str]:
        chans = self.cfg.channels or BINANCE_CHANNELS
        return [f"{s.lower()}@{c}" for s in (symbols or self.symbols) for c in chans]

    def _channels(self) -> tuple[str, ...]:
        return self.cfg.channels or (OKX_CHANNELS if self.ex == "okx" else BINANCE_CHANNELS)

    def _candle_channels(self) -> tuple[str, ...]:
        """OKX candle channels: they live on the business endpoint (a second connection)."""
        if self.ex != "okx":
            return ()
        return tuple(c for c in self._channels() if c.startswith("candle"))

    def _okx_args(self, symbols=None) -> list[dict]:
        chans = [c for c in self._channels() if self.business is None or not c.startswith("candle")]
        return [{"channel": c, "instId": s} for s in (symbols or self.symbols) for c in chans]

    async def _send(self, ws, obj: object, url: str | None = None) -> None:
        text = obj if isinstance(obj, str) else orjson.dumps(obj).decode()
        await ws.send(text)
        self._record(RawRecord(time.time_ns(), SENT, url or self.ws_url, text, self.ex))

    async def _subscribe_all(self, ws, initial: bool = False) -> None:
        if self.ex == "okx":
            self.okx_req_id += 1
            await self._send(ws, {"id": str(self.okx_req_id), "op": "subscribe", "args": self._okx_args()})
        elif not (initial and "?streams=" in self._url()):
            await self._send(ws, {"method": "SUBSCRIBE", "params": self._streams(), "id": self._next_id()})

    def _next_id(self) -> int:
        self.okx_req_id += 1
        return self.okx_req_id

    async def _resubscribe(self, symbols: list[str]) -> None:
        """Unsubscribe and subscribe again (the cure for a stream that went quiet)."""
        ws = self.ws
        if ws is None:
            return
        now = time.monotonic()
        for sym in symbols:
            s = self.symbols[sym]
            s.resubscribes += 1
            s.resubscribed_at = now
        try:
            if self.ex == "okx":
                args = self._okx_args(symbols)
                self.okx_req_id += 1
                await self._send(ws, {"id": str(self.okx_req_id), "op": "unsubscribe", "args": args})
                self.okx_req_id += 1
                await self._send(ws, {"id": str(self.okx_req_id), "op": "subscribe", "args": args})
            else:
                streams = self._streams(symbols)
                await self._send(ws, {"method": "UNSUBSCRIBE", "params": streams, "id": self._next_id()})
                await self._send(ws, {"method": "SUBSCRIBE", "params": streams, "id": self._next_id()})
        except Exception as exc:  # the connection is going away: the reconnect handles it
            log.info("resubscribe failed: %s", exc)

    async def _receive(self, ws, url: str) -> None:
        async for raw in ws:
            if isinstance(raw, bytes):
                raw = raw.decode("utf-8", "replace")
            self._frame(time.time_ns(), raw, url)
            if self.settling and not self.stopping and self._all_synced():
                self._finish()

    def _frame(self, ts: int, raw: str, url: str) -> None:
        """One received frame: into the session (and the capture); snapshots owed; shutdown notices."""
        ex = self.ex
        self.frames += 1
        self.bytes += len(raw)
        now = time.monotonic()
        self.last_rx = now
        self.conn_cadence.tick(now)
        self.stale_streak = 0
        rec = RawRecord(ts, WS, url, raw, ex)
        with self.lock:
            self.session.handle(rec)
        if self.capture is not None:
            self.capture.write_record(rec)
        if ex == "okx":
            if raw.startswith('{"arg":{"channel":"books') and '"action":"snapshot"' in raw[:200]:
                self.ws_snapshots_seen = True
        elif "serverShutdown" in raw[:80]:
            self.shutdown_notices += 1
            self.request_rotation("server shutdown notice")
        self._want_snapshots(now)

    # ------------------------------------------------------------------ OKX business endpoint
    async def _business_loop(self) -> None:
        """OKX candles: their own connection to ``/ws/v5/business`` (subscribe, receive, text
        ping when idle, reconnect with backoff). Its frames go through the same session; it never
        touches the books, so its reconnects do not resync them."""
        b = self.business
        backoff = Backoff(self.cfg.backoff_base, self.cfg.backoff_cap, self.cfg.stable_after, self.rng)
        args = [{"channel": c, "instId": sym} for sym in self.symbols for c in self._candle_channels()]
        while not self.stopping:
            began = None
            reason = "closed"
            try:
                ws = await self._open(b.url)
                began = time.monotonic()
                b.ws = ws
                b.connects += 1
                self.okx_req_id += 1
                await self._send(ws, {"id": str(self.okx_req_id), "op": "subscribe", "args": args}, b.url)
                while not self.stopping:
                    try:
                        raw = await asyncio.wait_for(ws.recv(), self.cfg.okx_ping_after)
                    except asyncio.TimeoutError:
                        await self._send(ws, "ping", b.url)
                        continue
                    if isinstance(raw, bytes):
                        raw = raw.decode("utf-8", "replace")
                    b.frames += 1
                    self._handle(RawRecord(time.time_ns(), WS, b.url, raw, self.ex))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # closed, refused, handshake, timeouts...
                reason = f"{type(exc).__name__}: {str(exc)[:200]}"
            finally:
                b.ws = None
            if self.stopping:
                break
            b.disconnects += began is not None
            b.connect_failures += began is None
            b.last_error = reason
            delay = backoff.next(None if began is None else time.monotonic() - began)
            log.warning("%s business connection %s (%s); reconnecting in %.2f s", self.ex,
                        "failed" if began is None else "lost", reason, delay)
            try:
                await asyncio.wait_for(self._stop_event.wait(), delay)
            except asyncio.TimeoutError:
                pass

    async def _stop_business(self) -> None:
        b = self.business
        if b.ws is not None:
            try:
                await asyncio.wait_for(b.ws.close(), 3)
            except Exception:
                pass
        if b.task is not None:
            b.task.cancel()
            try:
                await b.task
            except (asyncio.CancelledError, Exception):
                pass

    # ------------------------------------------------------------------ snapshots
    def _want_snapshots(self, now: float) -> None:
        with self.lock:
            wanted = self.session.snapshot_requests()
        for _ex, sym in wanted:
            s = self.symbols.get(sym)
            if s is None or s.snapshot_inflight or now < s.next_snapshot_at:
                continue
            if self.ex != "okx":
                with self.lock:
                    sync = self.session.syncs.get(s.key)
                    if sync is None or not sync.buffer:
                        continue  # official procedure: buffer the stream first, then the snapshot
            s.snapshot_inflight = True
            task = asyncio.create_task(self._snapshot(s))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _snapshot(self, s: SymbolLive) -> None:
        failed = stale = False
        try:
            if self.ex == "okx":
                wait = self.cfg.okx_snapshot_wait
                fresh = time.monotonic() - s.resubscribed_at
                if fresh < wait:
                    # Just (re)subscribed: the channel's own snapshot is probably on its way.
                    await asyncio.sleep(wait - fresh)
                    if self._synced(s):
                        return
                if self.ws_snapshots_seen:
                    # The server sends channel snapshots: a fresh subscription first.
                    s.snapshot_requests += 1
                    await self._resubscribe([s.symbol])
                    await asyncio.sleep(wait)
                    if self._synced(s):
                        return
                s.rest_bootstraps += 1
            s.snapshot_requests += 1
            url, body = await self.gateway.depth_snapshot(s.symbol, self.cfg.depth_limit)
            if self.stopping:
                return
            with self.lock:
                sync = self.session.syncs.get(s.key)
                before = sync.health.stale_snapshots if sync is not None else 0
            self._handle(RawRecord(time.time_ns(), REST, url, body, self.ex))
            with self.lock:
                stale = sync is not None and sync.health.stale_snapshots > before
        except GatewayError as exc:
            failed = True
            s.snapshot_failures += 1
            self.last_error = str(exc)
            log.warning("snapshot %s failed: %s", s.symbol, exc)
        finally:
            s.snapshot_inflight = False
            # A snapshot that failed, or was older than the buffered events, is retried with a
            # growing pause; otherwise the next one (after a new gap) may go at once. ccxt's rate
            # limiter paces the requests by their weight in any case.
            if failed or stale:
                s.snapshot_interval = min(5.0, max(self.cfg.snapshot_min_interval, s.snapshot_interval * 2))
            else:
                s.snapshot_interval = 0.0
            s.next_snapshot_at = time.monotonic() + s.snapshot_interval

    def _synced(self, s: SymbolLive) -> bool:
        with self.lock:
            sync = self.session.syncs.get(s.key)
            return sync is not None and sync.synced

    # ------------------------------------------------------------------ stale streams
    async def _watchdog(self) -> None:
        """Every 100 ms: stale symbols / connection, and snapshots still owed."""
        while not self.stopping:
            await asyncio.sleep(0.1)
            if self.events is not None:
                self.events.poll(self)
            if self.settling and not self.stopping and self._all_synced():
                self._finish()
                return
            now = time.monotonic()
            ws = self.ws
            if ws is None or self.connected_at is None:
                continue
            self._want_snapshots(now)
            if self.ex == "okx" and now - max(self.last_rx, self.last_ping) > self.cfg.okx_ping_after:
                # OKX drops a connection after 30 s without traffic: text ping when idle.
                self.last_ping = now
                try:
                    await self._send(ws, "ping")
                except Exception:
                    pass
            if self.cfg.rotate_after and now - self.connected_at > self.cfg.rotate_after:
                self.request_rotation("connection age limit")
            limit = self.conn_cadence.stale_after(self.cfg)
            last = self.conn_cadence.last or self.connected_at
            if limit is not None and now - last > limit and now - max(s.resubscribed_at for s in self.symbols.values()) > limit:
                self.conn_stale += 1
                self.stale_streak += 1
                for s in self.symbols.values():
                    s.stale += 1
                    s.stale_now = True
                if self.stale_streak >= 2:
                    log.warning("%s connection stale twice in a row: reconnecting", self.ex)
                    await ws.close(4000, "stale")
                    continue
                log.warning("%s connection stale (%.2f s without data): resubscribing", self.ex, now - last)
                await self._resubscribe(list(self.symbols))
                continue
            stale = []
            for s in self.symbols.values():
                lim = s.cadence.stale_after(self.cfg)
                if lim is None or s.cadence.last is None:
                    continue
                quiet = now - s.cadence.last
                if quiet > lim and now - s.resubscribed_at > lim:
                    s.stale += 1
                    s.stale_now = True
                    stale.append(s.symbol)
                elif quiet <= lim:
                    s.stale_now = False
            if stale:
                log.warning("%s streams stale: %s: resubscribing", self.ex, ", ".join(stale))
                await self._resubscribe(stale)

    # ------------------------------------------------------------------ health
    def health(self, book_depth: int | None = None) -> dict:
        """Per-symbol and connection health (call with the runner's lock NOT held)."""
        now = time.monotonic()
        wall = time.time_ns()
        with self.lock:
            report = self.session.report()
            syms = {}
            for s in self.symbols.values():
                d = dict(report["symbols"].get(s.key, {}))
                sync = self.session.syncs.get(s.key)
                d.setdefault("unified", s.unified)
                d.update({
                    "exchange": self.ex,
                    "symbol": s.symbol,
                    "unified": s.unified,
                    "messages": s.messages,
                    "msgs_per_s": s.rate(now),
                    "lag_ms": _percentiles(s.lags_ns),
                    "last_update_age_ms": round((wall - d["last_ts_ns"]) / 1e6, 1) if d.get("last_ts_ns") else None,
                    "stale": s.stale,
                    "stale_now": s.stale_now,
                    "resubscribes": s.resubscribes,
                    "snapshot_requests": s.snapshot_requests,
                    "snapshot_failures": s.snapshot_failures,
                    "rest_bootstraps": s.rest_bootstraps,
                    "update_id": sync.book.update_id if sync is not None else None,
                })
                if book_depth is not None and sync is not None:
                    d["book"] = _book_levels(self.session, s.key, sync.book, book_depth)
                syms[s.key] = d
        return {
            "symbols": syms,
            "connection": {
                "exchange": self.ex,
                "ws_url": self._url(),
                "rest_url": self.gateway.base_url() if self.gateway else self.cfg.rest_url,
                "connected": self.ws is not None,
                "connects": self.connects,
                "disconnects": self.disconnects,
                "connect_failures": self.connect_failures,
                "reconnects": max(0, self.connects - 1 - self.rotations),
                "reconnect_history": list(self.history)[-20:],
                "rotations": self.rotations,
                "rotation_history": list(self.rotation_history),
                "shutdown_notices": self.shutdown_notices,
                "handover_duplicates": self.handover_duplicates,
                "stale": self.conn_stale,
                "frames": self.frames,
                "bytes": self.bytes,
                "parse_errors": report["records"].get("parse_errors", 0),
                "records": report["records"],
                "errors": report["errors"][:5],
                "last_error": self.last_error,
                "markets_error": self.markets_error,
                "rest_calls": self.gateway.calls if self.gateway else 0,
                "rest_retries": self.gateway.retries if self.gateway else 0,
                **({"business": self.business.health()} if self.business is not None else {}),
            },
        }


@dataclass
class _Business:
    """The OKX business-endpoint connection (candles) of a consumer."""

    url: str
    ws: object = None
    task: asyncio.Task | None = None
    connects: int = 0
    disconnects: int = 0
    connect_failures: int = 0
    frames: int = 0
    last_error: str | None = None

    def health(self) -> dict:
        return {"url": self.url, "connected": self.ws is not None, "connects": self.connects,
                "disconnects": self.disconnects, "connect_failures": self.connect_failures,
                "frames": self.frames, "last_error": self.last_error}


def business_url(ws_url: str) -> str:
    """OKX's business endpoint beside a public one (``.../ws/v5/public`` -> ``.../ws/v5/business``)."""
    parts = urlsplit(ws_url)
    path = parts.path
    if path.rstrip("/").endswith("/public"):
        path = path.rstrip("/")[: -len("/public")] + "/business"
    elif not path.rstrip("/").endswith("/business"):
        path = "/ws/v5/business"
    return parts._replace(path=path).geturl()


def _is_bar_channel(channel: str) -> bool:
    return channel.startswith("kline") or channel.startswith("candle")


def _book_levels(session: FeedSession, key: str, book, depth: int) -> dict:
    ex, sym = key.split(":", 1)
    meta = session.parser(ex).symbols.get(sym)
    if meta is None:
        return {"bids": [], "asks": []}
    g = meta.grid
    bids, asks = book.levels() if depth <= 0 else book.top(depth)
    return {
        "bids": [[g.fmt_price(t), g.fmt_qty(q)] for t, q in bids],
        "asks": [[g.fmt_price(t), g.fmt_qty(q)] for t, q in asks],
    }


def _depth_ids(raw: str) -> tuple[str, int, int | None] | None:
    """``(SYMBOL, U, pu or None)`` of a Binance depthUpdate frame (cheap string scan), else None."""
    i = raw.find('"e":"depthUpdate"')
    if i < 0:
        return None
    try:
        s0 = raw.index('"s":"', i) + 5
        sym = raw[s0:raw.index('"', s0)]
        u0 = raw.index('"U":', i) + 4
        first = int(raw[u0:raw.index(",", u0)])
        p0 = raw.find('"pu":', i)
        pu = int(raw[p0 + 5:raw.index(",", p0 + 5)]) if p0 >= 0 else None
        return sym, first, pu
    except ValueError:
        return None


def _trade_id(raw: str) -> tuple[str, int] | None:
    """``(SYMBOL, id)`` of a Binance trade / aggTrade frame, else None."""
    if '"e":"trade"' not in raw and '"e":"aggTrade"' not in raw:
        return None
    try:
        obj = orjson.loads(raw)
        d = obj.get("data", obj)
        return d["s"], int(d["t"] if d["e"] == "trade" else d["a"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


def _guess_id(exchange: str, symbol: str) -> str:
    """Exchange id of a spot symbol when markets are unavailable (``BTC/USDT`` -> BTCUSDT/BTC-USDT)."""
    if "/" not in symbol:
        return symbol.upper() if exchange != "okx" else symbol
    base, _, quote = symbol.partition("/")
    quote = quote.split(":")[0]
    return f"{base}-{quote}".upper() if exchange == "okx" else f"{base}{quote}".upper()


class FeedRunner:
    """A :class:`Consumer` on its own thread and asyncio loop; pull :meth:`health` any time."""

    def __init__(self, config: FeedConfig) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.consumer = Consumer(config, self.lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self.connecting = self.consumer.connecting  # set when the first connection attempt starts
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"feed-{config.exchange}", daemon=True)

    def start(self) -> "FeedRunner":
        self._thread.start()
        self._started.wait(10)
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # reported by stop(); the thread must not die silently
            self.error = exc
            log.exception("feed thread %s failed", self.config.exchange)
        finally:
            try:
                _cancel_leftover_tasks(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    async def _main(self) -> None:
        self._started.set()
        await self.consumer.run()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def run_rest(self, job) -> concurrent.futures.Future:
        """Run ``await job(gateway)`` on the feed loop, through the consumer's own gateway (so
        ccxt's rate limiter and the retry policy see these calls with the snapshots); the
        returned future completes on the feed thread (cancelled when the feed stops first).
        Call after :meth:`start`."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the feed runner is not started")

        async def run():
            while self.consumer.gateway is None:  # created as the consumer starts
                await asyncio.sleep(0.01)
            return await job(self.consumer.gateway)

        return asyncio.run_coroutine_threadsafe(run(), loop)

    def health(self, book_depth: int | None = None) -> dict:
        return self.consumer.health(book_depth)

    def tops(self) -> list[dict]:
        """Each symbol's top of book (exact strings) and whether its book is in sync: cheap, for pumps."""
        c = self.consumer
        out = []
        with self.lock:
            for s in c.symbols.values():
                sync = c.session.syncs.get(s.key)
                row = {"venue": c.ex, "key": s.key, "unified": s.unified, "synced": bool(sync and sync.synced),
                       "bid": None, "bid_qty": None, "ask": None, "ask_qty": None}
                meta = c.session.parser(c.ex).symbols.get(s.symbol)
                if sync is not None and meta is not None:
                    g = meta.grid
                    bid, ask = sync.book.best()
                    if bid:
                        row["bid"], row["bid_qty"] = g.fmt_price(bid[0]), g.fmt_qty(bid[1])
                    if ask:
                        row["ask"], row["ask_qty"] = g.fmt_price(ask[0]), g.fmt_qty(ask[1])
                out.append(row)
        return out

    def book(self, key: str):
        """A copy of one book (``"binance:BTCUSDT"``), or None."""
        with self.lock:
            sync = self.consumer.session.syncs.get(key)
            return sync.book.copy() if sync is not None else None

    def stop(self, settle: float = 0.0, timeout: float = 30.0) -> None:
        """Stop (after up to ``settle`` seconds spent getting every book in sync) and join."""
        loop = self._loop
        if loop is not None and self._thread.is_alive():
            try:
                loop.call_soon_threadsafe(self.consumer.request_stop, settle)
            except RuntimeError:  # the loop already closed
                pass
        self._thread.join(timeout + settle)
        if self._thread.is_alive():
            raise RuntimeError(f"feed thread {self.config.exchange} did not stop within {timeout + settle:.0f} s")


def _cancel_leftover_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and await what is still pending when the consumer returns, as ``asyncio.run``
    does: ccxt's throttler loop outlives ``exchange.close()``, and a task destroyed while
    pending prints a warning at interpreter exit."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
