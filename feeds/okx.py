"""OKX v5 public websocket frames -> normalised records (exact ticks/lots), and the checksum.

:class:`OkxParser` handles one connection's frames (public and business endpoints alike):

==========================================  ============================================
``books`` / ``books-l2-tbt`` /              ``action: snapshot`` -> :class:`DepthSnapshot`,
``books50-l2-tbt`` / ``books-elp``          ``update`` -> :class:`DepthDiff` (last_id=seqId,
                                            prev_id=prevSeqId, checksum, raw level strings)
``books5``                                  :class:`DepthSnapshot` (partial=True)
``bbo-tbt``                                 :class:`TopOfBook` (update_id=seqId)
``trades`` / ``trades-all``                 :class:`Trade` (trade_id = tradeId, count)
``tickers``                                 :class:`Ticker`
``candle*``                                 :class:`Bar`
``event`` frames, text ``pong``             :class:`Control`
REST ``/api/v5/market/books``               :meth:`OkxParser.parse_rest_books`
REST ``/api/v5/public/instruments``         grids via :meth:`OkxParser.load_instruments`
==========================================  ============================================

:meth:`OkxParser.parse` returns a *list* of records (OKX packs several in ``data``).

Grids: with instrument metadata the tick is ``tickSz`` and the lot ``lotSz`` (``grid.source ==
"instruments"``). Without it OKX strings give no fixed width (``"30244"``, ``"30243.5"``), so
the grid is derived as 10**-max(8, decimals seen in the first message) for price and size
(``source == "derived"``); a later finer string is an off-grid error and the session
re-derives and resyncs that symbol.
"""

from __future__ import annotations

import zlib
from decimal import Decimal
from operator import itemgetter
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from core.l2book import BookGrid
from core.marketdata import Bar, DepthDiff, DepthSnapshot, Ticker, TopOfBook, Trade
from core.numbers import NumberError
from feeds.binance import Control, FeedParseError, SymbolMeta

EXCHANGE = "okx"
INCREMENTAL = frozenset({"books", "books-l2-tbt", "books50-l2-tbt", "books-elp"})
_ig0 = itemgetter(0)
_ig1 = itemgetter(1)


def okx_checksum(bids: list, asks: list) -> int:
    """OKX's CRC32 over the first 25 levels, bid and ask interleaved, ``px:sz`` strings as
    received, as a signed 32-bit integer. ``bids`` descending, ``asks`` ascending; each level a
    sequence whose first two items are the price and size strings."""
    parts = []
    for i in range(25):
        if i < len(bids):
            parts.append(f"{bids[i][0]}:{bids[i][1]}")
        if i < len(asks):
            parts.append(f"{asks[i][0]}:{asks[i][1]}")
    c = zlib.crc32(":".join(parts).encode())
    return c - (1 << 32) if c & 0x80000000 else c


def _dec_places(text: str) -> int:
    return len(text.partition(".")[2])


def derived_grid(levels: list) -> BookGrid:
    pp = max([8, *(_dec_places(lv[0]) for lv in levels)])
    qp = max([8, *(_dec_places(lv[1]) for lv in levels)])
    return BookGrid(Decimal(1).scaleb(-pp), Decimal(1).scaleb(-qp), source="derived")


def unified_symbol(inst: dict) -> str:
    t = inst.get("instType")
    iid = inst.get("instId", "")
    if t == "SPOT" or t == "MARGIN":
        return f"{inst.get('baseCcy')}/{inst.get('quoteCcy')}"
    base, _, rest = (inst.get("uly") or iid).partition("-")
    quote = rest.split("-")[0] if rest else ""
    settle = inst.get("settleCcy") or quote
    if t == "SWAP":
        return f"{base}/{quote}:{settle}"
    if t == "FUTURES":
        return f"{base}/{quote}:{settle}-{iid.rsplit('-', 1)[-1]}"
    return iid


class OkxParser:
    """OKX frames -> lists of :mod:`core.marketdata` records."""

    exchange = EXCHANGE

    def __init__(self) -> None:
        self.symbols: dict[str, SymbolMeta] = {}

    # ------------------------------------------------------------------ metadata
    def load_instruments(self, body: str | bytes | dict) -> int:
        """Register grids from a ``/api/v5/public/instruments`` body; returns the count.
        Instruments already in use keep their grid."""
        obj = orjson.loads(body) if isinstance(body, (str, bytes)) else body
        n = 0
        for inst in obj.get("data") or ():
            iid, tick, lot = inst.get("instId"), inst.get("tickSz"), inst.get("lotSz")
            if not iid or not tick or not lot:
                continue
            try:
                grid = BookGrid(Decimal(tick), Decimal(lot), source="instruments")
            except (ArithmeticError, ValueError, NumberError):
                continue
            if grid.tick <= 0 or grid.lot <= 0:
                continue
            if iid not in self.symbols:
                self.symbols[iid] = SymbolMeta(f"{EXCHANGE}:{iid}", iid, unified_symbol(inst), grid)
            n += 1
        return n

    def meta(self, inst_id: str, levels: list | None = None) -> SymbolMeta:
        m = self.symbols.get(inst_id)
        if m is None:
            grid = derived_grid(levels or [])
            m = SymbolMeta(f"{EXCHANGE}:{inst_id}", inst_id, inst_id.replace("-", "/", 1), grid)
            self.symbols[inst_id] = m
        return m

    def set_grid(self, inst_id: str, grid: BookGrid) -> None:
        self.meta(inst_id).grid = grid

    def key(self, inst_id: str) -> str:
        return f"{EXCHANGE}:{inst_id}"

    # ------------------------------------------------------------------ frames
    def parse(self, raw: str | bytes, ts_ns: int = 0) -> list:
        """One frame -> a list of records / :class:`Control` (empty for ignored frames)."""
        if raw == "pong" or raw == b"pong":
            return [Control("pong", None)]
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise FeedParseError(f"invalid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise FeedParseError(f"expected a JSON object, got {type(obj).__name__}")
        ev = obj.get("event")
        if ev is not None:
            if ev == "error":
                return [Control("error", obj)]
            return [Control("subscribed" if ev == "subscribe" else ev, obj)]
        arg = obj.get("arg")
        data = obj.get("data")
        if not isinstance(arg, dict) or not isinstance(data, list):
            return []
        channel = arg.get("channel", "")
        inst_id = arg.get("instId", "")
        try:
            return self._dispatch(channel, inst_id, obj.get("action"), data, ts_ns)
        except NumberError as exc:
            err = FeedParseError(f"{channel} {inst_id}: {exc}")
            err.key = self.key(inst_id)
            err.number_code = exc.code
            raise err from None
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            err = FeedParseError(f"malformed {channel} {inst_id}: {type(exc).__name__} {exc}")
            err.key = self.key(inst_id)
            raise err from None

    def _dispatch(self, channel: str, inst_id: str, action: str | None, data: list, ts_ns: int) -> list:
        out: list = []
        if channel in INCREMENTAL:
            for d in data:
                bids, asks = d["bids"], d["asks"]
                m = self.meta(inst_id, bids + asks)
                g = m.grid
                pg, qg = g.prices.__getitem__, g.qtys.__getitem__
                seq = d.get("seqId")
                prev = d.get("prevSeqId")
                cs = d.get("checksum")
                ts_ex = int(d["ts"]) * 1_000_000
                if action == "snapshot":
                    out.append(DepthSnapshot(
                        m.key, ts_ex, ts_ns, None if seq is None else int(seq),
                        list(zip(map(pg, map(_ig0, bids)), map(qg, map(_ig1, bids)))),
                        list(zip(map(pg, map(_ig0, asks)), map(qg, map(_ig1, asks)))),
                        False, None if prev is None else int(prev), None if cs is None else int(cs), (bids, asks),
                    ))
                else:
                    out.append(DepthDiff(
                        m.key, ts_ex, ts_ns, None, None if seq is None else int(seq),
                        None if prev is None else int(prev),
                        list(map(pg, map(_ig0, bids))), list(map(qg, map(_ig1, bids))),
                        list(map(pg, map(_ig0, asks))), list(map(qg, map(_ig1, asks))),
                        None if cs is None else int(cs), (bids, asks),
                    ))
            return out
        if channel == "books5":
            for d in data:
                bids, asks = d["bids"], d["asks"]
                m = self.meta(inst_id, bids + asks)
                pg, qg = m.grid.prices.__getitem__, m.grid.qtys.__getitem__
                seq = d.get("seqId")
                out.append(DepthSnapshot(
                    m.key, int(d["ts"]) * 1_000_000, ts_ns, None if seq is None else int(seq),
                    list(zip(map(pg, map(_ig0, bids)), map(qg, map(_ig1, bids)))),
                    list(zip(map(pg, map(_ig0, asks)), map(qg, map(_ig1, asks)))),
                    True, None, None, (bids, asks),
                ))
            return out
        if channel == "bbo-tbt":
            for d in data:
                bids, asks = d["bids"], d["asks"]
                m = self.meta(inst_id, bids + asks)
                p, q = m.grid.prices, m.grid.qtys
                seq = d.get("seqId")
                out.append(TopOfBook(
                    m.key, int(d["ts"]) * 1_000_000, ts_ns, None if seq is None else int(seq),
                    p[bids[0][0]] if bids else None, q[bids[0][1]] if bids else None,
                    p[asks[0][0]] if asks else None, q[asks[0][1]] if asks else None,
                ))
            return out
        if channel in ("trades", "trades-all"):
            for d in data:
                m = self.meta(d.get("instId") or inst_id, [[d["px"], d["sz"]]])
                g = m.grid
                out.append(Trade(m.key, int(d["ts"]) * 1_000_000, ts_ns, int(d["tradeId"]), g.prices[d["px"]],
                                 g.qtys[d["sz"]], d["side"], int(d.get("count") or 1)))
            return out
        if channel == "tickers":
            for d in data:
                m = self.meta(d.get("instId") or inst_id, [[d.get("last") or "0", d.get("lastSz") or "0"]])
                p, q = m.grid.prices, m.grid.qtys
                out.append(Ticker(
                    m.key, int(d["ts"]) * 1_000_000, ts_ns, _opt(p, d.get("last")), _opt(p, d.get("bidPx")),
                    _opt(q, d.get("bidSz")), _opt(p, d.get("askPx")), _opt(q, d.get("askSz")),
                    _opt(p, d.get("open24h")), _opt(p, d.get("high24h")), _opt(p, d.get("low24h")),
                    d.get("vol24h", ""),
                ))
            return out
        if channel.startswith("candle"):
            interval = channel[len("candle"):]
            for row in data:
                m = self.meta(inst_id, [[row[1], row[5]]])
                p = m.grid.prices
                out.append(Bar(m.key, ts_ns, interval, int(row[0]), p[row[1]], p[row[2]], p[row[3]], p[row[4]],
                               m.grid.qtys[row[5]], len(row) > 8 and row[8] == "1",
                               row[7] if len(row) > 7 else ""))
            return out
        return out

    # ------------------------------------------------------------------ REST
    def parse_rest_books(self, body: str | bytes | dict, inst_id: str, ts_ns: int = 0) -> DepthSnapshot:
        """``GET /api/v5/market/books?instId=..`` body -> a full snapshot (update_id = seqId)."""
        try:
            obj = orjson.loads(body) if isinstance(body, (str, bytes)) else body
            if str(obj.get("code", "0")) != "0":
                raise FeedParseError(f"{inst_id} books: error {obj.get('code')} {obj.get('msg', '')}")
            d = obj["data"][0]
            bids, asks = d["bids"], d["asks"]
            m = self.meta(inst_id, bids + asks)
            pg, qg = m.grid.prices.__getitem__, m.grid.qtys.__getitem__
            seq = d.get("seqId")
            return DepthSnapshot(
                m.key, int(d["ts"]) * 1_000_000, ts_ns, None if seq is None else int(seq),
                list(zip(map(pg, map(_ig0, bids)), map(qg, map(_ig1, bids)))),
                list(zip(map(pg, map(_ig0, asks)), map(qg, map(_ig1, asks)))),
                False, None, None, (bids, asks),
            )
        except NumberError as exc:
            raise FeedParseError(f"{inst_id} books: {exc}") from None
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise FeedParseError(f"{inst_id} books: malformed ({type(exc).__name__} {exc})") from None


def _opt(parser: Any, text: str | None) -> int | None:
    if not text:
        return None
    v = parser[text]
    return v if v else None


def rest_kind(url: str | None) -> tuple[str, str | None]:
    """``("books", instId)``, ``("instruments", None)``, ``("candles", instId)`` or ``("other", None)``."""
    if not url:
        return "other", None
    parts = urlsplit(url)
    q = parse_qs(parts.query)
    inst = (q.get("instId") or [None])[0]
    path = parts.path.rstrip("/")
    if path.endswith("/market/books") or path.endswith("/market/books-full"):
        return "books", inst
    if path.endswith("/public/instruments"):
        return "instruments", None
    if "candles" in path:
        return "candles", inst
    return "other", None
