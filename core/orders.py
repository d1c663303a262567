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
    """

    __slots__ = (
        "oid",
        "account",
        "symbol",
        "side",
        "type",
        "price",
        "qty",
        "leaves",
        "visible",
        "display",
        "tif",
        "post_only",
        "stp",
        "expire_ts",
        "stop_price",
        "trail",
        "trail_pct",
        "anchor",
        "seq",
        "live",
        "ts",
        "hold",
        "budget",
    )

    def __init__(
        self,
        oid: str,
        account: str,
        side: int,
        price: int | None,
        qty: int,
        symbol: str = "",
        type: str = LIMIT,
        tif: str = "GTC",
        display: int = 0,
        stp: str = STP_NONE,
    ) -> None:
        self.oid = oid
        self.account = account
        self.symbol = symbol
        self.side = side
        self.type = type
        self.price = price
        self.qty = qty
        self.leaves = qty
        self.display = display
        self.visible = display if 0 < display < qty else qty
        self.tif = tif
        self.post_only = False
        self.stp = stp
        self.expire_ts = 0
        self.stop_price = 0
        self.trail = 0
        self.trail_pct = None
        self.anchor = 0
        self.seq = 0
        self.live = True
        self.ts = 0
        self.hold = 0
        self.budget = None

    @property
    def filled(self) -> int:
        return self.qty - self.leaves

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return (
            f"Order({self.oid!r}, {self.account!r}, {SIDE_NAMES[self.side]}, px={self.price}, "
            f"leaves={self.leaves}/{self.qty}, vis={self.visible})"
        )
