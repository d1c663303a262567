"""The emulator's TRUE order book: what the exchange's book is, frame by frame.

Independent of the consumers' book code on purpose (it is the oracle the tests compare
against): levels are keyed by the exact ``Decimal`` price and keep the exchange's strings as
received (``[price, size, ...]``), so a snapshot served over REST, a WebSocket snapshot or an
OKX checksum uses exactly the strings a real exchange would.  Every applied update records how
to undo it (a bounded history), so the book at any recent update id can be rebuilt: that is
how a test asks "what was the true book at the id the consumer stopped at?".
"""

from __future__ import annotations

import zlib
from collections import deque
from decimal import Decimal

from sortedcontainers import SortedDict

DEFAULT_HISTORY = 5_000


def _is_zero(size: str) -> bool:
    return Decimal(size) == 0


class TrueBook:
    """An exact L2 book keyed by Decimal price; levels are lists of the exchange's strings."""

    __slots__ = ("bids", "asks", "id", "_history", "updates", "resets")

    def __init__(self, history: int = DEFAULT_HISTORY) -> None:
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.id: int | None = None
        self._history: deque = deque(maxlen=history)
        self.updates = 0
        self.resets = 0

    @property
    def known(self) -> bool:
        return self.id is not None

    def reset(self, bids: list, asks: list, book_id: int) -> None:
        """Replace the whole book (a snapshot); the undo history starts again here."""
        self.bids = SortedDict({Decimal(lvl[0]): list(lvl) for lvl in bids if not _is_zero(lvl[1])})
        self.asks = SortedDict({Decimal(lvl[0]): list(lvl) for lvl in asks if not _is_zero(lvl[1])})
        self.id = book_id
        self._history.clear()
        self.resets += 1

    def apply(self, bids: list, asks: list, new_id: int) -> None:
        """Set each listed level to its absolute size (size 0 removes it); the book id becomes ``new_id``.

        The level lists are kept as given (not copied): callers pass freshly parsed frames.
        The undo record is compact: ``(is_bid, price string, previous level or None)``.
        """
        undo = []
        for is_bid, side, levels in ((True, self.bids, bids), (False, self.asks, asks)):
            for lvl in levels:
                price = lvl[0]
                key = Decimal(price)
                old = side.get(key)
                if _is_zero(lvl[1]):
                    if old is not None:
                        del side[key]
                        undo.append((is_bid, price, old))
                else:
                    side[key] = lvl
                    undo.append((is_bid, price, old))
        self._history.append((self.id, new_id, undo))
        self.id = new_id
        self.updates += 1

    def diff_to(self, bids: list, asks: list, zero: str = "0") -> tuple[list, list]:
        """The update (absolute sizes, ``zero`` for removals) that turns this book into ``bids``/``asks``."""
        out = []
        for side, target in ((self.bids, bids), (self.asks, asks)):
            want = {Decimal(lvl[0]): list(lvl) for lvl in target if not _is_zero(lvl[1])}
            changes = []
            for key, lvl in side.items():
                if key not in want:
                    changes.append(_zeroed(lvl, zero))
            for key, lvl in want.items():
                if side.get(key) != lvl:
                    changes.append(lvl)
            out.append(changes)
        return out[0], out[1]

    # ----------------------------------------------------------------- reading
    def levels(self, depth: int | None = None) -> tuple[list, list]:
        """``(bids best first, asks best first)`` as lists of level lists (shared; do not mutate)."""
        bids = self.bids.values()
        asks = self.asks.values()
        if depth is None:
            return list(reversed(bids)), list(asks)
        n_b = len(bids)
        return [bids[i] for i in range(n_b - 1, max(-1, n_b - 1 - depth), -1)], list(asks[:depth])

    def best(self) -> tuple[list | None, list | None]:
        bid = self.bids.peekitem(-1)[1] if self.bids else None
        ask = self.asks.peekitem(0)[1] if self.asks else None
        return bid, ask

    def at(self, book_id: int) -> "TrueBook | None":
        """A copy of the book as it was when its id was ``book_id`` (None when not in the history)."""
        if self.id is None:
            return None
        copy = TrueBook(history=1)
        copy.bids = SortedDict(self.bids)
        copy.asks = SortedDict(self.asks)
        copy.id = self.id
        if book_id == self.id:
            return copy
        for id_before, id_after, undo in reversed(self._history):
            for is_bid, price, old in reversed(undo):
                side = copy.bids if is_bid else copy.asks
                key = Decimal(price)
                if old is None:
                    side.pop(key, None)
                else:
                    side[key] = old
            copy.id = id_before
            if id_before == book_id:
                return copy
        return None

    def oldest_id(self) -> int | None:
        return self._history[0][0] if self._history else self.id


def _zeroed(level: list, zero: str) -> list:
    out = list(level)
    out[1] = zero
    if len(out) > 3:  # OKX: [px, sz, "0", orderCount]
        out[3] = "0"
    return out


def okx_checksum(bids: list, asks: list) -> int:
    """OKX CRC32 over the first 25 levels, bid/ask interleaved, strings as received (signed)."""
    parts = []
    for i in range(25):
        if i < len(bids):
            parts.append(f"{bids[i][0]}:{bids[i][1]}")
        if i < len(asks):
            parts.append(f"{asks[i][0]}:{asks[i][1]}")
    c = zlib.crc32(":".join(parts).encode()) & 0xFFFFFFFF
    return c - (1 << 32) if c & 0x80000000 else c
