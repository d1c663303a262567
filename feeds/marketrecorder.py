"""Normalised trades and bars from live feeds into the market store, on a writer thread.

Why a thread and batches: a DuckDB insert costs about the same for one row as for thousands,
and it may take milliseconds. The feed threads must never wait for it, so they only append a
tuple to a deque (:meth:`MarketRecorder.trade` / :meth:`MarketRecorder.bar`, O(1), never
blocking); the writer thread wakes every ``flush_every`` seconds (or as soon as ``batch_rows``
rows are waiting), turns what is pending into one Arrow table per table and appends it with one
statement each (:class:`core.store.MarketStore`). A crash loses at most the rows not yet
flushed and never half a batch; :meth:`MarketRecorder.stop` flushes everything.

Bars come from the exchange's own kline/candle streams (closed bars only) for the venues
marked ``exchange_bars``; for the others the writer aggregates the trades into closed 1s and 1m
bars. A bar is closed when the venue's clock (the latest trade's exchange time plus the local
time since) is ``close_grace`` past its end, so a trade arriving shortly after one of the next
bucket still lands in its bar; the bars still forming at stop are not written (they are not
bars yet).

Sharing the file: given a *path* (what ``feed run --record`` does), the writer opens the store
for each batch and closes it again, so several recorders (one per exchange, say) and the
``history`` commands take turns on one file. When another process holds it at that moment the
batch stays queued and is retried on the next tick (``busy`` counts those); at stop the writer
keeps trying for up to ``stop_wait`` seconds, then reports what it could not write
(``unwritten``) and who held the file. Given an open :class:`MarketStore` it writes through it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.l2book import BookGrid
from core.marketdata import Bar, Trade
from core.journal import StoreOwnedError
from core.store import TF_NS, MarketStore, bars_table, trades_table

log = logging.getLogger(__name__)

TRADE_BAR_TFS = ("1s", "1m")
# Exchange interval names -> the store's timeframes (OKX writes hours and days upper-case).
_EXCHANGE_TF = {"1s": "1s", "1m": "1m", "5m": "5m", "15m": "15m", "1h": "1h", "1H": "1h",
                "4h": "4h", "4H": "4h", "1d": "1d", "1D": "1d", "1Dutc": "1d"}


def store_tf(interval: str) -> str | None:
    """The store's timeframe for an exchange interval (``1H`` -> ``1h``), None when not stored."""
    return _EXCHANGE_TF.get(interval)


@dataclass
class _Forming:
    """A bar being aggregated from trades (integer ticks/lots of ``grid``)."""

    start_ns: int
    grid: BookGrid
    open: int
    high: int
    low: int
    close: int
    volume: int
    trades: int
    first: tuple[int, int]  # (exchange ns, trade id) of the open
    last: tuple[int, int]  # ... of the close


@dataclass
class RecorderStats:
    trades: int = 0  # rows written
    bars: int = 0
    exchange_bars: int = 0  # of which from kline/candle streams
    batches: int = 0
    dropped: int = 0  # rows refused because the writer fell too far behind
    skipped_bars: int = 0  # exchange bars of a timeframe the store does not keep
    errors: int = 0
    last_error: str | None = None
    busy: int = 0  # flushes put off because another process held the store
    owner: str | None = None  # who held it the last time
    pending_max: int = 0
    late_trades: int = 0  # trades whose bar was already written (arrived past the grace)


class MarketRecorder:
    """Batches trades and bars from feed threads into a :class:`MarketStore` on its own thread."""

    def __init__(
        self,
        store: MarketStore | str | Path,
        *,
        batch_rows: int = 5_000,
        flush_every: float = 1.0,
        max_pending: int = 1_000_000,
        trade_bar_tfs: tuple[str, ...] = TRADE_BAR_TFS,
        close_grace: float = 2.0,
        stop_wait: float = 10.0,
    ) -> None:
        self.store = store if isinstance(store, MarketStore) else None
        self.path = store.path if isinstance(store, MarketStore) else Path(store)
        self.stop_wait = stop_wait
        self._unwritten: tuple[list[tuple], list[tuple]] = ([], [])  # rows a busy store refused
        self.batch_rows = batch_rows
        self.flush_every = flush_every
        self.max_pending = max_pending
        self.trade_bar_tfs = trade_bar_tfs
        self.close_grace_ns = int(close_grace * 1e9)
        self.exchange_bars: set[str] = set()  # venues whose bars come from their streams
        self.stats = RecorderStats()
        self._pending: deque = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._forming: dict[tuple[str, str, str, int], _Forming] = {}  # (venue, symbol, tf, start)
        self._written: dict[tuple[str, str, str], int] = {}  # series -> start of the last bar written
        self._clock: dict[str, tuple[int, int]] = {}  # venue -> (last exchange ns, local ns then)
        self._thread = threading.Thread(target=self._run, name="market-recorder", daemon=True)

    # ------------------------------------------------------------------ feed threads
    def trade(self, venue: str, symbol: str, grid: BookGrid, t: Trade) -> None:
        """Queue one trade (called on a feed thread; never blocks)."""
        self._push(("t", venue, symbol, grid, t))

    def bar(self, venue: str, symbol: str, grid: BookGrid, b: Bar) -> None:
        """Queue one exchange bar (only closed bars are stored)."""
        if b.closed:
            self._push(("b", venue, symbol, grid, b))

    def _push(self, item: tuple) -> None:
        q = self._pending
        n = len(q)
        if n >= self.max_pending:
            self.stats.dropped += 1
            return
        q.append(item)
        if n + 1 >= self.batch_rows:
            self._wake.set()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> MarketRecorder:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Flush everything queued and join the writer thread."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        else:
            self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_every)
            self._wake.clear()
            self.flush()
        self.flush()
        deadline = time.monotonic() + self.stop_wait
        while self.unwritten() and time.monotonic() < deadline:
            time.sleep(0.2)
            self._write([], [])

    def unwritten(self) -> int:
        """Rows converted but not stored yet (the store was busy)."""
        return len(self._unwritten[0]) + len(self._unwritten[1])

    # ------------------------------------------------------------------ writer thread
    def flush(self, now_ns: int | None = None) -> None:
        """Write what is pending (trades, then bars) as one batch per table."""
        q = self._pending
        n = len(q)
        self.stats.pending_max = max(self.stats.pending_max, n)
        items = [q.popleft() for _ in range(n)]
        trade_rows: list[tuple] = []
        bar_rows: list[tuple] = []
        for kind, venue, symbol, grid, rec in items:
            if kind == "t":
                trade_rows.append(_trade_row(venue, symbol, grid, rec))
                if venue not in self.exchange_bars:
                    self._aggregate(venue, symbol, grid, rec, bar_rows)
            else:
                tf = store_tf(rec.interval)
                if tf is None:
                    self.stats.skipped_bars += 1
                    continue
                bar_rows.append(_exchange_bar_row(venue, symbol, tf, grid, rec))
                self.stats.exchange_bars += 1
        self._close_due(bar_rows, time.time_ns() if now_ns is None else now_ns)
        self._write(trade_rows, bar_rows)

    def _write(self, trade_rows: list[tuple], bar_rows: list[tuple]) -> None:
        held_t, held_b = self._unwritten
        if held_t or held_b:
            trade_rows, bar_rows = held_t + trade_rows, held_b + bar_rows
            self._unwritten = ([], [])
        if not trade_rows and not bar_rows:
            return
        store = self.store
        try:
            if store is None:
                store = MarketStore(self.path)
        except StoreOwnedError as exc:
            self.stats.busy += 1
            self.stats.owner = str(exc)
            self._hold(trade_rows, bar_rows)
            return
        except Exception as exc:  # noqa: BLE001 - reported, never kills the feed
            self._failed(exc, trade_rows, bar_rows)
            return
        try:
            if trade_rows:
                self.stats.trades += store.append_trades(trades_table(trade_rows))
                trade_rows = []  # stored: a bars failure below must not write them twice
            if bar_rows:
                self.stats.bars += store.append_bars(bars_table(bar_rows))
            self.stats.batches += 1
        except Exception as exc:  # noqa: BLE001 - a store failure must not kill the feed
            self._failed(exc, trade_rows, bar_rows)
        finally:
            if store is not self.store:
                store.close()

    def _hold(self, trade_rows: list[tuple], bar_rows: list[tuple]) -> None:
        """Keep rows for the next attempt, the newest ``max_pending`` at most."""
        over = len(trade_rows) + len(bar_rows) - self.max_pending
        if over > 0:
            self.stats.dropped += over
            cut = min(over, len(trade_rows))
            trade_rows = trade_rows[cut:]
            bar_rows = bar_rows[over - cut:]
        self._unwritten = (trade_rows, bar_rows)

    def _failed(self, exc: Exception, trade_rows: list[tuple], bar_rows: list[tuple]) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        log.error("market store write failed (%d trades, %d bars lost): %s", len(trade_rows), len(bar_rows), exc)

    def _aggregate(self, venue: str, symbol: str, grid: BookGrid, t: Trade, out: list[tuple]) -> None:
        """Fold a trade into its 1s/1m bars. Bars stay open until the venue clock passes their end
        by ``close_grace`` (a trade may arrive after one of the next bucket); open and close are
        the earliest and latest trade by (exchange time, trade id), whatever the arrival order."""
        ts = t.ts_ex_ns or t.ts_ns
        clock = self._clock.get(venue)
        if clock is None or ts >= clock[0]:
            self._clock[venue] = (ts, t.ts_ns)
        order = (ts, t.trade_id)
        for tf in self.trade_bar_tfs:
            width = TF_NS[tf]
            start = ts - ts % width
            series = (venue, symbol, tf)
            if start <= self._written.get(series, -1):
                self.stats.late_trades += 1  # its bar is already stored: it stays as written
                continue
            k = (venue, symbol, tf, start)
            cur = self._forming.get(k)
            if cur is None:
                self._forming[k] = _Forming(start, grid, t.price, t.price, t.price, t.price, t.qty, t.count, order, order)
                continue
            if cur.grid != grid:
                _rescale(cur, grid)  # the session refined the symbol's grid (exact multiples)
            cur.high = max(cur.high, t.price)
            cur.low = min(cur.low, t.price)
            if order < cur.first:
                cur.open, cur.first = t.price, order
            if order > cur.last:
                cur.close, cur.last = t.price, order
            cur.volume += t.qty
            cur.trades += t.count

    def _close_due(self, out: list[tuple], now_ns: int) -> None:
        """Close (write) the bars the venue's clock has passed by ``close_grace``."""
        for k in sorted(self._forming, key=lambda k: k[3]):
            venue, symbol, tf, start = k
            clock = self._clock.get(venue)
            if clock is None:
                continue
            venue_now = clock[0] + max(0, now_ns - clock[1])
            if venue_now >= start + TF_NS[tf] + self.close_grace_ns:
                out.append(_forming_row(k, self._forming.pop(k)))
                self._written[(venue, symbol, tf)] = start

    def report(self) -> dict[str, Any]:
        s = self.stats
        return {
            "path": str(self.path),
            "trades": s.trades,
            "bars": s.bars,
            "exchange_bars": s.exchange_bars,
            "batches": s.batches,
            "dropped": s.dropped,
            "skipped_bars": s.skipped_bars,
            "late_trades": s.late_trades,
            "errors": s.errors,
            "last_error": s.last_error,
            "busy": s.busy,
            "unwritten": self.unwritten(),
            "owner": s.owner if self.unwritten() else None,
            "bars_from": {v: ("exchange" if v in self.exchange_bars else "trades") for v in sorted(self._venues())},
        }

    def _venues(self) -> set[str]:
        return {k[0] for k in self._forming} | set(self._clock) | self.exchange_bars


def _trade_row(venue: str, symbol: str, grid: BookGrid, t: Trade) -> tuple:
    return (venue, symbol, t.ts_ex_ns or t.ts_ns, t.ts_ns, str(t.trade_id), t.taker_side,
            grid.fmt_price(t.price), grid.fmt_qty(t.qty))


def _exchange_bar_row(venue: str, symbol: str, tf: str, grid: BookGrid, b: Bar) -> tuple:
    p = grid.fmt_price
    return (venue, symbol, tf, b.open_ms * 1_000_000, p(b.open), p(b.high), p(b.low), p(b.close),
            grid.fmt_qty(b.volume), None)


def _rescale(f: _Forming, grid: BookGrid) -> None:
    fp = int(f.grid.tick / grid.tick)
    fq = int(f.grid.lot / grid.lot)
    f.open, f.high, f.low, f.close = f.open * fp, f.high * fp, f.low * fp, f.close * fp
    f.volume *= fq
    f.grid = grid


def _forming_row(k: tuple[str, str, str, int], f: _Forming) -> tuple:
    p = f.grid.fmt_price
    return (k[0], k[1], k[2], f.start_ns, p(f.open), p(f.high), p(f.low), p(f.close), f.grid.fmt_qty(f.volume), f.trades)
