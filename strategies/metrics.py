"""Backtest metrics, each defined exactly once here (the README repeats these definitions).

Per-bar returns ``r_t = E_t / E_{t-1} - 1`` use the equity marked at each close, with
``E_{-1}`` the starting cash. Annualisation assumes a market open around the clock (crypto):
``periods_per_year = 365 * 86400 s / bar length``, the bar length being the median spacing of
the bar timestamps. Risk-free rate 0.

* ``total_return = E_last / cash - 1``; ``cagr = (E_last / cash) ** (1 / years) - 1`` with
  ``years = bars / periods_per_year`` (-1 when equity ends at or below 0; None when a very
  short span would annualise beyond a float);
* ``sharpe = mean(r) / std(r, ddof=1) * sqrt(periods_per_year)`` (0 when std is 0);
* ``sortino = mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(periods_per_year)`` (None when no
  period loses);
* ``max_drawdown = max_t (1 - E_t / max_{s<=t} E_s)`` with the starting cash as the first peak,
  a positive fraction; ``max_drawdown_bars`` is that drawdown's duration: bars from its peak
  until equity is back at the peak (or the last bar if it never is);
* ``calmar = cagr / max_drawdown`` (None without a drawdown);
* over closed trades (net of both fees): ``win_rate`` = share with pnl > 0,
  ``profit_factor`` = gross profit / gross loss (None without a losing trade),
  ``expectancy`` = mean pnl per trade (quote currency);
* ``exposure`` = share of bars with a position held at the close; ``fees_paid`` in quote.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from strategies.backtest import BacktestResult

SECONDS_PER_YEAR = 365 * 86400


def periods_per_year(ts_ms: np.ndarray) -> float:
    """Bars per year from the median bar spacing (1-minute bars: 525,600)."""
    if len(ts_ms) < 2:
        return float(SECONDS_PER_YEAR / 60)
    step_ms = float(np.median(np.diff(ts_ms)))
    if step_ms <= 0:
        raise ValueError("bar timestamps must increase")
    return SECONDS_PER_YEAR * 1000.0 / step_ms


def returns(equity: np.ndarray, start: float) -> np.ndarray:
    """Per-bar simple returns of the equity curve, the first against the starting cash."""
    prev = np.empty_like(equity)
    prev[0] = start
    prev[1:] = equity[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = equity / prev - 1.0
    return np.where(prev > 0, r, 0.0)


def sharpe(r: np.ndarray, ppy: float) -> float:
    if len(r) < 2:
        return 0.0
    sd = float(np.std(r, ddof=1))
    return float(np.mean(r)) / sd * math.sqrt(ppy) if sd > 0 else 0.0


def sortino(r: np.ndarray, ppy: float) -> float | None:
    if len(r) == 0:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    return float(np.mean(r)) / downside * math.sqrt(ppy) if downside > 0 else None


def drawdown(equity: np.ndarray, start: float) -> tuple[float, int]:
    """(max drawdown as a positive fraction, its duration in bars from peak to recovery)."""
    if len(equity) == 0:
        return 0.0, 0
    curve = np.concatenate(([start], equity))
    peaks = np.maximum.accumulate(curve)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peaks > 0, 1.0 - curve / peaks, 0.0)
    trough = int(dd.argmax())
    depth = float(dd[trough])
    if depth <= 0:
        return 0.0, 0
    peak_value = peaks[trough]
    peak_at = int(np.flatnonzero(curve[: trough + 1] == peak_value)[-1])
    recovered = np.flatnonzero(curve[trough:] >= peak_value)
    end = trough + int(recovered[0]) if len(recovered) else len(curve) - 1
    return depth, end - peak_at


def cagr(final: float, start: float, bars: int, ppy: float) -> float | None:
    """Compound annual growth; None when a short span would annualise beyond a float."""
    if final <= 0:
        return -1.0
    years = bars / ppy
    if years <= 0:
        return 0.0
    exponent = math.log(final / start) / years
    return math.expm1(exponent) if exponent < 700 else None


def trade_stats(pnls: np.ndarray) -> dict[str, float | None]:
    """Win rate, profit factor and expectancy over closed trades' net pnl."""
    if len(pnls) == 0:
        return {"win_rate": None, "profit_factor": None, "expectancy": None}
    gains = float(pnls[pnls > 0].sum())
    losses = float(-pnls[pnls < 0].sum())
    return {
        "win_rate": float((pnls > 0).mean()),
        "profit_factor": gains / losses if losses > 0 else None,
        "expectancy": float(pnls.mean()),
    }


def compute_metrics(result: BacktestResult) -> dict:
    """Every metric of a finished backtest (floats; None where undefined)."""
    start = float(result.config.cash)
    eq = result.equity
    ppy = periods_per_year(result.ts)
    r = returns(eq, start)
    final = float(result.final_equity)
    mdd, mdd_bars = drawdown(eq, start)
    growth = cagr(final, start, result.bars, ppy)
    unit = float(result.grid.unit)
    nf = result.grid.notional_factor
    pnls = np.array([t.pnl(nf) * unit for t in result.trades], dtype=np.float64)
    out = {
        "total_return": final / start - 1.0,
        "cagr": growth,
        "sharpe": sharpe(r, ppy),
        "sortino": sortino(r, ppy),
        "calmar": growth / mdd if mdd > 0 and growth is not None else None,
        "max_drawdown": mdd,
        "max_drawdown_bars": mdd_bars,
        "exposure": float(np.count_nonzero(result.position)) / result.bars if result.bars else 0.0,
        "fees_paid": result.fees_paid * unit,
        "trades": len(result.trades),
        "periods_per_year": ppy,
    }
    out.update(trade_stats(pnls))
    return out
