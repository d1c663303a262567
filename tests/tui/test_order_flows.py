"""Every order type and time in force placed from the Trade screen's keyboard: b/s opens the
order ticket at the ladder cursor, the ticket shows the preview and the engine's verdict, Enter
sends, and the result lands in the orders / positions / activity tables. Seeded paused sim."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.tui.pilotkit import freeze_pump, make_app, settle, step
from textual.widgets import Input

from tests.widgets.test_order_ticket import choose, type_into  # the ticket's own keyboard helpers
from tui.screens.order_ticket import OrderTicket
from tui.widgets.account_tables import ActivityTable, OrdersTable, PositionsTable
from tui.widgets.candles import CandleChart

pytestmark = pytest.mark.anyio
BTC = "BTC/USDT"


def rows(table) -> list[tuple]:
    return [tuple(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


async def open_ticket(pilot, side: str) -> OrderTicket:
    await pilot.press("l", "b" if side == "buy" else "s")
    ticket = pilot.app.screen
    assert isinstance(ticket, OrderTicket)
    return ticket


async def verdict(pilot) -> tuple[str, str]:
    """The ticket's preview and checks once the engine's precheck for the current form is in."""
    ticket = pilot.app.screen
    for _ in range(100):
        await pilot.pause(0.02)
        if ticket.built and ticket.built.cmd is not None and ticket._prechecked == ticket.built.cmd:
            break
    return str(ticket.query_one("#preview").render()), str(ticket.query_one("#checks").render())


async def send(pilot) -> str:
    ticket = pilot.app.screen
    await pilot.press("enter")
    assert not isinstance(pilot.app.screen, OrderTicket)
    await settle(pilot)
    return ticket.built.cmd["id"]


def activity_of(app, oid: str) -> list[str]:
    return [r[1] for r in rows(app.screen.query_one(ActivityTable)) if r[2] == oid]


def last(app) -> Decimal:
    return Decimal(app.source.state.view(BTC).last)


async def test_market_limit_ioc_fok_post_only_from_the_keyboard(tui_settings):
    app = make_app(tui_settings)
    async with app.run_test(size=(160, 50)) as pilot:
        await freeze_pump(pilot)
        await step(pilot, 60)
        view = app.source.state.view(BTC)

        # Market buy: the preview sweeps the asks; the fill shows in activity and positions.
        await open_ticket(pilot, "buy")
        await choose(pilot, "type", "market")
        await type_into(pilot, "qty", "0.02")
        preview, checks = await verdict(pilot)
        assert preview.startswith("preview: fills 0.02000 of 0.02000 @ avg ") and "VIP0 taker 0.001" in preview
        assert checks == "checks: ✓ the engine would accept this order"
        oid = await send(pilot)
        assert activity_of(app, oid) == ["accepted", "filled"]
        assert rows(app.screen.query_one(PositionsTable))[0][:2] == (BTC, "0.02000")

        # Limit buy at the ladder cursor, three rows under the mid: it rests.
        await pilot.press("home", "down", "down", "down")
        cursor = app.screen.query_one("#ladder").cursor_price
        ticket = await open_ticket(pilot, "buy")
        assert ticket.query_one("#price", Input).value == cursor
        await type_into(pilot, "qty", "0.01")
        preview, checks = await verdict(pilot)
        assert "rests in the book (maker)" in preview and checks.startswith("checks: ✓")
        oid = await send(pilot)
        order = {r[0]: r for r in rows(app.screen.query_one(OrdersTable))}[oid]
        assert (order[2], order[3], order[4], order[8], order[9]) == ("buy", "limit", cursor, "GTC", "resting")

        # IOC sell through the bid: fills now, nothing rests.
        await open_ticket(pilot, "sell")
        await type_into(pilot, "price", view.bids[2].price)
        await choose(pilot, "tif", "IOC")
        await type_into(pilot, "qty", "0.01")
        preview, checks = await verdict(pilot)
        assert preview.startswith("preview: fills ") and checks.startswith("checks: ✓")
        oid = await send(pilot)
        assert activity_of(app, oid)[:2] == ["accepted", "filled"] and oid not in app.screen.query_one(OrdersTable).orders

        # FOK buy far bigger than the visible asks: killed whole (no fill).
        await open_ticket(pilot, "buy")
        book = app.source.state.view(BTC)
        await type_into(pilot, "price", book.asks[0].price)
        await choose(pilot, "tif", "FOK")
        await type_into(pilot, "qty", "500")
        preview, _ = await verdict(pilot)
        assert "partial" in preview
        oid = await send(pilot)
        assert "filled" not in activity_of(app, oid)
        assert oid not in app.screen.query_one(OrdersTable).orders

        # Post-only buy at the best ask would take: the ticket shows the engine's reason first.
        await open_ticket(pilot, "buy")
        await type_into(pilot, "price", app.source.state.view(BTC).best_ask)
        await choose(pilot, "post_only", "yes")
        await type_into(pilot, "qty", "0.01")
        _, checks = await verdict(pilot)
        assert checks.startswith("✗ POST_ONLY_WOULD_TAKE")
        oid = await send(pilot)
        assert activity_of(app, oid) == ["rejected"]
        last_row = rows(app.screen.query_one(ActivityTable))[-1]
        assert last_row[3].startswith("POST_ONLY_WOULD_TAKE")


async def test_conditional_orders_wait_for_their_trigger(tui_settings):
    app = make_app(tui_settings)
    async with app.run_test(size=(160, 50)) as pilot:
        await freeze_pump(pilot)
        await step(pilot, 60)
        px = last(app)
        above, below = f"{px + 200:.2f}", f"{px - 200:.2f}"
        placed = {}
        for side, typ, stop, price, trail in (
            ("buy", "stop_market", above, None, None),
            ("buy", "stop_limit", above, f"{px + 210:.2f}", None),
            ("sell", "take_profit_market", above, None, None),
            ("sell", "take_profit_limit", above, f"{px + 190:.2f}", None),
            ("sell", "trailing_stop_market", None, None, "500"),
        ):
            await open_ticket(pilot, side)
            await choose(pilot, "type", typ)
            await type_into(pilot, "qty", "0.01")
            if stop:
                await type_into(pilot, "stop_price", stop)
            if price:
                await type_into(pilot, "price", price)
            if trail:
                await type_into(pilot, "trail", trail)
            preview, checks = await verdict(pilot)
            assert preview.startswith("preview: if triggered now: "), (typ, preview)
            assert checks == "checks: ✓ the engine would accept this order", (typ, checks)
            placed[await send(pilot)] = (side, typ, stop, price)
        table = {r[0]: r for r in rows(app.screen.query_one(OrdersTable))}
        for oid, (side, typ, stop, price) in placed.items():
            r = table[oid]
            assert (r[2], r[3], r[9]) == (side, typ, "pending"), r
            if stop:
                assert r[5] == stop
            if price:
                assert r[4] == price
        # A stop already reached is refused by the engine, shown in the ticket before sending.
        await open_ticket(pilot, "buy")
        await choose(pilot, "type", "stop_market")
        await type_into(pilot, "qty", "0.01")
        await type_into(pilot, "stop_price", below)
        _, checks = await verdict(pilot)
        assert checks.startswith("✗ WOULD_TRIGGER_IMMEDIATELY")
        await pilot.press("escape")
        assert not isinstance(app.screen, OrderTicket)


async def test_gtd_order_expires_on_the_simulated_clock(tui_settings):
    app = make_app(tui_settings)
    async with app.run_test(size=(160, 50)) as pilot:
        await freeze_pump(pilot)
        await step(pilot, 60)
        await open_ticket(pilot, "buy")
        await type_into(pilot, "price", f"{last(app) - 500:.2f}")  # far from the market: only time ends it
        await choose(pilot, "tif", "GTD")
        await type_into(pilot, "expiry", "10s")
        await type_into(pilot, "qty", "0.01")
        _, checks = await verdict(pilot)
        assert checks.startswith("checks: ✓")
        oid = await send(pilot)
        assert {r[0]: r for r in rows(app.screen.query_one(OrdersTable))}[oid][8] == "GTD"
        await step(pilot, 110)  # 11 simulated seconds
        await settle(pilot)
        assert oid not in app.screen.query_one(OrdersTable).orders
        assert activity_of(app, oid)[-1] == "expired"


async def close_ticket(pilot) -> None:
    await pilot.press("escape")
    await pilot.pause()
    assert not isinstance(pilot.app.screen, OrderTicket)


async def test_the_ticket_joins_the_touch_while_the_ladder_follows_the_market(tui_settings):
    """No level picked: b prefills the best bid and s the best ask; once a level is picked with
    the cursor, both use it; home goes back to following."""
    app = make_app(tui_settings)
    async with app.run_test(size=(160, 50)) as pilot:
        await freeze_pump(pilot)
        await step(pilot, 60)
        view = app.screen.query_one("#ladder").view
        ticket = await open_ticket(pilot, "buy")
        assert ticket.query_one("#price", Input).value == view.best_bid
        await close_ticket(pilot)
        ticket = await open_ticket(pilot, "sell")
        assert ticket.query_one("#price", Input).value == view.best_ask
        await close_ticket(pilot)
        await pilot.press("l", "up", "up")
        picked = app.screen.query_one("#ladder").cursor_price
        for side in ("buy", "sell"):
            ticket = await open_ticket(pilot, side)
            assert ticket.query_one("#price", Input).value == picked
            await close_ticket(pilot)
        await pilot.press("l", "home")
        best_bid = app.screen.query_one("#ladder").view.best_bid
        ticket = await open_ticket(pilot, "buy")
        assert ticket.query_one("#price", Input).value == best_bid


async def test_own_fills_are_marked_on_the_candle_chart(tui_settings):
    app = make_app(tui_settings)
    async with app.run_test(size=(160, 50)) as pilot:
        await freeze_pump(pilot)
        await step(pilot, 60)
        chart = app.screen.query_one(CandleChart)

        def arrows() -> list[tuple[str, str]]:
            """The marker glyphs in the newest bar's column."""
            x = chart.x0 + len(chart.bars) - 1 - chart.first_visible
            return [chart._lines[r][x] for r in range(1, len(chart._lines) - 1)
                    if chart._lines[r][x][1] in ("candles--marker-buy", "candles--marker-sell")]

        assert arrows() == []  # the market's own trades are not the user's
        await open_ticket(pilot, "buy")
        await choose(pilot, "type", "market")
        await type_into(pilot, "qty", "0.02")
        await verdict(pilot)
        await send(pilot)
        assert arrows() == [("▲", "candles--marker-buy")]
        fill_ts = chart.fills[-1][0]
        assert chart.bars.start[-1] <= fill_ts

        await open_ticket(pilot, "sell")
        await choose(pilot, "type", "market")
        await type_into(pilot, "qty", "0.01")
        await verdict(pilot)
        await send(pilot)
        assert sorted(arrows()) == [("▲", "candles--marker-buy"), ("▼", "candles--marker-sell")]
        # The marks are by time: on another timeframe they sit on the bar holding the fills.
        await pilot.press("t")
        await step(pilot, 1)
        assert sorted(arrows()) == [("▲", "candles--marker-buy"), ("▼", "candles--marker-sell")]
        assert chart.timeframe != "1m"
