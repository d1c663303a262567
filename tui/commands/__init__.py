"""CLI command modules. Importing this package registers every command on ``tui.cli.app``.

One module per command area keeps files small; none of them imports textual at module level.
"""

import importlib

_MODULES = ("root", "sim", "simmarket", "bench", "journal", "feed", "feedrun", "emulator", "backtest", "benchbacktest", "sweep", "marketdata", "replay", "history", "backfill", "strategy", "benchui", "serveweb", "benchcomposer", "benchwidgets")

for _name in _MODULES:
    try:
        importlib.import_module(f"tui.commands.{_name}")
    except ModuleNotFoundError as _exc:  # a command area not written yet
        if _exc.name != f"tui.commands.{_name}":
            raise
