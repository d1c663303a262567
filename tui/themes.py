"""The workstation's two themes, with the semantic market colours as theme variables.

Widgets and stylesheets use only ``$bid $ask $bid-muted $ask-muted $flash-up $flash-down
$own-order $cursor-bg $warning-state $halted`` (plus Textual's standard variables): colours are
chosen here once, per theme, and a theme switch recolours everything. Nowhere else in ``tui/``
is a literal colour written.
"""

from __future__ import annotations

from textual.theme import Theme

DARK = "tickdesk-dark"
LIGHT = "tickdesk-light"

#: The variables every tickdesk theme defines (contracts.md section 3).
MARKET_VARIABLES = (
    "bid",
    "ask",
    "bid-muted",
    "ask-muted",
    "flash-up",
    "flash-down",
    "own-order",
    "cursor-bg",
    "warning-state",
    "halted",
)

TICKDESK_DARK = Theme(
    name=DARK,
    primary="#4c9ffe",
    secondary="#7e8ba3",
    accent="#ffb454",
    warning="#e0a526",
    error="#f85149",
    success="#3fb950",
    foreground="#d7dce2",
    background="#0d1117",
    surface="#151b23",
    panel="#1c2430",
    dark=True,
    variables={
        "bid": "#3fb950",
        "ask": "#f85149",
        "bid-muted": "#1f5f2c",
        "ask-muted": "#7a2622",
        "flash-up": "#1d4d2a",
        "flash-down": "#5c1f1c",
        "own-order": "#ffb454",
        "cursor-bg": "#2b3645",
        "warning-state": "#e0a526",
        "halted": "#ff3b30",
        "footer-key-foreground": "#4c9ffe",
    },
)

TICKDESK_LIGHT = Theme(
    name=LIGHT,
    primary="#0b5cad",
    secondary="#57606a",
    accent="#9a4d00",
    warning="#9a6700",
    error="#cf222e",
    success="#1a7f37",
    foreground="#1f2328",
    background="#ffffff",
    surface="#f6f8fa",
    panel="#eaeef2",
    dark=False,
    variables={
        "bid": "#1a7f37",
        "ask": "#cf222e",
        "bid-muted": "#aceebb",
        "ask-muted": "#ffcecb",
        "flash-up": "#dafbe1",
        "flash-down": "#ffebe9",
        "own-order": "#9a4d00",
        "cursor-bg": "#ddf4ff",
        "warning-state": "#9a6700",
        "halted": "#d1242f",
        "footer-key-foreground": "#0b5cad",
    },
)

THEMES = (TICKDESK_DARK, TICKDESK_LIGHT)


def other_theme(name: str) -> str:
    """The theme a dark/light toggle goes to from ``name``."""
    return LIGHT if name == DARK else DARK
