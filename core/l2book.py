"""Aggregated L2 order book in integer ticks and lots, plus exact cached string parsers.

:class:`L2Book` holds one market's price levels: per side a ``dict`` tick -> lots (always
> 0; a level set to 0 is removed) and a lazy heap of the side's ticks for the best price.

* Setting levels is ``dict`` work plus a ``heappush`` for a *new* price only; removals are
  lazy (a stale heap entry is dropped when it reaches the top). :meth:`L2Book.update` applies a
  whole message's levels; it is the compiled ``core._l2fast.book_update`` when that optional
  extension is built (the same dict/heap operations in C, ~3x faster at ~50 levels a message)
  and the pure-Python loop :meth:`L2Book.update_py` otherwise (likewise ``best_bid``/``best_ask``
  and their ``*_py`` twins). ``UPDATE_IMPLEMENTATION`` says which (``"c"`` or ``"python"``);
  ``TICKDESK_PURE_PYTHON=1`` forces the pure code.
* :meth:`best_bid` / :meth:`best_ask` are O(1) amortised; :meth:`top` is O(n + k log n).
* ``version`` counts applied changes (a UI pulls when it moved); ``update_id`` is the
  exchange's sequence number of the last applied message (set by the feed's sync).
* ``==`` compares the levels only (both sides), for tests.

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
    from core._l2fast import book_best_ask as _c_best_ask
    from core._l2fast import book_best_bid as _c_best_bid
    from core._l2fast import book_update as _c_book_update
    from core._l2fast import heap_of as _c_heap_of
except ImportError:  # not built (no compiler at install time) or disabled: the pure loop
    _c_book_update = _c_best_bid = _c_best_ask = _c_heap_of = None

UPDATE_IMPLEMENTATION = "python" if _c_book_update is None else "c"


def _heap_of_py(side: dict[int, int], negate: bool) -> list[int]:
    """A lazy heap of a side's ticks (negated for bids: heapq is a min-heap)."""
    heap = [-t for t in side] if negate else list(side)
    heapify(heap)
    return heap


heap_of = _heap_of_py if _c_heap_of is None else _c_heap_of  # the same list, built in C


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


class L2Book:
    """One market's aggregated levels: ``bids``/``asks`` map tick -> lots (> 0).

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
        self._set(self.bids, self._bh, -tick, tick, lots)

    def set_ask(self, tick: int, lots: int) -> None:
        """Set one ask level to an absolute quantity (0 removes it)."""
        self._set(self.asks, self._ah, tick, tick, lots)

    def _set(self, side: dict[int, int], heap: list[int], key: int, tick: int, lots: int) -> None:
        if type(tick) is not int or type(lots) is not int or tick <= 0 or lots < 0:
            raise ValueError(f"level must be (tick > 0, lots >= 0) integers, got ({tick!r}, {lots!r})")
        if lots:
            if tick not in side:
                heappush(heap, key)
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
        :meth:`update` is this method, or its compiled twin when the extension is built.
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

    # The compiled twin of update_py (core/_l2fast.c) when built, else update_py itself.
    update = update_py if _c_book_update is None else _c_book_update

    def _compact(self, is_bid: bool) -> None:
        """Rebuild a side's heap from its live levels (drops stale and duplicate entries)."""
        if is_bid:
            self._bh = heap_of(self.bids, True)
        else:
            self._ah = heap_of(self.asks, False)

    def replace(self, bids: Iterable[tuple[int, int]], asks: Iterable[tuple[int, int]]) -> None:
        """Load a snapshot: the book becomes exactly these levels (zero-quantity ones skipped)."""
        self.bids = {t: q for t, q in bids if q}
        self.asks = {t: q for t, q in asks if q}
        for t, q in (*self.bids.items(), *self.asks.items()):
            if type(t) is not int or type(q) is not int or t <= 0 or q < 0:
                raise ValueError(f"level must be (tick > 0, lots >= 0) integers, got ({t!r}, {q!r})")
        self._bh = heap_of(self.bids, True)
        self._ah = heap_of(self.asks, False)
        self.version += 1

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

    # The compiled twins (core/_l2fast.c: heapq's pop, C comparisons) when built.
    best_bid = best_bid_py if _c_best_bid is None else _c_best_bid
    best_ask = best_ask_py if _c_best_ask is None else _c_best_ask

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

    def top(self, n: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The best ``n`` levels per side: bids descending, asks ascending, as (tick, lots)."""
        return self._top(self.bids, self._bh, n, True), self._top(self.asks, self._ah, n, False)

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

    def levels(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Every level, sorted (bids descending, asks ascending)."""
        return sorted(self.bids.items(), reverse=True), sorted(self.asks.items())

    def depth(self) -> tuple[int, int]:
        return len(self.bids), len(self.asks)

    def copy(self) -> L2Book:
        other = L2Book()
        other.replace(self.bids.items(), self.asks.items())
        other.version = self.version
        other.update_id = self.update_id
        other.ts_ns = self.ts_ns
        return other

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, L2Book):
            return NotImplemented
        return self.bids == other.bids and self.asks == other.asks

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        bid, ask = self.best()
        return f"L2Book(bids={len(self.bids)}, asks={len(self.asks)}, best={bid}/{ask}, version={self.version})"
