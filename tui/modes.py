"""The workstation's screens as a registry: mode name, key, module, class.

A mode is registered when its module is in the tree (helpers add screens over time); a module
that exists but fails to import, or lacks its class, is a bug and raises. ``f2``..``f7`` switch.
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


MODE_SPECS = (
    ModeSpec("trade", "f2", "tui.screens.trade", "TradeScreen", "Trade"),
    ModeSpec("health", "f3", "tui.screens.health", "FeedHealthScreen", "Feed health"),
    ModeSpec("journal", "f4", "tui.screens.journal", "JournalScreen", "Journal"),
    ModeSpec("sql", "f5", "tui.screens.sql", "SqlConsoleScreen", "SQL console"),
    ModeSpec("replay", "f6", "tui.screens.replay", "ReplayScreen", "Replay"),
    ModeSpec("composer", "f7", "tui.screens.composer", "ComposerScreen", "Composer"),
)


def available_modes(specs: tuple[ModeSpec, ...] = MODE_SPECS) -> dict[str, tuple[ModeSpec, type[Screen]]]:
    """Mode name -> (spec, screen class) for the modules present in the tree."""
    out: dict[str, tuple[ModeSpec, type[Screen]]] = {}
    for spec in specs:
        if importlib.util.find_spec(spec.module) is None:
            continue  # not written yet: no mode, no key
        cls = getattr(importlib.import_module(spec.module), spec.cls)
        out[spec.name] = (spec, cls)
    return out
