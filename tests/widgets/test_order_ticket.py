"""OrderTicket driven with the keyboard only (Pilot), on a real simulated-market source.

The source is ``tui.sources.sim.SimSource`` (a real engine on its own thread, paused so the
book is the same on every run); the ticket's preview and checks come from it, and every command
the ticket returns is submitted to it to prove the engine takes it.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from textual.app import App
from textual.widgets import Input

from core.config import load_config
from core.preview import preview_for
from tests.widgets.harness import TEST_THEME
from tui.screens.order_ticket import Choice, OrderTicket
from tui.sources.sim import SimSource

SYM = "BTC/USDT"


class TicketApp(App):
    """Opens one ticket on mount and keeps what it returned."""

    def __init__(self, source: SimSource, side: str, price: str | None) -> None:
        super().__init__()
        self.source = source
        self.settings = load_config(env={})
        self.register_theme(TEST_THEME)
        self.theme = "widget-test"
        self.args = (side, price)
        self.result: object = "open"

    def on_mount(self) -> None:
        self.push_screen(OrderTicket(SYM, *self.args), self._done)

    def _done(self, result: dict | None) -> None:
        self.result = result


@pytest.fixture
def source():
    src = SimSource(load_config(env={}), symbols=[SYM], paused=True, seed=3)
    src.start()
    src.step(60).result(30)
    yield src
    src.stop()
    assert not src.worker.alive


async def type_into(pilot, field: str, text: str) -> None:
    pilot.app.screen.query_one(f"#{field}", Input).focus()
    await pilot.press("end", "ctrl+u", *text)


async def choose(pilot, field: str, value: str) -> None:
    choice = pilot.app.screen.query_one(f"#{field}", Choice)
    choice.focus()
    for _ in range(len(choice.options)):
        if choice.value == value:
            return
        await pilot.press("right")
    assert choice.value == value, f"{field} has no option {value!r}"


async def settled(pilot) -> None:
    """Let the precheck round trip (engine thread -> UI loop) finish."""
    for _ in range(50):
        await pilot.pause(0.02)
        t = pilot.app.screen
        if isinstance(t, OrderTicket) and t.built and t.built.cmd is not None and t._prechecked == t.built.cmd:
            return


def screen_text(pilot, *ids: str) -> str:
    return "\n".join(str(pilot.app.screen.query_one(f"#{i}").render()) for i in ids)


def last_price(src: SimSource) -> Decimal:
    return Decimal(src.state.view(SYM).last)


def run(coro):
    return asyncio.run(coro)


def test_limit_buy_from_the_cursor_price_shows_the_preview_and_is_accepted(source):
    view = source.state.view(SYM)
    bid = view.best_bid

    async def go():
        app = TicketApp(source, "buy", bid)
        async with app.run_test(size=(100, 30)) as pilot:
            await type_into(pilot, "qty", "0.01")
            await settled(pilot)
            t = app.screen
            assert t.query_one("#price", Input).value == bid
            # a buy at the best bid does not cross: nothing fills now, it rests
            assert screen_text(pilot, "preview") == "preview: 0 of 0.01000 fills now; rests in the book (maker)"
            assert screen_text(pilot, "checks") == "checks: ✓ the engine would accept this order"
            assert t.precheck["tier"] == "VIP0" and t.precheck["liquidity"] == "maker"
            await pilot.press("enter")
            await pilot.pause()
        return app.result

    cmd = run(go())
    assert cmd == {"op": "new", "id": cmd["id"], "account": "me", "symbol": SYM, "side": "buy", "type": "limit",
                   "qty": "0.01000", "price": bid, "tif": "GTC"}
    assert cmd["id"].startswith("me-t")
    events = source.submit(cmd).result(10)
    assert events[0]["event"] == "accepted" and events[0]["id"] == cmd["id"]


def test_a_crossing_buy_previews_the_sweep_exactly(source):
    view = source.state.view(SYM)
    ins = source.instruments[SYM]
    deep = view.asks[2].price  # limit at the third ask: walks up to three levels

    async def go():
        app = TicketApp(source, "buy", deep)
        async with app.run_test(size=(100, 30)) as pilot:
            await type_into(pilot, "qty", "0.5")
            await settled(pilot)
            return app.screen.preview, screen_text(pilot, "preview")

    preview, text = run(go())
    expected = preview_for(view, ins, "buy", 50000, ins.price_to_ticks(deep), "0.001")
    assert preview == expected
    assert f"fills {expected.filled_qty} of 0.50000 @ avg {expected.avg_price}" in text
    assert f"slippage {expected.slippage_bps_vs_mid} bps vs mid {expected.mid}" in text
    assert f"fee {expected.fee} USDT (VIP0 taker 0.001)" in text


CONDITIONAL = {
    # type: (side, fields from the last price L)
    "stop_market": ("buy", {"stop_price": 100}),
    "stop_limit": ("sell", {"stop_price": -100, "price": -110}),
    "take_profit_market": ("sell", {"stop_price": 100}),
    "take_profit_limit": ("buy", {"stop_price": -100, "price": -100}),
}


@pytest.mark.parametrize("otype", list(CONDITIONAL))
def test_conditional_types_are_built_from_keys_and_accepted(source, otype):
    side, fields = CONDITIONAL[otype]
    last = last_price(source)

    async def go():
        app = TicketApp(source, side, None)
        async with app.run_test(size=(100, 30)) as pilot:
            await choose(pilot, "type", otype)
            await type_into(pilot, "qty", "0.02")
            for name, delta in fields.items():
                await type_into(pilot, name, f"{last + delta:.2f}")
            await settled(pilot)
            assert screen_text(pilot, "checks") == "checks: ✓ the engine would accept this order"
            assert screen_text(pilot, "preview").startswith("preview: if triggered now:")
            await pilot.press("enter")
            await pilot.pause()
        return app.result

    cmd = run(go())
    expected = {"op": "new", "id": cmd["id"], "account": "me", "symbol": SYM, "side": side, "type": otype, "qty": "0.02000",
                "tif": "GTC" if "price" in fields else "IOC"}
    expected.update({k: f"{last + d:.2f}" for k, d in fields.items()})
    assert cmd == expected
    events = source.submit(cmd).result(10)
    assert events[0]["event"] == "accepted", events


def test_market_fok_and_trailing_stop_and_iceberg_gtd(source):
    last = last_price(source)

    async def market():
        app = TicketApp(source, "sell", None)
        async with app.run_test(size=(100, 30)) as pilot:
            await choose(pilot, "type", "market")
            await choose(pilot, "tif", "FOK")
            await type_into(pilot, "qty", "0.01")
            await settled(pilot)
            assert app.screen.query_one("#price", Input).disabled
            await pilot.press("enter")
            await pilot.pause()
        return app.result

    cmd = run(market())
    assert {k: cmd[k] for k in ("type", "tif", "qty", "side")} == {"type": "market", "tif": "FOK", "qty": "0.01000", "side": "sell"}
    assert "price" not in cmd
    events = source.submit(cmd).result(10)
    assert [e["event"] for e in events][:2] == ["accepted", "trade"]

    async def trailing():
        app = TicketApp(source, "sell", None)
        async with app.run_test(size=(100, 30)) as pilot:
            await choose(pilot, "type", "trailing_stop_market")
            await type_into(pilot, "qty", "0.01")
            await type_into(pilot, "trail", "1.5%")
            await settled(pilot)
            await pilot.press("enter")
            await pilot.pause()
        return app.result

    cmd = run(trailing())
    assert cmd["trail"] == "1.5%" and cmd["tif"] == "IOC" and "stop_price" not in cmd
    assert source.submit(cmd).result(10)[0]["event"] == "accepted"

    async def iceberg():
        app = TicketApp(source, "buy", f"{last - 50:.2f}")
        async with app.run_test(size=(100, 30)) as pilot:
            await type_into(pilot, "qty", "0.2")
            await choose(pilot, "tif", "GTD")
            await type_into(pilot, "expiry", "5m")
            await choose(pilot, "post_only", "yes")
            await type_into(pilot, "display_qty", "0.05")
            await settled(pilot)
            now = source.clock_ns()
            await pilot.press("enter")
            await pilot.pause()
        return app.result, now

    cmd, now = run(iceberg())
    assert cmd["tif"] == "GTD" and cmd["expire_ts"] == now + 300 * 10**9
    assert cmd["post_only"] is True and cmd["display_qty"] == "0.05000"
    assert source.submit(cmd).result(10)[0]["event"] == "accepted"


def test_off_grid_values_show_the_rounding_and_the_rounded_values_are_sent(source):
    async def go():
        app = TicketApp(source, "sell", "30000.005")
        async with app.run_test(size=(100, 30)) as pilot:
            await type_into(pilot, "qty", "0.123456")
            await settled(pilot)
            notes = screen_text(pilot, "notes")
            await pilot.press("enter")
            await pilot.pause()
        return notes, app.result

    notes, cmd = run(go())
    # a sell's limit rounds up (never sells for less than typed); quantities round down
    assert notes == ("qty 0.123456 is off the 0.00001 grid: sends 0.12345\n"
                     "price 30000.005 is off the 0.01 grid: sends 30000.01")
    assert (cmd["qty"], cmd["price"]) == ("0.12345", "30000.01")


def test_risk_rejects_are_shown_with_the_engine_reason_and_message(source):
    async def go():
        app = TicketApp(source, "buy", None)
        async with app.run_test(size=(100, 30)) as pilot:
            await type_into(pilot, "qty", "9")
            await settled(pilot)
            t = app.screen
            return dict(t.built.cmd), screen_text(pilot, "checks")

    cmd, checks = run(go())
    rejects = source.worker.call(lambda: source.market.engine.precheck(cmd)).result(10)
    assert rejects, "9 BTC is beyond the default 100000 USDT"
    assert checks == "\n".join(f"✗ {r.code}: {r.message}" for r in rejects)
    assert "✗ INSUFFICIENT_BALANCE: needs " in checks


def test_bad_input_blocks_enter_and_esc_returns_none(source):
    async def go():
        app = TicketApp(source, "buy", None)
        async with app.run_test(size=(100, 30)) as pilot:
            await type_into(pilot, "qty", "abc")
            await pilot.pause()
            errors = screen_text(pilot, "errors")
            await pilot.press("enter")
            await pilot.pause()
            still_open = isinstance(app.screen, OrderTicket) and app.result == "open"
            await pilot.press("escape")
            await pilot.pause()
        return errors, still_open, app.result

    errors, still_open, result = run(go())
    assert errors == "qty is not a plain decimal number: 'abc'"
    assert still_open and result is None


def test_quantity_presets_size_from_the_available_balance(source):
    async def go():
        app = TicketApp(source, "sell", None)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("f7")  # 50% of the 2 BTC available
            await pilot.pause()
            qty_sell = app.screen.query_one("#qty", Input).value
            await choose(pilot, "side", "buy")
            await type_into(pilot, "price", "25000.00")
            await choose(pilot, "side", "buy")  # focus on a choice: digits are presets
            await pilot.press("2")  # 25% of 100000 USDT at 25000 -> 1 BTC
            await pilot.pause()
            return qty_sell, app.screen.query_one("#qty", Input).value

    assert run(go()) == ("1.00000", "1.00000")
