"""``tickdesk bench backtest``: a year of 1-minute bars, SMA 10/30, bar mode vs exact mode vs a
plain numpy reference of the same rule, in one run, with the results checked equal.

The year (525,600 bars) is made deterministically from a real candle file: each source bar's
open/high/low/close as ratios to the previous close is replayed in order, tiled as often as
needed, starting from the file's first close, and rounded to the tick (so every candle still has
low <= open, close <= high). Without the file, a seeded geometric Brownian motion (the output
says which). Timed: bar mode end to end (signals + fills + metrics), median of ``rounds``; the
reference likewise; exact mode once (it drives the matching engine for every fill).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np

from strategies.backtest import BacktestConfig, run_backtest
from strategies.backtest_reference import sma_cross_reference, sma_crosses
from strategies.signals import Bars, Signals

YEAR_MINUTES = 525_600
MINUTE_MS = 60_000


class BenchMismatch(RuntimeError):
    """Bar mode, exact mode and the reference disagree."""


def tiled_year(path: Path, n: int = YEAR_MINUTES, tick: float = 0.01) -> Bars:
    """``n`` 1-minute bars replaying the file's bar-to-bar ratios, tiled (see the module doc)."""
    src = Bars.from_kline_file(path)
    prev = np.concatenate(([src.open[0]], src.close[:-1]))
    ratios = np.stack([src.open / prev, src.high / prev, src.low / prev, src.close / prev])
    reps = -(-n // len(src))
    ratios = np.tile(ratios, reps)[:, :n]
    close = src.close[0] * np.cumprod(ratios[3])
    prev_close = np.concatenate(([src.close[0]], close[:-1]))
    ohlc = [np.round(prev_close * ratios[k] / tick) * tick for k in range(3)] + [np.round(close / tick) * tick]
    o, h, l, c = ohlc
    h = np.maximum.reduce([h, o, c])
    l = np.minimum.reduce([l, o, c])
    ts = int(src.ts[0]) + MINUTE_MS * np.arange(n, dtype=np.int64)
    vol = np.tile(src.volume, reps)[:n]
    return Bars(ts, o, h, l, c, vol)


def gbm_year(n: int = YEAR_MINUTES, seed: int = 7, tick: float = 0.01) -> Bars:
    """Seeded geometric Brownian motion candles (fallback when no candle file is around)."""
    rng = np.random.default_rng(seed)
    sigma = 0.0008
    steps = rng.normal(0.0, sigma, size=(n, 4))
    close = 30_000.0 * np.exp(np.cumsum(steps[:, 3]))
    prev = np.concatenate(([30_000.0], close[:-1]))
    o = prev * np.exp(steps[:, 0] * 0.1)
    h = np.maximum(o, close) * np.exp(np.abs(steps[:, 1]))
    l = np.minimum(o, close) * np.exp(-np.abs(steps[:, 2]))
    r = [np.round(x / tick) * tick for x in (o, h, l, close)]
    return Bars(1_700_000_000_000 + MINUTE_MS * np.arange(n, dtype=np.int64), *r, np.ones(n))


def _signals_factory(fast: int, slow: int) -> tuple[Callable[[Bars], Signals], str]:
    """SMA cross signals from the strategies evaluator (the sma_cross template)."""
    try:
        from strategies.evaluate import vectorized
        from strategies.spec import load_spec
    except ImportError:
        def from_reference(bars: Bars) -> Signals:
            up, down = sma_crosses(bars.close, fast, slow)
            z = np.zeros(len(bars), dtype=bool)
            return Signals(len(bars), up, down, z, z.copy())

        return from_reference, "reference crosses (strategies.evaluate is not available)"
    spec = load_spec("sma_cross", {"fast": str(fast), "slow": str(slow)})
    return (lambda bars: vectorized(spec, bars)), "strategies.evaluate.vectorized(sma_cross)"


def _median_time(fn: Callable[[], object], rounds: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def run_bench(data_path: Path | None, rounds: int = 5, fast: int = 10, slow: int = 30, fee: str = "0.001",
              cash: str = "10000", exact: bool = True, log: Callable[[str], None] = lambda _m: None) -> dict:
    """Time the three implementations on the same year and check they agree."""
    if data_path is not None and data_path.is_file():
        bars, data = tiled_year(data_path), f"tiled bar ratios of {data_path.name} ({YEAR_MINUTES:,} bars)"
    else:
        bars, data = gbm_year(), f"seeded GBM (seed 7, {YEAR_MINUTES:,} bars): no candle file found"
    log(f"data: {data}")
    make_signals, signals_from = _signals_factory(fast, slow)
    config = BacktestConfig(cash=Decimal(cash), fee=Decimal(fee))
    lot = float(config.grid().lot)

    def bar_mode():
        return run_backtest(bars, make_signals(bars), config)

    bar_mode()  # warm-up: imports, caches
    bar_s, bar = _median_time(bar_mode, rounds)
    sig_s, signals = _median_time(lambda: make_signals(bars), rounds)
    fills_s, _ = _median_time(lambda: run_backtest(bars, signals, config), rounds)
    log(f"bar mode: {bar_s:.3f} s (median of {rounds})")
    ref_s, ref = _median_time(
        lambda: sma_cross_reference(bars.open, bars.close, fast, slow, float(fee), float(cash), lot), rounds)
    log(f"reference: {ref_s:.3f} s")
    report = {
        "bars": len(bars), "data": data, "signals": signals_from, "fast": fast, "slow": slow,
        "fee": fee, "cash": cash, "rounds": rounds,
        "bar_mode": {"seconds": round(bar_s, 6), "signals_seconds": round(sig_s, 6),
                     "fills_and_metrics_seconds": round(fills_s, 6),
                     "entries": bar.entries, "exits": bar.exits, "final_equity": bar.grid.cash(bar.final_equity_units)},
        "reference": {"seconds": round(ref_s, 6), "entries": len(ref["entries"]), "exits": len(ref["exits"]),
                      "final_equity": round(ref["final_equity"], 8)},
    }
    report["reference"]["lot_boundary_differences"] = _check_reference(bar, ref)
    if exact:
        t0 = time.perf_counter()
        ex = run_backtest(bars, signals, BacktestConfig(cash=Decimal(cash), fee=Decimal(fee), mode="exact"))
        ex_s = time.perf_counter() - t0
        log(f"exact mode: {ex_s:.3f} s")
        same = [(t.entry_bar, t.exit_bar, t.qty, t.entry_price, t.exit_price) for t in ex.trades] == \
            [(t.entry_bar, t.exit_bar, t.qty, t.entry_price, t.exit_price) for t in bar.trades]
        if not same or ex.final_equity_units != bar.final_equity_units:
            raise BenchMismatch("exact mode and bar mode disagree on the trades or the final equity")
        report["exact_mode"] = {"seconds": round(ex_s, 6), "entries": ex.entries, "exits": ex.exits,
                                "final_equity": ex.grid.cash(ex.final_equity_units)}
    report["results_equal"] = True
    report["ratio_bar_to_reference"] = round(bar_s / ref_s, 3) if ref_s > 0 else None
    report["python"] = platform.python_version()
    report["cores"] = os.cpu_count()
    report["loadavg_1m"] = round(os.getloadavg()[0], 2)
    return report


def _check_reference(bar, ref: dict) -> int:
    """Same entries and exits, quantities to the lot, final equity to a cent; returns how many
    entries differ by one lot (the float reference's ``floor`` on a lot boundary, where the exact
    ledger's rounded-up fee decides the other way)."""
    everything = bar.trades + bar.open_trades
    entries = [t.entry_bar for t in everything]
    if entries != ref["entries"] or [t.exit_bar for t in bar.trades] != ref["exits"]:
        raise BenchMismatch(f"entries/exits differ: {len(entries)}/{bar.exits} vs "
                            f"{len(ref['entries'])}/{len(ref['exits'])} in the reference")
    lot = float(bar.grid.lot)
    lots = np.array([t.qty for t in everything], dtype=np.int64)
    ref_lots = np.rint(np.array(ref["qty"], dtype=np.float64) / lot).astype(np.int64)
    off = np.abs(lots - ref_lots)
    if len(off) and off.max() > 1:
        raise BenchMismatch("entry quantities differ from the reference by more than one lot")
    diff = abs(float(bar.final_equity) - ref["final_equity"])
    if diff > 0.01:
        raise BenchMismatch(f"final equity differs by {diff:.8f}: {bar.final_equity} vs {ref['final_equity']:.8f}")
    return int(np.count_nonzero(off))
