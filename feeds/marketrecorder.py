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
bars. A bar is closed when a trade of a later bucket arrives, or when the venue's clock
(estimated from the last trade's exchange time plus the local time since) is ``close_grace``
past its end; the bar still forming at stop is not written (it is not a bar yet).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from core.l2book import BookGrid
from core.marketdata import Bar, Trade
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
    trades: int = 1


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
    pending_max: int = 0


class MarketRecorder:
    """Batches trades and bars from feed threads into a :class:`MarketStore` on its own thread."""

    def __init__(
        self,
        store: MarketStore,
        *,
        batch_rows: int = 5_000,
        flush_every: float = 1.0,
        max_pending: int = 1_000_000,
        trade_bar_tfs: tuple[str, ...] = TRADE_BAR_TFS,
        close_grace: float = 2.0,
    ) -> None:
        self.store = store
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
        self._forming: dict[tuple[str, str, str], _Forming] = {}
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
        try:
            if trade_rows:
                self.stats.trades += self.store.append_trades(trades_table(trade_rows))
            if bar_rows:
                self.stats.bars += self.store.append_bars(bars_table(bar_rows))
            if trade_rows or bar_rows:
                self.stats.batches += 1
        except Exception as exc:  # noqa: BLE001 - a store failure must not kill the feed
            self.stats.errors += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            log.error("market store write failed (%d trades, %d bars lost): %s", len(trade_rows), len(bar_rows), exc)

    def _aggregate(self, venue: str, symbol: str, grid: BookGrid, t: Trade, out: list[tuple]) -> None:
        ts = t.ts_ex_ns or t.ts_ns
        clock = self._clock.get(venue)
        if clock is None or ts >= clock[0]:
            self._clock[venue] = (ts, t.ts_ns)
        for tf in self.trade_bar_tfs:
            width = TF_NS[tf]
            start = ts - ts % width
            k = (venue, symbol, tf)
            cur = self._forming.get(k)
            if cur is not None and start < cur.start_ns:
                continue  # a late trade of a bar already written: the bar stays as written
            if cur is not None and cur.grid != grid:
                _rescale(cur, grid)  # the session refined the symbol's grid (exact multiples)
            if cur is not None and start > cur.start_ns:
                out.append(_forming_row(k, cur))
                cur = None
            if cur is None:
                self._forming[k] = _Forming(start, grid, t.price, t.price, t.price, t.price, t.qty, t.count)
            else:
                cur.high = max(cur.high, t.price)
                cur.low = min(cur.low, t.price)
                cur.close = t.price
                cur.volume += t.qty
                cur.trades += t.count

    def _close_due(self, out: list[tuple], now_ns: int) -> None:
        """Close forming bars the venue's clock has passed by ``close_grace``."""
        for k in list(self._forming):
            venue, _symbol, tf = k
            clock = self._clock.get(venue)
            if clock is None:
                continue
            venue_now = clock[0] + max(0, now_ns - clock[1])
            cur = self._forming[k]
            if venue_now >= cur.start_ns + TF_NS[tf] + self.close_grace_ns:
                out.append(_forming_row(k, cur))
                del self._forming[k]

    def report(self) -> dict[str, Any]:
        s = self.stats
        return {
            "path": str(self.store.path),
            "trades": s.trades,
            "bars": s.bars,
            "exchange_bars": s.exchange_bars,
            "batches": s.batches,
            "dropped": s.dropped,
            "skipped_bars": s.skipped_bars,
            "errors": s.errors,
            "last_error": s.last_error,
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


def _forming_row(k: tuple[str, str, str], f: _Forming) -> tuple:
    p = f.grid.fmt_price
    return (k[0], k[1], k[2], f.start_ns, p(f.open), p(f.high), p(f.low), p(f.close), f.grid.fmt_qty(f.volume), f.trades)
