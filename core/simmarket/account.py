"""The user account's snapshot, built on the engine thread and published into ``MarketState``.

The worker calls ``AccountPublisher.publish(events)`` after every step and every user command:
it folds the account's fills into a ``PositionTracker`` (average cost, realised PnL) and
publishes an ``AccountView`` (balances, open orders, positions marked at the book's mid, the
account's trading state and fee tier). The state keeps the version unless something changed,
so a UI's tables diff only when there is a difference.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from core.market_state import AccountView, Balance, MarketState, OpenOrder, Position
from core.orders import SIDE_NAMES
from core.positions import PositionTracker
from core.risk import ACTIVE


class AccountPublisher:
    """Snapshots one account of ``engine`` (call only on the thread that owns the engine)."""

    def __init__(self, engine: Any, account: str, state: MarketState) -> None:
        self.engine = engine
        self.account = account
        self.state = state
        self.positions = PositionTracker(account, engine.instruments)

    def publish(self, events: list[dict[str, Any]]) -> AccountView | None:
        for ev in events:
            if ev.get("event") == "trade":
                self.positions.on_trade(ev)
        return self.state.publish_account(self.snapshot())

    def snapshot(self) -> AccountView:
        eng = self.engine
        acct = self.account
        return AccountView(
            version=0,
            account=acct,
            balances=self._balances(),
            orders=self._orders(),
            positions=self._positions(),
            trading_state=eng.account_state.get(acct, ACTIVE),
            fee_tier=eng.fees.tier(acct, eng.now).name,
            ts=eng.now,
            symbol_states=tuple(sorted((s, st) for s, st in eng.symbol_state.items() if st != ACTIVE)),
        )

    def _balances(self) -> tuple[Balance, ...]:
        eng = self.engine
        mine = eng.ledger.snapshot().get(self.account, {})
        return tuple(Balance(a, eng.assets[a].fmt(av), eng.assets[a].fmt(h)) for a, (av, h) in mine.items())

    def _orders(self) -> tuple[OpenOrder, ...]:
        eng = self.engine
        out = []
        for order in eng.by_account.get(self.account, {}).values():
            ins = eng.instruments[order.symbol]
            resting = order.oid in eng.books[order.symbol].orders
            out.append(
                OpenOrder(
                    id=order.oid,
                    symbol=order.symbol,
                    side=SIDE_NAMES[order.side],
                    type=order.type,
                    price=ins.fmt_price(order.price) if order.price is not None else None,
                    qty=ins.fmt_qty(order.qty),
                    leaves=ins.fmt_qty(order.leaves),
                    tif=order.tif,
                    status="resting" if resting else "pending",
                    stop_price=ins.fmt_price(order.stop_price) if order.stop_price else None,
                    price_ticks=order.price if resting else None,
                    leaves_lots=order.leaves,
                )
            )
        return tuple(out)

    def _positions(self) -> tuple[Position, ...]:
        eng = self.engine
        tracker = self.positions
        out = []
        for sym in tracker.symbols():
            ins = eng.instruments[sym]
            pnl = tracker.unrealised_units(sym, self._mark(sym))
            out.append(
                Position(
                    symbol=sym,
                    qty=tracker.fmt_lots(sym),
                    avg_price=tracker.fmt_avg(sym),
                    unrealised_pnl=ins.quote.fmt(pnl) if pnl is not None else None,
                    realised_pnl=ins.quote.fmt(tracker.realised_units(sym)),
                )
            )
        return tuple(out)

    def _mark(self, symbol: str) -> Fraction | int | None:
        """The book's mid in ticks, else the last trade price (None with neither)."""
        book = self.engine.books[symbol]
        bid, ask = book.best_bid, book.best_ask
        if bid is not None and ask is not None:
            return Fraction(bid + ask, 2)
        return self.engine.last_price.get(symbol)
