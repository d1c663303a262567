"""L3 order book with price-time priority and the matching loop.

Design (why it is faster than a SortedDict of deques):

* Each side keeps ``levels``, a plain dict from integer tick to ``Level``, and caches ``best``;
  reading the best price is an attribute load.
* The next-best price after a level empties comes from a binary heap of level prices with lazy
  deletion (``heapq`` runs in C). A price enters the heap once while it has a level; stale
  entries are dropped when they surface.
* A level's FIFO is a ``deque``. Cancels are O(1): the order is marked dead and skipped when it
  reaches the front; a level with many dead entries is compacted.

All prices are ticks and all quantities lots (integers). The book knows nothing of accounts'
balances or fees: the engine settles the fills this module reports.
"""

from __future__ import annotations

from collections import deque
from heapq import heappop, heappush, nlargest, nsmallest
from operator import attrgetter

from core.orders import (
    BUY,
    STP_CANCEL_BOTH,
    STP_CANCEL_NEWEST,
    STP_CANCEL_OLDEST,
    STP_DECREMENT,
    STP_NONE,
    Order,
)

_COMPACT_MIN_DEAD = 32
_is_live = attrgetter("live")


class BookCorrupted(RuntimeError):
    """An internal invariant broke: stop loudly rather than loop or trade on a bad book."""


class Level:
    """All resting orders at one price, oldest first."""

    __slots__ = ("price", "orders", "count", "dead")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: deque[Order] = deque()
        self.count = 0  # live orders
        self.dead = 0  # cancelled orders still sitting in the deque

    @property
    def qty(self) -> int:
        """Visible lots at this price. Summed on demand (the UI asks ~20 times a second for a
        few levels) rather than maintained on every fill and cancel of the hot path."""
        return sum(o.visible for o in self.orders if o.live)

    def compact(self) -> None:
        """Drop dead entries so a level that never trades does not grow without bound."""
        self.orders = deque(filter(_is_live, self.orders))
        self.dead = 0


class BookSide:
    """One side of the book. ``ks`` is +1 for asks (best = lowest) and -1 for bids."""

    __slots__ = ("ks", "levels", "heap", "in_heap", "best")

    def __init__(self, ks: int) -> None:
        self.ks = ks
        self.levels: dict[int, Level] = {}
        self.heap: list[int] = []
        self.in_heap: set[int] = set()
        self.best: int | None = None

    def new_level(self, price: int) -> Level:
        """Open an empty level at ``price`` (heap entry once, best price updated)."""
        level = Level(price)
        self.levels[price] = level
        if price not in self.in_heap:
            heappush(self.heap, price * self.ks)
            self.in_heap.add(price)
        best = self.best
        if best is None or price * self.ks < best * self.ks:
            self.best = price
        return level

    def remove_level(self, price: int) -> None:
        del self.levels[price]
        if price == self.best:
            self.best = self._next_best()

    def _next_best(self) -> int | None:
        heap, levels, ks, in_heap = self.heap, self.levels, self.ks, self.in_heap
        while heap:
            price = heap[0] * ks
            if price in levels:
                return price
            heappop(heap)
            in_heap.discard(price)
        return None

    def prices_from_best(self, probe: int = 64):
        """Level prices best first, lazily: a short tick walk near the touch (where almost every
        walk ends), then one sort of whatever lies further out."""
        best = self.best
        if best is None:
            return
        levels = self.levels
        step = self.ks
        remaining = len(levels)
        price = best
        for _ in range(probe):
            if price in levels:
                yield price
                remaining -= 1
                if remaining == 0:
                    return
            price += step
        yield from sorted((p for p in levels if (p - price) * step >= 0), key=lambda p: p * step)

    def depth(self, n: int) -> list[tuple[int, int, int]]:
        """Top ``n`` levels as (price, visible qty, order count), best first."""
        pick = nsmallest if self.ks == 1 else nlargest
        prices = pick(n, self.levels)
        levels = self.levels
        return [(p, levels[p].qty, levels[p].count) for p in prices]

    def orders_in_priority(self) -> list[Order]:
        """Every live order, best price first, then time priority."""
        out: list[Order] = []
        for price in sorted(self.levels, key=lambda p: p * self.ks):
            out.extend(o for o in self.levels[price].orders if o.live)
        return out


class OrderBook:
    """Bids, asks and an id index for one symbol. ``version`` bumps on every change."""

    __slots__ = ("symbol", "bids", "asks", "orders", "version")

    def __init__(self, symbol: str = "") -> None:
        self.symbol = symbol
        self.bids = BookSide(-1)
        self.asks = BookSide(1)
        self.orders: dict[str, Order] = {}
        self.version = 0

    # --- queries -------------------------------------------------------------------------
    @property
    def best_bid(self) -> int | None:
        return self.bids.best

    @property
    def best_ask(self) -> int | None:
        return self.asks.best

    def would_cross(self, side: int, price: int) -> bool:
        """True if a limit order at ``price`` would take liquidity."""
        if side == BUY:
            best = self.asks.best
            return best is not None and best <= price
        best = self.bids.best
        return best is not None and best >= price

    def depth(self, n: int = 20) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """Aggregated L2 view (price, qty, orders) per side, best first."""
        return self.bids.depth(n), self.asks.depth(n)

    def fillable(
        self,
        side: int,
        limit: int | None,
        qty: int,
        stp_account: str | None,
        budget: int | None,
        stp_mode: str = STP_CANCEL_OLDEST,
    ) -> int:
        """Lots a taker could fill right now (for FOK), without changing anything.

        Meeting an order of ``stp_account`` ends the walk for modes that stop the taker there
        (cancel_newest, cancel_both, decrement: the taker cannot then fill in full) and skips it
        for cancel_oldest (the resting order is cancelled and matching goes on). ``budget`` caps
        the notional in tick*lot units (market buys limited by balance).
        """
        opp = self.asks if side == BUY else self.bids
        ks = opp.ks
        got = 0
        for price in opp.prices_from_best():
            if limit is not None and price * ks > limit * ks:
                break
            for o in opp.levels[price].orders:
                if not o.live:
                    continue
                if stp_account is not None and o.account == stp_account:
                    if stp_mode == STP_CANCEL_OLDEST:
                        continue
                    return got
                take = min(o.leaves, qty - got)
                if budget is not None:
                    take = min(take, budget // price)
                    budget -= take * price
                got += take
                if got >= qty or (budget is not None and budget < price):
                    return got
        return got

    # --- mutations -----------------------------------------------------------------------
    def rest(self, order: Order) -> None:
        """Put an order in the book at the back of its level's queue."""
        self.orders[order.oid] = order
        side = self.bids if order.side == BUY else self.asks
        price = order.price
        level = side.levels.get(price)
        if level is None:
            level = side.new_level(price)
        level.orders.append(order)
        level.count += 1
        self.version += 1

    def cancel(self, oid: str) -> Order | None:
        """Take a resting order out of the book; None if it is not resting.

        O(1): an order at either end of its queue (the newest one, most often) is popped; one in
        the middle is marked dead and skipped when it reaches the front.
        """
        order = self.orders.pop(oid, None)
        if order is None:
            return None
        self.version += 1
        order.live = False
        side = self.bids if order.side == BUY else self.asks
        level = side.levels[order.price]
        count = level.count - 1
        level.count = count
        if count == 0:
            side.remove_level(order.price)
            return order
        q = level.orders
        if q[-1] is order:
            q.pop()
            while not q[-1].live:  # count > 0: a live order stops this
                q.pop()
                level.dead -= 1
        elif q[0] is order:
            q.popleft()
            while not q[0].live:
                q.popleft()
                level.dead -= 1
        else:
            level.dead += 1
            if level.dead > _COMPACT_MIN_DEAD and level.dead > count:
                level.compact()
        return order

    def place(self, order: Order, fills: list) -> None:
        """A plain limit order (GTC, no STP, no budget): take what crosses, rest the rest.

        The busy-venue path: one call, straight to the lean matching loop when it crosses.
        """
        price = order.price
        if order.side == BUY:
            opp = self.asks
            best = opp.best
            crosses = best is not None and best <= price
        else:
            opp = self.bids
            best = opp.best
            crosses = best is not None and best >= price
        if crosses:
            self._match_plain(order, opp, price, fills, None)
            if not order.leaves:
                return
        # rest(), inlined: a call costs as much as the work at this size.
        self.orders[order.oid] = order
        side = self.bids if order.side == BUY else self.asks
        level = side.levels.get(price)
        if level is None:
            level = side.new_level(price)
        level.orders.append(order)
        level.count += 1
        self.version += 1

    def sweep(self, order: Order, fills: list) -> None:
        """A plain market order (no STP, no budget): take liquidity at any price, never rest."""
        opp = self.asks if order.side == BUY else self.bids
        if opp.best is not None:
            self._match_plain(order, opp, None, fills, None)

    def reduce(self, order: Order, new_leaves: int) -> None:
        """Lower a resting order's remaining quantity in place, keeping its priority."""
        order.leaves = new_leaves
        if order.visible > new_leaves:
            order.visible = new_leaves
        self.version += 1

    def match(
        self,
        taker: Order,
        limit: int | None,
        fills: list,
        stp_actions: list | None = None,
        refills: list | None = None,
    ) -> str | None:
        """Match ``taker`` against the opposite side down to ``limit`` (None = any price).

        Appends ``(maker, price, qty)`` to ``fills``. Self-trade prevention (by account, mode
        ``taker.stp``) appends ``(kind, order, qty)`` to ``stp_actions``; iceberg refills append
        ``("refill", maker, visible, leaves)`` to ``refills``. Passing one list for all three keeps
        them in causal order. ``taker.budget`` (tick*lot notional units), when
        set, caps what a taker may spend. Returns why matching stopped early: None (filled,
        or no more acceptable price), "STP" (taker must be cancelled) or "BUDGET".
        """
        opp = self.asks if taker.side == BUY else self.bids
        best = opp.best
        if best is None or (limit is not None and (best - limit) * taker.side > 0):
            return None  # nothing to take: the common case for a passive limit order
        if taker.budget is None and taker.stp == STP_NONE:
            return self._match_plain(taker, opp, limit, fills, refills)
        levels = opp.levels
        ks = opp.ks
        lim_key = None if limit is None else limit * ks
        leaves = taker.leaves
        stp = taker.stp
        t_account = taker.account
        budget = taker.budget
        orders_index = self.orders
        stopped: str | None = None
        changed = False
        while leaves > 0:
            price = opp.best
            if price is None or (lim_key is not None and price * ks > lim_key):
                break
            level = levels[price]
            q = level.orders
            while leaves > 0 and q:
                maker = q[0]
                if not maker.live:
                    q.popleft()
                    level.dead -= 1
                    continue
                if stp != STP_NONE and maker.account == t_account:
                    action = self._self_trade(taker, maker, level, leaves, stp, stp_actions)
                    changed = True
                    if action == "stop":
                        stopped = "STP"
                        break
                    if action == "taker_reduced":
                        leaves = taker.leaves
                    continue
                fill = maker.visible if maker.visible < leaves else leaves
                if budget is not None:
                    afford = budget // price
                    if afford < fill:
                        fill = afford
                        if fill == 0:
                            stopped = "BUDGET"
                            break
                    budget -= fill * price
                fills.append((maker, price, fill))
                changed = True
                leaves -= fill
                maker.visible -= fill
                maker.leaves -= fill
                if maker.visible == 0:
                    q.popleft()
                    if maker.leaves > 0:
                        # Iceberg: show the next slice at the back of the queue.
                        vis = maker.display if maker.display < maker.leaves else maker.leaves
                        maker.visible = vis
                        q.append(maker)
                        if refills is not None:
                            refills.append(("refill", maker, vis, maker.leaves))
                    else:
                        maker.live = False
                        del orders_index[maker.oid]
                        level.count -= 1
            if level.count == 0:
                opp.remove_level(price)
            elif not q and stopped is None and leaves > 0:
                raise BookCorrupted(f"level {price} counts {level.count} live orders but holds none")
            if stopped is not None:
                break
        taker.leaves = leaves
        if taker.visible > leaves:
            taker.visible = leaves
        if budget is not None:
            taker.budget = budget
        if changed:
            self.version += 1
        return stopped

    def _match_plain(self, taker: Order, opp: BookSide, limit: int | None, fills: list, refills: list | None) -> None:
        """``match`` without self-trade prevention or a budget: the lean loop most takers run.

        Kept separate (and deliberately repetitive) because every attribute access per fill
        counts at a million fills a second.
        """
        levels = opp.levels
        ks = opp.ks
        lim_key = None if limit is None else limit * ks
        leaves = taker.leaves
        orders_index = self.orders
        push = fills.append
        while leaves:
            price = opp.best
            if price is None or (lim_key is not None and price * ks > lim_key):
                break
            level = levels[price]
            q = level.orders
            while leaves and q:
                maker = q[0]
                if not maker.live:
                    q.popleft()
                    level.dead -= 1
                    continue
                vis = maker.visible
                if vis <= leaves:
                    push((maker, price, vis))
                    leaves -= vis
                    q.popleft()
                    rest = maker.leaves - vis
                    maker.leaves = rest
                    if rest:
                        # Iceberg: the next slice goes to the back of the queue.
                        vis = maker.display if maker.display < rest else rest
                        maker.visible = vis
                        q.append(maker)
                        if refills is not None:
                            refills.append(("refill", maker, vis, maker.leaves))
                    else:
                        maker.visible = 0
                        maker.live = False
                        del orders_index[maker.oid]
                        level.count -= 1
                else:
                    push((maker, price, leaves))
                    maker.visible = vis - leaves
                    maker.leaves -= leaves
                    leaves = 0
            if not level.count:
                opp.remove_level(price)
            elif not q:
                raise BookCorrupted(f"level {price} counts {level.count} live orders but holds none")
        taker.leaves = leaves
        if taker.visible > leaves:
            taker.visible = leaves
        self.version += 1
        return None

    def _self_trade(
        self, taker: Order, maker: Order, level: Level, leaves: int, mode: str, actions: list | None
    ) -> str:
        """Apply self-trade prevention between ``taker`` and resting ``maker`` of one account."""
        if actions is None:
            actions = []
        if mode == STP_CANCEL_NEWEST:
            actions.append(("cancel_taker", taker, leaves))
            return "stop"
        if mode == STP_CANCEL_OLDEST:
            actions.append(("cancel_maker", maker, maker.leaves))
            self._drop_front(maker, level)
            return "continue"
        if mode == STP_CANCEL_BOTH:
            actions.append(("cancel_maker", maker, maker.leaves))
            self._drop_front(maker, level)
            actions.append(("cancel_taker", taker, leaves))
            return "stop"
        if mode == STP_DECREMENT:
            cut = min(leaves, maker.leaves)
            # The 4th element is the order's remaining quantity right after the decrement.
            actions.append(("decrement_maker", maker, cut, maker.leaves - cut))
            actions.append(("decrement_taker", taker, cut, leaves - cut))
            taker.leaves = leaves - cut
            if maker.leaves == cut:
                self._drop_front(maker, level)
                maker.leaves = 0
                maker.visible = 0
            else:
                new_leaves = maker.leaves - cut
                if maker.visible > new_leaves:
                    maker.visible = new_leaves
                maker.leaves = new_leaves
            return "taker_reduced"
        raise ValueError(f"unknown STP mode {mode!r}")

    def _drop_front(self, maker: Order, level: Level) -> None:
        """Remove the maker at the front of ``level`` (STP), leaving the level for the caller."""
        level.orders.popleft()
        level.count -= 1
        maker.live = False
        del self.orders[maker.oid]
