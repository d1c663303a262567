"""Instruments: the grid every price and quantity must sit on, and the asset units balances use.

Inside the engine a price is an integer number of ticks, a quantity an integer number of lots
and a balance an integer number of the asset's smallest unit. An instrument is only accepted
when its grid maps exactly onto its assets' units, so settlement never rounds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from core.numbers import NumberError, decimal_places, parse_decimal, to_units, unit_formatter

DEFAULT_ASSET_DECIMALS = 8


@dataclass(frozen=True)
class Asset:
    """A currency or coin; balances are integers of ``unit`` (10**-decimals)."""

    code: str
    decimals: int = DEFAULT_ASSET_DECIMALS
    _fmt: Callable[[int], str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fmt", unit_formatter(self.unit))

    @property
    def unit(self) -> Decimal:
        return Decimal(1).scaleb(-self.decimals)

    def to_units(self, value: object, field: str = "amount") -> int:
        return to_units(value, self.unit, field)

    def fmt(self, units: int) -> str:
        return self._fmt(units)


@dataclass(frozen=True)
class Instrument:
    """A tradable pair with its price grid (tick), quantity grid (lot) and minimums."""

    symbol: str
    base: Asset
    quote: Asset
    tick_size: Decimal
    lot_size: Decimal
    min_qty: Decimal
    min_notional: Decimal
    max_qty: Decimal = Decimal("9000")
    max_price: Decimal = Decimal("10000000")
    # Derived integer factors, filled in __post_init__.
    notional_factor: int = field(init=False)
    base_factor: int = field(init=False)
    min_lots: int = field(init=False)
    max_lots: int = field(init=False)
    max_ticks: int = field(init=False)
    min_notional_units: int = field(init=False)
    fmt_price: Callable[[int], str] = field(init=False, compare=False, repr=False)
    fmt_qty: Callable[[int], str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("tick_size", "lot_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{self.symbol}: {name} must be positive")
        nf = self.tick_size * self.lot_size / self.quote.unit
        bf = self.lot_size / self.base.unit
        if nf != nf.to_integral_value() or bf != bf.to_integral_value():
            raise ValueError(
                f"{self.symbol}: tick {self.tick_size} x lot {self.lot_size} does not map onto "
                f"whole units of {self.quote.code} ({self.quote.unit}) and {self.base.code} ({self.base.unit})"
            )
        object.__setattr__(self, "notional_factor", int(nf))
        object.__setattr__(self, "base_factor", int(bf))
        object.__setattr__(self, "min_lots", max(1, _ceil_div(self.min_qty, self.lot_size)))
        object.__setattr__(self, "max_lots", int(self.max_qty / self.lot_size))
        object.__setattr__(self, "max_ticks", int(self.max_price / self.tick_size))
        object.__setattr__(self, "min_notional_units", _ceil_div(self.min_notional, self.quote.unit))
        # Exact integer formatters (ticks -> price string, lots -> qty string), built once.
        object.__setattr__(self, "fmt_price", unit_formatter(self.tick_size))
        object.__setattr__(self, "fmt_qty", unit_formatter(self.lot_size))

    # --- exact conversions -------------------------------------------------------------
    def price_to_ticks(self, value: object, field: str = "price") -> int:
        """Exact price string -> ticks; raises NumberError with OFF_GRID_PRICE etc."""
        try:
            ticks = to_units(value, self.tick_size, field)
        except NumberError as exc:
            if exc.code == "OFF_GRID":
                raise NumberError("OFF_GRID_PRICE", str(exc)) from None
            raise
        if ticks <= 0:
            raise NumberError("NON_POSITIVE_PRICE", f"{field} must be positive, got {value}")
        if ticks > self.max_ticks:
            raise NumberError("PRICE_TOO_LARGE", f"{field} {value} exceeds the maximum {self.max_price}")
        return ticks

    def qty_to_lots(self, value: object, field: str = "qty") -> int:
        """Exact quantity string -> lots; raises NumberError with OFF_GRID_QTY etc."""
        try:
            lots = to_units(value, self.lot_size, field)
        except NumberError as exc:
            if exc.code == "OFF_GRID":
                raise NumberError("OFF_GRID_QTY", str(exc)) from None
            raise
        if lots <= 0:
            raise NumberError("NON_POSITIVE_QTY", f"{field} must be positive, got {value}")
        if lots > self.max_lots:
            raise NumberError("QTY_TOO_LARGE", f"{field} {value} exceeds the maximum {self.max_qty}")
        return lots


    def notional_units(self, ticks: int, lots: int) -> int:
        """Quote-asset units of ``lots`` at ``ticks`` (exact)."""
        return ticks * lots * self.notional_factor

    def base_units(self, lots: int) -> int:
        return lots * self.base_factor

    @property
    def price_places(self) -> int:
        return decimal_places(self.tick_size)


def _ceil_div(a: Decimal, b: Decimal) -> int:
    q = a / b
    i = int(q)
    return i if i == q else i + 1


def make_instrument(
    symbol: str,
    tick_size: str,
    lot_size: str,
    min_qty: str | None = None,
    min_notional: str = "0",
    max_qty: str = "9000",
    max_price: str = "10000000",
    assets: dict[str, Asset] | None = None,
) -> Instrument:
    """Build an instrument from strings; the unified symbol is ``BASE/QUOTE``."""
    if symbol.count("/") != 1:
        raise ValueError(f"symbol {symbol!r} must look like BASE/QUOTE")
    base_code, quote_code = symbol.split("/")
    if not base_code or not quote_code:
        raise ValueError(f"symbol {symbol!r} must look like BASE/QUOTE")
    assets = assets or {}
    base = assets.get(base_code) or Asset(base_code)
    quote = assets.get(quote_code) or Asset(quote_code)
    lot = parse_decimal(lot_size, "lot_size")
    return Instrument(
        symbol=symbol,
        base=base,
        quote=quote,
        tick_size=parse_decimal(tick_size, "tick_size"),
        lot_size=lot,
        min_qty=parse_decimal(min_qty, "min_qty") if min_qty is not None else lot,
        min_notional=parse_decimal(min_notional, "min_notional"),
        max_qty=parse_decimal(max_qty, "max_qty"),
        max_price=parse_decimal(max_price, "max_price"),
    )


def default_instruments() -> dict[str, Instrument]:
    """Binance-like spot grids for the symbols the simulated venue lists out of the box."""
    specs = [
        ("BTC/USDT", "0.01", "0.00001", "0.00001", "5", "9000", "1000000"),
        ("ETH/USDT", "0.01", "0.0001", "0.0001", "5", "9000", "1000000"),
        ("SOL/USDT", "0.01", "0.001", "0.001", "5", "90000", "100000"),
        ("ETH/BTC", "0.00001", "0.001", "0.001", "0.0001", "100000", "100"),
    ]
    out: dict[str, Instrument] = {}
    for sym, tick, lot, mq, mn, mx, mp in specs:
        out[sym] = make_instrument(sym, tick, lot, mq, mn, mx, mp)
    return out
