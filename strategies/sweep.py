"""Parameter sweeps: a grid of backtests in worker processes, ranked by a metric.

The backtest of one parameter set (``evaluate_combo``) is a pure function of a picklable
``SweepJob`` and the parameters, and ``run_sweep`` takes any ``concurrent.futures.Executor``:
a ``ProcessPoolExecutor`` by default, a cluster executor later. Each worker loads the data once
(the pool's initializer preloads it; a worker that meets a job it has not seen loads it on
first use), so tasks carry only parameters.

* invalid combinations (``fast >= slow`` for parameters named ``fast``/``slow`` or
  ``*_fast``/``*_slow``, and anything the spec rejects) are skipped and counted;
* walk-forward (``folds`` K): the bars are cut into K+1 equal consecutive chunks; fold f
  optimises on chunk f (in-sample: every combination, ranked by the metric) and evaluates the
  winner on chunk f+1 (out-of-sample). Signals are computed once on the whole series and
  sliced (an indicator at bar i sees only bars <= i, so slicing leaks nothing);
* Monte Carlo (N): the best combination's closed trades, as returns on the equity before each
  trade, are reshuffled N times (seeded) and each order's trade-level equity path gives a
  max drawdown: the distribution says how much of the drawdown was the order of trades.
"""

from __future__ import annotations

import itertools
import os
import resource
import time
from collections import Counter
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np

from strategies.backtest import BacktestConfig, BacktestResult, run_backtest
from strategies.backtest_report import StrategyError, evaluate, load_strategy
from strategies.data import LoadedData, load
from strategies.signals import SIGNAL_FLAGS, SIGNAL_LEVELS, Signals

LOWER_IS_BETTER = {"max_drawdown", "max_drawdown_bars"}
SUMMARY = ("total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown", "win_rate", "profit_factor",
           "expectancy", "exposure", "fees_paid", "trades")


class SweepError(ValueError):
    """A bad grid, metric or fold count; the message names it."""


@dataclass(frozen=True)
class SweepJob:
    """Everything a worker needs besides the parameters (picklable, small)."""

    strategy: str
    data_ref: str
    data_dir: str | None
    config: BacktestConfig
    metric: str = "sharpe"
    folds: int = 0  # walk-forward K (0: none)
    base_params: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- grid
def parse_grid(item: str) -> tuple[str, list[str]]:
    """``fast=5:50:5`` (start:stop:step, stop inclusive) or ``fast=5,10,20`` -> name, values."""
    name, sep, spec = item.partition("=")
    name = name.strip()
    if not sep or not name or not spec.strip():
        raise SweepError(f"--grid {item!r} must look like name=start:stop:step or name=v1,v2,...")
    try:
        if ":" in spec:
            parts = [Decimal(p) for p in spec.split(":")]
            if len(parts) != 3 or parts[2] <= 0 or parts[1] < parts[0]:
                raise SweepError(f"--grid {item!r}: need start:stop:step with step > 0 and stop >= start")
            start, stop, step = parts
            count = int((stop - start) / step) + 1
            if count > 10_000:
                raise SweepError(f"--grid {item!r} has {count} values (at most 10000)")
            values = [start + i * step for i in range(count)]
        else:
            values = [Decimal(p) for p in spec.split(",") if p.strip()]
    except InvalidOperation:
        raise SweepError(f"--grid {item!r}: values must be numbers") from None
    if not values:
        raise SweepError(f"--grid {item!r} has no values")
    return name, [_num_text(v) for v in values]


def _num_text(v: Decimal) -> str:
    text = f"{v.normalize():f}"
    return "0" if text == "-0" else text


def combinations(grid: dict[str, list[str]], base: dict[str, str]) -> list[dict[str, str]]:
    names = list(grid)
    return [{**base, **dict(zip(names, values, strict=True))} for values in itertools.product(*grid.values())]


def invalid_reason(params: dict[str, str]) -> str | None:
    """``fast >= slow`` (also ``x_fast``/``x_slow`` pairs): a reason string, or None."""
    for name, value in params.items():
        if name == "fast" or name.endswith("_fast"):
            slow_name = name[: -len("fast")] + "slow"
            if slow_name in params:
                try:
                    if Decimal(value) >= Decimal(params[slow_name]):
                        return f"{name} >= {slow_name}"
                except InvalidOperation:
                    return None
    return None


# ---------------------------------------------------------------- workers
_CACHE: dict[tuple[str, str | None], LoadedData] = {}


def _data(job: SweepJob) -> LoadedData:
    key = (job.data_ref, job.data_dir)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = load(job.data_ref, Path(job.data_dir) if job.data_dir else None)
    return _CACHE[key]


def init_worker(job: SweepJob) -> None:
    """Pool initializer: load the data once per worker process."""
    _data(job)


def fold_bounds(n: int, folds: int) -> list[tuple[int, int]]:
    """K+1 equal consecutive chunks ``[start, stop)`` of ``n`` bars."""
    edges = [round(i * n / (folds + 1)) for i in range(folds + 2)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def slice_signals(sig: Signals, start: int, stop: int) -> Signals:
    """Signals of bars ``start:stop`` (views)."""
    levels = {name: (arr[start:stop] if (arr := getattr(sig, name, None)) is not None else None)
              for name in SIGNAL_LEVELS}
    return Signals(stop - start, *(getattr(sig, f)[start:stop] for f in SIGNAL_FLAGS), **levels)


def metric_value(metrics: dict, metric: str) -> float | None:
    v = metrics.get(metric)
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def evaluate_combo(job: SweepJob, params: dict[str, str]) -> dict:
    """One parameter set: full-period metrics plus, with walk-forward, each in-sample chunk's metric."""
    reason = invalid_reason(params)
    if reason is not None:
        return {"params": params, "invalid": reason}
    try:
        spec = load_strategy(job.strategy, params)
    except StrategyError as exc:
        return {"params": params, "invalid": str(exc)}
    data = _data(job)
    signals = evaluate(spec, data.bars)
    full = run_backtest(data.bars, signals, job.config)
    row = {"params": params, "metrics": {k: full.metrics.get(k) for k in SUMMARY}}
    if job.folds:
        bounds = fold_bounds(len(data.bars), job.folds)
        row["in_sample"] = [
            metric_value(run_backtest(data.bars.slice(a, b), slice_signals(signals, a, b), job.config).metrics,
                         job.metric)
            for a, b in bounds[:-1]
        ]
    return row


def evaluate_out_of_sample(job: SweepJob, fold: int, params: dict[str, str]) -> dict:
    """The winner of fold ``fold`` on the next chunk."""
    data = _data(job)
    bounds = fold_bounds(len(data.bars), job.folds)
    a, b = bounds[fold + 1]
    signals = evaluate(load_strategy(job.strategy, params), data.bars)
    res = run_backtest(data.bars.slice(a, b), slice_signals(signals, a, b), job.config)
    return {k: res.metrics.get(k) for k in SUMMARY}


def _combo_task(args: tuple[SweepJob, dict[str, str]]) -> dict:
    t0 = time.process_time()
    row = evaluate_combo(*args)
    row["_worker"] = (os.getpid(), time.process_time() - t0)
    return row


def _oos_task(args: tuple[SweepJob, int, dict[str, str]]) -> dict:
    return evaluate_out_of_sample(*args)


# ---------------------------------------------------------------- ranking, Monte Carlo
def rank(rows: list[dict], metric: str, key=None) -> list[dict]:
    """Best first by ``metric`` (lower first for drawdowns); undefined values last; ties by params."""
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
    getter = key or (lambda r: metric_value(r["metrics"], metric))

    def order(r: dict):
        v = getter(r)
        return (v is None, sign * v if v is not None else 0.0, sorted(r["params"].items()))

    return sorted(rows, key=order)


def trade_returns(result: BacktestResult) -> np.ndarray:
    """Each closed trade's pnl as a fraction of the equity before it (cash when flat)."""
    unit, nf = float(result.grid.unit), result.grid.notional_factor
    equity = float(result.config.cash)
    out = []
    for t in result.trades:
        pnl = t.pnl(nf) * unit
        out.append(pnl / equity if equity > 0 else 0.0)
        equity += pnl
    return np.array(out, dtype=np.float64)


def path_drawdown(rets: np.ndarray) -> np.ndarray:
    """Max drawdown of trade-level equity paths, one per row of ``rets`` (2-D)."""
    paths = np.cumprod(1.0 + rets, axis=-1)
    paths = np.concatenate([np.ones(paths.shape[:-1] + (1,)), paths], axis=-1)
    peaks = np.maximum.accumulate(paths, axis=-1)
    return (1.0 - paths / peaks).max(axis=-1)


def monte_carlo(rets: np.ndarray, runs: int, seed: int) -> dict:
    """Drawdown distribution over ``runs`` seeded reshuffles of the trade order."""
    if len(rets) < 2:
        return {"runs": runs, "trades": len(rets), "note": "fewer than 2 closed trades: nothing to reshuffle"}
    rng = np.random.default_rng(seed)
    shuffled = np.stack([rng.permutation(rets) for _ in range(runs)])
    dd = path_drawdown(shuffled)
    actual = float(path_drawdown(rets[None, :])[0])
    return {
        "runs": runs, "seed": seed, "trades": len(rets), "actual_max_drawdown": actual,
        "max_drawdown": {"mean": float(dd.mean()), "p5": float(np.percentile(dd, 5)),
                         "p50": float(np.percentile(dd, 50)), "p95": float(np.percentile(dd, 95)),
                         "worst": float(dd.max())},
        "share_worse_than_actual": float((dd > actual).mean()),
    }


# ---------------------------------------------------------------- driver
def cpu_seconds() -> float:
    """CPU time of this process and its waited-for children (user + system)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def run_sweep(job: SweepJob, grid: dict[str, list[str]], executor: Executor | None = None, jobs: int = 2,
              top: int = 10, monte_carlo_runs: int = 0, seed: int = 1) -> dict:
    """Run every combination through ``executor`` (default: a process pool of ``jobs``) and rank."""
    t0, cpu0 = time.perf_counter(), cpu_seconds()
    combos = combinations(grid, job.base_params)
    own = executor is None
    if own:
        executor = ProcessPoolExecutor(max_workers=jobs, initializer=init_worker, initargs=(job,))
    try:
        chunk = max(1, len(combos) // (max(jobs, 1) * 8))  # small chunks: every worker gets a share
        rows = list(executor.map(_combo_task, [(job, p) for p in combos], chunksize=chunk))
        per_worker: dict[int, list[float]] = {}
        for r in rows:
            pid, cpu_s = r.pop("_worker")
            per_worker.setdefault(pid, []).append(cpu_s)
        valid = [r for r in rows if "invalid" not in r]
        ranked = rank(valid, job.metric)
        walk = _walk_forward(job, valid, executor) if job.folds and valid else None
    finally:
        if own:
            executor.shutdown(wait=True)
    invalid = Counter(r["invalid"] for r in rows if "invalid" in r)
    out = {
        "strategy": job.strategy, "data": job.data_ref, "metric": job.metric, "grid": grid,
        "combinations": len(combos), "evaluated": len(valid), "invalid": sum(invalid.values()),
        "invalid_reasons": dict(sorted(invalid.items())),
        "ranked": [{"rank": i + 1, **r} for i, r in enumerate(ranked[:top])],
    }
    if walk is not None:
        out["walk_forward"] = walk
    if monte_carlo_runs and ranked:
        out["monte_carlo"] = {"params": ranked[0]["params"],
                              **monte_carlo(trade_returns(_best_result(job, ranked[0]["params"])), monte_carlo_runs, seed)}
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    cores = os.cpu_count() or 1
    out.update({
        "seconds": round(wall, 3), "jobs": jobs,
        "cpu": {"cpu_seconds": round(cpu, 3), "busy_cores": round(cpu / wall, 2) if wall > 0 else None,
                "utilisation": round(cpu / (wall * cores), 3) if wall > 0 else None, "cores": cores,
                "workers": [{"combinations": len(v), "cpu_seconds": round(sum(v), 3)} for v in per_worker.values()],
                "loadavg_1m": round(os.getloadavg()[0], 2)},
    })
    return out


def _best_result(job: SweepJob, params: dict[str, str]) -> BacktestResult:
    data = _data(job)
    return run_backtest(data.bars, evaluate(load_strategy(job.strategy, params), data.bars), job.config)


def _walk_forward(job: SweepJob, valid: list[dict], executor: Executor) -> dict:
    """Per fold: the in-sample winner and its out-of-sample metrics."""
    winners = []
    for f in range(job.folds):
        best = rank(valid, job.metric, key=lambda r, f=f: r["in_sample"][f])[0]
        winners.append((f, best))
    oos = list(executor.map(_oos_task, [(job, f, best["params"]) for f, best in winners]))
    folds = []
    for (f, best), metrics in zip(winners, oos, strict=True):
        folds.append({"fold": f + 1, "params": best["params"], "in_sample": best["in_sample"][f],
                      "out_of_sample": metric_value(metrics, job.metric), "out_of_sample_metrics": metrics})
    defined = [x["out_of_sample"] for x in folds if x["out_of_sample"] is not None]
    return {"folds": folds, "mean_out_of_sample": float(np.mean(defined)) if defined else None}
