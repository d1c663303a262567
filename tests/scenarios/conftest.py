"""Fixtures for the scenario tests: ``sim`` runs ``tickdesk sim run`` on a journal."""

from __future__ import annotations

import pytest

# Rewrite the helper's asserts too, so a mismatch shows a field-by-field diff.
pytest.register_assert_rewrite(f"{__package__}.simkit")

from .simkit import Sim  # noqa: E402


@pytest.fixture
def sim(run_cli, tmp_path):
    """``sim(journal, no_risk=False)`` -> ``SimRun`` (events, summary, final state)."""
    return Sim(run_cli, tmp_path)
