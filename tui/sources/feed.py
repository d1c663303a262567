"""Exchange market data as a ``MarketSource``: Binance, OKX, or a local ``tickdesk emulator``.

Specs (``--source``):

``binance``                        Binance spot, the public endpoints (no keys)
``okx``                            OKX, the public endpoints (no keys)
``emulator:URL``                   a ``tickdesk emulator`` at ``URL``; the exchange and the
                                   recording's symbols are asked from its ``/debug/state``
``emulator:EXCHANGE@URL``          the same with the exchange given (``binance``,
                                   ``binanceusdm`` or ``okx``): no discovery call for it

``URL`` is the emulator's websocket URL as it prints it (``ws://127.0.0.1:PORT/stream``), its
REST base (``http://127.0.0.1:PORT``) or just ``HOST:PORT``; the websocket path defaults to the
exchange's (``/stream``, ``/public/stream`` for USD-M, ``/ws/v5/public``) and REST calls go to
``http://HOST:PORT``.

The source runs one :class:`feeds.live.FeedRunner` (its own thread and asyncio loop: connect,
subscribe, REST snapshots, resyncs, reconnects) whose ``FeedConfig.on_event`` hook notes every
parsed record in a :class:`tui.sources.session_state.SessionPublisher`; a second small thread
publishes the changed symbols into ``state`` every ``publish_interval`` seconds (50 ms), so the UI
pulls at most 20 new views per second per symbol however fast the exchange sends. There are no
exchange keys: ``submit`` and ``precheck`` fail with ``NotTradable``.

On start the source also fetches each symbol's candle history (the last 720 closed 1m klines,
and 600 1s klines on Binance spot) as one job on the feed loop and seeds it into ``state`` from
the publishing thread (:mod:`tui.sources.feed_history`); ``health()`` says how that went per
symbol (``history``). ``history=False`` leaves the charts to live trades only.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

from core.instruments import Instrument
from core.market_state import MarketState
from feeds.live import FeedConfig, FeedRunner
from tui.sources.feed_history import FeedHistory
from tui.sources.session_state import ReadOnlySource, SessionPublisher

log = logging.getLogger(__name__)

NOT_TRADABLE = "trading needs the simulated market: no exchange keys configured"
EXCHANGES = ("binance", "binanceusdm", "okx")
WS_PATHS = {"binance": "/stream", "binanceusdm": "/public/stream", "okx": "/ws/v5/public"}


@dataclass(frozen=True)
class FeedSpec:
    """Where a feed source connects: exchange, endpoints (None: the real exchange) and the
    symbols the endpoint is known to serve (an emulator's recording; None: unknown)."""

    name: str
    exchange: str
    ws_url: str | None = None
    rest_url: str | None = None
    served: tuple[str, ...] | None = None


def parse_feed_spec(spec: str, discover_timeout: float = 3.0) -> FeedSpec:
    """``binance`` / ``okx`` / ``emulator:[EXCHANGE@]URL`` -> :class:`FeedSpec` (ValueError, one
    line, when the spec is malformed or an emulator cannot be asked what it serves)."""
    text = spec.strip()
    kind, _, arg = text.partition(":")
    kind = kind.lower()
    if kind in ("binance", "okx") and not arg:
        return FeedSpec(kind, kind)
    if kind != "emulator" or not arg:
        raise ValueError(f"unknown feed source {spec!r}: expected binance, okx or emulator:[EXCHANGE@]URL")
    exchange = None
    head, at, tail = arg.partition("@")
    if at and "/" not in head and ":" not in head:
        exchange, arg = head.lower(), tail
        if exchange not in EXCHANGES:
            raise ValueError(f"source {spec!r}: exchange {exchange!r} is not one of {', '.join(EXCHANGES)}")
    host, path = _host_and_path(arg, spec)
    rest = f"http://{host}"
    served = None
    if exchange is None:
        state = _debug_state(rest, spec, discover_timeout)
        exchange = state.get("exchange")
        if exchange not in EXCHANGES:
            raise ValueError(f"source {spec!r}: the emulator reports exchange {exchange!r}")
        served = tuple(state.get("symbols") or ())
    ws = f"ws://{host}{path or WS_PATHS[exchange]}"
    return FeedSpec(f"emulator:{ws}", exchange, ws, rest, served)


def _host_and_path(url: str, spec: str) -> tuple[str, str]:
    if "://" not in url:
        url = "ws://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss", "http", "https") or not parts.hostname or parts.port is None:
        raise ValueError(f"source {spec!r}: {url!r} is not an emulator address (ws://HOST:PORT[/path] or http://HOST:PORT)")
    path = parts.path if parts.scheme in ("ws", "wss") and parts.path not in ("", "/") else ""
    return f"{parts.hostname}:{parts.port}", path


def _debug_state(rest: str, spec: str, timeout: float) -> dict:
    try:
        with urllib.request.urlopen(f"{rest}/debug/state", timeout=timeout) as resp:
            return orjson.loads(resp.read())
    except (urllib.error.URLError, OSError, orjson.JSONDecodeError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ValueError(
            f"source {spec!r}: no tickdesk emulator answered at {rest}/debug/state ({reason}); "
            "is it running? (or give the exchange: emulator:binance@URL)"
        ) from None


def _norm(symbol: str) -> str:
    """``BTC/USDT`` / ``BTC-USDT`` / ``BTCUSDT`` / ``BTC/USDT:USDT`` -> ``BTCUSDT`` (for matching)."""
    return symbol.split(":", 1)[0].replace("/", "").replace("-", "").upper()


def check_symbols(spec: FeedSpec, symbols: list[str]) -> list[str]:
    """Symbols to subscribe: as given, checked against what an emulator serves (ValueError)."""
    if spec.served is None:
        return symbols
    by_norm = {_norm(s): s for s in spec.served}
    out = []
    for sym in symbols:
        hit = by_norm.get(_norm(sym))
        if hit is None:
            raise ValueError(f"unknown symbol {sym!r}: the emulator serves {', '.join(spec.served) or 'nothing'}")
        out.append(hit)
    return out


class FeedSource(ReadOnlySource):
    """A live (or emulated) exchange feed publishing L2 books and trades into ``state``."""

    not_tradable = NOT_TRADABLE
    replay = None

    def __init__(self, spec: FeedSpec, symbols: list[str], publish_interval: float = 0.05,
                 record: str | None = None, history: bool = True) -> None:
        if not symbols:
            raise ValueError(f"source {spec.name}: no symbols to subscribe")
        self.spec = spec
        self.name = spec.name
        self.requested = list(symbols)
        self.state = MarketState()
        self.publish_interval = publish_interval
        self.config = FeedConfig(exchange=spec.exchange, symbols=list(symbols), ws_url=spec.ws_url,
                                 rest_url=spec.rest_url, record=record)
        self.runner = FeedRunner(self.config)
        self.publisher = SessionPublisher(self.state, self.runner.consumer.session, time.time_ns, self.runner.lock)
        self.config.on_event = self.publisher.on_event
        self.history = FeedHistory(spec.exchange, list(symbols), self.publisher) if history else None
        self._stop = threading.Event()
        self._pump = threading.Thread(target=self._publish_loop, name=f"publish-{spec.exchange}", daemon=True)
        self._started = False

    # ------------------------------------------------------------------ MarketSource
    @property
    def symbols(self) -> list[str]:
        """Unified names once the feed has said them, else the names asked for."""
        names = [s.name for s in self.publisher.symbols.values()]
        return names or list(self.requested)

    @property
    def instruments(self) -> dict[str, Instrument]:
        return {s.name: s.instrument for s in self.publisher.symbols.values()}

    def start(self) -> None:
        self._started = True
        self.runner.start()
        if self.history is not None:
            self.history.start(self.runner)  # REST on the feed loop; seeded by the publishing thread
        self._pump.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Close the connection and join both threads."""
        self._stop.set()
        if self._pump.is_alive():
            self._pump.join(timeout)
        if self._started:
            self.runner.stop(settle=0.0, timeout=timeout)
        if self.history is not None:
            self.history.apply()
        self.publisher.flush()

    def clock_ns(self) -> int:
        return time.time_ns()

    def health(self) -> dict[str, dict]:
        """The publisher's rows with the consumer's live figures (wall-clock rates, lag of the
        exchange's event time behind receipt, staleness, the connection's reconnects)."""
        h = self.runner.health()
        conn = h["connection"]
        extra = {}
        for key, d in h["symbols"].items():
            state = d.get("state", "waiting")
            if not conn["connected"]:
                state = "down"
            elif d.get("stale_now"):
                state = "stale"
            extra[key] = {
                "state": state,
                "messages": d.get("messages", 0),
                "msgs_per_s": d.get("msgs_per_s", 0.0),
                "lag_ms": d.get("lag_ms"),
                "last_update_age_ms": d.get("last_update_age_ms"),
                "reconnects": conn["reconnects"],
                "stale_now": bool(d.get("stale_now")),
                "stale": d.get("stale", 0),
                "resubscribes": d.get("resubscribes", 0),
                "connected": conn["connected"],
                "last_error": conn.get("last_error") or (repr(self.runner.error) if self.runner.error else None),
            }
        rows = self.publisher.health(extra)
        if self.history is not None:
            self._add_history(rows)
        return rows

    def _add_history(self, rows: dict[str, dict]) -> None:
        """Each symbol's candle history (``history``: "720 1m + 600 1s candles", "loading",
        "failed: <reason>"); a symbol the feed has not named yet gets a row of its own."""
        by_norm = {_norm(row.get("exchange_symbol") or row.get("symbol", "")): row for row in rows.values()}
        for asked, fields in self.history.rows().items():
            row = by_norm.get(_norm(asked))
            if row is None:
                row = rows[f"{self.spec.exchange}:{asked}"] = {"exchange": self.spec.exchange, "symbol": asked,
                                                               "state": "waiting"}
            row.update(fields)

    # ------------------------------------------------------------------ helpers
    @property
    def alive(self) -> bool:
        return self.runner.alive

    def _publish_loop(self) -> None:
        while not self._stop.wait(self.publish_interval):
            try:
                if self.history is not None:
                    self.history.apply()
                self.publisher.flush()
            except Exception:  # a publishing bug must be visible, not kill the feed silently
                log.exception("publishing %s failed", self.name)
                raise


def open_feed(spec: str, settings, symbols: list[str] | None = None) -> FeedSource:
    """The source for ``binance`` / ``okx`` / ``emulator:...`` (see the module docstring);
    symbols default to the emulator's recording, else the config's ``[simmarket] symbols``."""
    fs = parse_feed_spec(spec)
    if symbols:
        wanted = check_symbols(fs, list(symbols))
    elif fs.served is not None:
        wanted = list(fs.served)
    else:
        wanted = list(settings.simmarket.symbols)
    return FeedSource(fs, wanted)
