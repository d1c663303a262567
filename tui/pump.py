"""The one timer per screen that pulls market data into widgets.

Market data never arrives as messages: the source's threads write versioned snapshots into a
``MarketState`` and each visible screen pulls them ``refresh_hz`` times a second (15 by default,
``[ui] refresh_hz``), redrawing only what changed version, inside ``app.batch_update()`` so a
tick is one paint. A 20k-updates/s feed therefore costs the UI the same as a quiet one
(tui-guide §C1). The timer pauses while the screen is hidden (another mode, or under a modal
that covers it... a modal leaves it running: the market keeps moving behind a ticket).

Subclasses implement ``pump()``; ``VersionGate`` remembers which versions were drawn.
"""

from __future__ import annotations

import time
from collections.abc import Hashable

from textual import events
from textual.screen import Screen
from textual.timer import Timer


#: After a key press, a pump tick within this many seconds yields its frame to the key.
KEY_QUIET_S = 0.03


class VersionGate:
    """``changed(key, version)`` is True once per new version of ``key``."""

    def __init__(self) -> None:
        self._seen: dict[Hashable, object] = {}

    def changed(self, key: Hashable, version: object) -> bool:
        if self._seen.get(key, _UNSET) == version:
            return False
        self._seen[key] = version
        return True

    def forget(self, key: Hashable | None = None) -> None:
        """Redraw ``key`` (or everything) on the next tick."""
        if key is None:
            self._seen.clear()
        else:
            self._seen.pop(key, None)


_UNSET = object()


class PumpedScreen(Screen):
    """A screen whose ``pump()`` runs at the app's refresh rate while it is the active screen
    (or under a modal), one ``batch_update`` per tick."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gate = VersionGate()
        self._pump_timer: Timer | None = None
        self.last_pump_ms = 0.0  # wall time the last tick's pulls and redraws took
        self.pumps = 0
        self._skipped = False
        self.held = False  # True: the timer's ticks do nothing (tests drive ``pump_now``)
        self.forced = False  # True during an explicit ``pump_now`` tick: redraw everything due

    def on_mount(self) -> None:
        hz = getattr(self.app, "refresh_hz", 15)
        self._pump_timer = self.set_interval(1 / hz, self._tick, name="pump")
        self.call_after_refresh(self._tick)

    def on_screen_suspend(self, _event: events.ScreenSuspend) -> None:
        # Another mode took over: stop pulling. (A modal pushed on top does not suspend us.)
        if self._pump_timer is not None and self.app.screen is not self and not self.app.screen.is_modal:
            self._pump_timer.pause()

    def on_screen_resume(self, _event: events.ScreenResume) -> None:
        if self._pump_timer is not None:
            self._pump_timer.resume()
            self.gate.forget()

    def pump_now(self) -> None:
        """One tick now, whatever the timer (tests and benchmarks that step the source)."""
        self._skipped = True  # no input-first skip for an explicit tick
        self._tick(force=True)

    def _tick(self, force: bool = False) -> None:
        if self.held and not force:
            return
        # Input first: right after a key, leave this frame to the key's own repaint (the data
        # redraw follows on the next tick); never skip twice in a row, so typing cannot freeze
        # the market.
        last_key = getattr(self.app, "last_key_at", None)
        if not force and last_key is not None and not self._skipped and time.perf_counter() - last_key < KEY_QUIET_S:
            self._skipped = True
            return
        self._skipped = False
        clock = getattr(self.app, "wall_clock", time.perf_counter)
        t0 = clock()
        self.forced = force
        with self.app.batch_update():
            self.pump()
        self.last_pump_ms = (clock() - t0) * 1000
        self.pumps += 1

    def pump(self) -> None:  # pragma: no cover - every screen overrides it
        raise NotImplementedError
