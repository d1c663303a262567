"""A plain numpy implementation of the pinned ``sma_cross`` rule, for ``tickdesk bench backtest``.

Deliberately written apart from the backtester (no ledger, no fill model, no event cursor):
floats for money, one Python loop over the crossings. It states the pinned rule directly:

* SMA of close (``fast``, ``slow``); a cross up at bar ``i``'s close is ``fast > slow`` at ``i``
  and ``fast <= slow`` at ``i-1``, both defined; a cross down is the mirror;
* a cross up, when flat, buys with all cash at bar ``i+1``'s open: ``qty = floor(cash /
  (open * (1 + fee)) / lot) * lot``; a cross down sells the whole position at ``i+1``'s open;
  long only; fee on both sides' notional; equity marked at the last close.

The comparison ``fast > slow`` is done on integer tick sums (``sum_fast * slow > sum_slow *
fast``), so it is exact: a float rolling mean can invent a cross where two averages are equal.
"""

from __future__ import annotations

import math

import numpy as np


def window_sums(x: np.ndarray, n: int) -> np.ndarray:
    """Rolling sums of the last ``n`` integers (0 before the window is full)."""
    cs = np.concatenate(([0], np.cumsum(x, dtype=np.int64)))
    out = np.zeros(len(x), dtype=np.int64)
    if len(x) >= n:
        out[n - 1:] = cs[n:] - cs[:-n]
    return out


def sma_crosses(close: np.ndarray, fast: int, slow: int, tick: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """(cross up, cross down) bool arrays at bar closes, per the pinned definition."""
    c = np.rint(close / tick).astype(np.int64)
    above = window_sums(c, fast) * slow > window_sums(c, slow) * fast
    defined = np.arange(len(c)) >= max(fast, slow) - 1
    both = defined.copy()
    both[1:] &= defined[:-1]
    both[0] = False
    prev = np.zeros_like(above)
    prev[1:] = above[:-1]
    return above & ~prev & both, ~above & prev & both


def sma_cross_reference(open_: np.ndarray, close: np.ndarray, fast: int, slow: int, fee: float, cash: float,
                        lot: float, tick: float = 0.01) -> dict:
    """Entries, exits (fill bars), quantities and final equity of the pinned rule."""
    up, down = sma_crosses(close, fast, slow, tick)
    n = len(close)
    events = np.flatnonzero(up | down)
    qty = 0.0
    entries: list[int] = []
    exits: list[int] = []
    qtys: list[float] = []
    for i in events.tolist():
        if i + 1 >= n:
            break
        price = float(open_[i + 1])
        if up[i] and qty == 0.0:
            lots = math.floor(cash / (price * (1.0 + fee)) / lot)
            if lots > 0:
                qty = lots * lot
                cash -= qty * price * (1.0 + fee)
                entries.append(i + 1)
                qtys.append(qty)
        elif down[i] and qty > 0.0:
            cash += qty * price * (1.0 - fee)
            qty = 0.0
            exits.append(i + 1)
    return {"entries": entries, "exits": exits, "qty": qtys, "final_equity": cash + qty * float(close[-1])}
