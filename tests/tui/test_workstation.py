"""The workstation driven from the keyboard with Pilot: orders table cancel/modify/cancel-all,
kill switch, palette, themes, remapped keys, help, clean exit. Seeded paused sim source."""

from __future__ import annotations

import threading

import pytest
from tests.tui.pilotkit import freeze_pump, make_app, settings_from, settle, step
from textual.widgets import Input

from tui.screens.confirm import ConfirmModal
from tui.screens.help import HelpScreen
from tui.screens.modify import ModifyOrderModal
from tui.themes import DARK, LIGHT
from tui.widgets.account_tables import ActivityTable, OrdersTable
from tui.widgets.status_bar import StatusBar

pytestmark = pytest.mark.anyio
BTC = "BTC/USDT"


def resting(price: str, side: str = "buy", qty: str = "0.01000") -> dict:
    return {"op": "new", "symbol": BTC, "side": side, "type": "limit", "price": price, "qty": qty}


async def place(pilot, *cmds: dict) -> None:
    for cmd in cmds:
        pilot.app.send(cmd)
        await settle(pilot)


def table_rows(table) -> list[tuple]:
    return [tuple(table.get_row_at(i)) for i in range(table.row_count)]


async def test_cancel_and_modify_from_the_orders_table(tui_settings):
    app = make_app(tui_settings)
    async with app.run_test(size=(160, 48)) as pilot:
        await freeze_pump(pilot)
        await step(pilot, 20)
        await place(pilot, resting("20000.00"), resting("21000.00"))
        orders = app.screen.query_one(OrdersTable)
        assert [r[0] for r in table_rows(orders)] == ["me-1", "me-2"]
        await pilot.press("o")
        assert app.focused is orders
        await pilot.press("c")  # cursor on the first row
        await settle(pilot)
        assert [r[0] for r in table_rows(orders)] == ["me-2"]
        assert [o.id for o in app.source.account().orders] == ["me-2"]
        activity = table_rows(app.screen.query_one(ActivityTable))
        assert activity[-1][1:3] == ("canceled", "me-1")

        await pilot.press("m")
        assert isinstance(app.screen, ModifyOrderModal)
        price = app.screen.query_one("#price", Input)
        price.value = "21500.00"
        qty = app.screen.query_one("#qty", Input)
        qty.value = "0.02000"
        await pilot.press("enter")
        await settle(pilot)
        order = app.source.account().orders[0]
        assert (order.id, order.price, order.qty) == ("me-2", "21500.00", "0.02000")
        row = table_rows(orders)[0]
        assert row[0] == "me-2" and row[4] == "21500.00" and row[6] == "0.02000"
        assert table_rows(app.screen.query_one(ActivityTable))[-1][1:3] == ("modified", "me-2")


async def test_modify_to_an_off_grid_price_shows_the_engines_reason(tui_settings):
    app = make_app(tui_settings)
    async with app.run_test(size=(160, 48)) as pilot:
        await freeze_pump(pilot)
        await step(pilot, 5)
        await place(pilot, resting("20000.00"))
        await pilot.press("o", "m")
        app.screen.query_one("#price", Input).value = "20000.005"
        await pilot.press("enter")
        await settle(pilot)
        last = table_rows(app.screen.query_one(ActivityTable))[-1]
        assert last[1] == "rejected" and last[3].startswith("OFF_GRID_PRICE")
        assert app.source.account().orders[0].price == "20000.00"


async def test_cancel_all_for_the_symbol_keeps_other_symbols(tui_settings):
    app = make_app(tui_settings)
    async with app.run_test(size=(160, 48)) as pilot:
        await freeze_pump(pilot)
        await step(pilot, 10)
        eth = {"op": "new", "symbol": "ETH/USDT", "side": "buy", "type": "limit", "price": "1000.00", "qty": "0.1000"}
        await place(pilot, resting("20000.00"), resting("20001.00"), eth)
        await pilot.press("ctrl+x")
        await settle(pilot)
        assert [(o.id, o.symbol) for o in app.source.account().orders] == [("me-3", "ETH/USDT")]
        assert [r[0] for r in table_rows(app.screen.query_one(OrdersTable))] == ["me-3"]


async def test_kill_switch_asks_then_cancels_everything_and_halts(tui_settings):
    app = make_app(tui_settings)
    async with app.run_test(size=(160, 48)) as pilot:
        await freeze_pump(pilot)
        await step(pilot, 10)
        await place(pilot, resting("20000.00"), resting("40000.00", side="sell"))
        status = app.screen.query_one(StatusBar)
        assert "ACTIVE" in status.text() and not status.has_class("-halted")

        await pilot.press("ctrl+k")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")  # declined: nothing happens
        await settle(pilot)
        assert len(app.source.account().orders) == 2

        await pilot.press("ctrl+k", "y")
        await settle(pilot)
        acct = app.source.account()
        assert acct.trading_state == "HALTED" and acct.orders == ()
        assert "HALTED" in status.text() and status.has_class("-halted")
        assert app.screen.query_one(OrdersTable).row_count == 0
        # A new order is refused by the engine, with its reason in the activity table.
        await place(pilot, resting("20000.00"))
        last = table_rows(app.screen.query_one(ActivityTable))[-1]
        assert last[1] == "rejected" and last[3].startswith("ACCOUNT_HALTED")
        # Resuming from the palette makes the account ACTIVE again.
        await pilot.press("ctrl+p")
        await pilot.press(*"resume trading")
        await pilot.press("enter")
        await settle(pilot)
        assert app.source.account().trading_state == "ACTIVE" and "HALTED" not in status.text()


async def test_palette_switches_theme_and_symbol(tui_settings):
    app = make_app(tui_settings)
    async with app.run_test(size=(160, 48)) as pilot:
        await freeze_pump(pilot)
        await step(pilot, 5)
        assert app.theme == DARK
        await pilot.press("ctrl+p")
        await pilot.press(*"theme: toggle")
        await pilot.press("enter")
        await pilot.pause()
        assert app.theme == LIGHT
        assert app.get_css_variables()["bid"] != ""  # the light theme carries the market colours
        await pilot.press("ctrl+t")
        assert app.theme == DARK
        await pilot.press("ctrl+p")
        await pilot.press(*"symbol: ETH")
        await pilot.press("enter")
        await step(pilot, 1)
        assert app.screen.symbol == "ETH/USDT"
        assert app.screen.query_one("#ladder").view.symbol == "ETH/USDT"
        await pilot.press("right_square_bracket")
        assert app.screen.symbol == "BTC/USDT"


def test_the_config_allows_exactly_the_workstations_themes():
    """``[ui] theme`` is checked when the config loads (``core`` cannot import the themes), so
    its allowed names must be the themes ``tui.themes`` registers."""
    import typing

    from core.config import UiConfig
    from tui.themes import THEMES

    assert set(typing.get_args(UiConfig.model_fields["theme"].annotation)) == {t.name for t in THEMES} == {DARK, LIGHT}


def test_the_config_allows_exactly_the_charts_timeframes():
    import typing

    from core.config import UiConfig
    from tui.widgets.candles import TIMEFRAMES

    assert list(typing.get_args(UiConfig.model_fields["timeframe"].annotation)) == list(TIMEFRAMES)


async def test_theme_and_chart_timeframe_from_the_config(tmp_path):
    app = make_app(settings_from(tmp_path, '[ui]\ntheme = "tickdesk-light"\ntimeframe = "1s"\n'))
    async with app.run_test(size=(120, 40)) as pilot:
        await freeze_pump(pilot)
        await step(pilot, 30)
        assert app.theme == LIGHT and app.get_css_variables()["bid"] != ""
        chart = app.screen.query_one("#candles")
        view = app.source.state.view(app.screen.symbol)
        assert chart.timeframe == "1s" and len(chart.bars) == len(view.candles_1s) >= 3  # 3 s: a bar a second


async def test_a_key_remapped_in_the_config_file_works_and_help_shows_it(tmp_path):
    settings = settings_from(tmp_path, '[keys]\n"risk.kill" = "f12"\norder.cancel-all = "x"\n')
    app = make_app(settings)
    async with app.run_test(size=(160, 48)) as pilot:
        await freeze_pump(pilot)
        await step(pilot, 5)
        await pilot.press("ctrl+k")  # the old key no longer opens the kill switch
        assert not isinstance(app.screen, ConfirmModal)
        await pilot.press("f12")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await place(pilot, resting("20000.00"))
        await pilot.press("x")
        await settle(pilot)
        assert app.source.account().orders == ()
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        rows = {r[3]: r for r in table_rows(app.screen.query_one("#keys"))}
        assert rows["risk.kill"][0] == "f12" and rows["order.cancel-all"][0] == "x"
        assert rows["order.buy"][0] == "b" and rows["app.quit"][0] == "ctrl+q"


async def test_keys_of_modals_and_composer_forms_can_be_remapped(tmp_path):
    """Ids of modals that live outside the Trade screen (the text prompt, the composer's forms)
    are accepted by ``[keys]`` and the remapped key works there."""
    from tui.screens.prompt import TextPrompt

    settings = settings_from(tmp_path, '[keys]\n"prompt.cancel" = "ctrl+g"\n"composer.prompt.cancel" = "ctrl+g"\n')
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await freeze_pump(pilot)
        answers: list[str | None] = []
        app.push_screen(TextPrompt("Export to", "path"), callback=answers.append)
        await pilot.pause()
        await pilot.press("escape")  # the default key no longer cancels
        assert isinstance(app.screen, TextPrompt) and answers == []
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert not isinstance(app.screen, TextPrompt) and answers == [None]


def test_an_unknown_binding_id_is_refused_with_a_hint(tmp_path):
    from tui.keymap import KeymapError

    settings = settings_from(tmp_path, '[keys]\n"order.buyy" = "f"\n')
    with pytest.raises(KeymapError, match=r"\[keys\] 'order.buyy' is not a key binding id; did you mean order.buy"):
        make_app(settings)


async def test_help_lists_every_binding_of_the_trade_screen(tui_settings):
    app = make_app(tui_settings)
    async with app.run_test(size=(160, 48)) as pilot:
        await freeze_pump(pilot)
        await pilot.press("question_mark")
        ids = {r[3] for r in table_rows(app.screen.query_one("#keys"))}
        for needed in ("app.quit", "risk.kill", "app.help", "mode.trade", "order.buy", "order.sell",
                       "order.cancel-all", "order.cancel", "order.modify", "symbol.next", "chart.timeframe",
                       "ladder.centre"):
            assert needed in ids, needed


async def test_ctrl_q_quits_and_leaves_no_thread_behind(tui_settings):
    before = set(threading.enumerate())
    app = make_app(tui_settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await step(pilot, 3)
        assert app.source.worker.alive
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code == 0
    assert not app.source.worker.alive
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert leftover == [], leftover


def test_every_registered_mode_imports_its_screen():
    from textual.screen import Screen

    from tui.modes import MODE_SPECS, available_modes

    modes = available_modes()
    assert "trade" in modes
    assert set(modes) <= {spec.name for spec in MODE_SPECS}
    for spec in modes.values():
        assert issubclass(spec.screen_class(), Screen), spec


async def test_f_keys_switch_modes_and_back(tui_settings):
    from tui.modes import available_modes

    app = make_app(tui_settings)
    async with app.run_test(size=(160, 48)) as pilot:
        await freeze_pump(pilot)
        for spec in available_modes().values():
            await pilot.press(spec.key)
            await pilot.pause()
            assert app.current_mode == spec.name
            assert type(app.screen).__name__ == spec.cls
        await pilot.press("f2")
        assert app.current_mode == "trade"
