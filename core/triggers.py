"""Conditional orders waiting for the last trade price: stops, take-profits, trailing stops.

Two sorted sets make a trigger check proportional to what fires, not to what waits:
``up`` holds orders that fire when last >= stop price (buy stops, sell take-profits) and
``down`` those that fire when last <= stop price (sell stops, buy take-profits). Trailing
stops move their trigger with the price, so they are scanned on each check (they are few).
"""

from __future__ import annotations

from sortedcontainers import SortedList

from core.orders import BUY, STOP_LIMIT, STOP_MARKET, TRAILING_STOP_MARKET, Order


def fires_upward(order: Order) -> bool:
    """True when the order triggers on the price rising to its stop price."""
    is_stop = order.type in (STOP_MARKET, STOP_LIMIT)
    return (order.side == BUY) == is_stop


def would_fire(order: Order, last: int) -> bool:
    """Whether a (non-trailing) conditional order is already triggered at ``last``."""
    if fires_upward(order):
        return last >= order.stop_price
    return last <= order.stop_price


def trail_offset(order: Order, anchor: int) -> int:
    """Distance in ticks between the anchor and the trigger of a trailing stop."""
    if order.trail_pct is not None:
        return max(1, anchor * order.trail_pct // 1_000_000)
    return order.trail


class Triggers:
    """The waiting conditional orders of one symbol."""

    def __init__(self) -> None:
        self.up: SortedList = SortedList()  # (stop_price, seq, order)
        self.down: SortedList = SortedList()
        self.trailing: dict[str, Order] = {}

    def __len__(self) -> int:
        return len(self.up) + len(self.down) + len(self.trailing)

    def add(self, order: Order, last: int | None) -> None:
        if order.type == TRAILING_STOP_MARKET:
            order.anchor = last if last is not None else 0
            self.trailing[order.oid] = order
        elif fires_upward(order):
            self.up.add((order.stop_price, order.seq, order))
        else:
            self.down.add((order.stop_price, order.seq, order))

    def remove(self, order: Order) -> None:
        if order.type == TRAILING_STOP_MARKET:
            self.trailing.pop(order.oid, None)
        elif fires_upward(order):
            self.up.remove((order.stop_price, order.seq, order))
        else:
            self.down.remove((order.stop_price, order.seq, order))

    def fire(self, last: int) -> list[Order]:
        """Remove and return every order triggered at ``last``, in acceptance order."""
        fired: list[Order] = []
        while self.up and self.up[0][0] <= last:
            fired.append(self.up.pop(0)[2])
        while self.down and self.down[-1][0] >= last:
            fired.append(self.down.pop(-1)[2])
        for oid, order in list(self.trailing.items()):
            if order.anchor == 0:
                order.anchor = last
            if order.side == BUY:
                order.anchor = min(order.anchor, last)
                order.stop_price = order.anchor + trail_offset(order, order.anchor)
                hit = last >= order.stop_price
            else:
                order.anchor = max(order.anchor, last)
                order.stop_price = order.anchor - trail_offset(order, order.anchor)
                hit = last <= order.stop_price
            if hit:
                del self.trailing[oid]
                fired.append(order)
        fired.sort(key=lambda o: o.seq)
        return fired

    def orders(self) -> list[Order]:
        out = [t[2] for t in self.up] + [t[2] for t in self.down] + list(self.trailing.values())
        out.sort(key=lambda o: o.seq)
        return out
