"""The backtester: signals at bar closes -> fills -> trades, equity curve and metrics.

The pinned fill convention (both modes):

* a signal decided at bar ``i``'s close fills at bar ``i + 1``'s **open** (a signal on the last
  bar never fills); fee on both sides' notional; quantities rounded DOWN to the lot (see
  ``strategies.backtest_ledger`` for the money rules);
* one position at a time, long or short. While long, ``exit_long`` or ``enter_short`` at bar
  ``k`` closes it at bar ``k+1``'s open (``enter_short`` then also opens the short at that same
  open: a reversal); shorts mirror this. ``enter_long`` and ``enter_short`` on the same bar
  cancel out; an exit and an entry for the held side on the same bar: the exit wins;
* sizing: ``size`` is the fraction of equity an entry spends (NaN/None: all of it), never more
  than the equity not already committed (no leverage). An entry *with a size* for the side
  already held adds to the position (scale-in); one without a size is ignored. ``exit_size``
  closes that fraction of the position (scale-out, rounded down to the lot, oldest lots first;
  NaN: all of it). Each entry fill is a lot in the trade list; a partial exit splits a lot and
  shares its entry fee pro rata;
* protective exits (stop-loss, take-profit, trailing stop, distances from the entry fill price
  decided on the entry's signal bar) are honoured **intrabar** with a conservative path: for a
  long the bar goes open -> low -> high -> close (adverse extreme first), for a short open ->
  high -> low -> close. So a gap through a level fills at the open, a level crossed inside the
  bar fills at the level, and a bar that reaches both the stop and the take-profit takes the
  stop. A trailing stop's anchor is the best price printed so far on that path (the entry fill,
  then each open, extreme and close), its level ``anchor -/+ max(1 tick, anchor * pct)``;
  levels sit on the tick grid, rounded away from the entry (a stop never tighter, a target never
  nearer than asked). A resize (scale-in/out) re-places the protective orders for the new
  quantity: fixed levels keep their prices, the trailing anchor restarts at that fill, and a
  level the open has already passed closes the position at that open;
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
    """The open position: its entry fills (FIFO lots), protective levels (ticks; None = not set)
    and where the fill models resume watching it.

    ``start`` is the first bar not yet watched; ``anchor`` the trailing stop's best price so far
    (restarted at the fill price whenever the position's size changes, because the protective
    orders are then re-placed for the new quantity).
    """

    side: int
    lots: list[Trade]
    stop: int | None = None
    take_profit: int | None = None
    trail_ppm: int | None = None
    start: int = 0
    anchor: int = 0

    @property
    def qty(self) -> int:
        return sum(t.qty for t in self.lots)

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

    def arm(self, pos: Position, bar: int) -> Exit | None:
        """The position was opened or resized at ``bar``'s open: place its protective orders
        (an exit when a level is already through that open)."""

    def disarm(self, pos: Position) -> None:
        """The position is about to change by a signal: drop its protective orders."""

    def watch(self, pos: Position, last: int) -> Exit | None:
        """The first protective exit within bars ``pos.start..last``; advances ``pos.anchor``."""


@dataclass
class BacktestResult:
    """Trades (integers), the equity curve (float, marked at each close) and the metrics."""

    config: BacktestConfig
    grid: Grid
    bars: int
    trades: list[Trade]  # closed lots, in the order they were closed
    open_trades: list[Trade]  # lots still open at the end (marked at the last close)
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
    def open_trade(self) -> Trade | None:
        """The first lot still open at the end, if any."""
        return self.open_trades[0] if self.open_trades else None

    @property
    def entries(self) -> int:
        """Entry fills (a lot split by a partial exit still counts once)."""
        return len({(t.entry_bar, t.side) for t in self.trades + self.open_trades})

    @property
    def exits(self) -> int:
        """Exit fills."""
        return len({(t.exit_bar, t.side) for t in self.trades})

    @property
    def final_equity(self) -> Decimal:
        return Decimal(self.grid.cash(self.final_equity_units))

    def trade_rows(self) -> list[dict]:
        """The trade list with exact decimal strings (the canonical form: fingerprint, store, JSON)."""
        g, nf = self.grid, self.grid.notional_factor
        rows = []
        for t in self.trades + self.open_trades:
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
    if _plain(signals, config):
        trades, open_trades = _simulate_plain(signals, ticks, ledger)
    else:
        trades, open_trades = _simulate(signals, ticks, ledger, model)
    equity, position = equity_curve(trades, open_trades, grid.cash_units(config.cash), grid, ticks, len(bars))
    result = BacktestResult(
        config=config, grid=grid, bars=len(bars), trades=trades, open_trades=open_trades,
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


def _simulate(signals: Signals, ticks: Ticks, ledger: Ledger, model: FillModel) -> tuple[list[Trade], list[Trade]]:
    """The event loop: visits signal events and protective exits only, never every bar."""
    n = signals.n
    go_long = signals.enter_long & ~signals.enter_short
    go_short = signals.enter_short & ~signals.enter_long
    entries = _Cursor(go_long | go_short)
    exits = {LONG: _Cursor(signals.exit_long | go_short), SHORT: _Cursor(signals.exit_short | go_long)}
    long_entries = set(np.flatnonzero(go_long).tolist())
    reverse = {LONG: set(np.flatnonzero(go_short).tolist()), SHORT: long_entries}
    sized = ~np.isnan(signals.size) if signals.size is not None else np.zeros(n, dtype=bool)
    adds = {LONG: _Cursor(go_long & sized), SHORT: _Cursor(go_short & sized)}
    exit_size = getattr(signals, "exit_size", None)
    closed: list[Trade] = []
    pos: Position | None = None
    i = 0
    while True:
        if pos is None:
            k = entries.next(i)
            if k is None or k + 1 >= n:
                return closed, []
            side = LONG if k in long_entries else SHORT
            pos = _enter(signals, ledger, model, k, side, None)
            if pos is None:
                i = k + 1
                continue
            hit = model.arm(pos, k + 1) if pos.protected else None
            if hit is not None:
                _close_all(ledger, pos, hit, closed)
                pos, i = None, k + 1
            continue
        side = pos.side
        k_exit, k_add = exits[side].next(pos.start), adds[side].next(pos.start)
        k = k_exit if k_add is None or (k_exit is not None and k_exit <= k_add) else k_add
        event = k is not None and k + 1 < n
        hit = model.watch(pos, k if event else n - 1) if pos.protected else None
        if hit is not None:
            _close_all(ledger, pos, hit, closed)
            pos, i = None, hit.bar
            continue
        if not event:
            return closed, pos.lots
        bar = k + 1
        if k == k_exit:
            lots = pos.qty
            if exit_size is not None and k not in reverse[side] and not np.isnan(exit_size[k]):
                lots = min(lots, int(pos.qty * min(max(float(exit_size[k]), 0.0), 1.0)))
            if lots == pos.qty:
                model.disarm(pos)
                _close_all(ledger, pos, Exit(bar, model.market(bar, -side, lots), "signal"), closed)
                pos, i = None, (k if k in reverse[side] else bar)
                continue
            changed = lots > 0 and _reduce(ledger, model, pos, bar, lots, closed)
        else:
            changed = _enter(signals, ledger, model, k, side, pos) is not None
        pos.start = bar
        if changed and pos.protected:
            hit = model.arm(pos, bar)
            if hit is not None:
                _close_all(ledger, pos, hit, closed)
                pos, i = None, bar


def _unset(arr: np.ndarray | None) -> bool:
    return arr is None or bool(np.isnan(arr).all())


def _plain(signals: Signals, config: BacktestConfig) -> bool:
    """Bar mode without slippage, sizes, protective levels or partial exits: the fast path."""
    return (config.mode == "bar" and not config.slippage_bps and not config.slippage_range
            and all(_unset(getattr(signals, name, None))
                    for name in ("size", "stop_loss", "take_profit", "trailing_stop", "exit_size")))


def _simulate_plain(signals: Signals, ticks: Ticks, ledger: Ledger) -> tuple[list[Trade], list[Trade]]:
    """``_simulate`` for all-cash market orders at the next open only (the common case, e.g.
    sma_cross): one pass over the signal bars with plain lists, same rules and same ledger.
    A test checks it equals the general loop on random long/short/reversal signals."""
    n = signals.n
    go_long = signals.enter_long & ~signals.enter_short
    go_short = signals.enter_short & ~signals.enter_long
    ev = np.flatnonzero(go_long | go_short | signals.exit_long | signals.exit_short)
    ev = ev[ev + 1 < n]
    gl, gs, xl, xs = (a[ev].tolist() for a in (go_long, go_short, signals.exit_long, signals.exit_short))
    opens = ticks.open[ev + 1].tolist()
    bars = (ev + 1).tolist()
    closed: list[Trade] = []
    lots_for, fill = ledger.lots_for, ledger.fill
    trade: Trade | None = None
    for j in range(len(bars)):
        if trade is not None:
            side = trade.side
            if side == LONG and (xl[j] or gs[j]) or side == SHORT and (xs[j] or gl[j]):
                price = opens[j]
                trade.exit_fee = fill(-side, price, trade.qty)
                trade.exit_bar, trade.exit_price, trade.reason = bars[j], price, "signal"
                closed.append(trade)
                trade = None
                if not (gs[j] if side == LONG else gl[j]):
                    continue
            else:
                continue
        if gl[j] or gs[j]:
            side = LONG if gl[j] else SHORT
            price = opens[j]
            lots = lots_for(ledger.cash, price)
            if lots > 0:
                trade = Trade(side, lots, bars[j], price, fill(side, price, lots))
    return closed, ([trade] if trade is not None else [])


def _budget(signals: Signals, ledger: Ledger, k: int, price: int) -> int:
    """Cash units an entry at bar k+1 may spend: ``size`` of the equity (None: all of it), never
    more than the equity not already committed (no leverage)."""
    held = ledger.position * price * ledger.nf
    equity = ledger.cash + held
    free = equity - abs(held)
    fraction = 1.0
    if signals.size is not None and not math.isnan(signals.size[k]):
        fraction = min(max(float(signals.size[k]), 0.0), 1.0)
    want = equity if fraction >= 1.0 else int(equity * fraction)
    return max(0, min(want, free))


def _enter(signals: Signals, ledger: Ledger, model: FillModel, k: int, side: int, pos: Position | None) -> Position | None:
    """Open (``pos`` None) or add to a position at bar k+1's open; None when not one lot fits."""
    bar = k + 1
    quote = model.quote(bar, side)
    lots = ledger.lots_for(_budget(signals, ledger, k, quote), quote)
    if lots <= 0:
        return None
    if pos is not None and pos.protected:
        model.disarm(pos)
    price = model.market(bar, side, lots)
    fee = ledger.fill(side, price, lots)
    lot = Trade(side, lots, bar, price, fee)
    if pos is not None:
        pos.lots.append(lot)
        pos.anchor = price
        return pos
    if signals.stop_loss is None and signals.take_profit is None and signals.trailing_stop is None:
        return Position(side, [lot], start=bar, anchor=price)
    return Position(
        side, [lot],
        stop=_level(signals.stop_loss, k, price, -side),
        take_profit=_level(signals.take_profit, k, price, side),
        trail_ppm=_ppm(signals.trailing_stop, k),
        start=bar, anchor=price,
    )


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


def _close_all(ledger: Ledger, pos: Position, hit: Exit, closed: list[Trade]) -> None:
    """Close every open lot of the position in one fill at ``hit``'s price."""
    fee = ledger.fill(-pos.side, hit.price, pos.qty)
    _settle_lots(pos.lots, fee, hit, closed)
    pos.lots = []


def _reduce(ledger: Ledger, model: FillModel, pos: Position, bar: int, lots: int, closed: list[Trade]) -> bool:
    """A partial exit of ``lots`` at bar's open, closing the oldest lots first (FIFO)."""
    if pos.protected:
        model.disarm(pos)
    price = model.market(bar, -pos.side, lots)
    fee = ledger.fill(-pos.side, price, lots)
    taken: list[Trade] = []
    left = lots
    while left:
        head = pos.lots[0]
        if head.qty <= left:
            taken.append(pos.lots.pop(0))
            left -= head.qty
        else:  # split the lot; its entry fee is shared pro rata (integers, the parts sum up)
            part_fee = head.entry_fee * left // head.qty
            taken.append(Trade(head.side, left, head.entry_bar, head.entry_price, part_fee))
            head.qty -= left
            head.entry_fee -= part_fee
            left = 0
    _settle_lots(taken, fee, Exit(bar, price, "signal"), closed)
    pos.anchor = price
    return True


def _settle_lots(lots: list[Trade], fee: int, hit: Exit, closed: list[Trade]) -> None:
    """Mark lots closed by one fill; the fill's fee is shared pro rata by quantity."""
    total = sum(t.qty for t in lots)
    left = fee
    for j, t in enumerate(lots):
        share = left if j == len(lots) - 1 else fee * t.qty // total
        left -= share
        t.exit_bar, t.exit_price, t.exit_fee, t.reason = hit.bar, hit.price, share, hit.reason
        closed.append(t)


def equity_curve(trades: list[Trade], open_trades: list[Trade], initial_cash: int, grid: Grid,
                 ticks: Ticks, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Equity marked at each close (float, quote currency) and the signed lots held at each close.

    Built from the trade list with bincounts and cumulative sums: O(bars) numpy, one Python
    pass over the trades.
    """
    nf = grid.notional_factor
    unit = float(grid.unit)
    everything = trades + open_trades
    at, cash, lots = [], [], []
    for t in everything:
        signed = t.side * t.qty
        at.append(t.entry_bar)
        cash.append(-signed * t.entry_price * nf - t.entry_fee)
        lots.append(signed)
        if t.exit_price is not None:
            at.append(t.exit_bar)
            cash.append(signed * t.exit_price * nf - t.exit_fee)
            lots.append(-signed)
    where = np.array(at, dtype=np.int64)
    cash_delta = np.bincount(where, weights=np.array(cash, dtype=np.float64), minlength=n)[:n] * unit
    pos_delta = np.bincount(where, weights=np.array(lots, dtype=np.float64), minlength=n)[:n]
    position = np.rint(np.cumsum(pos_delta)).astype(np.int64)
    equity = initial_cash * unit + np.cumsum(cash_delta) + position * float(grid.lot) * (ticks.close * float(grid.tick))
    return equity, position
