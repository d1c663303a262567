"""Textual settings the workstation starts with, applied before textual is first imported.

``TEXTUAL_FPS`` caps how often Textual composites a frame, and it is also what a key press
waits for: the screen's update timer runs at that period, and after a long frame (a market-data
tick repainting ladder and tape) it skips to the slot one to two periods ahead, however soon
after the frame the key's repaint was asked for. At 60 that wait was up to 33 ms, at 120 up to
17 ms; 240 bounds it at ~8 ms (``tickdesk bench ui``: key p99 ~36 ms at 120, ~27 ms at 240;
500 gained nothing more). The cap adds no frames on its own: a frame is composited only when
something changed, and market data changes at the pump rate (``[ui] refresh_hz``, 15/s).
``setdefault``: a value the user exported (e.g. ``TEXTUAL_FPS=30`` over a slow SSH link, or
textual-serve's own) wins.
"""

from __future__ import annotations

import os
import sys

DEFAULTS = {"TEXTUAL_FPS": "240"}


def apply() -> None:
    """Set the defaults; a no-op (with no effect) once textual's constants were imported."""
    if "textual.constants" in sys.modules:
        return
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)
