"""Candles derived from the trades the emulator publishes (for recordings without candle frames).

The real exchanges build their candles from their trades; the emulator does the same with the
trades it serves, in the times it serves them (rewritten to the send time by default), so a
consumer's own trade aggregation and the pushed candles agree. Prices and volumes stay exact
``Decimal`` and are written back as plain strings.

Binance klines (``<s>@kline_<i>`` when the recording has no kline stream for the symbol) carry
the real fields (first/last trade id, count, taker-buy volumes) and are pushed every 2 s (1 s for
``1s``) while forming, and once with ``x: true`` when a trade of the next interval closes them.

OKX interval names (``1s 1m 3m 5m 15m 30m 1H 2H 4H 6H 12H 1D 2D 3D 5D 1W`` and the ``utc``
variants) are bucketed as OKX does: 6H and longer align to Hong Kong time (UTC+8) unless the
channel ends in ``utc``. Calendar months are not emulated.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

_UNIT_MS = {"s": 1_000, "m": 60_000, "H": 3_600_000, "D": 86_400_000, "W": 604_800_000}
_OKX_CANDLE = re.compile(r"^candle(\d+)([smHDW])(utc)?$")
_HK_OFFSET_MS = 8 * 3_600_000


def okx_interval(channel: str) -> tuple[int, int] | None:
    """``candle1m`` -> (width ms, alignment offset ms); None for names the emulator cannot build."""
    m = _OKX_CANDLE.match(channel)
    if m is None:
        return None
    n, unit, utc = int(m.group(1)), m.group(2), m.group(3)
    width = n * _UNIT_MS[unit]
    if unit == "m" and n not in (1, 3, 5, 15, 30) or unit == "s" and n != 1:
        return None
    offset = 0 if utc or width < 6 * 3_600_000 else _HK_OFFSET_MS
    return width, offset


def is_okx_candle(channel: str) -> bool:
    """Any OKX candle channel name (including the month ones the emulator does not build)."""
    return channel.startswith("candle")


@dataclass
class Candle:
    start_ms: int
    open: str
    high: str
    low: str
    close: str
    volume: Decimal  # base
    quote: Decimal  # sum of price * size

    def okx_row(self, confirm: bool) -> list[str]:
        """``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]`` as OKX pushes it (spot)."""
        q = _plain(self.quote)
        return [str(self.start_ms), self.open, self.high, self.low, self.close, _plain(self.volume), q, q,
                "1" if confirm else "0"]


class CandleBuilder:
    """One instrument's candles of one width, fed trade by trade."""

    def __init__(self, width_ms: int, offset_ms: int = 0) -> None:
        self.width = width_ms
        self.offset = offset_ms
        self.current: Candle | None = None

    def bucket(self, ts_ms: int) -> int:
        return (ts_ms + self.offset) // self.width * self.width - self.offset

    def add(self, ts_ms: int, price: str, size: str) -> Candle | None:
        """Add a trade; returns the candle it closed (a trade of a later bucket), else None.
        A trade older than the current candle is folded into it (trades may arrive late)."""
        start = self.bucket(ts_ms)
        cur = self.current
        closed = None
        if cur is not None and start > cur.start_ms:
            closed, cur = cur, None
        p, s = Decimal(price), Decimal(size)
        if cur is None:
            self.current = Candle(start, price, price, price, price, s, p * s)
            return closed
        if p > Decimal(cur.high):
            cur.high = price
        if p < Decimal(cur.low):
            cur.low = price
        cur.close = price
        cur.volume += s
        cur.quote += p * s
        return closed


def _plain(x: Decimal) -> str:
    text = format(x, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def aggregate(rows: list[tuple], width_ms: int, offset_ms: int = 0) -> list[Candle]:
    """1-minute (or finer) rows ``(open_ms, o, h, l, c, volume)`` (Decimals) -> candles of
    ``width_ms`` aligned like :meth:`CandleBuilder.bucket`; the quote volume is synthesised as
    volume x close per source row (candle files carry none)."""
    out: list[Candle] = []
    for t, o, h, lo, c, v in rows:
        start = (t + offset_ms) // width_ms * width_ms - offset_ms
        cur = out[-1] if out and out[-1].start_ms == start else None
        if cur is None:
            out.append(Candle(start, _plain(o), _plain(h), _plain(lo), _plain(c), v, v * c))
            continue
        if h > Decimal(cur.high):
            cur.high = _plain(h)
        if lo < Decimal(cur.low):
            cur.low = _plain(lo)
        cur.close = _plain(c)
        cur.volume += v
        cur.quote += v * c
    return out


def trade_rows(trades: list[tuple[int, str, str]], width_ms: int = 60_000) -> list[tuple]:
    """Trades ``(ts_ms, price, size)`` in time order -> rows ``(open_ms, o, h, l, c, volume)``."""
    b = CandleBuilder(width_ms)
    rows = []
    for ts, px, sz in trades:
        closed = b.add(ts, px, sz)
        if closed is not None:
            rows.append(_as_row(closed))
    if b.current is not None:
        rows.append(_as_row(b.current))
    return rows


def _as_row(c: Candle) -> tuple:
    return (c.start_ms, Decimal(c.open), Decimal(c.high), Decimal(c.low), Decimal(c.close), c.volume)


class Throttle:
    """At most one push per ``key`` every ``every`` seconds: now if the slot is free, else once
    when it frees (later changes in between ride on that push). Runs on the emulator's loop."""

    def __init__(self, push: Callable[[Any], None]) -> None:
        self.push = push
        self.last: dict[Any, float] = {}
        self.due: set = set()

    def soon(self, key: Any, every: float) -> None:
        loop = asyncio.get_running_loop()
        wait = self.last.get(key, -1e18) + every - loop.time()
        if wait <= 0:
            self._fire(key)
        elif key not in self.due:
            self.due.add(key)
            loop.call_later(wait, self._fire, key)

    def reset(self, key: Any) -> None:
        """The next push of ``key`` may go at once (a new candle just started)."""
        self.last.pop(key, None)

    def _fire(self, key: Any) -> None:
        self.due.discard(key)
        self.last[key] = asyncio.get_running_loop().time()
        self.push(key)


class BinanceKline:
    """One symbol's klines of one interval, built from trade / aggTrade events (Binance fields)."""

    def __init__(self, symbol: str, interval: str, width_ms: int, qty_dp: int) -> None:
        self.symbol, self.interval, self.width = symbol, interval, width_ms
        self.q = Decimal(1).scaleb(-max(8, qty_dp))
        self.k: dict | None = None
        self._vals: list[Decimal] = []  # v, q, V, Q

    def add(self, d: dict) -> dict | None:
        """Add a trade event (``e`` trade or aggTrade); returns the kline it closed, else None."""
        t = int(d["T"])
        start = t // self.width * self.width
        first = int(d["t"] if d["e"] == "trade" else d["f"])
        last = int(d["t"] if d["e"] == "trade" else d["l"])
        p, qty = Decimal(d["p"]), Decimal(d["q"])
        closed = None
        if self.k is not None and start > self.k["t"]:
            closed = self.payload(True)
            self.k = None
        if self.k is None:
            self.k = {"t": start, "T": start + self.width - 1, "s": self.symbol, "i": self.interval, "f": first,
                      "L": last, "o": d["p"], "c": d["p"], "h": d["p"], "l": d["p"], "n": 0}
            self._vals = [Decimal(0)] * 4
        k = self.k
        if p > Decimal(k["h"]):
            k["h"] = d["p"]
        if p < Decimal(k["l"]):
            k["l"] = d["p"]
        k["c"], k["L"] = d["p"], max(k["L"], last)
        k["n"] += last - first + 1
        v = self._vals
        v[0] += qty
        v[1] += p * qty
        if not d["m"]:  # the buyer was the taker
            v[2] += qty
            v[3] += p * qty
        return closed

    def payload(self, closed: bool) -> dict:
        k = dict(self.k)
        v = self._vals
        k.update({"v": _fixed(v[0], self.q), "x": closed, "q": _fixed(v[1], Decimal("1e-8")),
                  "V": _fixed(v[2], self.q), "Q": _fixed(v[3], Decimal("1e-8")), "B": "0"})
        order = ("t", "T", "s", "i", "f", "L", "o", "c", "h", "l", "v", "n", "x", "q", "V", "Q", "B")
        return {f: k[f] for f in order}


def _fixed(x: Decimal, step: Decimal) -> str:
    return format(x.quantize(step), "f")
