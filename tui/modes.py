"""The workstation's screens as a registry: mode name, key, module, class.

A mode is registered when its module is in the tree (helpers add screens over time). Screens
are imported when first shown (the journal and SQL screens pull in DuckDB: start-up stays
fast); a module that exists but fails to import, or lacks its class, is a bug and raises then
(``tests/tui`` imports every registered one). ``f2``..``f7`` switch.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from textual.screen import Screen


@dataclass(frozen=True)
class ModeSpec:
    name: str
    key: str
    module: str
    cls: str
    title: str

    @property
    def binding_id(self) -> str:
        return f"mode.{self.name}"

    def screen_class(self) -> type[Screen]:
        """Import the module and return the screen class (errors propagate)."""
        cls = getattr(importlib.import_module(self.module), self.cls)
        if not (isinstance(cls, type) and issubclass(cls, Screen)):
            raise TypeError(f"{self.module}.{self.cls} is not a Screen")
        return cls

    def make_screen(self) -> Screen:
        """The factory Textual's modes call on first switch."""
        return self.screen_class()()


MODE_SPECS = (
    ModeSpec("trade", "f2", "tui.screens.trade", "TradeScreen", "Trade"),
    ModeSpec("health", "f3", "tui.screens.health", "FeedHealthScreen", "Feed health"),
    ModeSpec("journal", "f4", "tui.screens.journal", "JournalScreen", "Journal"),
    ModeSpec("sql", "f5", "tui.screens.sql", "SqlConsoleScreen", "SQL console"),
    ModeSpec("replay", "f6", "tui.screens.replay", "ReplayScreen", "Replay"),
    ModeSpec("composer", "f7", "tui.screens.composer", "ComposerScreen", "Composer"),
)


def available_modes(specs: tuple[ModeSpec, ...] = MODE_SPECS) -> dict[str, ModeSpec]:
    """Mode name -> spec, for the screen modules present in the tree (not imported yet)."""
    return {spec.name: spec for spec in specs if importlib.util.find_spec(spec.module) is not None}
