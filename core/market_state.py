"""Versioned market state the UI pulls, and the channel for discrete events it is pushed.

The worker that owns the engine publishes one immutable ``MarketView`` per symbol after each
step; a reader (the TUI pump at 15-20 Hz, a CLI printing once a second) calls ``view(symbol)``
and compares ``version`` with what it last drew. Nothing per tick is pushed at the UI: a busy
market costs the reader nothing between its own pulls, and a slow reader never backs up the
engine. Only low-rate discrete events (a user's fills, rejects) go through ``post_event`` to a
bounded buffer and to subscribers.

Snapshots keep both exact integers (ticks, lots) for arithmetic and the instrument's decimal
strings for display, formatted once here rather than in every widget.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, NamedTuple

from core.instruments import Instrument

NS_PER_SECOND = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Level:
    """One aggregated price level: visible quantity and number of orders."""

    ticks: int
    lots: int
    orders: int
    price: str
    qty: str


@dataclass(frozen=True, slots=True)
class TapeTrade:
    """One print on the tape; ``side`` is the taker's side (the aggressor)."""

    ts: int
    seq: int
    side: str
    ticks: int
    lots: int
    price: str
    qty: str


@dataclass(frozen=True, slots=True)
class Candle:
    """OHLCV over ``[start, start + interval)`` in simulated/exchange nanoseconds."""

    start: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    trades: int


@dataclass(frozen=True, slots=True)
class MarketView:
    """Everything a ladder, tape, ticker or chart needs for one symbol, as of ``ts``.

    ``version`` changes only when the content does; ``ts`` advances with every publish."""

    symbol: str
    version: int
    ts: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    best_bid: str | None
    best_ask: str | None
    last: str | None
    trades: tuple[TapeTrade, ...]  # oldest first, bounded
    candles_1s: tuple[Candle, ...]
    candles_1m: tuple[Candle, ...]
    trade_count: int  # since the state was created
    volume: str  # base quantity traded since the state was created
    spread_ticks: int | None
    mid: Decimal | None


class Balance(NamedTuple):
    """One asset of the account: ``available`` to trade and ``held`` by open orders."""

    asset: str
    available: str
    held: str


class OpenOrder(NamedTuple):
    """One of the account's open orders (resting, or ``pending`` a trigger).

    ``price_ticks``/``leaves_lots`` are the exact integers behind ``price``/``leaves`` (the
    ladder marks own orders by tick); ``stop_price`` is set for conditional orders."""

    id: str
    symbol: str
    side: str
    type: str
    price: str | None
    qty: str
    leaves: str
    tif: str
    status: str
    stop_price: str | None = None
    price_ticks: int | None = None
    leaves_lots: int = 0


class Position(NamedTuple):
    """Net position in base (signed), its average entry price and unrealised PnL in quote."""

    symbol: str
    qty: str
    avg_price: str | None
    unrealised_pnl: str | None
    realised_pnl: str = "0"


@dataclass(frozen=True, slots=True)
class AccountView:
    """The user account as of ``ts``: balances, open orders, positions, trading state, fee tier.

    Published by the worker that owns the engine (see ``core.simmarket.account``); ``version``
    changes only when the content does, so a UI table diffs only after a real change."""

    version: int
    account: str
    balances: tuple[Balance, ...]
    orders: tuple[OpenOrder, ...]
    positions: tuple[Position, ...]
    trading_state: str  # "ACTIVE" | "REDUCING" | "HALTED"
    fee_tier: str
    ts: int = 0
    symbol_states: tuple[tuple[str, str], ...] = ()  # (symbol, state) for symbols not ACTIVE

    def content(self) -> tuple:
        """Everything but ``version`` and ``ts`` (what decides whether a new version is due)."""
        return (self.account, self.balances, self.orders, self.positions, self.trading_state, self.fee_tier,
                self.symbol_states)


class _Bar:
    """A candle being built, in integers."""

    __slots__ = ("start", "o", "h", "l", "c", "v", "n")

    def __init__(self, start: int, ticks: int) -> None:
        self.start, self.o, self.h, self.l, self.c, self.v, self.n = start, ticks, ticks, ticks, ticks, 0, 0


class CandleSeries:
    """Fixed-interval candles from trades; seconds without trades become flat candles so a
    chart's x axis is time, not trade count. Closed candles are formatted once and kept in a
    bounded deque."""

    def __init__(self, instrument: Instrument, interval_ns: int, maxlen: int) -> None:
        self.instrument = instrument
        self.interval = interval_ns
        self.closed: deque[Candle] = deque(maxlen=maxlen)
        self.bar: _Bar | None = None
        self._closed_tuple: tuple[Candle, ...] = ()
        self._dirty = False

    def add(self, ts: int, ticks: int, lots: int) -> None:
        start = ts - ts % self.interval
        bar = self.bar
        if bar is None:
            if self.closed:
                self._join_history(start)
            bar = self.bar = _Bar(start, ticks)
        elif start > bar.start:
            self._close(bar)
            # Fill the gap with flat candles at the last close (only as many as can be kept).
            gap = (start - bar.start) // self.interval - 1
            first = max(1, gap - (self.closed.maxlen or gap) + 1)
            for k in range(first, gap + 1):
                flat = _Bar(bar.start + k * self.interval, bar.c)
                self._close(flat)
            bar = self.bar = _Bar(start, ticks)
        # A trade stamped earlier than the open bar (never from one engine) joins the open bar.
        bar.h = max(bar.h, ticks)
        bar.l = min(bar.l, ticks)
        bar.c = ticks
        bar.v += lots
        bar.n += 1

    def _join_history(self, start: int) -> None:
        """The first live trade lands after seeded history: the live bucket wins over history
        for the same (or a later) start, and the time between them is filled flat."""
        closed = self.closed
        while closed and closed[-1].start >= start:
            closed.pop()
        if closed:
            closed.extend(self._flats(closed[-1], start))
        self._dirty = True

    def _flats(self, before: Candle, until: int) -> list[Candle]:
        """Flat candles at ``before``'s close for every interval strictly between ``before`` and
        ``until`` -- none when there are more than the series keeps (history far older than the
        live feed, e.g. an emulator replaying an old recording with send-time stamps: filling it
        would push every history candle out, so history and live stay side by side)."""
        iv = self.interval
        gap = (until - before.start) // iv - 1
        if gap <= 0 or gap > (self.closed.maxlen or gap):
            return []
        c, zero = before.close, self.instrument.fmt_qty(0)
        return [Candle(before.start + k * iv, c, c, c, c, zero, 0) for k in range(1, gap + 1)]

    def seed(self, history: list[Candle]) -> int:
        """Merge closed ``history`` candles (oldest first, on this interval's boundaries) into
        the series; returns how many of them are kept.

        Rules: only candles strictly before the bucket being formed are taken; a candle the
        series already holds wins over history for the same start (live data is newer); gaps
        are filled flat at the previous close (see :meth:`_flats`); the newest ``maxlen``
        candles are kept."""
        iv, keep = self.interval, self.closed.maxlen or len(history) + len(self.closed)
        forming = self.bar.start if self.bar is not None else None
        merged = {c.start: c for c in history if forming is None or c.start < forming}
        taken = set(merged) - {c.start for c in self.closed}
        merged.update((c.start, c) for c in self.closed)
        out: list[Candle] = []  # newest first, walking back until the bound is reached
        after = forming
        for start in sorted(merged, reverse=True):
            c = merged[start]
            if after is not None:
                out.extend(reversed(self._flats(c, after)[-(keep - len(out)):]) if len(out) < keep else ())
            if len(out) >= keep:
                break
            out.append(c)
            after = start
        out.reverse()
        self.closed = deque(out, maxlen=self.closed.maxlen)
        self._dirty = True
        return sum(1 for c in out if c.start in taken and merged[c.start] is c)

    def _close(self, bar: _Bar) -> None:
        self.closed.append(self._fmt(bar))
        self._dirty = True

    def _fmt(self, bar: _Bar) -> Candle:
        fp, fq = self.instrument.fmt_price, self.instrument.fmt_qty
        return Candle(bar.start, fp(bar.o), fp(bar.h), fp(bar.l), fp(bar.c), fq(bar.v), bar.n)

    def snapshot(self) -> tuple[Candle, ...]:
        if self._dirty:
            self._closed_tuple = tuple(self.closed)
            self._dirty = False
        if self.bar is None:
            return self._closed_tuple
        return self._closed_tuple + (self._fmt(self.bar),)


class _SymbolState:
    """Mutable per-symbol accumulators, touched only by the publishing thread."""

    def __init__(self, instrument: Instrument, tape: int, n1s: int, n1m: int) -> None:
        self.instrument = instrument
        self.tape: deque[TapeTrade] = deque(maxlen=tape)
        self.c1s = CandleSeries(instrument, NS_PER_SECOND, n1s)
        self.c1m = CandleSeries(instrument, 60 * NS_PER_SECOND, n1m)
        self.trade_count = 0
        self.volume_lots = 0
        self.last: str | None = None
        self.book_version = -1
        self.version = 0


class _L2Depth:
    """Adapts an L2 book to the ``version`` / ``depth(n)`` shape ``publish`` reads."""

    __slots__ = ("book",)

    def __init__(self, book: Any) -> None:
        self.book = book

    @property
    def version(self) -> int:
        return self.book.version

    def depth(self, n: int) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        bids, asks = self.book.top(n)
        return [(t, q, 0) for t, q in bids], [(t, q, 0) for t, q in asks]


class MarketState:
    """Latest ``MarketView`` per symbol (pulled) plus a bounded discrete-event channel (pushed).

    ``publish`` is called by the single thread that owns the engine; ``view``, ``events_since``
    and ``subscribe`` are safe from any thread. Subscribers are called on the publishing thread
    and must not block (the TUI's ``post_message`` is the intended subscriber).
    """

    def __init__(
        self,
        depth: int = 25,
        tape: int = 200,
        candles_1s: int = 600,
        candles_1m: int = 720,
        events: int = 1000,
    ) -> None:
        self.depth = depth
        self._sizes = (tape, candles_1s, candles_1m)
        self._lock = threading.Lock()
        self._views: dict[str, MarketView] = {}
        self._symbols: dict[str, _SymbolState] = {}
        self._events: deque[tuple[int, dict[str, Any]]] = deque(maxlen=events)
        self._event_seq = 0
        self._subscribers: list[Callable[[dict[str, Any]], None]] = []
        self._account: AccountView | None = None
        self.version = 0  # bumps whenever any symbol's view changes

    # --- publishing (owner thread) -------------------------------------------------------
    def publish(self, instrument: Instrument, book: Any, trades: Iterable[dict], ts: int) -> MarketView | None:
        """Fold ``trades`` (engine trade events for this symbol) into tape and candles and
        snapshot the book's top ``depth`` levels. Returns the new view, or None when nothing
        changed since the last publish (the version stays, so readers skip a redraw)."""
        sym = instrument.symbol
        st = self._symbols.get(sym)
        if st is None:
            st = self._symbols[sym] = _SymbolState(instrument, *self._sizes)
        elif not st.tape and st.c1m.bar is None and st.instrument is not instrument:
            # Only seeded history so far (strings, no integers to rescale): the live grid decides.
            st.instrument = st.c1s.instrument = st.c1m.instrument = instrument
        added = 0
        for t in trades:
            self._add_trade(st, t)
            added += 1
        if not added and book.version == st.book_version and sym in self._views:
            # Unchanged: same version (readers skip the redraw), but the view is current as of ts.
            with self._lock:
                self._views[sym] = replace(self._views[sym], ts=ts)
            return None
        st.book_version = book.version
        st.version += 1
        fp, fq = instrument.fmt_price, instrument.fmt_qty
        bids_raw, asks_raw = book.depth(self.depth)
        bids = tuple(Level(p, q, n, fp(p), fq(q)) for p, q, n in bids_raw)
        asks = tuple(Level(p, q, n, fp(p), fq(q)) for p, q, n in asks_raw)
        bb = bids[0] if bids else None
        ba = asks[0] if asks else None
        spread = ba.ticks - bb.ticks if bb and ba else None
        mid = (instrument.tick_size * (bb.ticks + ba.ticks) / 2) if bb and ba else None
        view = MarketView(
            symbol=sym,
            version=st.version,
            ts=ts,
            bids=bids,
            asks=asks,
            best_bid=bb.price if bb else None,
            best_ask=ba.price if ba else None,
            last=st.last,
            trades=tuple(st.tape),
            candles_1s=st.c1s.snapshot(),
            candles_1m=st.c1m.snapshot(),
            trade_count=st.trade_count,
            volume=fq(st.volume_lots),
            spread_ticks=spread,
            mid=mid,
        )
        with self._lock:
            self._views[sym] = view
            self.version += 1
        return view

    def publish_l2(self, instrument: Instrument, book: Any, trades: Iterable[dict], ts: int) -> MarketView | None:
        """``publish`` for an aggregated L2 book (``core.l2book.L2Book``: ``top(n)`` gives
        ``(tick, lots)`` pairs and no order counts): the exchange feeds' books. Levels carry
        ``orders=0`` (an L2 feed does not say). The book's ``version`` decides "unchanged" as
        for the engine book."""
        return self.publish(instrument, _L2Depth(book), trades, ts)

    def seed_candles(self, instrument: Instrument, interval_s: int, candles: Iterable[Sequence]) -> int:
        """Seed ``instrument``'s closed 1s (``interval_s=1``) or 1m (``60``) candles from history
        (an exchange's klines) so a chart opens with the past, not empty; returns how many
        history candles the series keeps.

        Each candle is ``(open time ns, open, high, low, close, volume[, trades])`` with exact
        decimal strings; they are parsed on ``instrument``'s grid (a price or volume off it, a
        start off the interval, or a low/high that does not bound open and close raises
        ValueError naming the candle) and kept as the instrument formats them. The merge rules
        are :meth:`CandleSeries.seed`'s. A symbol with no state yet gets one (history may arrive
        before the first book); its first live publish then decides the grid. Called on the
        publishing thread, like ``publish``. The view's version changes, so readers redraw."""
        if interval_s not in (1, 60):
            raise ValueError(f"candle interval must be 1 or 60 seconds, got {interval_s}")
        sym = instrument.symbol
        interval = interval_s * NS_PER_SECOND
        history = sorted((_history_candle(instrument, interval, row) for row in candles), key=lambda c: c.start)
        st = self._symbols.get(sym)
        if st is None:
            st = self._symbols[sym] = _SymbolState(instrument, *self._sizes)
        kept = (st.c1s if interval_s == 1 else st.c1m).seed(history)
        st.version += 1
        with self._lock:
            old = self._views.get(sym)
            if old is not None:
                view = replace(old, version=st.version, candles_1s=st.c1s.snapshot(), candles_1m=st.c1m.snapshot())
            else:
                view = MarketView(sym, st.version, 0, (), (), None, None, st.last, tuple(st.tape), st.c1s.snapshot(),
                                  st.c1m.snapshot(), st.trade_count, st.instrument.fmt_qty(st.volume_lots), None, None)
            self._views[sym] = view
            self.version += 1
        return kept

    def regrid(self, instrument: Instrument, price_factor: int, qty_factor: int) -> None:
        """Move a symbol to a finer grid (an exchange feed met a price finer than the grid it
        derived): every tick x ``price_factor``, every lot x ``qty_factor``, exactly, in the
        tape and the candles being built; later trades and levels use ``instrument``."""
        if price_factor < 1 or qty_factor < 1:
            raise ValueError("regrid factors must be positive integers")
        st = self._symbols.get(instrument.symbol)
        if st is None:
            return
        st.instrument = instrument
        st.tape = deque((replace(t, ticks=t.ticks * price_factor, lots=t.lots * qty_factor) for t in st.tape),
                        maxlen=st.tape.maxlen)
        st.volume_lots *= qty_factor
        for series in (st.c1s, st.c1m):
            series.instrument = instrument
            bar = series.bar
            if bar is not None:
                bar.o, bar.h, bar.l, bar.c = (x * price_factor for x in (bar.o, bar.h, bar.l, bar.c))
                bar.v *= qty_factor
        st.book_version = -1  # republish the levels on the new grid

    def reset(self) -> None:
        """Forget every symbol's view, tape and candles (a replay seeking backwards rebuilds
        them from the start). View versions stay monotonic per symbol, so a reader that
        remembers the version it drew never mistakes a rebuilt view for the old one."""
        with self._lock:
            for sym, st in self._symbols.items():
                fresh = _SymbolState(st.instrument, *self._sizes)
                fresh.version = st.version
                self._symbols[sym] = fresh
            self._views.clear()
            self.version += 1

    def _add_trade(self, st: _SymbolState, t: dict) -> None:
        ins = st.instrument
        ticks = ins.price_to_ticks(t["price"])
        lots = ins.qty_to_lots(t["qty"])
        ts = int(t.get("ts") or 0)
        st.tape.append(
            TapeTrade(ts, int(t.get("seq") or 0), t.get("taker_side", ""), ticks, lots, t["price"], t["qty"])
        )
        st.c1s.add(ts, ticks, lots)
        st.c1m.add(ts, ticks, lots)
        st.trade_count += 1
        st.volume_lots += lots
        st.last = t["price"]

    def publish_account(self, view: AccountView) -> AccountView | None:
        """Store the user account's snapshot. ``view.version`` is ignored: the stored version
        bumps only when the content changed (returns the new view), otherwise only ``ts``
        moves and None is returned."""
        with self._lock:
            old = self._account
            if old is not None and old.content() == view.content():
                self._account = replace(old, ts=view.ts)
                return None
            new = replace(view, version=(old.version + 1) if old is not None else 1)
            self._account = new
            return new

    def post_event(self, event: dict[str, Any]) -> None:
        """Record a discrete event and hand it to every subscriber (on this thread)."""
        with self._lock:
            self._event_seq += 1
            self._events.append((self._event_seq, event))
            subscribers = list(self._subscribers)
        for fn in subscribers:
            fn(event)

    # --- reading (any thread) ------------------------------------------------------------
    def view(self, symbol: str) -> MarketView | None:
        """The latest snapshot for ``symbol`` (None before the first publish)."""
        with self._lock:
            return self._views.get(symbol)

    def account(self) -> AccountView | None:
        """The latest user-account snapshot (None when no account is published)."""
        with self._lock:
            return self._account

    def symbols(self) -> list[str]:
        with self._lock:
            return list(self._views)

    def events_since(self, seq: int = 0) -> tuple[int, list[dict[str, Any]]]:
        """Events newer than ``seq`` still in the buffer, and the sequence to pass next time."""
        with self._lock:
            out = [e for s, e in self._events if s > seq]
            return self._event_seq, out

    def subscribe(self, fn: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Call ``fn(event)`` for every future event; returns a function that unsubscribes."""
        with self._lock:
            self._subscribers.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._subscribers:
                    self._subscribers.remove(fn)

        return unsubscribe


def _history_candle(instrument: Instrument, interval: int, row: Sequence) -> Candle:
    """One history row -> a :class:`Candle` formatted by ``instrument`` (exact, ValueError
    naming the candle and the bad value)."""
    if not 6 <= len(row) <= 7:
        raise ValueError(f"{instrument.symbol}: a history candle is (start ns, open, high, low, close, volume[, trades]), "
                         f"got {len(row)} fields")
    start = int(row[0])
    where = f"{instrument.symbol} candle at {start} ns"
    if start % interval:
        raise ValueError(f"{where}: start is not on a {interval // NS_PER_SECOND} s boundary")
    try:
        o, h, lo, c = (instrument.price_to_ticks(str(v), name) for v, name in zip(row[1:5], ("open", "high", "low", "close")))
        vol = 0 if Decimal(str(row[5])) == 0 else instrument.qty_to_lots(str(row[5]), "volume")
    except (ArithmeticError, ValueError) as exc:  # NumberError is a ValueError
        raise ValueError(f"{where}: {exc} (grid: tick {instrument.tick_size}, lot {instrument.lot_size})") from None
    if not lo <= min(o, c) <= max(o, c) <= h:
        raise ValueError(f"{where}: low {row[3]} / high {row[2]} do not bound open {row[1]} and close {row[4]}")
    fp = instrument.fmt_price
    trades = int(row[6]) if len(row) > 6 and row[6] is not None else 0
    return Candle(start, fp(o), fp(h), fp(lo), fp(c), instrument.fmt_qty(vol), trades)
