"""Liquidity takers: noise traders, momentum traders and an occasional whale.

* ``NoiseTaker``: Poisson arrivals of market orders and marketable IOC limits with lognormal
  dollar sizes; a gentle lean against its own inventory keeps it from drifting off forever.
* ``MomentumTrader``: fast and slow EMAs of trade prices (time-based, so they mean the same thing
  at any step size); buys when the fast one leads the slow by more than a threshold, sells on
  the mirror signal, within a position limit and a cooldown.
* ``Whale``: rare large orders that sweep several levels, either at market, as an aggressive
  IOC limit, or as an iceberg limit through the touch that keeps refilling until it is pulled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.simmarket.agent import BUY, SELL, Agent, StepContext, lots_for_usd


def lognormal_usd(rng, median: float, sigma: float, cap: float) -> float:
    """A lognormal dollar size with the given median, capped (tails of size are heavy)."""
    return min(cap, median * math.exp(sigma * rng.standard_normal()))


def arrivals(rng, rate_per_s: float, dt: float) -> int:
    """Poisson number of arrivals in ``dt`` seconds."""
    return int(rng.poisson(rate_per_s * dt))


@dataclass(frozen=True)
class NoiseParams:
    rate_per_s: float
    median_usd: float
    sigma: float = 1.1
    max_usd: float = 60_000.0
    limit_share: float = 0.3  # fraction sent as marketable IOC limits instead of market orders
    limit_through_bps: float = 1.5  # how far through the touch those limits reach (uniform 0..x)
    max_position_usd: float = 300_000.0  # lean fully against inventory at this size


class NoiseTaker(Agent):
    kind = "noise"

    def __init__(self, *args, params: NoiseParams, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.p = params

    def deposit_usd(self) -> float:
        return 3 * self.p.max_position_usd

    def buy_probability(self, inv_usd: float) -> float:
        """0.5 when flat, down to 0.2 when fully long, up to 0.8 when fully short."""
        lean = max(-1.0, min(1.0, inv_usd / self.p.max_position_usd))
        return 0.5 - 0.3 * lean

    def on_step(self, ctx: StepContext) -> None:
        p, rng = self.p, self.rng
        for _ in range(arrivals(rng, p.rate_per_s, ctx.dt)):
            inv_usd = self.position * float(self.ins.lot_size) * ctx.fair * ctx.usd_per_quote
            side = BUY if rng.random() < self.buy_probability(inv_usd) else SELL
            usd = lognormal_usd(rng, p.median_usd, p.sigma, p.max_usd)
            use_limit = rng.random() < p.limit_share
            through = rng.random() * p.limit_through_bps
            touch = ctx.book.best_ask if side == BUY else ctx.book.best_bid
            if touch is None:
                continue
            lots = lots_for_usd(self.ins, usd, touch, ctx.usd_per_quote)
            if use_limit:
                ticks = round(touch * (1 + side * through * 1e-4))
                self.limit(ctx, side, ticks, lots, tif="IOC")
            else:
                self.market(ctx, side, lots)


@dataclass(frozen=True)
class MomentumParams:
    fast_s: float = 4.0
    slow_s: float = 30.0
    threshold_bps: float = 1.0
    cooldown_s: float = 4.0
    size_usd: float = 8_000.0
    max_position_usd: float = 60_000.0


class MomentumTrader(Agent):
    kind = "momentum"

    def __init__(self, *args, params: MomentumParams, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.p = params
        self.fast: float | None = None
        self.slow: float | None = None
        self.last_ts: int | None = None
        self.next_ok_ns = 0
        self.seen_seq = 0

    def deposit_usd(self) -> float:
        return 3 * self.p.max_position_usd

    def observe(self, price: float, ts: int) -> None:
        """Fold one trade price stamped ``ts`` (ns) into both EMAs."""
        if self.fast is None or self.last_ts is None:
            self.fast = self.slow = price
        else:
            dt = max(0, ts - self.last_ts) / 1e9
            self.fast += (1 - math.exp(-dt / self.p.fast_s)) * (price - self.fast)
            self.slow += (1 - math.exp(-dt / self.p.slow_s)) * (price - self.slow)
        self.last_ts = ts

    def signal_bps(self) -> float:
        if self.fast is None or not self.slow:
            return 0.0
        return (self.fast - self.slow) / self.slow * 1e4

    def decide(self, now_ns: int, inv_usd: float) -> int:
        """+1 buy, -1 sell, 0 wait: trend beyond threshold, room in the limit, cooldown over."""
        p = self.p
        if now_ns < self.next_ok_ns:
            return 0
        sig = self.signal_bps()
        if sig > p.threshold_bps and inv_usd + p.size_usd <= p.max_position_usd:
            return BUY
        if sig < -p.threshold_bps and inv_usd - p.size_usd >= -p.max_position_usd:
            return SELL
        return 0

    def on_step(self, ctx: StepContext) -> None:
        fresh = []
        for t in reversed(ctx.trades):  # newest first; stop at the first one already seen
            if t["seq"] <= self.seen_seq:
                break
            fresh.append(t)
        for t in reversed(fresh):
            self.observe(float(t["price"]), int(t.get("ts", ctx.now_ns)))
            self.seen_seq = t["seq"]
        inv_usd = self.position * float(self.ins.lot_size) * ctx.fair * ctx.usd_per_quote
        side = self.decide(ctx.now_ns, inv_usd)
        if not side:
            return
        touch = ctx.book.best_ask if side == BUY else ctx.book.best_bid
        if touch is None:
            return
        usd = self.p.size_usd * math.exp(0.3 * self.rng.standard_normal())
        self.market(ctx, side, lots_for_usd(self.ins, usd, touch, ctx.usd_per_quote))
        self.next_ok_ns = ctx.now_ns + int(self.p.cooldown_s * 1e9)


@dataclass(frozen=True)
class WhaleParams:
    rate_per_hour: float = 90.0
    median_usd: float = 250_000.0
    sigma: float = 0.6
    max_usd: float = 1_500_000.0
    iceberg_share: float = 0.35
    ioc_share: float = 0.25
    through_bps: float = 4.0  # how far through the touch a limit reaches
    iceberg_slices: int = 8
    iceberg_life_s: tuple[float, float] = (15.0, 60.0)


class Whale(Agent):
    kind = "whale"

    def __init__(self, *args, params: WhaleParams, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.p = params
        self.iceberg: str | None = None
        self.iceberg_until = 0
        self.sweeps = 0

    def deposit_usd(self) -> float:
        return 6 * self.p.max_usd

    def on_step(self, ctx: StepContext) -> None:
        p, rng = self.p, self.rng
        if self.iceberg is not None:
            if self.resting(ctx, self.iceberg) is None:
                self.iceberg = None
            elif ctx.now_ns >= self.iceberg_until:
                self.cancel(ctx, self.iceberg)
                self.iceberg = None
        # One draw set per step whether or not the whale wakes, so its stream stays aligned.
        u_arrive, u_kind, u_side = rng.random(3)
        z_size = rng.standard_normal()
        if u_arrive >= 1 - math.exp(-p.rate_per_hour * ctx.dt / 3600):
            return
        inv_usd = self.position * float(self.ins.lot_size) * ctx.fair * ctx.usd_per_quote
        side = BUY if u_side < 0.5 - 0.3 * max(-1.0, min(1.0, inv_usd / p.max_usd)) else SELL
        working = self.resting(ctx, self.iceberg)
        if working is not None:
            side = working.side  # still working a parent order: keep going its way, never into it
        touch = ctx.book.best_ask if side == BUY else ctx.book.best_bid
        if touch is None:
            return
        usd = min(p.max_usd, p.median_usd * math.exp(p.sigma * z_size))
        lots = lots_for_usd(self.ins, usd, touch, ctx.usd_per_quote)
        limit_ticks = round(touch * (1 + side * p.through_bps * 1e-4))
        self.sweeps += 1
        if u_kind < p.iceberg_share and self.iceberg is None:
            oid, _ = self.limit(ctx, side, limit_ticks, lots, display_lots=max(1, lots // p.iceberg_slices))
            if self.resting(ctx, oid) is not None:
                self.iceberg = oid
                lo, hi = p.iceberg_life_s
                self.iceberg_until = ctx.now_ns + int((lo + (hi - lo) * rng.random()) * 1e9)
        elif u_kind < p.iceberg_share + p.ioc_share:
            self.limit(ctx, side, limit_ticks, lots, tif="IOC")
        else:
            self.market(ctx, side, lots)
