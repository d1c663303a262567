"""Depth chart: cumulative bid and ask quantity around the mid, in eighth-block columns.

The x axis is price, symmetric around the mid (bids to the left, asks to the right), over the
span of the deepest visible level on either side; each column is a price bucket whose height
is the cumulative quantity from the touch out to that price. The bottom row carries the price
axis (the edges and the mid), the top row the totals.
"""

from __future__ import annotations

from rich.segment import Segment
from textual import events
from textual.strip import Strip
from textual.widget import Widget

from core.market_state import MarketView
from tui.widgets.common import VEIGHTHS, Grid, StyleCache


class DepthChart(Widget):
    """``show(view)``: cumulative depth of the view's visible levels."""

    COMPONENT_CLASSES = {"depth--bid", "depth--ask", "depth--axis", "depth--mid"}
    DEFAULT_CSS = """
    DepthChart { height: 1fr; min-height: 5; }
    DepthChart > .depth--bid { color: $bid; }
    DepthChart > .depth--ask { color: $ask; }
    DepthChart > .depth--axis { color: $foreground-muted; }
    DepthChart > .depth--mid { color: $foreground; text-style: bold; }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._styles = StyleCache(self)
        self.view: MarketView | None = None
        self.columns: list[tuple[str, int]] = []  # (side, cumulative lots) per column
        self.max_lots = 0
        self.span_ticks = 0  # half-width of the price axis, in ticks
        self._grid: Grid | None = None

    def show(self, view: MarketView | None) -> None:
        self.view = view
        if view is not None:
            self._grid = Grid.from_view(view) or self._grid
        self._layout()
        self.refresh()

    def _layout(self) -> None:
        view, w = self.view, self.size.width
        self.columns = []
        if view is None or not view.bids or not view.asks or w < 4:
            return
        mid2 = view.bids[0].ticks + view.asks[0].ticks  # twice the mid
        span2 = max(mid2 - 2 * view.bids[-1].ticks, 2 * view.asks[-1].ticks - mid2, 1)
        half = w // 2
        self.span_ticks = -(-span2 // 2)
        cols: list[tuple[str, int]] = []
        # Bid column j (0 = next to the mid) covers prices down to mid - (j+1)/half * span;
        # compared in integers: 2*ticks*half >= mid2*half - span2*(j+1).
        for j in range(half - 1, -1, -1):
            edge = mid2 * half - span2 * (j + 1)
            cols.append(("bid", sum(lv.lots for lv in view.bids if 2 * lv.ticks * half >= edge)))
        n = w - half
        for j in range(n):
            edge = mid2 * n + span2 * (j + 1)
            cols.append(("ask", sum(lv.lots for lv in view.asks if 2 * lv.ticks * n <= edge)))
        self.columns = cols
        self.max_lots = max(c[1] for c in cols) or 1

    def render_line(self, y: int) -> Strip:
        w, h = self.size.width, self.size.height
        st = self._styles
        if not self.columns or h < 3:
            text = "no two-sided book" if y == 0 and self.view is not None else ""
            return Strip([Segment(text.ljust(w)[:w], st.get("depth--axis"))], w)
        if y == 0:
            return Strip([Segment(self._title().ljust(w)[:w], st.get("depth--axis"))], w)
        if y == h - 1:
            return Strip([Segment(self._axis(w), st.get("depth--axis"))], w)
        rows = h - 2
        r = rows - y  # 0 = bottom row of the plot
        text = {"bid": [], "ask": []}
        for side, lots in self.columns:
            eighths = lots * rows * 8 // self.max_lots
            text[side].append(VEIGHTHS[max(0, min(8, eighths - r * 8))])
        segs = [Segment("".join(text[side]), st.get(f"depth--{side}")) for side in ("bid", "ask")]
        return Strip(segs).adjust_cell_length(w, st.get())

    def _title(self) -> str:
        g = self._grid
        bid = sum(lv.lots for lv in self.view.bids)
        ask = sum(lv.lots for lv in self.view.asks)
        fq = g.fmt_qty if g else str
        return f"depth  bids {fq(bid)} | asks {fq(ask)}"

    def _axis(self, w: int) -> str:
        g, view = self._grid, self.view
        if g is None:
            return " " * w
        mid2 = view.bids[0].ticks + view.asks[0].ticks
        lo = g.fmt_price(mid2 // 2 - self.span_ticks)
        hi = g.fmt_price(-(-mid2 // 2) + self.span_ticks)
        mid = g.fmt_price(mid2 // 2)
        line = [" "] * w
        if len(lo) + len(hi) + 1 > w:  # too narrow for the edges: the mid only
            start = max(0, (w - len(mid)) // 2)
            line[start : start + len(mid)] = mid[:w]
            return "".join(line)[:w]
        line[: len(lo)] = lo
        start = max(len(lo) + 1, w // 2 - len(mid) // 2)
        if start + len(mid) < w - len(hi) - 1:
            line[start : start + len(mid)] = mid
        line[w - len(hi) :] = hi
        return "".join(line)[:w]

    def on_resize(self, event: events.Resize) -> None:
        self._layout()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()

    def row_text(self, y: int) -> str:
        return self.render_line(y).text
