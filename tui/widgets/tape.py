"""Trade tape: newest print on top, price coloured by the aggressor, large prints highlighted.

A ``ScrollView`` on the Line API: ``show(view)`` takes the view's bounded tape (the
``MarketState`` keeps the last few hundred prints) and only lines in the viewport are formatted
when painted, each painted line is cached by what it shows, and a new view refreshes only the
lines that differ from what was last painted there. "Large" is either a fixed quantity (``large_qty``) or, by default, a multiple of
the median print size in the tape, so the highlight adapts to the symbol.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

from rich.segment import Segment
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from core.market_state import MarketView, TapeTrade
from core.numbers import parse_decimal
from tui.widgets.common import Grid, LineCache, StyleCache

LARGE_MEDIAN_MULTIPLE = 4
MIN_PRINTS_FOR_AUTO = 5
#: Once the prints overflow the pane, the scrollable height grows in steps of this many rows.
#: A change of a scroll view's virtual size makes Textual lay out the whole screen (20-90 ms
#: measured here), so a tape filling up one print at a time on a quiet symbol stuttered on
#: every print; the rows past the last print are blank.
ROWS_STEP = 64


def format_time(ts_ns: int) -> str:
    """UTC ``HH:MM:SS.mmm`` of a nanosecond timestamp."""
    dt = datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC)
    return f"{dt:%H:%M:%S}.{ts_ns // 1_000_000 % 1000:03d}"


class Tape(ScrollView, can_focus=True):
    """``show(view)``; ``large_qty`` (decimal string) fixes the highlight threshold."""

    COMPONENT_CLASSES = {"tape--time", "tape--buy", "tape--sell", "tape--qty", "tape--large"}
    DEFAULT_CSS = """
    Tape { height: 1fr; min-width: 30; scrollbar-size-vertical: 1; overflow-x: hidden; }
    Tape > .tape--time { color: $foreground-muted; }
    Tape > .tape--buy { color: $bid; }
    Tape > .tape--sell { color: $ask; }
    Tape > .tape--qty { color: $foreground; }
    Tape > .tape--large { text-style: bold reverse; }
    """
    BINDINGS = [
        Binding("home", "scroll_home", "Newest", show=False, id="tape.newest"),
    ]

    def __init__(self, large_qty: str | None = None, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._large_text = large_qty
        if large_qty is not None:
            parse_decimal(large_qty, "large_qty")  # fail at construction, not at paint
        self._styles = StyleCache(self)
        self.view: MarketView | None = None
        self._trades: tuple[TapeTrade, ...] = ()  # newest first
        self._large_lots: int | None = None
        self._widths = (0, 0)
        self._painted = LineCache(self._build_strip)  # viewport lines by _line_key

    def show(self, view: MarketView | None) -> None:
        """Take the view's tape; repaints once."""
        self.view = view
        trades = tuple(reversed(view.trades)) if view is not None else ()
        self._trades = trades
        self._large_lots = self._threshold(view)
        pw = max((len(t.price) for t in trades), default=8)
        qw = max((len(t.qty) for t in trades), default=6)
        self._widths = (pw, qw)
        rows = len(trades)
        visible = self.scrollable_content_region.height
        # No scrollbar while the prints fit; past that, grow in steps.
        rows = visible if rows <= visible else -(-rows // ROWS_STEP) * ROWS_STEP
        if self.virtual_size.height != rows or self.virtual_size.width != self.size.width:
            self.virtual_size = Size(self.size.width, rows)
        self._repaint()

    def _threshold(self, view: MarketView | None) -> int | None:
        if view is None or not view.trades:
            return None
        if self._large_text is not None:
            grid = Grid.from_view(view)
            if grid is None:
                return None
            lots = parse_decimal(self._large_text, "large_qty") / grid.lot
            return int(-(-lots // 1))
        if len(view.trades) < MIN_PRINTS_FOR_AUTO:
            return None
        return int(statistics.median(t.lots for t in view.trades)) * LARGE_MEDIAN_MULTIPLE

    def is_large(self, trade: TapeTrade) -> bool:
        return self._large_lots is not None and trade.lots >= self._large_lots

    def _line_key(self, y: int, width: int) -> tuple:
        """Everything viewport line ``y``'s strip depends on (equal keys paint equal strips)."""
        i = y + self.scroll_offset.y
        if i >= len(self._trades):
            return (width,)
        t = self._trades[i]
        return (width, *self._widths, t.ts, t.price, t.qty, t.side, self.is_large(t))

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width  # without the scrollbar
        return self._painted.strip(y, self._line_key(y, width))

    def _build_strip(self, key: tuple) -> Strip:
        """Paint one print from its key (see ``_line_key``)."""
        st = self._styles
        if len(key) == 1:
            return Strip.blank(key[0], st.get())
        width, pw, qw, ts, price, qty, side_name, is_large = key
        side = "tape--buy" if side_name == "buy" else "tape--sell"
        large = ("tape--large",) if is_large else ()
        # Narrow panes drop the milliseconds and shorten the aggressor to B/S before cropping.
        wide = width >= 13 + pw + 1 + qw + 1 + 4
        stamp = format_time(ts) if wide else format_time(ts)[:8]
        aggressor = ("BUY " if side_name == "buy" else "SELL") if wide else ("B" if side_name == "buy" else "S")
        segs = [
            Segment(stamp + " ", st.get("tape--time")),
            Segment(price.rjust(pw) + " ", st.get(side, *large)),
            Segment(qty.rjust(qw) + " ", st.get("tape--qty", *large)),
            Segment(aggressor, st.get(side)),
        ]
        return Strip(segs).adjust_cell_length(width, st.get())

    def _repaint(self) -> None:
        """Refresh only the viewport lines whose key differs from what was last painted there
        (nothing when no print arrived)."""
        width, height = self.scrollable_content_region.size
        self._painted.refresh_changed(self, width, height, lambda y: self._line_key(y, width))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._painted.clear()

    def row_text(self, y: int) -> str:
        return self.render_line(y).text
