"""Ticker bar: one line with several symbols: last price, change, spread and a sparkline.

The change is measured against the open of the oldest 1m candle the view holds (the session
the market state remembers, up to 12 h by default), since a simulated or replayed market has no
exchange 24 h statistics. The sparkline draws the recent 1s closes (falling back to 1m), one
glyph each, in ``▁..█``: sparklines are strings in a Line-API row rather than a mounted
``Sparkline`` widget per symbol (tui-guide C5).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from rich.segment import Segment
from textual.strip import Strip
from textual.widget import Widget

from core.market_state import MarketView
from tui.widgets.common import Grid, StyleCache, sparkline

SPARK_WIDTH = 16


class TickerBar(Widget):
    """``show(views)`` with a mapping symbol -> view or an iterable of views; ``selected``
    names the symbol the trade screen shows (drawn highlighted)."""

    COMPONENT_CLASSES = {"ticker--symbol", "ticker--selected", "ticker--up", "ticker--down", "ticker--flat", "ticker--muted"}
    DEFAULT_CSS = """
    TickerBar { height: 1; }
    TickerBar > .ticker--symbol { color: $foreground; text-style: bold; }
    TickerBar > .ticker--selected { background: $cursor-bg; }
    TickerBar > .ticker--up { color: $bid; }
    TickerBar > .ticker--down { color: $ask; }
    TickerBar > .ticker--flat { color: $foreground; }
    TickerBar > .ticker--muted { color: $foreground-muted; }
    """

    def __init__(self, selected: str | None = None, *, spark_width: int = SPARK_WIDTH, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._styles = StyleCache(self)
        self.selected = selected
        self.spark_width = spark_width
        self.views: list[MarketView] = []

    def show(self, views: Mapping[str, MarketView | None] | Iterable[MarketView | None]) -> None:
        items = views.values() if isinstance(views, Mapping) else views
        self.views = [v for v in items if v is not None]
        self.refresh()

    def select(self, symbol: str | None) -> None:
        self.selected = symbol
        self.refresh()

    @staticmethod
    def figures(view: MarketView) -> dict[str, str | None]:
        """last, change % (2 dp, signed), spread (price units) and the sparkline's closes."""
        last = view.last
        ref = view.candles_1m[0].open if view.candles_1m else None
        change = None
        if last is not None and ref is not None and Decimal(ref) != 0:
            pct = (Decimal(last) - Decimal(ref)) / Decimal(ref) * 100
            change = f"{pct:+.2f}%"
        grid = Grid.from_view(view)
        spread = grid.fmt_price(view.spread_ticks) if grid is not None and view.spread_ticks is not None else None
        return {"last": last, "change": change, "spread": spread}

    def render_line(self, y: int) -> Strip:
        w = self.size.width
        st = self._styles
        if y != 0:
            return Strip.blank(w, st.get())
        segs: list[Segment] = []
        for k, view in enumerate(self.views):
            sel = ("ticker--selected",) if view.symbol == self.selected else ()
            if k:
                segs.append(Segment(" │ ", st.get("ticker--muted")))
            f = self.figures(view)
            change = f["change"]
            tone = "ticker--flat" if change is None or change.startswith("+0.00") else ("ticker--up" if change[0] == "+" else "ticker--down")
            closes = [float(c.close) for c in (view.candles_1s or view.candles_1m)[-self.spark_width :]]
            segs += [
                Segment(f"{view.symbol} ", st.get("ticker--symbol", *sel)),
                Segment(f"{f['last'] or '-'} ", st.get(tone, *sel)),
                Segment(f"{change or '':>7} ", st.get(tone, *sel)),
                Segment(f"spr {f['spread'] or '-'} ", st.get("ticker--muted", *sel)),
                Segment(sparkline(closes, self.spark_width), st.get(tone, *sel)),
            ]
        return Strip(segs).adjust_cell_length(w, st.get())

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()

    def row_text(self) -> str:
        return self.render_line(0).text
