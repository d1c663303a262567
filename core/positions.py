"""Average-cost positions of one account, folded from its fills, in exact integers.

The engine keeps each account's net position in lots but not what it cost: a trader's screen
needs the average entry price and the unrealised PnL at the current mark. ``PositionTracker``
folds the account's trade events (as maker or taker) into, per symbol, the signed lots and the
cost of the open part in ``ticks * lots``; a fill against the position realises PnL on the
closed part at the average cost, and a fill larger than the position flips it at the fill price.

Costs are ``fractions.Fraction`` so reducing a position never rounds; only formatting rounds
(half-even, to the instrument's price places + 2 for the average, to the quote asset's unit for
money).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from core.instruments import Instrument


@dataclass
class _Position:
    lots: int = 0  # signed: > 0 long, < 0 short
    cost: Fraction = Fraction(0)  # ticks * lots of the open part (always >= 0)
    realised: Fraction = Fraction(0)  # ticks * lots of realised PnL


def _round(value: Fraction) -> int:
    """Round half to even to an integer (Decimal semantics, no float)."""
    return int((Decimal(value.numerator) / Decimal(value.denominator)).to_integral_value(ROUND_HALF_EVEN))


class PositionTracker:
    """Per-symbol average-cost positions for one account."""

    def __init__(self, account: str, instruments: dict[str, Instrument]) -> None:
        self.account = account
        self.instruments = instruments
        self._pos: dict[str, _Position] = {}

    def on_trade(self, ev: dict) -> bool:
        """Fold one engine ``trade`` event; True when it concerned this account."""
        if ev.get("event") != "trade":
            return False
        maker, taker = ev["maker_account"] == self.account, ev["taker_account"] == self.account
        if not (maker or taker):
            return False
        ins = self.instruments[ev["symbol"]]
        ticks, lots = ins.price_to_ticks(ev["price"]), ins.qty_to_lots(ev["qty"])
        taker_sign = 1 if ev["taker_side"] == "buy" else -1
        if taker:
            self.fill(ev["symbol"], taker_sign, ticks, lots)
        if maker:  # a self-trade folds both legs
            self.fill(ev["symbol"], -taker_sign, ticks, lots)
        return True

    def fill(self, symbol: str, side: int, ticks: int, lots: int) -> None:
        """Apply a fill of ``lots`` at ``ticks``; ``side`` is +1 buy, -1 sell."""
        p = self._pos.setdefault(symbol, _Position())
        if p.lots == 0 or (p.lots > 0) == (side > 0):
            p.lots += side * lots
            p.cost += ticks * lots
            return
        held = abs(p.lots)
        closing = min(lots, held)
        closed_cost = p.cost * closing / held
        direction = 1 if p.lots > 0 else -1
        p.realised += direction * (ticks * closing - closed_cost)
        p.cost -= closed_cost
        p.lots += side * closing
        rest = lots - closing
        if rest:  # flipped through zero: the rest opens a new position at this price
            p.lots = side * rest
            p.cost = Fraction(ticks * rest)
        elif p.lots == 0:
            p.cost = Fraction(0)

    def lots(self, symbol: str) -> int:
        p = self._pos.get(symbol)
        return p.lots if p else 0

    def avg_ticks(self, symbol: str) -> Fraction | None:
        p = self._pos.get(symbol)
        if not p or p.lots == 0:
            return None
        return p.cost / abs(p.lots)

    def unrealised_units(self, symbol: str, mark_ticks: Fraction | int | None) -> int | None:
        """Unrealised PnL at ``mark_ticks`` in quote-asset units (None without a mark)."""
        p = self._pos.get(symbol)
        if not p or p.lots == 0 or mark_ticks is None:
            return 0 if (not p or p.lots == 0) else None
        direction = 1 if p.lots > 0 else -1
        raw = direction * (Fraction(mark_ticks) * abs(p.lots) - p.cost)
        return _round(raw * self.instruments[symbol].notional_factor)

    def realised_units(self, symbol: str) -> int:
        p = self._pos.get(symbol)
        return _round(p.realised * self.instruments[symbol].notional_factor) if p else 0

    def symbols(self) -> list[str]:
        """Symbols ever traded, in first-fill order."""
        return list(self._pos)

    def fmt_avg(self, symbol: str) -> str | None:
        avg = self.avg_ticks(symbol)
        if avg is None:
            return None
        ins = self.instruments[symbol]
        value = Decimal(avg.numerator) / Decimal(avg.denominator) * ins.tick_size
        return f"{value.quantize(Decimal(1).scaleb(-(ins.price_places + 2)), ROUND_HALF_EVEN):f}"

    def fmt_lots(self, symbol: str) -> str:
        lots = self.lots(symbol)
        ins = self.instruments[symbol]
        return ins.fmt_qty(lots) if lots >= 0 else "-" + ins.fmt_qty(-lots)
