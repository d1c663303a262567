"""The command palette's workstation commands, named ``"category: Action"``.

Categories: ``order:`` (buy, sell, cancel all), ``view:`` (every registered mode, help),
``theme:`` (dark/light), ``risk:`` (kill switch, resume), ``symbol:`` (switch the Trade
screen). Typing "ord" or "sym eth" finds them with Textual's fuzzy matcher.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class WorkstationCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app = self.app
        out: list[tuple[str, Callable[[], object], str]] = [
            ("order: Buy", partial(app.run_trade_action, "ticket('buy')"), "Open the order ticket to buy at the ladder cursor"),
            ("order: Sell", partial(app.run_trade_action, "ticket('sell')"), "Open the order ticket to sell at the ladder cursor"),
            ("order: Cancel all (symbol)", partial(app.run_trade_action, "cancel_all"), "Cancel every open order on the shown symbol"),
            ("risk: Kill switch", app.action_kill, "Cancel everything and halt the account (asks first)"),
            ("risk: Resume trading", app.action_resume_trading, "Set the account back to ACTIVE after a kill switch"),
            ("theme: Toggle dark/light", app.action_toggle_theme, "Switch between tickdesk-dark and tickdesk-light"),
            ("view: Help (keys)", app.action_help, "Every key, as remapped by [keys]"),
        ]
        for spec in app.mode_specs:
            out.append((f"view: {spec.title}", partial(app.action_mode, spec.name), f"Switch to the {spec.title} screen ({spec.key})"))
        for sym in app.source.symbols:
            out.append((f"symbol: {sym}", partial(app.show_symbol, sym), f"Show {sym} on the Trade screen"))
        return out

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
