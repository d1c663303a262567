"""Bar-mode fills: market orders at the open, protective exits found by vectorized scans.

A position's stop-loss, take-profit and trailing stop are checked over the whole slice of bars
it may live through in one numpy pass (``watch``), so the cost is per trade, not per bar. The
path convention is the one documented in :mod:`strategies.backtest`; a short is handled as a
long on negated prices (its high becomes the low of the mirrored bar), so one scan serves both.

Slippage (optional, adverse, on every fill): ``bps`` of the price plus a fraction of the fill
bar's high-low range, rounded up to whole ticks.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np

from strategies.backtest import Exit, Position, Ticks
from strategies.backtest_ledger import LONG, Grid

PPM = 1_000_000


class BarFills:
    """The default fill model (see the module doc)."""

    def __init__(self, grid: Grid, ticks: Ticks, slippage_bps: Decimal = Decimal(0),
                 slippage_range: Decimal = Decimal(0)) -> None:
        self.ticks = ticks
        self._open = ticks.open
        self.bps = float(slippage_bps)
        self.range_frac = float(slippage_range)
        if not self.bps and not self.range_frac:
            self.quote = self._open_price  # the common case: no slippage call per fill

    # ---------------------------------------------------------------- market orders
    def _open_price(self, bar: int, side: int) -> int:
        return int(self._open[bar])

    def quote(self, bar: int, side: int) -> int:
        return self._slipped(bar, int(self._open[bar]), side)

    def market(self, bar: int, side: int, lots: int) -> int:
        return self.quote(bar, side)

    def arm(self, pos: Position, bar: int) -> Exit | None:
        """Nothing to place: levels live on the position (a level already through the open is
        found by ``watch`` as a gap at that bar)."""
        return None

    def disarm(self, pos: Position) -> None:
        """Nothing to cancel."""

    def _slipped(self, bar: int, price: int, side: int) -> int:
        if not self.bps and not self.range_frac:
            return price
        t = self.ticks
        slip = price * self.bps / 10_000 + self.range_frac * float(t.high[bar] - t.low[bar])
        slip_ticks = math.ceil(slip - 1e-9) if slip > 0 else 0
        return max(1, price + side * slip_ticks)

    # ---------------------------------------------------------------- protective exits
    def watch(self, pos: Position, last: int) -> Exit | None:
        """First stop/take-profit/trailing exit in bars ``pos.start..last`` (conservative path).

        A level already through a bar's open is a gap: it fills at that open. On the bar where
        the position was just filled that cannot happen for a fresh entry (levels lie beyond the
        entry price), but can after a resize, where it matches the engine refusing a trigger
        that is already reached and closing at once."""
        side, first = pos.side, pos.start
        t = self.ticks
        sl = slice(first, last + 1)
        if side == LONG:
            o, h, l, c = t.open[sl], t.high[sl], t.low[sl], t.close[sl]
            anchor, stop, target = pos.anchor, pos.stop, pos.take_profit
        else:  # mirror: a short is a long on negated prices
            o, h, l, c = -t.open[sl], -t.low[sl], -t.high[sl], -t.close[sl]
            anchor = -pos.anchor
            stop = -pos.stop if pos.stop is not None else None
            target = -pos.take_profit if pos.take_profit is not None else None
        hit = np.zeros(len(o), dtype=bool)
        stages: dict[str, np.ndarray] = {}
        if stop is not None:
            stages["gap_stop"] = o <= stop
            stages["stop"] = l <= stop
        if target is not None:
            stages["gap_tp"] = o >= target
            stages["tp"] = h >= target
        trail = None
        if pos.trail_ppm is not None:
            trail = _trail_levels(anchor, o, h, c, pos.trail_ppm)
            level_prev, level_open, level_close = trail
            stages["gap_trail"] = o <= level_prev
            stages["trail"] = l <= level_open
            stages["trail_close"] = c <= level_close
        for arr in stages.values():
            hit |= arr
        if not hit.any():
            best = max(anchor, int(h.max())) if len(h) else anchor
            pos.anchor = best if side == LONG else -best
            return None
        b = int(hit.argmax())
        price, reason = _resolve(b, stages, o, stop, target, trail)
        bar = first + b
        if side != LONG:
            price = -price
        return Exit(bar, self._slipped(bar, price, -side), reason)


def _trail_levels(anchor: int, o: np.ndarray, h: np.ndarray, c: np.ndarray, ppm: int):
    """Per bar: the trailing level before the open, after the open, and after the high.

    The anchor is the best price printed so far: ``anchor`` (the fill that placed the order,
    or the best price of bars already watched), then every open, high and close on the (long) path; the level is ``anchor - max(1, anchor * ppm // 1e6)`` ticks (the
    engine's rule, on absolute prices so mirrored shorts round the same way).
    """
    prior_high = np.empty_like(h)
    prior_high[0] = anchor
    if len(h) > 1:
        prior_high[1:] = h[:-1]
    anchor_prev = np.maximum.accumulate(np.maximum(prior_high, anchor))
    anchor_open = np.maximum(anchor_prev, o)
    anchor_high = np.maximum(anchor_open, h)
    return (_trail_level(anchor_prev, ppm), _trail_level(anchor_open, ppm), _trail_level(anchor_high, ppm))


def _trail_level(anchor: np.ndarray, ppm: int) -> np.ndarray:
    offset = np.maximum(1, np.abs(anchor) * ppm // PPM)
    return anchor - offset


def _resolve(b: int, stages: dict[str, np.ndarray], o: np.ndarray, stop: int | None, target: int | None,
             trail) -> tuple[int, str]:
    """Which level of bar ``b`` fires first along open -> low -> high -> close (long terms)."""
    def at(name: str) -> bool:
        arr = stages.get(name)
        return arr is not None and bool(arr[b])

    if at("gap_stop") or at("gap_trail") or at("gap_tp"):
        reason = "stop_loss" if at("gap_stop") else ("trailing_stop" if at("gap_trail") else "take_profit")
        return int(o[b]), reason
    down = []
    if at("stop"):
        down.append((int(stop), 1, "stop_loss"))
    if at("trail"):
        down.append((int(trail[1][b]), 0, "trailing_stop"))
    if down:  # falling from the open, the higher level is crossed first (a tie: the stop)
        level, _, reason = max(down)
        return level, reason
    if at("tp"):
        return int(target), "take_profit"
    return int(trail[2][b]), "trailing_stop"
