"""Charts for the composer: the preview (the workstation's ``CandleChart`` over the
strategy's historical bars, with its indicator overlays and buy/sell markers) and the results
screen's equity curve (a small Line-API widget).
"""

from __future__ import annotations

import math

import numpy as np
from rich.segment import Segment
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from strategies.signals import Bars, Signals
from tui.widgets.candles import Bars as ChartBars
from tui.widgets.candles import CandleChart
from tui.widgets.common import VEIGHTHS, StyleCache

AXIS_WIDTH = 11


def fmt_price(value: float) -> str:
    if not math.isfinite(value):
        return ""
    digits = 2 if abs(value) >= 100 else (4 if abs(value) >= 1 else 6)
    return f"{value:,.{digits}f}"


class PreviewCandles(CandleChart):
    """The workstation's candle chart over fixed historical bars instead of a live view.

    The composer's bars come from a candle file or the store: ``show_history`` hands them to
    the chart's ``show_bars`` (the signals are per bar of the strategy's data, so the timeframe
    keys are disabled here). Scrolling, overlays and markers are the chart's.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("1m", id=id)
        self._fixed = ChartBars.empty()  # fixed bars from the start: never a live view
        self.label = "preview"
        self.legend = ""

    def show_history(self, bars: Bars | None, label: str) -> None:
        """New data: the bars to draw (None: nothing loaded) and the header's label."""
        self.label = label
        self.overlays, self.markers = {}, {}
        self.show_bars(ChartBars.empty() if bars is None else ChartBars(
            bars.ts * 1_000_000, bars.open, bars.high, bars.low, bars.close, bars.volume))

    def show_signals(self, signals: Signals | None, overlays: dict[str, np.ndarray]) -> None:
        """Overlays (full-length series, aligned on the bars) and the signals as markers:
        ▲ where the strategy buys (enter long, exit short), ▼ where it sells."""
        self.overlays = overlays
        if signals is None or signals.n != len(self.bars):
            self.legend = ""
            self.set_markers()
            return
        buys = np.flatnonzero(signals.enter_long | signals.exit_short)
        sells = np.flatnonzero(signals.exit_long | signals.enter_short)
        names = " ".join(f"• {k}" for k in overlays)
        self.legend = f"  {names}  ▲ buy {len(buys)}  ▼ sell {len(sells)}".rstrip()
        self.set_markers(buys.tolist(), sells.tolist())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "cycle_timeframe"

    def header_text(self) -> str:
        text = super().header_text()
        return self.label + text[text.index(" "):] + self.legend

    def plot_width(self) -> int:
        """Bars in view (the chart's own window)."""
        return max(1, len(self.bars) - self.bars_back - self.first_visible)


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

