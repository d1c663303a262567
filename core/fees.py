"""Maker/taker fees with a tier table by 30-day traded notional.

Rates are held as integers per 1e8 so a fee is an exact integer computation, rounded up in the
venue's favour (a fee is never rounded away to zero on a non-zero fill with a non-zero rate).
The fee is charged in the asset the trader receives (base for a buy, quote for a sell), the way
Binance charges by default, so fees never need a hold.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from core.numbers import parse_decimal

RATE_SCALE = 10**8
THIRTY_DAYS_NS = 30 * 24 * 3600 * 10**9


@dataclass(frozen=True)
class FeeTier:
    """A tier applies from ``min_volume`` (quote units, 30-day traded notional) upward."""

    name: str
    min_volume: int
    maker_e8: int
    taker_e8: int


def _rate_e8(value: str, field: str) -> int:
    dec = parse_decimal(value, field) * RATE_SCALE
    if dec != dec.to_integral_value() or dec < 0:
        raise ValueError(f"{field} {value} must be a non-negative rate with at most 8 decimals")
    return int(dec)


#: Binance spot VIP 0-9 (percent rates), thresholds in quote currency.
BINANCE_LIKE_TIERS: tuple[tuple[str, str, str, str], ...] = (
    ("VIP0", "0", "0.001", "0.001"),
    ("VIP1", "1000000", "0.0009", "0.001"),
    ("VIP2", "5000000", "0.0008", "0.001"),
    ("VIP3", "20000000", "0.00042", "0.0006"),
    ("VIP4", "100000000", "0.00042", "0.00054"),
    ("VIP5", "150000000", "0.00036", "0.00048"),
    ("VIP6", "400000000", "0.0003", "0.00042"),
    ("VIP7", "800000000", "0.00024", "0.00036"),
    ("VIP8", "2000000000", "0.00018", "0.0003"),
    ("VIP9", "4000000000", "0.00012", "0.00024"),
)


class FeeSchedule:
    """Tier table plus each account's rolling 30-day traded notional."""

    def __init__(self, tiers: list[FeeTier] | None = None, quote_unit: Decimal = Decimal("1e-8")) -> None:
        self.tiers = sorted(tiers or self.from_table(BINANCE_LIKE_TIERS, quote_unit), key=lambda t: t.min_volume)
        if not self.tiers or self.tiers[0].min_volume != 0:
            raise ValueError("the fee tier table must start with a tier at volume 0")
        self._volume: dict[str, int] = {}
        self._window: dict[str, deque[tuple[int, int]]] = {}

    @staticmethod
    def from_table(rows, quote_unit: Decimal = Decimal("1e-8")) -> list[FeeTier]:
        """Build tiers from (name, min_volume, maker, taker) decimal strings."""
        tiers = []
        for name, min_volume, maker, taker in rows:
            units = parse_decimal(min_volume, f"fees.{name}.min_volume") / quote_unit
            tiers.append(FeeTier(name, int(units), _rate_e8(maker, f"fees.{name}.maker"), _rate_e8(taker, f"fees.{name}.taker")))
        return tiers

    def tier(self, account: str, now: int) -> FeeTier:
        vol = self.volume(account, now)
        chosen = self.tiers[0]
        for t in self.tiers:
            if vol >= t.min_volume:
                chosen = t
            else:
                break
        return chosen

    def volume(self, account: str, now: int) -> int:
        """30-day traded notional (quote units) as of ``now``, evicting older fills."""
        window = self._window.get(account)
        if not window:
            return 0
        cutoff = now - THIRTY_DAYS_NS
        vol = self._volume[account]
        while window and window[0][0] <= cutoff:
            vol -= window.popleft()[1]
        self._volume[account] = vol
        return vol

    def record(self, account: str, now: int, notional: int) -> None:
        self._window.setdefault(account, deque()).append((now, notional))
        self._volume[account] = self._volume.get(account, 0) + notional

    @staticmethod
    def fee(units: int, rate_e8: int) -> int:
        """Fee on ``units`` at ``rate_e8``, rounded up."""
        return -(-units * rate_e8 // RATE_SCALE)
