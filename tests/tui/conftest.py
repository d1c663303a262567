"""Fixtures for the workstation tests; the helpers live in ``tests/tui/pilotkit.py``.

The helper names are re-exported here for test modules that import them from ``conftest``.
"""

from __future__ import annotations

import pytest

from tests.tui.pilotkit import (  # noqa: F401  (re-exported)
    SEED,
    FakeClock,
    freeze_pump,
    make_app,
    pump,
    settings_from,
    settle,
    step,
)


@pytest.fixture
def tui_settings(tmp_path):
    return settings_from(tmp_path)


@pytest.fixture
def anyio_backend() -> str:
    """Pilot tests run on asyncio (Textual's loop) through anyio's pytest plugin."""
    return "asyncio"
