"""Journal and alerts: the discrete events of the current source, newest at the bottom, filterable.

What arrives through ``source.state``'s event channel: the engine's events for your account
(fills, acks, rejects with their reason codes and messages, cancels, expiries), risk state changes
(halted, resumed, account/symbol states, breakers), surveillance flags, and the feed sources'
gaps, resyncs, crossed books and bad checksums. The screen pulls ``state.events_since(seq)`` on a
timer (never a message per event) and keeps the last ``MAX_ROWS``.

Filter (the input at the top, ``/`` focuses it): words separated by spaces, all must match;
``kind:fill`` (or ``k:reject``...) keeps one category -- ``fill``, ``reject``, ``order``, ``risk``,
``surveillance``, ``feed``, ``other`` -- and any other word must appear in the row (case-insensitive).
"""

from __future__ import annotations

from collections import deque

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Input, Static

from tui.pump import PumpedScreen

MAX_ROWS = 2_000
PULL_EVERY = 4  # pump ticks between pulls
KINDS = {
    "trade": "fill",
    "rejected": "reject",
    "accepted": "order", "canceled": "order", "canceled_all": "order", "modified": "order", "expired": "order",
    "triggered": "order", "refilled": "order", "decremented": "order",
    "halted": "risk", "resumed": "risk", "state": "risk", "breaker_set": "risk", "limits_set": "risk", "account_set": "risk",
    "surveillance": "surveillance",
}
CATEGORIES = ("fill", "reject", "order", "risk", "surveillance", "feed", "other")
_SKIP = {"event", "ts", "symbol", "cmd", "seq"}


def kind_of(ev: dict) -> str:
    name = str(ev.get("event", ""))
    if name.startswith("feed"):
        return "feed"
    return KINDS.get(name, "other")


def fmt_time(ts) -> str:
    """``HH:MM:SS.mmm`` of an ns timestamp (sim, exchange or replay time), ``-`` without one."""
    if not isinstance(ts, int) or ts <= 0:
        return "-"
    s = ts // 1_000_000_000
    return f"{s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{ts // 1_000_000 % 1000:03d}"


def journal_row(ev: dict) -> tuple[str, str, str, str, str]:
    """(time, kind, event, symbol, detail) for one event; the detail names the reason first."""
    detail = []
    if ev.get("reason"):
        detail.append(str(ev["reason"]))
    if ev.get("message"):
        detail.append(str(ev["message"]))
    for k, v in ev.items():
        if k in _SKIP or k in ("reason", "message") or v in (None, "", [], {}):
            continue
        detail.append(f"{k}={v}")
    return fmt_time(ev.get("ts")), kind_of(ev), str(ev.get("event", "?")), str(ev.get("symbol", "") or ""), "  ".join(detail)


class JournalFilter:
    """The parsed filter text (see the module docstring)."""

    def __init__(self, text: str = "") -> None:
        self.kinds: set[str] = set()
        self.words: list[str] = []
        for word in text.lower().split():
            key, sep, value = word.partition(":")
            if sep and key in ("kind", "k") and value:
                self.kinds.add(value)
            else:
                self.words.append(word)

    def matches(self, row: tuple[str, ...]) -> bool:
        if self.kinds and row[1] not in self.kinds:
            return False
        line = " ".join(row).lower()
        return all(w in line for w in self.words)


class JournalScreen(PumpedScreen):
    """Engine and feed events of the current source (f4)."""

    DEFAULT_CSS = """
    JournalScreen #journal-filter { height: 3; }
    JournalScreen #journal-status { height: 1; padding: 0 1; background: $panel; }
    JournalScreen DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", id="journal.filter"),
        Binding("escape", "clear_filter", "Clear filter", id="journal.clear"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.seq = 0
        self.rows: deque[tuple[str, ...]] = deque(maxlen=MAX_ROWS)
        self.filter = JournalFilter()
        self._ticks = 0

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: kind:fill|reject|order|risk|surveillance|feed and/or words", id="journal-filter")
        yield Static("", id="journal-status")
        table = DataTable(id="journal-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("Time", "Kind", "Event", "Symbol", "Detail")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(DataTable).focus()  # keys act on the screen; "/" goes to the filter

    def pump(self) -> None:
        self._ticks += 1
        if self._ticks % PULL_EVERY == 1:
            self.pull()

    def pull(self) -> None:
        """Append the events that arrived since the last pull (those passing the filter)."""
        self.seq, events = self.app.source.state.events_since(self.seq)
        if not events:
            return
        table = self.query_one(DataTable)
        for ev in events:
            row = journal_row(ev)
            if len(self.rows) == self.rows.maxlen:
                oldest = self.rows.popleft()
                if table.row_count and self.filter.matches(oldest):  # it is the table's first row
                    table.remove_row(table.coordinate_to_cell_key((0, 0)).row_key)
            self.rows.append(row)
            if self.filter.matches(row):
                table.add_row(*row)
        table.scroll_end(animate=False)
        self._status()

    def _status(self) -> None:
        shown = self.query_one(DataTable).row_count
        self.query_one("#journal-status", Static).update(f"{shown} of {len(self.rows)} events shown")

    @on(Input.Changed, "#journal-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter = JournalFilter(event.value)
        table = self.query_one(DataTable)
        table.clear()
        for row in self.rows:
            if self.filter.matches(row):
                table.add_row(*row)
        table.scroll_end(animate=False)
        self._status()

    def action_focus_filter(self) -> None:
        self.query_one("#journal-filter", Input).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#journal-filter", Input)
        box.value = ""
        self.query_one(DataTable).focus()
