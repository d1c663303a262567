"""SVG snapshots of the main views (syrupy, one .svg file per snapshot under __snapshots__/).

Deterministic by construction: a fixed seed, a paused source stepped a fixed number of times,
the pump driven explicitly (its timer frozen), the app's wall clock frozen (latency figures),
simulated time only in the clock and the tape, a fixed terminal size. Regenerate after an
intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and review the
SVGs; they also change with every Textual upgrade (Textual is pinned).
"""

from __future__ import annotations

import pytest
from tests.tui.pilotkit import freeze_pump, make_app, pump, settings_from, step
from syrupy.extensions.image import SVGImageSnapshotExtension

pytestmark = pytest.mark.anyio
SIZE = (140, 44)


@pytest.fixture
def svg(snapshot):
    return snapshot.use_extension(SVGImageSnapshotExtension)


async def shoot(app, pilot) -> str:
    """Ladder cursor back on the mid (home), let every level flash fade (the clock jumps
    10 s), redraw, export."""
    if app.screen.query("#ladder") and app.focused is app.screen.query_one("#ladder"):
        await pilot.press("home")
    await pump(pilot)
    app.wall_clock.t += 10.0
    await pump(pilot)
    await pilot.pause(0.3)  # the widgets' own fade timers (15 Hz) run on the moved clock
    return app.export_screenshot(title="tickdesk")


@pytest.mark.parametrize("theme", ["tickdesk-dark", "tickdesk-light"])
async def test_trade_screen(tmp_path, svg, theme):
    app = make_app(settings_from(tmp_path, f'[ui]\ntheme = "{theme}"\n'))
    async with app.run_test(size=SIZE) as pilot:
        await freeze_pump(pilot)
        await step(pilot, 60)
        app.send({"op": "new", "symbol": "BTC/USDT", "side": "buy", "type": "limit", "price": "29990.00", "qty": "0.05000"})
        await app.workers.wait_for_complete()
        await step(pilot, 1)
        app.clear_notifications()  # toasts expire on the real clock
        assert svg == await shoot(app, pilot)


async def test_help_screen(tmp_path, svg):
    app = make_app(settings_from(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await freeze_pump(pilot)
        await step(pilot, 20)
        await pilot.press("l", "home", "f1")  # ladder recentred on the mid under the help
        assert svg == await shoot(app, pilot)


async def test_trade_screen_at_80x24(tmp_path, svg):
    app = make_app(settings_from(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await freeze_pump(pilot)
        await step(pilot, 30)
        assert svg == await shoot(app, pilot)


async def test_order_ticket(tmp_path, svg):
    from textual.widgets import Input

    from tests.widgets.test_order_ticket import type_into

    app = make_app(settings_from(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await freeze_pump(pilot)
        await step(pilot, 40)
        await pilot.press("home", "up", "up", "b")
        for field in app.screen.query(Input):
            field.cursor_blink = False
        await type_into(pilot, "qty", "0.25")
        ticket = app.screen
        for _ in range(100):  # the engine's verdict for this exact form
            await pilot.pause(0.02)
            if ticket.built and ticket.built.cmd is not None and ticket._prechecked == ticket.built.cmd:
                break
        assert str(ticket.query_one("#preview").render()) == "preview: 0 of 0.25000 fills now; rests in the book (maker)"
        assert svg == await shoot(app, pilot)
