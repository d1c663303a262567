"""``tickdesk sweep``: a parameter grid of backtests in a process pool, ranked by a metric.

The work lives in ``strategies.sweep``; this module parses options and prints a ranked table
(rich) or, with ``--json``, one object on stdout. Progress goes to stderr.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from tui.cli import app, fail
from tui.commands.backtest import MODE_HELP, build_config, load_data, parse_params

DEFAULT_GRID = ("fast=5:50:5", "slow=20:200:10")


@app.command("sweep")
def sweep(
    ctx: typer.Context,
    strategy: Annotated[str, typer.Option("--strategy", help="Template name (e.g. sma_cross) or spec file.")],
    data: Annotated[str, typer.Option("--data", help="Candle file or store:VENUE:SYMBOL:TF.")],
    grid: Annotated[list[str] | None, typer.Option("--grid", help="name=start:stop:step (stop inclusive) or name=v1,v2 (repeatable).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="Fixed strategy parameter name=value (repeatable).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", help="Worker processes (default: all cores).")] = 0,
    metric: Annotated[str, typer.Option("--metric", help="Rank by this metric (max_drawdown ranks lowest first).")] = "sharpe",
    top: Annotated[int, typer.Option("--top", help="Rows of the ranked table.")] = 10,
    walk_forward: Annotated[int, typer.Option("--walk-forward", help="K walk-forward folds (in-sample optimise, out-of-sample evaluate).")] = 0,
    monte_carlo: Annotated[int, typer.Option("--monte-carlo", help="N seeded reshuffles of the best combination's trades (drawdown distribution).")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the Monte Carlo reshuffles.")] = 1,
    fee: Annotated[str, typer.Option("--fee", help="Fee rate on each side's notional.")] = "0.001",
    cash: Annotated[str, typer.Option("--cash", help="Starting cash.")] = "10000",
    mode: Annotated[str, typer.Option("--mode", help=MODE_HELP)] = "bar",
    slippage_bps: Annotated[str, typer.Option("--slippage-bps", help="Adverse slippage in basis points.")] = "0",
    symbol: Annotated[str | None, typer.Option("--symbol", help="Instrument for tick and lot.")] = None,
    lot: Annotated[str | None, typer.Option("--lot", help="Lot size override.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Backtest every grid combination in parallel; skip invalid ones (fast >= slow); rank by a metric."""
    from strategies.sweep import SUMMARY, SweepError, SweepJob, parse_grid, run_sweep
    from tui.commands.root import get_settings

    jobs = jobs or os.cpu_count() or 1
    if jobs < 1 or jobs > 256:
        fail(f"--jobs must be between 1 and 256, got {jobs}")
    if metric not in SUMMARY:
        fail(f"--metric {metric!r} is not one of {', '.join(SUMMARY)}")
    if top < 1:
        fail(f"--top must be at least 1, got {top}")
    if walk_forward < 0 or walk_forward > 50:
        fail(f"--walk-forward must be between 0 and 50, got {walk_forward}")
    if monte_carlo < 0 or monte_carlo > 100_000:
        fail(f"--monte-carlo must be between 0 and 100000, got {monte_carlo}")
    try:
        parsed = dict(parse_grid(g) for g in (grid or DEFAULT_GRID))
    except SweepError as exc:
        fail(str(exc))
    settings = get_settings(ctx)
    loaded = load_data(data, settings)  # fail fast on bad data before starting workers
    if walk_forward and len(loaded.bars) < 2 * (walk_forward + 1):
        fail(f"--walk-forward {walk_forward} needs at least {2 * (walk_forward + 1)} bars, the data has {len(loaded.bars)}")
    config = build_config(fee, cash, mode, slippage_bps, "0", symbol or loaded.symbol or "BTC/USDT", lot, None)
    from strategies.backtest_report import StrategyError, load_strategy

    base = parse_params(param or [])
    try:  # the strategy with its fixed parameters must load; per-combination errors are counted
        load_strategy(strategy, base)
    except StrategyError as exc:
        fail(str(exc))
    data_ref = str(Path(data).resolve()) if not data.startswith("store:") else data
    job = SweepJob(strategy, data_ref, str(settings.data_dir), config, metric, walk_forward, base)
    typer.echo(f"sweep: {len(loaded.bars):,} bars, {jobs} workers", err=True)
    report = run_sweep(job, parsed, jobs=jobs, top=top, monte_carlo_runs=monte_carlo, seed=seed)
    report["data"] = data
    if as_json:
        import orjson

        sys.stdout.write(orjson.dumps(report).decode() + "\n")
        return
    print_report(report)


def _f(v, pct: bool = False) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v * 100:.2f}%" if pct else f"{v:.3f}"


def print_report(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    names = list(r["grid"])
    table = Table(title=f"sweep {r['strategy']}: top {len(r['ranked'])} of {r['evaluated']} by {r['metric']}")
    table.add_column("#", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    for col in ("sharpe", "total return", "max dd", "trades", "win rate"):
        table.add_column(col, justify="right")
    for row in r["ranked"]:
        m = row["metrics"]
        table.add_row(str(row["rank"]), *(row["params"][n] for n in names), _f(m["sharpe"]), _f(m["total_return"], True),
                      _f(m["max_drawdown"], True), _f(m["trades"]), _f(m["win_rate"], True))
    console.print(table)
    console.print(f"{r['combinations']} combinations: {r['evaluated']} evaluated, {r['invalid']} skipped as invalid "
                  f"{r['invalid_reasons'] or ''}")
    wf = r.get("walk_forward")
    if wf:
        for fold in wf["folds"]:
            params = ", ".join(f"{k}={v}" for k, v in fold["params"].items())
            console.print(f"walk-forward fold {fold['fold']}: {params}: in-sample {_f(fold['in_sample'])}, "
                          f"out-of-sample {_f(fold['out_of_sample'])}")
        console.print(f"mean out-of-sample {r['metric']}: {_f(wf['mean_out_of_sample'])}")
    mc = r.get("monte_carlo")
    if mc and "max_drawdown" in mc:
        d = mc["max_drawdown"]
        console.print(f"Monte Carlo ({mc['runs']} reshuffles of {mc['trades']} trades, seed {mc['seed']}): max drawdown "
                      f"p5 {_f(d['p5'], True)}, median {_f(d['p50'], True)}, p95 {_f(d['p95'], True)}; "
                      f"actual order {_f(mc['actual_max_drawdown'], True)}")
    cpu = r["cpu"]
    console.print(f"{r['seconds']:.2f} s wall, {cpu['cpu_seconds']:.2f} s CPU: {cpu['busy_cores']} cores busy on average "
                  f"({cpu['utilisation'] * 100:.0f}% of {cpu['cores']}, load {cpu['loadavg_1m']}), {r['jobs']} workers")
    split = ", ".join(f"{w['combinations']} combinations / {w['cpu_seconds']:.2f} s CPU" for w in cpu["workers"])
    console.print(f"per worker process: {split}")
