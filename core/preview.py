"""Pre-trade preview: what an order would get from the visible book right now.

Walks the opposite side of a snapshot (best first) the way the matching loop would, and reports
the average fill price, how much fills, the slippage against the mid, the fee at a given rate
and the notional. Everything is summed in integers (ticks x lots) and divided exactly
(``Fraction``); decimals appear only in the returned figures. It is an estimate: the book moves,
hidden (iceberg) quantity is not visible, and self-trade prevention is not modelled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from core.numbers import decimal_places, parse_decimal, unit_formatter

BUY, SELL = "buy", "sell"
#: Extra decimals shown for an average price beyond the tick's own.
AVG_EXTRA_PLACES = 4


@dataclass(frozen=True)
class Preview:
    """The estimate for one order; prices/quantities as decimal strings on the instrument grid.

    ``slippage_bps_vs_mid`` is signed so that positive is worse than the mid (paid above it
    for a buy, sold below it for a sell). ``fee`` is in the quote asset (notional x rate);
    the venue charges a buy's fee in the base asset (``fee_base``), a sell's in the quote.
    ``stopped_by`` says why not everything fills: ``"limit"`` (the limit price), ``"book"``
    (the visible book ran out) or None."""

    side: str
    requested_lots: int
    filled_lots: int
    filled_qty: str
    avg_price: str | None
    notional: str
    fee: str
    fee_base: str | None
    slippage_bps_vs_mid: str | None
    levels_used: int
    partial: bool
    stopped_by: str | None
    worst_price: str | None
    mid: str | None


def _level(level: Any) -> tuple[int, int]:
    if isinstance(level, tuple):
        return level[0], level[1]
    return level.ticks, level.lots


def estimate(
    levels_bids: Iterable[Any],
    levels_asks: Iterable[Any],
    side: str,
    qty_lots: int,
    limit_ticks: int | None,
    fee_rate: str | Decimal,
    tick_size: Decimal = Decimal(1),
    lot_size: Decimal = Decimal(1),
) -> Preview:
    """Estimate ``side`` ``qty_lots`` against the book (levels best first: ``Level`` objects or
    ``(ticks, lots)`` pairs). ``limit_ticks`` None = a market order. ``fee_rate`` a decimal
    string such as ``"0.001"``. ``tick_size``/``lot_size`` turn ticks and lots into prices
    and quantities (default 1: the figures stay in ticks and lots)."""
    if side not in (BUY, SELL):
        raise ValueError(f"side must be buy or sell, got {side!r}")
    if qty_lots <= 0:
        raise ValueError("qty_lots must be positive")
    rate = Fraction(parse_decimal(fee_rate, "fee_rate") if isinstance(fee_rate, str) else fee_rate)
    bids = [_level(lv) for lv in levels_bids]
    asks = [_level(lv) for lv in levels_asks]
    book = asks if side == BUY else bids
    sign = 1 if side == BUY else -1

    left, cost, used, worst, stopped = qty_lots, 0, 0, None, None
    for ticks, lots in book:
        if limit_ticks is not None and (ticks - limit_ticks) * sign > 0:
            stopped = "limit"
            break
        take = min(left, lots)
        cost += ticks * take
        left -= take
        used += 1
        worst = ticks
        if left == 0:
            break
    if left and stopped is None:
        stopped = "book"
    filled = qty_lots - left

    tick, lot = Fraction(tick_size), Fraction(lot_size)
    notional = Fraction(cost) * tick * lot
    price_places = decimal_places(tick_size)
    avg = Fraction(cost, filled) if filled else None
    mid2 = bids[0][0] + asks[0][0] if bids and asks else None  # twice the mid, in ticks
    slippage = None
    if avg is not None and mid2:
        slippage = (avg * 2 - mid2) / mid2 * 10_000 * sign
    return Preview(
        side=side,
        requested_lots=qty_lots,
        filled_lots=filled,
        filled_qty=unit_formatter(lot_size)(filled),
        avg_price=_dec(avg * tick, price_places + AVG_EXTRA_PLACES) if avg is not None else None,
        notional=_dec(notional, price_places + decimal_places(lot_size)),
        fee=_dec(notional * rate, price_places + decimal_places(lot_size) + 8),
        fee_base=_dec(filled * lot * rate, decimal_places(lot_size) + 8) if side == BUY else None,
        slippage_bps_vs_mid=_dec(slippage, 2) if slippage is not None else None,
        levels_used=used,
        partial=filled < qty_lots,
        stopped_by=stopped,
        worst_price=unit_formatter(tick_size)(worst) if worst is not None else None,
        mid=_dec(Fraction(mid2, 2) * tick, price_places + 1) if mid2 else None,
    )


def _dec(value: Fraction, places: int) -> str:
    """A fraction as a plain decimal string rounded half-even to ``places`` digits, trailing
    zeros trimmed (keeping one digit after the point)."""
    neg = value < 0
    scaled = abs(value) * 10**places
    n, r = divmod(scaled.numerator, scaled.denominator)
    if r * 2 > scaled.denominator or (r * 2 == scaled.denominator and n % 2):
        n += 1
    text = f"{Decimal(n).scaleb(-places):f}" if places else str(n)
    if "." in text:
        text = text.rstrip("0")
        if text.endswith("."):
            text += "0"
    return ("-" + text) if neg and n else text


def preview_for(view: Any, instrument: Any, side: str, qty_lots: int, limit_ticks: int | None, fee_rate: str) -> Preview:
    """``estimate`` on a ``MarketView`` with the instrument's grid."""
    return estimate(view.bids, view.asks, side, qty_lots, limit_ticks, fee_rate, instrument.tick_size, instrument.lot_size)


__all__ = ["Preview", "estimate", "preview_for"]
