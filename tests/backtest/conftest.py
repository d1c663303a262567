"""Helpers for the backtester tests: hand-built bars and signals, real candle files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from strategies.signals import Bars, Signals

KLINES = ("andresciancio_binance_spot_BTC_USDT-1m_2023-03-16_2023-05-01.json.gz",
          "tooyipjee_binance_spot_BTC_USDT-1m_2021-04-20_2021-05-20.json.gz")


def make_bars(rows: list[tuple[float, float, float, float]]) -> Bars:
    """(open, high, low, close) rows as 1-minute bars."""
    arr = np.array(rows, dtype=np.float64)
    ts = 1_700_000_000_000 + 60_000 * np.arange(len(rows), dtype=np.int64)
    return Bars(ts, arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], np.ones(len(rows)))


def make_signals(n: int, enter_long=(), exit_long=(), enter_short=(), exit_short=(), **levels) -> Signals:
    """Signals with flags set on the given bar indexes; levels are constant arrays (or None)."""
    def flags(idx) -> np.ndarray:
        a = np.zeros(n, dtype=bool)
        a[list(idx)] = True
        return a

    arrays = {k: (np.full(n, v) if v is not None else None) for k, v in levels.items()}
    return Signals(n, flags(enter_long), flags(exit_long), flags(enter_short), flags(exit_short), **arrays)


@pytest.fixture(scope="session")
def kline_path(shared_data: Path) -> Path:
    return shared_data / "klines" / KLINES[0]


def sma_cross_signals(bars: Bars, fast: int, slow: int) -> Signals:
    """The pinned cross rule as Signals (exact tick sums), for tests that feed signals directly."""
    c = np.rint(bars.close * 100).astype(np.int64)
    cs = np.concatenate(([0], np.cumsum(c)))

    def sums(k: int) -> np.ndarray:
        out = np.zeros(len(c), dtype=np.int64)
        out[k - 1:] = cs[k:] - cs[:-k]
        return out

    above = sums(fast) * slow > sums(slow) * fast
    ok = np.arange(len(c)) >= slow
    prev = np.concatenate(([False], above[:-1]))
    z = np.zeros(len(c), dtype=bool)
    return Signals(len(c), above & ~prev & ok, ~above & prev & ok, z, z.copy())
