"""F1 / ?: every key as it works now (after ``[keys]`` remapping), read from the live bindings."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from tui.keymap import LiveBinding, live_bindings


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 100; max-width: 98%; height: 90%; border: thick $primary; background: $surface; padding: 0 1; }
    HelpScreen DataTable { height: 1fr; }
    """
    BINDINGS = [Binding("escape,q,f1,question_mark", "close", "Close", id="help.close")]

    def __init__(self, bindings: list[LiveBinding] | None = None) -> None:
        super().__init__()
        self._given = bindings

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Keys (remap any id under [keys] in the config file; ctrl+p: command palette)", id="title")
            yield DataTable(id="keys", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        rows = self._given if self._given is not None else live_bindings(self.app)
        table = self.query_one(DataTable)
        for col in ("Keys", "Action", "Where", "Id"):
            table.add_column(col, key=col.lower())
        for b in sorted(rows, key=lambda b: (b.where != "global", b.where, b.binding_id)):
            table.add_row(b.keys, b.description, b.where, b.binding_id)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
