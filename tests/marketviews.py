"""Market views for tests: a seeded simulated market published into a real ``MarketState``,
or a ``MarketView`` built by hand from decimal strings where a test needs exact numbers.
No textual here: core tests use it too."""

from __future__ import annotations

from collections.abc import Iterable

from core.instruments import default_instruments
from core.market_state import Level, MarketState, MarketView, TapeTrade
from core.simmarket.market import SimMarket


def sim_views(seed: int = 7, steps: int = 120, symbols: Iterable[str] = ("BTC/USDT",)) -> tuple[MarketState, SimMarket]:
    """Run a seeded simulated market ``steps`` steps, publishing every step into a MarketState."""
    market = SimMarket(seed=seed, symbols=tuple(symbols))
    state = MarketState()
    advance(market, state, steps)
    return state, market


def advance(market: SimMarket, state: MarketState, steps: int) -> None:
    for _ in range(steps):
        events = market.step()
        for sym in market.symbols:
            trades = [e for e in events if e["event"] == "trade" and e["symbol"] == sym]
            state.publish(market.engine.instruments[sym], market.engine.books[sym], trades, market.now_ns)


INSTRUMENTS = default_instruments()


def hand_view(
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    trades: list[tuple[str, str, str]] = (),
    symbol: str = "BTC/USDT",
    version: int = 1,
    ts: int = 0,
) -> MarketView:
    """A view from (price, qty) strings, best first, and (side, price, qty) trades, oldest first."""
    ins = INSTRUMENTS[symbol]

    def lv(p: str, q: str) -> Level:
        return Level(ins.price_to_ticks(p), ins.qty_to_lots(q), 1, p, q)

    b = tuple(lv(p, q) for p, q in bids)
    a = tuple(lv(p, q) for p, q in asks)
    tape = tuple(
        TapeTrade(ts + i, i + 1, side, ins.price_to_ticks(p), ins.qty_to_lots(q), p, q) for i, (side, p, q) in enumerate(trades)
    )
    return MarketView(
        symbol=symbol,
        version=version,
        ts=ts,
        bids=b,
        asks=a,
        best_bid=b[0].price if b else None,
        best_ask=a[0].price if a else None,
        last=tape[-1].price if tape else None,
        trades=tape,
        candles_1s=(),
        candles_1m=(),
        trade_count=len(tape),
        volume="0",
        spread_ticks=(a[0].ticks - b[0].ticks) if a and b else None,
        mid=(ins.tick_size * (a[0].ticks + b[0].ticks) / 2) if a and b else None,
    )
