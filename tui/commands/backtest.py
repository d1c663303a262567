"""``tickdesk backtest``: one strategy on one data set (pinned in ../shared/docs/architecture.md).

The work lives in ``strategies`` (``backtest_report``: spec -> signals -> fills -> metrics ->
fingerprint); this module parses options, loads the data, stores the result in the market
store's ``backtests`` tables and prints. ``--json`` prints one object on stdout; errors are one
line on stderr with a non-zero exit, and nothing is stored for a failed run.
"""

from __future__ import annotations

import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from tui.cli import app, fail

MODE_HELP = "bar: vectorized fills at the next open; exact: orders through the matching engine."


def parse_params(items: list[str]) -> dict[str, str]:
    """``k=v`` pairs -> dict (values stay strings: the spec validates and converts them)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            fail(f"--param {item!r} must look like name=value")
        out[key.strip()] = value.strip()
    return out


def parse_decimal(option: str, text: str | None, *, positive: bool = False) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        fail(f"{option} {text!r} is not a number")
    if not value.is_finite() or value < 0 or (positive and value == 0):
        fail(f"{option} must be a {'positive' if positive else 'non-negative'} number, got {text}")
    return value


def build_config(fee: str, cash: str, mode: str, slippage_bps: str, slippage_range: str,
                 symbol: str, lot: str | None, tick: str | None):
    """Options -> ``BacktestConfig`` or a one-line failure naming the option."""
    from strategies.backtest import BacktestConfig

    try:
        return BacktestConfig(
            cash=parse_decimal("--cash", cash, positive=True), fee=parse_decimal("--fee", fee),
            symbol=symbol, lot=parse_decimal("--lot", lot, positive=True),
            tick=parse_decimal("--tick", tick, positive=True),
            slippage_bps=parse_decimal("--slippage-bps", slippage_bps),
            slippage_range=parse_decimal("--slippage-range", slippage_range), mode=mode,
        )
    except ValueError as exc:
        fail(str(exc))


def load_data(ref: str, settings):
    from strategies.data import DataError, load

    try:
        return load(ref, Path(settings.data_dir))
    except DataError as exc:
        fail(str(exc))


def store_result(report, settings) -> str:
    """Save in the market store; a store held by another process is a clear failure."""
    from core.journal import StoreOwnedError
    from core.store import MarketStore, StoreError, default_store_path
    from strategies.results import save

    try:
        store = MarketStore(default_store_path(settings))
    except (StoreError, StoreOwnedError) as exc:
        fail(f"results not stored: {exc} (rerun with --no-store to skip storing)")
    try:
        return save(store.con, report.record())
    finally:
        store.close()


@app.command("backtest")
def backtest(
    ctx: typer.Context,
    strategy: Annotated[str, typer.Option("--strategy", help="Template name (e.g. sma_cross) or spec file (TOML/JSON).")],
    data: Annotated[str, typer.Option("--data", help="Candle file (\\[ts_ms,o,h,l,c,v] JSON, gzip or not) or store:VENUE:SYMBOL:TF.")],
    param: Annotated[list[str] | None, typer.Option("--param", help="Strategy parameter name=value (repeatable).")] = None,
    fee: Annotated[str, typer.Option("--fee", help="Fee rate on each side's notional (0.001 = 0.1 %).")] = "0.001",
    cash: Annotated[str, typer.Option("--cash", help="Starting cash in the quote currency.")] = "10000",
    mode: Annotated[str, typer.Option("--mode", help=MODE_HELP)] = "bar",
    slippage_bps: Annotated[str, typer.Option("--slippage-bps", help="Adverse slippage on every fill, in basis points (bar mode).")] = "0",
    slippage_range: Annotated[str, typer.Option("--slippage-range", help="Adverse slippage as a fraction of the fill bar's high-low range (bar mode).")] = "0",
    symbol: Annotated[str | None, typer.Option("--symbol", help="Instrument for tick and lot (default: from the data, else BTC/USDT).")] = None,
    lot: Annotated[str | None, typer.Option("--lot", help="Lot size override (quantities round down to it).")] = None,
    tick: Annotated[str | None, typer.Option("--tick", help="Tick size override (prices sit on it).")] = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not save the run in the market store.")] = False,
    no_trades: Annotated[bool, typer.Option("--no-trades", help="Leave the trade list out of --json.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Backtest a strategy: fills at the next bar's open, fees on both sides, metrics and a fingerprint."""
    from tui.commands.root import get_settings

    settings = get_settings(ctx)
    params = parse_params(param or [])
    loaded = load_data(data, settings)
    config = build_config(fee, cash, mode, slippage_bps, slippage_range, symbol or loaded.symbol or "BTC/USDT", lot, tick)
    from strategies.backtest_report import StrategyError, backtest_strategy

    try:
        report = backtest_strategy(strategy, params, loaded, config)
    except StrategyError as exc:
        fail(str(exc))
    run_id = None if no_store else store_result(report, settings)
    if as_json:
        import orjson

        out = report.as_json(with_trades=not no_trades)
        out["run_id"] = run_id
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY).decode() + "\n")
        return
    print_summary(report, run_id)


def _fmt(value, pct: bool = False) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value * 100:,.2f} %" if pct else f"{value:,.4f}"


def print_summary(report, run_id: str | None) -> None:
    """A readable summary table (rich) of the run's metrics and its last trades."""
    from rich.console import Console
    from rich.table import Table

    r, m = report.result, report.result.metrics
    console = Console()
    table = Table(title=f"backtest {report.strategy} on {report.data.source}", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("bars", _fmt(r.bars)), ("mode", r.config.mode), ("entries / exits", f"{r.entries} / {r.exits}"),
        ("final equity", r.grid.cash(r.final_equity_units)), ("total return", _fmt(m["total_return"], True)),
        ("CAGR", _fmt(m["cagr"], True)), ("Sharpe", _fmt(m["sharpe"])), ("Sortino", _fmt(m["sortino"])),
        ("Calmar", _fmt(m["calmar"])), ("max drawdown", _fmt(m["max_drawdown"], True)),
        ("max drawdown duration (bars)", _fmt(m["max_drawdown_bars"])), ("win rate", _fmt(m["win_rate"], True)),
        ("profit factor", _fmt(m["profit_factor"])), ("expectancy", _fmt(m["expectancy"])),
        ("exposure", _fmt(m["exposure"], True)), ("fees paid", _fmt(m["fees_paid"])),
        ("seconds", f"{report.seconds:.3f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    trades = r.trade_rows()[-10:]
    if trades:
        tt = Table(title=f"last {len(trades)} of {r.entries} trades")
        for col in ("side", "qty", "entry (UTC)", "entry", "exit", "pnl", "reason"):
            tt.add_column(col, justify="left" if col in ("side", "reason") else "right")
        for t in trades:
            tt.add_row(t["side"], t["qty"], _utc(t["entry_ts"]), t["entry_price"], t["exit_price"] or "-",
                       f"{float(t['pnl']):,.2f}", t["reason"])
        console.print(tt)
    console.print(f"fingerprint {report.fingerprint}")
    console.print(f"stored as run {run_id}" if run_id else "not stored (--no-store)")


def _utc(ts_ms: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
