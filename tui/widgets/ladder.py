"""Order-book ladder: a fixed price grid centred on the mid, drawn with the Line API.

Why a fixed grid: a trader reads a ladder by position. Rows are prices on the tick grid (or a
grouped step of ticks), so a level that appears or vanishes never shifts the other rows; the
window recentres only when the mid leaves the middle half of the rows, or when the user moves
the cursor out of view. Each row shows ``bid qty | price | ask qty`` with cumulative depth bars
in eighth-blocks on the outside, a marker where the user has orders, a background flash on
levels whose quantity changed (up/down colours, fading over ``FLASH_S``), and a cursor level
(``cursor_price``) that the order ticket is prefilled from.

Data comes in through ``show(view, own_orders)`` from the UI pump; all per-row work happens
there (``_rebuild``). Each row reduces to a key of what it shows (``_line_key``): painted strips
are cached by that key, and a repaint refreshes only the rows whose key differs from what was
last painted there, because a full-widget refresh per pump tick was what delayed key presses.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from rich.color import Color, blend_rgb
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from core.market_state import MarketView
from tui.widgets.common import Grid, LineCache, StyleCache, hbar, hbar_right

#: Group steps offered by +/- (in ticks).
GROUP_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
FLASH_S = 0.5
FLASH_LEVELS = 4  # background intensities the fade goes through


@dataclass(slots=True)
class _Row:
    key: int  # grid price in ticks (a multiple of the group step)
    price: str
    bid: str
    ask: str
    bid_cum: int  # cumulative depth down to this row, 0 = no bar
    ask_cum: int
    own_bid: bool
    own_ask: bool
    zone: str  # "bid", "ask" or "spread"


class Ladder(Widget, can_focus=True):
    """``show(view, own_orders)``; keys: up/down, pgup/pgdn, home, +/-; ``cursor_price``.

    ``own_orders`` maps a price in ticks to the user's open lots there, signed by side:
    positive = buy (marked in the bid column), negative = sell (marked in the ask column)."""

    COMPONENT_CLASSES = {
        "ladder--bid",
        "ladder--ask",
        "ladder--bid-bar",
        "ladder--ask-bar",
        "ladder--price",
        "ladder--price-empty",
        "ladder--spread",
        "ladder--last",
        "ladder--own-order",
        "ladder--cursor",
        "ladder--flash-up",
        "ladder--flash-down",
    }
    DEFAULT_CSS = """
    Ladder { height: 1fr; min-width: 24; }
    Ladder > .ladder--bid { color: $bid; }
    Ladder > .ladder--ask { color: $ask; }
    Ladder > .ladder--bid-bar { color: $bid-muted; }
    Ladder > .ladder--ask-bar { color: $ask-muted; }
    Ladder > .ladder--price { color: $foreground; }
    Ladder > .ladder--price-empty { color: $foreground-muted; }
    Ladder > .ladder--spread { color: $foreground-disabled; }
    Ladder > .ladder--last { text-style: bold underline; }
    Ladder > .ladder--own-order { color: $own-order; text-style: bold; }
    Ladder > .ladder--cursor { background: $cursor-bg; }
    Ladder > .ladder--flash-up { background: $flash-up; }
    Ladder > .ladder--flash-down { background: $flash-down; }
    """
    BINDINGS = [
        Binding("up,k", "move_cursor(1)", "Cursor up", show=False, id="ladder.cursor-up"),
        Binding("down,j", "move_cursor(-1)", "Cursor down", show=False, id="ladder.cursor-down"),
        Binding("pageup", "page(1)", "Page up", show=False, id="ladder.page-up"),
        Binding("pagedown", "page(-1)", "Page down", show=False, id="ladder.page-down"),
        Binding("home", "centre", "Centre", id="ladder.centre"),
        Binding("plus,equals_sign", "group(1)", "Group +", id="ladder.group-more"),
        Binding("minus", "group(-1)", "Group -", id="ladder.group-less"),
        Binding("enter", "select", "Select", show=False, id="ladder.select"),
    ]

    class LevelSelected(Message):
        """The user picked a price (enter or click); ``price`` is on the grid."""

        def __init__(self, ladder: Ladder, price: str) -> None:
            super().__init__()
            self.ladder = ladder
            self.price = price

    def __init__(
        self,
        instrument=None,
        *,
        clock: Callable[[], float] = time.monotonic,
        auto_group: bool = True,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._fixed_grid = Grid.from_instrument(instrument) if instrument is not None else None
        self._grid = self._fixed_grid
        self._clock = clock
        self._styles = StyleCache(self)
        self.view: MarketView | None = None
        self.own_orders: dict[int, int] = {}
        self.group = 1
        self.auto_group = auto_group  # pick the first group step from the spread
        self._group_pending = False  # auto_group and no two-sided book seen yet for the symbol
        self.follow = True  # recentre on the mid; off while the user browses with the cursor
        self._centre: int | None = None  # grid key of the middle row
        self._cursor: int | None = None
        self._bids: dict[int, int] = {}  # grouped key -> lots
        self._asks: dict[int, int] = {}
        self._flash: dict[tuple[str, int], tuple[float, int]] = {}  # (side, key) -> (start, +1/-1)
        self._rows: list[_Row] = []
        self._widths = (0, 0)  # qty, price
        self._symbol: str | None = None
        self._timer = None
        self._painted = LineCache(self._build_strip)  # rows by _line_key

    # ------------------------------------------------------------------ data in
    def show(self, view: MarketView | None, own_orders: dict[int, int] | None = None) -> None:
        """Take the latest snapshot (and the user's open lots per tick); repaint once."""
        if view is not None and view.symbol != self._symbol:
            self._symbol = view.symbol
            self._reset_symbol(view)
        if view is not None and self._group_pending and view.spread_ticks is not None:
            # The grouping is fitted to the first two-sided book: a symbol's first view may be
            # empty (a venue before its first quotes) and would otherwise fix it at one tick.
            self._group_pending = False
            self.group = self._fitting_group(view)
            self._centre = self._cursor = None
        self.view = view
        self.own_orders = dict(own_orders or {})
        if view is not None:
            self._take_levels(view)
            if self._cursor is None or self.follow:
                # Until the user picks a level, the cursor rides on the mid with the market.
                self._cursor = self._mid_key() if self._mid_key() is not None else self._cursor
            self._follow_mid()
        self._rebuild()
        self._repaint()

    def _reset_symbol(self, view: MarketView) -> None:
        self._grid = self._fixed_grid or Grid.from_view(view)
        self._bids, self._asks, self._flash = {}, {}, {}
        self._centre = self._cursor = None
        self.follow = True
        self._group_pending = self.auto_group

    def _fitting_group(self, view: MarketView) -> int:
        """The smallest step that fits the spread in a quarter of the rows (on a new symbol,
        so a wide sim or altcoin spread does not open on a screen of empty prices)."""
        rows = max(4, self.size.height or 24) // 4
        spread = view.spread_ticks or 0
        for step in GROUP_STEPS:
            if spread // step <= rows:
                return step
        return GROUP_STEPS[-1]

    def _take_levels(self, view: MarketView) -> None:
        """Group the view's levels onto the current step and flash the ones that changed."""
        if self._grid is None:
            self._grid = Grid.from_view(view)
        g = self.group
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        for lv in view.bids:
            k = lv.ticks // g * g
            bids[k] = bids.get(k, 0) + lv.lots
        for lv in view.asks:
            k = -(-lv.ticks // g) * g
            asks[k] = asks.get(k, 0) + lv.lots
        if self._bids or self._asks:
            now = self._clock()
            for side, old, new in (("bid", self._bids, bids), ("ask", self._asks, asks)):
                for k, direction in _changes(side, old, new):
                    self._flash[(side, k)] = (now, direction)
            if self._flash and self.is_mounted:
                self._ensure_timer()
        self._bids, self._asks = bids, asks

    # ------------------------------------------------------------------ grid geometry
    def _mid_ticks(self) -> int | None:
        view = self.view
        if view is None:
            return None
        if view.bids and view.asks:
            return (view.bids[0].ticks + view.asks[0].ticks) // 2
        if view.bids or view.asks:
            return (view.bids or view.asks)[0].ticks
        return view.trades[-1].ticks if view.trades else None

    def _mid_key(self) -> int | None:
        mid = self._mid_ticks()
        if mid is None:
            return None
        g = self.group
        return (mid + g // 2) // g * g

    def _half(self) -> int:
        return max(1, self.size.height) // 2

    def _follow_mid(self) -> None:
        mid = self._mid_key()
        if mid is None:
            return
        if self._centre is None:
            self._centre = mid
            return
        if not self.follow:
            return
        h = max(1, self.size.height)
        row = self._half() - (mid - self._centre) // self.group
        band = h // 4
        if row < band or row > h - 1 - band:
            self._centre = mid

    def _key_at(self, y: int) -> int | None:
        if self._centre is None:
            return None
        return self._centre + (self._half() - y) * self.group

    def _row_of(self, key: int) -> int | None:
        if self._centre is None:
            return None
        return self._half() - (key - self._centre) // self.group

    # ------------------------------------------------------------------ rows
    def _rebuild(self) -> None:
        """Precompute every visible row's strings and bar lengths."""
        h = self.size.height
        grid = self._grid
        if self._centre is None or grid is None or h <= 0:
            self._rows = []
            return
        g = self.group
        bid_keys = sorted(self._bids, reverse=True)  # best first
        ask_keys = sorted(self._asks)
        bid_cum = _cumulative(bid_keys, self._bids)
        ask_cum = _cumulative(ask_keys, self._asks)
        best_bid = bid_keys[0] if bid_keys else None
        best_ask = ask_keys[0] if ask_keys else None
        own_bid, own_ask = self._own_by_side()
        neg_bids = [-k for k in bid_keys]
        rows = []
        fq, fp = grid.fmt_qty, grid.fmt_price
        for y in range(h):
            key = self._centre + (self._half() - y) * g
            if key <= 0:
                rows.append(_Row(key, "", "", "", 0, 0, False, False, "spread"))
                continue
            b, a = self._bids.get(key), self._asks.get(key)
            bc = ac = 0
            if best_bid is not None and bid_keys[-1] <= key <= best_bid:
                bc = bid_cum[bisect_right(neg_bids, -key) - 1]  # bids at or above this price
            if best_ask is not None and best_ask <= key <= ask_keys[-1]:
                ac = ask_cum[bisect_right(ask_keys, key) - 1]  # asks at or below this price
            if best_bid is not None and key <= best_bid:
                zone = "bid"
            elif best_ask is not None and key >= best_ask:
                zone = "ask"
            else:
                zone = "spread"
            rows.append(
                _Row(key, fp(key), fq(b) if b else "", fq(a) if a else "", bc, ac, key in own_bid, key in own_ask, zone)
            )
        qw = max([len(r.bid) for r in rows] + [len(r.ask) for r in rows] + [3])
        pw = max([len(r.price) for r in rows] + [4])
        self._rows = rows
        self._widths = (qw, pw)
        self._bar_max = max([r.bid_cum for r in rows] + [r.ask_cum for r in rows] + [1])

    def _own_by_side(self) -> tuple[set[int], set[int]]:
        g = self.group
        bids, asks = set(), set()
        for ticks, lots in self.own_orders.items():
            if lots < 0:
                asks.add(-(-ticks // g) * g)
            elif lots > 0:
                bids.add(ticks // g * g)
        return bids, asks

    # ------------------------------------------------------------------ painting
    def _line_key(self, y: int, width: int, now: float, last: int | None) -> tuple:
        """Everything row ``y``'s strip depends on: equal keys paint equal strips, so the
        strip is cached by it and a row whose key did not change is not repainted."""
        if y >= len(self._rows):
            return (width, y == 0 and self.view is None)
        row = self._rows[y]
        qw, pw = self._widths
        bars = max(0, width - (2 * qw + pw + 4))
        lw = bars // 2
        rw = bars - lw
        left = row.bid_cum * lw * 8 // self._bar_max if row.bid_cum and lw else 0
        right = row.ask_cum * rw * 8 // self._bar_max if row.ask_cum and rw else 0
        price_cls = "ladder--price" if (row.bid or row.ask) else ("ladder--spread" if row.zone == "spread" else "ladder--price-empty")
        is_last = last is not None and row.key <= last < row.key + self.group
        return (
            width, qw, pw, lw, rw, left, right, row.bid, row.price, row.ask, row.own_bid, row.own_ask,
            price_cls, row.key == self._cursor, is_last,
            self._flash_phase("bid", row.key, now), self._flash_phase("ask", row.key, now),
        )

    def _flash_phase(self, side: str, key: int, now: float) -> tuple[int, int] | None:
        """(direction, intensity level) of the level's flash at ``now``, None when not flashing."""
        flash = self._flash.get((side, key))
        if flash is None:
            return None
        start, direction = flash
        left = 1.0 - (now - start) / FLASH_S
        if left <= 0:
            return None
        return direction, min(FLASH_LEVELS, math.ceil(left * FLASH_LEVELS))  # 4/4 .. 1/4 of the colour

    def _last_ticks(self) -> int | None:
        return self.view.trades[-1].ticks if self.view is not None and self.view.trades else None

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        return self._painted.strip(y, self._line_key(y, width, self._clock(), self._last_ticks()))

    def _build_strip(self, key: tuple) -> Strip:
        """Paint one row from its key (see ``_line_key``)."""
        st = self._styles
        if len(key) == 2:
            width, waiting = key
            if waiting:
                return Strip([Segment("waiting for market data".ljust(width)[:width], st.get())], width)
            return Strip.blank(width, st.get())
        (width, qw, pw, lw, rw, left, right, bid, price, ask, own_bid, own_ask,
         price_cls, cursor, is_last, bid_flash, ask_flash) = key
        extra = ("ladder--cursor",) if cursor else ()
        segs: list[Segment] = []
        # left: bid depth bar (right-anchored, grows towards the price column)
        if lw:
            pad, part, full = hbar_right(left, lw)
            bar = st.get("ladder--bid-bar", *extra)
            segs.append(Segment(pad, st.get(*extra)))
            if part:
                segs.append(Segment(part, st.reversed_bar("ladder--bid-bar")))
            if full:
                segs.append(Segment(full, bar))
        segs.append(Segment(bid.rjust(qw), self._qty_style("bid", bid_flash, extra)))
        segs.append(Segment("●" if own_bid else " ", st.get("ladder--own-order", *extra)))
        names = (price_cls, *extra)
        if is_last:
            names = (*names, "ladder--last")
        segs.append(Segment(" " + price.rjust(pw) + " ", st.get(*names)))
        segs.append(Segment("●" if own_ask else " ", st.get("ladder--own-order", *extra)))
        segs.append(Segment(ask.ljust(qw), self._qty_style("ask", ask_flash, extra)))
        if rw:
            segs.append(Segment(hbar(right, rw), st.get("ladder--ask-bar", *extra)))
        return Strip(segs).adjust_cell_length(width, st.get())

    def _qty_style(self, side: str, flash: tuple[int, int] | None, extra: tuple[str, ...]) -> Style:
        style = self._styles.get(f"ladder--{side}", *extra)
        return style if flash is None else style + self._flash_bg(*flash)

    def _repaint(self) -> None:
        """Refresh only the rows whose key differs from what was last painted there."""
        width, height = self.size
        now, last = self._clock(), self._last_ticks()
        self._painted.refresh_changed(self, width, height, lambda y: self._line_key(y, width, now, last))

    def _flash_bg(self, direction: int, level: int) -> Style:
        """Flash colour blended into the background by ``level / FLASH_LEVELS``."""
        key = ("<flash>", str(direction), str(level))
        cache = self._styles._cache
        style = cache.get(key)
        if style is None:
            name = "ladder--flash-up" if direction > 0 else "ladder--flash-down"
            flash = self.get_component_rich_style(name, partial=True).bgcolor
            bg = self.rich_style.bgcolor
            if flash is None or bg is None:
                style = Style(bgcolor=flash)
            else:
                mixed = blend_rgb(bg.get_truecolor(), flash.get_truecolor(), level / FLASH_LEVELS)
                style = Style.from_color(bgcolor=_color(mixed))
            cache[key] = style
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._painted.clear()

    # ------------------------------------------------------------------ flash fading
    def _ensure_timer(self) -> None:
        if self._timer is None:
            self._timer = self.set_interval(1 / 15, self._fade)
        else:
            self._timer.resume()

    def _fade(self) -> None:
        now = self._clock()
        self._flash = {k: v for k, v in self._flash.items() if now - v[0] < FLASH_S}
        if not self._flash and self._timer is not None:
            self._timer.pause()
        self._repaint()

    # ------------------------------------------------------------------ events and keys
    def on_resize(self, event: events.Resize) -> None:
        self._painted.forget_rows()
        self._follow_mid()
        self._rebuild()

    def on_click(self, event: events.Click) -> None:
        key = self._key_at(event.y)
        if key is not None and key > 0:
            self._cursor = key
            self.follow = False
            self._rebuild()
            self._repaint()
            self.post_message(self.LevelSelected(self, self._grid.fmt_price(key)))

    def action_move_cursor(self, rows: int) -> None:
        if self._cursor is None:
            return
        self._cursor = max(self.group, self._cursor + rows * self.group)
        self.follow = False
        self._keep_cursor_visible()

    def action_page(self, direction: int) -> None:
        self.action_move_cursor(direction * max(1, self.size.height - 2))

    def action_centre(self) -> None:
        """Cursor back to the mid, window recentred, following the mid again."""
        self.follow = True
        mid = self._mid_key()
        if mid is not None:
            self._cursor = self._centre = mid
        self._rebuild()
        self._repaint()

    def action_group(self, direction: int) -> None:
        i = GROUP_STEPS.index(self.group) if self.group in GROUP_STEPS else 0
        i = max(0, min(len(GROUP_STEPS) - 1, i + direction))
        self.set_group(GROUP_STEPS[i])

    def action_select(self) -> None:
        price = self.cursor_price
        if price is not None:
            self.post_message(self.LevelSelected(self, price))

    def set_group(self, step: int) -> None:
        """Show ``step`` ticks per row; the cursor and the window snap onto the new grid."""
        if step <= 0:
            raise ValueError("group step must be a positive number of ticks")
        self.group = step
        self._group_pending = False  # the user's choice wins over the automatic fit
        self._flash = {}
        if self._cursor is not None:
            self._cursor = max(step, self._cursor // step * step)
        if self.view is not None:
            self._bids = self._asks = {}
            self._take_levels(self.view)
            self._centre = self._mid_key() if self.follow or self._cursor is None else self._cursor
        self._rebuild()
        self._repaint()

    def _keep_cursor_visible(self) -> None:
        row = self._row_of(self._cursor) if self._cursor is not None else None
        if row is not None and not 0 <= row < self.size.height:
            self._centre = self._cursor
        self._rebuild()
        self._repaint()

    # ------------------------------------------------------------------ queries
    @property
    def cursor_price(self) -> str | None:
        """The cursor's price as a decimal string on the instrument's grid (None before data)."""
        if self._cursor is None or self._grid is None:
            return None
        return self._grid.fmt_price(self._cursor)

    @property
    def cursor_ticks(self) -> int | None:
        return self._cursor

    def row_text(self, y: int) -> str:
        """The plain text of row ``y`` (tests, golden text)."""
        return self.render_line(y).text


def _changes(side: str, old: dict[int, int], new: dict[int, int]) -> list[tuple[int, int]]:
    """(key, +1 grew / -1 shrank) for levels whose quantity changed, within the depth both
    snapshots cover (a level sliding past the view's depth limit did not change)."""
    if not old or not new:
        return []
    if side == "bid":
        lo = max(min(old), min(new))
        keys = [k for k in old.keys() | new.keys() if k >= lo]
    else:
        hi = min(max(old), max(new))
        keys = [k for k in old.keys() | new.keys() if k <= hi]
    return [(k, 1 if new.get(k, 0) > old.get(k, 0) else -1) for k in keys if new.get(k, 0) != old.get(k, 0)]


def _cumulative(keys: list[int], lots: dict[int, int]) -> list[int]:
    out, total = [], 0
    for k in keys:
        total += lots[k]
        out.append(total)
    return out


def _color(triplet) -> Color:
    return Color.from_triplet(triplet)
