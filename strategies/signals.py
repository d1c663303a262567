"""The hand-off between a strategy and whoever acts on it (backtester, live runner, preview).

A strategy never places orders itself: it turns bars into *signals at bar i's close*. What a
signal means in money (fill at bar i+1's open, fees, lots) is the consumer's business. Keeping
this boundary as plain numpy arrays lets the vectorized evaluator, the streaming evaluator and
the backtester be written and tested independently (contract section 4 of the session notes).

``Bars`` holds float64 analytics arrays (never used for order identity; books and the engine
keep integer ticks/lots). ``ts`` is the bar's open time in epoch milliseconds.
"""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SIGNAL_FLAGS = ("enter_long", "exit_long", "enter_short", "exit_short")
SIGNAL_LEVELS = ("size", "stop_loss", "take_profit", "trailing_stop", "exit_size")
BAR_FIELDS = ("ts", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Bars:
    """OHLCV candles as float64 arrays of one length (``ts`` int64 epoch ms, bar open time)."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.ts)
        object.__setattr__(self, "ts", np.ascontiguousarray(self.ts, dtype=np.int64))
        for name in BAR_FIELDS[1:]:
            arr = np.ascontiguousarray(getattr(self, name), dtype=np.float64)
            if arr.ndim != 1 or len(arr) != n:
                raise ValueError(f"Bars.{name}: expected {n} values, got shape {arr.shape}")
            object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        return len(self.ts)

    def bar(self, i: int) -> Bar:
        """Bar ``i`` as a ``Bar`` (what the streaming evaluator takes)."""
        return Bar(int(self.ts[i]), float(self.open[i]), float(self.high[i]), float(self.low[i]),
                   float(self.close[i]), float(self.volume[i]))

    def slice(self, start: int, stop: int) -> Bars:
        """Bars ``start:stop`` (views, no copy)."""
        return Bars(*(getattr(self, f)[start:stop] for f in BAR_FIELDS))

    @classmethod
    def from_rows(cls, rows: list[list[float]] | np.ndarray) -> Bars:
        """From ``[open_time_ms, open, high, low, close, volume]`` rows (ccxt ``fetch_ohlcv``)."""
        arr = np.asarray(rows, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] < 6:
            raise ValueError(f"expected rows of [ts, open, high, low, close, volume], got shape {arr.shape}")
        return cls(arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4], arr[:, 5])

    @classmethod
    def from_store(cls, columns: dict[str, np.ndarray]) -> Bars:
        """From ``core.store.MarketStore.bars()`` columns (``start_ns`` becomes ms)."""
        return cls(
            np.asarray(columns["start_ns"], dtype=np.int64) // 1_000_000,
            columns["open"], columns["high"], columns["low"], columns["close"], columns["volume"],
        )

    @classmethod
    def from_kline_file(cls, path: str | Path) -> Bars:
        """A freqtrade/ccxt candle file (JSON array of rows, optionally gzip), as in
        ``../shared/data/klines``. Raises ``ValueError`` naming the file on bad content."""
        path = Path(path)
        opener = gzip.open if path.suffix == ".gz" else open
        try:
            with opener(path, "rt", encoding="utf-8") as fh:
                rows = json.load(fh)
            return cls.from_rows(rows)
        except (OSError, ValueError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a candle file ({exc})") from exc


@dataclass(frozen=True)
class Signals:
    """Per-bar signals, each meaning "decided at bar i's close".

    Flags are bool arrays. Level arrays are float (NaN = nothing this bar) or None when the
    strategy never sets them: ``size`` is the fraction of equity for an entry (None = all
    cash); ``stop_loss``/``take_profit``/``trailing_stop`` are fractional distances from the
    entry price (0.02 = 2 %). ``plots`` are named indicator series for charts and preview.
    ``exit_size`` (additive to the contract) is the fraction of the open position an exit
    closes (scale-out; None or NaN = the whole position).
    """

    n: int
    enter_long: np.ndarray
    exit_long: np.ndarray
    enter_short: np.ndarray
    exit_short: np.ndarray
    size: np.ndarray | None = None
    stop_loss: np.ndarray | None = None
    take_profit: np.ndarray | None = None
    trailing_stop: np.ndarray | None = None
    plots: dict[str, np.ndarray] = field(default_factory=dict)
    exit_size: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in SIGNAL_FLAGS:
            arr = np.ascontiguousarray(getattr(self, name), dtype=bool)
            if arr.shape != (self.n,):
                raise ValueError(f"Signals.{name}: expected {self.n} values, got shape {arr.shape}")
            object.__setattr__(self, name, arr)
        for name in SIGNAL_LEVELS:
            value = getattr(self, name)
            if value is None:
                continue
            arr = np.ascontiguousarray(value, dtype=np.float64)
            if arr.shape != (self.n,):
                raise ValueError(f"Signals.{name}: expected {self.n} values, got shape {arr.shape}")
            object.__setattr__(self, name, arr)

    @classmethod
    def empty(cls, n: int) -> Signals:
        """No signal on any of ``n`` bars."""
        z = np.zeros(n, dtype=bool)
        return cls(n, z, z.copy(), z.copy(), z.copy())

    @classmethod
    def from_rows(cls, rows: list[SignalRow]) -> Signals:
        """Stack streaming rows into arrays (levels never set become None)."""
        n = len(rows)
        flags = {f: np.fromiter((getattr(r, f) for r in rows), dtype=bool, count=n) for f in SIGNAL_FLAGS}
        levels: dict[str, np.ndarray | None] = {}
        for name in SIGNAL_LEVELS:
            arr = np.fromiter((getattr(r, name) for r in rows), dtype=np.float64, count=n)
            levels[name] = None if np.isnan(arr).all() else arr
        keys = rows[0].plots.keys() if rows else ()
        plots = {k: np.fromiter((r.plots[k] for r in rows), dtype=np.float64, count=n) for k in keys}
        return cls(n, **flags, **levels, plots=plots)

    def diff(self, other: Signals) -> list[str]:
        """Names of the fields (and ``plots.<name>``) that differ; NaN equals NaN and a level
        that is None equals one that is all NaN. Empty when the two are the same signals."""
        if self.n != other.n:
            return ["n"]
        out = [f for f in SIGNAL_FLAGS if not np.array_equal(getattr(self, f), getattr(other, f))]
        nan = np.full(self.n, math.nan)
        for name in SIGNAL_LEVELS:
            a, b = getattr(self, name), getattr(other, name)
            if not np.array_equal(nan if a is None else a, nan if b is None else b, equal_nan=True):
                out.append(name)
        for key in sorted(self.plots.keys() | other.plots.keys()):
            a, b = self.plots.get(key), other.plots.get(key)
            if a is None or b is None or not np.array_equal(a, b, equal_nan=True):
                out.append(f"plots.{key}")
        return out

    def row(self, i: int) -> SignalRow:
        """Bar ``i`` as the streaming evaluator would emit it."""
        levels = {
            name: (float(arr[i]) if (arr := getattr(self, name)) is not None else math.nan)
            for name in SIGNAL_LEVELS
        }
        return SignalRow(
            *(bool(getattr(self, name)[i]) for name in SIGNAL_FLAGS),
            **levels,
            plots={k: float(v[i]) for k, v in self.plots.items()},
        )


@dataclass(frozen=True)
class SignalRow:
    """One bar's signals from ``strategies.evaluate.Streaming.update`` (NaN level = none)."""

    enter_long: bool = False
    exit_long: bool = False
    enter_short: bool = False
    exit_short: bool = False
    size: float = math.nan
    stop_loss: float = math.nan
    take_profit: float = math.nan
    trailing_stop: float = math.nan
    plots: dict[str, float] = field(default_factory=dict)
    exit_size: float = math.nan

    @property
    def any(self) -> bool:
        """True when any of the four flags is set."""
        return self.enter_long or self.exit_long or self.enter_short or self.exit_short


@dataclass(frozen=True)
class Bar:
    """One candle for the streaming evaluator (``ts`` epoch ms, bar open time)."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
