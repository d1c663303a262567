"""Aggregated L2 order book in integer ticks and lots, plus exact cached string parsers.

:class:`L2Book` holds one market's price levels, per side tick -> lots (always > 0; a level
set to 0 is removed), the best price found through a lazy heap of the side's ticks. Two
implementations with the same methods and observable state:

* :class:`L2BookNative` (``core/_l2native.c``, an optional extension): each side an int64
  open-addressing hash map plus an int64 lazy heap. :meth:`update` reads the int64
  ``Levels`` arrays the compiled Binance parser puts in a ``DepthDiff`` in place (no Python
  int per level) and converts any other sequence of ints. ``bids``/``asks`` are dicts built
  on access and cached until the next change: fine for tests, snapshots and a UI's first
  fit, too slow for per-message reads -- use :meth:`best_bid`/:meth:`best_ask`/:meth:`best`/
  :meth:`depth`/:meth:`top` there. Ticks and lots must fit 64 bits (OverflowError beyond).
* :class:`L2BookPy` (pure Python): ``dict`` sides and ``heapq`` lists; the fallback when the
  extension is not built, and what ``TICKDESK_PURE_PYTHON=1`` forces.

``L2Book`` is the native class when it is built, else the pure one; ``UPDATE_IMPLEMENTATION``
says which (``"c"``/``"python"``). Both: setting levels is a map write plus a heap push for a
*new* price only; removals are lazy (a stale heap entry is dropped when it reaches the top;
the heap is rebuilt past 2 * levels + 256 entries). :meth:`best_bid`/:meth:`best_ask` are O(1)
amortised, :meth:`top` O(n + k log n). ``version`` counts applied changes (a UI pulls when it
moved); ``update_id`` is the exchange's sequence number of the last applied message (set by
the feed's sync). ``==`` compares the levels only (both sides, across implementations).

:class:`UnitParser` converts exchange decimal strings to integer multiples of a step exactly
(no float, no Decimal on the hot path) and memoises them: ``parser[s]`` (a ``dict`` lookup, so
``map(parser.__getitem__, strings)`` runs at C speed for strings seen before). A string that
is malformed or off the grid raises :class:`core.numbers.NumberError`.

:class:`BookGrid` pairs a price parser (tick) and a quantity parser (lot) with formatters.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from heapq import heapify, heappop, heappush
from typing import Iterable

from core.numbers import NumberError, decimal_places, parse_decimal, unit_formatter

_MAX_TEXT = 40

# Environment switch shared with feeds.binance: any non-empty value but "0" disables the
# optional compiled paths (to compare, or to rule them out when diagnosing).
PURE_PYTHON_ENV = "TICKDESK_PURE_PYTHON"


def pure_python_forced() -> bool:
    return os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0")


try:
    if pure_python_forced():
        raise ImportError(PURE_PYTHON_ENV)
    from core._l2native import Book as _NativeBook
    from core._l2native import Levels
except ImportError:  # not built (no compiler at install time) or disabled: the pure-Python book
    _NativeBook = Levels = None

UPDATE_IMPLEMENTATION = "python" if _NativeBook is None else "c"


def _heap_of(side: dict[int, int], negate: bool) -> list[int]:
    """A lazy heap of a side's ticks (negated for bids: heapq is a min-heap)."""
    heap = [-t for t in side] if negate else list(side)
    heapify(heap)
    return heap


class UnitParser(dict):
    """Exact ``"61837.63000000"`` -> integer count of ``step`` (memoised; bounded).

    ``allow_zero``: quantities may be ``0`` (a deletion); prices may not. Negative values,
    signs, exponents, whitespace, underscores and non-ASCII digits are refused. The memo is
    cleared when it reaches ``max_size`` entries, so memory stays bounded on long runs.
    """

    __slots__ = ("step", "places", "mult", "allow_zero", "max_size", "what", "_dot")

    def __init__(self, step: Decimal | str, allow_zero: bool = False, max_size: int = 200_000, what: str = "value"):
        super().__init__()
        step = parse_decimal(step, "step") if not isinstance(step, Decimal) else step
        if step <= 0:
            raise ValueError(f"step must be positive, got {step}")
        self.step = step
        self.places = decimal_places(step)
        self.mult = int(step.scaleb(self.places))
        self.allow_zero = allow_zero
        self.max_size = max_size
        self.what = what
        # Fast path for fixed-width strings whose decimals equal the grid's (Binance): the dot
        # sits at this index from the end; 0 disables it.
        self._dot = -(self.places + 1) if self.mult == 1 and self.places else 0

    def __missing__(self, text: str) -> int:
        dot = self._dot
        value = -1
        if dot and type(text) is str and len(text) > -dot and text[dot] == ".":
            digits = text.replace(".", "", 1)
            if digits.isdigit() and digits.isascii():
                value = int(digits)
                if not value and not self.allow_zero:
                    value = -1
        if value < 0:
            value = self.parse(text)
        if len(self) >= self.max_size:
            self.clear()
        self[text] = value
        return value

    __call__ = dict.__getitem__

    def parse(self, text: str) -> int:
        """Uncached exact conversion (raises NumberError)."""
        if type(text) is not str or not text or len(text) > _MAX_TEXT:
            raise NumberError("INVALID_NUMBER", f"{self.what} must be a decimal string, got {str(text)[:40]!r}")
        whole, _, frac = text.partition(".")
        if not (whole or frac) or not text.isascii() or not (whole.isdigit() or not whole) or not (frac.isdigit() or not frac):
            raise NumberError("INVALID_NUMBER", f"{self.what} is not a plain decimal number: {text[:40]!r}")
        places = self.places
        if len(frac) > places:
            if frac[places:].strip("0"):
                raise NumberError("OFF_GRID", f"{self.what} {text} is not a multiple of {self.step}")
            frac = frac[:places]
        digits = (whole or "0") + frac + "0" * (places - len(frac))
        units = int(digits)
        if self.mult != 1:
            units, rem = divmod(units, self.mult)
            if rem:
                raise NumberError("OFF_GRID", f"{self.what} {text} is not a multiple of {self.step}")
        if units == 0 and not self.allow_zero:
            raise NumberError("NON_POSITIVE", f"{self.what} must be positive, got {text}")
        return units


@dataclass(eq=False)
class BookGrid:
    """A market's price tick and quantity lot, with memoised exact parsers and formatters.

    ``source`` says where the grid came from (``exchangeInfo``, ``instruments``, ``derived``...).
    """

    tick: Decimal
    lot: Decimal
    source: str = "given"
    prices: UnitParser = field(init=False, repr=False)
    qtys: UnitParser = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.tick = self.tick if isinstance(self.tick, Decimal) else parse_decimal(self.tick, "tick")
        self.lot = self.lot if isinstance(self.lot, Decimal) else parse_decimal(self.lot, "lot")
        self.prices = UnitParser(self.tick, allow_zero=False, what="price")
        self.qtys = UnitParser(self.lot, allow_zero=True, what="quantity")

    def fmt_price(self, ticks: int) -> str:
        return unit_formatter(self.tick)(ticks)

    def fmt_qty(self, lots: int) -> str:
        return unit_formatter(self.lot)(lots)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BookGrid) and (self.tick, self.lot) == (other.tick, other.lot)

    def __hash__(self) -> int:
        return hash((self.tick, self.lot))


class _BookReads:
    """What both book implementations derive from their primitives (levels, best, top, depth)."""

    __slots__ = ()

    def top(self, n: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The best ``n`` levels per side: bids descending, asks ascending, as (tick, lots)."""
        return self.top_bids(n), self.top_asks(n)

    def levels(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Every level, sorted (bids descending, asks ascending)."""
        return sorted(self.bids.items(), reverse=True), sorted(self.asks.items())

    def rescale(self, price_factor: int, qty_factor: int) -> None:
        """Express the book on a finer grid: every tick * price_factor, every lot * qty_factor."""
        if price_factor < 1 or qty_factor < 1:
            raise ValueError("rescale factors must be positive integers")
        bids = [(t * price_factor, q * qty_factor) for t, q in self.bids.items()]
        asks = [(t * price_factor, q * qty_factor) for t, q in self.asks.items()]
        version = self.version
        self.replace(bids, asks)
        self.version = version + 1

    def clear(self) -> None:
        self.replace((), ())
        self.update_id = None

    def copy(self):
        other = type(self)()
        other.replace(self.bids.items(), self.asks.items())
        other.version = self.version
        other.update_id = self.update_id
        other.ts_ns = self.ts_ns
        return other

    def __reduce__(self):
        # pickle/deepcopy: the levels and the counters (the native storage has no __dict__)
        return _rebuild, (type(self), list(self.bids.items()), list(self.asks.items()), self.version,
                          self.update_id, self.ts_ns)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _BookReads):
            return NotImplemented
        return self.bids == other.bids and self.asks == other.asks

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        bid, ask = self.best()
        nb, na = self.depth()
        return f"L2Book(bids={nb}, asks={na}, best={bid}/{ask}, version={self.version})"


def _rebuild(cls: type, bids: list, asks: list, version: int, update_id: int | None, ts_ns: int):
    book = cls()
    book.replace(bids, asks)
    book.version, book.update_id, book.ts_ns = version, update_id, ts_ns
    return book


class L2BookPy(_BookReads):
    """The pure-Python book: ``bids``/``asks`` dicts tick -> lots (> 0) and lazy heaps.

    Read the dicts freely; change them only through the methods (the heaps must follow).
    """

    __slots__ = ("bids", "asks", "_bh", "_ah", "version", "update_id", "ts_ns")

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self._bh: list[int] = []  # negated bid ticks (max-heap), may hold stale/duplicate entries
        self._ah: list[int] = []  # ask ticks (min-heap), idem
        self.version = 0
        self.update_id: int | None = None
        self.ts_ns = 0

    # ------------------------------------------------------------------ changes
    def set_bid(self, tick: int, lots: int) -> None:
        """Set one bid level to an absolute quantity (0 removes it)."""
        self._set(self.bids, self._bh, True, tick, lots)

    def set_ask(self, tick: int, lots: int) -> None:
        """Set one ask level to an absolute quantity (0 removes it)."""
        self._set(self.asks, self._ah, False, tick, lots)

    def _set(self, side: dict[int, int], heap: list[int], negate: bool, tick: int, lots: int) -> None:
        if type(tick) is not int or type(lots) is not int or tick <= 0 or lots < 0:
            raise ValueError(f"level must be (tick > 0, lots >= 0) integers, got ({tick!r}, {lots!r})")
        if lots:
            if tick not in side:
                heappush(heap, -tick if negate else tick)
            side[tick] = lots
            if len(heap) > 2 * len(side) + 256:
                self._compact(side is self.bids)
        else:
            side.pop(tick, None)
        self.version += 1

    def update_py(self, bid_ticks: list[int], bid_lots: list[int], ask_ticks: list[int], ask_lots: list[int]) -> None:
        """Apply one message's absolute levels in order (lots 0 removes the level).

        The caller guarantees ints with tick > 0 and lots >= 0 (the parsers do). Counts as one
        version step. (A plain loop: measured faster here than C-level bulk set/dict
        operations, whose temporaries cost more than they save at ~50 levels a message.)
        """
        side = self.bids
        heap = self._bh
        for t, q in zip(bid_ticks, bid_lots):
            if q:
                if t not in side:
                    heappush(heap, -t)
                side[t] = q
            elif t in side:
                del side[t]
        if len(heap) > 2 * len(side) + 256:
            self._compact(True)
        side = self.asks
        heap = self._ah
        for t, q in zip(ask_ticks, ask_lots):
            if q:
                if t not in side:
                    heappush(heap, t)
                side[t] = q
            elif t in side:
                del side[t]
        if len(heap) > 2 * len(side) + 256:
            self._compact(False)
        self.version += 1

    update = update_py

    def _compact(self, is_bid: bool) -> None:
        """Rebuild a side's heap from its live levels (drops stale and duplicate entries)."""
        if is_bid:
            self._bh = _heap_of(self.bids, True)
        else:
            self._ah = _heap_of(self.asks, False)

    def replace(self, bids: Iterable[tuple[int, int]], asks: Iterable[tuple[int, int]]) -> None:
        """Load a snapshot: the book becomes exactly these levels (zero-quantity ones skipped)."""
        self.bids = {t: q for t, q in bids if q}
        self.asks = {t: q for t, q in asks if q}
        for t, q in (*self.bids.items(), *self.asks.items()):
            if type(t) is not int or type(q) is not int or t <= 0 or q < 0:
                raise ValueError(f"level must be (tick > 0, lots >= 0) integers, got ({t!r}, {q!r})")
        self._bh = _heap_of(self.bids, True)
        self._ah = _heap_of(self.asks, False)
        self.version += 1

    # ------------------------------------------------------------------ reads
    def best_bid_py(self) -> int | None:
        """Best bid tick, or None when the side is empty."""
        heap, side = self._bh, self.bids
        while heap:
            t = -heap[0]
            if t in side:
                return t
            heappop(heap)
        return None

    def best_ask_py(self) -> int | None:
        """Best ask tick, or None when the side is empty."""
        heap, side = self._ah, self.asks
        while heap:
            t = heap[0]
            if t in side:
                return t
            heappop(heap)
        return None

    best_bid = best_bid_py
    best_ask = best_ask_py

    def best(self) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """``((bid tick, lots) | None, (ask tick, lots) | None)``."""
        b, a = self.best_bid(), self.best_ask()
        return (
            (b, self.bids[b]) if b is not None else None,
            (a, self.asks[a]) if a is not None else None,
        )

    def is_crossed(self) -> bool:
        """Best bid >= best ask (a locked or crossed book is wrong for an exchange's L2 feed)."""
        b = self.best_bid()
        if b is None:
            return False
        a = self.best_ask()
        return a is not None and b >= a

    def top_bids(self, n: int) -> list[tuple[int, int]]:
        return self._top(self.bids, self._bh, n, True)

    def top_asks(self, n: int) -> list[tuple[int, int]]:
        return self._top(self.asks, self._ah, n, False)

    @staticmethod
    def _top(side: dict[int, int], heap: list[int], n: int, is_bid: bool) -> list[tuple[int, int]]:
        if n <= 0 or not side:
            return []
        if n >= len(side) // 4:
            keys = sorted(side, reverse=is_bid)[:n]
            return [(t, side[t]) for t in keys]
        h = heap.copy()
        out: list[tuple[int, int]] = []
        last = None
        while h and len(out) < n:
            x = heappop(h)
            t = -x if is_bid else x
            if t != last and t in side:
                out.append((t, side[t]))
                last = t
        return out

    def depth(self) -> tuple[int, int]:
        return len(self.bids), len(self.asks)

    def _heap_sizes(self) -> tuple[int, int]:
        """Heap entries per side, stale ones included (compaction keeps them bounded)."""
        return len(self._bh), len(self._ah)


if _NativeBook is not None:

    class L2BookNative(_NativeBook, _BookReads):
        """The book stored natively (core/_l2native.c): the same methods and observable state as
        :class:`L2BookPy`; ``bids``/``asks`` are dicts built on access and cached until the next
        change (use best_*/best/depth/top_* on hot paths). Ticks and lots fit 64 bits."""

        __slots__ = ()

        def __eq__(self, other: object) -> bool:
            if isinstance(other, L2BookNative):
                return self._same_levels(other)
            return _BookReads.__eq__(self, other)

        __hash__ = None  # type: ignore[assignment]

    L2Book = L2BookNative
else:
    L2BookNative = None  # type: ignore[assignment,misc]
    L2Book = L2BookPy  # type: ignore[misc]
