"""``tickdesk feed run``: the live consumer against any endpoint (pinned).

``tickdesk feed run --exchange binance|okx[,...] --symbols BTC/USDT[,...] [--ws-url URL]
[--rest-url URL] [--seconds N] [--record PATH [--store DB]] [--events FILE|-] [--json]``

Each exchange runs on its own thread and event loop (:class:`feeds.live.FeedRunner`). The
default endpoints are the real exchanges; ``--ws-url`` / ``--rest-url`` point the same code at
an emulator (``tickdesk emulator``). With several exchanges give per-exchange URLs as
``binance=ws://...,okx=ws://...``. Progress goes to stderr every few seconds; at the end
``--json`` prints one object: per-symbol health, the connections, and the final top of book.

``--record`` writes the raw capture and also the normalised trades and bars into the market
store (``--store``, default ``<data dir>/market.duckdb``) through a batching writer thread
(:mod:`feeds.marketrecorder`). ``--events`` writes each discrete event (gap, resync, checksum
failure, stale, disconnect/reconnect, arbitrage open/close) as one JSON line as it happens
(:mod:`feeds.feedevents`). With ``--events -`` and ``--json`` stdout is JSON Lines: the event
lines as they happen, then the summary object as the last line (the only one without "event").
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from tui.cli import fail
from tui.commands.feed import feed_app

EXCHANGES = ("binance", "binanceusdm", "okx")


def _per_exchange(value: str | None, exchanges: list[str], what: str) -> dict[str, str | None]:
    """``URL`` (one exchange) or ``ex=URL,ex=URL`` -> {exchange: URL}."""
    out: dict[str, str | None] = {ex: None for ex in exchanges}
    if not value:
        return out
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if all("=" in p and p.split("=", 1)[0] in EXCHANGES for p in parts):
        for p in parts:
            ex, url = p.split("=", 1)
            if ex not in out:
                fail(f"{what}: {ex} is not one of the --exchange values ({', '.join(exchanges)})")
            out[ex] = url
        return out
    if len(exchanges) > 1 or len(parts) != 1:
        fail(f"{what}: with several exchanges give exchange=URL pairs, e.g. binance=ws://127.0.0.1:9001/stream")
    out[exchanges[0]] = parts[0]
    return out


def _fees(value: str | None, exchanges: list[str]) -> dict:
    from decimal import Decimal, InvalidOperation

    out: dict = {}
    if not value:
        return out
    for part in [p.strip() for p in value.split(",") if p.strip()]:
        ex, sep, rate = part.rpartition("=")
        try:
            d = Decimal(rate)
        except InvalidOperation:
            fail(f"--taker-fee: {rate!r} is not a decimal rate")
        if not d.is_finite() or d < 0 or d >= 1:
            fail(f"--taker-fee: {rate} must be a rate between 0 and 1")
        if sep:
            if ex not in exchanges:
                fail(f"--taker-fee: {ex} is not one of the --exchange values")
            out[ex] = d
        else:
            out.update({e: d for e in exchanges})
    return out


def _check_url(url: str | None, schemes: tuple[str, ...], what: str) -> None:
    from urllib.parse import urlsplit

    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.netloc:
        fail(f"{what} {url!r} must be a {'/'.join(schemes)} URL with a host")


def _record_path(base: Path, exchange: str, several: bool) -> str:
    if not several:
        return str(base)
    name = base.name
    stem, dot, ext = name.partition(".")
    return str(base.with_name(f"{stem}.{exchange}{dot}{ext}"))


@feed_app.command("run")
def feed_run(
    ctx: typer.Context,
    exchange: Annotated[str, typer.Option("--exchange", help="binance, binanceusdm or okx (comma-separated for several).")],
    symbols: Annotated[str, typer.Option("--symbols", help="Comma-separated: unified (BTC/USDT) or exchange ids (BTCUSDT, BTC-USDT).")],
    ws_url: Annotated[str | None, typer.Option("--ws-url", help="WebSocket URL (default: the real exchange); ex=URL,... for several.")] = None,
    rest_url: Annotated[str | None, typer.Option("--rest-url", help="REST base URL (default: the real exchange); ex=URL,... for several.")] = None,
    seconds: Annotated[float | None, typer.Option("--seconds", help="Run this long, then report (default: until Ctrl+C).")] = None,
    record: Annotated[
        Path | None,
        typer.Option("--record", help="Write every frame and REST body to this tickdesk capture (.gz: gzip), and the "
                     "normalised trades and bars to the market store."),
    ] = None,
    store: Annotated[
        Path | None, typer.Option("--store", help="Market store for --record (default: <data dir>/market.duckdb).")
    ] = None,
    events: Annotated[
        str | None,
        typer.Option("--events", help="Write each discrete event (gap, resync, checksum failure, stale, reconnect, "
                     "arbitrage open/close) as a JSON line to FILE, or '-' for stdout, as it happens."),
    ] = None,
    settle: Annotated[float, typer.Option("--settle", help="At the end, up to this many seconds to get every book back in sync.")] = 5.0,
    depth_limit: Annotated[
        int | None, typer.Option("--depth-limit", help="REST snapshot depth (default: binance 5000, usd-m 1000, okx 400).")
    ] = None,
    channels: Annotated[
        str | None,
        typer.Option("--channels", help="Streams per symbol (binance default depth@100ms,bookTicker,trade; "
                     "okx default books,bbo-tbt,trades)."),
    ] = None,
    book_depth: Annotated[int | None, typer.Option("--book-depth", help="Include each book's top N levels in the JSON (0: all).")] = None,
    progress: Annotated[float, typer.Option("--progress", help="Seconds between progress lines on stderr (0: none).")] = 5.0,
    taker_fee: Annotated[
        str | None,
        typer.Option("--taker-fee", help="Taker fee rate for arbitrage events: one rate or ex=rate,... (default 0.001)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Consume live market data (the real exchanges, or the emulator via --ws-url/--rest-url); keep every
    book in sync; record trades and bars; push discrete events; report health and the top of book."""
    exchanges = [e.strip().lower() for e in exchange.split(",") if e.strip()]
    if not exchanges:
        fail("--exchange is empty")
    for ex in exchanges:
        if ex not in EXCHANGES:
            fail(f"--exchange {ex!r} is not one of {', '.join(EXCHANGES)}")
    if len(set(exchanges)) != len(exchanges):
        fail("--exchange lists an exchange twice")
    syms = [s.strip() for s in symbols.split(",") if s.strip()]
    if not syms:
        fail("--symbols is empty")
    if seconds is not None and not seconds > 0:
        fail(f"--seconds must be positive, got {seconds}")
    if settle < 0:
        fail(f"--settle must not be negative, got {settle}")
    if book_depth is not None and book_depth < 0:
        fail(f"--book-depth must not be negative, got {book_depth}")
    ws = _per_exchange(ws_url, exchanges, "--ws-url")
    rest = _per_exchange(rest_url, exchanges, "--rest-url")
    for ex in exchanges:
        _check_url(ws[ex], ("ws", "wss"), "--ws-url")
        _check_url(rest[ex], ("http", "https"), "--rest-url")
    if record is not None and not record.parent.is_dir():
        fail(f"--record: directory {record.parent} does not exist")
    fees = _fees(taker_fee, exchanges)
    if depth_limit is not None and not 1 <= depth_limit <= 5000:
        fail(f"--depth-limit must be between 1 and 5000, got {depth_limit}")
    chans = tuple(c.strip() for c in channels.split(",") if c.strip()) if channels else None
    if channels is not None and not chans:
        fail("--channels is empty")
    if store is not None and record is None:
        fail("--store needs --record (the store receives the recorded trades and bars)")
    if events not in (None, "-") and not Path(events).parent.is_dir():
        fail(f"--events: directory {Path(events).parent} does not exist")
    stream, sink = _open_events(events)
    recorder = _open_recorder(ctx, store) if record is not None else None

    from feeds.consolidated import Consolidator, group_quotes
    from feeds.live import FeedConfig, FeedRunner

    consolidator = Consolidator(fees=fees) if len(exchanges) > 1 else None

    runners = []
    for ex in exchanges:
        cfg = FeedConfig(
            exchange=ex, symbols=syms, ws_url=ws[ex], rest_url=rest[ex], channels=chans, depth_limit=depth_limit,
            record=_record_path(record, ex, len(exchanges) > 1) if record else None,
            recorder=recorder, on_feed_event=stream,
        )
        runners.append(FeedRunner(cfg))
    stop = threading.Event()

    def on_signal(_sig, _frame) -> None:
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    t_start = time.monotonic()
    try:
        for r in runners:
            r.start()
        # --seconds counts streaming time: from the first connection attempt (after the imports
        # and the markets are loaded), not from the process start.
        for r in runners:
            while not r.connecting.wait(0.05) and r.alive and not stop.is_set() and time.monotonic() - t_start < 60:
                pass
        t0 = time.monotonic()
        next_progress = t0 + progress if progress > 0 else None
        while not stop.is_set():
            now = time.monotonic()
            if seconds is not None and now - t0 >= seconds:
                break
            if next_progress is not None and now >= next_progress:
                next_progress += progress
                for r in runners:
                    _progress(r.health())
            if not any(r.alive for r in runners):
                break
            if consolidator is not None:
                for ev in consolidator.update(group_quotes([t for r in runners for t in r.tops()])):
                    if stream is not None:
                        stream.emit(dict(ev))
                    if ev["event"] == "arbitrage_open":
                        typer.echo(f"feed: arbitrage {ev['symbol']}: buy {ev['buy_venue']} {ev['buy_price']}, "
                                   f"sell {ev['sell_venue']} {ev['sell_price']}, net {ev['net_bps']} bps", err=True)
            stop.wait(0.05)
        for r in runners:
            try:
                r.stop(settle=settle)
            except RuntimeError as exc:
                fail(str(exc))
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
        if recorder is not None:
            recorder.stop()
        if sink is not None and sink is not sys.stdout:
            sink.close()
    elapsed = time.monotonic() - t_start
    for r in runners:
        if r.error is not None:
            fail(f"{r.config.exchange} feed failed: {type(r.error).__name__}: {r.error}")
    result = {"exchanges": exchanges, "seconds": round(elapsed, 3), "symbols": {}, "connections": {}, "top": {}}
    for r in runners:
        h = r.health(book_depth)
        result["symbols"].update(h["symbols"])
        result["connections"][r.config.exchange] = h["connection"]
        for key, d in h["symbols"].items():
            result["top"][key] = d.get("best")
        if r.config.record:
            result.setdefault("recorded", {})[r.config.exchange] = r.config.record
    if consolidator is not None:
        consolidator.update(group_quotes([t for r in runners for t in r.tops()]))
        result["consolidated"] = consolidator.report()
    if recorder is not None:
        result["store"] = recorder.report()
    if stream is not None:
        result["events"] = {"total": stream.count, "by_kind": dict(sorted(stream.by_kind.items())),
                            "written_to": "stdout" if events == "-" else events}
    if as_json:
        import orjson

        sys.stdout.write(orjson.dumps(result).decode() + "\n")
    else:
        _print_text(result)
    if recorder is not None and recorder.unwritten():
        sys.stdout.flush()
        fail(f"--record: {recorder.unwritten()} trades/bars not stored: {recorder.stats.owner}", code=1)


def _open_recorder(ctx: typer.Context, store: Path | None):
    """The market-store writer thread. The file is checked now (a bad path or a file that is not
    a store fails at once); it is opened per batch, so other recorders can share it. Held by
    another process right now: said on stderr, and the writer retries each batch."""
    from core.journal import JournalError, StoreOwnedError
    from core.store import MarketStore, StoreError, default_store_path
    from feeds.marketrecorder import MarketRecorder
    from tui.commands.root import get_settings

    path = store if store is not None else default_store_path(get_settings(ctx))
    try:
        MarketStore(path).close()
    except StoreOwnedError as exc:
        typer.echo(f"feed: market store busy: {exc}; trades and bars wait and are retried", err=True)
    except (StoreError, JournalError) as exc:
        fail(f"--record: market store: {exc}")
    return MarketRecorder(path).start()


def _open_events(events: str | None):
    """``(EventStream, sink)`` for ``--events FILE|-`` (line-buffered writes, flushed per event)."""
    if events is None:
        return None, None
    from feeds.feedevents import EventStream

    try:
        sink = sys.stdout if events == "-" else open(events, "w", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        fail(f"--events: cannot write {events}: {exc.strerror}")
    return EventStream(sink), sink


def _progress(h: dict) -> None:
    c = h["connection"]
    parts = []
    for key, d in h["symbols"].items():
        best = d.get("best") or {}
        parts.append(
            f"{key} {d.get('state', '?')} {d.get('msgs_per_s', 0)}/s gaps {d.get('gaps', 0)} resyncs {d.get('resyncs', 0)} "
            f"{best.get('bid')}/{best.get('ask')}"
        )
    typer.echo(f"feed: {c['exchange']} {'up' if c['connected'] else 'down'} (reconnects {c['reconnects']}): " + "; ".join(parts), err=True)


def _print_text(result: dict) -> None:
    cols = ("state", "messages", "msgs_per_s", "gaps", "resyncs", "checksum_ok", "checksum_bad", "stale")
    typer.echo(f"{'symbol':24} " + " ".join(f"{c:>12}" for c in cols) + "   bid / ask")
    for key, d in result["symbols"].items():
        best = d.get("best") or {}
        typer.echo(f"{key:24} " + " ".join(f"{str(d.get(c, '')):>12}" for c in cols) + f"   {best.get('bid')} / {best.get('ask')}")
    for ex, c in result["connections"].items():
        typer.echo(f"{ex}: connects {c['connects']}, disconnects {c['disconnects']}, parse errors {c['parse_errors']}, "
                   f"frames {c['frames']}")
    for row in result.get("consolidated", {}).get("spreads", []):
        typer.echo(f"{row['symbol']}: best bid {row['best_bid']} ({row['bid_venue']}), best ask {row['best_ask']} "
                   f"({row['ask_venue']}), cross-venue spread {row['spread']}")
