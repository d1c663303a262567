"""Pre-trade risk limits, trading states, the order-rate limiter and the circuit breaker.

All limits are optional (None = off) so a plain journal replay behaves like a bare venue; the
simulated market and the user's config turn them on. Limits can be set venue-wide, per symbol
or per account; the most specific setting wins.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, fields, replace

ACTIVE = "ACTIVE"
REDUCING = "REDUCING"
HALTED = "HALTED"
TRADING_STATES = (ACTIVE, REDUCING, HALTED)


@dataclass(frozen=True)
class RiskLimits:
    """Limits in engine units: ``band_bps`` in basis points, notionals in quote units,
    ``max_position`` in lots, rate as orders per window."""

    band_bps: int | None = None
    max_order_notional: int | None = None
    max_open_orders: int | None = None
    rate_limit_orders: int | None = None
    rate_limit_window_ns: int = 1_000_000_000
    max_position: int | None = None

    def merged(self, other: RiskLimits | None) -> RiskLimits:
        """``other``'s set values override ours."""
        if other is None:
            return self
        changes = {f.name: getattr(other, f.name) for f in fields(other) if getattr(other, f.name) is not None}
        return replace(self, **changes)


@dataclass
class LimitBook:
    """Venue-wide, per-symbol and per-account limits."""

    venue: RiskLimits = field(default_factory=RiskLimits)
    by_symbol: dict[str, RiskLimits] = field(default_factory=dict)
    by_account: dict[str, RiskLimits] = field(default_factory=dict)
    by_account_symbol: dict[tuple[str, str], RiskLimits] = field(default_factory=dict)

    def effective(self, account: str, symbol: str) -> RiskLimits:
        """Most specific wins: venue < symbol < account < (account, symbol)."""
        merged = self.venue.merged(self.by_symbol.get(symbol)).merged(self.by_account.get(account))
        return merged.merged(self.by_account_symbol.get((account, symbol)))


class RateLimiter:
    """Sliding-window order counter per account on the engine clock."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[int]] = {}

    def allow(self, account: str, now: int, limit: int, window_ns: int, record: bool = True) -> bool:
        """False when ``limit`` orders already fell in the window; else True, and the order is
        counted when ``record`` (the engine checks first and records only accepted orders)."""
        hits = self._hits.setdefault(account, deque())
        cutoff = now - window_ns
        while hits and hits[0] <= cutoff:
            hits.popleft()
        if len(hits) >= limit:
            return False
        if record:
            hits.append(now)
        return True


@dataclass(frozen=True)
class BreakerConfig:
    """Halt when a trade would move the price more than ``move_bps`` from any trade price in
    the last ``window_ns``; resume after ``cooldown_ns``."""

    move_bps: int
    window_ns: int
    cooldown_ns: int


class CircuitBreaker:
    """Per-symbol price band derived from recent trades (monotonic min/max deques)."""

    def __init__(self, config: BreakerConfig) -> None:
        self.config = config
        self._mins: deque[tuple[int, int]] = deque()  # (ts, price), increasing prices
        self._maxs: deque[tuple[int, int]] = deque()  # (ts, price), decreasing prices
        self.halted_until: int | None = None

    def _evict(self, now: int) -> None:
        cutoff = now - self.config.window_ns
        while self._mins and self._mins[0][0] <= cutoff:
            self._mins.popleft()
        while self._maxs and self._maxs[0][0] <= cutoff:
            self._maxs.popleft()

    def band(self, now: int) -> tuple[int, int] | None:
        """Allowed trade prices [lo, hi] in ticks, or None with no recent trade."""
        self._evict(now)
        if not self._mins:
            return None
        lo_ref = self._maxs[0][1]
        hi_ref = self._mins[0][1]
        bps = self.config.move_bps
        lo = -(-lo_ref * (10_000 - bps) // 10_000)
        hi = hi_ref * (10_000 + bps) // 10_000
        return lo, hi

    def record(self, now: int, price: int) -> None:
        while self._mins and self._mins[-1][1] >= price:
            self._mins.pop()
        self._mins.append((now, price))
        while self._maxs and self._maxs[-1][1] <= price:
            self._maxs.pop()
        self._maxs.append((now, price))

    def trip(self, now: int) -> int:
        self.halted_until = now + self.config.cooldown_ns
        self._mins.clear()
        self._maxs.clear()
        return self.halted_until
