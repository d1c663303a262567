"""Feed health: one row per ``<venue>:<symbol>`` of ``app.source.health()``.

Columns: state, messages/s, gaps, resyncs, checksums ok/bad, lag p50/p99 (receive time minus the
exchange's event time), age of the last book update, reconnects. A row is *stale* (drawn in the
theme's ``$warning-state``) when the source says so (``stale_now``), when its state is not a
healthy one, or when its last update is older than ``STALE_AFTER_MS``.

The screen pulls ``health()`` on the pump timer every ``HEALTH_EVERY`` ticks (about twice a
second) -- health is a summary built under the feed's lock, never something pushed per message.
Rows are diffed (``DiffTable``), so the cursor stays put while the figures change.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

from tui.pump import PumpedScreen
from tui.widgets.account_tables import DiffTable

HEALTH_EVERY = 8  # pump ticks between pulls (about 2 Hz at the default 15 Hz)
STALE_AFTER_MS = 10_000.0
HEALTHY = frozenset({"synced", "live"})


def _num(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}"


def _age(ms) -> str:
    if ms is None:
        return "-"
    return f"{ms:,.0f} ms" if ms < 10_000 else f"{ms / 1000:,.1f} s"


def is_stale(row: dict) -> bool:
    """True when the row needs the user's attention (see the module docstring)."""
    age = row.get("last_update_age_ms")
    return bool(row.get("stale_now")) or row.get("state") not in HEALTHY or (age is not None and age > STALE_AFTER_MS)


def health_cells(key: str, row: dict) -> tuple[str, ...]:
    """The table's cells for one health row (any source's naming: feed, replay or sim)."""
    lag = row.get("lag_ms") or {}
    bad = row.get("checksum_bad", row.get("checksum_failures", 0))
    rate = row.get("msgs_per_s", row.get("trades_per_s"))
    return (
        key,
        str(row.get("state", "?")),
        _num(rate),
        _num(row.get("gaps", 0)),
        _num(row.get("resyncs", 0)),
        f"{_num(row.get('checksum_ok', 0))} / {_num(bad)}",
        f"{_num(lag.get('p50'))} / {_num(lag.get('p99'))}",
        _age(row.get("last_update_age_ms")),
        _num(row.get("reconnects", 0)),
        str(row.get("history", "-")),  # exchange feeds: the candle history fetched at start
    )


class HealthTable(DiffTable):
    COLUMNS = (
        ("feed", "Feed"),
        ("state", "State"),
        ("rate", "Msgs/s"),
        ("gaps", "Gaps"),
        ("resyncs", "Resyncs"),
        ("checksum", "Checksum ok/bad"),
        ("lag", "Lag p50/p99 ms"),
        ("age", "Last update"),
        ("reconnects", "Reconnects"),
        ("history", "History"),
    )


class FeedHealthScreen(PumpedScreen):
    """Per-symbol feed health of the current source (f3)."""

    DEFAULT_CSS = """
    FeedHealthScreen #health-title { height: 1; padding: 0 1; background: $panel; }
    FeedHealthScreen HealthTable { height: 1fr; }
    """
    BINDINGS = [Binding("r", "refresh_now", "Refresh", id="health.refresh")]

    def __init__(self) -> None:
        super().__init__()
        self._ticks = 0
        self.stale_keys: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Static("", id="health-title")
        yield HealthTable(id="health-table")
        yield Footer()

    def pump(self) -> None:
        self._ticks += 1
        if self._ticks % HEALTH_EVERY == 1 or HEALTH_EVERY == 1:
            self.pull()

    def action_refresh_now(self) -> None:
        self.pull()

    def pull(self) -> None:
        """Pull ``health()`` once and redraw the rows that changed."""
        src = self.app.source
        rows = src.health()
        warn = self.app.get_css_variables().get("warning-state", "")
        cells: dict[str, tuple] = {}
        stale = set()
        for key in sorted(rows):
            row = rows[key]
            plain = health_cells(key, row)
            if is_stale(row):
                stale.add(key)
                cells[key] = tuple(Text(c, style=f"bold {warn}".strip()) for c in plain)
            else:
                cells[key] = plain
        self.stale_keys = stale
        self.query_one(HealthTable).sync(cells)
        healthy = len(rows) - len(stale)
        self.query_one("#health-title", Static).update(
            f"Feed health: {src.name}  ({healthy}/{len(rows)} healthy" + (f", {len(stale)} need attention)" if stale else ")")
        )
