"""Pieces the Line-API widgets share: block glyphs, grid formatters derived from a view, and a
per-widget cache of component styles that is dropped when the theme changes.

Kept free of per-widget logic so each widget module holds only what it draws.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from core.market_state import MarketView
from core.numbers import unit_formatter

#: Painted rows a Line-API widget keeps by key, per generation (see ``LineCache``). A screen of
#: rows is ~50, so two generations hold several frames' worth of unchanged rows. Kept small on
#: purpose: every Textual ``Strip`` carries seven caches of derived strips, so a few thousand
#: cached rows are ~100k objects for the cyclic collector to walk (full collections of 60 ms,
#: i.e. late keys, measured by ``tickdesk bench ui`` with 4096).
STRIP_CACHE_MAX = 256

#: Left-anchored horizontal eighths, index = eighths filled (0..8).
EIGHTHS = " ▏▎▍▌▋▊▉█"
#: Bottom-anchored vertical eighths, index = eighths filled (0..8).
VEIGHTHS = " ▁▂▃▄▅▆▇█"


def hbar(eighths: int, width: int) -> str:
    """A left-anchored bar of ``eighths`` eighth-cells, padded with spaces to ``width``."""
    eighths = max(0, min(eighths, width * 8))
    full, part = divmod(eighths, 8)
    text = "█" * full + (EIGHTHS[part] if part else "")
    return text + " " * (width - len(text))


def hbar_right(eighths: int, width: int) -> tuple[str, str, str]:
    """A right-anchored bar as ``(pad, partial, full)``.

    Unicode has no right-anchored eighths, so the partial cell is the left-anchored glyph of
    the complement, to be drawn in reverse video (its ink becomes the background colour and
    its paper the bar colour)."""
    eighths = max(0, min(eighths, width * 8))
    full, part = divmod(eighths, 8)
    partial = EIGHTHS[8 - part] if part else ""
    pad = " " * (width - full - len(partial))
    return pad, partial, "█" * full


def sparkline(values: Sequence[float], width: int) -> str:
    """The last ``width`` values as ``▁..█`` glyphs scaled to their own min..max."""
    vals = list(values)[-width:] if width > 0 else []
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    span = hi - lo
    if span <= 0:
        return VEIGHTHS[4] * len(vals)
    return "".join(VEIGHTHS[1 + int((v - lo) / span * 7 + 0.5)] if v == v else " " for v in vals)


def nice_step(span: float, target: int) -> float:
    """A 1-2-5 x 10^k step giving about ``target`` intervals over ``span`` (axis labels)."""
    import math

    if span <= 0 or target <= 0:
        return 1.0
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


class Grid:
    """Exact price/qty formatters for a symbol, derived from one of its levels or trades.

    A ``MarketView`` carries each level as ticks plus the instrument's string, so the tick and
    lot sizes follow exactly (``price / ticks``); rows between levels (empty grid prices,
    grouped rows) are then formatted with the same digits as the exchange's strings."""

    __slots__ = ("tick", "lot", "fmt_price", "fmt_qty")

    def __init__(self, tick: Decimal, lot: Decimal) -> None:
        self.tick = tick
        self.lot = lot
        self.fmt_price: Callable[[int], str] = unit_formatter(tick)
        self.fmt_qty: Callable[[int], str] = unit_formatter(lot)

    @classmethod
    def from_view(cls, view: MarketView) -> Grid | None:
        sample = next(iter(view.bids or view.asks or ()), None) or (view.trades[-1] if view.trades else None)
        if sample is None or not sample.ticks or not sample.lots:
            return None
        return cls(_step(sample.price, sample.ticks), _step(sample.qty, sample.lots))

    @classmethod
    def from_instrument(cls, instrument) -> Grid:
        return cls(instrument.tick_size, instrument.lot_size)


def _step(text: str, units: int) -> Decimal:
    """The grid step behind ``text == units * step`` (exact: a grid step is a terminating
    decimal)."""
    return Decimal(text) / units


class StyleCache:
    """Component styles resolved once per theme; a widget calls ``clear()`` from
    ``notify_style_update`` so a theme switch recolours on the next paint."""

    def __init__(self, widget: Widget) -> None:
        self._widget = widget
        self._cache: dict[tuple, Style] = {}

    def clear(self) -> None:
        self._cache.clear()

    def get(self, *names: str) -> Style:
        """The widget's base style plus the named component classes, combined in order."""
        style = self._cache.get(names)
        if style is None:
            w = self._widget
            style = w.rich_style
            for name in names:
                style = style + w.get_component_rich_style(name, partial=True)
            self._cache[names] = style
        return style

    def reversed_bar(self, name: str) -> Style:
        """The colour of component ``name`` as paper, the widget background as ink (for the
        complement glyph of a right-anchored bar)."""
        key = ("<rev>", name)
        style = self._cache.get(key)
        if style is None:
            w = self._widget
            bar = w.get_component_rich_style(name, partial=True)
            base = w.rich_style
            style = Style(color=base.bgcolor, bgcolor=bar.color)
            self._cache[key] = style
        return style



class LineCache:
    """Painted rows of a Line-API widget, by a key of what each row shows.

    ``strip(y, key)`` paints row ``y`` (building the strip only for a key not seen before) and
    remembers the key painted there; ``refresh_changed`` then refreshes only the rows whose key
    differs, so a pump tick that changes three rows does not repaint fifty. The widget calls
    ``clear()`` on a style update (the strips hold theme colours).

    Strips live in two generations of at most ``STRIP_CACHE_MAX`` each: a hit in the old one
    moves to the new one, and a full new generation replaces the old. Recently painted rows are
    found again, the memory stays bounded, and the garbage is released in small steps rather
    than as one large cache dropped at once."""

    def __init__(self, build: Callable[[tuple], Strip], limit: int = STRIP_CACHE_MAX) -> None:
        self._build = build
        self._limit = limit
        self._new: dict[tuple, Strip] = {}
        self._old: dict[tuple, Strip] = {}
        self._drawn: dict[int, tuple] = {}  # row -> key of the strip last painted there

    def __len__(self) -> int:
        return len(self._new) + len(self._old)

    def clear(self) -> None:
        self._new.clear()
        self._old.clear()
        self._drawn.clear()

    def forget_rows(self) -> None:
        """Treat every row as unpainted (after a resize)."""
        self._drawn.clear()

    def strip(self, y: int, key: tuple) -> Strip:
        self._drawn[y] = key
        strip = self._new.get(key)
        if strip is None:
            strip = self._old.pop(key, None)
            if strip is None:
                strip = self._build(key)
            if len(self._new) >= self._limit:
                self._old = self._new
                self._new = {}
            self._new[key] = strip
        return strip

    def refresh_changed(self, widget: Widget, width: int, height: int, key_of: Callable[[int], tuple]) -> None:
        """Refresh the rows of ``widget`` whose current key is not the one painted there."""
        if not widget.is_mounted or height <= 0:
            widget.refresh()
            return
        drawn = self._drawn
        dirty = [y for y in range(height) if drawn.get(y) != key_of(y)]
        if dirty:
            # Regions even when every row changed: a bare ``refresh()`` also repaints a scroll
            # view's scrollbars, which widens the frame's dirty area for nothing.
            widget.refresh(*line_regions(dirty, width))


def line_regions(ys: list[int], width: int) -> list[Region]:
    """One full-width region per run of consecutive rows in ``ys`` (ascending), so a widget
    refreshes only the rows that changed."""
    regions: list[Region] = []
    start = prev = ys[0]
    for y in ys[1:]:
        if y != prev + 1:
            regions.append(Region(0, start, width, prev - start + 1))
            start = y
        prev = y
    regions.append(Region(0, start, width, prev - start + 1))
    return regions
