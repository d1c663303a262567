"""Order ticket: a keyboard-only modal that returns one journal ``new`` command (or None).

``OrderTicket(symbol, side, price)`` reads ``self.app.source``: its instrument for the grid,
its latest ``MarketView`` for the preview (``core.preview``: average fill, slippage vs the
mid, fee, notional from the visible book) and ``source.precheck(cmd)`` for the engine's own
verdict (which risk checks would reject, with the reason code and message, and the fee tier and
rate). The form's rules (grid rounding, which fields a type takes) live in ``tui.orderform``.

Keys: Tab / Shift+Tab move between fields; ←/→ (or space) change a choice (side, type, time in
force, post-only); 1-4 (on a choice) or F5-F8 (anywhere) set the quantity to 10/25/50/100% of
the available balance; Enter sends; Esc cancels.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from core.orders import ORDER_TYPES
from core.preview import Preview, preview_for
from tui.orderform import PRESET_PERCENTS, Built, OrderForm, build, preset_qty

PRECHECK_EVERY_S = 0.5


class Choice(Static, can_focus=True):
    """A focusable ``< value >`` picker: ←/→ or space cycle through ``options``."""

    DEFAULT_CSS = """
    Choice { width: auto; min-width: 10; height: 1; padding: 0 1; background: $boost; }
    Choice:focus { background: $cursor-bg; text-style: bold; }
    """
    BINDINGS = [
        Binding("right,space", "step(1)", "Next", show=False),
        Binding("left", "step(-1)", "Previous", show=False),
    ]

    value: reactive[str] = reactive("")

    class Changed(Message):
        def __init__(self, choice: Choice, value: str) -> None:
            super().__init__()
            self.choice = choice
            self.value = value

    def __init__(self, options: Sequence[str], value: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.options = tuple(options)
        self.set_reactive(Choice.value, value)

    def render(self) -> str:
        return f"‹ {self.value} ›"

    def set_options(self, options: Sequence[str], value: str | None = None) -> None:
        self.options = tuple(options)
        if value is not None or self.value not in self.options:
            self.value = value if value is not None else self.options[0]

    def action_step(self, n: int) -> None:
        i = self.options.index(self.value) if self.value in self.options else 0
        self.value = self.options[(i + n) % len(self.options)]

    def watch_value(self, value: str) -> None:
        self.post_message(self.Changed(self, value))


class OrderTicket(ModalScreen[dict | None]):
    """Returns the pinned journal ``new`` command (with a fresh id) on Enter, None on Esc."""

    DEFAULT_CSS = """
    OrderTicket { align: center middle; }
    OrderTicket > #ticket { width: 84; max-width: 100%; height: auto; max-height: 100%; border: thick $primary; background: $surface; padding: 0 1; }
    OrderTicket .row { height: 1; }
    OrderTicket Label.name { width: 10; color: $foreground-muted; }
    OrderTicket Label.gap { width: 2; }
    OrderTicket Input { width: 16; height: 1; border: none; padding: 0 1; background: $boost; }
    OrderTicket Input:focus { border: none; background: $cursor-bg; }
    OrderTicket #title { text-style: bold; height: 1; margin-bottom: 1; }
    OrderTicket #title.-buy { color: $bid; }
    OrderTicket #title.-sell { color: $ask; }
    OrderTicket #preview { height: auto; border-top: solid $panel; }
    OrderTicket #checks { height: auto; }
    OrderTicket #checks.-ok { color: $success; }
    OrderTicket #checks.-bad { color: $error; }
    OrderTicket #notes { height: auto; color: $warning; }
    OrderTicket #errors { height: auto; color: $error; }
    OrderTicket #keys { height: 1; color: $foreground-muted; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="ticket.cancel"),
        Binding("enter", "send", "Send", id="ticket.send"),
        # Digits reach these only when the focus is on a choice (an input takes them as text).
        Binding("f5,1", "preset(0)", "10%", show=False, id="ticket.preset-10"),
        Binding("f6,2", "preset(1)", "25%", show=False, id="ticket.preset-25"),
        Binding("f7,3", "preset(2)", "50%", show=False, id="ticket.preset-50"),
        Binding("f8,4", "preset(3)", "100%", show=False, id="ticket.preset-100"),
    ]

    def __init__(self, symbol: str, side: str, price: str | None) -> None:
        super().__init__()
        if side not in ("buy", "sell"):
            raise ValueError(f"side must be buy or sell, got {side!r}")
        self.symbol = symbol
        self.form = OrderForm(symbol=symbol, side=side, price=price or "")
        self.order_id = f"t{uuid.uuid4().hex[:16]}"
        self.built: Built | None = None
        self.preview: Preview | None = None
        self.precheck: dict | None = None  # the source's last verdict for the current command
        self._prechecked: dict | None = None  # the command that verdict is for
        self._view_version = -1

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        f = self.form
        with Vertical(id="ticket"):
            yield Label("", id="title")
            with Horizontal(classes="row"):
                yield Label("Side", classes="name")
                yield Choice(("buy", "sell"), f.side, id="side")
                yield Label("", classes="gap")
                yield Label("Type", classes="name")
                yield Choice(ORDER_TYPES, f.type, id="type")
            with Horizontal(classes="row"):
                yield Label("Quantity", classes="name")
                yield Input(f.qty, placeholder="qty", id="qty")
                yield Label("", classes="gap")
                yield Label("Price", classes="name")
                yield Input(f.price, placeholder="limit price", id="price")
            with Horizontal(classes="row"):
                yield Label("Stop", classes="name")
                yield Input(placeholder="stop price", id="stop_price")
                yield Label("", classes="gap")
                yield Label("Trail", classes="name")
                yield Input(placeholder="25 or 1.5%", id="trail")
            with Horizontal(classes="row"):
                yield Label("TIF", classes="name")
                yield Choice(f.tifs(), f.tif, id="tif")
                yield Label("", classes="gap")
                yield Label("Expiry", classes="name")
                yield Input(f.expiry, placeholder="30s 5m 2h 1d", id="expiry")
            with Horizontal(classes="row"):
                yield Label("Post-only", classes="name")
                yield Choice(("no", "yes"), "no", id="post_only")
                yield Label("", classes="gap")
                yield Label("Iceberg", classes="name")
                yield Input(placeholder="display qty", id="display_qty")
            yield Static("", id="preview")
            yield Static("", id="checks")
            yield Static("", id="notes")
            yield Static("", id="errors")
            yield Label("Enter send · Esc cancel · Tab field · ←/→ choose · 1-4/F5-F8 qty 10-100%", id="keys")

    def on_mount(self) -> None:
        if not self.form.price:
            # No cursor price: start from the touch on the side this order would take.
            view = self._source().state.view(self.symbol)
            touch = (view.best_ask if self.form.side == "buy" else view.best_bid) if view else None
            if touch:
                self.form.price = touch
                self.query_one("#price", Input).value = touch
        self._sync_fields()
        self.query_one("#qty", Input).focus()
        self.set_interval(PRECHECK_EVERY_S, self._tick)
        self._update()

    # ------------------------------------------------------------------ form events
    @on(Choice.Changed)
    def _choice(self, event: Choice.Changed) -> None:
        name = event.choice.id
        if name == "post_only":
            self.form.post_only = event.value == "yes"
        elif name in ("side", "type", "tif"):
            setattr(self.form, name, event.value)
        if name == "type":
            tif = self.query_one("#tif", Choice)
            options = self.form.tifs()
            if options != tif.options:  # resting <-> immediate: back to the new type's default
                tif.set_options(options, options[0])
            self.form.tif = tif.value
        self._sync_fields()
        self._update()

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        setattr(self.form, event.input.id, event.value)
        self._update()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_send()

    def _sync_fields(self) -> None:
        """Enable only the fields the current type / tif take."""
        for name in ("price", "stop_price", "trail", "expiry", "display_qty"):
            self.query_one(f"#{name}", Input).disabled = not self.form.uses(name)
        self.query_one("#post_only", Choice).disabled = not self.form.uses("post_only")
        title = self.query_one("#title", Label)
        title.update(f"{self.form.side.upper()} {self.symbol} · {self.form.type}")
        title.set_class(self.form.side == "buy", "-buy")
        title.set_class(self.form.side == "sell", "-sell")

    # ------------------------------------------------------------------ the preview
    def _source(self):
        return self.app.source

    def _update(self) -> None:
        """Rebuild the command from the form, redraw the preview, ask for a fresh precheck."""
        src = self._source()
        ins = src.instruments.get(self.symbol)
        if ins is None:
            self.built = Built(None, errors=[f"{src.name} has no instrument {self.symbol}"])
            self._show()
            return
        account = self._account_name()
        self.built = build(self.form, ins, src.clock_ns(), self._order_id(account), account)
        self._preview()
        self._show()
        if self.built.cmd is not None and self.built.cmd != self._prechecked:
            self._run_precheck(dict(self.built.cmd))

    def _tick(self) -> None:
        """The book moves: refresh the preview and the verdict on the latest view."""
        view = self._source().state.view(self.symbol)
        if view is not None and view.version != self._view_version:
            self._prechecked = None
            self._update()

    def _preview(self) -> None:
        src, built = self._source(), self.built
        view = src.state.view(self.symbol)
        self.preview = None
        if view is None or built is None or not built.lots:
            return
        self._view_version = view.version
        rate = (self.precheck or {}).get("fee_rate") or "0"
        limit = built.limit_ticks if self.form.uses("price") else None
        if self.form.uses("price") and limit is None:
            return
        self.preview = preview_for(view, src.instruments[self.symbol], self.form.side, built.lots, limit, rate)

    def _show(self) -> None:
        self.query_one("#preview", Static).update(self._preview_text())
        checks = self.query_one("#checks", Static)
        text, ok = self._checks_text()
        checks.update(text)
        checks.set_class(ok is True, "-ok")
        checks.set_class(ok is False, "-bad")
        built = self.built
        self.query_one("#notes", Static).update("\n".join(built.notes) if built else "")
        self.query_one("#errors", Static).update("\n".join(built.errors) if built else "")

    def _preview_text(self) -> str:
        p, ins = self.preview, self._source().instruments.get(self.symbol)
        if p is None or ins is None:
            return "preview: enter a quantity" + (" and a price" if self.form.uses("price") else "")
        quote = ins.quote.code
        when = "if triggered now: " if self.form.type in ("stop_market", "take_profit_market", "trailing_stop_market", "stop_limit", "take_profit_limit") else ""
        if not p.filled_lots:
            rest = "rests in the book (maker)" if self.form.uses("price") else "no visible liquidity"
            return f"preview: {when}0 of {ins.fmt_qty(p.requested_lots)} fills now; {rest}"
        stop = {"limit": "the rest rests at the limit", "book": "the visible book runs out"}.get(p.stopped_by or "", "")
        fee_rate = (self.precheck or {}).get("fee_rate")
        tier = (self.precheck or {}).get("tier")
        fee = f"fee {p.fee} {quote} ({tier} {(self.precheck or {}).get('liquidity', '')} {fee_rate})" if fee_rate else "fee: waiting for the account's rate"
        lines = [
            f"preview: {when}fills {p.filled_qty} of {ins.fmt_qty(p.requested_lots)} @ avg {p.avg_price} "
            f"over {p.levels_used} level{'s' if p.levels_used != 1 else ''} (worst {p.worst_price})",
            f"slippage {p.slippage_bps_vs_mid} bps vs mid {p.mid} · notional {p.notional} {quote} · {fee}",
        ]
        if p.partial:
            lines.append(f"partial: {stop}")
        return "\n".join(lines)

    def _checks_text(self) -> tuple[str, bool | None]:
        src = self._source()
        if not getattr(src, "can_trade", True):
            return f"{src.name} cannot trade (read-only source): the order would be refused", False
        if self.built is None or self.built.cmd is None:
            return "checks: fix the form first", None
        pc = self.precheck
        if pc is None or self._prechecked != self.built.cmd:
            return "checks: asking the engine…", None
        if "error" in pc:
            return f"checks unavailable: {pc['error']}", False
        if pc.get("ok"):
            return "checks: ✓ the engine would accept this order", True
        return "\n".join(f"✗ {r['reason']}: {r['message']}" for r in pc.get("rejects", [])), False

    @work(exclusive=True, group="ticket-precheck")
    async def _run_precheck(self, cmd: dict) -> None:
        try:
            result = await asyncio.wrap_future(self._source().precheck(cmd))
        except Exception as exc:  # a read-only source refuses; a stopped worker fails
            result = {"error": str(exc) or type(exc).__name__}
        self.precheck = result
        self._prechecked = cmd
        self._preview()  # the fee rate may have arrived
        self._show()

    # ------------------------------------------------------------------ identity
    def _account_name(self) -> str | None:
        src = self._source()
        acct = src.account() if hasattr(src, "account") else None
        if acct is not None:
            return acct.account
        return getattr(src, "account_name", None)

    def _order_id(self, account: str | None) -> str:
        return f"{account}-{self.order_id}" if account else self.order_id

    # ------------------------------------------------------------------ actions
    def action_preset(self, k: int) -> None:
        src = self._source()
        ins = src.instruments.get(self.symbol)
        acct = src.account() if hasattr(src, "account") else None
        if ins is None or acct is None:
            self.notify("no account balance to size from", severity="warning")
            return
        price = self.form.price if self.form.uses("price") else None
        if not price:
            view = src.state.view(self.symbol)
            price = (view.best_ask if self.form.side == "buy" else view.best_bid) if view else None
        available = {b.asset: b.available for b in acct.balances}
        qty = preset_qty(PRESET_PERCENTS[k], self.form.side, ins, available, price)
        if qty is None:
            self.notify(f"{PRESET_PERCENTS[k]}% of the balance is below one lot", severity="warning")
            return
        self.query_one("#qty", Input).value = qty

    def action_send(self) -> None:
        self._update()
        if self.built is None or self.built.cmd is None:
            self.notify("; ".join(self.built.errors) if self.built else "nothing to send", severity="error")
            return
        self.dismiss(dict(self.built.cmd))

    def action_cancel(self) -> None:
        self.dismiss(None)
