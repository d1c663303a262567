"""REST through ccxt (async): one gateway per exchange, endpoints overridable (the emulator).

:class:`ExchangeGateway` owns one ``ccxt.async_support`` instance (ccxt's rate limiter on: one
instance per exchange per process, so the limiter sees every call) and gives:

* :meth:`~ExchangeGateway.instruments` -- markets as :class:`core.instruments.Instrument`
  (tick, lot, min quantity, min notional from the exchange's own strings, never ccxt's floats);
* :meth:`~ExchangeGateway.depth_snapshot` -- the raw REST depth body (``/api/v3/depth``,
  ``/fapi/v1/depth``, ``/api/v5/market/books``) with the URL it came from, so the caller parses it
  exactly (and can record it) -- ccxt's ``fetch_order_book`` returns floats;
* :meth:`~ExchangeGateway.klines` -- raw candle rows (strings) for backfill;
* every call goes through :class:`RetryPolicy`: ccxt's error tree is mapped to *retry* (network
  trouble, timeouts, rate limits -- with a longer wait -- and nonce errors) or *fail now* (bad
  symbol, bad request, authentication, anything else the exchange refused), with bounded
  exponential backoff and jitter.  A final failure raises :class:`GatewayError` with one line.

``rest_url`` replaces the scheme and host of every REST endpoint of the exchange (``http://
127.0.0.1:PORT`` for the emulator); live use leaves it ``None``: the code path is the same.
ccxt is imported when a gateway is created, not when this module is.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode, urlsplit

import orjson

from core.instruments import Asset, Instrument
from core.numbers import NumberError, decimal_places, parse_decimal

log = logging.getLogger(__name__)

EXCHANGES = ("binance", "binanceusdm", "okx")

# ccxt error class name -> (kind, retryable). The first class in an exception's MRO that is
# listed decides (so RateLimitExceeded wins over its parent NetworkError).
ERROR_POLICY: dict[str, tuple[str, bool]] = {
    "RateLimitExceeded": ("rate_limit", True),
    "DDoSProtection": ("rate_limit", True),
    "RequestTimeout": ("timeout", True),
    "ExchangeNotAvailable": ("unavailable", True),
    "OnMaintenance": ("unavailable", True),
    "InvalidNonce": ("nonce", True),
    "NetworkError": ("network", True),
    "BadSymbol": ("bad_symbol", False),
    "BadRequest": ("bad_request", False),
    "ArgumentsRequired": ("bad_request", False),
    "AuthenticationError": ("auth", False),
    "PermissionDenied": ("auth", False),
    "AccountSuspended": ("auth", False),
    "InsufficientFunds": ("funds", False),
    "InvalidOrder": ("order", False),
    "NotSupported": ("not_supported", False),
    "BadResponse": ("bad_response", True),
    "NullResponse": ("bad_response", True),
    "ExchangeError": ("exchange", False),
}


class GatewayError(RuntimeError):
    """A REST call that failed for good: ``kind`` (see ERROR_POLICY), ``attempts`` made."""

    def __init__(self, message: str, kind: str = "exchange", retryable: bool = False, attempts: int = 1) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
        self.attempts = attempts


def classify(exc: BaseException) -> tuple[str, bool]:
    """``(kind, retryable)`` of an exception raised by a ccxt call."""
    for cls in type(exc).__mro__:
        hit = ERROR_POLICY.get(cls.__name__)
        if hit is not None:
            return hit
    if isinstance(exc, (asyncio.TimeoutError, ConnectionError, OSError)):
        return ("network", True)
    return ("internal", False)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter; rate limits wait ``rate_limit_factor`` longer."""

    attempts: int = 4
    base: float = 0.25
    cap: float = 8.0
    rate_limit_factor: float = 4.0

    def delay(self, attempt: int, kind: str, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        r = rng or random
        ceiling = min(self.cap, self.base * (2 ** (attempt - 1)))
        if kind == "rate_limit":
            ceiling = min(self.cap * self.rate_limit_factor, ceiling * self.rate_limit_factor)
        return ceiling / 2 + r.random() * ceiling / 2


def _ccxt_class(exchange: str):
    import ccxt.async_support as ccxt_async

    return getattr(ccxt_async, exchange)


class ExchangeGateway:
    """One ccxt instance for one exchange; use ``async with`` (or :meth:`close`) on one loop."""

    def __init__(
        self,
        exchange: str,
        rest_url: str | None = None,
        policy: RetryPolicy | None = None,
        timeout_ms: int = 10_000,
        market_types: tuple[str, ...] | None = None,
    ) -> None:
        if exchange not in EXCHANGES:
            raise ValueError(f"exchange must be one of {', '.join(EXCHANGES)}, got {exchange!r}")
        self.exchange = exchange
        self.policy = policy or RetryPolicy()
        types = market_types or {"binance": ("spot",), "binanceusdm": ("linear",), "okx": ("spot", "swap", "future")}[exchange]
        options = {"fetchMarkets": {"types": list(types)}, "fetchCurrencies": False}
        self.ccxt = _ccxt_class(exchange)({"enableRateLimit": True, "timeout": timeout_ms, "options": options})
        self.rest_url = rest_url.rstrip("/") if rest_url else None
        if self.rest_url:
            self._override(self.rest_url)
        self.calls = 0
        self.retries = 0
        self.skipped: dict[str, str] = {}  # market symbol -> why it is not an Instrument

    def _override(self, base: str) -> None:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"rest url must look like http://host:port, got {base!r}")
        api = self.ccxt.urls["api"]
        for key, url in list(api.items()):
            if isinstance(url, str) and url.startswith("http"):
                path = urlsplit(url.replace("{hostname}", "h")).path
                api[key] = base + path

    def base_url(self) -> str:
        """Scheme and host the REST calls go to."""
        if self.rest_url:
            return self.rest_url
        return {"binance": "https://api.binance.com", "binanceusdm": "https://fapi.binance.com", "okx": "https://www.okx.com"}[self.exchange]

    async def close(self) -> None:
        await self.ccxt.close()

    async def __aenter__(self) -> "ExchangeGateway":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ retry
    async def call(self, what: str, fn, *args, **kwargs):
        """``await fn(*args, **kwargs)`` under the retry policy; GatewayError when it gives up."""
        attempt = 0
        while True:
            attempt += 1
            self.calls += 1
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:  # ccxt raises its own tree; classify decides
                kind, retryable = classify(exc)
                text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
                if not retryable or attempt >= self.policy.attempts:
                    raise GatewayError(
                        f"{self.exchange} {what}: {type(exc).__name__}: {text}"
                        + (f" (after {attempt} attempts)" if attempt > 1 else ""),
                        kind, retryable, attempt,
                    ) from None
                self.retries += 1
                delay = self.policy.delay(attempt, kind)
                log.warning("%s %s failed (%s: %s); retry %d in %.2f s", self.exchange, what, kind, text, attempt, delay)
                await asyncio.sleep(delay)

    # ------------------------------------------------------------------ markets
    async def load_markets(self, reload: bool = False) -> dict:
        return await self.call("load_markets", self.ccxt.load_markets, reload)

    async def instruments(self) -> dict[str, Instrument]:
        """Unified symbol -> Instrument for every market the exchange lists (as far as it converts)."""
        markets = await self.load_markets()
        out: dict[str, Instrument] = {}
        for symbol, m in markets.items():
            try:
                out[symbol] = market_to_instrument(self.exchange, m)
            except (KeyError, TypeError, ValueError, ArithmeticError, NumberError) as exc:
                self.skipped[symbol] = str(exc)
        return out

    async def market_id(self, symbol: str) -> str:
        """Exchange id (``BTCUSDT``, ``BTC-USDT``) of a unified symbol (or an id given as is)."""
        return (await self.market(symbol))[0]

    async def market(self, symbol: str) -> tuple[str, str]:
        """``(exchange id, unified name)`` of a symbol given either way (GatewayError when
        unknown)."""
        markets = await self.load_markets()
        if symbol in markets:
            return markets[symbol]["id"], markets[symbol]["symbol"]
        by_id = self.ccxt.markets_by_id.get(symbol)
        if by_id:
            market = by_id[0] if isinstance(by_id, list) else by_id
            return symbol, market["symbol"]
        raise GatewayError(f"{self.exchange}: unknown symbol {symbol!r}", "bad_symbol", False)

    # ------------------------------------------------------------------ depth, klines
    async def depth_snapshot(self, market_id: str, limit: int | None = None) -> tuple[str, str]:
        """``(url, raw JSON body)`` of a REST depth snapshot for an exchange id (exact strings)."""
        ex = self.ccxt
        if self.exchange == "okx":
            params = {"instId": market_id, "sz": min(limit or 400, 400)}
            body = await self.call(f"books {market_id}", ex.publicGetMarketBooks, params)
            if str(body.get("code", "0")) != "0":
                raise GatewayError(f"okx books {market_id}: code {body.get('code')} {body.get('msg')}", "exchange", False)
            path = "/api/v5/market/books"
        elif self.exchange == "binanceusdm":
            params = {"symbol": market_id, "limit": limit or 1000}
            body = await self.call(f"depth {market_id}", ex.fapiPublicGetDepth, params)
            path = "/fapi/v1/depth"
        else:
            params = {"symbol": market_id, "limit": limit or 5000}
            body = await self.call(f"depth {market_id}", ex.publicGetDepth, params)
            path = "/api/v3/depth"
        return f"{self.base_url()}{path}?{urlencode(params)}", orjson.dumps(body).decode()

    async def klines(
        self,
        market_id: str,
        interval: str = "1m",
        since_ms: int | None = None,
        limit: int = 500,
        end_ms: int | None = None,
        before_ms: int | None = None,
    ) -> list:
        """Raw candle rows as the exchange sends them (strings: exact), oldest first.

        Binance: from ``since_ms`` (``startTime``) up to ``end_ms`` (``endTime``). OKX pages
        backwards (its candles come newest first): rows older than ``before_ms`` (``after``),
        newer than ``since_ms`` (``before``), from ``/market/history-candles`` (which reaches
        back years; ``/market/candles`` only keeps the latest 1,440)."""
        ex = self.ccxt
        if self.exchange == "okx":
            params = {"instId": market_id, "bar": interval, "limit": min(limit, 100)}
            if since_ms is not None:
                params["before"] = since_ms - 1
            if before_ms is not None:
                params["after"] = before_ms
            body = await self.call(f"candles {market_id}", ex.publicGetMarketHistoryCandles, params)
            if str(body.get("code", "0")) != "0":
                raise GatewayError(f"okx candles {market_id}: code {body.get('code')} {body.get('msg')}", "exchange", False)
            return list(reversed(body.get("data", [])))
        params = {"symbol": market_id, "interval": interval, "limit": min(limit, 1000)}
        if since_ms is not None:
            params["startTime"] = since_ms
        if end_ms is not None:
            params["endTime"] = end_ms
        fn = ex.fapiPublicGetKlines if self.exchange == "binanceusdm" else ex.publicGetKlines
        return await self.call(f"klines {market_id}", fn, params)


# ---------------------------------------------------------------------- markets -> instruments


def _filters(info: dict) -> dict[str, dict]:
    return {f.get("filterType"): f for f in info.get("filters", ()) if isinstance(f, dict)}


def _positive(text: object) -> Decimal | None:
    if text in (None, ""):
        return None
    value = parse_decimal(str(text), "market value")
    return value if value > 0 else None


def market_to_instrument(exchange: str, market: dict) -> Instrument:
    """A ccxt market -> :class:`Instrument`, from the exchange's raw strings in ``market['info']``.

    Assets get enough decimals for the grid to map onto whole units (the core invariant).
    """
    info = market.get("info") or {}
    if exchange in ("binance", "binanceusdm"):
        f = _filters(info)
        price, lot = f.get("PRICE_FILTER", {}), f.get("LOT_SIZE", {})
        tick = _positive(price.get("tickSize"))
        step = _positive(lot.get("stepSize"))
        min_qty = _positive(lot.get("minQty")) or step
        max_qty = _positive(lot.get("maxQty"))
        max_price = _positive(price.get("maxPrice"))
        notional = f.get("NOTIONAL") or f.get("MIN_NOTIONAL") or {}
        min_notional = _positive(notional.get("minNotional") or notional.get("notional")) or Decimal(0)
    else:  # okx
        tick = _positive(info.get("tickSz"))
        step = _positive(info.get("lotSz"))
        min_qty = _positive(info.get("minSz")) or step
        max_qty = _positive(info.get("maxLmtSz"))
        max_price = None
        min_notional = Decimal(0)
    if tick is None or step is None:
        raise ValueError(f"{market.get('symbol')}: no tick or lot size in the market info")
    base_code = str(market.get("base") or market["symbol"].split("/")[0])
    quote_code = str(market.get("quote") or market["symbol"].split("/")[1].split(":")[0])
    base_dec = max(8, decimal_places(step))
    quote_dec = max(8, decimal_places(tick * step), decimal_places(min_notional) if min_notional else 0)
    return Instrument(
        symbol=market["symbol"],
        base=Asset(base_code, base_dec),
        quote=Asset(quote_code, quote_dec),
        tick_size=tick,
        lot_size=step,
        min_qty=min_qty or step,
        min_notional=min_notional,
        max_qty=max_qty or Decimal("9000000000"),
        max_price=max_price or Decimal("100000000000"),
    )
