"""Liquidity providers: ladder market makers and a deep, slow passive book.

Market makers quote ``levels`` prices a side around fair value (shifted against their inventory),
with a half-spread that widens when volatility bursts. They move an order only when its target
price has drifted beyond a tolerance that grows with the level's distance, so the inside
re-quotes often and the far levels rarely, as on a real venue. They never cross: a target that
would take liquidity is skipped this step (and ``post_only`` makes the engine enforce it).

The depth provider rests large orders on round-number prices between ``inner_bps`` and
``outer_bps`` from fair value and only touches them when fair value moves a grid line past the
band, so the book always shows depth well beyond the makers' ladders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.simmarket.agent import BUY, SELL, Agent, StepContext, lots_for_usd


def ladder_prices(center: float, half_spread: float, spacing: float, levels: int) -> tuple[list[int], list[int]]:
    """Integer tick prices of a symmetric ladder around ``center`` (all arguments in ticks).

    Bids round down and asks round up (never tighter than asked for), each side strictly
    monotone, and the best bid stays strictly below the best ask.
    """
    bids: list[int] = []
    asks: list[int] = []
    for i in range(levels):
        b = math.floor(center - half_spread - i * spacing)
        a = math.ceil(center + half_spread + i * spacing)
        if bids and b >= bids[-1]:
            b = bids[-1] - 1
        if asks and a <= asks[-1]:
            a = asks[-1] + 1
        bids.append(b)
        asks.append(a)
    if bids and asks[0] <= bids[0]:
        asks = [a + bids[0] - asks[0] + 1 for a in asks]
    return bids, asks


def nice_step(raw: float) -> int:
    """The 1-2-5 round number of ticks nearest (in ratio) to ``raw``; at least 1."""
    if raw <= 1:
        return 1
    exp = 10 ** math.floor(math.log10(raw))
    return int(min((m * exp for m in (1, 2, 5, 10)), key=lambda s: abs(math.log(s / raw))))


@dataclass(frozen=True)
class MakerParams:
    half_spread_bps: float
    spacing_bps: float
    levels: int
    size_usd: float  # first level
    size_growth: float  # each further level adds this fraction of the first level's size
    max_position_usd: float  # inventory at which skew is full
    skew: float = 1.5  # full-inventory shift of the quote centre, in half-spreads
    tolerance: float = 0.35  # re-quote when drift exceeds this x spacing (x (1 + level / 3))
    size_jitter: float = 0.25  # lognormal sigma of a new order's size


class MarketMaker(Agent):
    """Quotes a ladder on both sides, skews it against inventory, re-quotes with ``modify``."""

    kind = "maker"

    def __init__(self, *args, params: MakerParams, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.p = params
        self.slots: dict[int, list[str | None]] = {BUY: [None] * params.levels, SELL: [None] * params.levels}
        self.last_center: float | None = None

    def deposit_usd(self) -> float:
        p = self.p
        ladder = p.size_usd * p.levels * (1 + p.size_growth * (p.levels - 1) / 2)
        return 3 * ladder + 2 * p.max_position_usd

    def targets(self, ctx: StepContext) -> tuple[list[int], list[int], float, float]:
        """Ladder prices and per-side size multipliers for the current fair value and inventory."""
        p = self.p
        fair = ctx.fair_ticks
        bps = fair * 1e-4
        half = p.half_spread_bps * bps * math.sqrt(ctx.vol_multiple)
        spacing = max(1.0, p.spacing_bps * bps)
        inv_usd = self.position * float(self.ins.lot_size) * ctx.fair * ctx.usd_per_quote
        inv = max(-1.0, min(1.0, inv_usd / p.max_position_usd))
        center = fair - inv * p.skew * half
        bids, asks = ladder_prices(center, half, spacing, p.levels)
        # Long: shrink bids, keep asks; short: the reverse.
        return bids, asks, 1.0 - 0.8 * max(0.0, inv), 1.0 - 0.8 * max(0.0, -inv)

    def _size(self, ctx: StepContext, level: int, ticks: int, mult: float) -> int:
        p = self.p
        usd = p.size_usd * (1 + p.size_growth * level) * mult
        usd *= math.exp(p.size_jitter * self.rng.standard_normal() - p.size_jitter**2 / 2)
        return lots_for_usd(self.ins, usd, ticks, ctx.usd_per_quote)

    def on_step(self, ctx: StepContext) -> None:
        bids, asks, bid_mult, ask_mult = self.targets(ctx)
        p = self.p
        spacing = max(1.0, p.spacing_bps * ctx.fair_ticks * 1e-4)
        center = (bids[0] + asks[0]) / 2
        # Move the side that runs away from the other first, so our own quotes never cross.
        up = self.last_center is None or center >= self.last_center
        order = ((SELL, asks, ask_mult), (BUY, bids, bid_mult)) if up else ((BUY, bids, bid_mult), (SELL, asks, ask_mult))
        self.last_center = center
        for side, prices, mult in order:
            slots = self.slots[side]
            for i, target in enumerate(prices):
                resting = self.resting(ctx, slots[i])
                if resting is not None:
                    tol = p.tolerance * spacing * (1 + i / 3)
                    if abs(resting.price - target) <= tol:
                        continue
                    if self.would_cross(ctx, side, target):
                        continue
                    slots[i] = self.move(ctx, resting, target, self._size(ctx, i, target, mult))
                    continue
                slots[i] = None
                if self.would_cross(ctx, side, target):
                    continue
                oid, events = self.limit(ctx, side, target, self._size(ctx, i, target, mult), post_only=True)
                if self.resting(ctx, oid) is not None:
                    slots[i] = oid


@dataclass(frozen=True)
class DepthParams:
    inner_bps: float  # nearest resting price from fair value
    outer_bps: float  # farthest
    grid_bps: float  # spacing, rounded to a 1-2-5 number of ticks
    size_usd: float  # at the inner edge
    size_growth_per_bps: float  # extra fraction of size_usd per bps further out
    min_levels: int = 30  # coarse-tick symbols: widen the band to keep at least this many prices
    hysteresis: float = 0.4  # keep an order until it is this fraction inside/outside the band's edges
    size_jitter: float = 0.5


class DepthProvider(Agent):
    """Slow, deep resting liquidity on a round-number grid beyond the makers' ladders."""

    kind = "depth"

    def __init__(self, *args, params: DepthParams, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.p = params
        self.orders: dict[int, dict[int, str]] = {BUY: {}, SELL: {}}  # side -> price -> oid
        self.grid: int | None = None

    def deposit_usd(self) -> float:
        p = self.p
        n = max((p.outer_bps - p.inner_bps) / p.grid_bps, p.min_levels) + 1
        return 3 * n * self._mean_usd(p.outer_bps)

    def _mean_usd(self, dist_bps: float) -> float:
        """Mean order size at ``dist_bps`` from fair (growth stops at the band's outer edge)."""
        p = self.p
        return p.size_usd * (1 + p.size_growth_per_bps * max(0.0, min(dist_bps, p.outer_bps) - p.inner_bps))

    def on_step(self, ctx: StepContext) -> None:
        p = self.p
        fair = ctx.fair_ticks
        bps = fair * 1e-4
        if self.grid is None:
            self.grid = nice_step(p.grid_bps * bps)
        g = self.grid
        inner = p.inner_bps * bps
        outer = max(p.outer_bps * bps, inner + p.min_levels * g)
        for side in (BUY, SELL):
            book_orders = self.orders[side]
            # Forget orders that traded away or were cancelled; drop those out of the band.
            for price, oid in list(book_orders.items()):
                dist = (fair - price) * side
                if self.resting(ctx, oid) is None:
                    del book_orders[price]
                elif dist < inner * (1 - p.hysteresis) or dist > outer * (1 + p.hysteresis):
                    self.cancel(ctx, oid)
                    del book_orders[price]
            # Fill every empty grid price inside the band (nearest first).
            if side == BUY:
                prices = range(math.floor((fair - inner) / g) * g, math.floor(fair - outer) - 1, -g)
            else:
                prices = range(math.ceil((fair + inner) / g) * g, math.ceil(fair + outer) + 1, g)
            for price in prices:
                if price <= 0 or price in book_orders or self.would_cross(ctx, side, price):
                    continue
                usd = self._mean_usd(abs(fair - price) / bps)
                usd *= math.exp(p.size_jitter * self.rng.standard_normal() - p.size_jitter**2 / 2)
                oid, _ = self.limit(ctx, side, price, lots_for_usd(self.ins, usd, price, ctx.usd_per_quote), post_only=True)
                if self.resting(ctx, oid) is not None:
                    book_orders[price] = oid
