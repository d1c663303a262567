"""``tickdesk bench backtest``: figures only; the work and the checks live in
``strategies.backtest_bench`` (bar mode, exact mode and a numpy reference must agree or the
command fails). Progress goes to stderr; ``--json`` prints one object on stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tui.cli import bench_app, emit_json, fail

DEFAULT_FILE = "andresciancio_binance_spot_BTC_USDT-1m_2023-03-16_2023-05-01.json.gz"


def _default_data() -> Path:
    """The real candle file beside the repository (``../shared/data/klines``)."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "klines" / DEFAULT_FILE


def _log(message: str) -> None:
    typer.echo(f"bench: {message}", err=True)


@bench_app.command("backtest")
def bench_backtest(
    data: Annotated[Path | None, typer.Option("--data", help="Candle file whose bar ratios are tiled to a year (default: the shared BTC/USDT file; absent: seeded GBM).")] = None,
    rounds: Annotated[int, typer.Option("--rounds", help="Timed rounds of bar mode and the reference (median).")] = 5,
    fee: Annotated[str, typer.Option("--fee", help="Fee rate on each side (default 0.0001: at 0.001 a year of 1-minute SMA crosses eats the cash).")] = "0.0001",
    no_exact: Annotated[bool, typer.Option("--no-exact", help="Skip the exact (matching engine) mode.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """525,600 one-minute bars, SMA 10/30: bar mode, exact mode and a numpy reference; same results or fail."""
    if rounds < 1 or rounds > 50:
        fail(f"--rounds must be between 1 and 50, got {rounds}")
    if data is not None and not data.is_file():
        fail(f"data file {data} does not exist")
    try:
        if not 0 <= float(fee) < 1:
            raise ValueError
    except ValueError:
        fail(f"--fee must be a rate in [0, 1), got {fee!r}")
    from strategies.backtest_bench import BenchMismatch, run_bench

    try:
        report = run_bench(data or _default_data(), rounds=rounds, fee=fee, exact=not no_exact, log=_log)
    except BenchMismatch as exc:
        fail(f"implementations disagree: {exc}", code=1)
    if as_json:
        emit_json(report)
        return
    typer.echo(render(report))


def render(r: dict) -> str:
    lines = [f"bench backtest: {r['bars']:,} bars, SMA {r['fast']}/{r['slow']}, fee {r['fee']}, cash {r['cash']}",
             f"data: {r['data']}", f"signals: {r['signals']}", "",
             f"{'':28s}{'seconds':>10s}{'entries':>9s}{'exits':>8s}{'final equity':>20s}"]
    for name, key in (("bar mode (median)", "bar_mode"), ("numpy reference (median)", "reference"), ("exact mode (engine)", "exact_mode")):
        d = r.get(key)
        if d:
            lines.append(f"{name:28s}{d['seconds']:>10.3f}{d['entries']:>9,}{d['exits']:>8,}{str(d['final_equity']):>20s}")
    b = r["bar_mode"]
    lines += ["", f"bar mode split: signals {b['signals_seconds']:.3f} s, fills + metrics {b['fills_and_metrics_seconds']:.3f} s;"
              f" results equal: {'yes' if r['results_equal'] else 'NO'}; Python {r['python']}, {r['cores']} cores, load {r['loadavg_1m']}"]
    return "\n".join(lines)
