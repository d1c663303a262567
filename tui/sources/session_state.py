"""A feed session's books and trades, folded into a ``MarketState`` at a bounded rate.

The live feed source and the replay source both run frames through a
:class:`feeds.session.FeedSession` (the same parsers and book syncs as ``tickdesk feed run`` and
``feed replay``). :class:`SessionPublisher` is what turns that session into the versioned state the
UI pulls:

* ``on_event`` (the session's / consumer's ``on_event`` hook, on the feed thread) only notes the
  symbol as changed and keeps its trades as exact decimal strings: nothing is published per
  message;
* ``flush`` (at most every ``interval`` seconds per source, from the publishing thread) copies each
  changed book's top levels and publishes one ``MarketView`` per changed symbol with
  ``MarketState.publish_l2``. A flush costs the same whatever the message rate was.
* discrete feed events (a sequence gap, a resync, a crossed book) are posted to the state's
  event channel, where the journal screen shows them.

Symbols are named by their unified name (``BTC/USDT``; ``BTC/USDT:USDT`` for USD-M); when two
venues of one replay share a unified name the later one is ``BTC/USDT@okx``.

Price grid for display. The feed's book grid is the exchange's *string* precision (``1E-8`` for
Binance spot), far finer than the prices actually used (BTCUSDT trades on 0.01): a ladder on a
1E-8 grid would show empty rows. Each symbol's ``Instrument`` therefore uses the coarsest power
of ten that divides every price seen -- the whole book at the first synced flush, then every
published level and trade. A price off that grid (an old order on a finer tick) refines it at
once (``MarketState.regrid`` rescales tape and candles exactly). ``Level.ticks`` are in that
display tick; the strings are exact either way.
"""

from __future__ import annotations

import contextlib
import math
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.instruments import Asset, Instrument
from core.l2book import BookGrid
from core.market_state import MarketState
from core.marketdata import Trade
from core.numbers import decimal_places
from feeds.live import SymbolLive, _percentiles
from feeds.session import FeedSession
from tui.sources.base import refused

NS = 1_000_000_000
_HUGE = Decimal(10) ** 12  # exchange books are not limited by the simulated venue's maxima


def pow10_divisor(value: int, limit: int) -> int:
    """The largest power of ten <= ``limit`` that divides ``value`` (1 for 0 or no such)."""
    d = 1
    while d * 10 <= limit and value % (d * 10) == 0:
        d *= 10
    return d


def instrument_for(name: str, tick: Decimal, lot: Decimal) -> Instrument:
    """An ``Instrument`` on ``tick``/``lot`` for display and exact conversions (no trading limits)."""
    pair = name.split("@", 1)[0].split(":", 1)[0]
    base, _, quote = pair.partition("/")
    lot_places = decimal_places(lot)
    return Instrument(
        symbol=name,
        base=Asset(base or name, decimals=lot_places),
        quote=Asset(quote or "?", decimals=decimal_places(tick) + lot_places),
        tick_size=tick,
        lot_size=lot,
        min_qty=lot,
        min_notional=Decimal(0),
        max_qty=_HUGE,
        max_price=_HUGE,
    )


@dataclass
class SymbolFeed:
    """Per-symbol bookkeeping between two flushes (touched under the publisher's lock)."""

    key: str  # "binance:BTCUSDT"
    venue: str
    exchange_symbol: str
    name: str  # unified, the MarketState symbol
    grid: BookGrid
    instrument: Instrument
    live: SymbolLive  # message counts / rate / lag samples (recorded time for a replay)
    scale: int = 1  # display tick = grid tick x scale (see the module docstring)
    fitted: bool = False  # the scale was chosen from a whole synced book
    trades: list[tuple] = field(default_factory=list)  # (ts, trade id, taker side, grid ticks, lots)
    dirty: bool = True
    first_ts: int = 0  # recorded exchange time of the first / last event
    last_ts: int = 0
    trades_total: int = 0
    first_trade_ts: int = 0
    last_trade_ts: int = 0
    seen: dict[str, int] = field(default_factory=dict)  # gaps/resyncs/crossed already reported


class ReadOnlySource:
    """What a source without an account answers to trading calls: a clear refusal."""

    can_trade = False
    not_tradable = "trading needs the simulated market"

    def submit(self, cmd: dict) -> Future:
        return refused(self.not_tradable)

    def precheck(self, cmd: dict) -> Future:
        return refused(self.not_tradable)

    def account(self) -> None:
        return None


class SessionPublisher:
    """Folds one ``FeedSession`` into ``state`` (see the module docstring).

    ``clock`` says what "now" is for rates and ages: wall time for a live feed, the replay
    clock for a replay. ``session_lock`` is the lock the session is used under (the feed
    runner's), or None when one thread does everything (a headless replay).
    """

    def __init__(
        self,
        state: MarketState,
        session: FeedSession,
        clock,
        session_lock: threading.Lock | None = None,
        wanted: set[str] | None = None,
    ) -> None:
        self.state = state
        self.session = session
        self.clock = clock
        self.lock = session_lock if session_lock is not None else contextlib.nullcontext()
        self.wanted = wanted  # unified names / exchange ids to keep (None: every symbol)
        self.symbols: dict[str, SymbolFeed] = {}  # by key
        self.by_name: dict[str, SymbolFeed] = {}
        self.ignored: set[str] = set()

    # ------------------------------------------------------------------ feed thread
    def on_event(self, rec: Any) -> None:
        """The session's hook: note the change, keep trades (under the session lock)."""
        key = getattr(rec, "key", None)
        if key is None or key in self.ignored:
            return
        sym = self.symbols.get(key) or self._register(key)
        if sym is None:
            return
        sym.dirty = True
        ts_ex = getattr(rec, "ts_ex_ns", 0)
        ts = ts_ex or rec.ts_ns
        if not sym.first_ts:
            sym.first_ts = ts
        sym.last_ts = max(sym.last_ts, ts)
        now = self.clock() / NS
        sym.live.count(now)
        if ts_ex:
            sym.live.lags_ns.append(rec.ts_ns - ts_ex)
        if type(rec) is Trade:
            sym.trades.append((ts, rec.trade_id, rec.taker_side, rec.price, rec.qty))
            sym.trades_total += 1
            sym.first_trade_ts = sym.first_trade_ts or ts
            sym.last_trade_ts = max(sym.last_trade_ts, ts)

    def _register(self, key: str) -> SymbolFeed | None:
        venue, _, exsym = key.partition(":")
        meta = self.session.parser(venue).symbols.get(exsym)
        if meta is None:
            return None  # no grid yet (a frame that named the symbol but failed to parse)
        if self.wanted is not None and not ({meta.unified, exsym, exsym.upper()} & self.wanted):
            self.ignored.add(key)
            return None
        name = meta.unified if meta.unified not in self.by_name else f"{meta.unified}@{venue}"
        sym = SymbolFeed(key, venue, exsym, name, meta.grid, instrument_for(name, meta.grid.tick, meta.grid.lot),
                         SymbolLive(key, exsym, name))
        self.symbols[key] = sym
        self.by_name[name] = sym
        return sym

    # ------------------------------------------------------------------ publishing thread
    def flush(self, ts: int | None = None) -> int:
        """Publish every changed symbol; returns how many views were published."""
        ts = self.clock() if ts is None else ts
        work = []
        events = []
        with self.lock:
            for sym in self.symbols.values():
                if not sym.dirty:
                    continue
                sym.dirty = False
                sync = self.session.syncs.get(sym.key)
                if sync is None:
                    continue
                meta = self.session.parser(sym.venue).symbols.get(sym.exchange_symbol)
                if meta is not None and meta.grid != sym.grid:
                    self._regrid(sym, meta.grid)
                trades, sym.trades = sym.trades, []
                if sync.synced:
                    if not sym.fitted:
                        self._fit(sym, [*sync.book.bids, *sync.book.asks, *(t[3] for t in trades)])
                    bids, asks = sync.book.top(self.state.depth)
                    self._fit(sym, [t for t, _ in bids] + [t for t, _ in asks] + [t[3] for t in trades])
                    k = sym.scale
                    # Only the top levels are copied, under the lock; formatting happens outside it.
                    book = _Top(sync.book.version, [(t // k, q) for t, q in bids], [(t // k, q) for t, q in asks])
                else:
                    self._fit(sym, [t[3] for t in trades])
                    book = _EMPTY  # an unsynced book shows nothing (never a half-built book)
                events.extend(self._feed_events(sym, sync))
                work.append((sym.instrument, book, self._trade_dicts(sym, trades)))
        n = 0
        for instrument, book, trades in work:
            if self.state.publish_l2(instrument, book, trades, ts) is not None:
                n += 1
        for ev in events:
            self.state.post_event(ev)
        return n

    @staticmethod
    def _trade_dicts(sym: SymbolFeed, trades: list[tuple]) -> list[dict]:
        fp, fq, k = sym.instrument.fmt_price, sym.instrument.fmt_qty, sym.scale
        return [{"ts": ts, "seq": tid, "taker_side": side, "price": fp(p // k), "qty": fq(q)} for ts, tid, side, p, q in trades]

    def _fit(self, sym: SymbolFeed, ticks: list[int]) -> None:
        """Coarsen the display tick from a whole book (first time), or refine it for a price
        off it; the MarketState follows exactly."""
        if not ticks:
            return
        if not sym.fitted:
            scale = pow10_divisor(math.gcd(*ticks), 10**18)
            sym.fitted = True
        else:
            k = sym.scale
            if all(t % k == 0 for t in ticks):
                return
            scale = pow10_divisor(math.gcd(k, *ticks), k)
        if scale == sym.scale:
            return
        old = sym.scale
        sym.scale = scale
        sym.instrument = instrument_for(sym.name, sym.grid.tick * scale, sym.grid.lot)
        # Refining multiplies what was published; the first (coarsening) fit comes before any
        # price was published for the symbol (only empty books), so swapping is exact.
        self.state.regrid(sym.instrument, old // scale if scale < old else 1, 1)

    def _regrid(self, sym: SymbolFeed, grid: BookGrid) -> None:
        """The session moved the symbol to a finer grid (an off-grid string): the same display
        tick is ``scale`` x more grid ticks; a finer lot rescales the published quantities."""
        fp, fq = int(sym.grid.tick / grid.tick), int(sym.grid.lot / grid.lot)
        sym.grid = grid
        sym.scale *= fp
        if fq != 1:
            sym.instrument = instrument_for(sym.name, grid.tick * sym.scale, grid.lot)
            self.state.regrid(sym.instrument, 1, fq)

    def _feed_events(self, sym: SymbolFeed, sync) -> list[dict]:
        """Discrete events for counters that moved since the last flush."""
        h = sync.health
        out = []
        for counter, kind in (("gaps", "feed_gap"), ("resyncs", "feed_resync"), ("crossed", "feed_crossed"),
                              ("checksum_bad", "feed_checksum_bad")):
            value = getattr(h, counter)
            before = sym.seen.get(counter, 0)
            if value > before:
                out.append({"event": kind, "venue": sym.venue, "symbol": sym.name, "count": value - before,
                            "total": value, "reason": getattr(sync, "last_resync_reason", None) or "", "ts": sym.last_ts})
                sym.seen[counter] = value
        return out

    # ------------------------------------------------------------------ health (any thread)
    def health(self, extra: dict[str, dict] | None = None) -> dict[str, dict]:
        """Per ``"<venue>:<symbol>"`` health rows (see :func:`health_row`); ``extra`` adds
        fields per key (a live consumer's connection data)."""
        now = self.clock()
        out = {}
        with self.lock:
            report = self.session.report()["symbols"]
            for sym in self.symbols.values():
                rep = report.get(sym.key, {})
                row = health_row(sym, rep, now)
                if extra and sym.key in extra:
                    row.update(extra[sym.key])
                out[f"{sym.venue}:{sym.name}"] = row
        return out


def health_row(sym: SymbolFeed, rep: dict, now_ns: int) -> dict:
    """One symbol's health, named as ``feeds.live`` names it (and the sim source follows):
    ``state``, ``msgs_per_s``, ``gaps``, ``resyncs``, ``checksum_ok``/``checksum_bad``,
    ``lag_ms`` (percentiles of receive time minus exchange time), ``last_update_age_ms``,
    ``stale_now``, ``reconnects``."""
    last = rep.get("last_ts_ns")  # receive time, on the same clock as ``now_ns`` (wall or replay)
    return {
        "exchange": sym.venue,
        "symbol": sym.name,
        "exchange_symbol": sym.exchange_symbol,
        "state": rep.get("state", "waiting"),
        "synced": bool(rep.get("synced")),
        "messages": sym.live.messages,
        "msgs_per_s": sym.live.rate(now_ns / NS),
        "events": rep.get("events", 0),
        "applied": rep.get("applied", 0),
        "gaps": rep.get("gaps", 0),
        "resyncs": rep.get("resyncs", 0),
        "crossed": rep.get("crossed", 0),
        "checksum_ok": rep.get("checksum_ok", 0),
        "checksum_bad": rep.get("checksum_bad", 0),
        "trades": sym.trades_total,
        "lag_ms": _percentiles(sym.live.lags_ns),
        "last_update_age_ms": round((now_ns - last) / 1e6, 1) if last else None,
        "reconnects": 0,
        "stale_now": False,
        "best": rep.get("best"),
        "last_resync_reason": rep.get("last_resync_reason"),
    }


class _Top:
    """The top levels of a book copied under the session lock (what ``publish_l2`` reads)."""

    __slots__ = ("version", "bids", "asks")

    def __init__(self, version: int, bids: list, asks: list) -> None:
        self.version, self.bids, self.asks = version, bids, asks

    def top(self, n: int) -> tuple[list, list]:
        return self.bids[:n], self.asks[:n]


_EMPTY = _Top(-1, [], [])  # an unsynced book shows nothing (never a half-built book)
