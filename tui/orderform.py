"""The order ticket's form, as data: the typed fields -> one journal ``new`` command.

Pure (no textual), so the rules are testable on their own and the screen only lays out fields.

Grid rule (shown on the ticket before sending): an off-grid value is moved onto the grid in
the direction that never does more than the user typed:

* quantity and iceberg display quantity round **down** to the lot;
* a limit price rounds **down** for a buy and **up** for a sell (never pays more / sells for
  less than typed);
* a stop price rounds to the **nearest** tick (half up).

A value that rounds to zero is an error, as is anything that is not a plain decimal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from core.instruments import Instrument
from core.numbers import NumberError, parse_decimal
from core.orders import CONDITIONAL_TYPES, ORDER_TYPES, PRICED_TYPES, TIFS, TRAILING_STOP_MARKET

#: Types whose trigger is a stop price (the trailing stop's trigger follows the market).
STOP_TYPES = frozenset(CONDITIONAL_TYPES - {TRAILING_STOP_MARKET})
#: Types that may rest in the book (and so take GTC/GTD, post-only, an iceberg display).
RESTING_TYPES = PRICED_TYPES
ICEBERG_TYPES = PRICED_TYPES
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_NS = {"s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9}
PRESET_PERCENTS = (10, 25, 50, 100)


@dataclass
class OrderForm:
    """What the user typed (strings, as in the inputs)."""

    symbol: str
    side: str = "buy"
    type: str = "limit"
    qty: str = ""
    price: str = ""
    stop_price: str = ""
    trail: str = ""
    tif: str = "GTC"
    expiry: str = "1h"  # GTD: a duration from now (30s, 5m, 2h, 1d)
    post_only: bool = False
    display_qty: str = ""

    def tifs(self) -> tuple[str, ...]:
        """Time-in-force choices for the type (the engine lets only priced orders rest)."""
        return TIFS if self.type in RESTING_TYPES else ("IOC", "FOK")

    def uses(self, name: str) -> bool:
        """Whether field ``name`` applies to the current type / tif."""
        t = self.type
        return {
            "price": t in PRICED_TYPES,
            "stop_price": t in STOP_TYPES,
            "trail": t == TRAILING_STOP_MARKET,
            "expiry": self.tif == "GTD",
            "post_only": t == "limit" and self.tif in ("GTC", "GTD"),
            "display_qty": t in ICEBERG_TYPES and self.tif in ("GTC", "GTD"),
        }.get(name, True)


@dataclass
class Built:
    """The command (None while the form has errors), the grid notes and the errors."""

    cmd: dict | None
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lots: int = 0
    limit_ticks: int | None = None


def to_grid(text: str, step: Decimal, rounding: str, name: str) -> tuple[int, str | None]:
    """``text`` -> whole ``step`` units with ``rounding``; the note says what changed."""
    value = parse_decimal(text.strip(), name)
    units = int((value / step).to_integral_value(rounding=rounding))
    if units <= 0:
        raise NumberError("NON_POSITIVE", f"{name} {text.strip()} is zero on the {step.normalize():f} grid")
    on_grid = units * step
    note = None if on_grid == value else f"{name} {text.strip()} is off the {step.normalize():f} grid: sends {on_grid:f}"
    return units, note


def parse_duration(text: str) -> int:
    """``"90s"``, ``"5m"``, ``"2h"``, ``"1d"`` -> nanoseconds."""
    m = _DURATION.match(text)
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"expiry {text.strip()!r} must be a duration such as 30s, 5m, 2h or 1d")
    return int(m.group(1)) * _UNIT_NS[m.group(2)]


def check_trail(text: str) -> str:
    """A trail as the engine takes it: whole ticks ("25") or a percent ("1.5%", 4 decimals)."""
    t = text.strip()
    try:
        if t.endswith("%"):
            pct = parse_decimal(t[:-1], "trail")
            if not 0 < pct < 100 or (pct * 10_000) != (pct * 10_000).to_integral_value():
                raise ValueError
        else:
            ticks = parse_decimal(t, "trail")
            if ticks <= 0 or ticks != ticks.to_integral_value():
                raise ValueError
    except (NumberError, ValueError):
        raise ValueError(f"trail {t!r} must be whole ticks (25) or a percent in (0, 100) such as 1.5%") from None
    return t


def build(form: OrderForm, ins: Instrument, now_ns: int, order_id: str, account: str | None = None) -> Built:
    """The journal command for ``form``, or the errors that stop it."""
    out = Built(None)
    if form.side not in ("buy", "sell"):
        out.errors.append(f"side must be buy or sell, got {form.side!r}")
    if form.type not in ORDER_TYPES:
        out.errors.append(f"type must be one of {', '.join(ORDER_TYPES)}")
    if form.tif not in form.tifs():
        out.errors.append(f"a {form.type} order takes tif {' or '.join(form.tifs())}")
    cmd: dict = {"op": "new", "id": order_id}
    if account:
        cmd["account"] = account
    cmd.update(symbol=form.symbol, side=form.side, type=form.type)

    def grid(name: str, text: str, step: Decimal, rounding: str, fmt) -> int | None:
        if not text.strip():
            out.errors.append(f"{name} is required for a {form.type} order")
            return None
        try:
            units, note = to_grid(text, step, rounding, name)
        except NumberError as exc:
            out.errors.append(str(exc))
            return None
        if note:
            out.notes.append(note)
        cmd[name] = fmt(units)
        return units

    lots = grid("qty", form.qty, ins.lot_size, ROUND_FLOOR, ins.fmt_qty)
    out.lots = lots or 0
    if form.uses("price"):
        rounding = ROUND_FLOOR if form.side == "buy" else ROUND_CEILING
        out.limit_ticks = grid("price", form.price, ins.tick_size, rounding, ins.fmt_price)
    if form.uses("stop_price"):
        grid("stop_price", form.stop_price, ins.tick_size, ROUND_HALF_UP, ins.fmt_price)
    if form.uses("trail"):
        try:
            cmd["trail"] = check_trail(form.trail)
        except ValueError as exc:
            out.errors.append(str(exc))
    cmd["tif"] = form.tif
    if form.uses("expiry"):
        try:
            cmd["expire_ts"] = now_ns + parse_duration(form.expiry)
        except ValueError as exc:
            out.errors.append(str(exc))
    if form.post_only and form.uses("post_only"):
        cmd["post_only"] = True
    if form.display_qty.strip() and form.uses("display_qty"):
        display = grid("display_qty", form.display_qty, ins.lot_size, ROUND_FLOOR, ins.fmt_qty)
        if display is not None and lots is not None and display >= lots:
            out.errors.append("display_qty must be below qty (the iceberg's visible part)")
    if not out.errors:
        out.cmd = cmd
    return out


def preset_qty(percent: int, side: str, ins: Instrument, available: dict[str, str], price: str | None) -> str | None:
    """``percent`` of the available balance as a quantity on the lot grid (rounded down):
    quote / price for a buy, base for a sell. None when it cannot be worked out."""
    try:
        if side == "buy":
            if not price:
                return None
            base = Decimal(available.get(ins.quote.code, "0")) / parse_decimal(price, "price")
        else:
            base = Decimal(available.get(ins.base.code, "0"))
    except (NumberError, ArithmeticError):
        return None
    lots = int((base * percent / 100 / ins.lot_size).to_integral_value(rounding=ROUND_FLOOR))
    return ins.fmt_qty(lots) if lots > 0 else None
