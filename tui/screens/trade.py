"""The Trade screen: ticker, ladder, candles (+ volume), tape, depth, account tables, status.

Data flow: one pump tick (``tui.pump.PumpedScreen``, ``[ui] refresh_hz``) pulls the current
symbol's ``MarketView``, every symbol's view for the ticker, the ``AccountView`` and the new
account events, and hands each widget its snapshot with ``show(...)`` only when its version
changed. Orders go out through ``app.source.submit`` and come back as engine events on the
same pull (acks, fills, rejects with reasons): they are shown as notifications and in the
Activity table, and the open-orders/positions/balances tables diff themselves.

Keys (ids in brackets, remappable under ``[keys]``): b/s order ticket at the ladder cursor
[order.buy/order.sell], ctrl+x or C cancel all for the symbol [order.cancel-all], on the orders
table c cancel [order.cancel] and m modify [order.modify]; [ and ] previous/next symbol
[symbol.prev/symbol.next]; t timeframe [chart.timeframe]; l/o/p/w/e focus ladder, orders,
positions, balances (wallet), events [focus.*].
"""

from __future__ import annotations

from collections import deque

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import var
from textual.widgets import Footer, TabbedContent, TabPane

from core.market_state import AccountView, MarketView
from tui.activity import own_sides, summarise
from tui.pump import PumpedScreen
from tui.screens.modify import ModifyOrderModal
from tui.screens.order_ticket import OrderTicket
from tui.widgets.account_tables import ActivityTable, BalancesTable, OrdersTable, PositionsTable
from tui.widgets.candles import TIMEFRAMES, CandleChart
from tui.widgets.depth import DepthChart
from tui.widgets.ladder import Ladder
from tui.widgets.status_bar import StatusBar
from tui.widgets.tape import Tape
from tui.widgets.ticker import TickerBar

HEALTH_EVERY = 8  # pump ticks between health pulls (about twice a second)
FILLS_KEPT = 1000  # own fills per symbol marked on the chart
CHART_EVERY = 2  # pump ticks between candle/depth redraws


class TradeScreen(PumpedScreen):
    """The default mode."""

    CSS_PATH = "trade.tcss"
    BINDINGS = [
        Binding("b", "ticket('buy')", "Buy", id="order.buy"),
        Binding("s", "ticket('sell')", "Sell", id="order.sell"),
        Binding("ctrl+x,C", "cancel_all", "Cancel all", id="order.cancel-all"),
        Binding("left_square_bracket", "symbol(-1)", "Prev symbol", show=False, id="symbol.prev"),
        Binding("right_square_bracket", "symbol(1)", "Next symbol", show=False, id="symbol.next"),
        Binding("t", "timeframe", "Timeframe", show=False, id="chart.timeframe"),
        Binding("l", "focus_pane('ladder')", "Ladder", show=False, id="focus.ladder"),
        Binding("o", "focus_pane('orders')", "Orders", show=False, id="focus.orders"),
        Binding("p", "focus_pane('positions')", "Positions", show=False, id="focus.positions"),
        Binding("w", "focus_pane('balances')", "Balances", show=False, id="focus.balances"),
        Binding("e", "focus_pane('activity')", "Events", show=False, id="focus.activity"),
    ]

    symbol: var[str] = var("")

    def __init__(self) -> None:
        super().__init__()
        self._event_seq = 0
        self._view_seen_at: float | None = None
        self._ticks = 0
        self._health: dict[str, dict] | None = None
        self._own: dict[str, dict[int, int]] = {}
        self._fills: dict[str, deque[tuple[int, str]]] = {}  # symbol -> own fills (ts, side)

    # --- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield TickerBar(id="ticker")
        with Horizontal(id="main"):
            yield Ladder(id="ladder", clock=self.app.wall_clock)
            with Vertical(id="center"):
                yield CandleChart(self.app.settings.ui.timeframe, id="candles")
                yield DepthChart(id="depth")
            yield Tape(id="tape")
        with TabbedContent(id="account", initial="tab-orders"):
            with TabPane("Orders", id="tab-orders"):
                yield OrdersTable(id="orders")
            with TabPane("Positions", id="tab-positions"):
                yield PositionsTable(id="positions")
            with TabPane("Balances", id="tab-balances"):
                yield BalancesTable(id="balances")
            with TabPane("Activity", id="tab-activity"):
                yield ActivityTable(id="activity")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        src = self.app.source
        wanted = self.app.settings.ui.symbol
        self.symbol = wanted if wanted in src.symbols else src.symbols[0]
        self.query_one(TickerBar).select(self.symbol)
        self.query_one(Ladder).focus()
        self._layout_for(self.size.width, self.size.height)
        super().on_mount()

    def on_resize(self, event) -> None:
        self._layout_for(event.size.width, event.size.height)

    def _layout_for(self, width: int, height: int) -> None:
        """Collapse panels on small terminals: 80x24 keeps ladder, chart, tables, status."""
        self.set_class(width < 110, "-narrow")
        self.set_class(width < 90, "-tiny")
        self.set_class(height < 32, "-short")
        self.set_class(width >= 170 and height >= 50, "-wide")

    def watch_symbol(self, old: str, new: str) -> None:
        if old and old != new:
            self.gate.forget()
        self.sub_title = new
        if self.is_mounted:
            self.query_one(TickerBar).select(new)

    # --- the pump ------------------------------------------------------------------------
    def pump(self) -> None:
        src = self.app.source
        clock = self.app.wall_clock
        symbols = src.symbols  # a feed source builds the list on each read: once per tick
        self._follow_symbols(symbols)
        acct = src.account()
        if acct is not None and self.gate.changed("account", acct.version):
            self._show_account(acct)
            self.gate.forget("view")  # own-order marks on the ladder
        self._pull_events(acct)  # before the charts: a new fill is marked on this tick's chart
        view = src.state.view(self.symbol)
        if view is not None and self.gate.changed("view", (self.symbol, view.version)):
            self._show_view(view)
            self._view_seen_at = clock()
        # The charts are the costliest redraws and the least urgent: half the pump rate.
        charts_due = self.forced or self._ticks % CHART_EVERY == 0
        if view is not None and charts_due and self.gate.changed("charts", (self.symbol, view.version)):
            chart = self.query_one(CandleChart)
            chart.set_fills(self._fills.get(self.symbol, ()), redraw=False)
            chart.show(view)
            self.query_one(DepthChart).show(view)
        ticker = self.query_one(TickerBar)
        views = [v for v in (src.state.view(s) for s in symbols) if v is not None]
        if self.gate.changed("ticker", tuple(v.version for v in views)):
            ticker.show(views)
        if self._ticks % HEALTH_EVERY == 0:
            self._health = src.health()
        self._ticks += 1
        age = (clock() - self._view_seen_at) * 1000 if self._view_seen_at is not None else None
        self.query_one(StatusBar).show(
            source=src.name,
            health=self._health,
            trading_state=acct.trading_state if acct else ("read-only" if not src.can_trade else "-"),
            fee_tier=acct.fee_tier if acct else "",
            clock_ns=src.clock_ns(),
            age_ms=age,
            pump_ms=self.last_pump_ms,
            note=self._halted_symbols(acct),
            force=self.forced,
        )

    def _show_view(self, view: MarketView) -> None:
        self.query_one(Ladder).show(view, self._own.get(view.symbol, {}))
        self.query_one(Tape).show(view)

    def _show_account(self, acct: AccountView) -> None:
        self.query_one(OrdersTable).show(acct)
        self.query_one(PositionsTable).show(acct)
        self.query_one(BalancesTable).show(acct)
        own: dict[str, dict[int, int]] = {}
        for o in acct.orders:
            if o.price_ticks is not None:
                lots = o.leaves_lots if o.side == "buy" else -o.leaves_lots
                book = own.setdefault(o.symbol, {})
                book[o.price_ticks] = book.get(o.price_ticks, 0) + lots
        self._own = own

    def _pull_events(self, acct: AccountView | None) -> None:
        src = self.app.source
        account = getattr(src, "account_name", None)
        seq, events = src.state.events_since(self._event_seq)
        self._event_seq = seq
        if not events or account is None:
            return
        self._note_fills(events, account)
        notices = summarise(events, account)
        self.query_one(ActivityTable).add_events([n.row() for n in notices])
        for n in notices[-5:]:  # a burst (kill switch on many orders) is in the table anyway
            self.notify(n.message(), severity=n.severity, timeout=4 if n.severity != "error" else 8)

    def _note_fills(self, events: list[dict], account: str) -> None:
        """Keep the account's fills per symbol for the chart's markers; a fill on the shown
        symbol redraws the chart on the next charts tick even if the market view is unchanged."""
        for ev in events:
            if ev.get("event") == "trade":
                for _, side in own_sides(ev, account):
                    self._fills.setdefault(ev["symbol"], deque(maxlen=FILLS_KEPT)).append((ev["ts"], side))
                    if ev["symbol"] == self.symbol:
                        self.gate.forget("charts")

    @staticmethod
    def _halted_symbols(acct: AccountView | None) -> str:
        if not acct or not acct.symbol_states:
            return ""
        return "symbols: " + ", ".join(f"{s} {st}" for s, st in acct.symbol_states)

    # --- orders --------------------------------------------------------------------------
    def _require_trading(self) -> bool:
        src = self.app.source
        if not src.can_trade:
            self.notify(f"{src.name} is read-only: no account to trade with (use --source sim)", severity="warning")
            return False
        return True

    def action_ticket(self, side: str) -> None:
        if not self._require_trading():
            return
        self.app.push_screen(OrderTicket(self.symbol, side, self._ticket_price(side)), callback=self.send)

    def _ticket_price(self, side: str) -> str | None:
        """The level the user picked on the ladder; while the ladder follows the market (no level
        picked, or home pressed) the passive touch: best bid for a buy, best ask for a sell."""
        ladder = self.query_one(Ladder)
        if not ladder.follow or ladder.view is None:
            return ladder.cursor_price
        view = ladder.view
        touch = view.best_bid if side == "buy" else view.best_ask
        return touch if touch is not None else ladder.cursor_price

    def send(self, cmd: dict | None) -> None:
        self.app.send(cmd)

    def action_cancel_all(self) -> None:
        if not self._require_trading():
            return
        n = sum(1 for o in self.query_one(OrdersTable).orders.values() if o.symbol == self.symbol)
        if n == 0:
            self.notify(f"No open orders on {self.symbol}", severity="information")
            return
        self.send({"op": "cancel_all", "symbol": self.symbol})

    @on(OrdersTable.CancelRequested)
    def _cancel(self, message: OrdersTable.CancelRequested) -> None:
        self.send({"op": "cancel", "id": message.order_id})

    @on(OrdersTable.ModifyRequested)
    def _modify(self, message: OrdersTable.ModifyRequested) -> None:
        self.app.push_screen(ModifyOrderModal(message.order), callback=self.send)

    # --- navigation ----------------------------------------------------------------------
    def _follow_symbols(self, symbols: list[str]) -> None:
        """Keep showing the same market when the source renames its symbols: a feed source
        lists the names it was asked for (``BTCUSDT``) until the exchange has said the unified
        ones (``BTC/USDT``), and the screen picked its symbol from the first list."""
        if not symbols or self.symbol in symbols:
            return
        same = [s for s in symbols if _compact(s) == _compact(self.symbol)]
        wanted = self.app.settings.ui.symbol
        self.symbol = same[0] if same else (wanted if wanted in symbols else symbols[0])

    def action_symbol(self, step: int) -> None:
        syms = self.app.source.symbols
        here = syms.index(self.symbol) if self.symbol in syms else -step
        self.symbol = syms[(here + step) % len(syms)]

    def action_timeframe(self) -> None:
        chart = self.query_one(CandleChart)
        frames = list(TIMEFRAMES)
        chart.timeframe = frames[(frames.index(chart.timeframe) + 1) % len(frames)]

    def action_focus_pane(self, pane: str) -> None:
        if pane == "ladder":
            self.query_one(Ladder).focus()
            return
        self.query_one(TabbedContent).active = f"tab-{pane}"
        self.query_one(f"#{pane}").focus()


def _compact(symbol: str) -> str:
    """``BTC/USDT``, ``BTCUSDT`` and ``btc-usdt`` alike: letters and digits of the pair."""
    return "".join(ch for ch in symbol.split(":")[0].upper() if ch.isalnum())
