"""Fixtures for the workstation tests; the helpers live in ``tests/tui/pilotkit.py`` (import
them from there: several ``conftest.py`` files exist, so ``from conftest import`` is ambiguous)."""

from __future__ import annotations

import pytest

from tests.tui.pilotkit import settings_from


@pytest.fixture
def tui_settings(tmp_path):
    return settings_from(tmp_path)


@pytest.fixture
def anyio_backend() -> str:
    """Pilot tests run on asyncio (Textual's loop) through anyio's pytest plugin."""
    return "asyncio"
