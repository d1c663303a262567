"""Order records and the closed vocabularies (sides, types, time in force, STP modes).

``Order`` is a slotted mutable record: the matching loop touches a handful of its attributes
per fill, and slots keep that cheap. Sides are the integers +1 (buy) and -1 (sell) so the book
can turn "better price" into a sign multiplication instead of a branch.
"""

from __future__ import annotations

BUY = 1
SELL = -1
SIDE_NAMES = {BUY: "buy", SELL: "sell"}
SIDES = {"buy": BUY, "sell": SELL}

LIMIT = "limit"
MARKET = "market"
STOP_MARKET = "stop_market"
STOP_LIMIT = "stop_limit"
TAKE_PROFIT_MARKET = "take_profit_market"
TAKE_PROFIT_LIMIT = "take_profit_limit"
TRAILING_STOP_MARKET = "trailing_stop_market"
ORDER_TYPES = (
    LIMIT,
    MARKET,
    STOP_MARKET,
    STOP_LIMIT,
    TAKE_PROFIT_MARKET,
    TAKE_PROFIT_LIMIT,
    TRAILING_STOP_MARKET,
)
#: Types that wait for a trigger before they reach the book.
CONDITIONAL_TYPES = frozenset(
    {STOP_MARKET, STOP_LIMIT, TAKE_PROFIT_MARKET, TAKE_PROFIT_LIMIT, TRAILING_STOP_MARKET}
)
#: Types that carry a limit price.
PRICED_TYPES = frozenset({LIMIT, STOP_LIMIT, TAKE_PROFIT_LIMIT})

TIFS = ("GTC", "IOC", "FOK", "GTD")

STP_NONE = "none"
STP_CANCEL_NEWEST = "cancel_newest"
STP_CANCEL_OLDEST = "cancel_oldest"
STP_CANCEL_BOTH = "cancel_both"
STP_DECREMENT = "decrement"
STP_MODES = (STP_NONE, STP_CANCEL_NEWEST, STP_CANCEL_OLDEST, STP_CANCEL_BOTH, STP_DECREMENT)


class Order:
    """One order, resting, pending a trigger, or in flight as a taker.

    ``leaves`` is the whole remaining quantity (lots); ``visible`` the part shown in the book
    (equal to ``leaves`` except for icebergs, whose hidden rest is ``leaves - visible``).

    The fields the matching loop touches are slots, set in ``__init__``. The rest (type, time in
    force, stops, holds...) are class-level defaults that an instance overrides only when it
    needs to (they then live in the instance ``__dict__``): building a plain limit order stays
    as cheap as the book's hot path needs.
    """

    __slots__ = ("oid", "account", "side", "price", "qty", "leaves", "visible", "live", "__dict__")

    seq: int = 0
    display: int = 0
    stp: str = STP_NONE
    budget: int | None = None
    symbol: str = ""
    type: str = LIMIT
    tif: str = "GTC"
    post_only: bool = False
    expire_ts: int = 0
    stop_price: int = 0
    trail: int = 0
    trail_pct: int | None = None
    anchor: int = 0
    ts: int = 0
    hold: int = 0

    def __init__(self, oid: str, account: str, side: int, price: int | None, qty: int) -> None:
        # Only the hot slots: everything else keeps its class default until the engine sets it.
        self.oid = oid
        self.account = account
        self.side = side
        self.price = price
        self.qty = qty
        self.leaves = qty
        self.visible = qty
        self.live = True

    def set_display(self, display: int) -> None:
        """Make this an iceberg showing ``display`` lots at a time (no-op unless below qty)."""
        if 0 < display < self.qty:
            self.display = display
            self.visible = display

    def clone(self) -> Order:
        """A fresh record with the same fields. The book marks cancelled orders dead in place
        and skips them later, so an order that goes back into the book (modify) must be a new
        object, or its stale queue entry would come back to life."""
        new = Order.__new__(Order)
        for name in _SLOT_FIELDS:
            setattr(new, name, getattr(self, name))
        new.__dict__.update(self.__dict__)
        return new

    @property
    def filled(self) -> int:
        return self.qty - self.leaves

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return (
            f"Order({self.oid!r}, {self.account!r}, {SIDE_NAMES[self.side]}, px={self.price}, "
            f"leaves={self.leaves}/{self.qty}, vis={self.visible})"
        )


_SLOT_FIELDS = tuple(n for n in Order.__slots__ if n != "__dict__")
