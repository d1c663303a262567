"""Normalised market-data records the feeds hand to the rest of the system.

Prices are integer ticks and quantities integer lots of the market's :class:`core.l2book.BookGrid`
(look it up by ``key``); ``key`` is ``"<exchange>:<exchange symbol>"`` (``"binance:BTCUSDT"``,
``"binanceusdm:SUSHIUSDT"``, ``"okx:BTC-USDT"``). Times are integer ns: ``ts_ex_ns`` the
exchange's event time (0 when the message has none), ``ts_ns`` the local receive time.
Everything is a NamedTuple: cheap to build on the hot path, immutable, picklable.
"""

from __future__ import annotations

from typing import NamedTuple


class DepthDiff(NamedTuple):
    """Incremental absolute levels (lots 0 = remove), in message order per side.

    Sequence fields, by venue: Binance spot ``first_id``=U, ``last_id``=u, ``prev_id``=None;
    Binance USD-M adds ``prev_id``=pu; OKX ``last_id``=seqId, ``prev_id``=prevSeqId (None
    before OKX had them), ``checksum`` the CRC32 field (None/0 when absent).
    ``raw`` (OKX only) keeps the level strings as received, for the checksum.
    """

    key: str
    ts_ex_ns: int
    ts_ns: int
    first_id: int | None
    last_id: int | None
    prev_id: int | None
    bid_ticks: list[int]
    bid_lots: list[int]
    ask_ticks: list[int]
    ask_lots: list[int]
    checksum: int | None = None
    raw: tuple[list, list] | None = None


class DepthSnapshot(NamedTuple):
    """A full book (REST snapshot, OKX ``action: snapshot``) or a partial top-N one
    (``partial=True``: Binance ``@depth5``, OKX ``books5``/``bbo-tbt``)."""

    key: str
    ts_ex_ns: int
    ts_ns: int
    update_id: int | None
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]
    partial: bool = False
    prev_id: int | None = None
    checksum: int | None = None
    raw: tuple[list, list] | None = None


class TopOfBook(NamedTuple):
    """Best bid/ask as the exchange states it (Binance bookTicker, OKX bbo-tbt, tickers)."""

    key: str
    ts_ex_ns: int
    ts_ns: int
    update_id: int | None
    bid: int | None
    bid_qty: int | None
    ask: int | None
    ask_qty: int | None


class Trade(NamedTuple):
    """One trade (or one aggregate of fills of a taker order: ``count`` fills)."""

    key: str
    ts_ex_ns: int
    ts_ns: int
    trade_id: int
    price: int
    qty: int
    taker_side: str  # "buy" | "sell"
    count: int = 1


class Bar(NamedTuple):
    """A candle; ``closed`` False while it is still forming. ``quote_volume`` as an exact string."""

    key: str
    ts_ns: int
    interval: str
    open_ms: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    closed: bool
    quote_volume: str = ""


class Ticker(NamedTuple):
    """24-hour ticker (OKX ``tickers``, Binance ``24hrTicker``); None where absent."""

    key: str
    ts_ex_ns: int
    ts_ns: int
    last: int | None
    bid: int | None
    bid_qty: int | None
    ask: int | None
    ask_qty: int | None
    open_24h: int | None
    high_24h: int | None
    low_24h: int | None
    volume_24h: str
