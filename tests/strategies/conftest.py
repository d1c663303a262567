"""Fixtures for the strategy tests: real 1-minute BTC/USDT candles from ../shared/data/klines."""

from __future__ import annotations

from pathlib import Path

import pytest

from strategies.signals import Bars

KLINES_2021 = "tooyipjee_binance_spot_BTC_USDT-1m_2021-04-20_2021-05-20.json.gz"
KLINES_2023 = "andresciancio_binance_spot_BTC_USDT-1m_2023-03-16_2023-05-01.json.gz"


@pytest.fixture(scope="session")
def klines_dir(shared_data: Path) -> Path:
    return shared_data / "klines"


@pytest.fixture(scope="session")
def bars_2021(klines_dir: Path) -> Bars:
    """42,915 candles including the 2021-05-19 crash and a 284-minute gap."""
    return Bars.from_kline_file(klines_dir / KLINES_2021)


@pytest.fixture(scope="session")
def bars_2023(klines_dir: Path) -> Bars:
    """66,087 candles including a real 80-minute exchange halt."""
    return Bars.from_kline_file(klines_dir / KLINES_2023)

