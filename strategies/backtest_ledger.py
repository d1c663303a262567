"""Money for the backtester: integer cash, integer lots, exact fees, shared by both fill modes.

Why integers: the bar mode and the exact mode (the matching engine) must agree to the lot and
the tick, and the fingerprint must be the same on every machine. Prices are integer ticks,
quantities integer lots and cash an integer number of ``unit`` (10**-k of the quote currency,
fine enough that one lot at one tick is a whole number of units). Only the equity *curve* and
the metrics are floats (analytics).

The pinned money rules:

* fee on both sides' notional: ``fee = ceil(notional * rate)`` in cash units (rounded up, like
  the engine's fee schedule, never rounded away);
* a buy pays ``notional + fee``; a sell receives ``notional - fee``;
* "all cash" (``size`` None) buys the largest whole number of lots whose notional **plus its
  fee** fits in the cash: ``lots = floor(cash / (price * (1 + rate)) / lot)``, rounded DOWN to
  the lot; a size fraction ``f`` does the same with ``floor(f * cash)``;
* a short sale is sized the same way, is unlevered and credits ``notional - fee``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.instruments import Instrument, default_instruments, make_instrument
from core.numbers import decimal_places, from_units

RATE_SCALE = 10**8
LONG, SHORT = 1, -1


@dataclass(frozen=True)
class Grid:
    """Tick, lot and the cash unit of one backtest, with exact formatters."""

    symbol: str
    tick: Decimal
    lot: Decimal
    cash_places: int  # cash unit = 10**-cash_places of the quote currency

    @property
    def unit(self) -> Decimal:
        return Decimal(1).scaleb(-self.cash_places)

    @property
    def notional_factor(self) -> int:
        """Cash units of one lot at one tick (an integer by construction)."""
        return int(self.tick * self.lot / self.unit)

    def price(self, ticks: int) -> str:
        return from_units(ticks, self.tick)

    def qty(self, lots: int) -> str:
        return from_units(lots, self.lot)

    def cash(self, units: int) -> str:
        return from_units(units, self.unit)

    def cash_units(self, amount: Decimal) -> int:
        """Exact amount -> cash units, rounded down (never invent money)."""
        return int((amount / self.unit).to_integral_value(rounding="ROUND_FLOOR"))

    def instrument(self) -> Instrument:
        """An engine instrument on this grid, without size limits that a backtest would hit."""
        quote_places = max(self.cash_places, 8)
        from core.instruments import Asset

        base, quote = self.symbol.split("/")
        assets = {base: Asset(base, max(8, decimal_places(self.lot))), quote: Asset(quote, quote_places)}
        return make_instrument(
            self.symbol, str(self.tick), str(self.lot), str(self.lot), "0",
            max_qty="1000000000000", max_price="1000000000000", assets=assets,
        )


def make_grid(symbol: str = "BTC/USDT", tick: Decimal | None = None, lot: Decimal | None = None) -> Grid:
    """The grid of ``symbol`` from ``core.instruments`` (or BTC/USDT's), overridden by tick/lot."""
    inst = default_instruments().get(symbol)
    if inst is None and (tick is None or lot is None):
        known = ", ".join(default_instruments())
        raise ValueError(f"unknown symbol {symbol!r} (known: {known}); give its tick and lot")
    if symbol.count("/") != 1:
        raise ValueError(f"symbol {symbol!r} must look like BASE/QUOTE")
    tick = tick if tick is not None else inst.tick_size
    lot = lot if lot is not None else inst.lot_size
    if tick <= 0 or lot <= 0:
        raise ValueError(f"tick and lot must be positive, got tick {tick}, lot {lot}")
    places = max(8, decimal_places(tick) + decimal_places(lot))
    return Grid(symbol, tick.normalize(), lot.normalize(), places)


def fee_rate_e8(rate: Decimal) -> int:
    """A fee rate (0.001 = 0.1 %) as an integer per 1e8; more than 8 decimals is an error."""
    scaled = rate * RATE_SCALE
    if rate < 0 or rate >= 1 or scaled != scaled.to_integral_value():
        raise ValueError(f"fee {rate} must be a rate in [0, 1) with at most 8 decimals (0.001 = 0.1 %)")
    return int(scaled)


@dataclass
class Trade:
    """One round trip (or an open position when ``exit_bar`` is None), all integers."""

    side: int  # LONG or SHORT
    qty: int  # lots
    entry_bar: int
    entry_price: int  # ticks
    entry_fee: int  # cash units
    exit_bar: int | None = None
    exit_price: int | None = None
    exit_fee: int = 0
    reason: str = "open"  # signal | stop_loss | take_profit | trailing_stop | open

    def pnl(self, nf: int) -> int:
        """Net profit in cash units (fees included); 0 while open."""
        if self.exit_price is None:
            return 0
        return self.side * self.qty * (self.exit_price - self.entry_price) * nf - self.entry_fee - self.exit_fee


class Ledger:
    """Cash and position of the one strategy account; every fill goes through ``fill``."""

    def __init__(self, grid: Grid, cash_units: int, fee_e8: int) -> None:
        self.grid = grid
        self.nf = grid.notional_factor
        self.cash = cash_units
        self.position = 0  # signed lots
        self.fee_e8 = fee_e8
        self.fees_paid = 0

    def fee(self, notional: int) -> int:
        return -(-notional * self.fee_e8 // RATE_SCALE)

    def lots_for(self, budget: int, price: int) -> int:
        """Largest lots whose notional plus fee fits in ``budget`` cash units at ``price`` ticks."""
        if budget <= 0 or price <= 0:
            return 0
        per_lot = price * self.nf
        lots = budget * RATE_SCALE // (per_lot * (RATE_SCALE + self.fee_e8))
        while lots > 0 and lots * per_lot + self.fee(lots * per_lot) > budget:
            lots -= 1
        return lots

    def fill(self, side: int, price: int, lots: int) -> int:
        """Apply a fill (side +1 buy, -1 sell) and return its fee in cash units."""
        notional = price * lots * self.nf
        fee = self.fee(notional)
        self.cash += -side * notional - fee
        self.position += side * lots
        self.fees_paid += fee
        return fee

    def equity(self, price: int) -> int:
        """Cash plus the position marked at ``price`` ticks, in cash units."""
        return self.cash + self.position * price * self.nf
