"""What every simulated participant shares: an account, order ids, a position, and the door
to the venue.

Agents decide in floats (a fair value, a size in dollars) but everything they send is an exact
decimal string produced by the instrument from integer ticks and lots, so an agent can never
put an off-grid number on the wire. The book they read is the engine's own ``OrderBook`` (the
simulated market steps on the engine's thread, so reading it is safe and costs nothing).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.instruments import Instrument
from core.orders import BUY, SELL, SIDE_NAMES

Send = Callable[[dict[str, Any]], list[dict[str, Any]]]


class OrderIds:
    """Account-prefixed counters (``mm1-17``): unique per account across all its symbols, and
    the prefix tells the market which account an id in a trade event belongs to."""

    def __init__(self, account: str) -> None:
        self.account = account
        self.n = 0

    def next(self) -> str:
        self.n += 1
        return f"{self.account}-{self.n}"


def account_of(oid: str) -> str:
    """The account prefix of an agent order id (``"mm1-17"`` -> ``"mm1"``)."""
    return oid.rpartition("-")[0]


@dataclass
class StepContext:
    """What an agent sees in one step of one symbol."""

    symbol: str
    instrument: Instrument
    book: Any  # core.book.OrderBook
    fair: float  # model price, quote per base
    vol_multiple: float  # current volatility over its calm level (1.0 = calm)
    now_ns: int
    dt: float  # seconds per step
    usd_per_quote: float  # converts agent sizes (dollars) into the quote asset
    send: Send
    trades: Sequence[dict[str, Any]] = ()  # this symbol's recent trade events, oldest first
    requote: str = "modify"  # how makers re-price: "modify" or "replace" (cancel + new)

    @property
    def tick(self) -> float:
        return float(self.instrument.tick_size)

    @property
    def fair_ticks(self) -> float:
        return self.fair / self.tick


def lots_for_usd(ins: Instrument, usd: float, ticks: int, usd_per_quote: float, floor_mult: float = 1.5) -> int:
    """Lots worth about ``usd`` at ``ticks``, never below ``floor_mult`` x the venue's minimum
    notional (a taker's tiny order must not be rejected as dust) nor the minimum quantity."""
    price = ticks * float(ins.tick_size)
    lots = int(usd / usd_per_quote / price / float(ins.lot_size))
    min_units = ins.min_notional_units * floor_mult
    min_lots = math.ceil(min_units / (ticks * ins.notional_factor)) if ticks > 0 else ins.min_lots
    return min(ins.max_lots, max(lots, min_lots, ins.min_lots))


class Agent:
    """Base class. Subclasses implement ``on_step``; the market calls ``on_fill`` for every fill
    of one of this agent's orders (maker or taker) so positions need no balance queries."""

    kind = "agent"

    def __init__(self, account: str, symbol: str, instrument: Instrument, rng: np.random.Generator, ids: OrderIds) -> None:
        self.account = account
        self.symbol = symbol
        self.ins = instrument
        self.rng = rng
        self.ids = ids
        self.position = 0  # signed base lots from fills since start
        self.fills = 0

    # --- sizing the account --------------------------------------------------------------
    def deposit_usd(self) -> float:
        """Dollar value to deposit in *each* of base and quote; subclasses size it."""
        return 1_000_000.0

    # --- lifecycle -----------------------------------------------------------------------
    def on_step(self, ctx: StepContext) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def on_fill(self, side: int, ticks: int, lots: int) -> None:
        self.position += side * lots
        self.fills += 1

    # --- sending (exact strings from integers) -------------------------------------------
    def limit(
        self,
        ctx: StepContext,
        side: int,
        ticks: int,
        lots: int,
        tif: str = "GTC",
        post_only: bool = False,
        display_lots: int = 0,
    ) -> tuple[str, list[dict[str, Any]]]:
        oid = self.ids.next()
        cmd: dict[str, Any] = {
            "op": "new",
            "id": oid,
            "account": self.account,
            "symbol": self.symbol,
            "side": SIDE_NAMES[side],
            "type": "limit",
            "price": self.ins.fmt_price(ticks),
            "qty": self.ins.fmt_qty(lots),
            "tif": tif,
            "ts": ctx.now_ns,
        }
        if post_only:
            cmd["post_only"] = True
        if 0 < display_lots < lots:
            cmd["display_qty"] = self.ins.fmt_qty(display_lots)
        return oid, ctx.send(cmd)

    def market(self, ctx: StepContext, side: int, lots: int) -> tuple[str, list[dict[str, Any]]]:
        oid = self.ids.next()
        cmd = {
            "op": "new",
            "id": oid,
            "account": self.account,
            "symbol": self.symbol,
            "side": SIDE_NAMES[side],
            "type": "market",
            "qty": self.ins.fmt_qty(lots),
            "ts": ctx.now_ns,
        }
        return oid, ctx.send(cmd)

    def modify(self, ctx: StepContext, order: Any, ticks: int, leaves: int) -> list[dict[str, Any]]:
        """Move resting ``order`` to ``ticks`` with ``leaves`` lots still to fill (the journal's
        modify ``qty`` is the new *total*, filled part included)."""
        total = order.qty - order.leaves + leaves
        return ctx.send(
            {"op": "modify", "id": order.oid, "price": self.ins.fmt_price(ticks), "qty": self.ins.fmt_qty(total), "ts": ctx.now_ns}
        )

    def move(self, ctx: StepContext, order: Any, ticks: int, leaves: int) -> str | None:
        """Re-price a resting post-only order; returns the id now resting there (or None).

        ``ctx.requote == "modify"`` uses the journal's modify (one command, same id);
        ``"replace"`` cancels and sends a new order, for engines whose modify misbehaves.
        """
        if ctx.requote == "modify":
            self.modify(ctx, order, ticks, leaves)
            return order.oid if self.resting(ctx, order.oid) is not None else None
        self.cancel(ctx, order.oid)
        oid, _ = self.limit(ctx, order.side, ticks, leaves, post_only=True)
        return oid if self.resting(ctx, oid) is not None else None

    def cancel(self, ctx: StepContext, oid: str) -> list[dict[str, Any]]:
        return ctx.send({"op": "cancel", "id": oid, "ts": ctx.now_ns})

    # --- reading the book ----------------------------------------------------------------
    @staticmethod
    def resting(ctx: StepContext, oid: str | None) -> Any:
        """The engine's resting order for ``oid``, or None once filled, cancelled or expired."""
        return ctx.book.orders.get(oid) if oid is not None else None

    @staticmethod
    def would_cross(ctx: StepContext, side: int, ticks: int) -> bool:
        return bool(ctx.book.would_cross(side, ticks))


__all__ = ["Agent", "BUY", "SELL", "OrderIds", "StepContext", "account_of", "lots_for_usd"]
