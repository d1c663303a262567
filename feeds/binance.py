"""Binance spot and USD-M futures market-data frames -> normalised records (exact ticks/lots).

One :class:`BinanceParser` per market (``"binance"`` spot, ``"binanceusdm"`` USD-M futures)
turns raw websocket frames (combined-stream envelopes or bare events) and REST bodies into
:mod:`core.marketdata` records:

=====================  ===============================================================
``depthUpdate``        :class:`DepthDiff` (first_id=U, last_id=u, prev_id=pu on USD-M)
``bookTicker``         :class:`TopOfBook` (update_id=u: same id space as depth)
``trade``/``aggTrade`` :class:`Trade` (aggTrade: count = l - f + 1)
``kline``              :class:`Bar`
``24hrTicker``         :class:`Ticker`
``@depth<N>`` partial  :class:`DepthSnapshot` (partial=True)
acks, serverShutdown   :class:`Control`
REST ``/depth``        :class:`DepthSnapshot` via :meth:`BinanceParser.parse_snapshot`
REST ``exchangeInfo``  grids via :meth:`BinanceParser.load_exchange_info`
=====================  ===============================================================

Grids (see :class:`core.l2book.BookGrid`): a book's grid is the exchange's *string precision*
-- with ``exchangeInfo`` the price grid is 10**-``quoteAssetPrecision`` (spot) or
10**-``pricePrecision`` (USD-M) and the quantity grid 10**-``baseAssetPrecision`` (spot) or
10**-``quantityPrecision`` (USD-M); the PRICE_FILTER tickSize is kept as
``SymbolMeta.order_tick``. Not tickSize/stepSize, because real books hold resting orders
placed under older, finer grids: NKNUSDT 2021 has bids at 0.25974000 with tickSize 0.0001,
CTKUSDT futures 0.50579 with tickSize 0.001, BTCUSDT 2024 an ask of 93.758587 BTC with
stepSize 0.00001. Without metadata the grid is derived from the decimals of the first price
and quantity strings seen for the symbol: Binance sends fixed-width strings (8 decimals on
spot, the symbol's precision on USD-M), so the derived grid is the same. ``grid.source`` says
which (``exchangeInfo`` or ``derived``).

Speed: depthUpdate frames in the canonical compact form Binance sends go through the
optional compiled parser ``feeds._depthfast`` (one pass over the bytes, each price/quantity
converted exactly to ticks/lots of the symbol's grid, the same :class:`DepthDiff` built, its
level fields int64 ``core._l2native.Levels`` arrays equal to the pure path's lists, which the
native :class:`core.l2book.L2Book` reads without a Python int per level). It
takes a frame only when its result is certain to equal the pure path's; anything else
(whitespace, escapes, other keys or order, an unknown symbol, off-grid, overflow, garbage)
falls through to the pure path: ``orjson`` decode and the exact memoised
:class:`core.l2book.UnitParser` with C-level ``map``, which raises the errors. ``DEPTH_IMPLEMENTATION``
says which is active (``"c"``/``"python"``; ``TICKDESK_PURE_PYTHON=1`` forces the pure path,
``BinanceParser(fast=False)`` for one parser). A hand-written splitter in Python was tried and
measured slower than ``orjson`` (building ~90 substrings in Python costs more than orjson's
whole decode).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import orjson

from core.l2book import BookGrid, pure_python_forced
from core.marketdata import Bar, DepthDiff, DepthSnapshot, Ticker, TopOfBook, Trade
from core.numbers import NumberError

try:
    if pure_python_forced():
        raise ImportError("TICKDESK_PURE_PYTHON")
    from feeds._depthfast import parse_depth as _c_parse_depth
except ImportError:  # not built (no compiler at install time) or disabled: the pure path
    _c_parse_depth = None

DEPTH_IMPLEMENTATION = "python" if _c_parse_depth is None else "c"
_MAX_FAST_PLACES = 18  # the compiled parser's grids: 10**-18 .. and a 64-bit multiple

SPOT = "binance"
USDM = "binanceusdm"
EXCHANGES = (SPOT, USDM)

# Quote assets tried (longest first) when a spot symbol has no exchangeInfo entry.
_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "BRL", "AUD", "GBP", "TRY", "TRX", "XRP", "DAI", "RUB", "UAH", "BIDR", "IDRT", "NGN", "PAX")


class FeedParseError(ValueError):
    """A frame that cannot be understood (bad JSON, missing field, off-grid number...).

    ``key`` names the market when the frame said which (else None); ``number_code`` is the
    :class:`core.numbers.NumberError` code when a number was the problem (``OFF_GRID``...).
    """

    key: str | None = None
    number_code: str | None = None


class Control(NamedTuple):
    """A frame that is not market data: ``ack`` (``{"result":..,"id":..}``), ``error``,
    ``server_shutdown``, ``subscribed`` (OKX), ``pong``."""

    kind: str
    data: Any


@dataclass
class SymbolMeta:
    """What the parser knows about one symbol."""

    key: str
    symbol: str
    unified: str
    grid: BookGrid
    order_tick: Decimal | None = None  # the exchange's current order tick size, when known


def _decimals(text: str) -> int:
    whole, _, frac = text.partition(".")
    return len(frac)


def derived_grid(price: str | None, qty: str | None) -> BookGrid:
    """The grid of a fixed-width price and quantity string (``"61837.63000000"`` -> 1e-8)."""
    tick = Decimal(1).scaleb(-_decimals(price)) if price else Decimal("0.00000001")
    lot = Decimal(1).scaleb(-_decimals(qty)) if qty else Decimal("0.00000001")
    return BookGrid(tick, lot, source="derived")


def unified_spot(symbol: str, base: str | None = None, quote: str | None = None) -> str:
    if base and quote:
        return f"{base}/{quote}"
    for q in _QUOTES:
        if symbol.endswith(q) and len(symbol) > len(q):
            return f"{symbol[: -len(q)]}/{q}"
    return symbol


_ig0 = itemgetter(0)
_ig1 = itemgetter(1)


class BinanceParser:
    """Frames of one Binance market (spot or USD-M) -> :mod:`core.marketdata` records."""

    def __init__(self, exchange: str = SPOT, fast: bool = True) -> None:
        """``fast=False``: never use the compiled depth parser (tests compare both paths)."""
        if exchange not in EXCHANGES:
            raise ValueError(f"exchange must be one of {EXCHANGES}, got {exchange!r}")
        self.exchange = exchange
        self.symbols: dict[str, SymbolMeta] = {}
        self._prefix = exchange + ":"
        self._fast = _c_parse_depth if fast else None
        # symbol -> (key, price places, price mult, qty places, qty mult) for the compiled parser;
        # kept in step with ``symbols`` by _add / set_grid (change grids through set_grid).
        self._specs: dict[str, tuple[str, int, int, int, int]] = {}

    @property
    def implementation(self) -> str:
        """``"c"`` when depth frames go through the compiled parser, else ``"python"``."""
        return "python" if self._fast is None else "c"

    def _add(self, m: SymbolMeta) -> SymbolMeta:
        self.symbols[m.symbol] = m
        self._spec(m)
        return m

    def _spec(self, m: SymbolMeta) -> None:
        p, q = m.grid.prices, m.grid.qtys
        if max(p.places, q.places) <= _MAX_FAST_PLACES and max(p.mult, q.mult) < 2**64:
            self._specs[m.symbol] = (m.key, p.places, p.mult, q.places, q.mult)
        else:
            self._specs.pop(m.symbol, None)  # the pure path handles this grid

    # ------------------------------------------------------------------ metadata
    def load_exchange_info(self, info: str | bytes | dict) -> int:
        """Register every symbol's grid from an ``exchangeInfo`` body; returns the count.

        Symbols already in use keep their grid (a book's grid never changes under it).
        """
        obj = orjson.loads(info) if isinstance(info, (str, bytes)) else info
        n = 0
        for s in obj.get("symbols", ()):
            symbol = s.get("symbol")
            tick = None
            for f in s.get("filters", ()):
                if f.get("filterType") == "PRICE_FILTER":
                    tick = f.get("tickSize")
            if self.exchange == USDM:
                pp, qp = s.get("pricePrecision"), s.get("quantityPrecision")
                unified = f"{s.get('baseAsset')}/{s.get('quoteAsset')}:{s.get('marginAsset') or s.get('quoteAsset')}"
            else:
                pp, qp = s.get("quoteAssetPrecision", s.get("quotePrecision")), s.get("baseAssetPrecision")
                unified = unified_spot(symbol, s.get("baseAsset"), s.get("quoteAsset"))
            if not symbol or not isinstance(pp, int) or not isinstance(qp, int) or not (0 <= pp <= 18 and 0 <= qp <= 18):
                continue
            grid = BookGrid(Decimal(1).scaleb(-pp), Decimal(1).scaleb(-qp), source="exchangeInfo")
            try:
                order_tick = Decimal(tick) if tick is not None else None
            except ArithmeticError:
                order_tick = None
            if symbol not in self.symbols:
                self._add(SymbolMeta(self._prefix + symbol, symbol, unified, grid, order_tick))
            n += 1
        return n

    def meta(self, symbol: str, price: str | None = None, qty: str | None = None) -> SymbolMeta:
        """The symbol's metadata, deriving the grid from sample strings when unknown."""
        m = self.symbols.get(symbol)
        if m is None:
            unified = unified_spot(symbol) if self.exchange == SPOT else f"{unified_spot(symbol)}:{unified_spot(symbol).split('/')[-1]}"
            m = self._add(SymbolMeta(self._prefix + symbol, symbol, unified, derived_grid(price, qty)))
        return m

    def set_grid(self, symbol: str, grid: BookGrid) -> None:
        """Replace a symbol's grid (the sync resyncs the book after this)."""
        m = self.meta(symbol)
        m.grid = grid
        self._spec(m)

    def key(self, symbol: str) -> str:
        return self._prefix + symbol

    # ------------------------------------------------------------------ frames
    def parse(self, raw: str | bytes, ts_ns: int = 0) -> Any:
        """One websocket frame -> a record, a :class:`Control`, or None (ignored frame).

        A canonical depthUpdate of a known symbol is parsed by the compiled parser when it is
        built; everything else (and everything when it is not) by :meth:`parse_py`.
        """
        fast = self._fast
        if fast is not None:
            d = fast(raw, self._specs, ts_ns)
            if d is not None:
                return d
        return self.parse_py(raw, ts_ns)

    def parse_py(self, raw: str | bytes, ts_ns: int = 0) -> Any:
        """The pure-Python path of :meth:`parse` (orjson + exact UnitParser): every frame."""
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise FeedParseError(f"invalid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise FeedParseError(f"expected a JSON object, got {type(obj).__name__}")
        stream = None
        data = obj
        if "stream" in obj and "data" in obj:
            stream, data = obj["stream"], obj["data"]
            if not isinstance(data, dict):
                raise FeedParseError(f"stream {stream!r}: data is not an object")
        try:
            return self._dispatch(data, stream, ts_ns)
        except NumberError as exc:
            err = FeedParseError(f"{data.get('e') or stream or 'frame'} {data.get('s', '')}: {exc}")
            err.number_code = exc.code
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            err = FeedParseError(f"malformed {data.get('e') or stream or 'frame'}: {type(exc).__name__} {exc}")
        sym = data.get("s")
        if isinstance(sym, str):
            err.key = self._prefix + sym
        raise err

    def _dispatch(self, d: dict, stream: str | None, ts_ns: int) -> Any:
        e = d.get("e")
        if e == "depthUpdate":
            return self._depth_obj(d, ts_ns)
        if e is None and "u" in d and "b" in d and "a" in d and "s" in d:
            return self._book_ticker(d, ts_ns)
        if e == "bookTicker":
            return self._book_ticker(d, ts_ns)
        if e == "trade":
            m = self.meta(d["s"], d["p"], d["q"])
            g = m.grid
            return Trade(m.key, d["T"] * 1_000_000, ts_ns, int(d["t"]), g.prices[d["p"]], g.qtys[d["q"]],
                         "sell" if d["m"] else "buy")
        if e == "aggTrade":
            m = self.meta(d["s"], d["p"], d["q"])
            g = m.grid
            return Trade(m.key, d["T"] * 1_000_000, ts_ns, int(d["a"]), g.prices[d["p"]], g.qtys[d["q"]],
                         "sell" if d["m"] else "buy", int(d["l"]) - int(d["f"]) + 1)
        if e == "kline":
            k = d["k"]
            m = self.meta(d["s"], k["o"], k["v"])
            g = m.grid
            p = g.prices
            return Bar(m.key, ts_ns, k["i"], int(k["t"]), p[k["o"]], p[k["h"]], p[k["l"]], p[k["c"]], g.qtys[k["v"]],
                       bool(k["x"]), k.get("q", ""))
        if e == "24hrTicker":
            m = self.meta(d["s"], d["c"], d["Q"])
            g = m.grid
            p, q = g.prices, g.qtys
            return Ticker(m.key, d["E"] * 1_000_000, ts_ns, p[d["c"]], _opt(p, d.get("b")), _opt(q, d.get("B")),
                          _opt(p, d.get("a")), _opt(q, d.get("A")), _opt(p, d.get("o")), _opt(p, d.get("h")),
                          _opt(p, d.get("l")), d.get("v", ""))
        if "lastUpdateId" in d and "bids" in d:
            # Partial book depth stream (<symbol>@depth<N>): the symbol is in the stream name.
            if not stream:
                raise FeedParseError("a partial depth frame needs its stream name for the symbol")
            symbol = stream.split("@", 1)[0].upper()
            snap = self.parse_snapshot(d, symbol, ts_ns)
            return snap._replace(partial=True)
        if e == "serverShutdown":
            return Control("server_shutdown", d)
        if "result" in d and "id" in d:
            return Control("ack", d)
        if "code" in d and "msg" in d:
            return Control("error", d)
        return None

    def _book_ticker(self, d: dict, ts_ns: int) -> TopOfBook:
        m = self.meta(d["s"], d["b"], d["B"])
        g = m.grid
        p, q = g.prices, g.qtys
        bq, aq = q[d["B"]], q[d["A"]]
        # An empty side is sent as price 0 / qty 0 on thin books.
        bid = p[d["b"]] if bq else None
        ask = p[d["a"]] if aq else None
        return TopOfBook(m.key, d.get("E", 0) * 1_000_000, ts_ns, int(d["u"]), bid, bq if bq else None, ask,
                         aq if aq else None)

    def _depth_obj(self, d: dict, ts_ns: int) -> DepthDiff:
        b, a = d["b"], d["a"]
        m = self.symbols.get(d["s"])
        if m is None:
            sample = b[0] if b else a[0] if a else (None, None)
            m = self.meta(d["s"], sample[0], sample[1])
        g = m.grid
        pg, qg = g.prices.__getitem__, g.qtys.__getitem__
        pu = d.get("pu")
        return DepthDiff(
            m.key, d["E"] * 1_000_000, ts_ns, int(d["U"]), int(d["u"]), None if pu is None else int(pu),
            list(map(pg, map(_ig0, b))), list(map(qg, map(_ig1, b))),
            list(map(pg, map(_ig0, a))), list(map(qg, map(_ig1, a))),
        )

    # ------------------------------------------------------------------ REST
    def parse_snapshot(self, body: str | bytes | dict, symbol: str, ts_ns: int = 0) -> DepthSnapshot:
        """A REST ``/api/v3/depth`` (or ``/fapi/v1/depth``) body for ``symbol``."""
        try:
            d = orjson.loads(body) if isinstance(body, (str, bytes)) else body
            bids, asks = d["bids"], d["asks"]
            sample = bids[0] if bids else asks[0] if asks else (None, None)
            m = self.meta(symbol, sample[0], sample[1])
            pg, qg = m.grid.prices.__getitem__, m.grid.qtys.__getitem__
            return DepthSnapshot(
                m.key, int(d.get("E", 0)) * 1_000_000, ts_ns, int(d["lastUpdateId"]),
                list(zip(map(pg, map(_ig0, bids)), map(qg, map(_ig1, bids)))),
                list(zip(map(pg, map(_ig0, asks)), map(qg, map(_ig1, asks)))),
            )
        except NumberError as exc:
            raise FeedParseError(f"{symbol} snapshot: {exc}") from None
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, IndexError) as exc:
            raise FeedParseError(f"{symbol} snapshot: malformed ({type(exc).__name__} {exc})") from None


def _opt(parser: Any, text: str | None) -> int | None:
    if text is None:
        return None
    v = parser[text]
    return v if v else None


def rest_kind(url: str | None) -> tuple[str, str | None]:
    """Classify a Binance REST URL: ``("depth", SYMBOL)``, ``("exchangeInfo", None)``,
    ``("klines", SYMBOL)`` or ``("other", None)``; ``("depth", None)`` when there is no URL
    (hftbacktest writes its snapshot without one)."""
    if not url:
        return "depth", None
    parts = urlsplit(url)
    q = parse_qs(parts.query)
    sym = (q.get("symbol") or [None])[0]
    path = parts.path.rstrip("/")
    if path.endswith("/depth"):
        return "depth", sym.upper() if sym else None
    if path.endswith("/exchangeInfo"):
        return "exchangeInfo", None
    if path.endswith("/klines"):
        return "klines", sym.upper() if sym else None
    return "other", None
