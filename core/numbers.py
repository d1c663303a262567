"""Exact decimal parsing and integer grid conversion.

Prices, quantities and amounts arrive as decimal strings (from exchanges, journals and users).
They are turned into integers on a grid (ticks, lots, asset units) without ever passing
through ``float``, so that equality, crossing checks and balance sums are exact.
"""

from __future__ import annotations

import re
from decimal import Decimal, localcontext
from functools import lru_cache

# Plain decimal notation only: exchanges never send exponents, and refusing them keeps
# "1e400" style inputs from ever reaching arithmetic.
_DECIMAL_RE = re.compile(r"^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")
MAX_DIGITS = 30


class NumberError(ValueError):
    """A value that is not an exact, finite, well-formed decimal on the expected grid.

    ``code`` is the machine-readable reason used in reject events.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_decimal(value: object, field: str = "value") -> Decimal:
    """Parse a decimal string (or a JSON integer) exactly.

    Floats are refused: a float has already lost the exchange's exact digits.
    """
    if isinstance(value, bool):
        raise NumberError("INVALID_NUMBER", f"{field} must be a decimal string, got a boolean")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    elif isinstance(value, float):
        raise NumberError(
            "INVALID_NUMBER", f"{field} must be a decimal string such as \"0.5\", got the float {value!r}"
        )
    else:
        raise NumberError("INVALID_NUMBER", f"{field} must be a decimal string, got {type(value).__name__}")
    if len(text) > MAX_DIGITS + 2 or not _DECIMAL_RE.match(text):
        raise NumberError("INVALID_NUMBER", f"{field} is not a plain decimal number: {str(value)[:40]!r}")
    return Decimal(text)


def to_units(value: object, step: Decimal, field: str = "value") -> int:
    """Convert a decimal to an integer count of ``step`` units; off-grid values are an error."""
    dec = parse_decimal(value, field)
    with localcontext() as ctx:
        # Enough digits that any accepted input divides exactly (30 digits over a 1e-18 step).
        ctx.prec = 80
        try:
            units, rem = divmod(dec, step)
        except ArithmeticError:
            raise NumberError("INVALID_NUMBER", f"{field} {str(value)[:40]} is out of range") from None
    if rem != 0:
        raise NumberError("OFF_GRID", f"{field} {value} is not a multiple of {format_decimal(step)}")
    return int(units)


def from_units(units: int, step: Decimal) -> str:
    """Render an integer count of ``step`` units as a plain decimal string on the grid."""
    return unit_formatter(step)(units)


class UnitFormatter:
    """Exact, fast formatting of multiples of a grid step, using integer arithmetic only.

    ``step = mult * 10**-places`` so ``units * step`` is the integer ``units * mult`` shifted by
    ``places`` decimal places: no Decimal context, no rounding, no float. A class (not a
    closure) so instruments stay picklable for worker processes.
    """

    __slots__ = ("places", "mult", "scale")

    def __init__(self, step: Decimal) -> None:
        self.places = decimal_places(step)
        self.mult = int(step.scaleb(self.places))
        self.scale = 10**self.places

    def __repr__(self) -> str:  # deterministic: configs are compared by their JSON form
        return f"UnitFormatter(mult={self.mult}, places={self.places})"

    def __call__(self, units: int) -> str:
        n = units * self.mult
        places = self.places
        if not places:
            return str(n)
        sign = ""
        if n < 0:
            sign, n = "-", -n
        q, r = divmod(n, self.scale)
        return f"{sign}{q}.{r:0{places}d}"


@lru_cache(maxsize=256)
def unit_formatter(step: Decimal) -> UnitFormatter:
    """The (shared) formatter for ``step``."""
    return UnitFormatter(step)


def decimal_places(step: Decimal) -> int:
    """Number of fractional digits needed to show every multiple of ``step``."""
    exp = step.normalize().as_tuple().exponent
    return max(0, -int(exp))


def format_decimal(value: Decimal, places: int | None = None) -> str:
    """Plain (never scientific) decimal string; ``places`` fixes the number of fraction digits."""
    if places is not None:
        q = Decimal(1).scaleb(-places)
        return f"{value.quantize(q):f}"
    text = f"{value.normalize():f}"
    return text


def pow10(n: int) -> int:
    """10**n as int, for scales."""
    return 10**n
