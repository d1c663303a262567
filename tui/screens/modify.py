"""The small modal that amends an open order's price and quantity (the engine's ``modify``)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from core.market_state import OpenOrder
from core.numbers import NumberError, parse_decimal


class ModifyOrderModal(ModalScreen[dict | None]):
    """Returns ``{"op": "modify", "id", "price"?, "qty"?}`` with only the changed fields, or
    None (Esc, or nothing changed). Values are checked as plain decimals here; the grid, the
    band and the balance are the engine's to judge (its reject reason is shown)."""

    DEFAULT_CSS = """
    ModifyOrderModal { align: center middle; }
    ModifyOrderModal > Vertical { width: 50; max-width: 95%; height: auto; border: thick $primary; background: $surface; padding: 1 2; }
    ModifyOrderModal #error { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modify.cancel")]

    def __init__(self, order: OpenOrder) -> None:
        super().__init__()
        self.order = order

    def compose(self) -> ComposeResult:
        o = self.order
        with Vertical():
            yield Label(f"Modify {o.id}: {o.side} {o.type} {o.symbol}", id="title")
            yield Label("Price")
            yield Input(value=o.price or "", id="price", disabled=o.price is None)
            yield Label("Quantity (total; the filled part stays filled)")
            yield Input(value=o.qty, id="qty")
            yield Label("", id="error")
            yield Label("Enter: send  Esc: cancel")

    def on_mount(self) -> None:
        self.query_one("#price" if self.order.price is not None else "#qty", Input).focus()

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        cmd: dict = {"op": "modify", "id": self.order.id}
        for field in ("price", "qty"):
            widget = self.query_one(f"#{field}", Input)
            if widget.disabled:
                continue
            text = widget.value.strip()
            try:
                value = parse_decimal(text, field)
            except NumberError as exc:
                self.query_one("#error", Label).update(str(exc))
                return
            if value <= 0:
                self.query_one("#error", Label).update(f"{field} must be positive")
                return
            old = self.order.price if field == "price" else self.order.qty
            if old is None or parse_decimal(old, field) != value:
                cmd[field] = text
        self.dismiss(cmd if len(cmd) > 2 else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
