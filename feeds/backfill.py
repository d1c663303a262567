"""Kline backfill into the market store through the ccxt gateway.

Why raw klines and not ccxt's ``fetch_ohlcv``: ``fetch_ohlcv`` hands back floats; the store
keeps the exchange's decimal strings exactly. The gateway calls the same REST endpoints through
ccxt's implicit API (``publicGetKlines``, OKX ``publicGetMarketHistoryCandles``), so ccxt's rate
limiter paces every page and the gateway's retry policy covers it.

Pagination: Binance pages forward from ``since`` (``startTime``, 1,000 rows a page); OKX pages
backward from ``until`` (``after``, 100 rows a page; its candles come newest first). Each page
is one upsert on the bars' primary key, so a backfill is idempotent: running it again, or over
an overlapping range, leaves one row per bar. Only closed candles are stored (a candle whose
end is still in the future is forming).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core.store import TF_NS, MarketStore, bars_table
from feeds.gateway import ExchangeGateway

log = logging.getLogger(__name__)

# store timeframe -> exchange interval name (OKX days: the UTC-aligned bar, like the store's)
INTERVALS = {
    "binance": {"1s": "1s", "1m": "1m", "5m": "5m", "15m": "15m", "1h": "1h", "4h": "4h", "1d": "1d"},
    "okx": {"1s": "1s", "1m": "1m", "5m": "5m", "15m": "15m", "1h": "1H", "4h": "4H", "1d": "1Dutc"},
}
INTERVALS["binanceusdm"] = {k: v for k, v in INTERVALS["binance"].items() if k != "1s"}
BINANCE_PAGE = 1000
OKX_PAGE = 100


@dataclass
class BackfillResult:
    exchange: str
    symbol: str
    market_id: str
    tf: str
    since_ms: int
    until_ms: int
    pages: int = 0
    rows: int = 0  # closed candles received in the range and upserted
    forming: int = 0  # candles still forming, not stored
    first_ms: int | None = None
    last_ms: int | None = None
    missing: list[tuple[int, int]] = field(default_factory=list)  # gaps (first, last open ms) in the received series

    def as_dict(self) -> dict:
        return {
            "exchange": self.exchange, "symbol": self.symbol, "market_id": self.market_id, "tf": self.tf,
            "since_ms": self.since_ms, "until_ms": self.until_ms, "pages": self.pages, "rows": self.rows,
            "forming_skipped": self.forming, "first_ms": self.first_ms, "last_ms": self.last_ms,
            "gaps": [{"from_ms": a, "to_ms": b} for a, b in self.missing[:50]], "gap_count": len(self.missing),
        }


async def backfill(
    gateway: ExchangeGateway,
    store: MarketStore,
    symbol: str,
    tf: str,
    since_ms: int,
    until_ms: int,
    progress: Callable[[BackfillResult], None] | None = None,
    now_ms: int | None = None,
) -> BackfillResult:
    """Fetch every closed ``tf`` candle with open time in ``[since_ms, until_ms]`` into ``store``."""
    ex = gateway.exchange
    interval = INTERVALS[ex].get(tf)
    if interval is None:
        raise ValueError(f"{ex} has no {tf} klines (one of {', '.join(INTERVALS[ex])})")
    market_id, unified = await gateway.market(symbol)
    res = BackfillResult(ex, unified, market_id, tf, since_ms, until_ms)
    width_ms = TF_NS[tf] // 1_000_000
    now = int(time.time() * 1000) if now_ms is None else now_ms
    pages = _okx_pages if ex == "okx" else _binance_pages
    times: list[int] = []
    async for rows in pages(gateway, market_id, interval, since_ms, until_ms, width_ms):
        res.pages += 1
        bars = []
        for r in rows:
            t = int(r[0])
            if not since_ms <= t <= until_ms:
                continue
            closed = closed_row(ex, r, width_ms, now)
            if closed is None:
                res.forming += 1
                continue
            bars.append((ex, unified, tf, *closed))
            times.append(t)
        if bars:
            res.rows += store.append_bars(bars_table(bars))
        if progress is not None:
            progress(res)
    if times:
        res.first_ms, res.last_ms = min(times), max(times)
        res.missing = _gaps(times, width_ms)
    return res


def closed_row(exchange: str, row: list, width_ms: int, now_ms: int) -> tuple | None:
    """A raw kline row -> ``(open ns, open, high, low, close, volume, trades | None)`` with the
    exchange's strings, or None while the candle is still forming (its end is after ``now_ms``;
    OKX also says so with ``confirm == "0"``). OKX rows carry no trade count."""
    t = int(row[0])
    if t + width_ms > now_ms or (exchange == "okx" and len(row) > 8 and row[8] == "0"):
        return None
    trades = int(row[8]) if exchange != "okx" and len(row) > 8 else None
    return (t * 1_000_000, row[1], row[2], row[3], row[4], row[5], trades)


async def recent_klines(gateway: ExchangeGateway, symbol: str, tf: str, count: int,
                        now_ms: int | None = None) -> list[tuple]:
    """The exchange's last ``count`` closed ``tf`` candles of ``symbol`` (unified or exchange
    id) as :func:`closed_row` tuples, oldest first: what a chart opens with.

    "Last" is the exchange's: Binance's newest rows (no ``startTime``; one call, ``count`` < 1,000),
    OKX's newest pages backwards. A forming candle is left out. GatewayError when the call fails
    or the symbol is unknown; ValueError for a timeframe the exchange has no klines for."""
    ex = gateway.exchange
    interval = INTERVALS[ex].get(tf)
    if interval is None:
        raise ValueError(f"{ex} has no {tf} klines (one of {', '.join(INTERVALS[ex])})")
    if not 0 < count < BINANCE_PAGE:
        raise ValueError(f"count must be 1..{BINANCE_PAGE - 1}, got {count}")
    market_id = await gateway.market_id(symbol)
    width_ms = TF_NS[tf] // 1_000_000
    now = int(time.time() * 1000) if now_ms is None else now_ms
    out: dict[int, tuple] = {}
    if ex == "okx":
        before = now + 1
        while len(out) < count:
            rows = await gateway.klines(market_id, interval, before_ms=before, limit=OKX_PAGE)
            out.update((c[0], c) for r in rows if (c := closed_row(ex, r, width_ms, now)) is not None)
            if len(rows) < OKX_PAGE or int(rows[0][0]) >= before:
                break  # the oldest page, or a server that ignored "after"
            before = int(rows[0][0])
    else:
        rows = await gateway.klines(market_id, interval, limit=count + 1)
        out.update((c[0], c) for r in rows if (c := closed_row(ex, r, width_ms, now)) is not None)
    return [out[t] for t in sorted(out)[-count:]]


def _gaps(times: list[int], width_ms: int) -> list[tuple[int, int]]:
    """Holes ``(first, last missing open ms)`` in a series of open times (any order)."""
    ts = sorted(set(times))
    return [(a + width_ms, b - width_ms) for a, b in zip(ts, ts[1:]) if b - a > width_ms]


async def _binance_pages(gw: ExchangeGateway, market_id: str, interval: str, since: int, until: int, width: int):
    cursor = since
    while cursor <= until:
        rows = await gw.klines(market_id, interval, since_ms=cursor, end_ms=until, limit=BINANCE_PAGE)
        if not rows:
            return
        yield rows
        last = int(rows[-1][0])
        if last < cursor:
            return  # the server ignored startTime: stop rather than loop
        cursor = last + width
        if len(rows) < BINANCE_PAGE:
            return


async def _okx_pages(gw: ExchangeGateway, market_id: str, interval: str, since: int, until: int, width: int):
    before = until + 1  # rows older than this
    while before > since:
        rows = await gw.klines(market_id, interval, since_ms=since, before_ms=before, limit=OKX_PAGE)
        if not rows:
            return
        yield rows
        oldest = int(rows[0][0])
        if oldest >= before:
            return  # the server ignored "after": stop rather than loop
        before = oldest
        if len(rows) < OKX_PAGE:
            return
