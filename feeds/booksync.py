"""Order-book sync state machines (one per symbol) with health counters.

A sync owns one :class:`core.l2book.L2Book` and feeds it :class:`core.marketdata.DepthDiff`
and :class:`DepthSnapshot` records in arrival order. It never merges: whenever continuity is
lost (a sequence gap, a bad checksum, a crossed book, bad data) it *resyncs*: the book is
marked unsynced, diffs are buffered again, :attr:`BookSync.needs_snapshot` turns True (the
live consumer then fetches a REST snapshot or resubscribes) and the next usable snapshot
*replaces* the book.

* :class:`BinanceSpotSync` -- the official procedure: buffer; snapshot; drop ``u <= lastUpdateId``;
  the first kept event must straddle ``U <= lastUpdateId + 1 <= u``; then ``U == previous u + 1``
  (``U > local + 1`` is a gap). A snapshot older than the buffer (``lastUpdateId + 1 < first U``)
  is stale: another one is needed.
* :class:`BinanceUsdmSync` -- USD-M futures: drop ``u < lastUpdateId``; the first kept event must
  have ``U <= lastUpdateId <= u`` (or ``pu == lastUpdateId``); then ``pu == previous u``.
* :class:`OkxSync` -- a WS ``snapshot`` (or a REST ``/market/books`` snapshot with the bootstrap
  rule: discard buffered ``seqId <= snapshot seqId``, first kept needs ``prevSeqId <= snapshot
  seqId < seqId``), then every update's ``prevSeqId`` must equal the last ``seqId`` (heartbeats
  ``seqId == prevSeqId`` and sequence resets ``seqId < prevSeqId`` are accepted); the CRC32
  checksum is verified whenever the field is non-zero (level strings kept as received).

Top-of-book checks: :meth:`BookSync.on_top` compares a :class:`TopOfBook` (Binance bookTicker,
OKX bbo-tbt/books5) with the rebuilt book when the book's ``update_id`` equals the ticker's
(bookTicker usually arrives *before* the 100 ms depth event that contains its id, so tickers
wait in a bounded queue until the book reaches or passes their id).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass

from core.l2book import L2Book
from core.marketdata import DepthDiff, DepthSnapshot, TopOfBook
from feeds.okx import okx_checksum

WAITING = "waiting"  # no valid book: buffering diffs until a usable snapshot arrives
SYNCED = "synced"


@dataclass
class Health:
    """Per-symbol counters (all monotonic except ``buffered``)."""

    events: int = 0  # incremental book messages received
    applied: int = 0  # ... applied to the book
    dropped: int = 0  # ... discarded (older than the book, or buffer overflow while waiting)
    gaps: int = 0  # sequence breaks detected
    resyncs: int = 0  # books thrown away after a gap / bad checksum / crossed book / bad data
    crossed: int = 0  # crossed or locked books seen after an update
    snapshots: int = 0  # full snapshots loaded
    stale_snapshots: int = 0  # snapshots too old for the buffered events (another one needed)
    ignored_snapshots: int = 0  # snapshots received while already in sync
    top_checked: int = 0  # exchange top-of-book frames compared with the book at the same id
    top_mismatch: int = 0
    checksum_ok: int = 0
    checksum_bad: int = 0
    heartbeats: int = 0  # OKX empty updates with seqId == prevSeqId
    seq_resets: int = 0  # OKX seqId < prevSeqId (after maintenance)
    bad_frames: int = 0  # frames for this symbol that failed to parse
    book_tickers: int = 0
    trades: int = 0
    tickers: int = 0
    bars: int = 0
    partial_books: int = 0
    buffered: int = 0  # diffs waiting for a snapshot now
    last_update_id: int | None = None
    last_ts_ns: int = 0  # local time of the last book change
    last_ex_ts_ns: int = 0  # exchange time of the last book change

    def to_dict(self) -> dict:
        return asdict(self)


class BookSync:
    """Shared machinery; subclasses implement the venue's continuity rules."""

    venue = "base"

    def __init__(self, key: str, max_buffer: int = 10_000, max_pending_tops: int = 10_000) -> None:
        self.key = key
        self.book = L2Book()
        self.health = Health()
        self.state = WAITING
        self.buffer: deque[DepthDiff] = deque()
        self.max_buffer = max_buffer
        self._tops: deque[TopOfBook] = deque(maxlen=max_pending_tops)
        self._first = False  # the next applied diff is the first after a snapshot
        self.last_resync_reason: str | None = None
        self.mismatches: list[tuple[TopOfBook, tuple]] = []  # the first few, for diagnosis

    # ------------------------------------------------------------------ state
    @property
    def synced(self) -> bool:
        return self.state == SYNCED

    @property
    def needs_snapshot(self) -> bool:
        """True while the book is unusable: fetch a snapshot (REST) or resubscribe."""
        return self.state != SYNCED

    def resync(self, reason: str) -> None:
        """Throw the book's validity away; wait for a new snapshot (the book is replaced then)."""
        if self.state == SYNCED:
            self.health.resyncs += 1
        self.state = WAITING
        self.last_resync_reason = reason
        self.buffer.clear()
        self.health.buffered = 0

    def rescale(self, price_factor: int, qty_factor: int) -> None:
        """Move everything to a finer grid (ticks * price_factor, lots * qty_factor), exactly."""
        fp, fq = price_factor, qty_factor
        book = self.book
        book.rescale(fp, fq)
        self.buffer = deque(
            d._replace(bid_ticks=[t * fp for t in d.bid_ticks], bid_lots=[q * fq for q in d.bid_lots],
                       ask_ticks=[t * fp for t in d.ask_ticks], ask_lots=[q * fq for q in d.ask_lots])
            for d in self.buffer
        )
        self._tops = deque(
            (t._replace(bid=None if t.bid is None else t.bid * fp, bid_qty=None if t.bid_qty is None else t.bid_qty * fq,
                        ask=None if t.ask is None else t.ask * fp, ask_qty=None if t.ask_qty is None else t.ask_qty * fq)
             for t in self._tops),
            maxlen=self._tops.maxlen,
        )

    def _buffer(self, d: DepthDiff) -> None:
        if len(self.buffer) >= self.max_buffer:
            self.buffer.popleft()
            self.health.dropped += 1
        self.buffer.append(d)
        self.health.buffered = len(self.buffer)

    # ------------------------------------------------------------------ book changes
    def _load(self, s: DepthSnapshot) -> bool:
        """Replace the book with the snapshot; False (and resync) when it is crossed."""
        book = self.book
        book.replace(s.bids, s.asks)
        book.update_id = s.update_id
        book.ts_ns = s.ts_ns
        h = self.health
        h.snapshots += 1
        h.last_update_id = s.update_id
        h.last_ts_ns = s.ts_ns
        h.last_ex_ts_ns = s.ts_ex_ns
        self.state = SYNCED
        self._first = True
        if book.is_crossed():
            h.crossed += 1
            self.resync("crossed snapshot")
            return False
        self._check_tops(s.update_id)
        return True

    def _apply(self, d: DepthDiff, update_id: int | None) -> bool:
        book = self.book
        book.update(d.bid_ticks, d.bid_lots, d.ask_ticks, d.ask_lots)
        book.update_id = update_id
        book.ts_ns = d.ts_ns
        h = self.health
        h.applied += 1
        h.last_update_id = update_id
        h.last_ts_ns = d.ts_ns
        h.last_ex_ts_ns = d.ts_ex_ns
        self._first = False
        if book.is_crossed():
            h.crossed += 1
            self.resync("crossed book")
            return False
        if self._tops:
            self._check_tops(update_id)
        return True

    def _gap(self, reason: str, d: DepthDiff | None = None) -> None:
        self.health.gaps += 1
        self.resync(reason)
        if d is not None:
            self._buffer(d)  # it may straddle the next snapshot

    # ------------------------------------------------------------------ top of book
    def on_top(self, t: TopOfBook) -> None:
        """An exchange-stated top of book: compared when the book is at the same update id."""
        self.health.book_tickers += 1
        uid = t.update_id
        if uid is None:
            return
        if self.state == SYNCED and self.book.update_id == uid:
            self._compare(t)
        elif self.state != SYNCED or self.book.update_id is None or uid > self.book.update_id:
            self._tops.append(t)

    def _check_tops(self, uid: int | None) -> None:
        tops = self._tops
        if uid is None:
            return
        while tops and tops[0].update_id < uid:
            tops.popleft()
        while tops and tops[0].update_id == uid:
            self._compare(tops.popleft())

    def _compare(self, t: TopOfBook) -> None:
        h = self.health
        h.top_checked += 1
        bid, ask = self.book.best()
        mine = (bid[0] if bid else None, bid[1] if bid else None, ask[0] if ask else None, ask[1] if ask else None)
        if mine != (t.bid, t.bid_qty, t.ask, t.ask_qty):
            h.top_mismatch += 1
            if len(self.mismatches) < 10:
                self.mismatches.append((t, mine))

    # ------------------------------------------------------------------ protocol
    def on_diff(self, d: DepthDiff) -> None:
        self.health.events += 1
        self._step(d)

    def _step(self, d: DepthDiff) -> None:  # pragma: no cover - abstract
        """Buffer (not synced), drop, apply, or declare a gap: the venue's continuity rule."""
        raise NotImplementedError

    def on_snapshot(self, s: DepthSnapshot, source: str = "rest") -> None:  # pragma: no cover
        raise NotImplementedError

    def _take_buffer(self) -> list[DepthDiff]:
        pending = list(self.buffer)
        self.buffer.clear()
        self.health.buffered = 0
        return pending

    def _replay(self, pending: list[DepthDiff]) -> None:
        """Step the diffs buffered before a snapshot; a gap among them keeps the rest buffered
        for the next snapshot."""
        for i, d in enumerate(pending):
            self._step(d)
            if self.state != SYNCED:
                for rest in pending[i + 1:]:
                    self._buffer(rest)
                return


class _BinanceSync(BookSync):
    """Binance's shared snapshot procedure; subclasses say when a snapshot is too old."""

    def _stale(self, s: DepthSnapshot, first: DepthDiff) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def on_snapshot(self, s: DepthSnapshot, source: str = "rest") -> None:
        if self.state == SYNCED:
            self.health.ignored_snapshots += 1
            return
        if self.buffer and self._stale(s, self.buffer[0]):
            self.health.stale_snapshots += 1
            return
        pending = self._take_buffer()
        if self._load(s):
            self._replay(pending)


class BinanceSpotSync(_BinanceSync):
    """Binance spot diff depth (official local order book procedure)."""

    venue = "binance"

    def _stale(self, s: DepthSnapshot, first: DepthDiff) -> bool:
        return s.update_id + 1 < first.first_id

    def _step(self, d: DepthDiff) -> None:
        if self.state != SYNCED:
            self._buffer(d)
            return
        local = self.book.update_id
        if d.last_id <= local:
            self.health.dropped += 1
            return
        if self._first:
            if not (d.first_id <= local + 1 <= d.last_id):
                self._gap(f"first event U={d.first_id} u={d.last_id} does not straddle {local + 1}", d)
                return
        elif d.first_id > local + 1:
            self._gap(f"U={d.first_id} after u={local} (missed {d.first_id - local - 1} ids)", d)
            return
        self._apply(d, d.last_id)



class BinanceUsdmSync(_BinanceSync):
    """Binance USD-M futures diff depth: continuity by ``pu == previous u``."""

    venue = "binanceusdm"

    def _stale(self, s: DepthSnapshot, first: DepthDiff) -> bool:
        return s.update_id < first.first_id and first.prev_id != s.update_id

    def _step(self, d: DepthDiff) -> None:
        if self.state != SYNCED:
            self._buffer(d)
            return
        local = self.book.update_id
        if self._first:
            if d.last_id < local:
                self.health.dropped += 1
                return
            if not (d.first_id <= local <= d.last_id or d.prev_id == local):
                self._gap(f"first event U={d.first_id} u={d.last_id} pu={d.prev_id} does not cover {local}", d)
                return
        elif d.prev_id != local:
            if d.last_id <= local:
                self.health.dropped += 1  # a repeat of an event already applied
                return
            self._gap(f"pu={d.prev_id} but the previous u was {local}", d)
            return
        self._apply(d, d.last_id)



class OkxSync(BookSync):
    """OKX ``books``-family channels: seqId/prevSeqId continuity and CRC32 checksums."""

    venue = "okx"

    def __init__(self, key: str, max_buffer: int = 10_000, max_pending_tops: int = 10_000) -> None:
        super().__init__(key, max_buffer, max_pending_tops)
        self.bid_strs: dict[int, tuple[str, str]] = {}
        self.ask_strs: dict[int, tuple[str, str]] = {}
        self._from_rest = False  # the book was loaded from a REST snapshot (bootstrap rule)

    def rescale(self, price_factor: int, qty_factor: int) -> None:
        super().rescale(price_factor, qty_factor)
        self.bid_strs = {t * price_factor: v for t, v in self.bid_strs.items()}
        self.ask_strs = {t * price_factor: v for t, v in self.ask_strs.items()}

    def checksum(self) -> int:
        """The CRC32 of the current book (top 25 levels, strings as received)."""
        bs, as_ = self.bid_strs, self.ask_strs
        return okx_checksum([bs[t] for t, _ in self.book.top_bids(25)], [as_[t] for t, _ in self.book.top_asks(25)])

    def _verify(self, checksum: int | None) -> bool:
        if not checksum:
            return True  # absent, or 0 since OKX retired it (2026): rely on seqId
        h = self.health
        if self.checksum() == checksum:
            h.checksum_ok += 1
            return True
        h.checksum_bad += 1
        self.resync("checksum mismatch")
        return False

    def on_snapshot(self, s: DepthSnapshot, source: str = "ws") -> None:
        """``source="ws"``: the channel's own snapshot (always taken: it restarts the channel).
        ``source="rest"``: ``/api/v5/market/books``, used by the bootstrap rule."""
        if s.raw is None:
            raise ValueError("OKX snapshots must keep their level strings (raw)")
        self._from_rest = source != "ws"
        if source == "ws":
            if self.state == SYNCED:
                self.health.resyncs += 1  # a new channel snapshot replaces the book
            self._take_buffer()  # the channel snapshot restarts the stream
            self._load_okx(s)
            return
        if self.state == SYNCED:
            self.health.ignored_snapshots += 1
            return
        buf = self.buffer
        seq = s.update_id
        kept = [d for d in buf if d.last_id is None or seq is None or d.last_id > seq]
        self.health.dropped += len(buf) - len(kept)
        if kept and seq is not None and kept[0].prev_id is not None and kept[0].prev_id > seq:
            self.health.stale_snapshots += 1  # the snapshot is older than the first kept event
            return
        self._take_buffer()
        if self._load_okx(s):
            self._replay(kept)

    def _load_okx(self, s: DepthSnapshot) -> bool:
        rb, ra = s.raw
        self.bid_strs = {t: (lv[0], lv[1]) for (t, q), lv in zip(s.bids, rb) if q}
        self.ask_strs = {t: (lv[0], lv[1]) for (t, q), lv in zip(s.asks, ra) if q}
        if not self._load(s):
            return False
        return self._verify(s.checksum)

    def _step(self, d: DepthDiff) -> None:
        if self.state != SYNCED:
            self._buffer(d)
            return
        h = self.health
        local = self.book.update_id
        if d.prev_id is not None and local is not None and not self._first_rest_ok(d, local):
            if d.prev_id != local:
                self._gap(f"prevSeqId={d.prev_id} but the last seqId was {local}", d)
                return
        if d.prev_id is not None and d.last_id is not None:
            if d.last_id == d.prev_id and not d.bid_ticks and not d.ask_ticks:
                h.heartbeats += 1
            elif d.last_id < d.prev_id:
                h.seq_resets += 1
        rb, ra = d.raw
        for strs, ticks, lots, raw in ((self.bid_strs, d.bid_ticks, d.bid_lots, rb),
                                       (self.ask_strs, d.ask_ticks, d.ask_lots, ra)):
            for t, q, lv in zip(ticks, lots, raw):
                if q:
                    strs[t] = (lv[0], lv[1])
                else:
                    strs.pop(t, None)
        if not self._apply(d, d.last_id if d.last_id is not None else local):
            return
        self._verify(d.checksum)

    def _first_rest_ok(self, d: DepthDiff, local: int) -> bool:
        # After a REST snapshot the first event only needs prevSeqId <= seqId(snapshot) < seqId
        # (after a channel snapshot it must chain exactly, like every other update).
        return self._first and self._from_rest and d.last_id is not None and d.prev_id <= local < d.last_id


SYNCS = {"binance": BinanceSpotSync, "binanceusdm": BinanceUsdmSync, "okx": OkxSync}
