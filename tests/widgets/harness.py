"""Harness apps and market data for the widget tests.

Views come from ``tests.marketviews`` (a real seeded ``SimMarket`` published into a real
``MarketState``, or built by hand where a test needs exact numbers). The harness registers a
theme with the same semantic variables as ``tui/themes.py`` (contracts section 3) so the
widgets' CSS resolves standalone.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.theme import Theme
from textual.widget import Widget

from tests.marketviews import INSTRUMENTS, advance, hand_view, sim_views  # noqa: F401 (re-exported)

TEST_THEME = Theme(
    name="widget-test",
    primary="#3b82f6",
    background="#101418",
    foreground="#d8dee9",
    dark=True,
    variables={
        "bid": "#2ecc71",
        "ask": "#e74c3c",
        "bid-muted": "#1e5a3a",
        "ask-muted": "#5a1e1e",
        "flash-up": "#2f7d4f",
        "flash-down": "#8a2f2f",
        "own-order": "#f1c40f",
        "cursor-bg": "#33415c",
        "warning-state": "#e67e22",
        "halted": "#c0392b",
    },
)


class Harness(App):
    """A bare app holding one widget under test."""

    def __init__(self, widget: Widget) -> None:
        super().__init__()
        self.widget = widget
        self.register_theme(TEST_THEME)
        self.theme = "widget-test"

    def compose(self) -> ComposeResult:
        yield self.widget
