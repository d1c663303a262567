"""Rolling fixed-interval candles up into longer ones (1m -> 5m, 15m, 1h), exactly.

``core.market_state`` builds 1-second and 1-minute candles from trades; longer timeframes are
folded from the 1-minute ones here rather than kept as more live series. Prices are compared as
``Decimal`` (never float) and the strings are kept as the instrument formatted them; volumes are
summed as ``Decimal`` and written with the same number of decimals as the inputs.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from core.market_state import Candle

TIMEFRAME_NS = {
    "1s": 1_000_000_000,
    "1m": 60_000_000_000,
    "5m": 300_000_000_000,
    "15m": 900_000_000_000,
    "1h": 3_600_000_000_000,
}


def roll_up(candles: Iterable[Candle], interval_ns: int) -> list[Candle]:
    """Candles of ``interval_ns`` from shorter ones (oldest first; each input lies inside one
    output interval, i.e. ``interval_ns`` is a multiple of the input interval)."""
    out: list[Candle] = []
    group: list[Candle] = []
    start = None
    for c in candles:
        s = c.start - c.start % interval_ns
        if group and s != start:
            out.append(_merge(start, group))
            group = []
        start = s
        group.append(c)
    if group:
        out.append(_merge(start, group))
    return out


def _merge(start: int, group: list[Candle]) -> Candle:
    volume = sum((Decimal(c.volume) for c in group), Decimal(0))
    places = len(group[0].volume.partition(".")[2])
    return Candle(
        start=start,
        open=group[0].open,
        high=max((c.high for c in group), key=Decimal),
        low=min((c.low for c in group), key=Decimal),
        close=group[-1].close,
        volume=f"{volume:.{places}f}",
        trades=sum(c.trades for c in group),
    )
