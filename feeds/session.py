"""One feed session: raw frames (live or recorded) -> parsers -> per-symbol book syncs.

The live consumer and ``tickdesk feed replay`` share this class, so a replay goes through
exactly the parsers and sync rules a live run uses. Feed it :class:`feeds.recordings.RawRecord`
s in arrival order with :meth:`FeedSession.handle`:

* ``ws`` frames are parsed by the exchange's parser (``binance``, ``binanceusdm``, ``okx``)
  and routed: depth diffs and channel snapshots to the symbol's :mod:`feeds.booksync` sync,
  bookTicker / bbo-tbt / books5 to its top-of-book check, trades, bars and tickers counted
  (and handed to ``on_event``, as is everything else parsed);
* ``rest`` bodies by URL: ``exchangeInfo`` / OKX ``instruments`` load grids, ``/depth`` /
  ``/market/books`` are snapshots for the symbol in the URL (a Binance snapshot without URL,
  as hftbacktest writes it, goes to the one symbol waiting for a snapshot);
* ``open`` (a new websocket connection) resyncs every book of that exchange: a new
  connection's diff stream does not continue the old one.

Live use: after handling frames, :meth:`FeedSession.snapshot_requests` lists the symbols whose
book needs a snapshot (fetch the REST depth and :meth:`handle` it as a ``rest`` record with its
URL; for OKX resubscribe or use ``/api/v5/market/books``). A frame that fails to parse is
counted (per symbol when it names one) and never stops the session; an off-grid number makes
the symbol's grid finer and resyncs it.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any, Callable

from core.l2book import BookGrid
from core.marketdata import Bar, DepthDiff, DepthSnapshot, Ticker, TopOfBook, Trade
from feeds import binance as bn
from feeds import okx as ox
from feeds.binance import BinanceParser, Control, FeedParseError
from feeds.booksync import SYNCS, BookSync
from feeds.okx import OkxParser
from feeds.recordings import CLOSE, META, OPEN, REST, SENT, WS, RawRecord, guess_exchange

_MAX_PLACES = 18


class FeedSession:
    """Parsers, syncs and counters for any mix of Binance spot, USD-M and OKX frames."""

    def __init__(self, on_event: Callable[[Any], None] | None = None, max_buffer: int = 10_000) -> None:
        self.on_event = on_event
        self.max_buffer = max_buffer
        self.parsers: dict[str, BinanceParser | OkxParser] = {}
        self.syncs: dict[str, BookSync] = {}
        self.counts: Counter[str] = Counter()  # records by kind, controls, unattributed errors
        self.errors: list[str] = []  # the first few unattributed parse errors

    # ------------------------------------------------------------------ plumbing
    def parser(self, exchange: str) -> BinanceParser | OkxParser:
        p = self.parsers.get(exchange)
        if p is None:
            if exchange == ox.EXCHANGE:
                p = OkxParser()
            elif exchange in bn.EXCHANGES:
                p = BinanceParser(exchange)
            else:
                raise ValueError(f"unknown exchange {exchange!r} (known: binance, binanceusdm, okx)")
            self.parsers[exchange] = p
        return p

    def sync(self, key: str) -> BookSync:
        s = self.syncs.get(key)
        if s is None:
            exchange = key.split(":", 1)[0]
            s = SYNCS[exchange](key, max_buffer=self.max_buffer)
            self.syncs[key] = s
        return s

    def snapshot_requests(self) -> list[tuple[str, str]]:
        """``(exchange, symbol)`` of every book that has diffs but no valid book."""
        out = []
        for key, s in self.syncs.items():
            if s.needs_snapshot and s.health.events:
                ex, sym = key.split(":", 1)
                out.append((ex, sym))
        return out

    # ------------------------------------------------------------------ input
    def handle(self, rec: RawRecord) -> None:
        kind = rec.kind
        self.counts[kind] += 1
        if kind == WS:
            self._ws(rec)
        elif kind == REST:
            self._rest(rec)
        elif kind == OPEN:
            ex = rec.exchange
            for key, s in self.syncs.items():
                if ex is None or key.startswith(ex + ":"):
                    s.resync("new connection")
        elif kind in (SENT, META, CLOSE):
            pass

    def _ws(self, rec: RawRecord, retry: bool = True) -> None:
        ex = rec.exchange or guess_exchange(rec.raw)
        if ex is None:
            self._error(None, "frame of an unknown exchange", rec.raw)
            return
        parser = self.parser(ex)
        try:
            out = parser.parse(rec.raw, rec.ts_ns)
        except FeedParseError as exc:
            if retry and self._off_grid(exc):
                self._ws(rec, retry=False)
            else:
                self._error(exc, str(exc), rec.raw)
            return
        if out is None:
            return
        if type(out) is list:
            for r in out:
                self._route(r)
        else:
            self._route(out)

    def _route(self, r: Any) -> None:
        t = type(r)
        if t is DepthDiff:
            self.sync(r.key).on_diff(r)
        elif t is TopOfBook:
            self.sync(r.key).on_top(r)
        elif t is Trade:
            self.sync(r.key).health.trades += 1
        elif t is DepthSnapshot:
            s = self.sync(r.key)
            if r.partial:
                s.health.partial_books += 1
                b = r.bids[0] if r.bids else (None, None)
                a = r.asks[0] if r.asks else (None, None)
                s.on_top(TopOfBook(r.key, r.ts_ex_ns, r.ts_ns, r.update_id, b[0], b[1], a[0], a[1]))
                s.health.book_tickers -= 1  # counted as a partial book, not a ticker
            else:
                s.on_snapshot(r, "ws")
        elif t is Bar:
            self.sync(r.key).health.bars += 1
        elif t is Ticker:
            self.sync(r.key).health.tickers += 1
        elif t is Control:
            self.counts["control:" + r.kind] += 1
        if self.on_event is not None:
            self.on_event(r)

    def _rest(self, rec: RawRecord, retry: bool = True) -> None:
        ex = rec.exchange or guess_exchange(rec.raw)
        if ex in bn.EXCHANGES:
            what, symbol = bn.rest_kind(rec.url)
        elif ex == ox.EXCHANGE:
            what, symbol = ox.rest_kind(rec.url)
        else:
            self.counts["rest_unknown"] += 1
            return
        parser = self.parser(ex)
        try:
            if what in ("exchangeInfo", "instruments"):
                loader = parser.load_exchange_info if what == "exchangeInfo" else parser.load_instruments
                self.counts["instruments_loaded"] += loader(rec.raw)
                return
            if what == "depth" and symbol is None:
                symbol = self._lone_waiting_symbol(ex)
                if symbol is None:
                    self.counts["unassigned_snapshots"] += 1
                    return
            if what == "depth":
                snap = parser.parse_snapshot(rec.raw, symbol, rec.ts_ns)
            elif what == "books" and symbol:
                snap = parser.parse_rest_books(rec.raw, symbol, rec.ts_ns)
            else:
                self.counts["rest_other"] += 1
                return
            self.sync(snap.key).on_snapshot(snap, "rest")
            if self.on_event is not None:
                self.on_event(snap)
        except FeedParseError as exc:
            if symbol and exc.key is None:
                exc.key = parser.key(symbol)
            if retry and self._off_grid(exc):
                self._rest(rec, retry=False)
            else:
                self._error(exc, str(exc), rec.raw)
        except ValueError as exc:  # e.g. malformed exchangeInfo / instruments
            self._error(None, f"REST {rec.url}: {exc}", rec.raw)

    def _lone_waiting_symbol(self, exchange: str) -> str | None:
        prefix = exchange + ":"
        waiting = [k for k, s in self.syncs.items() if k.startswith(prefix) and s.needs_snapshot and s.buffer]
        if not waiting:  # the snapshot came first: the exchange's only symbol so far, if one
            waiting = [k for k in self.syncs if k.startswith(prefix)]
        if len(waiting) != 1:
            return None
        return waiting[0].split(":", 1)[1]

    def _error(self, exc: FeedParseError | None, message: str, raw: str) -> None:
        key = getattr(exc, "key", None) if exc is not None else None
        if key is None:
            self.counts["parse_errors"] += 1
            if len(self.errors) < 20:
                self.errors.append(f"{message} [{raw[:80]}]")
            return
        s = self.sync(key)
        s.health.bad_frames += 1
        # A lost book frame breaks continuity: only a new snapshot makes the book right.
        s.resync(f"bad frame: {message}")

    def _off_grid(self, exc: FeedParseError) -> bool:
        """A value finer than the symbol's grid: move the symbol to a finer grid (4 more
        decimals, at most 18), rescaling its book exactly; True when the frame should be
        parsed again."""
        key = exc.key
        if key is None or exc.number_code != "OFF_GRID":
            return False
        ex, sym = key.split(":", 1)
        parser = self.parser(ex)
        old = parser.meta(sym).grid

        def finer(step: Decimal) -> Decimal:
            places = -step.normalize().as_tuple().exponent
            return Decimal(1).scaleb(-min(_MAX_PLACES, max(8, places) + 4))

        new = BookGrid(finer(old.tick), finer(old.lot), source=f"refined from {old.source}")
        if new.tick >= old.tick and new.lot >= old.lot:
            return False
        fp, fq = old.tick / new.tick, old.lot / new.lot
        if fp != int(fp) or fq != int(fq):
            return False
        parser.set_grid(sym, new)
        self.sync(key).rescale(int(fp), int(fq))
        self.counts["grid_refinements"] += 1
        return True

    # ------------------------------------------------------------------ output
    def report(self) -> dict:
        """``{"symbols": {key: {...counters, state, grid, best}}, "records": {...}}``."""
        symbols = {}
        for key in sorted(self.syncs):
            s = self.syncs[key]
            ex, sym = key.split(":", 1)
            meta = self.parser(ex).symbols.get(sym)
            d = s.health.to_dict()
            d["state"] = s.state
            d["synced"] = s.synced
            book = s.book
            d["depth"] = list(book.depth())
            if meta is not None:
                g = meta.grid
                d["unified"] = meta.unified
                d["grid"] = {"tick": format(g.tick, "f"), "lot": format(g.lot, "f"), "source": g.source}
                bid, ask = book.best()
                d["best"] = {
                    "bid": g.fmt_price(bid[0]) if bid else None,
                    "bid_qty": g.fmt_qty(bid[1]) if bid else None,
                    "ask": g.fmt_price(ask[0]) if ask else None,
                    "ask_qty": g.fmt_qty(ask[1]) if ask else None,
                }
            if s.last_resync_reason:
                d["last_resync_reason"] = s.last_resync_reason
            symbols[key] = d
        return {"symbols": symbols, "records": dict(sorted(self.counts.items())), "errors": self.errors[:20]}


def replay(records, session: FeedSession | None = None) -> FeedSession:
    """Run every record through a (new) session; returns it (see :meth:`FeedSession.report`)."""
    session = session or FeedSession()
    handle = session.handle
    for rec in records:
        handle(rec)
    return session
