"""The emulator's server: one ``websockets`` server on one port for WebSocket and REST.

WebSocket upgrades go to the venue (Binance or OKX); plain HTTP GETs are answered from
``process_request`` (REST endpoints the consumers and ccxt need, plus ``/debug/*``).  A
single player task walks the recorded timeline at the original pace times ``speed`` (or at a
fixed ``rate``), lets the venue update its TRUE books and pushes every frame to the
subscribed clients.  Each client has its own queue and sender task, where the faults of
``--faults`` are applied, so one slow or faulted client never disturbs another.
"""

from __future__ import annotations

import asyncio
import http
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from feeds.emulator.faults import SHUTDOWN_GRACE, FaultCounters, FaultRoller, FaultSpec
from feeds.emulator.source import Timeline

log = logging.getLogger(__name__)

MAX_CLIENT_QUEUE = 200_000  # frames; beyond this a client is too slow and is disconnected
BACKPRESSURE_QUEUE = 20_000  # at --speed 0 the player waits while a client queue is this long


@dataclass
class EmulatorConfig:
    speed: float = 1.0  # 0: as fast as the clients take it
    rate: float | None = None  # frames per second, ignoring recorded times
    loop: bool = False
    faults: FaultSpec = field(default_factory=FaultSpec)
    host: str = "127.0.0.1"
    port: int = 0
    wait_client: bool = True  # start playback on the first subscription
    rewrite_times: bool = True  # event times become the send time (lag metrics stay meaningful)
    ping_interval: float | None = 20.0  # Binance: server pings every 20 s
    ping_timeout: float | None = 60.0
    okx_checksum: str = "computed"  # computed | zero (OKX since June 2026)
    okx_snapshot: bool = True  # False: no WS snapshot on subscribe (REST bootstrap needed)
    klines_path: str | None = None
    history: int = 5_000  # undo steps kept per book (for /debug/book?at=ID); bounded memory
    strict_limits: bool = True  # Binance: more than 5 incoming messages per second disconnects


class Client:
    """One WebSocket client: subscriptions, an outgoing queue, faults and their counters."""

    def __init__(self, emu: "Emulator", ws: ServerConnection, index: int) -> None:
        self.emu = emu
        self.ws = ws
        self.index = index
        self.roller = FaultRoller(emu.config.faults, index)
        self.counters = FaultCounters()
        self.queue: deque = deque()
        self.wake = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        self.opened = self.loop.time()
        self.subs: dict = {}  # venue-specific: subscription key -> what the client asked for
        self.ready: set = set()  # OKX: books subscriptions that got their snapshot
        spec = emu.config.faults
        self.next_stall = self.opened + spec.stall_every if spec.stall_every else None
        self.stall_until: float | None = None
        self.held: tuple | None = None  # a frame held back by the reorder fault
        self.sent = 0
        self.closed = False
        self.incoming: deque = deque()  # times of recent incoming messages (rate limit)
        self.combined = True  # Binance: combined-stream envelopes
        self.conn_id = ""  # OKX connId
        self.last_io = self.opened

    # ----------------------------------------------------------- queueing
    def send_control(self, text: str) -> None:
        """A control reply (ack, pong, error): never faulted, kept in order with the data."""
        self._push((0, text, None, None))

    def send_data(self, text: str, is_depth: bool, corrupt: str | None = None, group: str | None = None) -> None:
        """A data frame (faulted); ``group`` (the symbol of a book frame) scopes the reorder fault."""
        self._push((2 if is_depth else 1, text, corrupt, group))

    def _push(self, entry: tuple) -> None:
        if self.closed:
            return
        self.queue.append(entry)
        if len(self.queue) > MAX_CLIENT_QUEUE:
            self.closed = True
            self.queue.clear()
            log.warning("client %d too slow (%d frames queued): disconnecting", self.index, MAX_CLIENT_QUEUE)
            self.loop.create_task(self.ws.close(1008, "slow consumer"))
        self.wake.set()

    def resubscribed(self) -> None:
        """The client (un)subscribed: a stall on this connection ends."""
        if self.stall_until is not None:
            self.stall_until = None
            spec = self.emu.config.faults
            self.next_stall = self.loop.time() + spec.stall_every if spec.stall_every else None

    # ----------------------------------------------------------- sending
    async def sender(self) -> None:
        ws = self.ws
        try:
            while True:
                if not self.queue:
                    self.wake.clear()
                    await self.wake.wait()
                    continue
                kind, text, corrupt, group = self.queue.popleft()
                if kind == 0:
                    await ws.send(text)
                    continue
                for out in self._faulted(kind == 2, text, corrupt, group):
                    await ws.send(out)
                    self.sent += 1
        except ConnectionClosed:
            pass
        finally:
            self.closed = True

    def _faulted(self, is_depth: bool, text: str, corrupt: str | None, group: str | None = None) -> list[str]:
        emu = self.emu
        spec = emu.config.faults
        if not spec.any or not spec.active(emu.playback_seconds()):
            return self._release([text], is_depth, group)
        c = self.counters
        now = self.loop.time()
        if self.stall_until is not None:
            if now < self.stall_until:
                c.stalled_frames += 1
                c.stalled_depth += is_depth
                return []
            self.stall_until = None
            self.next_stall = now + spec.stall_every
        elif self.next_stall is not None and now >= self.next_stall:
            self.stall_until = now + spec.stall_for if spec.stall_for else float("inf")
            c.stalls += 1
            c.stalled_frames += 1
            c.stalled_depth += is_depth
            self.held = None
            return []
        r = self.roller
        out: list[str] = []
        if r.roll("garbage"):
            out.append(r.garbage_frame())
            c.garbage += 1
        if r.roll("drop"):
            c.dropped += 1
            c.dropped_depth += is_depth
            return out
        if corrupt is not None and r.roll("corrupt"):
            text = corrupt
            c.corrupted += 1
        if self.held is None and r.roll("reorder"):
            self.held = (text, is_depth, group)
            c.reordered += 1
            c.reordered_depth += is_depth
            return out
        out.append(text)
        if r.roll("dup"):
            out.append(text)
            c.duplicated += 1
            c.duplicated_depth += is_depth
        return self._release(out, is_depth, group)

    def _release(self, out: list[str], is_depth: bool, group: str | None) -> list[str]:
        """A held (reordered) frame goes out right after the next frame of its own kind and group."""
        held = self.held
        if held is not None and held[1] == is_depth and held[2] == group:
            out.append(held[0])
            self.held = None
        return out

    async def disconnector(self) -> None:
        """``disconnect=N``: close this connection N seconds after it opened (when faults are on)."""
        spec = self.emu.config.faults
        if spec.disconnect is None:
            return
        while not self.closed:
            await asyncio.sleep(spec.disconnect)
            if self.closed:
                return
            if spec.active(self.emu.playback_seconds()):
                self.counters.disconnects += 1
                log.info("fault: disconnecting client %d", self.index)
                await self.ws.close(1001, "emulator fault: disconnect")
                return

    async def shutdowner(self) -> None:
        """``shutdown=N``: a ``serverShutdown`` notice N seconds after opening, the close 2 s later."""
        spec = self.emu.config.faults
        notice = getattr(self.emu.venue, "shutdown_notice", None)
        if spec.shutdown is None or notice is None:
            return
        while not self.closed:
            await asyncio.sleep(spec.shutdown)
            if self.closed:
                return
            if spec.active(self.emu.playback_seconds()):
                self.counters.shutdowns += 1
                log.info("fault: serverShutdown to client %d", self.index)
                self.send_control(notice(self))
                await asyncio.sleep(SHUTDOWN_GRACE)
                await self.ws.close(1001, "server shutdown")
                return

    def allow_incoming(self) -> bool:
        """Binance: at most 5 incoming messages per second (strict mode)."""
        if not self.emu.config.strict_limits:
            return True
        now = self.loop.time()
        q = self.incoming
        q.append(now)
        while q and q[0] <= now - 1.0:
            q.popleft()
        return len(q) <= 5


class Emulator:
    """A protocol-faithful fake exchange serving a recording (see the package docstring)."""

    def __init__(self, timeline: Timeline, config: EmulatorConfig | None = None) -> None:
        from feeds.emulator.binance import BinanceVenue
        from feeds.emulator.okx import OkxVenue

        self.timeline = timeline
        self.config = config or EmulatorConfig()
        venue_cls = OkxVenue if timeline.exchange == "okx" else BinanceVenue
        self.venue = venue_cls(self)
        self.clients: dict[int, Client] = {}
        self.totals = FaultCounters()  # counters of clients that are gone
        self.client_count = 0
        self.published = 0
        self.loops = 0
        self.done = False
        self.play_start: float | None = None
        self.started: asyncio.Event | None = None  # created in start() (needs the running loop)
        self._server = None
        self._player: asyncio.Task | None = None
        self.port: int | None = None
        self.rest_requests = 0

    # ----------------------------------------------------------- lifecycle
    async def start(self) -> int:
        self.started = asyncio.Event()
        if not self.config.wait_client:
            self.started.set()
        cfg = self.config
        self._server = await serve(
            self._ws_handler,
            cfg.host,
            cfg.port,
            process_request=self._process_request,
            ping_interval=cfg.ping_interval if self.timeline.exchange != "okx" else None,
            ping_timeout=cfg.ping_timeout,
            max_size=2**20,
            compression=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._player = asyncio.create_task(self._play())
        return self.port

    async def stop(self) -> None:
        if self._player is not None:
            self._player.cancel()
            try:
                await self._player
            except (asyncio.CancelledError, Exception):
                pass
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def urls(self) -> dict:
        base = f"{self.config.host}:{self.port}"
        ws = f"ws://{base}/ws/v5/public" if self.timeline.exchange == "okx" else f"ws://{base}/stream"
        extra = {"business_ws_url": f"ws://{base}/ws/v5/business"} if self.timeline.exchange == "okx" else {}
        return {
            "exchange": self.timeline.exchange,
            "port": self.port,
            "ws_url": ws,
            **extra,
            "rest_url": f"http://{base}",
            "debug_url": f"http://{base}/debug/state",
        }

    def playback_seconds(self) -> float:
        if self.play_start is None:
            return 0.0
        # The default event loop's clock is time.monotonic(): callable from any thread.
        return time.monotonic() - self.play_start

    def begin(self) -> None:
        """A client subscribed: start the playback (when waiting for one)."""
        if self.started is not None and not self.started.is_set():
            self.started.set()

    # ----------------------------------------------------------- playback
    async def _play(self) -> None:
        await self.started.wait()
        loop = asyncio.get_running_loop()
        cfg = self.config
        items = self.timeline.items
        self.play_start = loop.time()
        gap = _median_gap(items)
        span = items[-1].t_ns / 1e9 + gap
        base = 0.0
        since_yield = 0
        venue = self.venue
        while True:
            for item in items:
                if cfg.rate:
                    target = self.play_start + self.published / cfg.rate
                elif cfg.speed > 0:
                    target = self.play_start + (base + item.t_ns / 1e9) / cfg.speed
                else:
                    target = None
                if target is not None and target - loop.time() > 0.0005:
                    await asyncio.sleep(target - loop.time())
                    since_yield = 0
                else:
                    since_yield += 1
                    if since_yield >= 64:
                        since_yield = 0
                        await asyncio.sleep(0)
                        if target is None:
                            while any(len(c.queue) > BACKPRESSURE_QUEUE for c in self.clients.values()):
                                await asyncio.sleep(0.005)
                venue.publish(item, self.loops)
                self.published += 1
            if not cfg.loop:
                break
            self.loops += 1
            base += span
            venue.on_loop(self.loops)
        self.done = True
        log.info("recording finished: %d frames published", self.published)

    # ----------------------------------------------------------- websocket
    async def _ws_handler(self, ws: ServerConnection) -> None:
        self.client_count += 1
        client = Client(self, ws, self.client_count)
        self.clients[client.index] = client
        sender = asyncio.create_task(client.sender())
        disc = asyncio.create_task(client.disconnector())
        shut = asyncio.create_task(client.shutdowner())
        try:
            await self.venue.handle(client)
        except ConnectionClosed:
            pass
        finally:
            client.closed = True
            sender.cancel()
            disc.cancel()
            shut.cancel()
            self.venue.forget(client)
            self.clients.pop(client.index, None)
            self.totals.add(client.counters)

    # ----------------------------------------------------------- REST
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            parts = urlsplit(request.path)
            if self.venue.accepts_ws_path(parts.path):
                return None
            return _json_response(http.HTTPStatus.NOT_FOUND, {"code": -1, "msg": f"no websocket endpoint {parts.path}"})
        self.rest_requests += 1
        parts = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            if parts.path == "/debug/state":
                return _json_response(http.HTTPStatus.OK, self.state())
            if parts.path == "/debug/book":
                status, body = self.debug_book(query)
                return _json_response(status, body)
            status, body, headers = self.venue.rest(parts.path, query)
        except Exception as exc:  # a bug must not kill the server: answer 500 and log it
            log.exception("REST %s failed", request.path)
            return _json_response(http.HTTPStatus.INTERNAL_SERVER_ERROR, {"code": -1000, "msg": str(exc)})
        return _json_response(status, body, headers)

    def debug_book(self, query: dict) -> tuple[int, dict]:
        sym = query.get("symbol") or query.get("instId") or ""
        book = self.venue.true_book(sym)
        if book is None or not book.known:
            return 404, {"error": f"no book for symbol {sym!r}", "symbols": self.venue.book_symbols()}
        at = query.get("at")
        if at not in (None, ""):
            try:
                at_id = int(at)
            except ValueError:
                return 400, {"error": f"at={at!r} is not an integer"}
            old = book.at(at_id)
            if old is None:
                return 404, {
                    "error": f"no state of {sym} with id {at_id} in the history",
                    "id": book.id,
                    "oldest_id": book.oldest_id(),
                }
            book = old
        depth = query.get("depth")
        n = int(depth) if depth and depth.isdigit() else None
        bids, asks = book.levels(n)
        return 200, {
            "symbol": sym,
            "id": book.id,
            "bids": [lvl[:2] for lvl in bids],
            "asks": [lvl[:2] for lvl in asks],
        }

    def state(self) -> dict:
        faults = FaultCounters()
        faults.add(self.totals)
        for c in self.clients.values():
            faults.add(c.counters)
        return {
            "exchange": self.timeline.exchange,
            "files": self.timeline.files,
            "playing": self.play_start is not None and not self.done,
            "playback_seconds": round(self.playback_seconds(), 3),
            "frames_total": len(self.timeline.items),
            "published": self.published,
            "loops": self.loops,
            "done": self.done,
            "clients_now": len(self.clients),
            "clients_total": self.client_count,
            "rest_requests": self.rest_requests,
            "faults_spec": self.config.faults.as_dict(),
            "faults": faults.as_dict(),
            "symbols": self.venue.symbols_state(),
        }


def _median_gap(items: list) -> float:
    if len(items) < 2:
        return 0.1
    gaps = sorted(b.t_ns - a.t_ns for a, b in zip(items, items[1:]) if b.t_ns > a.t_ns)
    return gaps[len(gaps) // 2] / 1e9 if gaps else 0.1


def _json_response(status: int, body: object, headers: dict | None = None) -> Response:
    data = orjson.dumps(body)
    status = http.HTTPStatus(status)
    h = Headers(
        [
            ("Date", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())),
            ("Connection", "close"),
            ("Content-Type", "application/json;charset=UTF-8"),
            ("Content-Length", str(len(data))),
        ]
    )
    for k, v in (headers or {}).items():
        h[k] = v
    return Response(status.value, status.phrase, h, data)


class EmulatorThread:
    """Run an :class:`Emulator` on its own thread and event loop (for embedding and tests)."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="emulator", daemon=True)

    def start(self, timeout: float = 10.0) -> dict:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("emulator did not start in time")
        if self._error is not None:
            raise self._error
        return self.emulator.urls()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.emulator.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        await self.emulator.stop()

    def call(self, fn, timeout: float = 10.0):
        """Run ``fn()`` on the emulator's loop and return its result (thread-safe)."""
        async def wrap():
            return fn()

        return asyncio.run_coroutine_threadsafe(wrap(), self._loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
