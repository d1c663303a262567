"""Orders, positions, balances and activity tables, updated by diffing.

Each ``show(...)`` compares the new rows with what the table holds, keyed by a stable id
(order id, symbol, asset): vanished keys are removed, changed cells updated with
``update_cell``, new keys added; called inside the pump's ``batch_update`` it is one paint, and
the cursor stays on the same order while prices change around it (tui-guide §C3: DataTable for
tens to hundreds of rows, never for the book).
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from core.market_state import AccountView, Balance, OpenOrder, Position


class DiffTable(DataTable):
    """A DataTable fed whole row sets: ``sync({key: cells})`` applies only the differences."""

    COLUMNS: tuple[tuple[str, str], ...] = ()  # (key, label)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._rows: dict[str, tuple] = {}

    def on_mount(self) -> None:
        for key, label in self.COLUMNS:
            self.add_column(label, key=key)

    def sync(self, rows: dict[str, tuple]) -> bool:
        """Make the table show ``rows`` (in their order for new keys); True if anything changed."""
        changed = False
        for key in [k for k in self._rows if k not in rows]:
            self.remove_row(key)
            del self._rows[key]
            changed = True
        cols = [c for c, _ in self.COLUMNS]
        for key, cells in rows.items():
            old = self._rows.get(key)
            if old is None:
                self.add_row(*cells, key=key)
                changed = True
            elif old != cells:
                for col, a, b in zip(cols, old, cells):
                    if a != b:
                        self.update_cell(key, col, b)
                changed = True
            self._rows[key] = cells
        return changed

    def keys(self) -> list[str]:
        return list(self._rows)

    def highlighted_key(self) -> str | None:
        if not self._rows or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        return self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value

    def row_cells(self, key: str) -> tuple | None:
        return self._rows.get(key)


def _dash(value: str | None) -> str:
    return value if value is not None else "-"


class OrdersTable(DiffTable):
    """Open orders of the account; ``c`` cancel, ``m`` modify the highlighted one."""

    COLUMNS = (
        ("id", "Id"),
        ("symbol", "Symbol"),
        ("side", "Side"),
        ("type", "Type"),
        ("price", "Price"),
        ("stop", "Stop"),
        ("qty", "Qty"),
        ("leaves", "Leaves"),
        ("tif", "TIF"),
        ("status", "Status"),
    )
    BINDINGS = [
        Binding("c", "cancel", "Cancel order", id="order.cancel"),
        Binding("m", "modify", "Modify order", id="order.modify"),
    ]

    class CancelRequested(Message):
        def __init__(self, order_id: str) -> None:
            super().__init__()
            self.order_id = order_id

    class ModifyRequested(Message):
        def __init__(self, order: OpenOrder) -> None:
            super().__init__()
            self.order = order

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.orders: dict[str, OpenOrder] = {}

    def show(self, account: AccountView | None) -> bool:
        orders = account.orders if account else ()
        self.orders = {o.id: o for o in orders}
        return self.sync(
            {
                o.id: (o.id, o.symbol, o.side, o.type, _dash(o.price), _dash(o.stop_price), o.qty, o.leaves, o.tif, o.status)
                for o in orders
            }
        )

    def highlighted_order(self) -> OpenOrder | None:
        key = self.highlighted_key()
        return self.orders.get(key) if key else None

    def action_cancel(self) -> None:
        order = self.highlighted_order()
        if order is None:
            self.notify("No order selected", severity="warning")
            return
        self.post_message(self.CancelRequested(order.id))

    def action_modify(self) -> None:
        order = self.highlighted_order()
        if order is None:
            self.notify("No order selected", severity="warning")
            return
        self.post_message(self.ModifyRequested(order))


class PositionsTable(DiffTable):
    COLUMNS = (("symbol", "Symbol"), ("qty", "Qty"), ("avg", "Avg price"), ("upnl", "Unrealised PnL"), ("rpnl", "Realised PnL"))

    def show(self, account: AccountView | None) -> bool:
        positions: Sequence[Position] = account.positions if account else ()
        return self.sync({p.symbol: (p.symbol, p.qty, _dash(p.avg_price), _dash(p.unrealised_pnl), p.realised_pnl) for p in positions})


class BalancesTable(DiffTable):
    COLUMNS = (("asset", "Asset"), ("available", "Available"), ("held", "Held"))

    def show(self, account: AccountView | None) -> bool:
        balances: Sequence[Balance] = account.balances if account else ()
        return self.sync({b.asset: (b.asset, b.available, b.held) for b in balances})


class ActivityTable(DataTable):
    """The account's discrete events (acks, fills, rejects with reasons, cancels, halts), newest
    last, bounded."""

    MAX_ROWS = 500

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.n = 0

    def on_mount(self) -> None:
        for key, label in (("n", "#"), ("event", "Event"), ("id", "Order"), ("detail", "Detail")):
            self.add_column(label, key=key)

    def add_events(self, rows: Sequence[tuple[str, str, str]]) -> None:
        for event, oid, detail in rows:
            self.n += 1
            self.add_row(str(self.n), event, oid, detail, key=str(self.n))
        while self.row_count > self.MAX_ROWS:
            self.remove_row(str(self.n - self.row_count + 1))
        if rows:
            self.move_cursor(row=self.row_count - 1, animate=False)
