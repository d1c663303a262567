"""The plain reference order book the engine's book is measured against.

Written the textbook way, with no tricks: each side is a ``SortedDict`` from price (ticks) to a
FIFO ``deque`` of resting orders, plus a ``dict`` from id to order. Matching walks the best
level front to back; a cancel finds the order by id and removes it from its level with
``deque.remove``; an emptied level is deleted at once.
"""

from __future__ import annotations

from collections import deque

from sortedcontainers import SortedDict

BUY = 1


class RefOrder:
    __slots__ = ("oid", "side", "price", "leaves")

    def __init__(self, oid: str, side: int, price: int | None, leaves: int) -> None:
        self.oid = oid
        self.side = side
        self.price = price
        self.leaves = leaves


class ReferenceBook:
    """Price-time priority book: bids and asks as SortedDict[price, deque[RefOrder]]."""

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.orders: dict[str, RefOrder] = {}

    def best_bid(self) -> int | None:
        return self.bids.peekitem(-1)[0] if self.bids else None

    def best_ask(self) -> int | None:
        return self.asks.peekitem(0)[0] if self.asks else None

    def match(self, taker: RefOrder, limit: int | None, tape: list) -> None:
        """Fill ``taker`` against the opposite side down to ``limit`` (None: any price).

        Appends ``(maker_id, taker_id, price, qty)`` to ``tape``.
        """
        if taker.side == BUY:
            book = self.asks
            best_index = 0  # lowest ask first
        else:
            book = self.bids
            best_index = -1  # highest bid first
        while taker.leaves > 0 and book:
            price, queue = book.peekitem(best_index)
            if limit is not None:
                if taker.side == BUY and price > limit:
                    break
                if taker.side != BUY and price < limit:
                    break
            while taker.leaves > 0 and queue:
                maker = queue[0]
                qty = min(maker.leaves, taker.leaves)
                tape.append((maker.oid, taker.oid, price, qty))
                maker.leaves -= qty
                taker.leaves -= qty
                if maker.leaves == 0:
                    queue.popleft()
                    del self.orders[maker.oid]
            if not queue:
                del book[price]

    def rest(self, order: RefOrder) -> None:
        book = self.bids if order.side == BUY else self.asks
        queue = book.get(order.price)
        if queue is None:
            queue = deque()
            book[order.price] = queue
        queue.append(order)
        self.orders[order.oid] = order

    def cancel(self, oid: str) -> bool:
        """Remove a resting order; False if ``oid`` is not resting (filled, unknown)."""
        order = self.orders.pop(oid, None)
        if order is None:
            return False
        book = self.bids if order.side == BUY else self.asks
        queue = book[order.price]
        queue.remove(order)
        if not queue:
            del book[order.price]
        return True

    def resting(self) -> list[tuple[str, int, int, int]]:
        """Every resting order as (id, side, price, leaves): bids best first, then asks."""
        out = []
        for price in reversed(self.bids):
            out.extend((o.oid, o.side, price, o.leaves) for o in self.bids[price])
        for price in self.asks:
            out.extend((o.oid, o.side, price, o.leaves) for o in self.asks[price])
        return out
