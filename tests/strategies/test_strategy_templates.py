"""Every template loads, validates, carries its educational text and evaluates on a whole real
kline file; the streaming evaluator gives the same signals there; sma_cross follows the pinned
rule exactly."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from strategies import templates
from strategies.evaluate import Streaming, vectorized
from strategies.signals import Bars

NAMES = templates.names()


def test_at_least_twenty_templates() -> None:
    assert len(NAMES) >= 20
    assert "sma_cross" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_template_loads_and_explains_itself(name: str) -> None:
    spec = templates.load(name)
    assert spec.name == name
    assert spec.description
    notes = spec.notes.lower()
    assert "what it does" in notes and "when it fails" in notes
    for pname, decl in spec.params.items():  # every declared parameter is used somewhere
        assert f'"${pname}"' in templates.path(name).read_text(), f"{name}: ${pname} unused"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_template_on_a_full_file_streaming_equals_vectorized(name: str, bars_2021: Bars) -> None:
    spec = templates.load(name)
    sig = vectorized(spec, bars_2021)
    assert sig.n == len(bars_2021)
    assert sig.enter_long.any() or sig.enter_short.any(), f"{name} never enters on a month of data"
    assert sig.diff(Streaming(spec).run(bars_2021)) == []


def pinned_sma_cross(close: np.ndarray, fast: int, slow: int) -> tuple[np.ndarray, np.ndarray]:
    """The issue's rule, written independently: cross up at i when fast > slow at i and
    fast <= slow at i-1, all defined; cross down symmetric."""
    f, s = talib.SMA(close, fast), talib.SMA(close, slow)
    n = len(close)
    up, down = np.zeros(n, bool), np.zeros(n, bool)
    for i in range(1, n):
        if np.isnan([f[i], s[i], f[i - 1], s[i - 1]]).any():
            continue
        up[i] = f[i] > s[i] and f[i - 1] <= s[i - 1]
        down[i] = f[i] < s[i] and f[i - 1] >= s[i - 1]
    return up, down


@pytest.mark.parametrize(("fast", "slow"), [(10, 30), (3, 7), (50, 200)])
def test_sma_cross_is_the_pinned_rule(fast: int, slow: int, bars_2023: Bars) -> None:
    sig = vectorized(templates.load("sma_cross", {"fast": fast, "slow": slow}), bars_2023)
    up, down = pinned_sma_cross(bars_2023.close, fast, slow)
    assert up.sum() > 10
    assert np.array_equal(sig.enter_long, up)
    assert np.array_equal(sig.exit_long, down)
    assert not sig.enter_short.any() and not sig.exit_short.any()
    assert sig.size is None and sig.stop_loss is None
    assert set(sig.plots) == {"fast_ma", "slow_ma"}
