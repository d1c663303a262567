"""Loading backtest data into ``Bars``: candle files and tickdesk's own market store.

A data reference is a string so it can travel to sweep workers and into the results table:

* a path to a candle file: a JSON array of ``[open_time_ms, open, high, low, close, volume]``
  rows (ccxt ``fetch_ohlcv`` / freqtrade, as in ``../shared/data/klines``), gzip or not;
* ``store:VENUE:SYMBOL:TF`` (for example ``store:binance:BTC/USDT:1m``): bars from the market
  store ``<data dir>/market.duckdb`` (``core.store``), opened read-only.

The data hash that goes into the fingerprint is the sha256 of the file's bytes, or of the
store bars' arrays (little-endian int64 times, float64 prices and volume) in time order.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from strategies.signals import Bars

STORE_PREFIX = "store:"
_SYMBOL_IN_NAME = re.compile(r"([A-Z0-9]{2,10})[_-]([A-Z0-9]{2,10})-\d+[smhdw]")


class DataError(ValueError):
    """Data that cannot be backtested; the message names the source and what is wrong."""


@dataclass(frozen=True)
class LoadedData:
    """Bars plus where they came from (for results and the fingerprint)."""

    bars: Bars
    source: str
    data_hash: str
    symbol: str | None  # unified symbol when the source names one


def load(ref: str, data_dir: Path | None = None) -> LoadedData:
    """Load a data reference (see the module doc); raises ``DataError`` with a one-line reason."""
    if ref.startswith(STORE_PREFIX):
        return _load_store(ref, data_dir)
    return load_file(Path(ref))


def load_file(path: Path) -> LoadedData:
    """A candle file, gzip detected by its magic bytes, validated row by row (vectorized)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"data file {path} does not exist") from None
    except OSError as exc:
        raise DataError(f"cannot read data file {path}: {exc.strerror or exc}") from None
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        rows = orjson.loads(text)
    except (OSError, EOFError, orjson.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a candle file ({_first_line(exc)})") from None
    if not isinstance(rows, list):
        raise DataError(f"{path}: not a candle file (expected a JSON array of [ts, o, h, l, c, v] rows)")
    if not rows:
        raise DataError(f"{path}: no candles (empty data)")
    try:
        arr = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{path}: not a candle file (rows must be [ts, open, high, low, close, volume] numbers)") from None
    if arr.ndim != 2 or arr.shape[1] < 6:
        raise DataError(f"{path}: not a candle file (rows must be [ts, open, high, low, close, volume])")
    bars = Bars.from_rows(arr)
    check_bars(bars, str(path))
    m = _SYMBOL_IN_NAME.search(path.name)
    return LoadedData(bars, str(path), digest, f"{m.group(1)}/{m.group(2)}" if m else None)


def check_bars(bars: Bars, source: str) -> None:
    """Finite prices, positive, high >= low, strictly increasing times; else ``DataError``."""
    prices = np.stack([bars.open, bars.high, bars.low, bars.close])
    if not np.isfinite(prices).all() or not np.isfinite(bars.volume).all():
        raise DataError(f"{source}: a candle holds a non-finite number")
    if (prices <= 0).any():
        raise DataError(f"{source}: a candle has a price at or below zero")
    bad = np.flatnonzero(bars.high < bars.low)
    if len(bad):
        raise DataError(f"{source}: candle {int(bad[0])} has high below low")
    steps = np.diff(bars.ts)
    if (steps <= 0).any():
        raise DataError(f"{source}: candle {int(np.flatnonzero(steps <= 0)[0]) + 1} is not after the previous one")


def _load_store(ref: str, data_dir: Path | None) -> LoadedData:
    parts = ref[len(STORE_PREFIX):].split(":")
    if len(parts) != 3 or not all(parts):
        raise DataError(f"bad store reference {ref!r}: expected store:VENUE:SYMBOL:TF, e.g. store:binance:BTC/USDT:1m")
    venue, symbol, tf = parts
    if data_dir is None:
        raise DataError("the market store needs the data dir (settings)")
    from core.journal import StoreOwnedError
    from core.store import STORE_FILE, TIMEFRAMES, MarketStore, StoreError

    if tf not in TIMEFRAMES:
        raise DataError(f"bad store reference {ref!r}: timeframe {tf!r} is not one of {', '.join(TIMEFRAMES)}")
    try:
        store = MarketStore(Path(data_dir) / STORE_FILE, read_only=True)
    except (StoreError, StoreOwnedError) as exc:
        raise DataError(f"cannot open the market store: {exc}") from None
    try:
        cols = store.bars(venue, symbol, tf)
    finally:
        store.close()
    if len(cols["start_ns"]) == 0:
        raise DataError(f"no {tf} bars for {venue} {symbol} in the market store (empty data)")
    bars = Bars.from_store(cols)
    check_bars(bars, ref)
    h = hashlib.sha256()
    for name in ("ts", "open", "high", "low", "close", "volume"):
        arr = getattr(bars, name)
        h.update(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
    return LoadedData(bars, ref, h.hexdigest(), symbol)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
