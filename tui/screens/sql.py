"""SQL console: read-only queries over the market store or the source's event journal (f5).

Type a query, Enter runs it on a thread worker (DuckDB never blocks the UI; the worker only posts
its result); the result fills the table (first ``ROW_LIMIT`` rows). ``ctrl+o`` switches the target
between the market store (``trades``, ``bars``) and the journal (``journal``: the source's recent
events); ``ctrl+s`` exports the whole result of the last query to CSV or Parquet (asks for the path;
the suffix picks the format). Errors -- bad SQL, a refused write, no store, a bad path -- are shown
inline on the status line; nothing is half-written. See ``tui.sqlconsole`` for what runs.
"""

from __future__ import annotations

import time

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from tui.screens.prompt import TextPrompt
from tui.sqlconsole import ConsoleError, SqlConsole

ROW_LIMIT = 1_000


class SqlConsoleScreen(Screen):
    """Read-only SQL over the store and the journal (f5)."""

    DEFAULT_CSS = """
    SqlConsoleScreen #sql-input { height: 3; }
    SqlConsoleScreen #sql-status { height: auto; padding: 0 1; background: $panel; }
    SqlConsoleScreen #sql-status.-error { color: $error; text-style: bold; }
    SqlConsoleScreen DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("ctrl+o", "toggle_target", "Store/journal", id="sql.target"),
        Binding("ctrl+s", "export", "Export", id="sql.export"),
        Binding("slash", "focus_input", "Query", show=False, id="sql.focus"),
    ]

    class Finished(Message, bubble=False):
        """A query's outcome, posted by the worker (which never touches widgets)."""

        def __init__(self, sql: str, cols: list[str], rows: list[tuple], error: str | None, ms: float) -> None:
            super().__init__()
            self.sql, self.cols, self.rows, self.error, self.ms = sql, cols, rows, error, ms

    class Exported(Message, bubble=False):
        def __init__(self, text: str, error: bool) -> None:
            super().__init__()
            self.text, self.error = text, error

    def __init__(self) -> None:
        super().__init__()
        self.console: SqlConsole | None = None
        self.last_sql: str | None = None
        self.status_text = ""
        self.error = False

    def compose(self) -> ComposeResult:
        yield Input(placeholder="SELECT venue, symbol, count(*) FROM trades GROUP BY ALL   (Enter runs)", id="sql-input")
        yield Static("", id="sql-status")
        yield DataTable(id="sql-results", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.console = SqlConsole(self.app.settings, self.app.source)
        self._show(self._target_text(), error=False)
        self.query_one("#sql-input", Input).focus()

    def _target_text(self) -> str:
        c = self.console
        where = str(c.store_path) if c.target == "store" else f"the {self.app.source.name} event journal (table journal)"
        return f"target: {c.target} ({where})"

    def _show(self, text: str, error: bool) -> None:
        self.status_text, self.error = text, error
        status = self.query_one("#sql-status", Static)
        status.update(text)
        status.set_class(error, "-error")

    # --- running -----------------------------------------------------------------------------
    @on(Input.Submitted, "#sql-input")
    def _run(self, event: Input.Submitted) -> None:
        sql = event.value.strip()
        self._show(f"running on {self.console.target}...", error=False)
        self._query(sql)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sql")
    def _query(self, sql: str) -> None:
        t0 = time.perf_counter()
        try:
            cols, rows = self.console.query(sql, limit=ROW_LIMIT)
            error = None
        except ConsoleError as exc:
            cols, rows, error = [], [], str(exc)
        self.post_message(self.Finished(sql, cols, rows, error, (time.perf_counter() - t0) * 1000))

    @on(Finished)
    def _finished(self, msg: Finished) -> None:
        if msg.error is not None:
            self._show(f"error: {msg.error}", error=True)
            return
        self.last_sql = msg.sql
        table = self.query_one("#sql-results", DataTable)
        table.clear(columns=True)
        table.add_columns(*msg.cols)
        table.add_rows([tuple("NULL" if v is None else str(v) for v in row) for row in msg.rows])
        more = f" (first {ROW_LIMIT}; export for all)" if len(msg.rows) >= ROW_LIMIT else ""
        self._show(f"{len(msg.rows)} rows{more} in {msg.ms:.0f} ms on {self.console.target}", error=False)

    # --- actions -----------------------------------------------------------------------------
    def action_toggle_target(self) -> None:
        self.console.toggle()
        self._show(self._target_text(), error=False)

    def action_focus_input(self) -> None:
        self.query_one("#sql-input", Input).focus()

    def action_export(self) -> None:
        if not self.last_sql:
            self._show("error: run a query first; export writes the whole result of the last one", error=True)
            return
        sql = self.last_sql

        def chosen(path: str | None) -> None:
            if path:
                self._export(sql, path)

        prompt = TextPrompt(f"Export the result of: {sql[:60]}", "/path/to/result.csv or .parquet")
        self.app.push_screen(prompt, callback=chosen)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sql-export")
    def _export(self, sql: str, path: str) -> None:
        try:
            target, n = self.console.export(sql, path)
            self.post_message(self.Exported(f"exported {n} rows to {target}", error=False))
        except ConsoleError as exc:
            self.post_message(self.Exported(f"error: {exc}", error=True))

    @on(Exported)
    def _exported(self, msg: Exported) -> None:
        self._show(msg.text, error=msg.error)
