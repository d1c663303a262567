"""Helpers for driving the real WorkstationApp with Pilot on a seeded, paused sim source.

The source does not step on its own (``paused=True``): a test advances it with ``step(pilot, n)``,
which runs the steps on the engine thread and then runs one pump tick explicitly, so what the
screen shows depends only on the seed and the keys pressed, never on the machine's speed.
The app's wall clock is a ``FakeClock`` (still) so the status bar's latency figures are too.

Import as ``from tests.tui.pilotkit import ...`` (a plain ``conftest`` import is ambiguous
once several test folders have one).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from core.config import Settings, load_config

SEED = 7


def settings_from(tmp_path: Path, toml: str = "") -> Settings:
    """Settings from a real config file (the user's own config never leaks: see tests/conftest)."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"[simmarket]\nseed = {SEED}\n" + toml)
    return load_config(cfg, env={})


class FakeClock:
    """The app's wall clock in tests: still unless a test moves it (flash fades, latency)."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make_app(settings: Settings):
    from tui.app import WorkstationApp
    from tui.sources.base import open_source

    src = open_source("sim", settings, paused=True)
    src.start()
    src.step(0).result(30)  # the first publish is done before the first pump: same start every run
    return WorkstationApp(src, settings, wall_clock=FakeClock())


async def freeze_pump(pilot) -> None:
    """Hold the trade screen's pump (only ``step``/``pump`` redraw), after letting its first
    tick run on the still market: every run then starts from the same drawn state."""
    await pilot.pause()
    pilot.app.screen.held = True
    await pilot.pause()


async def pump(pilot) -> None:
    """One explicit pump tick on the current (non-modal) screen, then let the UI settle."""
    app = pilot.app
    base = next(s for s in reversed(app.screen_stack) if not s.is_modal)
    await pilot.pause()
    base.pump_now()
    await pilot.pause()


async def step(pilot, n: int) -> None:
    """Advance the simulated market ``n`` steps and redraw."""
    await asyncio.wrap_future(pilot.app.source.step(n))
    await pump(pilot)


async def settle(pilot, fut=None) -> None:
    """Wait for the app's pending submissions (engine answers), then pump their events."""
    await pilot.app.workers.wait_for_complete()
    await pump(pilot)
