"""``WorkstationApp``: the Textual app shell. It composes and routes; logic lives elsewhere.

* ``app.source`` (a ``tui.sources.base.MarketSource``) and ``app.settings`` (``Settings``) are
  what every screen reads. The app starts the source when it mounts and stops it (joining its
  threads) when it exits.
* Modes (``tui.modes``): trade (default) and whichever of health/journal/sql/replay/composer
  are present, on f2..f7.
* Global keys: ctrl+q quit, ctrl+k kill switch (priority, asks first), f1/? help, ctrl+t theme,
  ctrl+p command palette ("category: Action" commands, ``tui.palette``).
* Themes ``tickdesk-dark``/``tickdesk-light`` (``tui.themes``), ``[ui] theme`` picks one.
* ``[keys]`` remaps any binding id (``tui.keymap``); unknown ids are refused at start.
* ``wall_clock`` is injectable so snapshots can freeze the latency figures.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future

from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from core.config import Settings
from tui.keymap import check_keymap, class_bindings, loaded_tui_classes
from tui.modes import MODE_SPECS, ModeSpec, available_modes
from tui.palette import WorkstationCommands
from tui.screens.confirm import ConfirmModal
from tui.screens.help import HelpScreen
from tui.screens.modify import ModifyOrderModal
from tui.sources.base import MarketSource
from tui.themes import THEMES, other_theme

_MODE_BINDINGS = [
    Binding(spec.key, f"mode('{spec.name}')", spec.title, show=spec.name in ("trade", "health"), id=spec.binding_id)
    for spec in MODE_SPECS
]


#: ``gc`` thresholds while the workstation runs: the third (gen1 collections between full
#: collections) is raised from 10 to 100. Every Textual ``Strip`` carries seven small caches, so
#: a frame's repaint allocates thousands of tracked objects that live a few frames; with the
#: default a full collection (15-20 ms even after the freeze below) ran about once a second and
#: the key pressed during it came late (``tickdesk bench ui`` key max). At 100 it runs every
#: ~10 s; the strips die by reference counting anyway, full collections only find cycles.
GC_THRESHOLDS = (700, 10, 100)
_GC_THRESHOLDS_BEFORE = gc.get_threshold()


def _freeze_gc() -> None:
    """Move everything alive after start-up (Textual's DOM, styles, the engine's reference
    data) out of the collector's view: a full collection then scans only what was made since,
    which took full collections here from ~120 ms (a frozen UI and a late key) to a few ms.
    Then space the full collections out (``GC_THRESHOLDS``)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class WorkstationApp(App):
    TITLE = "tickdesk"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True, id="app.quit"),
        Binding("ctrl+k", "kill", "Kill switch", priority=True, id="risk.kill"),
        Binding("f1,question_mark", "help", "Help", id="app.help"),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False, id="view.theme"),
        *_MODE_BINDINGS,
    ]
    COMMANDS = App.COMMANDS | {WorkstationCommands}
    DEFAULT_MODE = "trade"

    def __init__(
        self,
        source: MarketSource,
        settings: Settings,
        *,
        wall_clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.source = source
        self.settings = settings
        self.wall_clock = wall_clock
        self.refresh_hz = settings.ui.refresh_hz
        self.last_key_at: float | None = None
        self._modes_available = available_modes()
        self.mode_specs: list[ModeSpec] = list(self._modes_available.values())
        self.keymap = settings.keys.mapping()
        known = class_bindings(self.keymap_classes())
        if any(ident not in known for ident in self.keymap):
            # Maybe a key of a screen not loaded yet, or of one of its modals: load the screens,
            # then every tui class they brought in counts.
            for spec in self.mode_specs:
                spec.screen_class()
            known = class_bindings([*self.keymap_classes(), *loaded_tui_classes()])
        check_keymap(self.keymap, known)
        super().__init__()
        for t in THEMES:
            self.register_theme(t)
        self.theme = settings.ui.theme  # one of THEMES: the config loader allows only their names
        for name, spec in self._modes_available.items():
            self.add_mode(name, spec.make_screen)

    def keymap_classes(self) -> list[type]:
        """Every class whose bindings ``[keys]`` may remap (the help lists the live ones)."""
        from tui.screens.order_ticket import OrderTicket
        from tui.screens.trade import TradeScreen
        from tui.widgets.account_tables import OrdersTable
        from tui.widgets.candles import CandleChart
        from tui.widgets.ladder import Ladder
        from tui.widgets.tape import Tape

        return [type(self), HelpScreen, ConfirmModal, ModifyOrderModal, TradeScreen, Ladder, Tape, CandleChart,
                OrdersTable, OrderTicket]

    # --- lifecycle -----------------------------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.last_key_at = time.perf_counter()  # the pump gives the next frame to the key
        await super().on_event(event)

    def on_load(self) -> None:
        self.source.start()  # before the first screen mounts: its first pump sees a live source

    def on_mount(self) -> None:
        if self.keymap:
            self.set_keymap(self.keymap)
        self.call_after_refresh(_freeze_gc)

    async def on_unmount(self) -> None:
        self.source.stop()
        gc.unfreeze()  # let interpreter shutdown collect (and finalise) everything normally
        gc.set_threshold(*_GC_THRESHOLDS_BEFORE)

    # --- global actions ------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "mode" and parameters and parameters[0] not in self._modes_available:
            return False  # that screen is not in this build: key inactive, hidden from the footer
        return True

    def action_mode(self, name: str) -> None:
        if name not in self._modes_available:
            self.notify(f"The {name} screen is not available in this build", severity="warning")
            return
        if self.current_mode != name:
            self.switch_mode(name)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = other_theme(self.theme)

    def action_kill(self) -> None:
        """Kill switch: after a confirmation, cancel every open order and halt the account."""
        if not self.source.can_trade:
            self.notify(f"{self.source.name} is read-only: nothing to kill", severity="warning")
            return
        if isinstance(self.screen, ConfirmModal):
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.send({"op": "kill"})

        self.push_screen(
            ConfirmModal(
                "KILL SWITCH",
                "Cancel ALL open orders on every symbol and HALT the account?\n"
                "New orders are refused until trading is resumed (palette: risk: Resume trading).",
                yes="Kill (y)",
            ),
            callback=confirmed,
        )

    def action_resume_trading(self) -> None:
        if self.source.can_trade:
            self.send({"op": "state", "state": "ACTIVE"})

    def send(self, cmd: dict | None) -> None:
        """Submit a journal command (None: the user cancelled a ticket/modal). The engine's
        answer (ack, fills, reject with its reason) arrives through the pump as events."""
        if cmd is None:
            return
        self._await_submit(self.source.submit(cmd), cmd.get("op", "command"))

    @work(group="orders", exit_on_error=False)
    async def _await_submit(self, fut: Future, what: str) -> None:
        """Wait without blocking the UI; only a failure to submit at all is reported here."""
        try:
            await asyncio.wrap_future(fut)
        except Exception as exc:  # the source refused or stopped: say so, keep running
            self.notify(f"{what} not sent: {exc}", severity="error", timeout=8)

    def run_trade_action(self, action: str) -> None:
        """Palette commands that act on the Trade screen: switch to it, then run the action."""
        if self.current_mode != "trade":
            self.switch_mode("trade")
        self.call_after_refresh(self.screen.run_action, action)

    def show_symbol(self, symbol: str) -> None:
        if self.current_mode != "trade":
            self.switch_mode("trade")
        screen = self.screen
        if hasattr(screen, "symbol"):
            screen.symbol = symbol

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # Textual's own "Theme" picker would offer themes without the market colours.
        for cmd in super().get_system_commands(screen):
            if cmd.title != "Theme":
                yield cmd
