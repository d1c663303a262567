"""``tickdesk feed backfill``: exchange klines into the market store through the ccxt gateway.

``tickdesk feed backfill --exchange binance|binanceusdm|okx --symbols BTC/USDT[,...] --tf 1m
--since ISO|ms [--until ISO|ms] [--rest-url URL] [--store PATH] [--json]``

Paginated, rate limited by ccxt, retried by the gateway's policy, upserted (running it twice
changes nothing). ``--rest-url`` points it at the emulator (``tickdesk emulator ... --klines
FILE`` serves a candle file); the default is the real exchange.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from tui.cli import fail
from tui.commands.feed import feed_app
from tui.commands.history import open_store, parse_time_ms


@feed_app.command("backfill")
def feed_backfill(
    ctx: typer.Context,
    exchange: Annotated[str, typer.Option("--exchange", help="binance, binanceusdm or okx.")],
    symbols: Annotated[str, typer.Option("--symbols", help="Comma-separated unified symbols (BTC/USDT) or exchange ids.")],
    since: Annotated[str, typer.Option("--since", help="First candle open time: ISO-8601 (UTC by default) or epoch ms.")],
    tf: Annotated[str, typer.Option("--tf", help="Timeframe: 1s 1m 5m 15m 1h 4h 1d.")] = "1m",
    until: Annotated[str | None, typer.Option("--until", help="Last candle open time, inclusive (default: now).")] = None,
    rest_url: Annotated[str | None, typer.Option("--rest-url", help="REST base URL (default: the real exchange).")] = None,
    store: Annotated[Path | None, typer.Option("--store", help="Market store file (default: <data dir>/market.duckdb).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Backfill closed klines into the market store (idempotent)."""
    from feeds.backfill import INTERVALS
    from feeds.gateway import EXCHANGES

    ex = exchange.strip().lower()
    if ex not in EXCHANGES:
        fail(f"--exchange {exchange!r} is not one of {', '.join(EXCHANGES)}")
    if tf not in INTERVALS[ex]:
        fail(f"--tf {tf!r}: {ex} klines are one of {', '.join(INTERVALS[ex])}")
    syms = [s.strip() for s in symbols.split(",") if s.strip()]
    if not syms:
        fail("--symbols is empty")
    since_ms = parse_time_ms(since, "--since")
    until_ms = parse_time_ms(until, "--until") if until else int(time.time() * 1000)
    if until_ms < since_ms:
        fail("--until is before --since")
    if rest_url is not None:
        from urllib.parse import urlsplit

        parts = urlsplit(rest_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            fail(f"--rest-url {rest_url!r} must be an http/https URL with a host")
    st = open_store(ctx, store, read_only=False)
    try:
        results = asyncio.run(_run(ex, syms, tf, since_ms, until_ms, rest_url, st))
    finally:
        st.close()
    out = {"exchange": ex, "tf": tf, "store": str(st.path), "symbols": results}
    if as_json:
        import orjson

        sys.stdout.write(orjson.dumps(out).decode() + "\n")
        return
    for r in results:
        typer.echo(f"{r['symbol']} {tf}: {r['rows']} closed bars stored in {r['pages']} page(s)"
                   + (f", {r['gap_count']} gap(s) in the exchange's series" if r["gap_count"] else "")
                   + (f", {r['forming_skipped']} forming skipped" if r["forming_skipped"] else ""))


async def _run(ex: str, syms: list[str], tf: str, since_ms: int, until_ms: int, rest_url: str | None, st) -> list[dict]:
    from feeds.backfill import backfill
    from feeds.gateway import ExchangeGateway, GatewayError

    def progress(res) -> None:
        typer.echo(f"backfill: {res.symbol}: page {res.pages}, {res.rows} bars", err=True)

    out = []
    async with ExchangeGateway(ex, rest_url=rest_url) as gw:
        for sym in syms:
            try:
                res = await backfill(gw, st, sym, tf, since_ms, until_ms, progress=progress)
            except GatewayError as exc:
                fail(f"backfill {sym}: {exc}")
            out.append(res.as_dict())
    return out
