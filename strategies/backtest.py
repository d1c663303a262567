"""The backtester: signals at bar closes -> fills -> trades, equity curve and metrics.

The pinned fill convention (both modes):

* a signal decided at bar ``i``'s close fills at bar ``i + 1``'s **open** (a signal on the last
  bar never fills); fee on both sides' notional; quantities rounded DOWN to the lot (see
  ``strategies.backtest_ledger`` for the money rules);
* one position at a time, long or short. While long, ``exit_long`` or ``enter_short`` at bar
  ``k`` closes it at bar ``k+1``'s open (``enter_short`` then also opens the short at that same
  open: a reversal); shorts mirror this. An entry signal for the side already held is ignored;
  ``enter_long`` and ``enter_short`` on the same bar cancel out;
* protective exits (stop-loss, take-profit, trailing stop, distances from the entry fill price
  decided on the entry's signal bar) are honoured **intrabar** with a conservative path: for a
  long the bar goes open -> low -> high -> close (adverse extreme first), for a short open ->
  high -> low -> close. So a gap through a level fills at the open, a level crossed inside the
  bar fills at the level, and a bar that reaches both the stop and the take-profit takes the
  stop. A trailing stop's anchor is the best price printed so far on that path (the entry fill,
  then each open, extreme and close), its level ``anchor -/+ max(1 tick, anchor * pct)``;
  levels sit on the tick grid, rounded away from the entry (a stop never tighter, a target never
  nearer than asked);
* equity is marked at every close; the final equity is at the last close.

Two fill models implement that convention: :mod:`strategies.backtest_bar` (vectorized scans,
the default) and :mod:`strategies.backtest_exact` (orders sent to ``core.engine.Engine`` over a
synthetic book built from each bar). The event loop here is shared, so the two can only differ
in how fills are found, which is what acceptance 3 checks.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

import numpy as np

from strategies.backtest_ledger import LONG, SHORT, Grid, Ledger, Trade, fee_rate_e8, make_grid
from strategies.signals import Bars, Signals

MODES = ("bar", "exact")


@dataclass(frozen=True)
class BacktestConfig:
    """Everything besides bars and signals that decides a backtest's result."""

    cash: Decimal = Decimal("10000")
    fee: Decimal = Decimal("0.001")
    symbol: str = "BTC/USDT"
    lot: Decimal | None = None  # None: the instrument's lot (core.instruments)
    tick: Decimal | None = None  # None: the instrument's tick
    slippage_bps: Decimal = Decimal(0)  # adverse, on every fill
    slippage_range: Decimal = Decimal(0)  # adverse fraction of the fill bar's high-low range
    mode: str = "bar"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.cash <= 0:
            raise ValueError(f"cash must be positive, got {self.cash}")
        fee_rate_e8(self.fee)
        if self.slippage_bps < 0 or self.slippage_range < 0 or self.slippage_range > 1:
            raise ValueError("slippage must be >= 0 (bps) and a range fraction within [0, 1]")
        if self.mode == "exact" and (self.slippage_bps or self.slippage_range):
            raise ValueError("exact mode takes no slippage: the engine's synthetic book sets every fill price")
        self.grid()  # unknown symbol, bad tick or lot: fail at construction

    def grid(self) -> Grid:
        return make_grid(self.symbol, self.tick, self.lot)

    def settings(self) -> dict[str, str]:
        """The settings as canonical strings (part of the fingerprint)."""
        g = self.grid()
        return {
            "cash": _canon(self.cash), "fee": _canon(self.fee), "symbol": self.symbol,
            "tick": _canon(g.tick), "lot": _canon(g.lot), "slippage_bps": _canon(self.slippage_bps),
            "slippage_range": _canon(self.slippage_range), "mode": self.mode,
        }


def _canon(value: Decimal) -> str:
    text = f"{Decimal(value).normalize():f}"
    return "0" if text in ("-0", "0") else text


@dataclass(frozen=True)
class Ticks:
    """Bars on the tick grid (int64), the only prices fills ever use."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray

    @classmethod
    def from_bars(cls, bars: Bars, grid: Grid) -> Ticks:
        inv = 1.0 / float(grid.tick)
        cols = [np.rint(getattr(bars, f) * inv).astype(np.int64) for f in ("open", "high", "low", "close")]
        if len(bars) and min(int(c.min()) for c in cols) <= 0:
            raise ValueError("bars hold a price that is zero or negative on the tick grid")
        return cls(*cols)


@dataclass
class Position:
    """The open trade plus its protective levels (ticks; None = not set)."""

    trade: Trade
    stop: int | None = None
    take_profit: int | None = None
    trail_ppm: int | None = None

    @property
    def protected(self) -> bool:
        return self.stop is not None or self.take_profit is not None or self.trail_ppm is not None


@dataclass(frozen=True)
class Exit:
    """A protective exit found by a fill model: bar, price (ticks) and which level."""

    bar: int
    price: int
    reason: str


class FillModel(Protocol):
    """How orders meet prices; the event loop decides *when* to send them."""

    def market(self, bar: int, side: int, lots: int) -> int:
        """Fill ``lots`` at bar ``bar``'s open (side +1 buy, -1 sell); returns the price in ticks."""

    def quote(self, bar: int, side: int) -> int:
        """The price a market order at ``bar``'s open would get (used to size entries)."""

    def arm(self, pos: Position) -> None:
        """The position was just opened: place its protective orders."""

    def disarm(self, pos: Position) -> None:
        """The position is about to be closed by a signal: drop its protective orders."""

    def watch(self, pos: Position, first: int, last: int) -> Exit | None:
        """The first protective exit within bars ``first..last`` (the entry bar is ``first``)."""


@dataclass
class BacktestResult:
    """Trades (integers), the equity curve (float, marked at each close) and the metrics."""

    config: BacktestConfig
    grid: Grid
    bars: int
    trades: list[Trade]  # closed round trips, in order
    open_trade: Trade | None
    final_cash: int  # cash units
    final_position: int  # lots
    final_equity_units: int  # cash units, position marked at the last close (ticks)
    fees_paid: int  # cash units
    equity: np.ndarray
    position: np.ndarray  # signed lots held at each close
    ts: np.ndarray
    seconds: float = 0.0
    metrics: dict = field(default_factory=dict)

    @property
    def entries(self) -> int:
        return len(self.trades) + (1 if self.open_trade is not None else 0)

    @property
    def exits(self) -> int:
        return len(self.trades)

    @property
    def final_equity(self) -> Decimal:
        return Decimal(self.grid.cash(self.final_equity_units))

    def trade_rows(self) -> list[dict]:
        """The trade list with exact decimal strings (the canonical form: fingerprint, store, JSON)."""
        g, nf = self.grid, self.grid.notional_factor
        rows = []
        for t in self.trades + ([self.open_trade] if self.open_trade is not None else []):
            rows.append({
                "side": "long" if t.side == LONG else "short",
                "qty": g.qty(t.qty),
                "entry_bar": t.entry_bar,
                "entry_ts": int(self.ts[t.entry_bar]),
                "entry_price": g.price(t.entry_price),
                "entry_fee": g.cash(t.entry_fee),
                "exit_bar": t.exit_bar,
                "exit_ts": int(self.ts[t.exit_bar]) if t.exit_bar is not None else None,
                "exit_price": g.price(t.exit_price) if t.exit_price is not None else None,
                "exit_fee": g.cash(t.exit_fee),
                "pnl": g.cash(t.pnl(nf)),
                "reason": t.reason,
            })
        return rows


def run_backtest(bars: Bars, signals: Signals, config: BacktestConfig | None = None) -> BacktestResult:
    """Backtest ``signals`` on ``bars``: a pure function of its inputs (see the module doc)."""
    from strategies.metrics import compute_metrics

    config = config or BacktestConfig()
    if signals.n != len(bars):
        raise ValueError(f"signals cover {signals.n} bars but the data has {len(bars)}")
    if len(bars) == 0:
        raise ValueError("no bars to backtest")
    t0 = time.perf_counter()
    grid = config.grid()
    ticks = Ticks.from_bars(bars, grid)
    ledger = Ledger(grid, grid.cash_units(config.cash), fee_rate_e8(config.fee))
    model = _fill_model(config, grid, ticks)
    trades, open_trade = _simulate(signals, ticks, ledger, model)
    equity, position = equity_curve(trades, open_trade, grid.cash_units(config.cash), grid, ticks, len(bars))
    result = BacktestResult(
        config=config, grid=grid, bars=len(bars), trades=trades, open_trade=open_trade,
        final_cash=ledger.cash, final_position=ledger.position,
        final_equity_units=ledger.equity(int(ticks.close[-1])), fees_paid=ledger.fees_paid,
        equity=equity, position=position, ts=bars.ts,
    )
    result.metrics = compute_metrics(result)
    result.seconds = time.perf_counter() - t0
    return result


def _fill_model(config: BacktestConfig, grid: Grid, ticks: Ticks) -> FillModel:
    if config.mode == "exact":
        from strategies.backtest_exact import EngineFills

        return EngineFills(grid, ticks)
    from strategies.backtest_bar import BarFills

    return BarFills(grid, ticks, config.slippage_bps, config.slippage_range)


class _Cursor:
    """Next True index at or after ``i`` in a bool array (binary search over a plain list:
    the loop visits events only, so per-call overhead is what counts)."""

    def __init__(self, flags: np.ndarray) -> None:
        self.idx: list[int] = np.flatnonzero(flags).tolist()

    def next(self, i: int) -> int | None:
        pos = bisect_left(self.idx, i)
        return self.idx[pos] if pos < len(self.idx) else None


def _simulate(signals: Signals, ticks: Ticks, ledger: Ledger, model: FillModel) -> tuple[list[Trade], Trade | None]:
    """The event loop: visits signal events and protective exits only, never every bar."""
    n = signals.n
    go_long = signals.enter_long & ~signals.enter_short
    go_short = signals.enter_short & ~signals.enter_long
    entries = _Cursor(go_long | go_short)
    exits = {LONG: _Cursor(signals.exit_long | go_short), SHORT: _Cursor(signals.exit_short | go_long)}
    long_entries = set(np.flatnonzero(go_long).tolist())
    reverse = {LONG: set(np.flatnonzero(go_short).tolist()), SHORT: long_entries}
    trades: list[Trade] = []
    pos: Position | None = None
    i = 0
    while True:
        if pos is None:
            k = entries.next(i)
            if k is None or k + 1 >= n:
                return trades, None
            pos = _open(signals, ledger, model, k, LONG if k in long_entries else SHORT)
            if pos is None:
                i = k + 1
                continue
        side, first = pos.trade.side, pos.trade.entry_bar
        k = exits[side].next(first)
        signal_exit = k is not None and k + 1 < n
        last = k if signal_exit else n - 1
        hit = model.watch(pos, first, last) if pos.protected else None
        if hit is not None:
            _close(ledger, pos.trade, hit.bar, hit.price, hit.reason)
            trades.append(pos.trade)
            pos, i = None, hit.bar
            continue
        if not signal_exit:
            return trades, pos.trade
        model.disarm(pos)
        price = model.market(k + 1, -side, pos.trade.qty)
        _close(ledger, pos.trade, k + 1, price, "signal")
        trades.append(pos.trade)
        pos = None
        i = k if k in reverse[side] else k + 1


def _open(signals: Signals, ledger: Ledger, model: FillModel, k: int, side: int) -> Position | None:
    """Enter at bar k+1's open, sized from the cash; None when not even one lot fits."""
    budget = ledger.cash
    if signals.size is not None and not math.isnan(signals.size[k]):
        fraction = min(max(float(signals.size[k]), 0.0), 1.0)
        budget = int(budget * fraction) if fraction < 1.0 else budget
    lots = ledger.lots_for(budget, model.quote(k + 1, side))
    if lots <= 0:
        return None
    price = model.market(k + 1, side, lots)
    fee = ledger.fill(side, price, lots)
    trade = Trade(side, lots, k + 1, price, fee)
    if signals.stop_loss is None and signals.take_profit is None and signals.trailing_stop is None:
        return Position(trade)
    pos = Position(
        trade,
        stop=_level(signals.stop_loss, k, price, -side),
        take_profit=_level(signals.take_profit, k, price, side),
        trail_ppm=_ppm(signals.trailing_stop, k),
    )
    if pos.protected:
        model.arm(pos)
    return pos


def _level(arr: np.ndarray | None, k: int, entry: int, direction: int) -> int | None:
    """``entry * (1 + direction * distance)`` on the tick grid, rounded away from the entry."""
    if arr is None:
        return None
    dist = float(arr[k])
    if math.isnan(dist) or dist <= 0:
        return None
    raw = entry * (1.0 + direction * dist)
    level = math.ceil(raw - 1e-9) if direction > 0 else math.floor(raw + 1e-9)
    return level if level > 0 else None


def _ppm(arr: np.ndarray | None, k: int) -> int | None:
    """A trailing distance as parts per million (the engine's percent grid: 4 decimals of a %)."""
    if arr is None:
        return None
    dist = float(arr[k])
    if math.isnan(dist) or dist <= 0:
        return None
    ppm = round(dist * 1_000_000)
    return ppm if 0 < ppm < 1_000_000 else None


def _close(ledger: Ledger, trade: Trade, bar: int, price: int, reason: str) -> None:
    trade.exit_fee = ledger.fill(-trade.side, price, trade.qty)
    trade.exit_bar, trade.exit_price, trade.reason = bar, price, reason


def equity_curve(trades: list[Trade], open_trade: Trade | None, initial_cash: int, grid: Grid,
                 ticks: Ticks, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Equity marked at each close (float, quote currency) and the signed lots held at each close.

    Built from the trade list with cumulative sums: O(bars) numpy, no per-bar Python.
    """
    nf = grid.notional_factor
    unit = float(grid.unit)
    cash_delta = np.zeros(n, dtype=np.float64)
    pos_delta = np.zeros(n + 1, dtype=np.int64)
    everything = trades + ([open_trade] if open_trade is not None else [])
    if everything:
        t_entry = np.array([t.entry_bar for t in everything], dtype=np.int64)
        sides = np.array([t.side for t in everything], dtype=np.int64)
        qty = np.array([t.qty for t in everything], dtype=np.int64)
        entry_cash = np.array([-t.side * t.qty * t.entry_price * nf - t.entry_fee for t in everything], dtype=np.float64)
        np.add.at(cash_delta, t_entry, entry_cash * unit)
        np.add.at(pos_delta, t_entry, sides * qty)
    if trades:
        t_exit = np.array([t.exit_bar for t in trades], dtype=np.int64)
        exit_cash = np.array([t.side * t.qty * t.exit_price * nf - t.exit_fee for t in trades], dtype=np.float64)
        np.add.at(cash_delta, t_exit, exit_cash * unit)
        np.add.at(pos_delta, t_exit, -np.array([t.side * t.qty for t in trades], dtype=np.int64))
    cash = initial_cash * unit + np.cumsum(cash_delta)
    position = np.cumsum(pos_delta[:n])
    equity = cash + position * float(grid.lot) * (ticks.close * float(grid.tick))
    return equity, position
