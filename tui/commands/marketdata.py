"""One-shot market data from any source: ``tickdesk book``, ``tickdesk trades``, ``tickdesk candles``.

``tickdesk book SYMBOL [--source SPEC] [--depth N] [--json]``
``tickdesk trades SYMBOL [--source SPEC] [--limit N] [--json]``
``tickdesk candles SYMBOL --tf 1m [--source SPEC] [--limit N] [--json]``

What the Trade screen shows, printed once (no textual import, so they start fast). The source
is one of the workstation's (``--source``, default ``sim``):

* ``sim`` -- the seeded simulated market, run unpaced for ``--warmup`` simulated seconds first;
* ``replay:FILE`` -- the recording replayed as fast as possible to its end (or ``--until``);
* ``binance`` / ``okx`` / ``emulator:URL`` -- connect, wait for the book to sync (at most
  ``--timeout`` seconds; ``trades`` also waits, within the timeout, for ``--limit`` prints),
  print, disconnect.

Everything printed comes from the source's ``MarketState`` view: the same numbers a screen draws.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from tui.cli import app, emit_json, fail
from tui.commands.root import get_settings

SourceOpt = Annotated[str, typer.Option("--source", help="sim, binance, okx, emulator:[EXCHANGE@]URL or replay:FILE.")]
WarmupOpt = Annotated[float, typer.Option("--warmup", help="sim: simulated seconds to run before printing.")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="binance/okx/emulator: seconds to wait for a synced book.")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="replay: stop at this recorded time (ISO 8601 UTC, or +SECONDS from the start).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def parse_until(text: str | None, start_ns: int) -> int | None:
    """``2024-08-09T00:00:00Z`` (naive = UTC) or ``+90`` seconds after ``start_ns`` -> ns."""
    if text is None:
        return None
    from datetime import datetime, timezone
    from decimal import Decimal, InvalidOperation

    t = text.strip()
    if t.startswith("+"):
        try:
            secs = Decimal(t[1:])
        except InvalidOperation:
            raise ValueError(f"--until {text!r}: +SECONDS must be a number") from None
        if not secs.is_finite() or secs < 0:
            raise ValueError(f"--until {text!r}: +SECONDS must not be negative")
        return start_ns + int(secs * 1_000_000_000)
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--until {text!r} is not an ISO 8601 time (e.g. 2024-08-09T00:00:00Z) or +SECONDS") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


def fmt_ns(ns: int) -> str:
    """UTC ``YYYY-MM-DD HH:MM:SS.mmm`` (sim time counts from the epoch, so it starts at 1970)."""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ns // 1_000_000_000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S") + f".{ns // 1_000_000 % 1000:03d}"


def snapshot(ctx: typer.Context, spec: str, symbol: str, warmup: float, timeout: float, until: str | None,
             min_trades: int = 0) -> tuple[Any, Any]:
    """Run the source far enough and return ``(view, source)`` for ``symbol`` (one-line errors)."""
    from tui.sources.base import parse_spec

    settings = get_settings(ctx)
    try:
        kind, arg = parse_spec(spec)
    except ValueError as exc:
        fail(str(exc))
    if kind == "sim":
        return _sim_view(settings, symbol, warmup)
    if kind == "replay":
        return _replay_view(arg, symbol, until)
    return _feed_view(spec, settings, symbol, timeout, min_trades)


def _sim_view(settings, symbol: str, warmup: float) -> tuple[Any, Any]:
    from tui.sources.base import open_source

    if not warmup >= 0:
        fail(f"--warmup must not be negative, got {warmup}")
    try:
        src = open_source("sim", settings, [symbol], paused=True, rate=0)
    except ValueError as exc:
        fail(str(exc))
    steps = int(warmup * 1000) // settings.simmarket.step_ms
    src.start()
    try:
        src.step(steps).result(timeout=600)
        view = src.state.view(symbol)
    finally:
        src.stop()
    return view, src


def _replay_view(path: str, symbol: str, until: str | None) -> tuple[Any, Any]:
    from pathlib import Path

    from tui.sources.replay import ReplaySource, scan

    paths = [Path(path).expanduser()]
    try:
        if not paths[0].is_file():
            raise ValueError(f"cannot replay {paths[0]}: no such file")
        rec = scan(paths)
        src = ReplaySource(paths, [symbol], speed=0, until_ns=parse_until(until, rec.start_ns), recording=rec)
    except ValueError as exc:
        fail(str(exc))
    src.start()
    try:
        src.replay.wait()
    finally:
        src.stop()
    if src.replay.error is not None:
        fail(f"replay of {path} failed: {src.replay.error}", code=1)
    name = _name_in(src, symbol)
    return src.state.view(name), src


def _name_in(src, symbol: str) -> str:
    """The source's name for ``symbol`` (a replay may know ``BTCUSDT`` as ``BTC/USDT``)."""
    for s in src.publisher.symbols.values():
        if symbol in (s.name, s.exchange_symbol):
            return s.name
    return symbol


def _feed_view(spec: str, settings, symbol: str, timeout: float, min_trades: int) -> tuple[Any, Any]:
    from tui.sources.base import open_source

    if not timeout > 0:
        fail(f"--timeout must be positive, got {timeout}")
    try:
        src = open_source(spec, settings, [symbol])
    except ValueError as exc:
        fail(str(exc))
    src.start()
    deadline = time.monotonic() + timeout
    view = None
    try:
        while time.monotonic() < deadline:
            name = _name_in(src, symbol)
            view = src.state.view(name)
            synced = view is not None and (view.bids or view.asks)
            if synced and len(view.trades) >= min_trades:
                break
            if not src.alive:
                break
            time.sleep(0.05)
    finally:
        src.stop()
    view = src.state.view(_name_in(src, symbol))
    if view is None or not (view.bids or view.asks):
        err = src.runner.error or src.runner.consumer.last_error or src.runner.consumer.markets_error
        fail(f"no synced {symbol} book from {src.name} within {timeout:g} s" + (f" ({err})" if err else ""), code=1)
    return view, src


def _emit(obj: dict, as_json: bool, text: str) -> None:
    if as_json:
        emit_json(obj)
    else:
        typer.echo(text)


def _no_data(symbol: str, src) -> None:
    fail(f"{src.name} has no data for {symbol} (known: {', '.join(src.symbols) or 'none'})", code=1)


@app.command("book")
def book(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Symbol, e.g. BTC/USDT (or the exchange's id, BTCUSDT).")],
    source: SourceOpt = "sim",
    depth: Annotated[int, typer.Option("--depth", help="Levels per side.")] = 10,
    warmup: WarmupOpt = 30.0,
    timeout: TimeoutOpt = 20.0,
    until: UntilOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the order book (top DEPTH levels per side) of SYMBOL from a source."""
    if not 1 <= depth <= 25:
        fail(f"--depth must be between 1 and 25, got {depth}")
    view, src = snapshot(ctx, source, symbol, warmup, timeout, until)
    if view is None:
        _no_data(symbol, src)
    bids, asks = view.bids[:depth], view.asks[:depth]
    obj = {
        "source": src.name, "symbol": view.symbol, "ts_ns": view.ts, "version": view.version,
        "bids": [[lv.price, lv.qty] for lv in bids], "asks": [[lv.price, lv.qty] for lv in asks],
        "best_bid": view.best_bid, "best_ask": view.best_ask, "spread_ticks": view.spread_ticks,
        "mid": None if view.mid is None else f"{view.mid:f}", "last": view.last,
    }
    width = max([len(lv.price) for lv in (*bids, *asks)] + [5])
    lines = [f"{view.symbol} on {src.name} at {fmt_ns(view.ts)}", f"{'':4}{'price':>{width}}  qty"]
    lines += [f"ask {lv.price:>{width}}  {lv.qty}" for lv in reversed(asks)]
    lines.append(f"{'':4}{'-' * width}  spread {view.spread_ticks if view.spread_ticks is not None else '-'} ticks")
    lines += [f"bid {lv.price:>{width}}  {lv.qty}" for lv in bids]
    _emit(obj, as_json, "\n".join(lines))


@app.command("trades")
def trades(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Symbol, e.g. BTC/USDT.")],
    source: SourceOpt = "sim",
    limit: Annotated[int, typer.Option("--limit", help="Most recent prints to show (oldest first).")] = 20,
    warmup: WarmupOpt = 30.0,
    timeout: TimeoutOpt = 20.0,
    until: UntilOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the most recent trades (the tape) of SYMBOL from a source."""
    if not 1 <= limit <= 200:
        fail(f"--limit must be between 1 and 200, got {limit}")
    view, src = snapshot(ctx, source, symbol, warmup, timeout, until, min_trades=limit)
    if view is None:
        _no_data(symbol, src)
    tape = view.trades[-limit:]
    obj = {"source": src.name, "symbol": view.symbol, "ts_ns": view.ts, "trade_count": view.trade_count,
           "trades": [{"ts_ns": t.ts, "side": t.side, "price": t.price, "qty": t.qty} for t in tape]}
    lines = [f"{view.symbol} on {src.name}: last {len(tape)} of {view.trade_count} trades"]
    lines += [f"{fmt_ns(t.ts)}  {t.side:4}  {t.price:>14}  {t.qty}" for t in tape]
    _emit(obj, as_json, "\n".join(lines))


@app.command("candles")
def candles(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Symbol, e.g. BTC/USDT.")],
    tf: Annotated[str, typer.Option("--tf", help="Timeframe: 1s, 1m, 5m, 15m or 1h.")] = "1m",
    source: SourceOpt = "sim",
    limit: Annotated[int, typer.Option("--limit", help="Most recent candles to show (oldest first).")] = 20,
    warmup: WarmupOpt = 30.0,
    timeout: TimeoutOpt = 20.0,
    until: UntilOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print candles of SYMBOL built from the source's trades (the forming one last)."""
    from core.candles import TIMEFRAME_NS, roll_up

    if tf not in TIMEFRAME_NS:
        fail(f"--tf must be one of {', '.join(TIMEFRAME_NS)}, got {tf!r}")
    if not 1 <= limit <= 1000:
        fail(f"--limit must be between 1 and 1000, got {limit}")
    view, src = snapshot(ctx, source, symbol, warmup, timeout, until)
    if view is None:
        _no_data(symbol, src)
    series = view.candles_1s if tf == "1s" else view.candles_1m
    if tf not in ("1s", "1m"):
        series = roll_up(series, TIMEFRAME_NS[tf])
    rows = list(series)[-limit:]
    obj = {"source": src.name, "symbol": view.symbol, "tf": tf, "ts_ns": view.ts,
           "candles": [{"start_ns": c.start, "open": c.open, "high": c.high, "low": c.low, "close": c.close,
                        "volume": c.volume, "trades": c.trades} for c in rows]}
    lines = [f"{view.symbol} on {src.name}, {tf} candles ({len(rows)})", "start                    open / high / low / close  volume  trades"]
    lines += [f"{fmt_ns(c.start)}  {c.open} / {c.high} / {c.low} / {c.close}  {c.volume}  {c.trades}" for c in rows]
    _emit(obj, as_json, "\n".join(lines))
