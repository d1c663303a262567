"""Line-API charts for the composer: the preview (candles + indicator overlays + signal
markers over a window of historical bars) and the results screen's equity curve.

The preview is drawn from a ``tui.composer.jobs.Window`` (plain arrays): one column per bar,
wick ``│`` and body ``┃`` at cell resolution, overlays as dots, entry/exit markers above or
below the bar. The cell grid is built once per ``show``/resize and ``render_line`` only slices
it, so a repaint costs nothing even on a 50k-bar data set (only the window is drawn).
"""

from __future__ import annotations

import math

import numpy as np
from rich.segment import Segment
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from tui.composer.jobs import Window
from tui.widgets.common import VEIGHTHS, StyleCache

AXIS_WIDTH = 11
OVERLAY_STYLES = 4
#: flag -> (glyph, component class, drawn below the bar's low?)
MARKERS = {
    "enter_long": ("▲", "preview--enter", True),
    "exit_long": ("▽", "preview--exit", False),
    "enter_short": ("▼", "preview--exit", False),
    "exit_short": ("△", "preview--enter", True),
}
MARKER_NAMES = {"enter_long": "enter long", "exit_long": "exit long", "enter_short": "enter short",
                "exit_short": "exit short"}


def fmt_price(value: float) -> str:
    if not math.isfinite(value):
        return ""
    digits = 2 if abs(value) >= 100 else (4 if abs(value) >= 1 else 6)
    return f"{value:,.{digits}f}"


class _Cells:
    """A character grid with one style name per cell (None = plain)."""

    def __init__(self, width: int, height: int) -> None:
        self.chars = [[" "] * width for _ in range(height)]
        self.styles: list[list[str | None]] = [[None] * width for _ in range(height)]
        self.width, self.height = width, height

    def put(self, x: int, y: int, text: str, style: str | None) -> None:
        for k, ch in enumerate(text):
            if 0 <= x + k < self.width and 0 <= y < self.height:
                self.chars[y][x + k] = ch
                self.styles[y][x + k] = style


class PreviewChart(Widget):
    """Candles of the preview window with the strategy's overlays and signal markers."""

    COMPONENT_CLASSES = {
        "preview--up", "preview--down", "preview--enter", "preview--exit", "preview--axis",
        *(f"preview--overlay-{k}" for k in range(OVERLAY_STYLES)),
    }
    DEFAULT_CSS = """
    PreviewChart { height: 1fr; min-height: 8; }
    PreviewChart > .preview--up { color: $bid-muted; }
    PreviewChart > .preview--down { color: $ask-muted; }
    PreviewChart > .preview--enter { color: $bid; text-style: bold; }
    PreviewChart > .preview--exit { color: $ask; text-style: bold; }
    PreviewChart > .preview--axis { color: $foreground-muted; }
    PreviewChart > .preview--overlay-0 { color: $accent; }
    PreviewChart > .preview--overlay-1 { color: $warning; }
    PreviewChart > .preview--overlay-2 { color: $secondary; }
    PreviewChart > .preview--overlay-3 { color: $primary; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._window: Window | None = None
        self._message = "no data"
        self._cells: _Cells | None = None
        self._styles = StyleCache(self)

    @property
    def plot_width(self) -> int:
        """How many bars fit (one column each)."""
        return max(1, self.size.width - AXIS_WIDTH)

    def show(self, win: Window | None, message: str = "") -> None:
        self._window, self._message = win, message
        self._cells = None
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()

    def on_resize(self) -> None:
        self._cells = None

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return container.height

    def render_line(self, y: int) -> Strip:
        if self._cells is None or self._cells.width != self.size.width or self._cells.height != self.size.height:
            self._cells = self._layout()
        cells = self._cells
        if y >= cells.height:
            return Strip.blank(self.size.width, self.rich_style)
        segments = []
        row, names = cells.chars[y], cells.styles[y]
        start = 0
        for x in range(1, cells.width + 1):
            if x == cells.width or names[x] != names[start]:
                style = self._styles.get(names[start]) if names[start] else self.rich_style
                segments.append(Segment("".join(row[start:x]), style))
                start = x
        return Strip(segments, cells.width)

    # -------------------------------------------------------------- layout

    def _layout(self) -> _Cells:
        width, height = self.size.width, self.size.height
        cells = _Cells(width, height)
        win = self._window
        if win is None or win.stop <= win.start or height < 4:
            cells.put(1, 0, self._message or "no data", "preview--axis")
            return cells
        overlays = list(win.overlays.items())
        values = [win.low, win.high] + [s[np.isfinite(s)] for _, s in overlays]
        lo = min(float(v.min()) for v in values if len(v))
        hi = max(float(v.max()) for v in values if len(v))
        top, bottom = 2, height - 2  # row 0 legend, row 1 and the last row for markers
        span = (hi - lo) or 1.0

        def row(price: float) -> int:
            return top + int(round((hi - price) / span * (bottom - top)))

        self._legend(cells, overlays, win)
        n = win.stop - win.start
        for x in range(min(n, width - AXIS_WIDTH)):
            o, h, low, c = win.open[x], win.high[x], win.low[x], win.close[x]
            style = "preview--up" if c >= o else "preview--down"
            for y in range(row(h), row(low) + 1):
                cells.put(x, y, "│", style)
            for y in range(row(max(o, c)), row(min(o, c)) + 1):
                cells.put(x, y, "┃", style)
        for k, (_, series) in enumerate(overlays):
            for x in range(min(n, width - AXIS_WIDTH)):
                if math.isfinite(series[x]):
                    cells.put(x, row(float(series[x])), "•", f"preview--overlay-{k % OVERLAY_STYLES}")
        for name, flags in win.markers.items():
            glyph, style, below = MARKERS[name]
            for x in np.flatnonzero(flags[: width - AXIS_WIDTH]).tolist():
                y = row(float(win.low[x])) + 1 if below else row(float(win.high[x])) - 1
                cells.put(x, max(1, min(height - 1, y)), glyph, style)
        for y in range(top, bottom + 1, max(1, (bottom - top) // 4)):
            price = hi - (y - top) / max(1, bottom - top) * span
            cells.put(width - AXIS_WIDTH + 1, y, fmt_price(price).rjust(AXIS_WIDTH - 1), "preview--axis")
        return cells

    def _legend(self, cells: _Cells, overlays: list, win: Window) -> None:
        x = 0
        for k, (name, _) in enumerate(overlays):
            text = f"• {name}  "
            cells.put(x, 0, text, f"preview--overlay-{k % OVERLAY_STYLES}")
            x += len(text)
        for name in win.markers:
            glyph, style, _ = MARKERS[name]
            text = f"{glyph} {MARKER_NAMES[name]}  "
            cells.put(x, 0, text, style)
            x += len(text)


class EquityChart(Widget):
    """The equity curve as bottom-anchored eighth-block columns, min and max labelled."""

    COMPONENT_CLASSES = {"equity--bar", "equity--axis"}
    DEFAULT_CSS = """
    EquityChart { height: 10; }
    EquityChart > .equity--bar { color: $accent; }
    EquityChart > .equity--axis { color: $foreground-muted; }
    """

    def __init__(self, equity: np.ndarray, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.equity = np.asarray(equity, dtype=np.float64)
        self._styles = StyleCache(self)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()

    def columns(self, width: int) -> np.ndarray:
        """The curve resampled to ``width`` columns (each column: the equity at its last bar)."""
        n = len(self.equity)
        if n == 0 or width <= 0:
            return np.zeros(0)
        idx = np.minimum(n - 1, ((np.arange(width) + 1) * n) // width - 1)
        return self.equity[np.maximum(idx, 0)]

    def render_line(self, y: int) -> Strip:
        width, height = self.size.width, self.size.height
        plot = width - AXIS_WIDTH
        cols = self.columns(plot)
        if not len(cols) or plot <= 0:
            return Strip.blank(width, self.rich_style)
        lo, hi = float(cols.min()), float(cols.max())
        span = hi - lo
        levels = np.full(len(cols), height * 4) if span <= 0 else (
            np.rint((cols - lo) / span * (height * 8 - 1)).astype(int) + 1)
        floor = (height - 1 - y) * 8
        text = "".join(VEIGHTHS[int(max(0, min(8, v - floor)))] for v in levels)
        label = fmt_price(hi) if y == 0 else (fmt_price(lo) if y == height - 1 else "")
        return Strip([Segment(text, self._styles.get("equity--bar")),
                      Segment(" " + label.rjust(AXIS_WIDTH - 1), self._styles.get("equity--axis"))], width)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return container.height

