"""Textual settings the workstation starts with, applied before textual is first imported.

``TEXTUAL_FPS`` caps how often Textual composites a frame; after a key press Textual waits for
the next frame slot, so the cap is also the floor of key-to-screen latency (1/60 s at the
default). The market data redraws are bounded by the pump (``[ui] refresh_hz``, 15/s) anyway,
so a 120 cap only shortens the wait after a key. ``setdefault``: a value the user exported
(e.g. ``TEXTUAL_FPS=30`` over a slow SSH link, or textual-serve's own) wins.
"""

from __future__ import annotations

import os
import sys

DEFAULTS = {"TEXTUAL_FPS": "120"}


def apply() -> None:
    """Set the defaults; a no-op (with no effect) once textual's constants were imported."""
    if "textual.constants" in sys.modules:
        return
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)
