"""Candle history for a feed source: the chart opens with the past, not empty.

When an exchange (or emulator) source starts, :class:`FeedHistory` asks the exchange for each
symbol's last 720 closed 1-minute klines and, where the exchange has them (Binance spot), the
last 600 1-second klines -- exactly what ``MarketState`` keeps -- and seeds them with
``MarketState.seed_candles``. The REST calls run as one job on the feed's own loop
(``FeedRunner.run_rest``), through the consumer's gateway: the same ccxt rate limiter and retry
policy as the depth snapshots, and never on the UI thread or in ``start``. The rows come from
``feeds.backfill.recent_klines`` (exact strings, forming candle left out).

Results are handed to the publishing thread (:meth:`apply`, called before each flush), which is
the only thread that writes the ``MarketState``. A failure (REST down, unknown symbol, no 1s
klines) never touches the live feed: it is logged as a warning naming the symbol and the reason,
and each symbol's health row says ``history``: ``"720 1m + 600 1s candles"``, ``"loading"`` or
``"failed: <reason>"``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from dataclasses import dataclass, field
from decimal import Decimal

from core.instruments import Instrument
from core.numbers import decimal_places
from feeds.backfill import INTERVALS, recent_klines
from feeds.gateway import ExchangeGateway, GatewayError
from tui.sources.session_state import SessionPublisher, instrument_for

log = logging.getLogger(__name__)

# (timeframe, seconds, how many): what MarketState keeps by default
WANTED = (("1m", 60, 720), ("1s", 1, 600))


def history_plan(exchange: str) -> tuple[tuple[str, int, int], ...]:
    """The timeframes to fetch on ``exchange``: 1m everywhere, 1s where the exchange has 1s
    klines (Binance spot; USD-M has none; OKX's 1s candles are not in its history endpoint)."""
    return tuple(w for w in WANTED if w[0] in INTERVALS[exchange] and not (w[0] == "1s" and exchange == "okx"))


@dataclass
class SymbolHistory:
    """One symbol's history as it stands: what was seeded, what failed."""

    asked: str  # the symbol as the source was given it
    state: str = "loading"  # loading | ok | failed
    counts: dict[str, int] = field(default_factory=dict)  # timeframe -> candles seeded
    errors: dict[str, str] = field(default_factory=dict)  # timeframe -> why not

    def text(self) -> str:
        """``720 1m + 600 1s candles``, ``loading``, ``failed: <reason>`` (one line for a table)."""
        if self.state == "loading":
            return "loading"
        if self.state == "failed":
            return "failed: " + "; ".join(f"{tf}: {why}" for tf, why in self.errors.items())
        text = " + ".join(f"{n} {tf}" for tf, n in self.counts.items()) + " candles"
        return text + "".join(f" ({tf}: {why})" for tf, why in self.errors.items())

    def row(self) -> dict:
        return {"history": self.text(), "history_state": self.state, "history_candles": dict(self.counts),
                "history_errors": dict(self.errors)}


class FeedHistory:
    """Fetches and seeds every symbol's history once per source start (see the module docstring)."""

    def __init__(self, exchange: str, symbols: list[str], publisher: SessionPublisher) -> None:
        self.exchange = exchange
        self.publisher = publisher
        self.plan = history_plan(exchange)
        self.symbols = {s: SymbolHistory(s) for s in symbols}
        self._lock = threading.Lock()
        self._ready: list[tuple[SymbolHistory, str, str, list[tuple[str, int, list]]]] = []
        self.future: concurrent.futures.Future | None = None

    # ------------------------------------------------------------------ feed loop
    def start(self, runner) -> None:
        """Queue the fetch on the feed's loop (returns at once)."""
        consumer = runner.consumer
        # After the consumer has resolved its symbols (markets loaded, or failed): the markets
        # are then cached, not asked for a second time at once (exchangeInfo weighs 20 on Binance).
        resolved = lambda: bool(consumer.symbols) or consumer.markets_error is not None  # noqa: E731
        self.future = runner.run_rest(lambda gateway: self._fetch_all(gateway, resolved))
        self.future.add_done_callback(self._done)

    async def _fetch_all(self, gateway: ExchangeGateway, resolved=lambda: True, wait: float = 30.0) -> None:
        for _ in range(int(wait / 0.05)):
            if resolved():
                break
            await asyncio.sleep(0.05)
        for hist in self.symbols.values():
            try:
                market_id, unified = await _resolve(gateway, hist.asked)
            except GatewayError as exc:
                self._fail(hist, {tf: str(exc) for tf, _, _ in self.plan})
                continue
            got, errors = [], {}
            for tf, seconds, count in self.plan:
                try:
                    got.append((tf, seconds, await recent_klines(gateway, market_id, tf, count)))
                except (GatewayError, ValueError) as exc:
                    errors[tf] = str(exc)
            if not got:
                self._fail(hist, errors)
                continue
            with self._lock:
                hist.errors.update(errors)
                self._ready.append((hist, market_id, unified, got))

    def _fail(self, hist: SymbolHistory, errors: dict[str, str]) -> None:
        log.warning("%s %s: no candle history (%s)", self.exchange, hist.asked, "; ".join(errors.values()))
        with self._lock:
            hist.state, hist.errors = "failed", errors

    def _done(self, future: concurrent.futures.Future) -> None:
        """The job ended: whatever is still loading failed with the job's reason."""
        if future.cancelled():
            reason = "the feed stopped first"
        elif future.exception() is not None:
            reason = f"{type(future.exception()).__name__}: {future.exception()}"
        else:
            return
        for hist in self.symbols.values():
            if hist.state == "loading":
                self._fail(hist, {"history": reason})

    # ------------------------------------------------------------------ publishing thread
    def apply(self) -> int:
        """Seed what arrived since the last call into the state; returns how many symbols."""
        with self._lock:
            ready, self._ready = self._ready, []
        for hist, market_id, unified, got in ready:
            name, live = self._live(market_id, unified)
            counts, errors = {}, {}
            for tf, seconds, rows in got:
                try:
                    instrument = history_instrument(name, rows, live)
                    counts[tf] = self.publisher.state.seed_candles(instrument, seconds, rows)
                except ValueError as exc:
                    log.warning("%s %s: %s history refused (%s)", self.exchange, hist.asked, tf, exc)
                    errors[tf] = str(exc)
            with self._lock:
                hist.counts.update(counts)
                hist.errors.update(errors)
                hist.state = "ok" if hist.counts else "failed"
            log.info("%s %s: history %s", self.exchange, name, hist.text())
        return len(ready)

    def _live(self, market_id: str, unified: str) -> tuple[str, Instrument | None]:
        """The state's name for the symbol (the publisher's, once the feed named it) and the
        live display grid when the publisher has fitted one."""
        with self.publisher.lock:
            sym = self.publisher.symbols.get(f"{self.exchange}:{market_id}")
            if sym is None:
                return unified, None
            return sym.name, sym.instrument if sym.fitted else None

    # ------------------------------------------------------------------ health (any thread)
    def rows(self) -> dict[str, dict]:
        """Asked symbol -> its history fields for the health row."""
        with self._lock:
            return {s: h.row() for s, h in self.symbols.items()}


async def _resolve(gateway: ExchangeGateway, symbol: str) -> tuple[str, str]:
    """(exchange id, unified name) of a symbol given either way, in any case (GatewayError
    when unknown)."""
    try:
        return await gateway.market(symbol)
    except GatewayError:
        if symbol == symbol.upper():
            raise
        return await gateway.market(symbol.upper())


def history_instrument(name: str, rows: list[tuple], live: Instrument | None) -> Instrument:
    """A grid every history row is on: the finest decimal places its prices and volumes use,
    or the live display grid when that is finer, so history never fails on the live grid and
    shows as many decimals as the live candles."""
    price_dp = max((decimal_places(Decimal(p)) for r in rows for p in r[1:5]), default=0)
    qty_dp = max((decimal_places(Decimal(r[5])) for r in rows), default=0)
    tick, lot = Decimal(1).scaleb(-price_dp), Decimal(1).scaleb(-qty_dp)
    if live is not None:
        tick, lot = min(tick, live.tick_size), min(lot, live.lot_size)
    return instrument_for(name, tick, lot)
