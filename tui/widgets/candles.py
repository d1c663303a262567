"""Candle chart with a volume pane, drawn with the Line API and half-cell glyphs.

One column per candle. Each cell holds two vertical sub-steps, drawn with ``┃ │ ╽ ╿ ╻ ╹ ╷ ╵``
(body/wick in the top and bottom half), so bodies have twice the row resolution (the
technique of py-candlestick-chart; tui-guide C4). The chart auto-scales to the candles in view;
the price axis sits in a right gutter with 1-2-5 labels, the time axis below, the volume pane in
eighth-blocks under the prices.

Timeframes 1s and 1m come straight from the ``MarketView``; 5m, 15m and 1h are rolled up from
its 1m candles, so the forming candle of every timeframe updates live. ``set_overlays`` draws
named series (indicators) and ``set_markers`` buy/sell arrows at bar indexes: the strategy
composer draws its signals with them. ``set_fills`` takes the user's own fills by time and
marks the bar each falls in, whatever the timeframe (the Trade screen's executions).

Parsing the view's decimal strings to floats (fine for a chart) is cached per candle object:
closed candles are the same objects from one snapshot to the next, so a pump tick parses only
the forming candle.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import numpy as np
from rich.segment import Segment
from textual import events
from textual.binding import Binding
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from core.market_state import Candle, MarketView
from core.numbers import decimal_places
from tui.widgets.common import VEIGHTHS, Grid, StyleCache, line_regions, nice_step

TIMEFRAMES: dict[str, int] = {"1s": 1, "1m": 60, "5m": 300, "15m": 900, "1h": 3600}
NS = 1_000_000_000
#: (bottom half, top half) -> glyph; 0 empty, 1 wick, 2 body.
GLYPHS = {
    (0, 0): " ", (2, 2): "┃", (1, 1): "│", (2, 0): "╻", (0, 2): "╹",
    (1, 0): "╷", (0, 1): "╵", (2, 1): "╽", (1, 2): "╿",
}
OVERLAY_CLASSES = ("candles--overlay-1", "candles--overlay-2", "candles--overlay-3", "candles--overlay-4")
FIELDS = ("start", "open", "high", "low", "close", "volume")


class Bars:
    """OHLCV columns (float64; ``start`` int64 ns) of one timeframe, oldest first."""

    __slots__ = FIELDS

    def __init__(self, start, open, high, low, close, volume) -> None:  # noqa: A002
        self.start, self.open, self.high, self.low, self.close, self.volume = start, open, high, low, close, volume

    def __len__(self) -> int:
        return len(self.start)

    @classmethod
    def empty(cls) -> Bars:
        z = np.zeros(0)
        return cls(np.zeros(0, dtype=np.int64), z, z, z, z, z)


class CandleParser:
    """Candle tuples -> ``Bars``, reusing the parsed row of every candle object seen before."""

    def __init__(self) -> None:
        self._rows: dict[int, tuple[Candle, tuple[float, ...]]] = {}

    def bars(self, candles: Sequence[Candle]) -> Bars:
        if not candles:
            return Bars.empty()
        rows, keep = self._rows, {}
        out = []
        for c in candles:
            hit = rows.get(c.start)
            if hit is None or hit[0] is not c:
                hit = (c, (float(c.open), float(c.high), float(c.low), float(c.close), float(c.volume)))
            keep[c.start] = hit
            out.append(hit[1])
        self._rows = keep
        arr = np.array(out, dtype=np.float64)
        start = np.fromiter((c.start for c in candles), dtype=np.int64, count=len(candles))
        return Bars(start, arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4])


def roll_up(bars: Bars, seconds: int) -> Bars:
    """Aggregate ``bars`` into ``seconds``-long buckets aligned on the epoch (the last bucket
    is the forming one when its last input bar is)."""
    if not len(bars):
        return bars
    span = seconds * NS
    bucket = bars.start // span
    first = np.concatenate(([0], np.flatnonzero(np.diff(bucket)) + 1))
    last = np.concatenate((first[1:], [len(bucket)])) - 1
    return Bars(
        bucket[first] * span,
        bars.open[first],
        np.maximum.reduceat(bars.high, first),
        np.minimum.reduceat(bars.low, first),
        bars.close[last],
        np.add.reduceat(bars.volume, first),
    )


class CandleChart(Widget, can_focus=True):
    """``show(view)``; ``timeframe`` reactive (1s 1m 5m 15m 1h); left/right scroll history."""

    COMPONENT_CLASSES = {
        "candles--up",
        "candles--down",
        "candles--volume-up",
        "candles--volume-down",
        "candles--axis",
        "candles--header",
        "candles--marker-buy",
        "candles--marker-sell",
        *OVERLAY_CLASSES,
    }
    DEFAULT_CSS = """
    CandleChart { height: 1fr; min-height: 8; }
    CandleChart > .candles--up { color: $bid; }
    CandleChart > .candles--down { color: $ask; }
    CandleChart > .candles--volume-up { color: $bid-muted; }
    CandleChart > .candles--volume-down { color: $ask-muted; }
    CandleChart > .candles--axis { color: $foreground-muted; }
    CandleChart > .candles--header { color: $foreground; text-style: bold; }
    CandleChart > .candles--marker-buy { color: $bid; text-style: bold; }
    CandleChart > .candles--marker-sell { color: $ask; text-style: bold; }
    CandleChart > .candles--overlay-1 { color: $primary; }
    CandleChart > .candles--overlay-2 { color: $secondary; }
    CandleChart > .candles--overlay-3 { color: $accent; }
    CandleChart > .candles--overlay-4 { color: $warning; }
    """
    BINDINGS = [
        Binding("left", "scroll_bars(1)", "Older", show=False, id="chart.older"),
        Binding("right", "scroll_bars(-1)", "Newer", show=False, id="chart.newer"),
        Binding("pageup", "page(1)", "Page older", show=False, id="chart.page-older"),
        Binding("pagedown", "page(-1)", "Page newer", show=False, id="chart.page-newer"),
        Binding("end", "live", "Live", id="chart.live"),
        Binding("t", "cycle_timeframe(1)", "Timeframe", id="chart.timeframe-next"),
        Binding("T", "cycle_timeframe(-1)", "Timeframe back", show=False, id="chart.timeframe-prev"),
    ]

    timeframe: reactive[str] = reactive("1m")

    def __init__(self, timeframe: str = "1m", *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        if timeframe not in TIMEFRAMES:
            raise ValueError(f"timeframe must be one of {', '.join(TIMEFRAMES)}, got {timeframe!r}")
        self.set_reactive(CandleChart.timeframe, timeframe)
        self._styles = StyleCache(self)
        self._p1s, self._p1m = CandleParser(), CandleParser()
        self.view: MarketView | None = None
        self.bars = Bars.empty()
        self.bars_back = 0  # bars hidden at the right (0 = live edge)
        self.overlays: dict[str, np.ndarray] = {}
        self._fixed: Bars | None = None  # bars given by show_bars (no live view)
        self.markers: dict[int, frozenset[str]] = {}  # bar index -> {"buy", "sell"} or one of them
        self.fills: tuple[tuple[int, str], ...] = ()  # own fills: (ts ns, "buy" | "sell")
        self._places = 2
        self._lines: list[list[tuple[str, str | None]]] = []
        self._runs: list[list[tuple[str, str | None]]] | None = None  # _lines as style runs
        self._header = ""  # header_text() of the last layout
        self.scale: tuple[float, float] | None = None  # low, high of the price pane
        self.first_visible = 0
        self.x0 = 0  # column of the first visible bar

    # ------------------------------------------------------------------ data in
    def show(self, view: MarketView | None) -> None:
        """Take the latest snapshot; rolls up the timeframe and repaints once."""
        self.view = view
        if view is not None:
            grid = Grid.from_view(view)
            if grid is not None:
                self._places = decimal_places(grid.tick)
        self._rebar()

    def show_bars(self, bars: Bars | None) -> None:
        """Draw fixed bars (history from a file or the store) instead of a live view; they stay
        whatever the timeframe is set to (there is nothing to roll up from). None goes back to
        the view given to ``show``."""
        self._fixed = bars
        self.bars_back = 0
        self._rebar()

    def set_overlays(self, series: dict[str, np.ndarray]) -> None:
        """Named series drawn over the candles, aligned on the current timeframe's bars from
        the right (element -1 = the newest bar); NaN leaves a gap."""
        self.overlays = {k: np.asarray(v, dtype=np.float64) for k, v in series.items()}
        self._layout()

    def set_markers(self, buys: Iterable[int] = (), sells: Iterable[int] = ()) -> None:
        """Buy (▲ under the low) and sell (▼ over the high) arrows at bar indexes of the
        current timeframe (0 = oldest; negative counts from the newest); a bar can have both."""
        n = len(self.bars)
        marks: dict[int, frozenset[str]] = {}
        for side, idx in (("buy", buys), ("sell", sells)):
            for i in idx:
                j = i + n if i < 0 else i
                if 0 <= j < n:
                    marks[j] = marks.get(j, frozenset()) | {side}
        self.markers = marks
        self._layout()

    def set_fills(self, fills: Iterable[tuple[int, str]], *, redraw: bool = True) -> None:
        """The user's fills as ``(ts_ns, side)``: ▲ under the low of the bar a buy fell in, ▼
        over the high for a sell (both when a bar has both). Kept by time, so they stay on
        their bars as new bars arrive and across timeframes. ``redraw=False`` when a ``show``
        follows anyway."""
        fills = tuple(fills)
        if fills == self.fills:
            return
        self.fills = fills
        if redraw:
            self._layout()

    def _marks(self) -> dict[int, set[str]]:
        """Bar index -> the arrows to draw there: ``markers`` plus the fills' bars."""
        marks: dict[int, set[str]] = {i: set(sides) for i, sides in self.markers.items()}
        starts = self.bars.start
        if self.fills and len(starts):
            ts = np.fromiter((t for t, _ in self.fills), dtype=np.int64, count=len(self.fills))
            idx = np.searchsorted(starts, ts, side="right") - 1
            for i, (_, side) in zip(idx.tolist(), self.fills):
                if i >= 0:  # a fill older than the oldest bar has no bar to sit on
                    marks.setdefault(i, set()).add(side)
        return marks

    def validate_timeframe(self, value: str) -> str:
        if value not in TIMEFRAMES:
            raise ValueError(f"timeframe must be one of {', '.join(TIMEFRAMES)}, got {value!r}")
        return value

    def watch_timeframe(self, old: str, new: str) -> None:
        self.bars_back = 0
        self._rebar()

    def _rebar(self) -> None:
        view = self.view
        if self._fixed is not None:
            self.bars = self._fixed
        elif view is None:
            self.bars = Bars.empty()
        elif self.timeframe == "1s":
            self.bars = self._p1s.bars(view.candles_1s)
        else:
            m1 = self._p1m.bars(view.candles_1m)
            self.bars = m1 if self.timeframe == "1m" else roll_up(m1, TIMEFRAMES[self.timeframe])
        self._layout()

    # ------------------------------------------------------------------ geometry
    def _panes(self) -> tuple[int, int, int]:
        """(price rows, volume rows, gutter width)."""
        h = self.size.height
        vol = max(1, (h - 2) // 5) if h >= 10 else 0
        price = max(1, h - 2 - vol - (1 if vol else 0))
        return price, vol, self._places + 9

    def _layout(self) -> None:
        """Rebuild the character grid of the visible window (called on data, scroll, size) and
        refresh the rows that changed: on a live tick that is mostly the forming candle's
        cells, its volume bar and the header, not the whole chart."""
        shown = (self._header, self._runs)
        self._draw_grid()
        self._runs = self._build_runs()
        self._header = self.header_text()
        old_header, old_runs = shown
        runs = self._runs
        if not self.is_mounted or old_runs is None or len(old_runs) != len(runs):
            self.refresh()
            return
        dirty = [y for y in range(1, len(runs)) if runs[y] != old_runs[y]]
        if self._header != old_header:
            dirty.insert(0, 0)
        if len(dirty) == len(runs):
            self.refresh()
        elif dirty:
            self.refresh(*line_regions(dirty, self.size.width))

    def _draw_grid(self) -> None:
        """The character grid (``_lines``) of the visible window, and ``scale``."""
        w, h = self.size.width, self.size.height
        n = len(self.bars)
        price_rows, vol_rows, gutter = self._panes()
        plot_w = max(1, w - gutter)
        self.bars_back = max(0, min(self.bars_back, max(0, n - plot_w)))
        end = n - self.bars_back
        start = max(0, end - plot_w)
        self.first_visible = start
        self.x0 = plot_w - (end - start)  # right-aligned: the newest bar sits by the price axis
        lines: list[list[tuple[str, str | None]]] = [[(" ", None)] * plot_w for _ in range(max(0, h))]
        self._lines = lines
        if h < 3 or end <= start:
            self.scale = None
            return
        b = self.bars
        lo, hi = float(b.low[start:end].min()), float(b.high[start:end].max())
        for arr in self._overlay_windows(start, end):
            finite = arr[np.isfinite(arr)]
            if finite.size:
                lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
        if hi <= lo:
            hi, lo = hi + 0.5 * 10**-self._places, lo - 0.5 * 10**-self._places
        marks = self._marks()
        shown = set().union(*(marks.get(i, ()) for i in range(start, end)))
        if shown and price_rows > 2:
            # Room for the arrows: one cell under the lowest low (buys), over the highest high
            # (sells), so a buy at the window's low is not clipped off the pane.
            cell = (hi - lo) / (price_rows - len(shown))
            lo, hi = lo - cell * ("buy" in shown), hi + cell * ("sell" in shown)
        self.scale = (lo, hi)
        top = 1  # row 0 is the header
        subrows = price_rows * 2

        def sub(v: float) -> int:
            return int((v - lo) / (hi - lo) * (subrows - 1) + 0.5)

        for x, i in enumerate(range(start, end), self.x0):
            o, c = b.open[i], b.close[i]
            style = "candles--up" if c >= o else "candles--down"
            blo, bhi = sub(min(o, c)), sub(max(o, c))
            wlo, whi = sub(b.low[i]), sub(b.high[i])
            for cell in range(wlo // 2, whi // 2 + 1):
                kinds = []
                for s in (cell * 2, cell * 2 + 1):
                    kinds.append(2 if blo <= s <= bhi else (1 if wlo <= s <= whi else 0))
                ch = GLYPHS[(kinds[0], kinds[1])]
                if ch != " ":
                    lines[top + price_rows - 1 - cell][x] = (ch, style)
            mark = marks.get(i, ())
            if "buy" in mark:
                row = top + price_rows - wlo // 2
                if row < top + price_rows:
                    lines[row][x] = ("▲", "candles--marker-buy")
            if "sell" in mark:
                row = top + price_rows - 1 - whi // 2 - 1
                if row >= top:
                    lines[row][x] = ("▼", "candles--marker-sell")
        for k, arr in enumerate(self._overlay_windows(start, end)):
            cls = OVERLAY_CLASSES[k % len(OVERLAY_CLASSES)]
            for x, v in enumerate(arr, self.x0):
                if np.isfinite(v):
                    s = sub(float(v))
                    row = top + price_rows - 1 - s // 2
                    if top <= row < top + price_rows and lines[row][x][0] == " ":
                        lines[row][x] = ("▀" if s % 2 else "▄", cls)
        lines[-1] = [(ch, "candles--axis" if ch != " " else None) for ch in self.time_axis()]
        if vol_rows:
            vmax = float(b.volume[start:end].max()) or 1.0
            base = top + price_rows + 1  # one spacer row between the panes
            for x, i in enumerate(range(start, end), self.x0):
                eighths = int(b.volume[i] / vmax * vol_rows * 8 + 0.5)
                style = "candles--volume-up" if b.close[i] >= b.open[i] else "candles--volume-down"
                for r in range(vol_rows):
                    fill = max(0, min(8, eighths - r * 8))
                    if fill:
                        lines[base + vol_rows - 1 - r][x] = (VEIGHTHS[fill], style)

    def _overlay_windows(self, start: int, end: int) -> list[np.ndarray]:
        """Each overlay's values for bars ``start:end`` (right-aligned on the bars)."""
        n = len(self.bars)
        out = []
        for arr in self.overlays.values():
            shift = n - len(arr)  # overlay index = bar index - shift
            window = np.full(end - start, np.nan)
            a, z = max(start, shift), min(end, shift + len(arr))
            if z > a:
                window[a - start : z - start] = arr[a - shift : z - shift]
            out.append(window)
        return out

    # ------------------------------------------------------------------ painting
    def render_line(self, y: int) -> Strip:
        w = self.size.width
        st = self._styles
        if y >= len(self._lines):
            return Strip.blank(w, st.get())
        if y == 0:
            return Strip([Segment(self.header_text().ljust(w)[:w], st.get("candles--header"))], w)
        if self._runs is None:  # not laid out yet
            self._layout()
        segs = [Segment(text, st.get(style) if style else st.get()) for text, style in self._runs[y]]
        return Strip(segs).adjust_cell_length(w, st.get())

    def _build_runs(self) -> list[list[tuple[str, str | None]]]:
        """Each row of the grid as runs of one style, plus its gutter text (once per layout)."""
        price_rows, vol_rows, gutter = self._panes()
        labels = self._labels() if self.scale is not None else {}
        out = []
        for y, cells in enumerate(self._lines):
            runs: list[tuple[str, str | None]] = []
            chars: list[str] = []
            style = None
            for ch, st in cells:
                if st != style and chars:
                    runs.append(("".join(chars), style))
                    chars = []
                style = st
                chars.append(ch)
            if chars:
                runs.append(("".join(chars), style))
            runs.append((self._gutter_text(y, price_rows, vol_rows, labels).rjust(gutter)[:gutter], "candles--axis"))
            out.append(runs)
        return out

    def _gutter_text(self, y: int, price_rows: int, vol_rows: int, labels: dict[int, str]) -> str:
        if y == len(self._lines) - 1:
            return ""  # the time-axis row
        if self.scale is None or not 1 <= y <= price_rows:
            if vol_rows and y == price_rows + 2 and len(self.bars):
                return "vol " + _compact(float(self.bars.volume[self.first_visible : len(self.bars) - self.bars_back].max()))
            return ""
        return labels.get(y, "")

    def _labels(self) -> dict[int, str]:
        """Row -> price label: 1-2-5 steps, about one every other row (at least two)."""
        price_rows, _, _ = self._panes()
        lo, hi = self.scale
        step = nice_step(hi - lo, max(2, price_rows // 2))
        labels: dict[int, str] = {}
        v = np.ceil(lo / step) * step
        subrows = price_rows * 2
        while v <= hi:
            s = int((v - lo) / (hi - lo) * (subrows - 1) + 0.5)
            row = 1 + price_rows - 1 - s // 2
            labels.setdefault(row, f" {v:.{self._places}f}")
            v += step
        return labels

    def time_axis(self) -> str:
        """Start times under every ~12th column (the last row)."""
        price_rows, _, gutter = self._panes()
        plot_w = max(1, self.size.width - gutter)
        end = len(self.bars) - self.bars_back
        chars = [" "] * plot_w
        fmt = "%H:%M:%S" if self.timeframe == "1s" else "%H:%M"
        x = max(0, self.x0)
        while x < plot_w and self.first_visible + x - self.x0 < end:
            ts = int(self.bars.start[self.first_visible + x - self.x0])
            label = "╵" + datetime.fromtimestamp(ts / NS, tz=UTC).strftime(fmt)
            if x + len(label) <= plot_w:
                chars[x : x + len(label)] = label
            x += max(12, len(label) + 2)
        return "".join(chars)

    def header_text(self) -> str:
        sym = self.view.symbol if self.view is not None else "-"
        n = len(self.bars)
        if not n:
            return f"{sym} {self.timeframe}  no candles yet"
        i = n - 1 - self.bars_back
        b, p = self.bars, self._places
        back = "" if self.bars_back == 0 else f" ◂{self.bars_back}"  # bars scrolled back from live
        return (
            f"{sym} {self.timeframe}{back}  O {b.open[i]:.{p}f} H {b.high[i]:.{p}f} L {b.low[i]:.{p}f} "
            f"C {b.close[i]:.{p}f} V {_compact(float(b.volume[i]))}"
        )

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()

    # ------------------------------------------------------------------ keys
    def on_resize(self, event: events.Resize) -> None:
        self._layout()

    def action_scroll_bars(self, n: int) -> None:
        self.bars_back += n
        self._layout()

    def action_page(self, direction: int) -> None:
        _, _, gutter = self._panes()
        self.action_scroll_bars(direction * max(1, self.size.width - gutter - 2))

    def action_live(self) -> None:
        self.bars_back = 0
        self._layout()

    def action_cycle_timeframe(self, direction: int) -> None:
        names = list(TIMEFRAMES)
        self.timeframe = names[(names.index(self.timeframe) + direction) % len(names)]

    def row_text(self, y: int) -> str:
        return self.render_line(y).text


def _compact(v: float) -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.2f}{suffix}"
    return f"{v:.4g}"
